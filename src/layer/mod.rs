//! Layers: a directory tree becomes a compressed tar blob in the store ([`write`]), and a layer blob
//! becomes files in a directory ([`extract`]).
//!
//! `write` makes one streaming pass — tar → sha256 (diff_id) → compressor → sha256 (digest) → temp file →
//! commit into `blobs/` — and never holds a layer in memory; both hashes and the file writes run on
//! worker threads beside the compressor (see docs/layers.md). Entries are sorted, so the same tree gives
//! the same bytes; with `source_date_epoch` every mtime is clamped to it, so the digest is reproducible.
//! Overlay whiteouts (char device 0/0, opaque-dir xattrs) become OCI whiteouts (`.wh.NAME`,
//! `.wh..wh..opq`). `extract` is the only way tar content reaches disk and must never write outside its
//! target: `..` and absolute entry names are refused, and every parent is resolved inside the target as
//! if it were the root, so a symlink can never lead out of it.

mod compress;
mod extract;
pub mod limits;
mod pgzip;
mod rootpath;
mod variant;
mod whiteout;
mod write;
// FFI to the zstd library for the one parameter the zstd crate cannot set.
#[allow(unsafe_code)]
mod zstd_writer;

pub use compress::{decompress, is_tar_archive, Compression};
pub use extract::{extract, extract_tar, extract_tar_within, extract_with, Whiteouts};
pub use limits::ArchiveLimits;
pub use variant::{compressed, distributable, distributable_digest};
pub use whiteout::{is_opaque_dir, is_overlay_whiteout};
pub use write::{ingest_tar, write, write_tree};

use crate::digest::Digest;
use crate::store::StoreError;
use oci_spec::image::Descriptor;
use std::io;
use std::path::PathBuf;

/// How to write a layer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LayerOptions {
    pub compression: Compression,
    /// Clamp every mtime to this (seconds since the epoch), for reproducible digests.
    pub source_date_epoch: Option<i64>,
}

/// A layer written into the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// Media type, digest and size of the compressed blob, as the manifest lists it.
    pub descriptor: Descriptor,
    /// sha256 of the uncompressed tar, as the config's `rootfs.diff_ids` lists it.
    pub diff_id: Digest,
}

/// Everything that can go wrong writing or extracting a layer.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{what} {}: {source}", path.display())]
    Io { what: &'static str, path: PathBuf, source: io::Error },
    #[error("cannot write the layer tar: {0}")]
    TarWrite(io::Error),
    #[error("cannot read the layer tar: {0}")]
    TarRead(io::Error),
    #[error("tar entry {entry:?}: {reason}")]
    UnsafeEntry { entry: String, reason: &'static str },
    #[error("tar entry {entry:?}: hard link target {target:?} {reason}")]
    BadLink { entry: String, target: String, reason: &'static str },
    #[error("tar entry {entry:?}: unsupported entry type {kind:?}")]
    UnsupportedEntry { entry: String, kind: char },
    #[error("tar entry {entry:?}: cannot {what}: {source}")]
    Entry { entry: String, what: &'static str, source: io::Error },
    #[error("unsupported layer media type {0}")]
    MediaType(String),
}

impl LayerError {
    pub(crate) fn io<'a>(what: &'static str, path: &'a std::path::Path) -> impl FnOnce(io::Error) -> LayerError + 'a {
        move |source| LayerError::Io { what, path: path.to_path_buf(), source }
    }
}

#[cfg(test)]
mod pipeline_tests;
#[cfg(test)]
mod tests;
