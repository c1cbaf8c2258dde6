//! Path resolution confined to a root directory, the way a container sees its own filesystem: absolute
//! symlinks restart at the root, `..` never climbs above it. Used for COPY destinations inside an image's
//! rootfs and for COPY sources, so no step ever reads or writes a host path through a symlink.

use std::io;
use std::path::{Component, Path, PathBuf};

const MAX_SYMLINKS: usize = 40;

/// How to treat a path that tries to leave the root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// Clamp at the root, as a chroot does (`/..` is `/`).
    Clamp,
    /// Refuse: the caller turns this into "outside the build context".
    Refuse,
}

#[derive(Debug, thiserror::Error)]
pub enum ScopedError {
    #[error("{path}: points outside {root_name}")]
    Escapes { path: String, root_name: &'static str },
    #[error("{path}: too many levels of symbolic links")]
    Loop { path: String },
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
}

/// Split a slash path into normal components, resolving `.` and `..` lexically. `None` when `..` climbs
/// above the start.
pub fn clean_components(path: &str) -> Option<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for c in Path::new(path).components() {
        match c {
            Component::Normal(n) => out.push(n.to_string_lossy().into_owned()),
            Component::ParentDir => {
                out.pop()?;
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    Some(out)
}

/// Resolve `path` (relative to `root`, a leading `/` allowed) following symlinks inside the root. With
/// `follow_last` false the final component is not followed (lstat semantics). Returns the resolved path as
/// components relative to the root; the final components need not exist.
pub fn resolve(
    root: &Path,
    path: &str,
    follow_last: bool,
    escape: Escape,
    root_name: &'static str,
) -> Result<Vec<String>, ScopedError> {
    let escapes = || ScopedError::Escapes { path: path.to_string(), root_name };
    let mut pending: Vec<String> = Vec::new();
    // Components are consumed from the end of `pending` (reversed order).
    push_reversed(&mut pending, path);
    let mut resolved: Vec<String> = Vec::new();
    let mut hops = 0;
    while let Some(comp) = pending.pop() {
        match comp.as_str() {
            "" | "." => continue,
            ".." => {
                if resolved.pop().is_none() && escape == Escape::Refuse {
                    return Err(escapes());
                }
                continue;
            }
            _ => {}
        }
        let is_last = pending.iter().all(|c| c.is_empty() || c == ".");
        let candidate = join(root, &resolved).join(&comp);
        let meta = match std::fs::symlink_metadata(&candidate) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENOTDIR) => {
                resolved.push(comp);
                continue;
            }
            Err(e) => return Err(ScopedError::Io { path: path.to_string(), source: e }),
        };
        if meta.file_type().is_symlink() && (follow_last || !is_last) {
            hops += 1;
            if hops > MAX_SYMLINKS {
                return Err(ScopedError::Loop { path: path.to_string() });
            }
            let target =
                std::fs::read_link(&candidate).map_err(|e| ScopedError::Io { path: path.to_string(), source: e })?;
            let target = target.to_string_lossy().into_owned();
            if target.starts_with('/') {
                if escape == Escape::Refuse {
                    return Err(escapes());
                }
                resolved.clear();
            }
            push_reversed(&mut pending, &target);
            continue;
        }
        resolved.push(comp);
    }
    Ok(resolved)
}

fn push_reversed(pending: &mut Vec<String>, path: &str) {
    for c in path.split('/').rev() {
        pending.push(c.to_string());
    }
}

/// `root` joined with relative components.
pub fn join(root: &Path, comps: &[String]) -> PathBuf {
    let mut p = root.to_path_buf();
    for c in comps {
        p.push(c);
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn absolute_symlinks_restart_at_the_root() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("usr/bin")).unwrap();
        symlink("/usr/bin", t.path().join("bin")).unwrap();
        let r = resolve(t.path(), "/bin/sh", true, Escape::Clamp, "the image").unwrap();
        assert_eq!(r, vec!["usr", "bin", "sh"]);
    }

    #[test]
    fn dotdot_clamps_or_refuses() {
        let t = tempfile::tempdir().unwrap();
        symlink("../../../etc", t.path().join("up")).unwrap();
        assert_eq!(resolve(t.path(), "up/passwd", true, Escape::Clamp, "x").unwrap(), vec!["etc", "passwd"]);
        assert!(matches!(
            resolve(t.path(), "up/passwd", true, Escape::Refuse, "the build context"),
            Err(ScopedError::Escapes { .. })
        ));
        assert!(resolve(t.path(), "../x", true, Escape::Refuse, "x").is_err());
    }

    #[test]
    fn last_component_is_kept_when_not_following() {
        let t = tempfile::tempdir().unwrap();
        symlink("target", t.path().join("link")).unwrap();
        assert_eq!(resolve(t.path(), "link", false, Escape::Clamp, "x").unwrap(), vec!["link"]);
        assert_eq!(resolve(t.path(), "link", true, Escape::Clamp, "x").unwrap(), vec!["target"]);
    }

    #[test]
    fn symlink_loops_end_in_an_error() {
        let t = tempfile::tempdir().unwrap();
        symlink("b", t.path().join("a")).unwrap();
        symlink("a", t.path().join("b")).unwrap();
        assert!(matches!(resolve(t.path(), "a/x", true, Escape::Clamp, "x"), Err(ScopedError::Loop { .. })));
    }

    #[test]
    fn clean_components_refuses_climbing_out() {
        assert_eq!(clean_components("./a/../b/c/").unwrap(), vec!["b", "c"]);
        assert!(clean_components("../secret").is_none());
        assert!(clean_components("a/../../secret").is_none());
    }
}
