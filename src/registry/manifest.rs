//! Reading manifests and indexes as registries send them, docker v2s2 and OCI alike: the media type, the
//! blobs a manifest names, and the entry of an index that fits a platform. Manifests are kept as the bytes
//! the registry sent (their digest is their identity), so this only reads them, never rewrites them.

use super::{media, Platform, RegistryError};
use crate::digest::Digest;
use serde_json::Value;

/// Manifests larger than this are refused before they are read (containerd's limit is the same).
pub const MANIFEST_LIMIT: u64 = 4 << 20;

/// A blob a manifest refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobRef {
    pub digest: Digest,
    pub size: u64,
    pub media_type: String,
}

/// What kind of document a manifest is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Image,
    Index,
}

/// A parsed manifest or index: its bytes, digest, media type and JSON.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub bytes: Vec<u8>,
    pub digest: Digest,
    pub media_type: String,
    pub kind: Kind,
    pub json: Value,
}

impl Manifest {
    /// Read `bytes` of a manifest for `reference`; `content_type` is the registry's header.
    pub fn parse(reference: &str, bytes: Vec<u8>, content_type: Option<&str>) -> Result<Manifest, RegistryError> {
        let json: Value = serde_json::from_slice(&bytes)
            .map_err(|source| RegistryError::Json { what: format!("manifest of {reference}"), source })?;
        let declared = json.get("mediaType").and_then(Value::as_str);
        let header = content_type.map(|c| c.split(';').next().unwrap_or(c).trim());
        let media_type = match (declared, header) {
            (Some(d), _) => d.to_string(),
            (None, Some(h)) if h != "application/json" && !h.is_empty() => h.to_string(),
            // OCI allows an absent mediaType: the shape decides.
            (None, _) if json.get("manifests").is_some() => media::OCI_INDEX.to_string(),
            (None, _) => media::OCI_MANIFEST.to_string(),
        };
        let kind = match media_type.as_str() {
            media::OCI_MANIFEST | media::DOCKER_MANIFEST => Kind::Image,
            media::OCI_INDEX | media::DOCKER_LIST => Kind::Index,
            _ => return Err(RegistryError::MediaType { reference: reference.to_string(), media_type }),
        };
        let digest = Digest::of(&bytes);
        Ok(Manifest { bytes, digest, media_type, kind, json })
    }

    /// The config and then the layers of an image manifest.
    pub fn blobs(&self, reference: &str) -> Result<(BlobRef, Vec<BlobRef>), RegistryError> {
        let config = self
            .json
            .get("config")
            .ok_or_else(|| malformed(reference, "the manifest has no config"))
            .and_then(|c| blob_ref(reference, c))?;
        let layers = match self.json.get("layers") {
            Some(Value::Array(a)) => a.iter().map(|l| blob_ref(reference, l)).collect::<Result<Vec<_>, _>>()?,
            None | Some(Value::Null) => Vec::new(),
            Some(_) => return Err(malformed(reference, "`layers` is not an array")),
        };
        Ok((config, layers))
    }

    /// The entries of an index: each manifest's descriptor and platform (when it names one).
    pub fn entries(&self, reference: &str) -> Result<Vec<(BlobRef, Option<Platform>)>, RegistryError> {
        let Some(Value::Array(list)) = self.json.get("manifests") else {
            return Err(malformed(reference, "the index has no `manifests` array"));
        };
        list.iter().map(|m| Ok((blob_ref(reference, m)?, m.get("platform").and_then(Platform::from_json)))).collect()
    }

    /// The index entry for `want`: the first whose platform matches (attestations, whose platform is
    /// `unknown/unknown`, never do). The error lists what the index has.
    pub fn select(&self, reference: &str, want: &Platform) -> Result<BlobRef, RegistryError> {
        let entries = self.entries(reference)?;
        if let Some((blob, _)) = entries.iter().find(|(_, p)| p.as_ref().is_some_and(|p| want.matches(p))) {
            return Ok(blob.clone());
        }
        let mut available: Vec<String> = entries
            .iter()
            .filter_map(|(_, p)| p.as_ref())
            .filter(|p| p.os != "unknown")
            .map(Platform::to_string)
            .collect();
        available.dedup();
        Err(RegistryError::NoPlatform { reference: reference.to_string(), wanted: want.to_string(), available })
    }
}

/// The manifest format a push writes (`rbuild push --format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Oci,
    /// Docker v2 schema 2, for registries that take nothing else.
    Docker,
}

/// Media types of one blob in each format: (OCI, docker). Zstd layers exist in OCI only.
const BLOB_TYPES: &[(&str, &str)] = &[
    ("application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json"),
    ("application/vnd.oci.image.layer.v1.tar+gzip", "application/vnd.docker.image.rootfs.diff.tar.gzip"),
    ("application/vnd.oci.image.layer.v1.tar", "application/vnd.docker.image.rootfs.diff.tar"),
    (
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    ),
];

impl Manifest {
    /// This image manifest in `format`: only media types change (blobs and their digests stay), so the
    /// result is a new manifest with a new digest over the same config and layers. A manifest already in
    /// `format` comes back unchanged, byte for byte.
    pub fn convert(&self, reference: &str, format: Format) -> Result<Manifest, RegistryError> {
        let (want, manifest_type) = match format {
            Format::Oci => (0, media::OCI_MANIFEST),
            Format::Docker => (1, media::DOCKER_MANIFEST),
        };
        if self.media_type == manifest_type {
            return Ok(self.clone());
        }
        let mut json = self.json.clone();
        let convert = |d: &mut Value| -> Result<(), RegistryError> {
            let from = d.get("mediaType").and_then(Value::as_str).unwrap_or("");
            let pair = BLOB_TYPES.iter().find(|(oci, docker)| *oci == from || *docker == from);
            let to = match pair {
                Some((oci, docker)) => [*oci, *docker][want],
                None => {
                    return Err(RegistryError::Unconvertible {
                        reference: reference.to_string(),
                        media_type: from.to_string(),
                        hint: if from.contains("zstd") {
                            "docker v2 schema 2 has no zstd layers: push with --format oci, or build with --compression gzip"
                        } else {
                            "push it in its own format (without --format)"
                        },
                    })
                }
            };
            d["mediaType"] = Value::String(to.to_string());
            if format == Format::Docker {
                // Docker v2s2 descriptors have no annotations; neither does its manifest.
                d.as_object_mut().map(|o| o.remove("annotations"));
            }
            Ok(())
        };
        convert(json.get_mut("config").ok_or_else(|| malformed(reference, "the manifest has no config"))?)?;
        for l in json.get_mut("layers").and_then(Value::as_array_mut).into_iter().flatten() {
            convert(l)?;
        }
        json["mediaType"] = Value::String(manifest_type.to_string());
        if format == Format::Docker {
            json.as_object_mut().map(|o| o.remove("annotations"));
        }
        let bytes = serde_json::to_vec(&json)
            .map_err(|source| RegistryError::Json { what: format!("manifest of {reference}"), source })?;
        Manifest::parse(reference, bytes, None)
    }
}

fn malformed(reference: &str, detail: &str) -> RegistryError {
    RegistryError::Malformed { what: format!("manifest of {reference}"), detail: detail.to_string() }
}

fn blob_ref(reference: &str, v: &Value) -> Result<BlobRef, RegistryError> {
    let digest =
        v.get("digest").and_then(Value::as_str).ok_or_else(|| malformed(reference, "a descriptor has no digest"))?;
    let digest = Digest::parse(digest)
        .map_err(|_| malformed(reference, &format!("unsupported digest {digest:?} (only sha256 is supported)")))?;
    let size = v.get("size").and_then(Value::as_u64).ok_or_else(|| malformed(reference, "a descriptor has no size"))?;
    let media_type = v.get("mediaType").and_then(Value::as_str).unwrap_or("").to_string();
    Ok(BlobRef { digest, size, media_type })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn index() -> Manifest {
        let d = |c: &str| format!("sha256:{}", c.repeat(64));
        let doc = json!({"schemaVersion": 2, "mediaType": media::DOCKER_LIST, "manifests": [
            {"mediaType": media::DOCKER_MANIFEST, "digest": d("a"), "size": 1,
             "platform": {"os": "linux", "architecture": "amd64"}},
            {"mediaType": media::DOCKER_MANIFEST, "digest": d("b"), "size": 2,
             "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
            {"mediaType": media::OCI_MANIFEST, "digest": d("c"), "size": 3,
             "platform": {"os": "unknown", "architecture": "unknown"}}]});
        Manifest::parse("x", serde_json::to_vec(&doc).unwrap(), None).unwrap()
    }

    #[test]
    fn indexes_select_by_platform_and_list_what_they_have() {
        let m = index();
        assert_eq!(m.kind, Kind::Index);
        assert_eq!(m.select("x", &Platform::parse("linux/arm64").unwrap()).unwrap().size, 2);
        assert_eq!(m.select("x", &Platform::parse("linux/amd64").unwrap()).unwrap().size, 1);
        let err = m.select("x", &Platform::parse("linux/s390x").unwrap()).unwrap_err().to_string();
        assert!(err.contains("linux/amd64, linux/arm64/v8") && err.contains("linux/s390x"), "{err}");
    }

    #[test]
    fn conversion_changes_media_types_only_and_refuses_zstd_for_docker() {
        let d = |c: &str| format!("sha256:{}", c.repeat(64));
        let oci = json!({"schemaVersion": 2, "mediaType": media::OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": d("a"), "size": 1},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d("b"), "size": 2,
                        "annotations": {"k": "v"}}]});
        let m = Manifest::parse("x", serde_json::to_vec(&oci).unwrap(), None).unwrap();
        let docker = m.convert("x", Format::Docker).unwrap();
        assert_eq!(docker.media_type, media::DOCKER_MANIFEST);
        assert_eq!(docker.json["config"]["mediaType"], "application/vnd.docker.container.image.v1+json");
        assert_eq!(docker.json["layers"][0]["mediaType"], "application/vnd.docker.image.rootfs.diff.tar.gzip");
        assert_eq!(docker.json["layers"][0]["digest"], d("b").as_str());
        assert!(docker.json["layers"][0].get("annotations").is_none());
        assert_eq!(docker.convert("x", Format::Docker).unwrap().digest, docker.digest, "already docker: as is");
        let back = docker.convert("x", Format::Oci).unwrap();
        assert_eq!(back.json["layers"][0]["mediaType"], "application/vnd.oci.image.layer.v1.tar+gzip");
        assert_eq!(m.convert("x", Format::Oci).unwrap().bytes, m.bytes, "already OCI: byte for byte");
        let mut zstd = oci.clone();
        zstd["layers"][0]["mediaType"] = json!("application/vnd.oci.image.layer.v1.tar+zstd");
        let z = Manifest::parse("x", serde_json::to_vec(&zstd).unwrap(), None).unwrap();
        let err = z.convert("x", Format::Docker).unwrap_err().to_string();
        assert!(err.contains("zstd") && err.contains("--format oci"), "{err}");
    }

    #[test]
    fn schema1_and_unknown_types_are_refused() {
        let v1 = json!({"schemaVersion": 1, "mediaType": media::DOCKER_V1_SIGNED});
        assert!(matches!(
            Manifest::parse("x", serde_json::to_vec(&v1).unwrap(), None),
            Err(RegistryError::MediaType { .. })
        ));
    }
}
