//! `system df`: how much disk each part of the store takes and how much of it a prune would reclaim.
//! Sizes are allocated blocks, as `du` counts them, so the figures add up to what `du` shows.
//!
//! Images: every blob a kept image reaches (each once; a layer two images share is *shared*, the rest is
//! *unique*); reclaimable: what `image prune -a` would free (images no container uses). Build cache: the
//! layers only step records keep, plus cache mounts and the record files; all reclaimable. Snapshots:
//! reclaimable are those of no kept image. Blobs nothing references are garbage the next gc removes.

use super::gc_roots::{self, disk_usage, json_files};
use super::{Store, StoreError};
use crate::digest::Digest;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::time::SystemTime;

/// One image as `system df -v` lists it.
#[derive(Debug, Clone)]
pub struct ImageUsage {
    pub id: Digest,
    pub names: Vec<String>,
    pub size: u64,
    /// Bytes of blobs another image uses too.
    pub shared: u64,
    pub containers: usize,
}

/// One step-cache record.
#[derive(Debug, Clone)]
pub struct CacheUsage {
    pub key: String,
    /// Bytes of its layer when no image uses it (else the image's storage), plus the record.
    pub size: u64,
    pub used: SystemTime,
}

/// A total with how much of it could go.
#[derive(Debug, Clone, Copy, Default)]
pub struct Part {
    pub count: usize,
    pub active: usize,
    pub size: u64,
    pub reclaimable: u64,
}

#[derive(Debug, Default)]
pub struct DiskUsage {
    pub images: Part,
    pub image_list: Vec<ImageUsage>,
    pub layers_shared: u64,
    pub layers_unique: u64,
    pub snapshots: Part,
    pub build_cache: Part,
    pub cache_list: Vec<CacheUsage>,
    pub cache_mounts: Part,
    pub containers: Part,
    /// Blobs no image, container or record reaches.
    pub unreferenced: Part,
}

fn blob_du(store: &Store, d: &Digest) -> u64 {
    fs::symlink_metadata(store.blob_path(d)).map(|m| m.blocks() * 512).unwrap_or(0)
}

/// Measure the store. Read-only, lock-free: a racing command can make the figures slightly stale.
pub fn measure(store: &Store) -> Result<DiskUsage, StoreError> {
    let mut u = DiskUsage::default();
    let containers = gc_roots::container_manifests(store)?;
    // Blobs of each image, and how many images use each blob.
    let mut per_image: Vec<(super::ImageSummary, Vec<Digest>)> = Vec::new();
    let mut users: BTreeMap<Digest, usize> = BTreeMap::new();
    for image in store.list()? {
        let full = store.load_image(&image.manifest_digest, Vec::new())?;
        let mut blobs = vec![image.manifest_digest.clone(), image.id.clone()];
        for l in full.manifest.layers() {
            blobs.push(super::from_oci_digest(l.digest())?);
        }
        blobs.sort();
        blobs.dedup();
        for b in &blobs {
            *users.entry(b.clone()).or_default() += 1;
        }
        per_image.push((image, blobs));
    }
    let mut reclaimable: BTreeSet<Digest> = BTreeSet::new();
    let mut kept_by_containers: BTreeSet<Digest> = BTreeSet::new();
    for (image, blobs) in &per_image {
        let n = containers.iter().filter(|c| **c == image.manifest_digest).count();
        let size = blobs.iter().map(|b| blob_du(store, b)).sum();
        let shared = blobs.iter().filter(|b| users[*b] > 1).map(|b| blob_du(store, b)).sum();
        if n > 0 {
            u.images.active += 1;
            kept_by_containers.extend(blobs.iter().cloned());
        } else {
            reclaimable.extend(blobs.iter().cloned());
        }
        u.image_list.push(ImageUsage { id: image.id.clone(), names: image.names.clone(), size, shared, containers: n });
    }
    u.images.count = per_image.len();
    u.images.size = users.keys().map(|b| blob_du(store, b)).sum();
    u.images.reclaimable = reclaimable.difference(&kept_by_containers).map(|b| blob_du(store, b)).sum();
    u.layers_shared = users.iter().filter(|(_, n)| **n > 1).map(|(b, _)| blob_du(store, b)).sum();
    u.layers_unique = u.images.size - u.layers_shared;

    let mut cache_blobs: BTreeSet<Digest> = BTreeSet::new();
    for r in gc_roots::cache_records(store)? {
        let file = fs::symlink_metadata(&r.path).map(|m| m.blocks() * 512).unwrap_or(0);
        let layer = match &r.blob {
            Some(b) if !users.contains_key(b) && cache_blobs.insert(b.clone()) => blob_du(store, b),
            _ => 0,
        };
        let key = r.path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        u.cache_list.push(CacheUsage { key, size: file + layer, used: r.used });
    }
    u.cache_list.sort_by_key(|c| std::cmp::Reverse(c.used));
    let others: u64 = json_files(&store.image_times_dir())
        .unwrap_or_default()
        .into_iter()
        .chain(gc_roots::context_cache_files(&store.context_digests_dir()).unwrap_or_default())
        .map(|p| fs::symlink_metadata(p).map(|m| m.blocks() * 512).unwrap_or(0))
        .sum();
    u.build_cache.count = u.cache_list.len();
    u.build_cache.size = u.cache_list.iter().map(|c| c.size).sum::<u64>() + others;
    u.build_cache.reclaimable = u.build_cache.size;

    for entry in fs::read_dir(store.cache_mounts_dir()).into_iter().flatten().flatten() {
        u.cache_mounts.count += 1;
        u.cache_mounts.size += disk_usage(&entry.path());
    }
    u.cache_mounts.reclaimable = u.cache_mounts.size;

    let mut kept_images = gc_roots::index_manifests(store)?;
    kept_images.extend(containers.iter().cloned());
    let chains = gc_roots::image_chains(store, &kept_images)?;
    for entry in fs::read_dir(store.snapshots_dir()).into_iter().flatten().flatten() {
        let size = disk_usage(&entry.path());
        u.snapshots.count += 1;
        u.snapshots.size += size;
        let chain = entry.file_name().to_str().and_then(|n| Digest::parse(&format!("sha256:{n}")).ok());
        if chain.is_some_and(|c| chains.contains(&c)) {
            u.snapshots.active += 1;
        } else {
            u.snapshots.reclaimable += size;
        }
    }

    for entry in fs::read_dir(store.containers_dir()).into_iter().flatten().flatten() {
        u.containers.count += 1;
        u.containers.size += disk_usage(&entry.path());
    }

    for entry in fs::read_dir(store.blobs_dir()).into_iter().flatten().flatten() {
        let Some(d) = entry.file_name().to_str().and_then(|n| Digest::parse(&format!("sha256:{n}")).ok()) else {
            continue;
        };
        if !users.contains_key(&d) && !cache_blobs.contains(&d) {
            u.unreferenced.count += 1;
            u.unreferenced.size += blob_du(store, &d);
        }
    }
    u.unreferenced.reclaimable = u.unreferenced.size;
    Ok(u)
}
