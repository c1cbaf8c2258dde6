//! `push`: an image in the store goes to a registry — blobs first, then the manifest, byte for byte, so
//! the pushed digest is the store's manifest digest. A multi-platform image (an index) goes up entry by
//! entry (each manifest by its digest), then the index under the tag.
//!
//! Each blob is first asked for with HEAD and skipped when the registry has it. A blob the store knows
//! from another repository of the same registry (an image named `REGISTRY/OTHER:tag` that uses it) is
//! mounted from there (`POST …/uploads/?mount=…&from=…`), which costs no transfer. Otherwise it is
//! uploaded as one streamed PATCH and a closing PUT with its digest; when the PATCH breaks off, the
//! upload's status (`GET` on its location, `Range: 0-N`) says how much arrived and the rest is sent from
//! there; a registry that cannot say (distribution invalidates such an upload) gets a fresh upload, so an
//! interrupted push resumes or restarts cleanly. Layers go up to [`PARALLEL`] at once.

use super::client::{scope, Client, Payload};
use super::manifest::{BlobRef, Format, Kind, Manifest};
use super::progress::{CountingReader, Outcome};
use super::pull::{Report, PARALLEL};
use super::{ClientOptions, RegistryError};
use crate::digest::Digest;
use crate::reference::ImageRef;
use crate::store::Store;
use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use ureq::http::Method;

/// Times an interrupted blob upload is resumed before the push fails.
const UPLOAD_ATTEMPTS: u32 = 4;

/// A pushed image.
#[derive(Debug, Clone)]
pub struct Pushed {
    pub digest: Digest,
    pub size: u64,
}

/// Push the image whose manifest is `manifest` to `dest` (a tagged reference), as stored.
pub fn push(
    store: &Store,
    manifest: &Digest,
    dest: &ImageRef,
    opts: &ClientOptions,
    report: Report,
) -> Result<Pushed, RegistryError> {
    push_as(store, manifest, dest, opts, report, None)
}

/// [`push`], with the manifest converted to `format` first when one is given (the blobs are the same;
/// the manifest, and so the pushed digest, is new unless the image already was in that format).
pub fn push_as(
    store: &Store,
    manifest: &Digest,
    dest: &ImageRef,
    opts: &ClientOptions,
    report: Report,
    format: Option<Format>,
) -> Result<Pushed, RegistryError> {
    let shown = dest.to_string();
    let bytes = store.read_blob(manifest)?;
    let m = Manifest::parse(&shown, bytes, None)?;
    let client = Client::for_image(dest, opts)?;
    let mounts = mount_sources(store, dest);
    let to = Target { store, client: &client, path: dest.path(), mounts: &mounts, report };
    if m.kind == Kind::Index {
        // A multi-platform image: each platform's image by digest, then the index under the tag. The
        // entries are pushed as stored (converting them would change the digests the index names).
        for (entry, _) in m.entries(&shown)? {
            let child = Manifest::parse(&shown, store.read_blob(&entry.digest)?, None)?;
            to.image(&shown, &child, &entry.digest.to_string())?;
        }
        return to.manifest(&m, dest.tag());
    }
    let m = match format {
        Some(f) => m.convert(&shown, f)?,
        None => m,
    };
    to.image(&shown, &m, dest.tag())
}

/// Where a push goes: the client for the destination's registry and its repository path.
struct Target<'a> {
    store: &'a Store,
    client: &'a Client,
    path: &'a str,
    mounts: &'a HashMap<Digest, String>,
    report: Report<'a>,
}

impl Target<'_> {
    /// An image manifest's layers (in parallel), its config, then the manifest under `reference` (a tag,
    /// or its digest for an index's entry).
    fn image(&self, shown: &str, m: &Manifest, reference: &str) -> Result<Pushed, RegistryError> {
        let (config, layers) = m.blobs(shown)?;
        let next = AtomicUsize::new(0);
        let first_error: Mutex<Option<RegistryError>> = Mutex::new(None);
        std::thread::scope(|s| {
            for _ in 0..PARALLEL.min(layers.len()).max(1) {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= layers.len() || first_error.lock().unwrap_or_else(|e| e.into_inner()).is_some() {
                        return;
                    }
                    if let Err(e) = push_blob(self.store, self.client, self.path, &layers[i], self.mounts, self.report)
                    {
                        first_error.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(e);
                    }
                });
            }
        });
        if let Some(e) = first_error.into_inner().unwrap_or_else(|e| e.into_inner()) {
            return Err(e);
        }
        push_blob(self.store, self.client, self.path, &config, self.mounts, self.report)?;
        self.manifest(m, reference)
    }

    /// PUT a manifest or index, byte for byte, under `reference`; the registry must agree on its digest.
    fn manifest(&self, m: &Manifest, reference: &str) -> Result<Pushed, RegistryError> {
        let (client, path) = (self.client, self.path);
        let url = client.url(&format!("{path}/manifests/{reference}"));
        let resp = client.send(
            Method::PUT,
            &url,
            &scope(path, true),
            &[("content-type", m.media_type.as_str())],
            &Payload::Bytes(&m.bytes),
        )?;
        if !resp.status().is_success() {
            return Err(client.status_error(&url, resp));
        }
        if let Some(answered) = resp.headers().get("docker-content-digest").and_then(|v| v.to_str().ok()) {
            if answered != m.digest.to_string() {
                return Err(RegistryError::DigestMismatch {
                    registry: client.registry().to_string(),
                    digest: m.digest.to_string(),
                    actual: answered.to_string(),
                });
            }
        }
        self.report.message(&format!("{reference}: digest: {} size: {}", m.digest, m.bytes.len()));
        Ok(Pushed { digest: m.digest.clone(), size: m.bytes.len() as u64 })
    }
}

/// Blobs of images the store names in other repositories of the destination's registry: candidates for
/// a cross-repository mount. Unreadable images are simply not candidates.
fn mount_sources(store: &Store, dest: &ImageRef) -> HashMap<Digest, String> {
    let mut out = HashMap::new();
    let Ok(images) = store.list() else { return out };
    for summary in images {
        for name in &summary.names {
            let Ok(r) = ImageRef::parse(name) else { continue };
            if r.domain() != dest.domain() || r.path() == dest.path() {
                continue;
            }
            let Ok(bytes) = store.read_blob(&summary.manifest_digest) else { continue };
            let Ok(m) = Manifest::parse(name, bytes, None) else { continue };
            let Ok((config, layers)) = m.blobs(name) else { continue };
            for b in std::iter::once(config).chain(layers) {
                // A plain-tar layer went up as the compressed variant an earlier push made of it.
                let variants = match b.media_type.as_str() {
                    super::media::OCI_LAYER => store.variant_blobs(&b.digest),
                    _ => Vec::new(),
                };
                for d in std::iter::once(b.digest).chain(variants) {
                    out.entry(d).or_insert_with(|| r.path().to_string());
                }
            }
        }
    }
    out
}

fn push_blob(
    store: &Store,
    client: &Client,
    path: &str,
    blob: &BlobRef,
    mounts: &HashMap<Digest, String>,
    report: Report,
) -> Result<(), RegistryError> {
    let push_scope = scope(path, true);
    let url = client.url(&format!("{path}/blobs/{}", blob.digest));
    let resp = client.send(Method::HEAD, &url, &push_scope, &[], &Payload::Empty)?;
    match resp.status().as_u16() {
        200..=299 => {
            report.done(&blob.digest, Outcome::Exists);
            return Ok(());
        }
        404 => {}
        _ => return Err(client.status_error(&url, resp)),
    }
    let file = store.blob_path(&blob.digest);
    // An upload in progress: its location and how much of the blob the registry holds.
    let mut session: Option<(String, u64)> = None;
    let mut attempt = 0;
    let location = loop {
        attempt += 1;
        let (location, offset) = match session.take() {
            Some(s) => s,
            None => match start_upload(client, path, blob, mounts)? {
                Some(location) => {
                    if attempt == 1 {
                        report.start(&blob.digest, blob.size, true);
                    }
                    (location, 0)
                }
                None => {
                    let from = mounts.get(&blob.digest).map_or("", String::as_str);
                    report.done(&blob.digest, Outcome::Mounted(from));
                    return Ok(());
                }
            },
        };
        match send_rest(client, &location, &push_scope, &file, blob, offset, report) {
            Ok(location) => break location,
            Err(e) if attempt >= UPLOAD_ATTEMPTS => return Err(e),
            // Broken off: resume where the registry says it is, or start a new upload when it cannot say
            // (distribution invalidates an upload whose PATCH broke off).
            Err(_) => session = upload_status(client, &location, &push_scope).ok().filter(|(_, n)| *n <= blob.size),
        }
    };
    let sep = if location.contains('?') { '&' } else { '?' };
    let done = format!("{location}{sep}digest={}", blob.digest);
    let resp = client.send(Method::PUT, &done, &push_scope, &[("content-length", "0")], &Payload::Empty)?;
    if !resp.status().is_success() {
        return Err(client.status_error(&done, resp));
    }
    report.done(&blob.digest, Outcome::Pushed);
    Ok(())
}

/// Open an upload (or mount the blob from another repository): the upload's location, `None` if mounted.
fn start_upload(
    client: &Client,
    path: &str,
    blob: &BlobRef,
    mounts: &HashMap<Digest, String>,
) -> Result<Option<String>, RegistryError> {
    let push_scope = scope(path, true);
    let uploads = client.url(&format!("{path}/blobs/uploads/"));
    let (url, start_scope) = match mounts.get(&blob.digest) {
        Some(from) => {
            (format!("{uploads}?mount={}&from={from}", blob.digest), format!("{push_scope} {}", scope(from, false)))
        }
        None => (uploads, push_scope),
    };
    let resp = client.send(Method::POST, &url, &start_scope, &[("content-length", "0")], &Payload::Empty)?;
    match resp.status().as_u16() {
        201 => Ok(None),
        202 => location(client, &url, &resp).map(Some),
        _ => Err(client.status_error(&url, resp)),
    }
}

/// PATCH the blob's bytes from `offset` to the end; the upload's next location.
fn send_rest<'a>(
    client: &Client,
    location: &str,
    scope: &str,
    file: &Path,
    blob: &'a BlobRef,
    offset: u64,
    report: Report<'a>,
) -> Result<String, RegistryError> {
    let size = blob.size;
    if offset >= size {
        return Ok(location.to_string());
    }
    let len = size - offset;
    let opener = || -> std::io::Result<Box<dyn Read + 'a>> {
        let mut f = std::fs::File::open(file)?;
        f.seek(SeekFrom::Start(offset))?;
        let inner = f.take(len);
        Ok(Box::new(CountingReader { inner, count: offset, digest: &blob.digest, progress: report }))
    };
    let range = format!("{offset}-{}", size - 1);
    let resp = client.send(
        Method::PATCH,
        location,
        scope,
        &[("content-type", "application/octet-stream"), ("content-range", &range)],
        &Payload::Stream { len, open: &opener },
    )?;
    if resp.status().as_u16() != 202 {
        return Err(client.status_error(location, resp));
    }
    self::location(client, location, &resp)
}

/// The `Location` of an upload answer, made absolute.
fn location(client: &Client, url: &str, resp: &ureq::http::Response<ureq::Body>) -> Result<String, RegistryError> {
    resp.headers().get("location").and_then(|v| v.to_str().ok()).map(|l| client.absolute(l)).ok_or_else(|| {
        RegistryError::Malformed { what: url.to_string(), detail: "the upload answer has no Location".into() }
    })
}

/// How many bytes of an upload the registry holds (`Range: 0-N` → N+1), and the upload's location.
fn upload_status(client: &Client, location: &str, scope: &str) -> Result<(String, u64), RegistryError> {
    let resp = client.send(Method::GET, location, scope, &[], &Payload::Empty)?;
    if resp.status().as_u16() != 204 && !resp.status().is_success() {
        return Err(client.status_error(location, resp));
    }
    let received = resp
        .headers()
        .get("range")
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.rsplit_once('-'))
        .and_then(|(_, end)| end.trim().parse::<u64>().ok())
        // distribution answers `0-0` for an empty upload as well as for one byte; resuming from 0 is safe.
        .map_or(0, |end| if end == 0 { 0 } else { end + 1 });
    let loc = self::location(client, location, &resp).unwrap_or_else(|_| location.to_string());
    Ok((loc, received))
}
