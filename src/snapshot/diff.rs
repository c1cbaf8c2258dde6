//! The copy backend's change detection: stat the whole rootfs before a step and after it, and write what
//! changed into an upper dir in the OCI vocabulary (new and changed entries as themselves, removed ones as
//! `.wh.NAME` files), which `layer::write` tars exactly like an overlay upper dir.
//!
//! ctime is part of each entry's stamp: a process cannot set it, so any write, chmod or chown a step makes
//! is seen even when it restores the mtime.

use crate::fsops::{self, Attrs, Stamp};
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The state of a tree: relative path → stamp.
#[derive(Debug, Default)]
pub struct Scan {
    entries: BTreeMap<PathBuf, Stamp>,
}

/// Stat every entry under `root` (not following symlinks).
pub fn scan(root: &Path) -> io::Result<Scan> {
    let mut entries = BTreeMap::new();
    for e in walkdir::WalkDir::new(root).min_depth(1).follow_links(false) {
        let e = e.map_err(|e| e.into_io_error().unwrap_or_else(|| io::Error::other("walk failed")))?;
        let rel = e.path().strip_prefix(root).unwrap_or(e.path()).to_path_buf();
        entries.insert(rel, Stamp::of(&e.path().symlink_metadata()?));
    }
    Ok(Scan { entries })
}

/// Write into `upper` what changed under `root` since `before`. Paths listed in `ignore` (mount-point
/// stubs the sandbox created) are left out.
pub fn diff(root: &Path, before: &Scan, upper: &Path, ignore: &[PathBuf]) -> io::Result<()> {
    let after = scan(root)?;
    // Names of one inode stay one inode in the upper dir (as in overlay's), so the layer holds a tar link.
    let mut linked: HashMap<(u64, u64), &Path> = HashMap::new();
    for (rel, stamp) in &after.entries {
        if ignore.contains(rel) || before.entries.get(rel) == Some(stamp) {
            continue;
        }
        ensure_parents(root, upper, rel)?;
        let meta = root.join(rel).symlink_metadata()?;
        if meta.is_file() && meta.nlink() > 1 {
            if let Some(first) = linked.get(&(meta.dev(), meta.ino())) {
                fs::hard_link(upper.join(first), upper.join(rel))?;
                continue;
            }
            linked.insert((meta.dev(), meta.ino()), rel);
        }
        fsops::copy_entry(&root.join(rel), &upper.join(rel))?;
    }
    for rel in before.entries.keys() {
        if after.entries.contains_key(rel) || ignore.contains(rel) {
            continue;
        }
        // Only the top-most removed path needs a whiteout: it hides everything below it.
        if rel.parent().is_some_and(|p| !p.as_os_str().is_empty() && !after.entries.contains_key(p)) {
            continue;
        }
        ensure_parents(root, upper, rel)?;
        // The name's own bytes: a file name need not be UTF-8.
        let mut name = std::ffi::OsString::from(".wh.");
        name.push(rel.file_name().unwrap_or_default());
        let wh = upper.join(rel).with_file_name(name);
        fs::write(&wh, b"")?;
        // The same entry overlay's whiteouts give: an empty file with mode 0.
        fs::set_permissions(&wh, std::os::unix::fs::PermissionsExt::from_mode(0o000))?;
    }
    Ok(())
}

/// Parent directories of `rel` in `upper`, with the attributes they have under `root`.
fn ensure_parents(root: &Path, upper: &Path, rel: &Path) -> io::Result<()> {
    let mut prefix = PathBuf::new();
    let parents: Vec<_> = rel.parent().map(|p| p.components().collect()).unwrap_or_default();
    for c in parents {
        prefix.push(c);
        let up = upper.join(&prefix);
        if up.symlink_metadata().is_ok() {
            continue;
        }
        fs::create_dir(&up)?;
        if let Ok(m) = root.join(&prefix).symlink_metadata() {
            fsops::apply(&up, &Attrs::of(&m), false)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_finds_new_changed_and_removed_entries() {
        let t = tempfile::tempdir().unwrap();
        let (root, upper) = (t.path().join("root"), t.path().join("upper"));
        fs::create_dir_all(root.join("etc/conf.d")).unwrap();
        fs::create_dir_all(root.join("gone/deep")).unwrap();
        fs::create_dir_all(&upper).unwrap();
        fs::write(root.join("etc/keep"), "k").unwrap();
        fs::write(root.join("etc/change"), "old").unwrap();
        fs::write(root.join("etc/conf.d/x"), "x").unwrap();
        fs::write(root.join("gone/deep/f"), "f").unwrap();
        let before = scan(&root).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(10));
        fs::write(root.join("etc/change"), "new").unwrap();
        fs::write(root.join("etc/new"), "n").unwrap();
        fs::remove_file(root.join("etc/conf.d/x")).unwrap();
        fs::remove_dir_all(root.join("gone")).unwrap();
        diff(&root, &before, &upper, &[]).unwrap();
        let mut found: Vec<String> = walkdir::WalkDir::new(&upper)
            .min_depth(1)
            .into_iter()
            .map(|e| e.unwrap().path().strip_prefix(&upper).unwrap().display().to_string())
            .collect();
        found.sort();
        assert_eq!(
            found,
            vec!["etc", "etc/change", "etc/conf.d", "etc/conf.d/.wh.x", "etc/new", ".wh.gone"]
                .into_iter()
                .map(String::from)
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect::<Vec<_>>()
        );
        assert_eq!(fs::read_to_string(upper.join("etc/change")).unwrap(), "new");
    }
}
