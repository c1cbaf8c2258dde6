//! Reading cache artifacts at build start, and fetching their blobs when the build needs them.
//!
//! `Imported::load` reads each `--cache-from` artifact's manifest and config (both digest-verified; a
//! registry's through `registry::pull`, a directory's by hashing what is read) and keeps their records
//! in memory; nothing else is downloaded. A cache that is missing or unreadable becomes a warning, as in
//! buildx. `Imported::fetch` brings one blob into the store when the build needs it: it streams into a
//! store `BlobWriter` and is published only when digest and size match, so a tampered cache gives a
//! digest error, never a wrong layer.

use super::format::{CacheConfig, CONFIG_MEDIA_TYPE};
use super::spec::{CacheFrom, Location};
use super::{CacheError, ImageTime, Record};
use crate::digest::Digest;
use crate::registry::manifest::{BlobRef, Kind, Manifest, MANIFEST_LIMIT};
use crate::registry::{pull, Client, ClientOptions, RegistryError};
use crate::store::Store;
use oci_spec::image::Descriptor;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// The largest cache config read (records of thousands of steps fit easily).
const CONFIG_LIMIT: u64 = 4 * MANIFEST_LIMIT;
/// Blobs fetched at once.
const PARALLEL: usize = pull::PARALLEL;

enum Access {
    Registry { client: Box<Client>, path: String },
    Local { dir: PathBuf },
}

struct Source {
    location: Location,
    access: Access,
}

/// The records of every `--cache-from` that could be read, and where their blobs are.
#[derive(Default)]
pub struct Imported {
    sources: Vec<Source>,
    records: HashMap<Digest, Record>,
    images: HashMap<Digest, String>,
    mounts: HashMap<String, Descriptor>,
    /// Blob → the source that has it and its size.
    blobs: HashMap<Digest, (usize, u64)>,
}

impl Imported {
    /// Read every cache in `from`; those that cannot be read are skipped with a warning each.
    pub fn load(from: &[CacheFrom], opts: &ClientOptions) -> (Imported, Vec<String>) {
        let mut out = Imported::default();
        let mut warnings = Vec::new();
        for f in from {
            match open(&f.location, opts) {
                Ok((access, config)) => out.add(Source { location: f.location.clone(), access }, config),
                Err(e) => warnings.push(format!("cache {} not imported: {e}", f.location)),
            }
        }
        (out, warnings)
    }

    fn add(&mut self, source: Source, config: CacheConfig) {
        let idx = self.sources.len();
        self.sources.push(source);
        for d in config.blobs() {
            if let Ok(digest) = crate::store::from_oci_digest(d.digest()) {
                self.blobs.entry(digest).or_insert((idx, d.size()));
            }
        }
        // The first cache named wins, as buildx consults them in order.
        for r in config.records {
            self.records.entry(r.key.clone()).or_insert(r);
        }
        for ImageTime { key, created } in config.images {
            self.images.entry(key).or_insert(created);
        }
        for m in config.mounts {
            self.mounts.entry(m.id).or_insert(m.descriptor);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    pub fn record(&self, key: &Digest) -> Option<&Record> {
        self.records.get(key)
    }

    pub fn image_time(&self, key: &Digest) -> Option<&str> {
        self.images.get(key).map(String::as_str)
    }

    /// The exported contents of cache mount `id`.
    pub fn mount(&self, id: &str) -> Option<&Descriptor> {
        self.mounts.get(id)
    }

    /// Whether some imported cache has `digest`.
    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blobs.contains_key(digest)
    }

    /// Where the imported cache that has `digest` lives.
    pub fn source_of(&self, digest: &Digest) -> Option<&Location> {
        self.blobs.get(digest).map(|(i, _)| &self.sources[*i].location)
    }

    /// Fetch `digests` (those the store lacks) from the caches that have them, [`PARALLEL`] at a time.
    pub fn fetch_all(&self, store: &Store, digests: &[Digest]) -> Result<(), CacheError> {
        let missing: Vec<&Digest> = digests.iter().filter(|d| !store.has_blob(d)).collect();
        let next = AtomicUsize::new(0);
        let first_error: Mutex<Option<CacheError>> = Mutex::new(None);
        std::thread::scope(|s| {
            for _ in 0..PARALLEL.min(missing.len()) {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= missing.len() || first_error.lock().unwrap_or_else(|e| e.into_inner()).is_some() {
                        return;
                    }
                    if let Err(e) = self.fetch(store, missing[i]) {
                        first_error.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(e);
                    }
                });
            }
        });
        match first_error.into_inner().unwrap_or_else(|e| e.into_inner()) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Bring one blob into the store, verified against its digest and size.
    pub fn fetch(&self, store: &Store, digest: &Digest) -> Result<(), CacheError> {
        let (idx, size) = *self.blobs.get(digest).ok_or_else(|| CacheError::NoSource(digest.to_string()))?;
        let source = &self.sources[idx];
        let cache = source.location.to_string();
        match &source.access {
            Access::Registry { client, path } => {
                let blob = BlobRef { digest: digest.clone(), size, media_type: String::new() };
                let writer = pull::download(client, path, &blob, || store.blob_writer().map_err(RegistryError::from))
                    .map_err(|e| registry_error(&cache, e))?;
                writer.commit_expecting(Some(digest), Some(size)).map_err(|e| store_error(&cache, e))?;
            }
            Access::Local { dir } => {
                let path = blob_path(dir, digest);
                let mut file = std::fs::File::open(&path).map_err(|source| CacheError::Io {
                    cache: cache.clone(),
                    path,
                    source,
                })?;
                let mut writer =
                    store.blob_writer().map_err(|source| CacheError::Store { cache: cache.clone(), source })?;
                std::io::copy(&mut file, &mut writer).map_err(|source| CacheError::Io {
                    cache: cache.clone(),
                    path: blob_path(dir, digest),
                    source,
                })?;
                writer.commit_expecting(Some(digest), Some(size)).map_err(|e| store_error(&cache, e))?;
            }
        }
        Ok(())
    }
}

fn registry_error(cache: &str, e: RegistryError) -> CacheError {
    match e {
        RegistryError::DigestMismatch { digest, actual, .. } => {
            CacheError::DigestMismatch { cache: cache.to_string(), digest, actual }
        }
        e => CacheError::Registry { cache: cache.to_string(), source: Box::new(e) },
    }
}

fn store_error(cache: &str, e: crate::store::StoreError) -> CacheError {
    match e {
        crate::store::StoreError::DigestMismatch { expected, actual } => CacheError::DigestMismatch {
            cache: cache.to_string(),
            digest: expected.to_string(),
            actual: actual.to_string(),
        },
        source => CacheError::Store { cache: cache.to_string(), source },
    }
}

/// `DIR/blobs/sha256/HEX`: the digest was parsed, so the path stays inside the layout.
pub fn blob_path(dir: &Path, digest: &Digest) -> PathBuf {
    dir.join("blobs").join(digest.algorithm()).join(digest.hex())
}

/// Read a cache's manifest and config, both verified against their digests.
fn open(location: &Location, opts: &ClientOptions) -> Result<(Access, CacheConfig), CacheError> {
    let cache = location.to_string();
    let format = |what: &str, detail: String| CacheError::Format { cache: cache.clone(), what: what.into(), detail };
    match location {
        Location::Registry(r) => {
            let client = Client::connect(r.domain(), opts).map_err(|e| registry_error(&cache, e))?;
            let path = r.path().to_string();
            let reference = match r.digest() {
                Some(d) => d.to_string(),
                None => r.tag().to_string(),
            };
            let manifest =
                pull::get_manifest(&client, &path, &reference, &cache).map_err(|e| registry_error(&cache, e))?;
            let config = config_ref(&manifest, &cache)?;
            if config.size > CONFIG_LIMIT {
                return Err(format("the config", format!("{} bytes is over the limit", config.size)));
            }
            let bytes =
                pull::download(&client, &path, &config, || Ok(Vec::new())).map_err(|e| registry_error(&cache, e))?;
            Ok((Access::Registry { client: Box::new(client), path }, parse_config(&bytes, &cache)?))
        }
        Location::Local(dir) => {
            let index_path = dir.join("index.json");
            let io = |path: &Path, source| CacheError::Io { cache: cache.clone(), path: path.to_path_buf(), source };
            let index: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&index_path).map_err(|e| io(&index_path, e))?)
                    .map_err(|e| format("index.json", e.to_string()))?;
            let entries = index["manifests"].as_array().cloned().unwrap_or_default();
            let entry = entries
                .iter()
                .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == "latest")
                .or_else(|| entries.first())
                .ok_or_else(|| format("index.json", "it lists no manifest".into()))?;
            let digest = entry["digest"]
                .as_str()
                .and_then(|d| Digest::parse(d).ok())
                .ok_or_else(|| format("index.json", "a manifest entry has no valid digest".into()))?;
            let bytes = read_verified(dir, &digest, &cache)?;
            let manifest = Manifest::parse(&cache, bytes, None).map_err(|e| format("the manifest", e.to_string()))?;
            let config = config_ref(&manifest, &cache)?;
            let bytes = read_verified(dir, &config.digest, &cache)?;
            Ok((Access::Local { dir: dir.clone() }, parse_config(&bytes, &cache)?))
        }
    }
}

fn read_verified(dir: &Path, digest: &Digest, cache: &str) -> Result<Vec<u8>, CacheError> {
    let path = blob_path(dir, digest);
    let bytes = std::fs::read(&path).map_err(|source| CacheError::Io { cache: cache.to_string(), path, source })?;
    let actual = Digest::of(&bytes);
    if actual != *digest {
        return Err(CacheError::DigestMismatch {
            cache: cache.to_string(),
            digest: digest.to_string(),
            actual: actual.to_string(),
        });
    }
    Ok(bytes)
}

fn config_ref(manifest: &Manifest, cache: &str) -> Result<BlobRef, CacheError> {
    let format = |detail: String| CacheError::Format { cache: cache.to_string(), what: "the manifest".into(), detail };
    if manifest.kind != Kind::Image {
        return Err(format("it is an index, not an rbuild cache manifest".into()));
    }
    let (config, _) = manifest.blobs(cache).map_err(|e| format(e.to_string()))?;
    if config.media_type != CONFIG_MEDIA_TYPE {
        return Err(format(format!("its config is {:?}, not {CONFIG_MEDIA_TYPE}", config.media_type)));
    }
    Ok(config)
}

fn parse_config(bytes: &[u8], cache: &str) -> Result<CacheConfig, CacheError> {
    let format = |detail: String| CacheError::Format { cache: cache.to_string(), what: "the config".into(), detail };
    let config: CacheConfig = serde_json::from_slice(bytes).map_err(|e| format(e.to_string()))?;
    if config.version != super::format::VERSION {
        return Err(format(format!("version {} (this rbuild reads {})", config.version, super::format::VERSION)));
    }
    Ok(config)
}
