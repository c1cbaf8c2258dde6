//! What gc keeps besides the images in `index.json`: the blobs of kept step-cache records, the images of
//! kept containers, and the snapshots of every image it keeps. Also how big a directory is on disk, which
//! `system df` and the prune reports share.
//!
//! Snapshots are swept only when no lease is live: a running build or container mounts snapshots as
//! overlay lowerdirs without naming them anywhere gc could read, so the only safe rule is to leave them
//! alone until nothing runs. Blobs, by contrast, are protected one by one through the leases.

use super::{from_oci_digest, Store, StoreError};
use crate::digest::Digest;
use std::collections::{BTreeSet, HashSet};
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// One step-cache record: its file, the layer blob it names, and when it was last used.
#[derive(Debug, Clone)]
pub struct CacheRecord {
    pub path: PathBuf,
    /// `None` for a record that does not parse: it reaches nothing and is always swept.
    pub blob: Option<Digest>,
    pub used: SystemTime,
}

/// The step-cache records under `cache/steps/`.
pub fn cache_records(store: &Store) -> Result<Vec<CacheRecord>, StoreError> {
    let mut out = Vec::new();
    for path in json_files(&store.step_cache_dir())? {
        let used = fs::metadata(&path).and_then(|m| m.modified()).unwrap_or(SystemTime::UNIX_EPOCH);
        // The record format belongs to the build's step cache; gc only needs the blob it names.
        let blob = fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v.pointer("/descriptor/digest").and_then(|d| d.as_str()).and_then(|d| Digest::parse(d).ok()));
        out.push(CacheRecord { path, blob, used });
    }
    Ok(out)
}

/// The `*.json` files directly under `dir` (none when it does not exist).
pub(crate) fn json_files(dir: &Path) -> Result<Vec<PathBuf>, StoreError> {
    files_named(dir, &["json"])
}

/// The files of `cache/context/`: the digest tables (`*.bin`; `*.json` of earlier versions) and the COPY
/// records (`copy-*.json`).
pub(crate) fn context_cache_files(dir: &Path) -> Result<Vec<PathBuf>, StoreError> {
    files_named(dir, &["json", "bin"])
}

/// The files directly under `dir` whose extension is one of `extensions` (none when `dir` does not exist).
fn files_named(dir: &Path, extensions: &[&str]) -> Result<Vec<PathBuf>, StoreError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(StoreError::Io { what: "cannot list", path: dir.to_path_buf(), source }),
    };
    let mut out = Vec::new();
    for entry in entries {
        let path = entry.map_err(StoreError::io("cannot list", dir))?.path();
        if path.extension().is_some_and(|e| extensions.iter().any(|x| e == *x)) {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// Manifests of kept containers (the `manifest` of `containers/<id>/config.json`, or of the
/// `container.json` an older rbuild wrote).
pub fn container_manifests(store: &Store) -> Result<Vec<Digest>, StoreError> {
    let dir = store.containers_dir();
    let Ok(entries) = fs::read_dir(&dir) else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    for entry in entries {
        let path = entry.map_err(StoreError::io("cannot list", &dir))?.path();
        let Some((record, bytes)) = ["config.json", "container.json"]
            .iter()
            .map(|f| path.join(f))
            .find_map(|p| Some((p.clone(), fs::read(&p).ok()?)))
        else {
            continue;
        };
        let value: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|source| StoreError::Json { path: record.clone(), source })?;
        if let Some(d) = value.get("manifest").and_then(|m| m.as_str()).and_then(|m| Digest::parse(m).ok()) {
            out.push(d);
        }
    }
    Ok(out)
}

/// The snapshot chain IDs of every prefix of each manifest's layers (the snapshots its overlay uses).
pub fn image_chains(store: &Store, manifests: &[Digest]) -> Result<BTreeSet<Digest>, StoreError> {
    let mut chains = BTreeSet::new();
    for m in manifests {
        let Ok(image) = store.load_image(m, Vec::new()) else { continue };
        let diff_ids: Vec<Digest> =
            image.config.rootfs().diff_ids().iter().filter_map(|d| Digest::parse(d).ok()).collect();
        chains.extend(crate::snapshot::chain_ids(&diff_ids));
    }
    Ok(chains)
}

/// Remove every published snapshot not in `keep`; returns how many and their size on disk.
/// Temp dirs of unpacks in progress (`.unpack-…`) are debris's to judge, not this.
pub fn sweep_snapshots(store: &Store, keep: &BTreeSet<Digest>) -> Result<(usize, u64), StoreError> {
    let dir = store.snapshots_dir();
    let Ok(entries) = fs::read_dir(&dir) else { return Ok((0, 0)) };
    let (mut count, mut bytes) = (0, 0);
    for entry in entries {
        let entry = entry.map_err(StoreError::io("cannot list", &dir))?;
        let Some(chain) = entry.file_name().to_str().and_then(|n| Digest::parse(&format!("sha256:{n}")).ok()) else {
            continue;
        };
        if keep.contains(&chain) {
            continue;
        }
        let path = entry.path();
        let size = disk_usage(&path);
        match fs::remove_dir_all(&path) {
            Ok(()) => {
                count += 1;
                bytes += size;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(StoreError::Io { what: "cannot remove snapshot", path, source }),
        }
    }
    Ok((count, bytes))
}

/// Bytes `path` takes on disk, as `du` counts them: allocated blocks, each hard-linked inode once.
pub fn disk_usage(path: &Path) -> u64 {
    let mut seen = HashSet::new();
    let mut total = 0;
    let mut pending = vec![path.to_path_buf()];
    while let Some(p) = pending.pop() {
        let Ok(meta) = fs::symlink_metadata(&p) else { continue };
        if meta.nlink() > 1 && !meta.is_dir() && !seen.insert((meta.dev(), meta.ino())) {
            continue;
        }
        total += meta.blocks() * 512;
        if meta.is_dir() {
            if let Ok(entries) = fs::read_dir(&p) {
                pending.extend(entries.flatten().map(|e| e.path()));
            }
        }
    }
    total
}

/// The manifest digest of each image descriptor in `index.json`.
pub fn index_manifests(store: &Store) -> Result<Vec<Digest>, StoreError> {
    super::index::load(store)?
        .manifests()
        .iter()
        .filter(|d| super::resolve::is_image_manifest(d))
        .map(|d| from_oci_digest(d.digest()))
        .collect()
}
