//! `commit`: publish a finished image. The config blob is written first, then the manifest blob, and
//! only then is `index.json` updated, so a crash at any point leaves at worst unreferenced blobs for gc,
//! never a name pointing at something missing.

use super::state::ImageState;
use super::{ImageError, ImageRef};
use crate::digest::Digest;
use crate::store::{json, to_oci_digest, Store};
use oci_spec::image::{
    Arch, Descriptor, DescriptorBuilder, ImageIndexBuilder, ImageManifestBuilder, MediaType, Os, PlatformBuilder,
};

/// Write `image`'s config and a manifest listing `layers` (with `annotations` on the manifest: `build
/// --annotation`), and name nothing: the blobs of one platform's image that an index will name. Returns
/// the config digest (the image ID) and the manifest's descriptor.
pub fn write(
    store: &Store,
    image: &ImageState,
    layers: &[Descriptor],
    annotations: &std::collections::BTreeMap<String, String>,
) -> Result<(Digest, Descriptor), ImageError> {
    if image.diff_ids.len() != layers.len() {
        return Err(ImageError::LayerCount { layers: layers.len(), diff_ids: image.diff_ids.len() });
    }
    let config_bytes = image.to_json()?;
    let (config_digest, config_size) = store.write_blob(&config_bytes)?;
    let mut manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(descriptor(MediaType::ImageConfig, &config_digest, config_size)?)
        .layers(layers.to_vec())
        .build()
        .map_err(|source| ImageError::Spec { what: "image manifest", source })?;
    if !annotations.is_empty() {
        manifest.set_annotations(Some(annotations.iter().map(|(k, v)| (k.clone(), v.clone())).collect()));
    }
    let manifest_bytes = json::canonical(&manifest).map_err(|source| ImageError::Json { what: "manifest", source })?;
    let (manifest_digest, manifest_size) = store.write_blob(&manifest_bytes)?;
    Ok((config_digest, descriptor(MediaType::ImageManifest, &manifest_digest, manifest_size)?))
}

/// Write `image`'s config and a manifest listing `layers`, name it with `tags` (none: an unnamed image).
/// Returns the config digest (the image ID) and the manifest digest.
pub fn commit(
    store: &Store,
    image: &ImageState,
    layers: &[Descriptor],
    tags: &[ImageRef],
) -> Result<(Digest, Digest), ImageError> {
    let (config_digest, manifest) = write(store, image, layers, &Default::default())?;
    store.add_manifest(&manifest, tags)?;
    Ok((config_digest, crate::store::from_oci_digest(manifest.digest())?))
}

/// Write an OCI image index naming each image of `images` (already written, see [`write`]) with the
/// platform its config records, and name the index with `tags`: a multi-platform image. Returns the
/// index digest.
pub fn commit_index(
    store: &Store,
    images: &[(Descriptor, &ImageState)],
    tags: &[ImageRef],
) -> Result<Digest, ImageError> {
    let mut manifests = Vec::new();
    for (desc, state) in images {
        let mut platform = PlatformBuilder::default()
            .os(Os::from(state.os.as_str()))
            .architecture(Arch::from(state.architecture.as_str()))
            .build()
            .map_err(|source| ImageError::Spec { what: "platform", source })?;
        platform.set_variant(state.variant.clone());
        let mut d = desc.clone();
        d.set_platform(Some(platform));
        manifests.push(d);
    }
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(manifests)
        .build()
        .map_err(|source| ImageError::Spec { what: "image index", source })?;
    let bytes = json::canonical(&index).map_err(|source| ImageError::Json { what: "image index", source })?;
    let (digest, size) = store.write_blob(&bytes)?;
    store.add_manifest(&descriptor(MediaType::ImageIndex, &digest, size)?, tags)?;
    Ok(digest)
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
    use crate::image::state::HistoryEntry;

    fn layer(store: &Store, bytes: &[u8]) -> Descriptor {
        let (d, n) = store.write_blob(bytes).unwrap();
        descriptor(MediaType::ImageLayer, &d, n).unwrap()
    }

    fn one_layer_image(diff_id: &Digest) -> ImageState {
        let mut s = ImageState::scratch("linux", "amd64", None);
        s.created = Some("1970-01-01T00:00:10Z".into());
        s.diff_ids.push(diff_id.clone());
        s.history.push(HistoryEntry {
            created: "1970-01-01T00:00:10Z".into(),
            created_by: "COPY x /".into(),
            comment: None,
            author: None,
            empty_layer: false,
        });
        s.config.shell = Some(vec!["/bin/sh".into(), "-c".into()]);
        s
    }

    #[test]
    fn commit_writes_config_manifest_and_names() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let desc = layer(&store, b"not really a tar");
        let diff_id = Digest::of(b"the tar");
        let state = one_layer_image(&diff_id);
        let name = ImageRef::parse("app:1.0").unwrap();
        let (id, m) = commit(&store, &state, std::slice::from_ref(&desc), std::slice::from_ref(&name)).unwrap();
        let image = store.resolve("app:1.0").unwrap();
        assert_eq!(image.manifest_digest, m);
        assert_eq!(image.manifest.layers(), &vec![desc.clone()]);
        assert_eq!(image.config.rootfs().diff_ids(), &vec![diff_id.to_string()]);
        assert_eq!(image.names, vec!["app:1.0".to_string()]);
        assert_eq!(image.extensions.shell, state.config.shell);
        // The image ID is the config digest, and committing the same thing twice is a no-op.
        assert_eq!(image.config_digest, id);
        assert_eq!(id, Digest::of(&state.to_json().unwrap()));
        assert_eq!(commit(&store, &state, &[desc], &[name]).unwrap(), (id, m));
    }

    #[test]
    fn layer_count_must_match_diff_ids() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let desc = layer(&store, b"x");
        let err = commit(&store, &ImageState::scratch("linux", "amd64", None), &[desc], &[]).unwrap_err();
        assert!(matches!(err, ImageError::LayerCount { layers: 1, diff_ids: 0 }), "{err}");
    }

    #[test]
    fn untagged_commit_is_a_dangling_image() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (_, m) = commit(&store, &ImageState::scratch("linux", "amd64", None), &[], &[]).unwrap();
        let list = store.list().unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].manifest_digest, m);
        assert!(list[0].names.is_empty());
    }
}
