//! `load`: a docker-archive or OCI archive (either compressed or not) into the store; see the module doc of
//! `archive` for the order that keeps a bad archive from changing anything.

use super::{ArchiveError, OCI_INDEX, OCI_MANIFEST};
use crate::digest::{Digest, HashingWriter};
use crate::reference::ImageRef;
use crate::store::{json, to_oci_digest, Store, REF_NAME_ANNOTATION};
use oci_spec::image::{Descriptor, DescriptorBuilder, ImageManifestBuilder, MediaType};
use serde_json::Value;
use std::fs::{self, File};
use std::io::{self, BufReader, Read};
use std::path::{Component, Path, PathBuf};

/// An image the archive held, as loaded.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub id: Digest,
    pub manifest: Digest,
    pub names: Vec<String>,
}

/// One image, verified, waiting to be ingested.
struct Pending {
    /// Blob files of the archive and the digest each was verified to have.
    blobs: Vec<(PathBuf, Digest)>,
    /// The manifest, when the archive had none (docker-archive) and it was written here.
    made_manifest: Option<Vec<u8>>,
    manifest: Descriptor,
    config: Digest,
    names: Vec<ImageRef>,
}

fn invalid(msg: impl Into<String>) -> ArchiveError {
    ArchiveError::Invalid(msg.into())
}

/// Load every image of the archive read from `input`.
pub fn load(store: &Store, input: impl Read) -> Result<Vec<Loaded>, ArchiveError> {
    let tmp = store.temp_dir("load")?;
    let tar = crate::layer::decompress(BufReader::new(input)).map_err(ArchiveError::Read)?;
    unpack(tar, tmp.path())?;
    let root = fs::canonicalize(tmp.path()).map_err(|e| ArchiveError::Io {
        what: "cannot resolve",
        path: tmp.path().into(),
        source: e,
    })?;
    let pending = if root.join("index.json").is_file() {
        from_oci(&root)?
    } else if root.join("manifest.json").is_file() {
        from_docker(&root)?
    } else {
        return Err(invalid("neither index.json (OCI) nor manifest.json (docker) at its top"));
    };
    // Verified: now, and only now, the store changes. The lease keeps what is written from gc.
    let _lease = store.lease()?;
    for p in &pending {
        for (path, digest) in &p.blobs {
            if !store.has_blob(digest) {
                let mut w = store.blob_writer()?;
                let mut f = File::open(path).map_err(|e| ArchiveError::Io {
                    what: "cannot open",
                    path: path.clone(),
                    source: e,
                })?;
                io::copy(&mut f, &mut w).map_err(|e| ArchiveError::Io {
                    what: "cannot ingest",
                    path: path.clone(),
                    source: e,
                })?;
                w.commit(Some(digest))?;
            }
        }
        if let Some(bytes) = &p.made_manifest {
            store.write_blob(bytes)?;
        }
    }
    let locked = store.lock()?;
    let mut out = Vec::new();
    for p in pending {
        locked.add_manifest(&p.manifest, &p.names)?;
        let manifest = crate::store::from_oci_digest(p.manifest.digest())?;
        out.push(Loaded { id: p.config, manifest, names: p.names.iter().map(|n| n.tagged_name()).collect() });
    }
    Ok(out)
}

/// Unpack plain files and dirs at clean relative paths; symlinks only when they stay inside `dest`.
fn unpack(tar: impl Read, dest: &Path) -> Result<(), ArchiveError> {
    let mut archive = tar::Archive::new(tar);
    for entry in archive.entries().map_err(ArchiveError::Read)? {
        let mut entry = entry.map_err(ArchiveError::Read)?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let bad = |why| ArchiveError::Entry { entry: name.clone(), why };
        let rel = clean(Path::new(&name)).ok_or_else(|| bad("not a plain relative path (absolute or with ..)"))?;
        if rel.as_os_str().is_empty() {
            continue;
        }
        let path = dest.join(&rel);
        let kind = entry.header().entry_type();
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| ArchiveError::Io {
                what: "cannot create",
                path: parent.into(),
                source: e,
            })?;
        }
        match kind {
            tar::EntryType::Directory => fs::create_dir_all(&path).map_err(|e| ArchiveError::Io {
                what: "cannot create",
                path: path.clone(),
                source: e,
            })?,
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let mut f = File::create(&path).map_err(|e| ArchiveError::Io {
                    what: "cannot create",
                    path: path.clone(),
                    source: e,
                })?;
                // A header whose size lies about the data that follows ends here as a read error.
                io::copy(&mut entry, &mut f).map_err(|e| match e.kind() {
                    io::ErrorKind::StorageFull => {
                        ArchiveError::Io { what: "cannot write", path: path.clone(), source: e }
                    }
                    _ => ArchiveError::Read(e),
                })?;
            }
            tar::EntryType::Symlink => {
                let target =
                    entry.link_name().map_err(ArchiveError::Read)?.ok_or_else(|| bad("symlink without a target"))?;
                let inside = rel.parent().map(|p| p.join(&target)).and_then(|p| clean(&p));
                if target.is_absolute() || inside.is_none() {
                    return Err(bad("symlink pointing outside the archive"));
                }
                std::os::unix::fs::symlink(&target, &path).map_err(|e| ArchiveError::Io {
                    what: "cannot create",
                    path: path.clone(),
                    source: e,
                })?;
            }
            _ => return Err(bad("neither a file, a directory nor a symlink")),
        }
    }
    Ok(())
}

/// `path` without `.`, refusing absolute paths and any `..` that climbs above the start.
fn clean(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            _ => return None,
        }
    }
    Some(out)
}

/// A file the archive's metadata names, which must resolve inside the archive.
fn file_in(root: &Path, name: &str) -> Result<PathBuf, ArchiveError> {
    let missing = || ArchiveError::Blob { path: name.to_string(), why: "not in the archive".into() };
    let rel = clean(Path::new(name))
        .ok_or_else(|| ArchiveError::Entry { entry: name.into(), why: "names a path outside the archive" })?;
    let path = fs::canonicalize(root.join(rel)).map_err(|_| missing())?;
    if !path.starts_with(root) || !path.is_file() {
        return Err(missing());
    }
    Ok(path)
}

/// Hash a file; compare with what the archive says when it says it.
fn verify(path: &Path, shown: &str, digest: Option<&Digest>, size: Option<u64>) -> Result<Digest, ArchiveError> {
    let mut h = HashingWriter::new(io::sink());
    let mut f = File::open(path).map_err(|e| ArchiveError::Io { what: "cannot open", path: path.into(), source: e })?;
    io::copy(&mut f, &mut h).map_err(|e| ArchiveError::Io { what: "cannot read", path: path.into(), source: e })?;
    let (actual, n, _) = h.finish();
    if let Some(d) = digest.filter(|d| **d != actual) {
        return Err(ArchiveError::Blob { path: shown.into(), why: format!("content hashes to {actual}, not {d}") });
    }
    if let Some(s) = size.filter(|s| *s != n) {
        return Err(ArchiveError::Blob { path: shown.into(), why: format!("{n} bytes, but the manifest says {s}") });
    }
    Ok(actual)
}

fn read_json(path: &Path) -> Result<Value, ArchiveError> {
    let bytes = fs::read(path).map_err(|e| ArchiveError::Io { what: "cannot read", path: path.into(), source: e })?;
    serde_json::from_slice(&bytes).map_err(|e| invalid(format!("{}: {e}", path.display())))
}

/// A descriptor's digest and size, the blob file it names, verified.
fn blob(root: &Path, d: &Value) -> Result<(PathBuf, Digest), ArchiveError> {
    let digest = d.get("digest").and_then(Value::as_str).and_then(|s| Digest::parse(s).ok());
    let digest = digest.ok_or_else(|| invalid(format!("descriptor without a sha256 digest: {d}")))?;
    let size =
        d.get("size").and_then(Value::as_u64).ok_or_else(|| invalid(format!("descriptor without a size: {d}")))?;
    let shown = format!("blobs/sha256/{}", digest.hex());
    let path = file_in(root, &shown)?;
    verify(&path, &shown, Some(&digest), Some(size))?;
    Ok((path, digest))
}

fn from_oci(root: &Path) -> Result<Vec<Pending>, ArchiveError> {
    let index = read_json(&root.join("index.json"))?;
    let mut out = Vec::new();
    for d in index.get("manifests").and_then(Value::as_array).into_iter().flatten() {
        let (media_type, blobs, manifest_digest) = match d.get("mediaType").and_then(Value::as_str) {
            Some(OCI_MANIFEST) => {
                let (blobs, digest) = image_blobs(root, d)?;
                (MediaType::ImageManifest, blobs, digest)
            }
            // A multi-platform image: the index and every platform's image under it, loaded whole.
            Some(OCI_INDEX) => {
                let (index_path, index_digest) = blob(root, d)?;
                let mut blobs = Vec::new();
                for entry in read_json(&index_path)?.get("manifests").and_then(Value::as_array).into_iter().flatten() {
                    if entry.get("mediaType").and_then(Value::as_str) != Some(OCI_MANIFEST) {
                        return Err(invalid(format!("index {index_digest}: only OCI image manifests, not {entry}")));
                    }
                    blobs.extend(image_blobs(root, entry)?.0);
                }
                blobs.push((index_path, index_digest.clone()));
                (MediaType::ImageIndex, blobs, index_digest)
            }
            _ => {
                return Err(invalid(format!("index.json: only OCI image manifests and indexes can be loaded, not {d}")))
            }
        };
        let name = d
            .pointer("/annotations/io.containerd.image.name")
            .or_else(|| d.get("annotations").and_then(|a| a.get(REF_NAME_ANNOTATION)));
        let names = name.and_then(Value::as_str).map(parse_name).transpose()?.into_iter().collect();
        let size = d.get("size").and_then(Value::as_u64).unwrap_or(0);
        // An index's ID is its own digest (as `build --platform a,b` prints it); an image's, its config's.
        let config = if media_type == MediaType::ImageIndex { manifest_digest.clone() } else { blobs[0].1.clone() };
        out.push(Pending {
            config,
            blobs,
            made_manifest: None,
            manifest: descriptor(media_type, &manifest_digest, size)?,
            names,
        });
    }
    // Several names for one manifest arrive as several descriptors: one image with every name.
    let mut merged: Vec<Pending> = Vec::new();
    for p in out {
        match merged.iter_mut().find(|m| m.manifest.digest() == p.manifest.digest()) {
            Some(m) => m.names.extend(p.names),
            None => merged.push(p),
        }
    }
    Ok(merged)
}

/// The blobs of the image manifest `d` names, verified: config first, then the layers, then the manifest.
fn image_blobs(root: &Path, d: &Value) -> Result<(Vec<(PathBuf, Digest)>, Digest), ArchiveError> {
    let (manifest_path, manifest_digest) = blob(root, d)?;
    let manifest = read_json(&manifest_path)?;
    let config = manifest.get("config").ok_or_else(|| invalid(format!("manifest {manifest_digest} has no config")))?;
    let mut blobs = vec![blob(root, config)?];
    for l in manifest.get("layers").and_then(Value::as_array).into_iter().flatten() {
        blobs.push(blob(root, l)?);
    }
    blobs.push((manifest_path, manifest_digest.clone()));
    Ok((blobs, manifest_digest))
}

fn parse_name(n: &str) -> Result<ImageRef, ArchiveError> {
    ImageRef::parse(n).map_err(|e| invalid(format!("image name {n:?}: {e}")))
}

fn descriptor(media_type: MediaType, digest: &Digest, size: u64) -> Result<Descriptor, ArchiveError> {
    DescriptorBuilder::default()
        .media_type(media_type)
        .digest(to_oci_digest(digest)?)
        .size(size)
        .build()
        .map_err(|e| invalid(e.to_string()))
}

/// The digest a docker-archive file name promises (`blobs/sha256/<hex>`, `<hex>.json`, `<hex>/layer.tar`).
fn promised(name: &str) -> Option<Digest> {
    let base = name.trim_end_matches("/layer.tar").trim_end_matches(".json");
    Digest::parse(&format!("sha256:{}", base.rsplit('/').next()?)).ok()
}

fn from_docker(root: &Path) -> Result<Vec<Pending>, ArchiveError> {
    let manifest = read_json(&root.join("manifest.json"))?;
    let entries = manifest.as_array().ok_or_else(|| invalid("manifest.json is not a list"))?;
    let mut out = Vec::new();
    for e in entries {
        let config_name =
            e.get("Config").and_then(Value::as_str).ok_or_else(|| invalid("manifest.json entry without Config"))?;
        let config_path = file_in(root, config_name)?;
        let config_digest = verify(&config_path, config_name, promised(config_name).as_ref(), None)?;
        let config = read_json(&config_path)?;
        let diff_ids: Vec<&str> = config
            .pointer("/rootfs/diff_ids")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let layer_names: Vec<&str> =
            e.get("Layers").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
        if layer_names.len() != diff_ids.len() {
            return Err(invalid(format!(
                "{config_name}: {} layers but {} diff_ids",
                layer_names.len(),
                diff_ids.len()
            )));
        }
        let mut blobs = vec![(config_path.clone(), config_digest.clone())];
        let mut layers = Vec::new();
        for (name, diff_id) in layer_names.iter().zip(&diff_ids) {
            let path = file_in(root, name)?;
            let digest = verify(&path, name, None, None)?;
            let (media_type, uncompressed) = layer_kind(&path)?;
            if uncompressed.to_string() != *diff_id {
                return Err(ArchiveError::Blob {
                    path: name.to_string(),
                    why: format!("its tar hashes to {uncompressed}, but the config says {diff_id}"),
                });
            }
            let size = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            layers.push(descriptor(media_type, &digest, size)?);
            blobs.push((path, digest));
        }
        let config_size = fs::metadata(&config_path).map(|m| m.len()).unwrap_or(0);
        let m = ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageManifest)
            .config(descriptor(MediaType::ImageConfig, &config_digest, config_size)?)
            .layers(layers)
            .build()
            .map_err(|e| invalid(e.to_string()))?;
        let bytes = json::canonical(&m).map_err(|e| invalid(e.to_string()))?;
        let manifest_digest = Digest::of(&bytes);
        let names = e
            .get("RepoTags")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(parse_name)
            .collect::<Result<_, _>>()?;
        out.push(Pending {
            blobs,
            manifest: descriptor(MediaType::ImageManifest, &manifest_digest, bytes.len() as u64)?,
            made_manifest: Some(bytes),
            config: config_digest,
            names,
        });
    }
    Ok(out)
}

/// A docker-archive layer's media type (by its first bytes) and the digest of its tar (its diff_id).
fn layer_kind(path: &Path) -> Result<(MediaType, Digest), ArchiveError> {
    let io_err = |e| ArchiveError::Io { what: "cannot read", path: path.into(), source: e };
    let mut magic = [0u8; 4];
    let n = File::open(path).and_then(|mut f| f.read(&mut magic)).map_err(io_err)?;
    let media_type = match &magic[..n] {
        [0x1f, 0x8b, ..] => MediaType::ImageLayerGzip,
        [0x28, 0xb5, 0x2f, 0xfd] => MediaType::ImageLayerZstd,
        _ => MediaType::ImageLayer,
    };
    let file = File::open(path).map_err(io_err)?;
    let mut tar = crate::layer::decompress(BufReader::new(file)).map_err(io_err)?;
    let mut h = HashingWriter::new(io::sink());
    io::copy(&mut tar, &mut h)
        .map_err(|e| ArchiveError::Blob { path: path.display().to_string(), why: format!("cannot decompress: {e}") })?;
    Ok((media_type, h.finish().0))
}
