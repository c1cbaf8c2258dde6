//! Path resolution confined to a root directory, the way a container sees its own filesystem: absolute
//! symlinks restart at the root and `..` never climbs above it. Every place that follows a path chosen by
//! an image, a layer or a Dockerfile — layer extraction, COPY destinations and sources, USER lookups in
//! `/etc/passwd`, the sandbox's mount points — resolves it here, so none of them can be led to a host path.
//!
//! Names are bytes (`OsString`), not UTF-8: a layer may hold any file name.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// Linux's limit on symlinks followed in one lookup.
const MAX_SYMLINKS: usize = 40;

/// What to do with a path or symlink that tries to leave the root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// Clamp at the root, as a chroot does (`/..` is `/`, `/abs` is `root/abs`).
    Clamp,
    /// Refuse: the caller reports it (the build context may not be left, even through an absolute link).
    Refuse,
}

#[derive(Debug, thiserror::Error)]
pub enum RootPathError {
    #[error("points outside the root")]
    Escapes,
    #[error("too many levels of symbolic links")]
    Loop,
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Lexically clean a relative path (`a/./b/../c` → `a/c`); `None` when `..` climbs above the start.
pub fn clean(path: &Path) -> Option<PathBuf> {
    let mut out: Vec<&OsStr> = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop()?;
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    Some(out.iter().collect())
}

/// Lexically clean a path, dropping any `..` that would climb above the start (chroot semantics).
pub fn clamp(path: &Path) -> PathBuf {
    let mut out: Vec<&OsStr> = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out.iter().collect()
}

/// Resolve `path` (relative to `root`; a leading `/` means the root) following symlinks inside the root.
/// With `follow_last` false the final component is not followed (lstat semantics). Returns a symlink-free
/// path relative to the root; its last components need not exist.
pub fn resolve(root: &Path, path: &Path, follow_last: bool, escape: Escape) -> Result<PathBuf, RootPathError> {
    let mut pending: VecDeque<OsString> = path.components().filter_map(component).collect();
    let mut resolved: Vec<OsString> = Vec::new();
    let mut hops = 0;
    while let Some(comp) = pending.pop_front() {
        if comp == ".." {
            if resolved.pop().is_none() && escape == Escape::Refuse {
                return Err(RootPathError::Escapes);
            }
            continue;
        }
        let candidate = joined(root, &resolved).join(&comp);
        let meta = match std::fs::symlink_metadata(&candidate) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENOTDIR) => {
                resolved.push(comp);
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let is_last = pending.is_empty();
        if meta.file_type().is_symlink() && (follow_last || !is_last) {
            hops += 1;
            if hops > MAX_SYMLINKS {
                return Err(RootPathError::Loop);
            }
            let target = std::fs::read_link(&candidate)?;
            if target.has_root() {
                if escape == Escape::Refuse {
                    return Err(RootPathError::Escapes);
                }
                resolved.clear();
            }
            for c in target.components().rev().filter_map(component) {
                pending.push_front(c);
            }
            continue;
        }
        resolved.push(comp);
    }
    Ok(resolved.iter().collect())
}

/// Resolve and join: the host path for `path` inside `root`.
pub fn resolve_in(root: &Path, path: &Path, follow_last: bool, escape: Escape) -> Result<PathBuf, RootPathError> {
    resolve(root, path, follow_last, escape).map(|rel| root.join(rel))
}

/// Normal components and `..`; `/`, `.` and empty parts carry nothing.
fn component(c: Component<'_>) -> Option<OsString> {
    match c {
        Component::Normal(n) => Some(n.to_os_string()),
        Component::ParentDir => Some(OsString::from("..")),
        _ => None,
    }
}

fn joined(root: &Path, comps: &[OsString]) -> PathBuf {
    let mut p = root.to_path_buf();
    p.extend(comps);
    p
}

/// The path as a `/`-rooted string for messages.
pub fn display(rel: &Path) -> String {
    format!("/{}", String::from_utf8_lossy(rel.as_os_str().as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn p(s: &str) -> PathBuf {
        PathBuf::from(s)
    }

    #[test]
    fn absolute_symlinks_restart_at_the_root() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("usr/bin")).unwrap();
        symlink("/usr/bin", t.path().join("bin")).unwrap();
        assert_eq!(resolve(t.path(), &p("/bin/sh"), true, Escape::Clamp).unwrap(), p("usr/bin/sh"));
    }

    #[test]
    fn dotdot_clamps_or_refuses() {
        let t = tempfile::tempdir().unwrap();
        symlink("../../../etc", t.path().join("up")).unwrap();
        assert_eq!(resolve(t.path(), &p("up/passwd"), true, Escape::Clamp).unwrap(), p("etc/passwd"));
        assert!(matches!(resolve(t.path(), &p("up/passwd"), true, Escape::Refuse), Err(RootPathError::Escapes)));
        assert!(matches!(resolve(t.path(), &p("../x"), true, Escape::Refuse), Err(RootPathError::Escapes)));
        symlink("/etc/passwd", t.path().join("abs")).unwrap();
        assert!(matches!(resolve(t.path(), &p("abs"), true, Escape::Refuse), Err(RootPathError::Escapes)));
        assert_eq!(resolve(t.path(), &p("abs"), false, Escape::Refuse).unwrap(), p("abs"));
    }

    #[test]
    fn last_component_is_kept_when_not_following() {
        let t = tempfile::tempdir().unwrap();
        symlink("target", t.path().join("link")).unwrap();
        assert_eq!(resolve(t.path(), &p("link"), false, Escape::Clamp).unwrap(), p("link"));
        assert_eq!(resolve(t.path(), &p("link"), true, Escape::Clamp).unwrap(), p("target"));
    }

    #[test]
    fn symlink_loops_end_in_an_error() {
        let t = tempfile::tempdir().unwrap();
        symlink("b", t.path().join("a")).unwrap();
        symlink("a", t.path().join("b")).unwrap();
        assert!(matches!(resolve(t.path(), &p("a/x"), true, Escape::Clamp), Err(RootPathError::Loop)));
    }

    #[test]
    fn names_need_not_be_utf8() {
        let t = tempfile::tempdir().unwrap();
        let name = OsStr::from_bytes(b"caf\xe9");
        std::fs::create_dir(t.path().join(name)).unwrap();
        symlink(Path::new(name), t.path().join("l")).unwrap();
        assert_eq!(resolve(t.path(), &p("l/x"), true, Escape::Clamp).unwrap(), Path::new(name).join("x"));
    }

    #[test]
    fn lexical_cleaning() {
        assert_eq!(clean(&p("./a/../b/c/")).unwrap(), p("b/c"));
        assert_eq!(clean(&p("../secret")), None);
        assert_eq!(clean(&p("a/../../secret")), None);
        assert_eq!(clamp(&p("a/../../secret")), p("secret"));
    }
}
