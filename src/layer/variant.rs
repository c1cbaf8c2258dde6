//! Compression on demand: a build keeps its layers as plain tars (digest == diff_id, nothing to
//! compress while the build waits); push, save and `--output` call [`distributable`] to get the same
//! image with every plain-tar layer compressed. Each (diff_id, compression) is compressed once: the blob
//! is recorded as a variant in the store (`Store::record_variant`), so the next push or save reuses it.
//! Layers that already are compressed (pulled ones, or built with `--compression`) are left as they are.

use super::{ingest_tar, Compression, LayerError, LayerOptions};
use crate::store::{from_oci_digest, json, Image, Lease, Store, StoreError};
use oci_spec::image::{Descriptor, MediaType};

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
