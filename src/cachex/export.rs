//! Writing a cache artifact: the config and manifest go into the store as blobs, then the artifact is
//! pushed with `registry::push` (blobs the registry has are skipped by HEAD, as for images) or copied
//! into an OCI image layout directory (blobs first, then `index.json` replaced by rename, so a reader
//! never sees an index naming a blob that is not there yet).

use super::format::{CacheConfig, MountRecord};
use super::import::blob_path;
use super::spec::{CacheTo, Location};
use super::CacheError;
use crate::digest::Digest;
use crate::layer::{self, Compression, LayerOptions};
use crate::registry::progress::TransferProgress;
use crate::registry::{push, ClientOptions};
use crate::store::Store;
use oci_spec::image::{ImageIndexBuilder, MediaType};
use std::io::Write;
use std::path::Path;

/// The tag an exported layout's `index.json` gives the artifact (what BuildKit's local cache uses).
pub const LOCAL_TAG: &str = "latest";

/// Tar up cache mount `id` (its store dir is `dir`) as a gzip blob in the store.
pub fn mount_record(store: &Store, to: &CacheTo, id: &str, dir: &Path) -> Result<MountRecord, CacheError> {
    let opts = LayerOptions { compression: Compression::Gzip, source_date_epoch: None };
    let written = layer::write(store, dir, &opts).map_err(|source| CacheError::Mount {
        cache: to.location.to_string(),
        id: id.to_string(),
        source,
    })?;
    Ok(MountRecord { id: id.to_string(), descriptor: written.descriptor })
}

/// Write `config`'s artifact to `to`. Every blob it names must be in the store, or (registry) already at
/// the destination. Returns the artifact's manifest digest.
pub fn export(
    store: &Store,
    to: &CacheTo,
    config: &CacheConfig,
    opts: &ClientOptions,
    report: &TransferProgress,
) -> Result<Digest, CacheError> {
    let cache = to.location.to_string();
    let format = |detail: String| CacheError::Format { cache: cache.clone(), what: "the export".into(), detail };
    let store_err = |source| CacheError::Store { cache: cache.clone(), source };
    let config_bytes = serde_json::to_vec(config).map_err(|e| format(e.to_string()))?;
    let manifest_bytes = config.manifest(&config_bytes).map_err(format)?;
    let (config_digest, _) = store.write_blob(&config_bytes).map_err(store_err)?;
    let (manifest_digest, _) = store.write_blob(&manifest_bytes).map_err(store_err)?;
    match &to.location {
        Location::Registry(r) => {
            push::push(store, &manifest_digest, r, opts, report)
                .map_err(|e| CacheError::Registry { cache: cache.clone(), source: Box::new(e) })?;
        }
        Location::Local(dir) => {
            let mut blobs: Vec<Digest> = Vec::new();
            for d in config.blobs() {
                blobs.push(crate::store::from_oci_digest(d.digest()).map_err(store_err)?);
            }
            blobs.push(config_digest);
            blobs.push(manifest_digest.clone());
            write_layout(store, dir, &blobs, &manifest_digest, manifest_bytes.len() as u64)
                .map_err(|(path, source)| CacheError::Io { cache: cache.clone(), path, source })?;
        }
    }
    Ok(manifest_digest)
}

type IoFailure = (std::path::PathBuf, std::io::Error);

/// Copy `blobs` (those the layout lacks) from the store into the layout at `dir`, then name the manifest
/// in a fresh `index.json`.
fn write_layout(store: &Store, dir: &Path, blobs: &[Digest], manifest: &Digest, size: u64) -> Result<(), IoFailure> {
    let blobs_dir = dir.join("blobs").join("sha256");
    std::fs::create_dir_all(&blobs_dir).map_err(|e| (blobs_dir.clone(), e))?;
    for d in blobs {
        let dest = blob_path(dir, d);
        if dest.is_file() {
            continue;
        }
        let src = store.blob_path(d);
        let mut tmp = tempfile::NamedTempFile::new_in(&blobs_dir).map_err(|e| (blobs_dir.clone(), e))?;
        let mut from = std::fs::File::open(&src).map_err(|e| (src.clone(), e))?;
        std::io::copy(&mut from, &mut tmp).map_err(|e| (src.clone(), e))?;
        tmp.as_file().sync_all().map_err(|e| (dest.clone(), e))?;
        tmp.persist(&dest).map_err(|e| (dest.clone(), e.error))?;
    }
    let layout = dir.join("oci-layout");
    if !layout.is_file() {
        std::fs::write(&layout, br#"{"imageLayoutVersion":"1.0.0"}"#).map_err(|e| (layout.clone(), e))?;
    }
    let index_path = dir.join("index.json");
    let mut entry = super::format::descriptor(MediaType::ImageManifest, manifest, size)
        .map_err(|e| (index_path.clone(), std::io::Error::other(e)))?;
    entry.set_annotations(Some([("org.opencontainers.image.ref.name".to_string(), LOCAL_TAG.to_string())].into()));
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(vec![entry])
        .build()
        .map_err(|e| (index_path.clone(), std::io::Error::other(e.to_string())))?;
    let bytes = serde_json::to_vec(&index).map_err(|e| (index_path.clone(), std::io::Error::other(e)))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| (dir.to_path_buf(), e))?;
    tmp.write_all(&bytes).map_err(|e| (index_path.clone(), e))?;
    tmp.as_file().sync_all().map_err(|e| (index_path.clone(), e))?;
    tmp.persist(&index_path).map_err(|e| (index_path.clone(), e.error))?;
    Ok(())
}
