//! Garbage collection, mark and sweep: [`mark`] walks everything reachable from `index.json` (manifests,
//! their configs and layers, nested indexes), [`sweep`] deletes every other blob. [`collect`] runs both
//! under the store lock so no index update can slip in between, and also keeps what live leases protect
//! (blobs a running build wrote or relies on before its manifest reaches the index; see `Store::lease`),
//! the images of kept containers and the layers of kept step-cache records (see `gc_roots`). Snapshots
//! follow the images: those of no kept image go too, but only while no lease is live (a running build or
//! container mounts them without saying which).

use super::lock::Locked;
use super::{from_oci_digest, gc_roots, index, lease, Store, StoreError};
use crate::digest::Digest;
use oci_spec::image::{Descriptor, MediaType};
use std::collections::BTreeSet;
use std::fs;
use std::io;

/// What one gc run removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GcReport {
    pub removed: Vec<Digest>,
    /// Bytes of the removed blobs and snapshots.
    pub bytes: u64,
    pub snapshots: usize,
    /// Snapshots were left alone because a build or container was running.
    pub snapshots_in_use: bool,
}

/// Every blob reachable from `index.json`. Blobs a reachable manifest names but that are missing are
/// ignored (nothing to keep); malformed manifests are errors, so gc never sweeps what it cannot read.
pub fn mark(store: &Store) -> Result<BTreeSet<Digest>, StoreError> {
    mark_from(store, index::load(store)?.manifests().clone())
}

fn mark_from(store: &Store, mut pending: Vec<Descriptor>) -> Result<BTreeSet<Digest>, StoreError> {
    let mut marked = BTreeSet::new();
    while let Some(desc) = pending.pop() {
        let digest = from_oci_digest(desc.digest())?;
        if !marked.insert(digest.clone()) || !store.has_blob(&digest) {
            continue;
        }
        match desc.media_type() {
            MediaType::ImageManifest => {
                let m: oci_spec::image::ImageManifest = read_json(store, &digest)?;
                pending.push(m.config().clone());
                pending.extend(m.layers().iter().cloned());
                pending.extend(m.subject().iter().cloned());
            }
            MediaType::ImageIndex => {
                let i: oci_spec::image::ImageIndex = read_json(store, &digest)?;
                pending.extend(i.manifests().iter().cloned());
            }
            // A plain-tar layer keeps the compressed variants push and save made of it (its digest is its
            // diff_id): the next push reuses them.
            MediaType::ImageLayer => marked.extend(store.variant_blobs(&digest)),
            _ => {}
        }
    }
    Ok(marked)
}

fn read_json<T: serde::de::DeserializeOwned>(store: &Store, d: &Digest) -> Result<T, StoreError> {
    serde_json::from_slice(&store.read_blob(d)?).map_err(|source| StoreError::Json { path: store.blob_path(d), source })
}

/// Delete every blob under `blobs/sha256/` not in `marked` and, when `since` is given (a lease is live),
/// not modified at or after `since` (seconds since the epoch). Files whose names are not digests are left
/// alone: they are not ours to judge.
///
/// The mtime is read here, entry by entry, just before the removal, and not in a scan of its own: blobs
/// are published by rename without the store lock, so a blob a build publishes after such a scan but
/// before this one would look unprotected and be swept before its build could name it.
pub(crate) fn sweep(store: &Store, marked: &BTreeSet<Digest>, since: Option<i64>) -> Result<GcReport, StoreError> {
    use std::os::unix::fs::MetadataExt;
    let dir = store.blobs_dir();
    let mut report = GcReport::default();
    let entries = fs::read_dir(&dir).map_err(StoreError::io("cannot list", &dir))?;
    for entry in entries {
        let entry = entry.map_err(StoreError::io("cannot list", &dir))?;
        let Some(digest) = entry.file_name().to_str().and_then(|n| Digest::parse(&format!("sha256:{n}")).ok()) else {
            continue;
        };
        if marked.contains(&digest) {
            continue;
        }
        let path = entry.path();
        // Fresh metadata (an fstatat by name), not the listing's: a blob renamed in since has a new mtime.
        let meta = match entry.metadata() {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(source) => return Err(StoreError::Io { what: "cannot stat blob", path, source }),
        };
        if since.is_some_and(|since| meta.mtime() >= since) {
            continue;
        }
        match fs::remove_file(&path) {
            Ok(()) => {
                report.bytes += meta.len();
                report.removed.push(digest);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(StoreError::Io { what: "cannot remove blob", path, source }),
        }
    }
    report.removed.sort();
    Ok(report)
}

/// Mark and sweep under the store lock, keeping what live leases protect.
pub fn collect(store: &Store) -> Result<GcReport, StoreError> {
    store.lock()?.collect()
}

impl Locked<'_> {
    /// Mark and sweep, keeping what live leases protect; the lock this holds keeps index updates out.
    pub fn collect(&self) -> Result<GcReport, StoreError> {
        collect_locked(self)
    }
}

fn collect_locked(store: &Locked<'_>) -> Result<GcReport, StoreError> {
    let containers = gc_roots::container_manifests(store)?;
    let mut roots = index::load(store)?.manifests().clone();
    for m in &containers {
        let desc = oci_spec::image::DescriptorBuilder::default()
            .media_type(MediaType::ImageManifest)
            .digest(super::to_oci_digest(m)?)
            .size(0u64)
            .build()
            .map_err(|source| StoreError::Spec { what: "descriptor", source })?;
        roots.push(desc);
    }
    let mut marked = mark_from(store, roots)?;
    marked.extend(gc_roots::cache_records(store)?.into_iter().filter_map(|r| r.blob));
    let protected = lease::protected(store)?;
    marked.extend(protected.digests);
    let mut report = sweep(store, &marked, protected.since)?;
    store.sweep_variants(&marked)?;
    if protected.live > 0 {
        report.snapshots_in_use = true;
    } else {
        let mut images = gc_roots::index_manifests(store)?;
        images.extend(containers);
        let (count, bytes) = gc_roots::sweep_snapshots(store, &gc_roots::image_chains(store, &images)?)?;
        report.snapshots = count;
        report.bytes += bytes;
    }
    Ok(report)
}
