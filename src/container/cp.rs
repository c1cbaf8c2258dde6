//! `cp` between a container's filesystem (a [`super::view::RootView`]) and the host, or a tar stream.
//! Container paths are resolved inside the container's root ([`crate::rootpath`], clamped as a chroot
//! does): `..` stops at its `/` and a symlink pointing out of the container — absolute or relative —
//! lands inside it. A destination path is followed inside the container (as docker does); below it,
//! entries in the way are replaced, never followed, so a planted link cannot redirect a write.

use super::ContainerError;
use crate::rootpath::{self, Escape};
use std::ffi::OsString;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{lchown, symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Resolve the container path `path` inside `root`; `follow_last` as `lstat`/`stat`.
fn resolve(root: &Path, path: &str, follow_last: bool) -> Result<PathBuf, ContainerError> {
    let rel = rootpath::resolve(root, Path::new(path), follow_last, Escape::Clamp)
        .map_err(|e| ContainerError::CpPath { path: path.to_string(), reason: e.to_string() })?;
    Ok(root.join(rel))
}

/// The name a copy of `path` takes inside a destination directory (docker's: its last component).
fn base_name(path: &Path) -> Option<OsString> {
    path.file_name().map(|n| n.to_os_string())
}

/// Copy the container path `src` to the host path `dest` (into it when it is a directory), or as a tar
/// to `out` when `dest` is `None` (`cp CONTAINER:SRC -`).
pub fn copy_out(
    root: &Path,
    container: &str,
    src: &str,
    dest: Option<&Path>,
    out: impl Write,
) -> Result<(), ContainerError> {
    let from = resolve(root, src, false)?;
    if fs::symlink_metadata(&from).is_err() {
        return Err(ContainerError::CpNotFound { path: src.to_string(), container: container.to_string() });
    }
    let name = base_name(&from);
    let Some(dest) = dest else {
        let mut tar = tar::Builder::new(out);
        tar.follow_symlinks(false);
        let name = name.unwrap_or_else(|| ".".into());
        let appended = if from.is_dir() && !from.is_symlink() {
            tar.append_dir_all(&name, &from)
        } else {
            tar.append_path_with_name(&from, &name)
        };
        return appended
            .and_then(|_| tar.into_inner().and_then(|mut w| w.flush()))
            .map_err(ContainerError::io("writing a tar of", &from));
    };
    let target = match (fs::metadata(dest), name) {
        (Ok(m), Some(name)) if m.is_dir() => dest.join(name),
        _ => dest.to_path_buf(),
    };
    copy_tree(&from, &target)
}

/// Copy the host path `src` (or a tar read from `input` when `None`) to the container path `dest`: into
/// it when it is a directory, else as that name in its parent, which must exist.
pub fn copy_in(root: &Path, src: Option<&Path>, dest: &str, input: impl Read) -> Result<(), ContainerError> {
    let to = resolve(root, dest, true)?;
    let Some(src) = src else {
        if !to.is_dir() {
            return Err(ContainerError::CpPath {
                path: dest.to_string(),
                reason: "is not a directory (a tar on stdin is extracted into a directory)".into(),
            });
        }
        return crate::layer::extract_tar(input, &to).map_err(ContainerError::Layer);
    };
    fs::symlink_metadata(src).map_err(ContainerError::io("reading", src))?;
    let target = if to.is_dir() {
        let name = base_name(src).ok_or_else(|| ContainerError::CpPath {
            path: src.display().to_string(),
            reason: "has no file name".into(),
        })?;
        // Resolved again: the name may already exist in the container as a symlink (it is replaced).
        let rel = Path::new(dest).join(&name);
        resolve(root, &rel.to_string_lossy(), false)?
    } else {
        if !to.parent().is_some_and(Path::is_dir) {
            return Err(ContainerError::CpPath {
                path: dest.to_string(),
                reason: "its parent directory does not exist in the container".into(),
            });
        }
        to
    };
    copy_tree(src, &target)
}

/// Copy `from` to `to` recursively, keeping modes, owners and symlinks as they are; an entry in the way
/// at `to` that is a symlink (or not a directory where one is needed) is replaced, never followed.
fn copy_tree(from: &Path, to: &Path) -> Result<(), ContainerError> {
    let meta = fs::symlink_metadata(from).map_err(ContainerError::io("reading", from))?;
    let existing = fs::symlink_metadata(to).ok();
    let ty = meta.file_type();
    if let Some(e) = &existing {
        if e.file_type().is_symlink() || (e.is_dir() != ty.is_dir()) || !ty.is_dir() && !ty.is_file() {
            if e.is_dir() && !e.file_type().is_symlink() {
                fs::remove_dir_all(to).map_err(ContainerError::io("replacing", to))?;
            } else {
                fs::remove_file(to).map_err(ContainerError::io("replacing", to))?;
            }
        }
    }
    if ty.is_dir() {
        if !to.is_dir() {
            fs::create_dir(to).map_err(ContainerError::io("creating", to))?;
        }
        for entry in fs::read_dir(from).map_err(ContainerError::io("listing", from))? {
            let entry = entry.map_err(ContainerError::io("listing", from))?;
            copy_tree(&entry.path(), &to.join(entry.file_name()))?;
        }
        fs::set_permissions(to, fs::Permissions::from_mode(meta.mode() & 0o7777))
            .map_err(ContainerError::io("setting the mode of", to))?;
    } else if ty.is_symlink() {
        let target = fs::read_link(from).map_err(ContainerError::io("reading", from))?;
        symlink(&target, to).map_err(ContainerError::io("creating", to))?;
    } else if ty.is_file() {
        if existing.as_ref().is_some_and(|e| e.is_file()) {
            // A regular file (never a link: those were removed above) is overwritten in place.
            fs::remove_file(to).map_err(ContainerError::io("replacing", to))?;
        }
        fs::copy(from, to).map_err(ContainerError::io("copying to", to))?;
    } else {
        return Err(ContainerError::CpPath {
            path: from.display().to_string(),
            reason: "is a device, fifo or socket, which cp does not copy".into(),
        });
    }
    // Owners as in the source: root may set them; a failure is no reason to lose the copy.
    let _ = lchown(to, Some(meta.uid()), Some(meta.gid()));
    Ok(())
}
