//! The registry client: pull, push and login against any registry that speaks the OCI distribution
//! spec (v1.1) or Docker's registry v2 API.
//!
//! It owns the conversation with registries and nothing else: [`auth`] finds and saves credentials in the
//! files docker, podman and skopeo share; [`tls`] decides the scheme and the trust roots per registry;
//! [`client`] sends requests (challenge-driven Basic or Bearer auth, token cache, retries with backoff);
//! [`pull`] turns a reference into a verified image in the store and [`push`] does the reverse. Every byte
//! from a registry is hashed while it streams into a store `BlobWriter` and nothing is published before
//! every blob of the image has matched its digest and size, so a failed pull leaves `blobs/` and
//! `index.json` as they were. Manifests are kept byte for byte (docker v2s2 stays v2s2), so a digest pin
//! (`name@sha256:…`) names the same bytes in the registry and in the store.
//! This module never sends a secret anywhere but the registry (or its token realm) it belongs to, and
//! never prints one.

pub mod auth;
pub mod client;
pub mod conf;
pub mod manifest;
pub mod platform;
pub mod progress;
pub mod pull;
pub mod push;

pub mod tls;

pub use client::{Client, ClientOptions};
pub use platform::Platform;

use crate::store::StoreError;
use std::path::PathBuf;

/// Docker v2 schema 2 and OCI media types this client reads and writes.
pub mod media {
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    /// A plain-tar layer (how builds store theirs).
    pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
    pub const DOCKER_V1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";
    /// What a manifest GET accepts, in order of preference.
    pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
        application/vnd.docker.distribution.manifest.list.v2+json, \
        application/vnd.oci.image.manifest.v1+json, \
        application/vnd.docker.distribution.manifest.v2+json";
}

/// Everything that can go wrong talking to a registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(
        "{registry}: access denied (HTTP {status}): log in with `rbuild login {registry}` or check the credentials"
    )]
    Unauthorized { registry: String, status: u16 },
    #[error("{registry}: wrong username or password (HTTP {status}): check them, then `rbuild login {registry}`")]
    LoginFailed { registry: String, status: u16 },
    #[error("{reference}: not found in {registry} (unknown repository, tag or digest)")]
    NotFound { registry: String, reference: String },
    #[error("cannot reach registry {registry} ({url}): {source}")]
    Unreachable { registry: String, url: String, source: Box<ureq::Error> },
    #[error("{registry}: reading {url}: {source}")]
    Transfer { registry: String, url: String, source: std::io::Error },
    #[error("{url}: the registry answered HTTP {status}: {body}")]
    Status { url: String, status: u16, body: String },
    #[error("{registry}: the registry's authentication challenge is not understood: {challenge:?}")]
    Challenge { registry: String, challenge: String },
    #[error("{what} from {registry} is over the {limit}-byte limit")]
    TooLarge { registry: String, what: String, limit: u64 },
    #[error("{reference}: unsupported manifest media type {media_type:?} (rbuild reads OCI and docker v2 schema 2)")]
    MediaType { reference: String, media_type: String },
    #[error("{what}: malformed JSON: {source}")]
    Json { what: String, source: serde_json::Error },
    #[error("{what}: {detail}")]
    Malformed { what: String, detail: String },
    #[error("{reference}: no image for platform {wanted}; available: {}", available.join(", "))]
    NoPlatform { reference: String, wanted: String, available: Vec<String> },
    #[error("invalid platform {0:?}: expected os/arch[/variant], e.g. linux/arm64/v8")]
    Platform(String),
    #[error("{digest} from {registry}: digest mismatch: the registry sent bytes whose sha256 is {actual}")]
    DigestMismatch { registry: String, digest: String, actual: String },
    #[error("{digest} from {registry}: size mismatch: expected {expected} bytes, got {actual}")]
    SizeMismatch { registry: String, digest: String, expected: u64, actual: u64 },
    #[error("{}: {detail}", path.display())]
    AuthFile { path: PathBuf, detail: String },
    #[error("credential helper docker-credential-{helper}: {detail}")]
    Helper { helper: String, detail: String },
    #[error("{}: {detail}", path.display())]
    Certs { path: PathBuf, detail: String },
    #[error("cannot read {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: {detail}", path.display())]
    Conf { path: PathBuf, detail: String },
    #[error("{name}: registry {prefix:?} is blocked by {}", path.display())]
    Blocked { name: String, prefix: String, path: PathBuf },
    #[error("{reference}: cannot convert a {media_type:?} blob: {hint}")]
    Unconvertible { reference: String, media_type: String, hint: &'static str },
    #[error("image {0} has no tag to push to: give a destination, e.g. `rbuild push {0} REGISTRY/NAME:TAG`")]
    NoDestination(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}
