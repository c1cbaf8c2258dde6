//! Extracting a layer (or any tar) into a directory, safely, applying OCI whiteouts against the content
//! already there. Entry names with `..` or a leading `/` are refused; parents are resolved inside the
//! target (see `rootpath`), so symlinks from earlier entries or layers never lead out; hard links must
//! name an existing non-directory inside the target. Ownership and device nodes need root and are kept
//! when we are root; directory modes and mtimes are applied last, after their children are written.

use super::compress::decompress;
use super::limits::ArchiveLimits;
use super::rootpath::resolve_in_root;
use super::whiteout;
use super::LayerError;
use crate::rootpath::{self, Escape};
use crate::store::{from_oci_digest, Store};
use nix::sys::stat::{mknod, utimensat, Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;
use oci_spec::image::{Descriptor, MediaType};
use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::{self, OpenOptions};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{lchown, symlink, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use tar::EntryType;

/// What to do with a layer's OCI whiteouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whiteouts {
    /// Remove the hidden paths from what the target already holds (a flattened rootfs).
    Apply,
    /// Write them as overlayfs does (char device 0/0, `trusted.overlay.opaque=y`), for an overlay lowerdir
    /// that holds this one layer. Needs root.
    Overlay,
}

/// Extract the layer blob `layer` from the store into `target` (which must exist), applying whiteouts.
pub fn extract(store: &Store, layer: &Descriptor, target: &Path) -> Result<(), LayerError> {
    extract_with(store, layer, target, Whiteouts::Apply)
}

/// [`extract`] with a choice of whiteout handling.
pub fn extract_with(store: &Store, layer: &Descriptor, target: &Path, mode: Whiteouts) -> Result<(), LayerError> {
    let known =
        matches!(layer.media_type(), MediaType::ImageLayer | MediaType::ImageLayerGzip | MediaType::ImageLayerZstd)
            || layer.media_type().to_string().starts_with("application/vnd.docker.image.rootfs.diff.tar");
    if !known {
        return Err(LayerError::MediaType(layer.media_type().to_string()));
    }
    let blob = store.open_blob(&from_oci_digest(layer.digest())?)?;
    // The magic bytes decide the decompressor: a mislabelled layer still extracts.
    let reader = decompress(io::BufReader::new(blob)).map_err(LayerError::TarRead)?;
    unpack(reader, target, mode)
}

/// Extract a tar stream — plain, gzip or zstd (sniffed) — into `target` (which must exist), within the
/// default [`ArchiveLimits`].
pub fn extract_tar(reader: impl Read, target: &Path) -> Result<(), LayerError> {
    extract_tar_within(reader, target, ArchiveLimits::default())
}

/// [`extract_tar`], stopping when the archive expands past `limits`.
pub fn extract_tar_within(reader: impl Read, target: &Path, limits: ArchiveLimits) -> Result<(), LayerError> {
    let bounded = limits.bound(reader, decompress).map_err(LayerError::TarRead)?;
    unpack(bounded, target, Whiteouts::Apply)
}

fn unpack(reader: impl Read, target: &Path, whiteouts: Whiteouts) -> Result<(), LayerError> {
    let mut x = Extraction {
        target: target.to_path_buf(),
        whiteouts,
        is_root: nix::unistd::geteuid().is_root(),
        written: HashSet::new(),
        dirs: Vec::new(),
    };
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries().map_err(LayerError::TarRead)? {
        crate::interrupt::check().map_err(|i| LayerError::TarRead(i.into()))?;
        let mut entry = entry.map_err(LayerError::TarRead)?;
        x.entry(&mut entry)?;
    }
    x.finish_dirs()
}

/// Metadata to apply to one extracted path.
struct Meta {
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: i64,
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

struct Extraction {
    target: PathBuf,
    whiteouts: Whiteouts,
    is_root: bool,
    /// Paths (relative) this tar created, which an opaque whiteout in the same tar must not remove.
    written: HashSet<PathBuf>,
    /// Directories whose mode and mtime are applied at the end.
    dirs: Vec<(PathBuf, Meta, String)>,
}

impl Extraction {
    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<R>) -> Result<(), LayerError> {
        let raw = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw).into_owned();
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            EntryType::XGlobalHeader | EntryType::XHeader | EntryType::GNULongName | EntryType::GNULongLink
        ) {
            return Ok(());
        }
        let Some(rel) = clean_entry_path(&raw, &shown)? else { return Ok(()) };
        let name = rel.file_name().map(OsStr::to_os_string).unwrap_or_default();
        let parent_rel = rel.parent().unwrap_or(Path::new("")).to_path_buf();
        let parent = resolve_in_root(&self.target, &parent_rel, &shown)?;
        if let Some(hidden) = name.as_bytes().strip_prefix(whiteout::PREFIX.as_bytes()) {
            return self.whiteout(&parent, &parent_rel, &name, hidden, &shown);
        }
        fs::create_dir_all(&parent).map_err(|e| entry_err(&shown, "create its parent directory", e))?;
        let dest = parent.join(&name);
        let meta = read_meta(entry)?;
        let existing = fs::symlink_metadata(&dest).ok();
        match kind {
            EntryType::Directory => {
                if !existing.as_ref().is_some_and(|m| m.is_dir()) {
                    remove_existing(&dest, &shown)?;
                    fs::create_dir(&dest).map_err(|e| entry_err(&shown, "create directory", e))?;
                }
            }
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                remove_existing(&dest, &shown)?;
                let mut file = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&dest)
                    .map_err(|e| entry_err(&shown, "create file", e))?;
                io::copy(entry, &mut file).map_err(|e| entry_err(&shown, "write file", e))?;
            }
            EntryType::Symlink => {
                let link = entry.link_name_bytes().map(|l| l.into_owned()).unwrap_or_default();
                remove_existing(&dest, &shown)?;
                symlink(OsStr::from_bytes(&link), &dest).map_err(|e| entry_err(&shown, "create symlink", e))?;
            }
            EntryType::Link => return self.hard_link(entry, &dest, &rel, &shown),
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                if !self.make_node(entry, kind, &dest, &meta, &shown)? {
                    return Ok(());
                }
            }
            other => return Err(LayerError::UnsupportedEntry { entry: shown, kind: char::from(other.as_byte()) }),
        }
        self.written.insert(rel);
        self.apply_meta(&dest, kind, meta, shown)
    }

    /// `.wh.NAME` removes NAME from the lower content; `.wh..wh..opq` empties the directory of everything
    /// this tar did not itself write.
    fn whiteout(
        &mut self,
        parent: &Path,
        parent_rel: &Path,
        name: &OsStr,
        hidden: &[u8],
        shown: &str,
    ) -> Result<(), LayerError> {
        if self.whiteouts == Whiteouts::Overlay {
            return self.overlay_whiteout(parent, name, hidden, shown);
        }
        if name == whiteout::OPAQUE {
            let Ok(children) = fs::read_dir(parent) else { return Ok(()) };
            for child in children {
                let child = child.map_err(|e| entry_err(shown, "list the opaque directory", e))?;
                if !self.written.contains(&parent_rel.join(child.file_name())) {
                    remove_existing(&child.path(), shown)?;
                }
            }
            return Ok(());
        }
        if name.as_bytes().starts_with(whiteout::META_PREFIX.as_bytes()) || hidden.is_empty() {
            return Ok(());
        }
        if hidden.contains(&b'/') || hidden == b".." || hidden == b"." {
            return Err(LayerError::UnsafeEntry { entry: shown.to_string(), reason: "whiteout names no file" });
        }
        remove_existing(&parent.join(OsStr::from_bytes(hidden)), shown)
    }

    fn overlay_whiteout(&self, parent: &Path, name: &OsStr, hidden: &[u8], shown: &str) -> Result<(), LayerError> {
        fs::create_dir_all(parent).map_err(|e| entry_err(shown, "create its parent directory", e))?;
        if name == whiteout::OPAQUE {
            return xattr::set(parent, "trusted.overlay.opaque", b"y")
                .map_err(|e| entry_err(shown, "mark the directory opaque", e));
        }
        if name.as_bytes().starts_with(whiteout::META_PREFIX.as_bytes()) || hidden.is_empty() {
            return Ok(());
        }
        if hidden.contains(&b'/') || hidden == b".." || hidden == b"." {
            return Err(LayerError::UnsafeEntry { entry: shown.to_string(), reason: "whiteout names no file" });
        }
        let dest = parent.join(OsStr::from_bytes(hidden));
        remove_existing(&dest, shown)?;
        mknod(&dest, SFlag::S_IFCHR, Mode::empty(), libc::makedev(0, 0))
            .map_err(|e| entry_err(shown, "create an overlay whiteout", io::Error::from(e)))
    }

    fn hard_link<R: Read>(
        &mut self,
        entry: &tar::Entry<R>,
        dest: &Path,
        rel: &Path,
        shown: &str,
    ) -> Result<(), LayerError> {
        let raw = entry.link_name_bytes().map(|l| l.into_owned()).unwrap_or_default();
        let target_shown = String::from_utf8_lossy(&raw).into_owned();
        let bad = |reason| LayerError::BadLink { entry: shown.to_string(), target: target_shown.clone(), reason };
        let target_rel = match clean_entry_path(&raw, &target_shown) {
            Ok(Some(t)) => t,
            Ok(None) => return Err(bad("is the root directory")),
            Err(_) => return Err(bad("points outside the target")),
        };
        let target_parent = target_rel.parent().unwrap_or(Path::new(""));
        let source =
            resolve_in_root(&self.target, target_parent, shown)?.join(target_rel.file_name().unwrap_or_default());
        match fs::symlink_metadata(&source) {
            Ok(m) if m.is_dir() => return Err(bad("is a directory")),
            Ok(_) => {}
            Err(_) => return Err(bad("does not exist in the target")),
        }
        if source != dest {
            remove_existing(dest, shown)?;
            fs::hard_link(&source, dest).map_err(|e| entry_err(shown, "create hard link", e))?;
        }
        self.written.insert(rel.to_path_buf());
        Ok(())
    }

    /// Device nodes need root; a FIFO does not. Returns false when the node was skipped.
    fn make_node<R: Read>(
        &self,
        entry: &tar::Entry<R>,
        kind: EntryType,
        dest: &Path,
        meta: &Meta,
        shown: &str,
    ) -> Result<bool, LayerError> {
        let sflag = match kind {
            EntryType::Char => SFlag::S_IFCHR,
            EntryType::Block => SFlag::S_IFBLK,
            _ => SFlag::S_IFIFO,
        };
        if sflag != SFlag::S_IFIFO && !self.is_root {
            return Ok(false);
        }
        let h = entry.header();
        let major = h.device_major().ok().flatten().unwrap_or(0);
        let minor = h.device_minor().ok().flatten().unwrap_or(0);
        remove_existing(dest, shown)?;
        let mode = Mode::from_bits_truncate(meta.mode & 0o777);
        mknod(dest, sflag, mode, libc::makedev(major, minor))
            .map_err(|e| entry_err(shown, "create device node", io::Error::from(e)))?;
        Ok(true)
    }

    fn apply_meta(&mut self, dest: &Path, kind: EntryType, meta: Meta, shown: String) -> Result<(), LayerError> {
        if self.is_root {
            let uid = u32::try_from(meta.uid).ok();
            let gid = u32::try_from(meta.gid).ok();
            lchown(dest, uid, gid).map_err(|e| entry_err(&shown, "change owner", e))?;
        }
        for (k, v) in &meta.xattrs {
            // Best effort: the target filesystem may not support xattrs, or this namespace.
            let _ = xattr::set(dest, OsStr::from_bytes(k), v);
        }
        match kind {
            EntryType::Directory => self.dirs.push((dest.to_path_buf(), meta, shown)),
            EntryType::Symlink => set_mtime(dest, meta.mtime, &shown)?,
            _ => {
                fs::set_permissions(dest, fs::Permissions::from_mode(meta.mode & 0o7777))
                    .map_err(|e| entry_err(&shown, "change mode", e))?;
                set_mtime(dest, meta.mtime, &shown)?;
            }
        }
        Ok(())
    }

    /// Directory modes and mtimes go last: writing a child changes its directory's mtime, and a
    /// read-only directory would refuse children.
    fn finish_dirs(self) -> Result<(), LayerError> {
        for (dir, meta, shown) in self.dirs.iter().rev() {
            if !self.still_our_dir(dir) {
                continue;
            }
            fs::set_permissions(dir, fs::Permissions::from_mode(meta.mode & 0o7777))
                .map_err(|e| entry_err(shown, "change mode", e))?;
            set_mtime(dir, meta.mtime, shown)?;
        }
        Ok(())
    }

    /// A later entry may have replaced a directory, or one of its parents, by a symlink; a chmod through
    /// that path would follow the link, possibly out of the target (found by fuzzing). `dir` was
    /// symlink-free when it was made: it is still the directory this tar made only if it resolves to
    /// itself inside the target and is a directory. Otherwise the directory is gone and has nothing to set.
    fn still_our_dir(&self, dir: &Path) -> bool {
        let Ok(rel) = dir.strip_prefix(&self.target) else { return false };
        let resolved = rootpath::resolve_in(&self.target, rel, false, Escape::Clamp);
        resolved.is_ok_and(|r| r == dir) && fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir())
    }
}

fn entry_err(entry: &str, what: &'static str, source: io::Error) -> LayerError {
    LayerError::Entry { entry: entry.to_string(), what, source }
}

/// Validate an entry name and make it relative: `None` for the root itself (`./`), an error for
/// absolute names and any `..` component.
fn clean_entry_path(raw: &[u8], shown: &str) -> Result<Option<PathBuf>, LayerError> {
    if raw.first() == Some(&b'/') {
        return Err(LayerError::UnsafeEntry { entry: shown.to_string(), reason: "absolute path" });
    }
    let mut out = PathBuf::new();
    for part in raw.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => return Err(LayerError::UnsafeEntry { entry: shown.to_string(), reason: "path contains `..`" }),
            p => out.push(OsStr::from_bytes(p)),
        }
    }
    Ok((!out.as_os_str().is_empty()).then_some(out))
}

/// Remove whatever is at `path` (never following a symlink); nothing there is fine.
fn remove_existing(path: &Path, shown: &str) -> Result<(), LayerError> {
    let result = match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(_) => return Ok(()),
    };
    match result {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(entry_err(shown, "replace existing path", e)),
        _ => Ok(()),
    }
}

fn read_meta<R: Read>(entry: &mut tar::Entry<R>) -> Result<Meta, LayerError> {
    let h = entry.header();
    let mut meta = Meta {
        mode: h.mode().unwrap_or(0o644),
        uid: h.uid().unwrap_or(0),
        gid: h.gid().unwrap_or(0),
        mtime: h.mtime().ok().and_then(|t| i64::try_from(t).ok()).unwrap_or(0),
        xattrs: Vec::new(),
    };
    if let Some(pax) = entry.pax_extensions().map_err(LayerError::TarRead)? {
        for ext in pax {
            let ext = ext.map_err(LayerError::TarRead)?;
            let key = ext.key_bytes();
            let value = ext.value_bytes();
            let number = || std::str::from_utf8(value).ok().and_then(|v| v.split('.').next()?.parse::<i64>().ok());
            if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
                meta.xattrs.push((name.to_vec(), value.to_vec()));
            } else if key == b"uid" {
                meta.uid = number().and_then(|n| u64::try_from(n).ok()).unwrap_or(meta.uid);
            } else if key == b"gid" {
                meta.gid = number().and_then(|n| u64::try_from(n).ok()).unwrap_or(meta.gid);
            } else if key == b"mtime" {
                meta.mtime = number().unwrap_or(meta.mtime);
            }
        }
    }
    Ok(meta)
}

fn set_mtime(path: &Path, mtime: i64, shown: &str) -> Result<(), LayerError> {
    let t = TimeSpec::new(mtime, 0);
    utimensat(nix::fcntl::AT_FDCWD, path, &t, &t, UtimensatFlags::NoFollowSymlink)
        .map_err(|e| entry_err(shown, "set mtime", io::Error::from(e)))
}
