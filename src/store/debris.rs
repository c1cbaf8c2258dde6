//! Debris: what a process killed mid-command leaves in the store, and how the next command finds and
//! removes it.
//!
//! Every temporary entry the store hands out is named `<kind>-<pid>-<random>` (see [`Store::temp_file`],
//! [`Store::temp_dir`]) in `<root>/tmp/` (blobs being written, index files, build work dirs, containers of
//! `run --rm`, cache records) or, for snapshots being unpacked, `<root>/snapshots/.unpack-<pid>-<random>`.
//! An entry whose pid is no longer alive belongs to a dead command: [`sweep`], run by every command when it
//! opens the store, removes it, together with lease files nobody holds any more. An entry with no pid in
//! its name (written by an older rbuild) is left alone: nothing says whether its writer is alive.
//! A work dir that still has a mount under it is never deleted (it would delete through the mount); the
//! mounts of a dead rbuild lived in its private mount namespace and died with it.

use super::{Store, StoreError};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use tempfile::{NamedTempFile, TempDir};

/// One piece of debris, as `system check` reports it and [`sweep`] removes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Debris {
    pub path: PathBuf,
    pub why: DebrisKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DebrisKind {
    /// A temp file or dir whose owning process (pid in its name) is gone.
    DeadOwner(i32),
    /// A lease file no process holds.
    StaleLease,
}

impl std::fmt::Display for Debris {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.why {
            DebrisKind::DeadOwner(pid) => write!(f, "{}: left by process {pid}, which is gone", self.path.display()),
            DebrisKind::StaleLease => write!(f, "{}: lease held by no process", self.path.display()),
        }
    }
}

/// `<kind>-<pid>-`: the prefix of every temp name this process creates.
pub(super) fn prefix(kind: &str) -> String {
    format!("{kind}-{}-", std::process::id())
}

/// The pid encoded in a temp name `<kind>-<pid>-<random>` (the random part has no `-`).
pub(super) fn owner(name: &str) -> Option<i32> {
    let mut parts = name.rsplitn(3, '-');
    let (_random, pid, _kind) = (parts.next()?, parts.next()?, parts.next()?);
    pid.parse::<i32>().ok().filter(|p| *p > 0)
}

/// Whether `pid` names a live process (EPERM: alive, but not ours to signal).
pub(super) fn alive(pid: i32) -> bool {
    !matches!(nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None), Err(nix::errno::Errno::ESRCH))
}

impl Store {
    /// A temp file in `<root>/tmp/` named after this process, removed when dropped unless persisted.
    pub fn temp_file(&self, kind: &str) -> Result<NamedTempFile, StoreError> {
        let tmp = self.tmp_dir();
        tempfile::Builder::new()
            .prefix(&prefix(kind))
            .tempfile_in(&tmp)
            .map_err(StoreError::io("cannot create a temp file in", &tmp))
    }

    /// A temp dir (mode 0700) named after this process in `parent`, removed with its contents when dropped.
    pub fn temp_dir_in(&self, parent: &Path, kind: &str) -> Result<TempDir, StoreError> {
        tempfile::Builder::new()
            .prefix(&prefix(kind))
            .tempdir_in(parent)
            .map_err(StoreError::io("cannot create a temp dir in", parent))
    }

    /// A temp dir in `<root>/tmp/`; see [`Store::temp_dir_in`].
    pub fn temp_dir(&self, kind: &str) -> Result<TempDir, StoreError> {
        self.temp_dir_in(&self.tmp_dir(), kind)
    }
}

/// Every piece of debris in the store, without touching it.
pub fn find(store: &Store) -> Result<Vec<Debris>, StoreError> {
    let mut out = Vec::new();
    for dir in [store.tmp_dir(), store.root().join("snapshots")] {
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(source) => return Err(StoreError::Io { what: "cannot list", path: dir, source }),
        };
        for entry in entries {
            let entry = entry.map_err(StoreError::io("cannot list", &dir))?;
            let name = entry.file_name();
            let Some(pid) = name.to_str().and_then(owner) else { continue };
            if !alive(pid) {
                out.push(Debris { path: entry.path(), why: DebrisKind::DeadOwner(pid) });
            }
        }
    }
    out.extend(super::lease::stale(store)?.into_iter().map(|path| Debris { path, why: DebrisKind::StaleLease }));
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Remove the debris of dead processes. Best effort: what cannot be removed now is found again next time.
pub fn sweep(store: &Store) -> Result<(), StoreError> {
    let mounts = super::check::mounts_under(store.root());
    for d in find(store)? {
        if mounts.iter().any(|m| m.starts_with(&d.path)) {
            continue;
        }
        let _ = match fs::symlink_metadata(&d.path) {
            Ok(m) if m.is_dir() => fs::remove_dir_all(&d.path),
            Ok(_) => fs::remove_file(&d.path),
            Err(e) => Err(e),
        };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_reads_the_pid_between_kind_and_random_part() {
        assert_eq!(owner("blob-1234-AbC9xZ"), Some(1234));
        assert_eq!(owner("index.json-77-q1"), Some(77));
        assert_eq!(owner("oci-layout-77-q1"), Some(77));
        assert_eq!(owner(".unpack-5-zz"), Some(5));
        assert_eq!(owner("blob-AbC9xZ"), None, "names from before pids were encoded are left alone");
        assert_eq!(owner("README"), None);
        assert_eq!(owner("x-0-y"), None);
    }

    #[test]
    fn temp_names_carry_this_process_id() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let f = store.temp_file("blob").unwrap();
        let name = f.path().file_name().unwrap().to_str().unwrap().to_string();
        assert_eq!(owner(&name), Some(std::process::id() as i32));
        assert!(find(&store).unwrap().is_empty(), "a live process's temp file is not debris");
    }

    #[test]
    fn debris_of_dead_processes_is_found_and_swept() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        // pid_max is at most 2^22, so this pid is never alive.
        let dead = store.tmp_dir().join("build-99999999-abc");
        fs::create_dir_all(dead.join("upper/x")).unwrap();
        fs::write(store.tmp_dir().join("blob-99999999-abc"), b"partial").unwrap();
        let legacy = store.tmp_dir().join("blob-abcdef");
        fs::write(&legacy, b"unknown owner").unwrap();
        assert_eq!(find(&store).unwrap().len(), 2);
        sweep(&store).unwrap();
        assert!(find(&store).unwrap().is_empty());
        assert!(!dead.exists() && legacy.exists());
    }
}
