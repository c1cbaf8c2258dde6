//! Resolving paths inside an extraction target as if it were `/`: `..` stops at the target, absolute
//! symlinks restart at the target, and relative symlinks are followed component by component. No path
//! this returns can be outside the target, whatever symlinks earlier layers left there.

use super::LayerError;
use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs;
use std::path::{Component, Path, PathBuf};

/// Linux's limit on symlinks followed in one lookup.
const MAX_SYMLINKS: usize = 40;

/// Resolve every component of `rel` (symlinks included) inside `root`. Components that do not exist
/// yet are kept as they are; the result is `root` joined with a symlink-free relative path.
pub(crate) fn resolve_in_root(root: &Path, rel: &Path, entry: &str) -> Result<PathBuf, LayerError> {
    let mut resolved: Vec<OsString> = Vec::new();
    let mut pending: VecDeque<OsString> = VecDeque::new();
    push_components(&mut pending, rel);
    let mut hops = 0;
    while let Some(c) = pending.pop_front() {
        if c == ".." {
            resolved.pop();
            continue;
        }
        let candidate = joined(root, &resolved).join(&c);
        match fs::symlink_metadata(&candidate) {
            Ok(meta) if meta.file_type().is_symlink() => {
                hops += 1;
                if hops > MAX_SYMLINKS {
                    return Err(LayerError::UnsafeEntry {
                        entry: entry.to_string(),
                        reason: "too many levels of symlinks",
                    });
                }
                let link = fs::read_link(&candidate).map_err(LayerError::io("cannot read symlink", &candidate))?;
                if link.is_absolute() {
                    resolved.clear();
                }
                let mut front = VecDeque::new();
                push_components(&mut front, &link);
                while let Some(x) = front.pop_back() {
                    pending.push_front(x);
                }
            }
            _ => resolved.push(c),
        }
    }
    Ok(joined(root, &resolved))
}

fn push_components(out: &mut VecDeque<OsString>, p: &Path) {
    for comp in p.components() {
        match comp {
            Component::Normal(x) => out.push_back(x.to_os_string()),
            Component::ParentDir => out.push_back("..".into()),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
}

fn joined(root: &Path, parts: &[OsString]) -> PathBuf {
    let mut p = root.to_path_buf();
    p.extend(parts);
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        fs::create_dir_all(root.join("usr/lib")).unwrap();
        symlink("/usr/lib", root.join("lib")).unwrap();
        symlink("../../../../..", root.join("up")).unwrap();
        symlink("/", root.join("slash")).unwrap();
        symlink("loop", root.join("loop")).unwrap();
        let r = |p: &str| resolve_in_root(&root, Path::new(p), p);
        assert_eq!(r("lib/x").unwrap(), root.join("usr/lib/x"));
        assert_eq!(r("up/etc/passwd").unwrap(), root.join("etc/passwd"));
        assert_eq!(r("slash/tmp").unwrap(), root.join("tmp"));
        assert_eq!(r("new/dir").unwrap(), root.join("new/dir"));
        assert!(matches!(r("loop/x"), Err(LayerError::UnsafeEntry { .. })));
    }
}
