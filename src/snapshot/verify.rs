//! `rbuild system check` of snapshots: each published snapshot of a layer that an image in the store
//! uses is checked against that layer. The layer blob is uncompressed and hashed (it must give the
//! config's diff_id), unpacked into a scratch dir exactly as a snapshot is made (overlay whiteouts), and
//! the two trees are compared entry by entry: kind, mode, owner, size and bytes, link target, device
//! number, opaque marker. Modification times are not compared: a snapshot adopted from a build's upper
//! dir keeps the times the step left, while its layer may clamp them (`SOURCE_DATE_EPOCH`).
//!
//! A snapshot that differs is provably broken: it is only ever a cache of its layer, which `lowers`
//! unpacks again when it is missing, so `--repair` removes it — but not while a build or container runs
//! (its overlay may have the snapshot as a lower dir).

use super::{chain_ids, Snapshots};
use crate::digest::{Digest, HashingWriter};
use crate::layer::{self, Whiteouts};
use crate::store::{Locked, Store, StoreError};
use oci_spec::image::Descriptor;
use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// A snapshot that does not match its layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenSnapshot {
    pub path: PathBuf,
    pub layer: String,
    pub why: String,
}

impl fmt::Display for BrokenSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: snapshot of layer {} does not match it: {}", self.path.display(), self.layer, self.why)
    }
}

/// Check every snapshot that an image's layer chain names. Snapshots are made only by root (overlay),
/// and unpacking whiteouts needs root: as another user there is nothing to check.
pub fn verify(store: &Store) -> Result<Vec<BrokenSnapshot>, StoreError> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(Vec::new());
    }
    let snapshots = Snapshots::new(store);
    let mut out = Vec::new();
    for (chain, (layer, diff_id)) in layers_by_chain(store)? {
        let path = snapshots.path(&chain);
        if !path.is_dir() {
            continue;
        }
        let broken = |why: String| BrokenSnapshot { path: path.clone(), layer: layer.digest().to_string(), why };
        match uncompressed_digest(store, &layer) {
            Ok(d) if d == diff_id => {}
            // The layer itself is wrong (the blob check reports a corrupt blob): nothing to compare with.
            Ok(_) | Err(_) => continue,
        }
        let scratch = store.temp_dir_in(&store.snapshots_dir(), ".verify")?;
        if let Err(e) = layer::extract_with(store, &layer, scratch.path(), Whiteouts::Overlay) {
            out.push(broken(format!("the layer cannot be unpacked to compare: {e}")));
            continue;
        }
        if let Some(why) = compare(scratch.path(), &path).map_err(StoreError::io("cannot read", &path))? {
            out.push(broken(why));
        }
    }
    Ok(out)
}

/// Remove every broken snapshot (they are unpacked again when needed); returns what was removed, one
/// line each. Nothing is removed while a build or container runs: it may be using one.
pub fn repair(store: &Locked<'_>) -> Result<Vec<String>, StoreError> {
    let broken = verify(store)?;
    if broken.is_empty() {
        return Ok(Vec::new());
    }
    if store.leases_live()? {
        return Ok(vec![format!(
            "nothing: {} broken snapshot(s) kept while a build or container runs (repair again when it is done)",
            broken.len()
        )]);
    }
    let mut removed = Vec::new();
    for b in broken {
        fs::remove_dir_all(&b.path).map_err(StoreError::io("cannot remove", &b.path))?;
        removed.push(b.to_string());
    }
    Ok(removed)
}

/// Each chain ID that an image in the index uses, with the layer on top of that chain and its diff_id.
fn layers_by_chain(store: &Store) -> Result<BTreeMap<Digest, (Descriptor, Digest)>, StoreError> {
    let mut out = BTreeMap::new();
    for summary in store.list()? {
        let Ok(image) = store.load_image(&summary.manifest_digest, Vec::new()) else { continue };
        let diff_ids: Vec<Digest> =
            image.config.rootfs().diff_ids().iter().filter_map(|d| Digest::parse(d).ok()).collect();
        let layers = image.manifest.layers();
        if diff_ids.len() != layers.len() {
            continue; // reported by the store's check
        }
        for ((chain, layer), diff_id) in chain_ids(&diff_ids).into_iter().zip(layers).zip(diff_ids) {
            out.entry(chain).or_insert_with(|| (layer.clone(), diff_id));
        }
    }
    Ok(out)
}

fn uncompressed_digest(store: &Store, layer: &Descriptor) -> io::Result<Digest> {
    let blob = store.open_blob(&crate::store::from_oci_digest(layer.digest()).map_err(io::Error::other)?);
    let blob = blob.map_err(io::Error::other)?;
    let mut reader = layer::decompress(io::BufReader::new(blob))?;
    let mut hasher = HashingWriter::new(io::sink());
    io::copy(&mut reader, &mut hasher)?;
    Ok(hasher.finish().0)
}

/// What one entry of a tree is, apart from its bytes and times.
#[derive(Debug, PartialEq, Eq)]
struct Entry {
    kind: &'static str,
    mode: u32,
    uid: u32,
    gid: u32,
    size: u64,
    link: Option<PathBuf>,
    rdev: u64,
    opaque: bool,
}

fn entries(root: &Path) -> io::Result<BTreeMap<PathBuf, Entry>> {
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(root).min_depth(1).follow_links(false) {
        let e = e.map_err(io::Error::other)?;
        let meta = e.path().symlink_metadata()?;
        let ft = meta.file_type();
        let kind = match () {
            _ if ft.is_dir() => "directory",
            _ if ft.is_file() => "file",
            _ if ft.is_symlink() => "symlink",
            _ if ft.is_char_device() => "char device",
            _ if ft.is_block_device() => "block device",
            _ if ft.is_fifo() => "fifo",
            _ => continue, // sockets are never in a layer
        };
        let entry = Entry {
            kind,
            mode: meta.mode() & 0o7777,
            uid: meta.uid(),
            gid: meta.gid(),
            size: if ft.is_file() { meta.len() } else { 0 },
            link: if ft.is_symlink() { Some(fs::read_link(e.path())?) } else { None },
            rdev: meta.rdev(),
            opaque: ft.is_dir() && layer::is_opaque_dir(e.path()),
        };
        out.insert(e.path().strip_prefix(root).map_err(io::Error::other)?.to_path_buf(), entry);
    }
    Ok(out)
}

/// The first difference between the unpacked layer and the snapshot, if any.
fn compare(layer: &Path, snapshot: &Path) -> io::Result<Option<String>> {
    let want = entries(layer)?;
    let have = entries(snapshot)?;
    for (path, w) in &want {
        let Some(h) = have.get(path) else { return Ok(Some(format!("{} is missing", path.display()))) };
        if let Some(diff) = difference(w, h) {
            return Ok(Some(format!("{}: {diff}", path.display())));
        }
        if w.kind == "file" && !same_bytes(&layer.join(path), &snapshot.join(path))? {
            return Ok(Some(format!("{} has other content", path.display())));
        }
    }
    Ok(have.keys().find(|p| !want.contains_key(*p)).map(|p| format!("{} is not in the layer", p.display())))
}

/// The first field in which the snapshot's entry `h` differs from the layer's `w`, worded for a person.
fn difference(w: &Entry, h: &Entry) -> Option<String> {
    let field = |name: &str, have: String, want: String| Some(format!("{name} {have} where the layer has {want}"));
    if w.kind != h.kind {
        return field("a", h.kind.to_string(), format!("a {}", w.kind));
    }
    if w.mode != h.mode {
        return field("mode", format!("{:04o}", h.mode), format!("{:04o}", w.mode));
    }
    if (w.uid, w.gid) != (h.uid, h.gid) {
        return field("owner", format!("{}:{}", h.uid, h.gid), format!("{}:{}", w.uid, w.gid));
    }
    if w.size != h.size {
        return field("size", h.size.to_string(), w.size.to_string());
    }
    if w.link != h.link {
        return field("target", format!("{:?}", h.link), format!("{:?}", w.link));
    }
    if w.rdev != h.rdev {
        return field("device", h.rdev.to_string(), w.rdev.to_string());
    }
    if w.opaque != h.opaque {
        return field("opaque", h.opaque.to_string(), w.opaque.to_string());
    }
    None
}

fn same_bytes(a: &Path, b: &Path) -> io::Result<bool> {
    let (mut a, mut b) = (fs::File::open(a)?, fs::File::open(b)?);
    let (mut x, mut y) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
    loop {
        let n = read_full(&mut a, &mut x)?;
        let m = read_full(&mut b, &mut y)?;
        if n != m || x[..n] != y[..m] {
            return Ok(false);
        }
        if n == 0 {
            return Ok(true);
        }
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn compare_names_the_first_difference() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        for d in [a.path(), b.path()] {
            fs::create_dir(d.join("etc")).unwrap();
            fs::write(d.join("etc/f"), "same").unwrap();
        }
        assert_eq!(compare(a.path(), b.path()).unwrap(), None);
        fs::set_permissions(b.path().join("etc/f"), fs::Permissions::from_mode(0o600)).unwrap();
        let why = compare(a.path(), b.path()).unwrap().unwrap();
        assert!(why.starts_with("etc/f: mode 0600 where the layer has 06"), "{why}");
        fs::set_permissions(b.path().join("etc/f"), fs::metadata(a.path().join("etc/f")).unwrap().permissions())
            .unwrap();
        fs::write(b.path().join("etc/f"), "SAME").unwrap();
        assert_eq!(compare(a.path(), b.path()).unwrap().unwrap(), "etc/f has other content");
        fs::write(b.path().join("etc/f"), "same").unwrap();
        fs::write(b.path().join("extra"), "").unwrap();
        assert_eq!(compare(a.path(), b.path()).unwrap().unwrap(), "extra is not in the layer");
        assert_eq!(compare(b.path(), a.path()).unwrap().unwrap(), "extra is missing");
    }
}
