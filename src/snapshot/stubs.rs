//! The clean-up of the mount-point stubs a sandbox had to create in a rootfs (`/etc/hosts`,
//! `/etc/resolv.conf`, `/etc/hostname`, bind targets): they are the sandbox's, not the command's, so
//! they must not reach a layer or a container's changes. RUN and `rbuild run` both clean through
//! [`clean`], whichever backend gave their rootfs.

use crate::sandbox::Rootfs;
use std::path::{Path, PathBuf};

/// Remove the stubs from what was written under `rootfs` (empty stubs, deepest first) and, with overlay,
/// the parent directories copied up only because of them. Returns those parents (relative to the root),
/// which a tree diff (copy backend) must ignore.
pub fn clean(rootfs: &Rootfs, stubs: &[String]) -> Vec<PathBuf> {
    match rootfs {
        Rootfs::Overlay { lowers, upper, .. } => {
            remove(upper, stubs);
            prune_parents(upper, stubs, lowers);
        }
        Rootfs::Dir(dir) => remove(dir, stubs),
    }
    parents(stubs)
}

/// Remove the stubs under `root` (deepest first), unless the command put something of its own there:
/// only empty files and empty directories go.
fn remove(root: &Path, stubs: &[String]) {
    for stub in stubs.iter().rev() {
        let path = root.join(stub.trim_start_matches('/'));
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_file() && m.len() == 0 => {
                let _ = std::fs::remove_file(&path);
            }
            Ok(m) if m.is_dir() => {
                let _ = std::fs::remove_dir(&path); // fails, harmlessly, when not empty
            }
            _ => {}
        }
    }
}

/// Parent directories of the stubs, relative to the root: overlay copied them up (and creating the stub
/// touched them) only because of the sandbox, so they are not the step's changes.
fn parents(stubs: &[String]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    for stub in stubs {
        let mut p = Path::new(stub.trim_start_matches('/')).parent();
        while let Some(dir) = p.filter(|d| !d.as_os_str().is_empty()) {
            if !out.iter().any(|o| o == dir) {
                out.push(dir.to_path_buf());
            }
            p = dir.parent();
        }
    }
    out
}

/// Overlay: drop the stub parents the upper dir holds only because the sandbox touched them: empty,
/// not opaque, and present in a lower layer (so removing them from the upper changes nothing else).
fn prune_parents(upper: &Path, stubs: &[String], lowers: &[PathBuf]) {
    let mut parents = parents(stubs);
    parents.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for rel in parents {
        let up = upper.join(&rel);
        let empty = std::fs::read_dir(&up).map(|mut d| d.next().is_none()).unwrap_or(false);
        let opaque =
            ["trusted.overlay.opaque", "user.overlay.opaque"].iter().any(|x| matches!(xattr::get(&up, x), Ok(Some(_))));
        if empty && !opaque && lowers.iter().any(|l| l.join(&rel).is_dir()) {
            let _ = std::fs::remove_dir(&up);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stub_parents_are_listed_once_each() {
        let stubs = vec!["/etc/hosts".to_string(), "/etc/resolv.conf".into(), "/a/b/c".into()];
        let p: Vec<String> = parents(&stubs).iter().map(|p| p.display().to_string()).collect();
        assert_eq!(p, vec!["etc", "a/b", "a"]);
    }

    #[test]
    fn prune_keeps_dirs_the_command_filled() {
        let t = tempfile::tempdir().unwrap();
        let (upper, lower) = (t.path().join("upper"), t.path().join("lower"));
        for d in ["upper/etc", "upper/var", "lower/etc", "lower/var"] {
            std::fs::create_dir_all(t.path().join(d)).unwrap();
        }
        std::fs::write(upper.join("var/new"), "x").unwrap();
        prune_parents(&upper, &["/etc/hosts".into(), "/var/x".into()], &[lower]);
        assert!(!upper.join("etc").exists());
        assert!(upper.join("var/new").exists());
    }

    #[test]
    fn clean_removes_empty_stubs_and_keeps_what_the_command_wrote() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/hosts"), "").unwrap();
        std::fs::write(root.join("etc/hostname"), "mine\n").unwrap();
        let ignore = clean(&Rootfs::Dir(root.clone()), &["/etc/hosts".into(), "/etc/hostname".into()]);
        assert!(!root.join("etc/hosts").exists());
        assert!(root.join("etc/hostname").exists());
        assert_eq!(ignore, vec![PathBuf::from("etc")]);
    }
}
