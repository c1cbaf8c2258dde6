//! The cache artifact: an OCI image manifest whose config blob (media type [`CONFIG_MEDIA_TYPE`]) lists
//! the cache records and whose layers are the blobs those records name, plus one gzip tar per exported
//! cache mount. Learnt from BuildKit's cache manifests, flattened: a record carries its own key (keys
//! already chain their parents, see `engine::cache`), so nothing needs a graph walk to be looked up.
//! See `docs/cache.md`.

use crate::digest::Digest;
use oci_spec::image::{Descriptor, DescriptorBuilder, ImageManifestBuilder, MediaType};
use std::collections::BTreeSet;

pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.rbuild.cache.config.v1+json";
/// Annotation on a cache-mount tar in the manifest's layers (the config is what import reads).
pub const MOUNT_ANNOTATION: &str = "dev.rbuild.cache.mount.id";
pub const VERSION: u32 = 1;

/// One layer step's result.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Record {
    pub key: Digest,
    /// The key of what the step ran on (the previous layer step, or the stage's base).
    pub parent: Digest,
    /// The layer blob, as the image manifest lists it.
    pub descriptor: Descriptor,
    pub diff_id: Digest,
    /// The history `created` of the run that made the layer: a cache hit keeps it, so a rebuild from
    /// the cache gives the same image digest.
    pub created: String,
}

/// The `created` time of an image whose config and layers hash to `key` (`Executor::settle_times`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ImageTime {
    pub key: Digest,
    pub created: String,
}

/// The contents of `RUN --mount=type=cache,id=ID`, as a gzip tar.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MountRecord {
    pub id: String,
    pub descriptor: Descriptor,
}

/// The config blob of a cache artifact.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CacheConfig {
    pub version: u32,
    #[serde(default)]
    pub records: Vec<Record>,
    #[serde(default)]
    pub images: Vec<ImageTime>,
    #[serde(default)]
    pub mounts: Vec<MountRecord>,
}

impl CacheConfig {
    /// The artifact's manifest for this config (whose bytes are `config_bytes`): the config descriptor
    /// and every blob the records and mounts name, each once.
    pub fn manifest(&self, config_bytes: &[u8]) -> Result<Vec<u8>, String> {
        let config = descriptor(CONFIG_MEDIA_TYPE.into(), &Digest::of(config_bytes), config_bytes.len() as u64)?;
        let mut seen = BTreeSet::new();
        let mut layers: Vec<Descriptor> = Vec::new();
        for d in self.records.iter().map(|r| &r.descriptor) {
            if seen.insert(d.digest().to_string()) {
                layers.push(d.clone());
            }
        }
        for m in &self.mounts {
            if seen.insert(m.descriptor.digest().to_string()) {
                let mut d = m.descriptor.clone();
                d.set_annotations(Some([(MOUNT_ANNOTATION.to_string(), m.id.clone())].into()));
                layers.push(d);
            }
        }
        let manifest = ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageManifest)
            .config(config)
            .layers(layers)
            .build()
            .map_err(|e| e.to_string())?;
        serde_json::to_vec(&manifest).map_err(|e| e.to_string())
    }

    /// Every blob the config names (records' layers, then mount tars).
    pub fn blobs(&self) -> impl Iterator<Item = &Descriptor> {
        self.records.iter().map(|r| &r.descriptor).chain(self.mounts.iter().map(|m| &m.descriptor))
    }
}

pub fn descriptor(media_type: MediaType, digest: &Digest, size: u64) -> Result<Descriptor, String> {
    DescriptorBuilder::default()
        .media_type(media_type)
        .digest(crate::store::to_oci_digest(digest).map_err(|e| e.to_string())?)
        .size(size)
        .build()
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_lists_each_blob_once_and_tags_mount_tars() {
        let layer = descriptor(MediaType::ImageLayerGzip, &Digest::of(b"layer"), 5).unwrap();
        let record = |key: &[u8]| Record {
            key: Digest::of(key),
            parent: Digest::of(b"p"),
            descriptor: layer.clone(),
            diff_id: Digest::of(b"diff"),
            created: "2026-01-01T00:00:00Z".into(),
        };
        let config = CacheConfig {
            version: VERSION,
            records: vec![record(b"a"), record(b"b")],
            images: vec![],
            mounts: vec![MountRecord {
                id: "apt".into(),
                descriptor: descriptor(MediaType::ImageLayerGzip, &Digest::of(b"tar"), 3).unwrap(),
            }],
        };
        let bytes = serde_json::to_vec(&config).unwrap();
        assert_eq!(serde_json::from_slice::<CacheConfig>(&bytes).unwrap(), config);
        let m: serde_json::Value = serde_json::from_slice(&config.manifest(&bytes).unwrap()).unwrap();
        assert_eq!(m["config"]["mediaType"], CONFIG_MEDIA_TYPE);
        assert_eq!(m["config"]["digest"], Digest::of(&bytes).to_string());
        let layers = m["layers"].as_array().unwrap();
        assert_eq!(layers.len(), 2, "{m}");
        assert_eq!(layers[1]["annotations"][MOUNT_ANNOTATION], "apt");
    }
}
