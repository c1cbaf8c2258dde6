//! Image archives: `save` writes images as a docker-archive (which, like `docker save` since Docker 25, is
//! also an OCI layout: `manifest.json` + `repositories` beside `oci-layout` + `index.json`, all naming the
//! same `blobs/sha256/…`) or a plain OCI archive; `load` reads either, compressed or not.
//!
//! `export` writes an image's flattened filesystem.
//!
//! Lifecycle of a load, so a hostile archive leaves the store exactly as it was: (1) unpack into a temp dir
//! under the store's `tmp/`, accepting only plain files and dirs at clean relative paths (symlinks only
//! when they stay inside, as older docker archives use them); (2) read the manifests and verify every
//! blob they name, digest and size, before anything reaches the store; (3) only then ingest the blobs
//! (verified once more while written) and name the images, under a lease so gc cannot sweep them first.

mod export;
mod load;
mod save;

pub use export::{export, flatten};
pub use load::{load, Loaded};
pub use save::{save, save_dir, Format};

use std::path::PathBuf;

/// The media types of what an archive's `index.json` names: single images and image indexes.
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("archive entry {entry:?}: {why}; refusing the archive (nothing was loaded)")]
    Entry { entry: String, why: &'static str },
    #[error("reading the archive: {0} (truncated or not a tar?); nothing was loaded")]
    Read(std::io::Error),
    #[error("{what} {}: {source}", path.display())]
    Io { what: &'static str, path: PathBuf, source: std::io::Error },
    #[error("archive: {0}; nothing was loaded")]
    Invalid(String),
    #[error("archive blob {path}: {why}; nothing was loaded")]
    Blob { path: String, why: String },
    #[error("writing the archive: {0}")]
    Write(std::io::Error),
    #[error("layer {0}: {1}")]
    Layer(String, crate::layer::LayerError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Image(#[from] crate::image::ImageError),
}
