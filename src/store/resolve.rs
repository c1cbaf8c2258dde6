//! Reading images back: turning what a user typed (`name:tag`, `name@digest`, a full or short image ID,
//! a manifest digest) into an [`Image`], and listing every image in the index.
//!
//! Names are tried first, then IDs, as docker does: `abcd` is a repository name before it is an ID prefix.

use super::index::{self, ref_name};
use super::ConfigExtensions;
use super::{from_oci_digest, Store, StoreError};
use crate::digest::Digest;
use crate::reference::ImageRef;
use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest, MediaType};

/// Shortest image-ID prefix accepted.
const MIN_ID_PREFIX: usize = 4;

/// One image: its manifest, its config, and the names that point to it (empty for a dangling image).
#[derive(Debug, Clone)]
pub struct Image {
    pub manifest_digest: Digest,
    pub manifest: ImageManifest,
    pub config: ImageConfiguration,
    /// The image ID.
    pub config_digest: Digest,
    /// Familiar `name:tag` strings, in index order.
    pub names: Vec<String>,
    /// Docker-only config fields (Healthcheck, OnBuild, Shell).
    pub extensions: ConfigExtensions,
}

impl Image {
    /// Size of the image as stored: compressed layers plus the config blob.
    pub fn size(&self) -> u64 {
        self.manifest.config().size() + self.manifest.layers().iter().map(|l| l.size()).sum::<u64>()
    }

    /// The config's labels (none: empty).
    pub fn labels(&self) -> std::collections::HashMap<String, String> {
        self.config.config().as_ref().and_then(|c| c.labels().clone()).unwrap_or_default()
    }
}

/// A line of `rbuild images`.
#[derive(Debug, Clone)]
pub struct ImageSummary {
    /// The image ID (config digest).
    pub id: Digest,
    pub manifest_digest: Digest,
    pub names: Vec<String>,
    /// RFC 3339 creation time from the config, if it has one.
    pub created: Option<String>,
    /// Compressed layers plus config, in bytes.
    pub size: u64,
    /// The config's labels (for `images --filter label=…`).
    pub labels: std::collections::HashMap<String, String>,
}

/// Which entry of an image index a name stands for: given an entry's `platform` object, whether it is
/// the one wanted. `None` where one is taken: the host's entry, else the index's first image.
pub type PlatformPick<'a> = Option<&'a dyn Fn(&serde_json::Value) -> bool>;

/// Manifests of the index in first-seen order, each with its names. A name given to an image index (a
/// multi-platform build) stands for the index's image of the platform `pick` chooses.
fn manifests_with_names(store: &Store, pick: PlatformPick) -> Result<Vec<(Digest, Vec<String>)>, StoreError> {
    let index = index::load(store)?;
    let mut out: Vec<(Digest, Vec<String>)> = Vec::new();
    for desc in index.manifests() {
        let digest = if is_image_manifest(desc) {
            from_oci_digest(desc.digest())?
        } else if is_index(desc) && ref_name(desc).is_some() {
            match index_entry(store, &from_oci_digest(desc.digest())?, pick)? {
                Some(d) => d,
                None => continue,
            }
        } else {
            continue;
        };
        let pos = match out.iter().position(|(d, _)| *d == digest) {
            Some(pos) => pos,
            None => {
                out.push((digest, Vec::new()));
                out.len() - 1
            }
        };
        if let Some(name) = ref_name(desc) {
            out[pos].1.push(name.to_string());
        }
    }
    Ok(out)
}

fn is_index(desc: &Descriptor) -> bool {
    matches!(desc.media_type(), MediaType::ImageIndex)
}

/// The image of the index `digest` that `pick` chooses (see [`PlatformPick`]).
fn index_entry(store: &Store, digest: &Digest, pick: PlatformPick) -> Result<Option<Digest>, StoreError> {
    let path = store.blob_path(digest);
    let index: ImageIndex =
        serde_json::from_slice(&store.read_blob(digest)?).map_err(|source| StoreError::Json { path, source })?;
    let images: Vec<&Descriptor> = index.manifests().iter().filter(|d| is_image_manifest(d)).collect();
    let platform = |d: &Descriptor| serde_json::to_value(d.platform()).unwrap_or_default();
    let host = |p: &serde_json::Value| {
        p.get("os").and_then(|v| v.as_str()) == Some(std::env::consts::OS)
            && p.get("architecture").and_then(|v| v.as_str()) == Some(crate::emulation::host_arch())
    };
    let chosen = match pick {
        Some(wanted) => images.iter().find(|d| wanted(&platform(d))),
        None => images.iter().find(|d| host(&platform(d))).or(images.first()),
    };
    chosen.map(|d| from_oci_digest(d.digest())).transpose()
}

/// Nested indexes (multi-platform images copied in by other tools) are not images of their own here.
pub(super) fn is_image_manifest(desc: &Descriptor) -> bool {
    matches!(desc.media_type(), MediaType::ImageManifest)
        || desc.media_type().to_string() == "application/vnd.docker.distribution.manifest.v2+json"
}

impl Store {
    /// Load the image whose manifest is `manifest_digest`, with the names given.
    pub fn load_image(&self, manifest_digest: &Digest, names: Vec<String>) -> Result<Image, StoreError> {
        let manifest_path = self.blob_path(manifest_digest);
        let manifest: ImageManifest = serde_json::from_slice(&self.read_blob(manifest_digest)?)
            .map_err(|source| StoreError::Json { path: manifest_path, source })?;
        let config_digest = from_oci_digest(manifest.config().digest())?;
        let config_path = self.blob_path(&config_digest);
        let raw = self.read_blob(&config_digest)?;
        let doc: serde_json::Value =
            serde_json::from_slice(&raw).map_err(|source| StoreError::Json { path: config_path.clone(), source })?;
        let config: ImageConfiguration =
            serde_json::from_value(doc.clone()).map_err(|source| StoreError::Json { path: config_path, source })?;
        Ok(Image {
            manifest_digest: manifest_digest.clone(),
            manifest,
            config,
            config_digest,
            names,
            extensions: ConfigExtensions::from_config_json(&doc),
        })
    }

    /// Find an image by `name[:tag]`, `name@digest`, manifest digest, full image ID, or an image-ID prefix
    /// of at least 4 hex digits (with or without `sha256:`).
    pub fn resolve(&self, reference: &str) -> Result<Image, StoreError> {
        self.resolve_for(reference, None)
    }

    /// [`Store::resolve`], with a name of a multi-platform image standing for the platform `pick` wants.
    pub fn resolve_for(&self, reference: &str, pick: PlatformPick) -> Result<Image, StoreError> {
        let all = manifests_with_names(self, pick)?;
        let parsed = ImageRef::parse(reference);
        if let Ok(r) = &parsed {
            let hit = match r.digest() {
                Some(d) => all.iter().find(|(m, _)| m == d),
                None => {
                    let name = r.tagged_name();
                    all.iter().find(|(_, names)| names.contains(&name))
                }
            };
            if let Some((m, names)) = hit {
                return self.load_image(m, names.clone());
            }
        }
        let hex = reference.strip_prefix("sha256:").unwrap_or(reference);
        let is_hex = hex.len() >= MIN_ID_PREFIX && hex.len() <= 64 && hex.bytes().all(|b| b.is_ascii_hexdigit());
        if !is_hex {
            return match parsed {
                Err(e) if !reference.starts_with("sha256:") => Err(e.into()),
                _ => Err(self.not_found(reference)),
            };
        }
        let hex = hex.to_ascii_lowercase();
        let mut found: Vec<Image> = Vec::new();
        for (m, names) in &all {
            let image = self.load_image(m, names.clone())?;
            let by_manifest = hex.len() == 64 && m.hex() == hex;
            if by_manifest || image.config_digest.hex().starts_with(&hex) {
                found.push(image);
            }
        }
        match found.len() {
            0 => Err(self.not_found(reference)),
            1 => Ok(found.remove(0)),
            _ => Err(StoreError::Ambiguous {
                prefix: reference.to_string(),
                candidates: found.iter().map(|i| i.manifest_digest.to_string()).collect(),
            }),
        }
    }

    /// The image index a `name:tag` names (a multi-platform image), if it names one.
    pub fn index_named(&self, reference: &str) -> Result<Option<Digest>, StoreError> {
        let Ok(name) = ImageRef::parse(reference).map(|r| r.tagged_name()) else { return Ok(None) };
        let index = index::load(self)?;
        let found = index.manifests().iter().find(|d| is_index(d) && ref_name(d) == Some(name.as_str()));
        found.map(|d| from_oci_digest(d.digest())).transpose()
    }

    /// Every image in the index, one entry per manifest.
    pub fn list(&self) -> Result<Vec<ImageSummary>, StoreError> {
        manifests_with_names(self, None)?
            .into_iter()
            .map(|(m, names)| {
                let image = self.load_image(&m, names)?;
                Ok(ImageSummary {
                    id: image.config_digest.clone(),
                    size: image.size(),
                    created: image.config.created().clone(),
                    labels: image.labels(),
                    manifest_digest: image.manifest_digest,
                    names: image.names,
                })
            })
            .collect()
    }

    fn not_found(&self, reference: &str) -> StoreError {
        StoreError::NotFound { reference: reference.to_string(), root: self.root().to_path_buf() }
    }
}
