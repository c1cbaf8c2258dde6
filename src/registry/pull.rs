//! `pull`: a reference in a registry becomes an ordinary image in the store.
//!
//! Flow: GET the manifest (tag or digest; a digest pin is checked against the bytes); an index or
//! manifest list is resolved to the entry for the wanted platform; the config and the layers the store
//! lacks are streamed into store `BlobWriter`s (up to [`PARALLEL`] at once), each hashed and counted on the
//! way. Only when every one of them matched its descriptor's digest and size are they committed, then the
//! manifest (its registry bytes, so its digest stays the registry's), then the name in `index.json`. Any
//! failure before that drops the writers, whose temp files vanish: the store is as it was.

use super::client::{scope, Client, Payload};
use super::manifest::{BlobRef, Kind, Manifest, MANIFEST_LIMIT};
use super::progress::{Counting, Outcome, TransferProgress};
use super::{ClientOptions, Platform, RegistryError};
use crate::digest::{Digest, HashingWriter};
use crate::reference::ImageRef;
use crate::store::{BlobWriter, Store};
use oci_spec::image::{DescriptorBuilder, MediaType};
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use ureq::http::Method;

/// Layers downloaded at once from one registry.
pub const PARALLEL: usize = 4;
/// Times a blob download that broke off is started again.
const BLOB_ATTEMPTS: u32 = 3;

/// What `pull` needs besides the reference.
#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// The platform asked for; `None` means the host's, and a single-platform image is taken as it is.
    pub platform: Option<Platform>,
    pub client: ClientOptions,
}

/// A pulled image.
#[derive(Debug, Clone)]
pub struct Pulled {
    pub manifest_digest: Digest,
    /// The image ID.
    pub config_digest: Digest,
    /// The digest the reference resolved to in the registry (the index's, for a multi-platform image).
    pub repo_digest: Digest,
}

/// Where transfers report progress.
pub type Report<'a> = &'a TransferProgress;

/// Pull `reference` into `store` and name it there (a digest-only reference leaves it unnamed).
pub fn pull(store: &Store, reference: &ImageRef, opts: &PullOptions, report: Report) -> Result<Pulled, RegistryError> {
    let client = Client::for_image(reference, &opts.client)?;
    let shown = reference.to_string();
    let path = reference.path();
    let wanted = opts.platform.clone().unwrap_or_else(Platform::host);
    let top_ref = match reference.digest() {
        Some(d) => d.to_string(),
        None => reference.tag().to_string(),
    };
    let top = get_manifest(&client, path, &top_ref, &shown)?;
    if let Some(pin) = reference.digest() {
        if *pin != top.digest {
            return Err(mismatch(&client, pin, &top.digest));
        }
    }
    let manifest = match top.kind {
        Kind::Image => top.clone(),
        Kind::Index => {
            let entry = top.select(&shown, &wanted)?;
            let m = get_manifest(&client, path, &entry.digest.to_string(), &shown)?;
            if m.digest != entry.digest {
                return Err(mismatch(&client, &entry.digest, &m.digest));
            }
            if m.kind != Kind::Image {
                return Err(RegistryError::Malformed {
                    what: format!("manifest of {shown}"),
                    detail: "an index entry is itself an index".into(),
                });
            }
            m
        }
    };
    let (config, layers) = manifest.blobs(&shown)?;
    // Keeps the blobs committed below from a concurrent gc until the name is in index.json.
    let _lease = store.lease()?;
    if config.size > MANIFEST_LIMIT {
        return Err(RegistryError::TooLarge {
            registry: client.registry().to_string(),
            what: format!("the config of {shown}"),
            limit: MANIFEST_LIMIT,
        });
    }
    let config_bytes = download(&client, path, &config, || Ok(Vec::new()))?;
    if opts.platform.is_some() && top.kind == Kind::Image {
        check_platform(&shown, &wanted, &config_bytes)?;
    }
    let writers = fetch_layers(store, &client, path, &layers, report)?;
    // Everything is verified: publish blobs, then the manifest, then the name.
    for (blob, writer) in layers.iter().zip(writers) {
        if let Some(w) = writer {
            w.commit_expecting(Some(&blob.digest), Some(blob.size))?;
        }
    }
    store.write_blob(&config_bytes)?;
    store.write_blob(&manifest.bytes)?;
    let descriptor = DescriptorBuilder::default()
        .media_type(MediaType::from(manifest.media_type.as_str()))
        .digest(crate::store::to_oci_digest(&manifest.digest)?)
        .size(manifest.bytes.len() as u64)
        .build()
        .map_err(|source| crate::store::StoreError::Spec { what: "manifest descriptor", source })?;
    let names: Vec<ImageRef> = match (reference.digest(), reference.explicit_tag()) {
        (Some(_), None) => Vec::new(),
        _ => vec![reference.clone()],
    };
    store.add_manifest(&descriptor, &names)?;
    report.message(&format!("Digest: {}", top.digest));
    Ok(Pulled { manifest_digest: manifest.digest, config_digest: config.digest, repo_digest: top.digest })
}

fn mismatch(client: &Client, expected: &Digest, actual: &Digest) -> RegistryError {
    RegistryError::DigestMismatch {
        registry: client.registry().to_string(),
        digest: expected.to_string(),
        actual: actual.to_string(),
    }
}

/// A single-platform image pulled with an explicit `--platform` must be that platform (docker refuses too).
fn check_platform(shown: &str, wanted: &Platform, config: &[u8]) -> Result<(), RegistryError> {
    let doc: serde_json::Value = serde_json::from_slice(config)
        .map_err(|source| RegistryError::Json { what: format!("config of {shown}"), source })?;
    match Platform::from_json(&doc) {
        Some(p) if !wanted.matches(&p) => Err(RegistryError::NoPlatform {
            reference: shown.to_string(),
            wanted: wanted.to_string(),
            available: vec![p.to_string()],
        }),
        _ => Ok(()),
    }
}

/// GET a manifest by tag or digest, refusing oversized ones before reading them.
pub fn get_manifest(client: &Client, path: &str, reference: &str, shown: &str) -> Result<Manifest, RegistryError> {
    let url = client.url(&format!("{path}/manifests/{reference}"));
    let resp =
        client.send(Method::GET, &url, &scope(path, false), &[("accept", super::media::ACCEPT)], &Payload::Empty)?;
    match resp.status().as_u16() {
        200..=299 => {}
        404 => {
            return Err(RegistryError::NotFound {
                registry: client.registry().to_string(),
                reference: shown.to_string(),
            })
        }
        _ => return Err(client.status_error(&url, resp)),
    }
    let too_large = || RegistryError::TooLarge {
        registry: client.registry().to_string(),
        what: format!("the manifest of {shown}"),
        limit: MANIFEST_LIMIT,
    };
    let declared = resp.headers().get("content-length").and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MANIFEST_LIMIT) {
        return Err(too_large());
    }
    let content_type = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).map(String::from);
    let mut bytes = Vec::new();
    resp.into_body()
        .into_with_config()
        .limit(u64::MAX)
        .reader()
        .take(MANIFEST_LIMIT + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| RegistryError::Transfer {
            registry: client.registry().to_string(),
            url: url.clone(),
            source,
        })?;
    if bytes.len() as u64 > MANIFEST_LIMIT {
        return Err(too_large());
    }
    Manifest::parse(shown, bytes, content_type.as_deref())
}

/// One layer's download: a verified, unpublished writer, or `None` when the store already has it.
type LayerResult = Result<Option<BlobWriter>, RegistryError>;

/// Download the layers the store lacks, [`PARALLEL`] at a time; `None` for those it has. On any failure
/// the other downloads stop and every writer is dropped.
fn fetch_layers(
    store: &Store,
    client: &Client,
    path: &str,
    layers: &[BlobRef],
    report: Report,
) -> Result<Vec<Option<BlobWriter>>, RegistryError> {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let results: Vec<Mutex<Option<LayerResult>>> = layers.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..PARALLEL.min(layers.len()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= layers.len() || failed.load(Ordering::SeqCst) {
                    return;
                }
                let blob = &layers[i];
                let result = if store.has_blob(&blob.digest) {
                    report.done(&blob.digest, Outcome::Exists);
                    Ok(None)
                } else {
                    report.start(&blob.digest, blob.size, false);
                    let make = || {
                        let inner = store.blob_writer()?;
                        Ok(Counting { inner, count: 0, digest: &blob.digest, progress: report })
                    };
                    let r = download(client, path, blob, make).map(|w| Some(w.inner));
                    if r.is_ok() {
                        report.done(&blob.digest, Outcome::Downloaded);
                    }
                    r
                };
                if result.is_err() {
                    failed.store(true, Ordering::SeqCst);
                }
                *results[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
            });
        }
    });
    let mut out = Vec::with_capacity(layers.len());
    for r in results {
        match r.into_inner().unwrap_or_else(|e| e.into_inner()) {
            Some(Ok(w)) => out.push(w),
            Some(Err(e)) => return Err(e),
            // Skipped because another layer failed; that failure is reported.
            None => continue,
        }
    }
    if out.len() != layers.len() {
        return Err(RegistryError::Malformed { what: "pull".into(), detail: "a layer download did not finish".into() });
    }
    Ok(out)
}

/// Stream one blob into a fresh sink from `make`, hashing and counting it; started again from scratch
/// when the transfer breaks off. The sink comes back unpublished, its content verified against `blob`.
pub fn download<W: Write + Send>(
    client: &Client,
    path: &str,
    blob: &BlobRef,
    make: impl Fn() -> Result<W, RegistryError>,
) -> Result<W, RegistryError> {
    let url = client.url(&format!("{path}/blobs/{}", blob.digest));
    let registry = client.registry().to_string();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let resp = client.send(Method::GET, &url, &scope(path, false), &[], &Payload::Empty)?;
        match resp.status().as_u16() {
            200..=299 => {}
            404 => return Err(RegistryError::NotFound { registry, reference: format!("blob {}", blob.digest) }),
            _ => return Err(client.status_error(&url, resp)),
        }
        let body = resp.into_body().into_with_config().limit(u64::MAX).reader();
        let (digest, size, out) = match stream(body, make()?, blob.size) {
            Ok(done) => done,
            Err(_) if attempt < BLOB_ATTEMPTS => continue,
            Err(source) => return Err(RegistryError::Transfer { registry, url, source }),
        };
        if size != blob.size {
            let (digest, expected) = (blob.digest.to_string(), blob.size);
            return Err(RegistryError::SizeMismatch { registry, digest, expected, actual: size });
        }
        if digest != blob.digest {
            return Err(RegistryError::DigestMismatch {
                registry,
                digest: blob.digest.to_string(),
                actual: digest.to_string(),
            });
        }
        return Ok(out);
    }
}

/// Copy `body` into `out`, hashing and counting it. The hash for verification runs on this thread while
/// another thread writes (where the store hashes again), so a single large layer uses two cores, not one.
/// Reads stop one byte past `size`: enough to tell an oversized blob; the rest is never read.
fn stream<W: Write + Send>(body: impl Read, out: W, size: u64) -> io::Result<(Digest, u64, W)> {
    const CHUNK: usize = 256 << 10;
    let mut body = body.take(size + 1);
    let mut verify = HashingWriter::new(io::sink());
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(16);
    std::thread::scope(|s| {
        let writer = s.spawn(move || -> io::Result<W> {
            let mut out = out;
            for chunk in rx {
                out.write_all(&chunk)?;
            }
            out.flush()?;
            Ok(out)
        });
        let read = (|| -> io::Result<()> {
            loop {
                let mut chunk = vec![0u8; CHUNK];
                let n = body.read(&mut chunk)?;
                if n == 0 {
                    return Ok(());
                }
                chunk.truncate(n);
                verify.write_all(&chunk)?;
                if tx.send(chunk).is_err() {
                    // The writer failed; its error is the one reported.
                    return Ok(());
                }
            }
        })();
        drop(tx);
        let out = writer.join().map_err(|_| io::Error::other("the blob writer thread panicked"))??;
        read?;
        let (digest, count, _) = verify.finish();
        Ok((digest, count, out))
    })
}
