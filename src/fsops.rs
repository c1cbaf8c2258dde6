//! Small filesystem operations the build steps share: owner, mode and mtime of one entry without following
//! symlinks, and merging a finished step's upper dir into the stage's rootfs.

use nix::sys::stat::{utimensat, UtimensatFlags};
use nix::sys::time::TimeSpec;
use std::fs;
use std::io;
use std::os::unix::fs::{lchown, FileTypeExt, MetadataExt, PermissionsExt};
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

/// Everything `stat` says that changes when an entry's content, metadata or identity changes. ctime is
/// in it because no process can set it: a write that restores the mtime still shows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Stamp {
    mode: u32,
    uid: u32,
    gid: u32,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    ino: u64,
    rdev: u64,
}

impl Stamp {
    pub fn of(m: &fs::Metadata) -> Stamp {
        Stamp {
            mode: m.mode(),
            uid: m.uid(),
            gid: m.gid(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
            ino: m.ino(),
            rdev: m.rdev(),
        }
    }

    /// The same stamp from a raw `stat` (`fstatat` relative to a directory: no walk of the full path).
    pub fn of_stat(s: &nix::sys::stat::FileStat) -> Stamp {
        Stamp {
            mode: s.st_mode,
            uid: s.st_uid,
            gid: s.st_gid,
            size: s.st_size as u64,
            mtime: (s.st_mtime, s.st_mtime_nsec),
            ctime: (s.st_ctime, s.st_ctime_nsec),
            ino: s.st_ino,
            rdev: s.st_rdev,
        }
    }

    /// The file's type and permission bits (`st_mode`).
    pub fn mode(&self) -> u32 {
        self.mode
    }

    /// Every field, little-endian, in a fixed order: what the context digest cache stores and compares.
    pub fn to_bytes(&self) -> [u8; Stamp::BYTES] {
        let fields: [&[u8]; 10] = [
            &self.mode.to_le_bytes(),
            &self.uid.to_le_bytes(),
            &self.gid.to_le_bytes(),
            &self.size.to_le_bytes(),
            &self.mtime.0.to_le_bytes(),
            &self.mtime.1.to_le_bytes(),
            &self.ctime.0.to_le_bytes(),
            &self.ctime.1.to_le_bytes(),
            &self.ino.to_le_bytes(),
            &self.rdev.to_le_bytes(),
        ];
        let mut out = [0u8; Stamp::BYTES];
        let mut rest = &mut out[..];
        for f in fields {
            let (head, tail) = rest.split_at_mut(f.len());
            head.copy_from_slice(f);
            rest = tail;
        }
        out
    }

    /// The length of [`Stamp::to_bytes`].
    pub const BYTES: usize = 3 * 4 + 7 * 8;
}

/// Apply `attrs` to `path` (not following a final symlink). Ownership first: chown clears setuid bits.
pub fn apply(path: &Path, attrs: &Attrs, is_symlink: bool) -> io::Result<()> {
    lchown(path, Some(attrs.uid), Some(attrs.gid))?;
    if !is_symlink {
        fs::set_permissions(path, fs::Permissions::from_mode(attrs.mode))?;
    }
    set_mtime(path, attrs.mtime)
}

/// [`apply`] on an open file: three calls on the fd instead of three path walks.
pub fn apply_fd(file: &fs::File, attrs: &Attrs) -> io::Result<()> {
    std::os::unix::fs::fchown(file, Some(attrs.uid), Some(attrs.gid))?;
    file.set_permissions(fs::Permissions::from_mode(attrs.mode))?;
    let t = TimeSpec::new(attrs.mtime.0, attrs.mtime.1);
    nix::sys::stat::futimens(file, &t, &t).map_err(io::Error::from)
}

/// Copies file contents for a run of many files: in the kernel (`copy_file_range`) until the kernel
/// refuses that pair of filesystems (EXDEV, as from an overlay mount) once, then through a buffer, so no
/// later file pays for the doomed call.
#[derive(Debug)]
pub struct FileCopier {
    in_kernel: std::cell::Cell<bool>,
}

impl Default for FileCopier {
    fn default() -> Self {
        FileCopier { in_kernel: std::cell::Cell::new(true) }
    }
}

impl FileCopier {
    /// Create `to` (which must not exist; a symlink there is not followed) with `from`'s first `len` bytes
    /// (fewer if it shrank), then give it `attrs`.
    pub fn copy(&self, from: &Path, len: u64, to: &Path, attrs: &Attrs) -> io::Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let mut src = fs::File::open(from)?;
        let mut dst = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(nix::libc::O_NOFOLLOW)
            .open(to)?;
        let mut left = len;
        while left > 0 && self.in_kernel.get() {
            let chunk = usize::try_from(left.min(1 << 30)).unwrap_or(1 << 30);
            match nix::fcntl::copy_file_range(&src, None, &dst, None, chunk) {
                Ok(0) => {
                    left = 0;
                }
                Ok(n) => left -= n as u64,
                Err(e) if left == len && copy_refused(e) => self.in_kernel.set(false),
                Err(e) => return Err(e.into()),
            }
        }
        // A plain buffer: `io::copy` between files would try `copy_file_range` again.
        let mut buf = vec![0; usize::try_from(left.min(1 << 16)).unwrap_or(1 << 16)];
        while left > 0 {
            let want = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
            let n = io::Read::read(&mut src, &mut buf[..want])?;
            if n == 0 {
                break;
            }
            io::Write::write_all(&mut dst, &buf[..n])?;
            left -= n as u64;
        }
        apply_fd(&dst, attrs)
    }
}

/// Errors with which `copy_file_range` says "not between these files", before copying anything.
fn copy_refused(e: nix::Error) -> bool {
    use nix::errno::Errno;
    matches!(e, Errno::EXDEV | Errno::ENOSYS | Errno::EINVAL | Errno::EOPNOTSUPP | Errno::EPERM)
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

/// Copy one entry (file, dir without its contents, symlink, device node or fifo) with its owner, mode,
/// mtime and xattrs, replacing what is at `to` unless both are directories. Sockets are skipped.
pub fn copy_entry(from: &Path, to: &Path) -> io::Result<()> {
    let m = from.symlink_metadata()?;
    let ft = m.file_type();
    if to.symlink_metadata().is_ok() && !(ft.is_dir() && to.is_dir()) {
        remove_any(to)?;
    }
    if ft.is_dir() {
        if !to.is_dir() {
            fs::create_dir(to)?;
        }
    } else if ft.is_symlink() {
        std::os::unix::fs::symlink(fs::read_link(from)?, to)?;
    } else if ft.is_file() {
        fs::copy(from, to)?;
    } else {
        let kind = if ft.is_char_device() {
            nix::sys::stat::SFlag::S_IFCHR
        } else if ft.is_block_device() {
            nix::sys::stat::SFlag::S_IFBLK
        } else if ft.is_fifo() {
            nix::sys::stat::SFlag::S_IFIFO
        } else {
            return Ok(()); // sockets do not belong in a layer
        };
        let mode = nix::sys::stat::Mode::from_bits_truncate(m.mode() & 0o7777);
        nix::sys::stat::mknod(to, kind, mode, m.rdev()).map_err(io::Error::from)?;
    }
    for name in xattr::list(from).into_iter().flatten() {
        if let Ok(Some(v)) = xattr::get(from, &name) {
            let _ = xattr::set(to, &name, &v);
        }
    }
    apply(to, &Attrs::of(&m), ft.is_symlink())
}

/// Copy a whole tree with [`copy_entry`], directories' mtimes restored after their contents are in.
pub fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    let mut dirs = Vec::new();
    for e in walkdir::WalkDir::new(from).follow_links(false).sort_by_file_name() {
        let e = e.map_err(|e| e.into_io_error().unwrap_or_else(|| io::Error::other("walk failed")))?;
        let rel = e.path().strip_prefix(from).unwrap_or(e.path());
        let dest = if rel.as_os_str().is_empty() { to.to_path_buf() } else { to.join(rel) };
        copy_entry(e.path(), &dest)?;
        if e.file_type().is_dir() {
            dirs.push((dest, e.path().symlink_metadata()?));
        }
    }
    for (dir, meta) in dirs.iter().rev() {
        set_mtime(dir, (meta.mtime(), meta.mtime_nsec()))?;
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
    fn copy_tree_keeps_links_modes_and_times() {
        let t = tempfile::tempdir().unwrap();
        let (from, to) = (t.path().join("from"), t.path().join("to"));
        fs::create_dir_all(from.join("d")).unwrap();
        fs::write(from.join("d/f"), "x").unwrap();
        fs::set_permissions(from.join("d/f"), fs::Permissions::from_mode(0o751)).unwrap();
        std::os::unix::fs::symlink("d/f", from.join("l")).unwrap();
        set_mtime(&from.join("d"), (1_000_000, 0)).unwrap();
        copy_tree(&from, &to).unwrap();
        assert_eq!(fs::read_to_string(to.join("d/f")).unwrap(), "x");
        assert_eq!(fs::metadata(to.join("d/f")).unwrap().mode() & 0o7777, 0o751);
        assert_eq!(fs::read_link(to.join("l")).unwrap(), Path::new("d/f"));
        assert_eq!(fs::metadata(to.join("d")).unwrap().mtime(), 1_000_000);
    }

    #[test]
    fn file_copier_copies_content_and_attrs_in_the_kernel_or_through_a_buffer_and_never_follows_a_link() {
        let t = tempfile::tempdir().unwrap();
        let from = t.path().join("from");
        let content: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        fs::write(&from, &content).unwrap();
        let me = fs::metadata(&from).unwrap();
        let attrs = Attrs { uid: me.uid(), gid: me.gid(), mode: 0o4751, mtime: (1_000_000, 7) };
        for in_kernel in [true, false] {
            let copier = FileCopier { in_kernel: std::cell::Cell::new(in_kernel) };
            let to = t.path().join(format!("to-{in_kernel}"));
            copier.copy(&from, me.len(), &to, &attrs).unwrap();
            assert_eq!(fs::read(&to).unwrap(), content, "in_kernel={in_kernel}");
            let m = fs::metadata(&to).unwrap();
            assert_eq!((m.mode() & 0o7777, m.mtime(), m.mtime_nsec()), (0o4751, 1_000_000, 7));
        }
        std::os::unix::fs::symlink(&from, t.path().join("link")).unwrap();
        let err = FileCopier::default().copy(&from, me.len(), &t.path().join("link"), &attrs).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists, "a link in the way is an error, never followed");
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
