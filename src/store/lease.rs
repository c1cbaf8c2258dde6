//! Leases: how a build keeps gc away from blobs it has written (or relies on) but that no manifest in
//! `index.json` reaches yet. A lease is a file under `<root>/leases/` held with a shared flock for as long
//! as the `Lease` lives. While it is held, gc keeps every blob it names and every blob written since it
//! began. A lease whose process died has no flock any more: gc deletes it.

use super::{Store, StoreError};
use crate::digest::Digest;
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// A held lease; dropping it releases it.
pub struct Lease {
    file: Flock<File>,
    path: PathBuf,
}

/// What the live leases protect, as gc sees it.
#[derive(Debug, Default)]
pub(crate) struct Protected {
    pub digests: BTreeSet<Digest>,
    /// Blobs modified at or after this time (seconds since the epoch) are kept.
    pub since: Option<i64>,
}

fn leases_dir(store: &Store) -> PathBuf {
    store.root().join("leases")
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl Store {
    /// Take a lease for the duration of a build.
    pub fn lease(&self) -> Result<Lease, StoreError> {
        let dir = leases_dir(self);
        fs::create_dir_all(&dir).map_err(StoreError::io("cannot create", &dir))?;
        let named = tempfile::Builder::new()
            .prefix(&format!("{}-", std::process::id()))
            .tempfile_in(&dir)
            .map_err(StoreError::io("cannot create a lease in", &dir))?;
        let (file, path) =
            named.keep().map_err(|e| StoreError::Io { what: "cannot keep lease", path: dir, source: e.error })?;
        let mut file = Flock::lock(file, FlockArg::LockShared)
            .map_err(|(_, source)| StoreError::Lock { path: path.clone(), source })?;
        // Start one second early: blob mtimes and this clock are both whole seconds here.
        writeln!(file, "since {}", now() - 1).map_err(StoreError::io("cannot write", &path))?;
        Ok(Lease { file, path })
    }
}

impl Lease {
    /// Keep `digest` (e.g. a base layer the build reuses) until the lease ends.
    pub fn protect(&mut self, digest: &Digest) -> Result<(), StoreError> {
        writeln!(self.file, "{digest}").map_err(StoreError::io("cannot write", &self.path))
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        // Removing the file first is safe: gc skips leases it cannot open.
        let _ = fs::remove_file(&self.path);
    }
}

/// Read every live lease; delete the ones whose holder is gone. The caller holds the store lock.
pub(crate) fn protected(store: &Store) -> Result<Protected, StoreError> {
    let dir = leases_dir(store);
    let mut out = Protected::default();
    let Ok(entries) = fs::read_dir(&dir) else { return Ok(out) };
    for entry in entries {
        let path = entry.map_err(StoreError::io("cannot list", &dir))?.path();
        let Ok(file) = OpenOptions::new().read(true).open(&path) else { continue };
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(_stale) => {
                let _ = fs::remove_file(&path);
            }
            Err((_, Errno::EWOULDBLOCK)) => read_lease(&path, &mut out),
            Err((_, source)) => return Err(StoreError::Lock { path, source }),
        }
    }
    Ok(out)
}

fn read_lease(path: &Path, out: &mut Protected) {
    let Ok(text) = fs::read_to_string(path) else { return };
    for line in text.lines() {
        if let Some(since) = line.strip_prefix("since ").and_then(|s| s.parse::<i64>().ok()) {
            out.since = Some(out.since.map_or(since, |s| s.min(since)));
        } else if let Ok(d) = Digest::parse(line) {
            out.digests.insert(d);
        }
    }
}
