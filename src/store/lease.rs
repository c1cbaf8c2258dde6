//! Leases: how a build keeps gc away from blobs it has written (or relies on) but that no manifest in
//! `index.json` reaches yet. A lease is a file under `<root>/leases/` held with a shared flock for as long
//! as the `Lease` lives. While it is held, gc keeps every blob it names and every blob written since it
//! began. A lease whose process died has no flock any more: gc deletes it.

use super::lock::Locked;
use super::{Image, Store, StoreError};
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
    /// How many leases are held: while any is, snapshots and cache mounts may be in use.
    pub live: usize,
}

fn leases_dir(store: &Store) -> PathBuf {
    store.leases_dir()
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl Store {
    /// Take a lease for the duration of a build.
    pub fn lease(&self) -> Result<Lease, StoreError> {
        // Under the store lock: a gc counts the live leases to decide whether snapshots may go, so a
        // lease must not appear between that count and the sweep (its build would mount a snapshot
        // the sweep is removing).
        let _lock = self.lock()?;
        let dir = leases_dir(self);
        fs::create_dir_all(&dir).map_err(StoreError::io("cannot create", &dir))?;
        let named = tempfile::Builder::new()
            .prefix(&super::debris::prefix("lease"))
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

impl Locked<'_> {
    /// Keep `digests` until `lease` ends if every one of them is in the store; `false` (nothing kept)
    /// when one is missing. Under the lock, no gc can sweep a blob between the check and the protection.
    pub fn protect_present(&self, lease: &mut Lease, digests: &[Digest]) -> Result<bool, StoreError> {
        if !digests.iter().all(|d| self.has_blob(d)) {
            return Ok(false);
        }
        digests.iter().try_for_each(|d| lease.protect(d))?;
        Ok(true)
    }

    /// Resolve `reference` and keep its manifest, config and layers until `lease` ends, with no window in
    /// which an `rmi` + gc could remove them: both happen under this lock. An image with a missing blob
    /// is refused here rather than failing half way through a build.
    pub fn resolve_leased(&self, reference: &str, lease: &mut Lease) -> Result<Image, StoreError> {
        self.resolve_leased_for(reference, None, lease)
    }

    /// [`Locked::resolve_leased`] for the platform `pick` wants (see [`Store::resolve_for`]).
    pub fn resolve_leased_for(
        &self,
        reference: &str,
        pick: super::resolve::PlatformPick,
        lease: &mut Lease,
    ) -> Result<Image, StoreError> {
        let image = self.resolve_for(reference, pick)?;
        let mut digests = vec![image.manifest_digest.clone(), image.config_digest.clone()];
        for layer in image.manifest.layers() {
            digests.push(super::from_oci_digest(layer.digest())?);
        }
        if let Some(missing) = digests.iter().find(|d| !self.has_blob(d)) {
            return Err(StoreError::Incomplete { manifest: image.manifest_digest.clone(), missing: missing.clone() });
        }
        digests.iter().try_for_each(|d| lease.protect(d))?;
        Ok(image)
    }

    /// Every blob a live lease holds; an image whose manifest is among them is in use by a running
    /// build (its base image) or a running `rbuild run`, and is not removed.
    pub fn in_use(&self) -> Result<BTreeSet<Digest>, StoreError> {
        Ok(protected(self)?.digests)
    }

    /// Whether any build or container is running (holds a lease): snapshots may be mounted.
    pub fn leases_live(&self) -> Result<bool, StoreError> {
        Ok(protected(self)?.live > 0)
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
    let mut out = Protected::default();
    for (path, live) in leases(store)? {
        if live {
            out.live += 1;
            read_lease(&path, &mut out);
        } else {
            let _ = fs::remove_file(&path);
        }
    }
    Ok(out)
}

/// Lease files no process holds.
pub(crate) fn stale(store: &Store) -> Result<Vec<PathBuf>, StoreError> {
    Ok(leases(store)?.into_iter().filter(|(_, live)| !*live).map(|(p, _)| p).collect())
}

/// Every lease file and whether it is held. A lease is held while its flock is; one whose creator is
/// still alive (pid in its name) counts as held too, since it is flocked just after it is created.
fn leases(store: &Store) -> Result<Vec<(PathBuf, bool)>, StoreError> {
    let dir = leases_dir(store);
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir(&dir) else { return Ok(out) };
    for entry in entries {
        let entry = entry.map_err(StoreError::io("cannot list", &dir))?;
        let path = entry.path();
        let Ok(file) = OpenOptions::new().read(true).open(&path) else { continue };
        let live = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(_free) => entry.file_name().to_str().and_then(super::debris::owner).is_some_and(super::debris::alive),
            Err((_, Errno::EWOULDBLOCK)) => true,
            Err((_, source)) => return Err(StoreError::Lock { path, source }),
        };
        out.push((path, live));
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
