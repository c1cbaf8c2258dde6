//! Images: references, OCI image configurations, manifests, and how they are committed to the store.
//!
//! The build executor creates a config with [`new_config`], edits it step by step ([`append_layer`],
//! [`append_empty_layer`], the `Config` fields), and calls [`commit`] once at the end, which writes the
//! config and manifest blobs and names the result in `index.json`. The image ID is the config digest, as
//! docker shows it. Docker-only config fields that oci-spec does not model (Healthcheck, OnBuild, Shell)
//! travel beside the config as [`ConfigExtensions`]. Read-side views for `inspect` live in [`inspect`]
//! and the small Go-template subset of `--format` in [`template`]. This module never writes layers.

mod commit;
mod config;
pub mod inspect;
pub mod state;

pub use crate::reference::{ImageRef, ReferenceError};
pub use crate::store::{ConfigExtensions, Healthcheck};
pub use commit::{commit, commit_annotated};
pub use config::{host_platform, timestamp};
pub use state::ImageState;

use crate::store::StoreError;

/// Everything that can go wrong while building or committing an image config.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot build {what}: {source}")]
    Spec { what: &'static str, source: oci_spec::OciSpecError },
    #[error("cannot serialise {what}: {source}")]
    Json { what: &'static str, source: serde_json::Error },
    #[error("SOURCE_DATE_EPOCH {0} is out of range")]
    Timestamp(i64),
    #[error("the image has {layers} layers but its config lists {diff_ids} diff_ids")]
    LayerCount { layers: usize, diff_ids: usize },
    #[error(transparent)]
    Config(#[from] state::ConfigError),
}
