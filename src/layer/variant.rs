//! Compression on demand: a build keeps its layers as plain tars (digest == diff_id, nothing to
//! compress while the build waits); push and `build -o type=oci|docker` call [`distributable`] to get
//! the same image with every plain-tar layer compressed. Each (diff_id, compression) is compressed once: the blob
//! is recorded as a variant in the store (`Store::record_variant`), so the next push or output reuses it.
//! Layers that already are compressed (pulled ones, or built with `--compression`) are left as they are.

use super::{ingest_tar, Compression, LayerError, LayerOptions};
use crate::digest::Digest;
use crate::store::{from_oci_digest, json, to_oci_digest, Image, Lease, Store, StoreError};
use oci_spec::image::{Descriptor, ImageIndex, MediaType};

impl Compression {
    /// The name its variants are recorded under.
    fn variant_kind(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::None => "tar",
        }
    }
}

/// `layer` compressed with `compression` when it is a plain tar (made once, then found in the store);
/// any other layer as it is. The blob is kept by `lease` until it ends.
pub fn compressed(
    store: &Store,
    lease: &mut Lease,
    layer: &Descriptor,
    compression: Compression,
) -> Result<Descriptor, LayerError> {
    if compression == Compression::None || *layer.media_type() != MediaType::ImageLayer {
        return Ok(layer.clone());
    }
    // A plain tar's digest is its diff_id.
    let diff_id = from_oci_digest(layer.digest())?;
    let kind = compression.variant_kind();
    if let Some(found) = store.variant(&diff_id, kind)? {
        // Under the lock, so that a gc cannot take the blob between the check and the protection.
        if store.lock()?.protect_present(lease, &[from_oci_digest(found.digest())?])? {
            return Ok(with_blob(layer, &found));
        }
    }
    let tar = store.open_blob(&diff_id)?;
    let written = ingest_tar(store, tar, &LayerOptions { compression, source_date_epoch: None })?;
    if written.diff_id != diff_id {
        // The plain blob no longer hashes to its name: the store is damaged, and the image with it.
        return Err(StoreError::DigestMismatch { expected: diff_id, actual: written.diff_id }.into());
    }
    lease.protect(&from_oci_digest(written.descriptor.digest())?)?;
    store.record_variant(&diff_id, kind, &written.descriptor)?;
    Ok(with_blob(layer, &written.descriptor))
}

/// `layer`'s descriptor (annotations and all) pointing at `blob` instead.
fn with_blob(layer: &Descriptor, blob: &Descriptor) -> Descriptor {
    let mut out = layer.clone();
    out.set_media_type(blob.media_type().clone());
    out.set_digest(blob.digest().clone());
    out.set_size(blob.size());
    out
}

/// `image` with its plain-tar layers compressed with `compression`: a new manifest (written into the
/// store, kept by `lease`) over the same config, so the image ID stays and the manifest digest changes.
/// An image with no plain-tar layer comes back unchanged, byte for byte.
pub fn distributable(
    store: &Store,
    lease: &mut Lease,
    image: &Image,
    compression: Compression,
) -> Result<Image, LayerError> {
    let layers = image
        .manifest
        .layers()
        .iter()
        .map(|l| compressed(store, lease, l, compression))
        .collect::<Result<Vec<_>, _>>()?;
    if layers == *image.manifest.layers() {
        return Ok(image.clone());
    }
    let mut manifest = image.manifest.clone();
    manifest.set_layers(layers);
    let bytes = json::canonical(&manifest)
        .map_err(|source| StoreError::Json { path: store.blob_path(&image.manifest_digest), source })?;
    let (digest, _) = store.write_blob(&bytes)?;
    lease.protect(&digest)?;
    Ok(Image { manifest_digest: digest, manifest, ..image.clone() })
}

/// The manifest or index `digest` names, ready to leave the store: a manifest as [`distributable`] makes
/// it; an index (a multi-platform image) with each of its images made distributable and, if any changed, a
/// new index over them (written into the store, kept by `lease`). Returns the digest to push.
pub fn distributable_digest(
    store: &Store,
    lease: &mut Lease,
    digest: &Digest,
    compression: Compression,
) -> Result<Digest, LayerError> {
    let bytes = store.read_blob(digest)?;
    let json_err = |source| StoreError::Json { path: store.blob_path(digest), source };
    let probe: serde_json::Value = serde_json::from_slice(&bytes).map_err(json_err)?;
    if probe.get("manifests").is_none() {
        let image = store.lock()?.resolve_leased(&digest.to_string(), lease)?;
        return Ok(distributable(store, lease, &image, compression)?.manifest_digest);
    }
    // The index is named (the store keeps it and what it names); the lease keeps it through a concurrent
    // untag and prune as well.
    store.lock()?.protect_present(lease, std::slice::from_ref(digest))?;
    let mut index: ImageIndex = serde_json::from_slice(&bytes).map_err(json_err)?;
    let mut manifests = Vec::new();
    for entry in index.manifests() {
        let child = from_oci_digest(entry.digest())?;
        let image = leased_child(store, lease, digest, &child)?;
        let out = distributable(store, lease, &image, compression)?;
        let mut entry = entry.clone();
        if out.manifest_digest != child {
            entry.set_digest(to_oci_digest(&out.manifest_digest)?);
            entry.set_size(
                std::fs::metadata(store.blob_path(&out.manifest_digest))
                    .map_err(|source| StoreError::Io {
                        what: "reading the size of",
                        path: store.blob_path(&out.manifest_digest),
                        source,
                    })?
                    .len(),
            );
        }
        manifests.push(entry);
    }
    if manifests == *index.manifests() {
        return Ok(digest.clone());
    }
    index.set_manifests(manifests);
    let bytes = json::canonical(&index).map_err(json_err)?;
    let (written, _) = store.write_blob(&bytes)?;
    lease.protect(&written)?;
    Ok(written)
}

/// The image of the manifest `child` of the index `index`, its blobs kept by `lease` (an index's images
/// are not named in the store's index.json, so they are read by digest).
fn leased_child(store: &Store, lease: &mut Lease, index: &Digest, child: &Digest) -> Result<Image, LayerError> {
    let locked = store.lock()?;
    let image = store.load_image(child, Vec::new())?;
    let mut blobs = vec![child.clone(), image.config_digest.clone()];
    for layer in image.manifest.layers() {
        blobs.push(from_oci_digest(layer.digest())?);
    }
    if !locked.protect_present(lease, &blobs)? {
        let missing = blobs.into_iter().find(|d| !store.blob_path(d).exists()).unwrap_or_else(|| index.clone());
        return Err(StoreError::Incomplete { manifest: child.clone(), missing }.into());
    }
    Ok(image)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Digest;
    use crate::image::{self, ImageRef};
    use crate::store::gc;

    /// A store holding `app:1`, one layer of `tree` written with `compression`.
    fn image(compression: Compression) -> (tempfile::TempDir, Store, Image) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("root")).unwrap();
        let tree = dir.path().join("tree");
        std::fs::create_dir(&tree).unwrap();
        std::fs::write(tree.join("f.txt"), "some text ".repeat(1000)).unwrap();
        let layer =
            super::super::write(&store, &tree, &LayerOptions { compression, source_date_epoch: Some(0) }).unwrap();
        let mut config = image::ImageState::scratch("linux", "amd64", None);
        config.diff_ids.push(layer.diff_id.clone());
        image::commit(&store, &config, &[layer.descriptor], &[ImageRef::parse("app:1").unwrap()]).unwrap();
        let image = store.resolve("app:1").unwrap();
        (dir, store, image)
    }

    fn digest(d: &Descriptor) -> Digest {
        from_oci_digest(d.digest()).unwrap()
    }

    fn blob_count(store: &Store) -> usize {
        std::fs::read_dir(store.layout_dir().join("blobs/sha256")).unwrap().count()
    }

    #[test]
    fn a_plain_layer_is_gzipped_once_and_the_variant_is_reused() {
        let (_d, store, image) = image(Compression::None);
        let plain = image.manifest.layers()[0].clone();
        assert_eq!(*plain.media_type(), MediaType::ImageLayer);
        assert_eq!(digest(&plain), Digest::parse(&image.config.rootfs().diff_ids()[0]).unwrap(), "digest == diff_id");

        let mut lease = store.lease().unwrap();
        let out = distributable(&store, &mut lease, &image, Compression::Gzip).unwrap();
        assert_ne!(out.manifest_digest, image.manifest_digest);
        assert_eq!(out.config_digest, image.config_digest, "same image ID");
        let gz = out.manifest.layers()[0].clone();
        assert_eq!(*gz.media_type(), MediaType::ImageLayerGzip);
        assert!(gz.size() < plain.size());
        let bytes = std::fs::read(store.blob_path(&digest(&gz))).unwrap();
        let mut tar = Vec::new();
        std::io::Read::read_to_end(&mut crate::layer::decompress(&bytes[..]).unwrap(), &mut tar).unwrap();
        assert_eq!(Digest::of(&tar), digest(&plain), "the variant holds the same tar");
        assert_eq!(store.variant(&digest(&plain), "gzip").unwrap(), Some(gz.clone()));
        // The new manifest is a blob of the store, read like any other.
        let reread = store.load_image(&out.manifest_digest, Vec::new()).unwrap();
        assert_eq!(reread.manifest.layers()[0], gz);

        // Again: the recorded blob is found, nothing is written.
        let blobs = blob_count(&store);
        let again = distributable(&store, &mut lease, &image, Compression::Gzip).unwrap();
        assert_eq!(again.manifest_digest, out.manifest_digest);
        assert_eq!(blob_count(&store), blobs);

        // zstd is a variant of its own.
        let z = distributable(&store, &mut lease, &image, Compression::Zstd).unwrap();
        assert_eq!(*z.manifest.layers()[0].media_type(), MediaType::ImageLayerZstd);
        assert!(store.variant(&digest(&plain), "gzip").unwrap().is_some());
    }

    #[test]
    fn a_compressed_image_comes_back_unchanged() {
        let (_d, store, image) = image(Compression::Gzip);
        let mut lease = store.lease().unwrap();
        let out = distributable(&store, &mut lease, &image, Compression::Gzip).unwrap();
        assert_eq!(out.manifest_digest, image.manifest_digest);
        assert!(!store.root().join("variants").exists());
    }

    #[test]
    fn a_variant_whose_blob_is_gone_is_made_again() {
        let (_d, store, image) = image(Compression::None);
        let mut lease = store.lease().unwrap();
        let gz = distributable(&store, &mut lease, &image, Compression::Gzip).unwrap().manifest.layers()[0].clone();
        std::fs::remove_file(store.blob_path(&digest(&gz))).unwrap();
        let plain = digest(&image.manifest.layers()[0]);
        assert_eq!(store.variant(&plain, "gzip").unwrap(), None, "a record is only a hint");
        let again = distributable(&store, &mut lease, &image, Compression::Gzip).unwrap();
        assert_eq!(again.manifest.layers()[0], gz, "the same bytes again");
        assert!(store.blob_path(&digest(&gz)).is_file());
    }

    #[test]
    fn gc_keeps_the_variants_of_kept_layers_and_drops_the_others() {
        let (_d, store, image) = image(Compression::None);
        let plain = digest(&image.manifest.layers()[0]);
        let out = {
            let mut lease = store.lease().unwrap();
            distributable(&store, &mut lease, &image, Compression::Gzip).unwrap()
        };
        let gz = digest(&out.manifest.layers()[0]);
        let report = gc::collect(&store).unwrap();
        // The rewritten manifest is not named anywhere and goes; the variant stays with its layer.
        assert_eq!(report.removed, vec![out.manifest_digest.clone()]);
        assert!(store.has_blob(&gz) && store.variant(&plain, "gzip").unwrap().is_some());

        store.remove_manifest(&image.manifest_digest).unwrap();
        gc::collect(&store).unwrap();
        assert!(!store.has_blob(&gz) && !store.has_blob(&plain));
        assert!(!store.root().join("variants").join(plain.hex()).exists(), "the record went with its layer");
    }
}
