//! `save`: images to a tar stream (or, for `build -o type=oci,tar=false`, the same files into a
//! directory), each blob once however many images share it. Blobs are written as stored: like `docker
//! save`, plain-tar layers stay plain (and `load` gives back the same manifest digest); `build -o
//! type=oci|docker` compresses them first, as BuildKit's exporters do (`engine::output`).

use super::{ArchiveError, OCI_INDEX, OCI_MANIFEST};
use crate::digest::Digest;
use crate::store::{from_oci_digest, Image, Store, REF_NAME_ANNOTATION};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::io::{self, Write};
use std::path::Path;

/// Which archive to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `manifest.json` + `repositories` for `docker load`, and the OCI layout beside them.
    Docker,
    /// An OCI image layout only (`skopeo copy oci-archive:…`).
    Oci,
}

/// Containerd's annotation for the full image name, which `docker save` writes beside `ref.name`.
const CONTAINERD_NAME: &str = "io.containerd.image.name";

/// Where the archive's files go: a tar stream, or a directory (an unpacked OCI layout).
trait Sink {
    fn file(&mut self, path: &str, size: u64, data: &mut dyn io::Read) -> Result<(), ArchiveError>;
}

impl<W: Write> Sink for tar::Builder<W> {
    fn file(&mut self, path: &str, size: u64, data: &mut dyn io::Read) -> Result<(), ArchiveError> {
        let mut h = tar::Header::new_ustar();
        h.set_size(size);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        h.set_entry_type(tar::EntryType::Regular);
        self.append_data(&mut h, path, data).map_err(ArchiveError::Write)
    }
}

/// Files under a directory the caller made (and publishes once everything is in).
struct DirSink<'a>(&'a Path);

impl Sink for DirSink<'_> {
    fn file(&mut self, path: &str, _size: u64, data: &mut dyn io::Read) -> Result<(), ArchiveError> {
        let path = self.0.join(path);
        let io_err = |what| {
            let path = path.clone();
            move |source| ArchiveError::Io { what, path, source }
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io_err("cannot create"))?;
        }
        let mut f = std::fs::File::create(&path).map_err(io_err("cannot create"))?;
        io::copy(data, &mut f).map_err(io_err("cannot write"))?;
        f.sync_all().map_err(io_err("cannot write"))
    }
}

/// Write `images` (each with the names it was asked by; none: saved by ID) to `out`.
pub fn save(
    store: &Store,
    images: &[(Image, Vec<String>)],
    format: Format,
    out: impl Write,
) -> Result<(), ArchiveError> {
    let mut tar = tar::Builder::new(out);
    write_all(store, images, format, &mut tar)?;
    tar.into_inner().and_then(|mut w| w.flush()).map_err(ArchiveError::Write)
}

/// [`save`] as files in `dir` (which should be empty): an OCI image layout directory.
pub fn save_dir(
    store: &Store,
    images: &[(Image, Vec<String>)],
    format: Format,
    dir: &Path,
) -> Result<(), ArchiveError> {
    write_all(store, images, format, &mut DirSink(dir))
}

fn write_all(
    store: &Store,
    images: &[(Image, Vec<String>)],
    format: Format,
    out: &mut dyn Sink,
) -> Result<(), ArchiveError> {
    let mut written: BTreeSet<Digest> = BTreeSet::new();
    let mut index = Vec::new();
    let mut docker = Vec::new();
    let mut repositories = serde_json::Map::new();
    let mut blob = |d: &Digest, out: &mut dyn Sink| -> Result<(), ArchiveError> {
        if written.insert(d.clone()) {
            let file = store.open_blob(d)?;
            let size = file
                .metadata()
                .map_err(|e| ArchiveError::Io { what: "cannot stat", path: store.blob_path(d), source: e })?
                .len();
            out.file(&format!("blobs/sha256/{}", d.hex()), size, &mut { file })?;
        }
        Ok(())
    };
    for (image, names) in images {
        let layers: Vec<Digest> =
            image.manifest.layers().iter().map(|l| from_oci_digest(l.digest())).collect::<Result<_, _>>()?;
        for d in [&image.manifest_digest, &image.config_digest].into_iter().chain(&layers) {
            blob(d, out)?;
        }
        let descriptor = |media_type: &str, digest: &Digest, name: Option<&String>| {
            let size = std::fs::metadata(store.blob_path(digest)).map(|m| m.len()).unwrap_or(0);
            let mut d = json!({ "mediaType": media_type, "digest": digest.to_string(), "size": size });
            if let Some(n) = name {
                d["annotations"] = json!({ REF_NAME_ANNOTATION: n, CONTAINERD_NAME: n });
            }
            d
        };
        if names.is_empty() {
            index.push(descriptor(OCI_MANIFEST, &image.manifest_digest, None));
        }
        for n in names {
            // A multi-platform image is saved whole: its index, and every platform's image under it.
            match store.index_named(n)? {
                Some(multi) => {
                    for d in index_blobs(store, &multi)? {
                        blob(&d, out)?;
                    }
                    index.push(descriptor(OCI_INDEX, &multi, Some(n)));
                }
                None => index.push(descriptor(OCI_MANIFEST, &image.manifest_digest, Some(n))),
            }
        }
        docker.push(json!({
            "Config": format!("blobs/sha256/{}", image.config_digest.hex()),
            "RepoTags": if names.is_empty() { Value::Null } else { json!(names) },
            "Layers": layers.iter().map(|l| format!("blobs/sha256/{}", l.hex())).collect::<Vec<_>>(),
        }));
        for n in names {
            let (repo, tag) = crate::reference::split_name(n);
            let entry = repositories.entry(repo.to_string()).or_insert_with(|| json!({}));
            entry[tag] = json!(image.config_digest.hex());
        }
    }
    let index =
        json!({ "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": index });
    append_json(out, "index.json", &index)?;
    append_json(out, "oci-layout", &json!({ "imageLayoutVersion": "1.0.0" }))?;
    if format == Format::Docker {
        append_json(out, "manifest.json", &Value::Array(docker))?;
        append_json(out, "repositories", &Value::Object(repositories))?;
    }
    Ok(())
}

/// Every blob an image index reaches: the index, each entry's manifest, config and layers.
fn index_blobs(store: &Store, index: &Digest) -> Result<Vec<Digest>, ArchiveError> {
    let read = |d: &Digest| -> Result<Value, ArchiveError> {
        serde_json::from_slice(&store.read_blob(d)?)
            .map_err(|source| crate::store::StoreError::Json { path: store.blob_path(d), source }.into())
    };
    let digests = |v: &Value, key: &str| -> Vec<Digest> {
        let list = v.get(key).and_then(Value::as_array).cloned().unwrap_or_default();
        list.iter().filter_map(|d| d.get("digest")?.as_str().and_then(|d| Digest::parse(d).ok())).collect()
    };
    let mut out = vec![index.clone()];
    for manifest in digests(&read(index)?, "manifests") {
        let m = read(&manifest)?;
        out.push(manifest);
        out.extend(m.get("config").and_then(|c| c.get("digest")?.as_str()).and_then(|d| Digest::parse(d).ok()));
        out.extend(digests(&m, "layers"));
    }
    Ok(out)
}

fn append_json(out: &mut dyn Sink, path: &str, v: &Value) -> Result<(), ArchiveError> {
    let bytes = serde_json::to_vec(v).map_err(|e| ArchiveError::Write(e.into()))?;
    out.file(path, bytes.len() as u64, &mut &bytes[..])
}
