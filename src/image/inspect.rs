//! The docker-style view of an image that `rbuild inspect` prints and `--format` templates read:
//! docker's field names (`Id`, `RepoTags`, `Config.Env`, `RootFS.Layers`, …) in docker's order.

use crate::store::Image;
use oci_spec::image::History;
use serde::Serialize;
use std::collections::BTreeMap;

/// One element of `rbuild inspect`'s JSON array.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InspectView {
    pub id: String,
    pub repo_tags: Vec<String>,
    pub repo_digests: Vec<String>,
    pub parent: String,
    pub comment: String,
    pub created: String,
    pub author: String,
    pub config: InspectConfig,
    pub architecture: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    pub os: String,
    /// Compressed layers plus config, in bytes (what the store holds).
    pub size: u64,
    #[serde(rename = "RootFS")]
    pub root_fs: InspectRootFs,
    pub history: Vec<History>,
    /// The manifest digest this view was read from (not in docker's output; useful with a store).
    pub manifest_digest: String,
}

/// `Config` with docker's field names.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InspectConfig {
    pub user: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, Empty>>,
    pub env: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<super::Healthcheck>,
    pub volumes: Option<BTreeMap<String, Empty>>,
    pub working_dir: String,
    pub entrypoint: Option<Vec<String>>,
    pub on_build: Option<Vec<String>>,
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
}

/// Docker writes port and volume sets as `{"80/tcp": {}}`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Empty {}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InspectRootFs {
    #[serde(rename = "Type")]
    pub typ: String,
    pub layers: Vec<String>,
}

impl InspectView {
    pub fn of(image: &Image) -> InspectView {
        let c = &image.config;
        let cfg = c.config().clone().unwrap_or_default();
        let set = |v: &Option<Vec<String>>| v.as_ref().map(|v| v.iter().map(|k| (k.clone(), Empty {})).collect());
        let history = c.history().clone().unwrap_or_default();
        InspectView {
            id: image.config_digest.to_string(),
            repo_tags: image.names.clone(),
            repo_digests: Vec::new(),
            parent: String::new(),
            comment: history.last().and_then(|h| h.comment().clone()).unwrap_or_default(),
            created: c.created().clone().unwrap_or_default(),
            author: c.author().clone().unwrap_or_default(),
            config: InspectConfig {
                user: cfg.user().clone().unwrap_or_default(),
                exposed_ports: set(cfg.exposed_ports()),
                env: cfg.env().clone(),
                cmd: cfg.cmd().clone(),
                healthcheck: image.extensions.healthcheck.clone(),
                volumes: set(cfg.volumes()),
                working_dir: cfg.working_dir().clone().unwrap_or_default(),
                entrypoint: cfg.entrypoint().clone(),
                on_build: image.extensions.on_build.clone(),
                labels: cfg.labels().as_ref().map(|l| l.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
                stop_signal: cfg.stop_signal().clone(),
                shell: image.extensions.shell.clone(),
            },
            architecture: c.architecture().to_string(),
            variant: c.variant().clone(),
            os: c.os().to_string(),
            size: image.size(),
            root_fs: InspectRootFs { typ: c.rootfs().typ().clone(), layers: c.rootfs().diff_ids().clone() },
            history,
            manifest_digest: image.manifest_digest.to_string(),
        }
    }
}
