//! The store's layout beyond the OCI image layout: every directory under the root is named here and
//! nowhere else, so garbage collection (`gc`, `gc_cache`) and `system check` see everything rbuild keeps.
//!
//! `oci/` (the OCI image layout: blobs, index.json), `tmp/` (writes in progress, build work dirs, `run --rm`
//! containers), `leases/` (builds and containers in flight), `snapshots/<chain-id>/` (unpacked layers),
//! `cache/steps/<key>.json` (step cache records, each naming a layer blob), `cache/images/<key>.json` (the
//! time a fully cached build gives its image), `cache/context/` (context file digests by stat stamp),
//! `cache/mounts/<id>/` (`RUN --mount=type=cache`), `containers/<id>/` (kept containers: `config.json`
//! naming the image, `state.json`, `ctr.log`, `monitor.lock`, the writable layer; see `crate::container`), `volumes/<name>/` (a volume: `_data` and `volume.json`; see
//! `crate::container::volume`), `networks/<id>.json` (a named network; `<id>.lock`, `<id>.endpoints/`: its
//! running containers; see `crate::container::networks`),
//! `variants/<diff_id>/<compression>.json` (the compressed blob made of a
//! plain-tar layer for push and `--output`; see `variants`).

use super::Store;
use std::path::PathBuf;

impl Store {
    pub fn snapshots_dir(&self) -> PathBuf {
        self.root().join("snapshots")
    }

    pub fn step_cache_dir(&self) -> PathBuf {
        self.root().join("cache/steps")
    }

    pub fn image_times_dir(&self) -> PathBuf {
        self.root().join("cache/images")
    }

    pub fn context_digests_dir(&self) -> PathBuf {
        self.root().join("cache/context")
    }

    pub fn cache_mounts_dir(&self) -> PathBuf {
        self.root().join("cache/mounts")
    }

    pub fn containers_dir(&self) -> PathBuf {
        self.root().join("containers")
    }

    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.containers_dir().join(id)
    }

    pub fn volumes_dir(&self) -> PathBuf {
        self.root().join("volumes")
    }

    pub fn volume_dir(&self, name: &str) -> PathBuf {
        self.volumes_dir().join(name)
    }

    pub fn networks_dir(&self) -> PathBuf {
        self.root().join("networks")
    }

    pub(crate) fn variants_dir(&self) -> PathBuf {
        self.root().join("variants")
    }

    pub(crate) fn leases_dir(&self) -> PathBuf {
        self.root().join("leases")
    }
}
