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
    fn schema1_and_unknown_types_are_refused() {
        let v1 = json!({"schemaVersion": 1, "mediaType": media::DOCKER_V1_SIGNED});
        assert!(matches!(
            Manifest::parse("x", serde_json::to_vec(&v1).unwrap(), None),
            Err(RegistryError::MediaType { .. })
        ));
    }
}
