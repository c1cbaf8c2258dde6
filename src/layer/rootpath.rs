//! Resolving paths inside an extraction target as if it were `/`: `..` stops at the target, absolute
//! symlinks restart at the target, and relative symlinks are followed component by component. No path
//! this returns can be outside the target, whatever symlinks earlier layers left there.

use super::LayerError;
use crate::rootpath::{self, Escape, RootPathError};
use std::path::{Path, PathBuf};

/// Resolve every component of `rel` (symlinks included) inside `root`. Components that do not exist
/// yet are kept as they are; the result is `root` joined with a symlink-free relative path.
pub(crate) fn resolve_in_root(root: &Path, rel: &Path, entry: &str) -> Result<PathBuf, LayerError> {
    rootpath::resolve_in(root, rel, true, Escape::Clamp).map_err(|e| match e {
        RootPathError::Io(source) => LayerError::Entry { entry: entry.to_string(), what: "resolve its path", source },
        RootPathError::Loop | RootPathError::Escapes => {
            LayerError::UnsafeEntry { entry: entry.to_string(), reason: "too many levels of symlinks" }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
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
