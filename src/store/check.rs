//! `rbuild system check`: a read-only audit of a store, shared by users and the crash harness.
//!
//! It reports, one line per problem: a store root other users can enter; a blob whose bytes do not hash
//! to its name; a name in `index.json`, a manifest's config or layer, or an index's manifest that is not
//! in the store; a manifest or config that does not parse, or whose layer count disagrees with the
//! config's `diff_ids`; debris of dead processes (see `debris`); a mount left under the store root.
//! Step-cache records that do not parse or name a missing blob are reported too.
//! It changes nothing: the store is opened with [`Store::at`], which does not sweep debris; `--repair`
//! is a separate pass (see `repair`).
//! The same reference walk guards writes: [`Store::require_complete`] refuses to name an incomplete image.

use super::{debris, from_oci_digest, index, Store, StoreError};
use crate::digest::{Digest, HashingWriter};
use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// One thing wrong with a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    OpenRoot {
        path: PathBuf,
        mode: u32,
    },
    Corrupt {
        path: PathBuf,
        actual: Digest,
    },
    Unreadable {
        path: PathBuf,
        error: String,
    },
    Stray {
        path: PathBuf,
    },
    Missing {
        digest: Digest,
        referrer: String,
    },
    Malformed {
        digest: Digest,
        error: String,
    },
    LayerCount {
        manifest: Digest,
        layers: usize,
        diff_ids: usize,
    },
    Debris(debris::Debris),
    Mount {
        path: PathBuf,
    },
    /// A step-cache record that does not parse or names a blob that is not in the store.
    CacheRecord {
        path: PathBuf,
        blob: Option<Digest>,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::OpenRoot { path, mode } => {
                write!(f, "{}: mode {mode:04o} lets other users in (want 0700): chmod 700 it", path.display())
            }
            Problem::Corrupt { path, actual } => write!(f, "{}: content hashes to {actual}", path.display()),
            Problem::Unreadable { path, error } => write!(f, "{}: cannot read: {error}", path.display()),
            Problem::Stray { path } => write!(f, "{}: not named after a sha256 digest", path.display()),
            Problem::Missing { digest, referrer } => {
                write!(f, "{referrer} references {digest}, which is not in the store")
            }
            Problem::Malformed { digest, error } => write!(f, "blob {digest}: malformed: {error}"),
            Problem::LayerCount { manifest, layers, diff_ids } => {
                write!(f, "manifest {manifest}: {layers} layers but its config lists {diff_ids} diff_ids")
            }
            Problem::Debris(d) => write!(f, "{d}"),
            Problem::Mount { path } => write!(f, "{}: still mounted", path.display()),
            Problem::CacheRecord { path, blob: Some(b) } => {
                write!(f, "{}: step cache record names {b}, which is not in the store", path.display())
            }
            Problem::CacheRecord { path, blob: None } => {
                write!(f, "{}: step cache record does not parse", path.display())
            }
        }
    }
}

/// What a check looked at, and what it found.
#[derive(Debug, Default)]
pub struct CheckReport {
    pub blobs: usize,
    pub manifests: usize,
    pub problems: Vec<Problem>,
}

/// The digests a manifest or index references (config, layers, subject, or child manifests), each with
/// its media type, in document order.
fn references(doc: &serde_json::Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut push = |d: &serde_json::Value| {
        if let Some(digest) = d.get("digest").and_then(|v| v.as_str()) {
            let media = d.get("mediaType").and_then(|v| v.as_str()).unwrap_or_default();
            out.push((digest.to_string(), media.to_string()));
        }
    };
    for key in ["config", "subject"] {
        if let Some(d) = doc.get(key) {
            push(d);
        }
    }
    for key in ["layers", "manifests"] {
        for d in doc.get(key).and_then(|v| v.as_array()).into_iter().flatten() {
            push(d);
        }
    }
    out
}

fn parse_digest(s: &str) -> Result<Digest, StoreError> {
    Digest::parse(s).map_err(|_| StoreError::UnsupportedDigest(s.to_string()))
}

impl Store {
    /// Refuse (with the first missing digest) a manifest that is not in the store with every blob it
    /// references, recursively through nested indexes.
    pub(crate) fn require_complete(&self, manifest: &Digest) -> Result<(), StoreError> {
        let mut pending = vec![manifest.clone()];
        while let Some(d) = pending.pop() {
            let doc: serde_json::Value = serde_json::from_slice(&self.read_blob(&d).map_err(|e| match e {
                StoreError::BlobNotFound(missing) => StoreError::Incomplete { manifest: manifest.clone(), missing },
                other => other,
            })?)
            .map_err(|source| StoreError::Json { path: self.blob_path(&d), source })?;
            for (digest, media) in references(&doc) {
                let digest = parse_digest(&digest)?;
                if !self.has_blob(&digest) {
                    return Err(StoreError::Incomplete { manifest: manifest.clone(), missing: digest });
                }
                if media.ends_with("manifest.v1+json") || media.ends_with("image.index.v1+json") {
                    pending.push(digest);
                }
            }
        }
        Ok(())
    }
}

/// Audit the store (read-only).
pub fn check(store: &Store) -> Result<CheckReport, StoreError> {
    let mut report = CheckReport::default();
    let root = store.root();
    let meta = fs::metadata(root).map_err(StoreError::io("cannot stat", root))?;
    if meta.permissions().mode() & 0o067 != 0 {
        report.problems.push(Problem::OpenRoot { path: root.to_path_buf(), mode: meta.permissions().mode() & 0o7777 });
    }
    check_blobs(store, &mut report)?;
    check_references(store, &mut report)?;
    for r in super::gc_roots::cache_records(store)? {
        if !r.blob.as_ref().is_some_and(|b| store.has_blob(b)) {
            report.problems.push(Problem::CacheRecord { path: r.path, blob: r.blob });
        }
    }
    report.problems.extend(debris::find(store)?.into_iter().map(Problem::Debris));
    report.problems.extend(mounts_under(root).into_iter().map(|path| Problem::Mount { path }));
    Ok(report)
}

/// Every file in `blobs/sha256/` must hash to its name.
fn check_blobs(store: &Store, report: &mut CheckReport) -> Result<(), StoreError> {
    let dir = store.blobs_dir();
    let mut entries: Vec<_> = fs::read_dir(&dir)
        .map_err(StoreError::io("cannot list", &dir))?
        .collect::<Result<_, _>>()
        .map_err(StoreError::io("cannot list", &dir))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let Some(expected) = entry.file_name().to_str().and_then(|n| Digest::parse(&format!("sha256:{n}")).ok()) else {
            report.problems.push(Problem::Stray { path });
            continue;
        };
        report.blobs += 1;
        let mut hasher = HashingWriter::new(io::sink());
        match fs::File::open(&path).and_then(|mut f| io::copy(&mut f, &mut hasher)) {
            Ok(_) => {
                let (actual, _, _) = hasher.finish();
                if actual != expected {
                    report.problems.push(Problem::Corrupt { path, actual });
                }
            }
            Err(e) => report.problems.push(Problem::Unreadable { path, error: e.to_string() }),
        }
    }
    Ok(())
}

/// Walk from `index.json`: every referenced blob exists, every manifest and config parses, and layer
/// counts agree.
fn check_references(store: &Store, report: &mut CheckReport) -> Result<(), StoreError> {
    let index = index::load(store)?;
    let mut pending: Vec<(Digest, String, String)> = Vec::new();
    for desc in index.manifests() {
        let name = index::ref_name(desc).map_or_else(|| "an unnamed entry".to_string(), |n| format!("name {n}"));
        pending.push((from_oci_digest(desc.digest())?, desc.media_type().to_string(), format!("index.json ({name})")));
    }
    let mut seen = std::collections::BTreeSet::new();
    while let Some((digest, media, referrer)) = pending.pop() {
        if !store.has_blob(&digest) {
            report.problems.push(Problem::Missing { digest, referrer });
            continue;
        }
        let is_manifest = media.ends_with("manifest.v1+json") || media.ends_with("manifest.v2+json");
        let is_index = media.ends_with("image.index.v1+json") || media.ends_with("manifest.list.v2+json");
        if !(is_manifest || is_index) || !seen.insert(digest.clone()) {
            continue;
        }
        report.manifests += 1;
        let doc = match read_doc(store, &digest) {
            Ok(doc) => doc,
            Err(error) => {
                report.problems.push(Problem::Malformed { digest, error });
                continue;
            }
        };
        for (child, child_media) in references(&doc) {
            match Digest::parse(&child) {
                Ok(c) => pending.push((c, child_media, format!("manifest {digest}"))),
                Err(e) => report.problems.push(Problem::Malformed { digest: digest.clone(), error: e.to_string() }),
            }
        }
        if is_manifest {
            check_config(store, &digest, &doc, report);
        }
    }
    Ok(())
}

fn check_config(store: &Store, manifest: &Digest, doc: &serde_json::Value, report: &mut CheckReport) {
    let Some(config) = doc.pointer("/config/digest").and_then(|v| v.as_str()).and_then(|d| Digest::parse(d).ok())
    else {
        return;
    };
    if !store.has_blob(&config) {
        return; // reported as missing
    }
    let layers = doc.get("layers").and_then(|l| l.as_array()).map_or(0, Vec::len);
    match read_doc(store, &config) {
        Ok(cfg) => {
            let diff_ids = cfg.pointer("/rootfs/diff_ids").and_then(|d| d.as_array()).map_or(0, Vec::len);
            if diff_ids != layers {
                report.problems.push(Problem::LayerCount { manifest: manifest.clone(), layers, diff_ids });
            }
        }
        Err(error) => report.problems.push(Problem::Malformed { digest: config, error }),
    }
}

fn read_doc(store: &Store, d: &Digest) -> Result<serde_json::Value, String> {
    let bytes = store.read_blob(d).map_err(|e| e.to_string())?;
    serde_json::from_slice(&bytes).map_err(|e| e.to_string())
}

/// Mount points under `root`, from `/proc/self/mountinfo` (this process's mount namespace). The root
/// itself may well be a mount point (a disk or tmpfs given to the store) and is not counted.
pub fn mounts_under(root: &Path) -> Vec<PathBuf> {
    let root = fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let Ok(text) = fs::read_to_string("/proc/self/mountinfo") else { return Vec::new() };
    text.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| PathBuf::from(unescape_mountinfo(m)))
        .filter(|m| m.starts_with(&root) && *m != root)
        .collect()
}

/// mountinfo writes space, tab, newline and backslash as `\ooo` octal escapes.
fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let oct = b.get(i + 1..i + 4).filter(|o| b[i] == b'\\' && o.iter().all(|c| (b'0'..=b'7').contains(c)));
        match oct {
            Some(o) => {
                out.push((o[0] - b'0') * 64 + (o[1] - b'0') * 8 + (o[2] - b'0'));
                i += 4;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The store root's owner and mode, for `Store::open`'s permission rule.
pub(super) fn owner_and_mode(root: &Path) -> io::Result<(u32, u32)> {
    let m = fs::metadata(root)?;
    Ok((m.uid(), m.permissions().mode() & 0o7777))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes_are_decoded() {
        assert_eq!(unescape_mountinfo(r"/a\040b\134c"), "/a b\\c");
        assert_eq!(unescape_mountinfo(r"/plain\0"), r"/plain\0");
    }

    #[test]
    fn a_clean_store_has_no_problems_and_a_corrupt_or_missing_blob_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (d, _) = store.write_blob(b"{}").unwrap();
        assert!(check(&store).unwrap().problems.is_empty());
        fs::write(store.blob_path(&d), b"tampered").unwrap();
        let problems = check(&store).unwrap().problems;
        assert!(matches!(problems.as_slice(), [Problem::Corrupt { .. }]), "{problems:?}");
    }
}
