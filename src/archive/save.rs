//! `save`: images to a tar stream, each blob once however many images share it.

use super::ArchiveError;
use crate::digest::Digest;
use crate::store::{from_oci_digest, Image, Store, REF_NAME_ANNOTATION};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::io::{self, Write};

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

/// Write `images` (each with the names it was asked by; none: saved by ID) to `out`.
pub fn save(
    store: &Store,
    images: &[(Image, Vec<String>)],
    format: Format,
    out: impl Write,
) -> Result<(), ArchiveError> {
    let mut tar = tar::Builder::new(out);
    let mut written: BTreeSet<Digest> = BTreeSet::new();
    let mut index = Vec::new();
    let mut docker = Vec::new();
    let mut repositories = serde_json::Map::new();
    for (image, names) in images {
        let layers: Vec<Digest> =
            image.manifest.layers().iter().map(|l| from_oci_digest(l.digest())).collect::<Result<_, _>>()?;
        for d in [&image.manifest_digest, &image.config_digest].into_iter().chain(&layers) {
            if written.insert(d.clone()) {
                let file = store.open_blob(d)?;
                let size = file
                    .metadata()
                    .map_err(|e| ArchiveError::Io { what: "cannot stat", path: store.blob_path(d), source: e })?
                    .len();
                append(&mut tar, &format!("blobs/sha256/{}", d.hex()), size, file)?;
            }
        }
        let manifest_size = std::fs::metadata(store.blob_path(&image.manifest_digest)).map(|m| m.len()).unwrap_or(0);
        let descriptor = |name: Option<&String>| {
            let mut d = json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": image.manifest_digest.to_string(),
                "size": manifest_size,
            });
            if let Some(n) = name {
                d["annotations"] = json!({ REF_NAME_ANNOTATION: n, CONTAINERD_NAME: n });
            }
            d
        };
        if names.is_empty() {
            index.push(descriptor(None));
        }
        index.extend(names.iter().map(|n| descriptor(Some(n))));
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
    append_json(&mut tar, "index.json", &index)?;
    append_json(&mut tar, "oci-layout", &json!({ "imageLayoutVersion": "1.0.0" }))?;
    if format == Format::Docker {
        append_json(&mut tar, "manifest.json", &Value::Array(docker))?;
        append_json(&mut tar, "repositories", &Value::Object(repositories))?;
    }
    tar.into_inner().and_then(|mut w| w.flush()).map_err(ArchiveError::Write)
}

fn append(tar: &mut tar::Builder<impl Write>, path: &str, size: u64, data: impl io::Read) -> Result<(), ArchiveError> {
    let mut h = tar::Header::new_ustar();
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut h, path, data).map_err(ArchiveError::Write)
}

fn append_json(tar: &mut tar::Builder<impl Write>, path: &str, v: &Value) -> Result<(), ArchiveError> {
    let bytes = serde_json::to_vec(v).map_err(|e| ArchiveError::Write(e.into()))?;
    append(tar, path, bytes.len() as u64, &bytes[..])
}
