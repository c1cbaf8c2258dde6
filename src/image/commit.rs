//! `commit`: publish a finished image. The config blob is written first, then the manifest blob, and
//! only then is `index.json` updated, so a crash at any point leaves at worst unreferenced blobs for gc,
//! never a name pointing at something missing.

use super::{ConfigExtensions, ImageError, ImageRef};
use crate::digest::Digest;
use crate::store::{json, to_oci_digest, Store};
use oci_spec::image::{Descriptor, DescriptorBuilder, ImageConfiguration, ImageManifestBuilder, MediaType};

/// Write `config` and a manifest listing `layers`, name it with `tags` (none: an unnamed image), and
/// return the manifest digest.
pub fn commit(
    store: &Store,
    config: &ImageConfiguration,
    layers: &[Descriptor],
    tags: &[ImageRef],
) -> Result<Digest, ImageError> {
    commit_with(store, config, &ConfigExtensions::default(), layers, tags)
}

/// [`commit`] with docker's extra config fields (Healthcheck, OnBuild, Shell).
pub fn commit_with(
    store: &Store,
    config: &ImageConfiguration,
    extensions: &ConfigExtensions,
    layers: &[Descriptor],
    tags: &[ImageRef],
) -> Result<Digest, ImageError> {
    let diff_ids = config.rootfs().diff_ids().len();
    if diff_ids != layers.len() {
        return Err(ImageError::LayerCount { layers: layers.len(), diff_ids });
    }
    let config_bytes = config_bytes(config, extensions)?;
    commit_config(store, &config_bytes, layers, tags).map(|(_, manifest)| manifest)
}

/// Publish an already serialised config blob with `layers`: returns the config digest (the image ID) and
/// the manifest digest.
pub fn commit_config(
    store: &Store,
    config_bytes: &[u8],
    layers: &[Descriptor],
    tags: &[ImageRef],
) -> Result<(Digest, Digest), ImageError> {
    let (config_digest, config_size) = store.write_blob(config_bytes)?;
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(descriptor(MediaType::ImageConfig, &config_digest, config_size)?)
        .layers(layers.to_vec())
        .build()
        .map_err(|source| ImageError::Spec { what: "image manifest", source })?;
    let manifest_bytes = json::canonical(&manifest).map_err(|source| ImageError::Json { what: "manifest", source })?;
    let (manifest_digest, manifest_size) = store.write_blob(&manifest_bytes)?;
    store.add_manifest(&descriptor(MediaType::ImageManifest, &manifest_digest, manifest_size)?, tags)?;
    Ok((config_digest, manifest_digest))
}

/// The config blob exactly as committed: canonical JSON with the docker extensions merged in.
pub fn config_bytes(config: &ImageConfiguration, extensions: &ConfigExtensions) -> Result<Vec<u8>, ImageError> {
    let json_err = |source| ImageError::Json { what: "image config", source };
    let mut doc = serde_json::to_value(config).map_err(json_err)?;
    extensions.merge_into(&mut doc).map_err(json_err)?;
    json::canonical_value(&doc).map_err(json_err)
}

fn descriptor(media_type: MediaType, digest: &Digest, size: u64) -> Result<Descriptor, ImageError> {
    DescriptorBuilder::default()
        .media_type(media_type)
        .digest(to_oci_digest(digest)?)
        .size(size)
        .build()
        .map_err(|source| ImageError::Spec { what: "descriptor", source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::{append_layer, new_config, timestamp};

    fn layer(store: &Store, bytes: &[u8]) -> (Descriptor, Digest) {
        let (d, n) = store.write_blob(bytes).unwrap();
        (descriptor(MediaType::ImageLayer, &d, n).unwrap(), d)
    }

    #[test]
    fn commit_writes_config_manifest_and_names() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (desc, diff_id) = layer(&store, b"not really a tar");
        let mut config = new_config().unwrap();
        let t = timestamp(Some(10)).unwrap();
        append_layer(&mut config, &diff_id, &t, "COPY x /", None);
        let name = ImageRef::parse("app:1.0").unwrap();
        let ext = ConfigExtensions { shell: Some(vec!["/bin/sh".into(), "-c".into()]), ..Default::default() };
        let m = commit_with(&store, &config, &ext, std::slice::from_ref(&desc), std::slice::from_ref(&name)).unwrap();
        let image = store.resolve("app:1.0").unwrap();
        assert_eq!(image.manifest_digest, m);
        assert_eq!(image.manifest.layers(), &vec![desc.clone()]);
        assert_eq!(image.config.rootfs().diff_ids(), &vec![diff_id.to_string()]);
        assert_eq!(image.names, vec!["app:1.0".to_string()]);
        assert_eq!(image.extensions, ext);
        // The image ID is the config digest, and committing the same thing twice is a no-op.
        assert_eq!(image.config_digest, Digest::of(&config_bytes(&config, &ext).unwrap()));
        assert_eq!(commit_with(&store, &config, &ext, &[desc], &[name]).unwrap(), m);
    }

    #[test]
    fn layer_count_must_match_diff_ids() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (desc, _) = layer(&store, b"x");
        let err = commit(&store, &new_config().unwrap(), &[desc], &[]).unwrap_err();
        assert!(matches!(err, ImageError::LayerCount { layers: 1, diff_ids: 0 }), "{err}");
    }

    #[test]
    fn untagged_commit_is_a_dangling_image() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let m = commit(&store, &new_config().unwrap(), &[], &[]).unwrap();
        let list = store.list().unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].manifest_digest, m);
        assert!(list[0].names.is_empty());
    }
}
