//! Pruning the build cache (`builder prune`, `system prune`, the automatic `gc.keep-storage` policy):
//! step-cache records, the image times of fully cached builds, context digests and cache mounts.
//!
//! Records are only files naming blobs; removing one turns a future hit into a miss, never breaks a
//! build (a build checks and leases a record's blob under the store lock before using it). The blobs a
//! removed record kept are swept by the gc that follows, unless an image still uses them. Cache mounts
//! are directories a running `RUN --mount=type=cache` writes into, so they are left alone while any lease
//! is live. Least recently used first: a record's mtime is refreshed on each hit (see `engine::cache`).

use super::gc::GcReport;
use super::gc_roots::{self, disk_usage, json_files};
use super::lock::Locked;
use super::{lease, StoreError};
use crate::digest::Digest;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::PathBuf;
use std::time::SystemTime;

/// What to prune.
#[derive(Debug, Clone, Default)]
pub struct CachePolicy {
    /// Everything (not just records whose layer no image uses).
    pub all: bool,
    /// Stop once the build cache takes at most this many bytes, least recently used first.
    pub keep_storage: Option<u64>,
    /// Only what was last used before this time.
    pub until: Option<SystemTime>,
}

/// What a cache prune removed (the gc it ends with included).
#[derive(Debug, Default)]
pub struct CacheReport {
    pub records: usize,
    pub mounts: usize,
    pub gc: GcReport,
    /// Bytes of the cache mounts and record files removed (blobs and snapshots are in `gc.bytes`).
    pub bytes: u64,
    /// Cache mounts were left alone because a build or container was running.
    pub mounts_in_use: bool,
}

impl CacheReport {
    pub fn reclaimed(&self) -> u64 {
        self.bytes + self.gc.bytes
    }
}

/// One thing in the build cache, as the pruner weighs it.
struct Entry {
    path: PathBuf,
    used: SystemTime,
    /// The blob a step record keeps; its size counts once however many records name it.
    blob: Option<Digest>,
    /// Bytes of the entry itself (a mount's directory; record files are too small to count).
    size: u64,
    is_mount: bool,
    /// Dropped even without `all`: a record whose layer no image uses, or that is broken.
    unused: bool,
}

/// Bytes the build cache takes: each blob step records name and no image uses (once), plus cache mounts.
/// A layer an image uses is the image's storage: dropping its record would free nothing.
pub fn usage(store: &Locked<'_>) -> Result<u64, StoreError> {
    let (entries, sizes) = entries(store, true)?;
    Ok(total(&entries, &sizes))
}

fn total(entries: &[Entry], sizes: &BTreeMap<Digest, u64>) -> u64 {
    let blobs: BTreeSet<&Digest> = entries.iter().filter_map(|e| e.blob.as_ref()).collect();
    blobs.iter().map(|b| sizes.get(*b).copied().unwrap_or(0)).sum::<u64>() + entries.iter().map(|e| e.size).sum::<u64>()
}

fn entries(store: &Locked<'_>, with_mounts: bool) -> Result<(Vec<Entry>, BTreeMap<Digest, u64>), StoreError> {
    let used_by_images = super::gc::mark(store)?;
    let mut sizes = BTreeMap::new();
    let mut out = Vec::new();
    for r in gc_roots::cache_records(store)? {
        let present = r.blob.as_ref().and_then(|b| fs::metadata(store.blob_path(b)).ok()).map(|m| m.len());
        let unused = present.is_none() || r.blob.as_ref().is_some_and(|b| !used_by_images.contains(b));
        if let (Some(b), Some(n), true) = (&r.blob, present, unused) {
            sizes.insert(b.clone(), n);
        }
        out.push(Entry { path: r.path, used: r.used, blob: r.blob, size: 0, is_mount: false, unused });
    }
    for path in json_files(&store.image_times_dir())? {
        let used = fs::metadata(&path).and_then(|m| m.modified()).unwrap_or(SystemTime::UNIX_EPOCH);
        out.push(Entry { path, used, blob: None, size: 0, is_mount: false, unused: false });
    }
    if with_mounts {
        let dir = store.cache_mounts_dir();
        for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            let used = entry.metadata().and_then(|m| m.modified()).unwrap_or(SystemTime::UNIX_EPOCH);
            out.push(Entry { size: disk_usage(&path), path, used, blob: None, is_mount: true, unused: false });
        }
    }
    Ok((out, sizes))
}

/// The automatic policy at the end of a build: when the build cache takes more than the store's
/// `gc.keep-storage` setting, prune it down to that, least recently used first. `None`: nothing to do.
pub fn auto(store: &super::Store) -> Result<Option<CacheReport>, super::settings::SettingsError> {
    let Some(keep) = store.gc_keep_storage()? else { return Ok(None) };
    let locked = store.lock()?;
    if usage(&locked)? <= keep {
        return Ok(None);
    }
    let policy = CachePolicy { keep_storage: Some(keep), ..CachePolicy::default() };
    Ok(Some(locked.prune_cache(&policy)?))
}

impl Locked<'_> {
    /// Prune the build cache per `policy`, then collect garbage; under this lock throughout.
    pub fn prune_cache(&self, policy: &CachePolicy) -> Result<CacheReport, StoreError> {
        let in_use = lease::protected(self)?.live > 0;
        let (mut entries, sizes) = entries(self, !in_use)?;
        let mut report = CacheReport { mounts_in_use: in_use, ..CacheReport::default() };
        entries.sort_by_key(|e| e.used);
        let mut usage = total(&entries, &sizes);
        let mut holders: BTreeMap<Digest, usize> = BTreeMap::new();
        for b in entries.iter().filter_map(|e| e.blob.clone()) {
            *holders.entry(b).or_default() += 1;
        }
        for e in &entries {
            let old_enough = policy.until.is_none_or(|u| e.used < u);
            let wanted = match policy.keep_storage {
                // Only what frees space: a record of a layer an image uses frees nothing (and is still a
                // hit), an image-time record next to nothing (and keeps a cached rebuild the same image).
                Some(keep) => usage > keep && (e.unused || e.is_mount),
                None => policy.all || e.unused,
            };
            if !old_enough || !wanted {
                continue;
            }
            let removed = if e.is_mount { fs::remove_dir_all(&e.path) } else { fs::remove_file(&e.path) };
            match removed {
                Ok(()) => {}
                Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                Err(source) => return Err(StoreError::Io { what: "cannot remove", path: e.path.clone(), source }),
            }
            usage -= e.size;
            report.bytes += e.size;
            if e.is_mount {
                report.mounts += 1;
            } else if e.blob.is_some() || e.unused {
                report.records += 1;
            }
            if let Some(b) = &e.blob {
                let left = holders.get_mut(b).map(|n| {
                    *n -= 1;
                    *n
                });
                if left == Some(0) {
                    usage -= sizes.get(b).copied().unwrap_or(0);
                }
            }
        }
        if policy.all && policy.keep_storage.is_none() {
            // Only a hashing shortcut: the next build reads the context files again.
            for path in gc_roots::context_cache_files(&self.context_digests_dir())? {
                let _ = fs::remove_file(path);
            }
        }
        report.gc = self.collect()?;
        Ok(report)
    }
}
