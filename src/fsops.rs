//! Small filesystem operations the build steps share: owner, mode and mtime of one entry without following
//! symlinks, and merging a finished step's upper dir into the stage's rootfs.

use nix::sys::stat::{utimensat, UtimensatFlags};
use nix::sys::time::TimeSpec;
use std::fs;
use std::io;
use std::os::unix::fs::{lchown, MetadataExt, PermissionsExt};
use std::path::Path;

/// Owner, permission bits and mtime to give an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attrs {
    pub uid: u32,
    pub gid: u32,
    /// Permission bits (07777); ignored for symlinks.
    pub mode: u32,
    pub mtime: (i64, i64),
}

impl Attrs {
    pub fn of(meta: &fs::Metadata) -> Attrs {
        Attrs { uid: meta.uid(), gid: meta.gid(), mode: meta.mode() & 0o7777, mtime: (meta.mtime(), meta.mtime_nsec()) }
    }
}

/// Apply `attrs` to `path` (not following a final symlink). Ownership first: chown clears setuid bits.
pub fn apply(path: &Path, attrs: &Attrs, is_symlink: bool) -> io::Result<()> {
    lchown(path, Some(attrs.uid), Some(attrs.gid))?;
    if !is_symlink {
        fs::set_permissions(path, fs::Permissions::from_mode(attrs.mode))?;
    }
    set_mtime(path, attrs.mtime)
}

pub fn set_mtime(path: &Path, (sec, nsec): (i64, i64)) -> io::Result<()> {
    let t = TimeSpec::new(sec, nsec);
    utimensat(nix::fcntl::AT_FDCWD, path, &t, &t, UtimensatFlags::NoFollowSymlink).map_err(io::Error::from)
}

/// Remove whatever is at `path` (file, symlink or whole tree); absent is fine.
pub fn remove_any(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Move the contents of a step's `upper` dir over `rootfs`: directories present on both sides merge (the
/// upper's attributes win), anything else replaces what was there. `upper` is consumed.
pub fn merge_into(upper: &Path, rootfs: &Path) -> io::Result<()> {
    let mut entries: Vec<_> = fs::read_dir(upper)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let from = entry.path();
        let to = rootfs.join(entry.file_name());
        let meta = fs::symlink_metadata(&from)?;
        if meta.is_dir() && fs::symlink_metadata(&to).is_ok_and(|m| m.is_dir()) {
            merge_into(&from, &to)?;
            apply(&to, &Attrs::of(&meta), false)?;
            continue;
        }
        remove_any(&to)?;
        fs::rename(&from, &to)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_replaces_files_and_merges_dirs() {
        let t = tempfile::tempdir().unwrap();
        let (upper, root) = (t.path().join("upper"), t.path().join("root"));
        fs::create_dir_all(root.join("etc")).unwrap();
        fs::write(root.join("etc/keep"), "k").unwrap();
        fs::write(root.join("etc/over"), "old").unwrap();
        fs::write(root.join("wasfile"), "f").unwrap();
        fs::create_dir_all(upper.join("etc")).unwrap();
        fs::write(upper.join("etc/over"), "new").unwrap();
        fs::create_dir_all(upper.join("wasfile")).unwrap();
        fs::write(upper.join("wasfile/x"), "x").unwrap();
        fs::set_permissions(upper.join("etc"), fs::Permissions::from_mode(0o700)).unwrap();
        merge_into(&upper, &root).unwrap();
        assert_eq!(fs::read_to_string(root.join("etc/keep")).unwrap(), "k");
        assert_eq!(fs::read_to_string(root.join("etc/over")).unwrap(), "new");
        assert_eq!(fs::read_to_string(root.join("wasfile/x")).unwrap(), "x");
        assert_eq!(fs::metadata(root.join("etc")).unwrap().mode() & 0o777, 0o700);
    }

    #[test]
    fn apply_sets_mode_and_mtime_without_following_links() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("f");
        fs::write(&f, "x").unwrap();
        std::os::unix::fs::symlink("f", t.path().join("l")).unwrap();
        let me = fs::metadata(&f).unwrap();
        apply(&f, &Attrs { uid: me.uid(), gid: me.gid(), mode: 0o640, mtime: (1_000_000, 5) }, false).unwrap();
        apply(&t.path().join("l"), &Attrs { uid: me.uid(), gid: me.gid(), mode: 0, mtime: (2_000_000, 0) }, true)
            .unwrap();
        let m = fs::metadata(&f).unwrap();
        assert_eq!((m.mode() & 0o7777, m.mtime(), m.mtime_nsec()), (0o640, 1_000_000, 5));
        assert_eq!(fs::symlink_metadata(t.path().join("l")).unwrap().mtime(), 2_000_000);
    }
}
