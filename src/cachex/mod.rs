//! The exportable build cache (`--cache-to` / `--cache-from`): how a fleet of CI runners shares step
//! results through a registry (or an OCI layout dir) with no cache server and no daemon.
//!
//! It owns the cache artifact and nothing of the build itself: [`spec`] turns the buildx-style option
//! lists into typed requests; [`format`] is the artifact's config (cache records, image times, cache
//! mounts); [`export`] writes an artifact from what a build used and sends it to a registry or a
//! directory; [`import`] reads artifacts at build start and fetches their blobs — digest-verified, into
//! the store's own `BlobWriter` — only when the build asks for one. The engine's step cache consults the
//! imported records when its own records miss (`engine::cache`). The format is described in
//! `docs/cache.md`. A cache that cannot be read is a warning (as in buildx), never a failed build; a blob
//! that does not match its digest is an error, never a wrong image.

pub mod export;
pub mod format;
pub mod import;
pub mod spec;

pub use format::{CacheConfig, ImageTime, MountRecord, Record};
pub use import::Imported;
pub use spec::{CacheFrom, CacheTo, ExportMode};

use crate::registry::RegistryError;
use crate::store::StoreError;
use std::path::PathBuf;

/// What can go wrong exporting or importing a build cache.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("{0}")]
    Spec(String),
    #[error("cache {cache}: {source}")]
    Registry { cache: String, source: Box<RegistryError> },
    #[error("cache {cache}: {source}")]
    Store { cache: String, source: StoreError },
    #[error("cache {cache}: {}: {source}", path.display())]
    Io { cache: String, path: PathBuf, source: std::io::Error },
    #[error("cache {cache}: {what} is not a valid rbuild cache: {detail}")]
    Format { cache: String, what: String, detail: String },
    #[error("cache {cache}: blob {digest} does not match its digest (got {actual}): the cache was altered")]
    DigestMismatch { cache: String, digest: String, actual: String },
    #[error("cache {cache}: exporting cache mount {id:?}: {source}")]
    Mount { cache: String, id: String, source: crate::layer::LayerError },
    #[error("no imported cache holds blob {0}")]
    NoSource(String),
}
