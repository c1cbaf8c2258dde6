//! Stage filesystems for layer steps, over either snapshot backend.
//!
//! A layer step (COPY, ADD, RUN) asks for a [`StepFs`]: with overlay, the stage's snapshot chain as lower
//! dirs plus a fresh upper dir; with the copy backend, the stage's flattened rootfs plus a fresh upper dir.
//! When the step is done, [`Executor::finish_step`] tars the upper dir into the layer and moves the stage
//! forward: overlay adopts the upper dir as the next snapshot; copy merges it into the rootfs (COPY) or
//! already has the change in place (RUN). Read-only views of other stages and images (`COPY --from`,
//! `RUN --mount=from=`) are made here too, once per build.

use super::stage::{fail, lock, Executor, StageState};
use super::{StepError, StepFailure};
use crate::digest::Digest;
use crate::dockerfile::instructions::Step;
use crate::dockerfile::Location;
use crate::fsops;
use crate::image::state::ImageState;
use crate::layer::{self, LayerOptions};
use crate::snapshot::overlay::OverlayMount;
use crate::snapshot::{chain_ids, Backend};
use oci_spec::image::Descriptor;
use std::path::{Path, PathBuf};

/// The filesystem one layer step writes into.
pub(crate) enum StepFs {
    Overlay { lowers: Vec<PathBuf>, upper: PathBuf, work: PathBuf },
    Copy { rootfs: PathBuf, upper: PathBuf },
}

impl StepFs {
    pub fn upper(&self) -> &Path {
        match self {
            StepFs::Overlay { upper, .. } | StepFs::Copy { upper, .. } => upper,
        }
    }
}

impl Executor<'_> {
    /// A fresh writable filesystem for the next layer step of `st`.
    pub(super) fn prepare_step(&self, st: &mut StageState, loc: Location) -> Result<StepFs, StepFailure> {
        let io = |e: std::io::Error| StepFailure::io(loc, "", "creating a work dir", e);
        self.ensure_layers(&st.layers, loc)?;
        match self.backend() {
            Backend::Overlay => {
                let mut lowers =
                    self.snapshots.lowers(&st.layers, &st.image.diff_ids).map_err(|e| StepFailure::new(loc, "", e))?;
                if lowers.is_empty() {
                    // FROM scratch: overlayfs wants a lower dir, so give it an empty one.
                    let empty = self.work.path().join("empty");
                    std::fs::create_dir_all(&empty).map_err(io)?;
                    lowers.push(empty);
                }
                let upper = self.new_dir("upper").map_err(io)?;
                let work = self.new_dir("work").map_err(io)?;
                Ok(StepFs::Overlay { lowers, upper, work })
            }
            Backend::Copy => {
                let rootfs = self.rootfs(&st.layers, &st.rootfs, loc)?;
                st.rootfs = Some(rootfs.clone());
                let upper = self.new_dir("upper").map_err(io)?;
                Ok(StepFs::Copy { rootfs, upper })
            }
        }
    }

    /// Mount the step's filesystem in rbuild's private namespace (overlay) for rbuild's own writes (COPY);
    /// the returned guard unmounts it. The copy backend needs no mount: `None`.
    pub(super) fn mount_step(&self, fs: &StepFs, loc: Location) -> Result<Option<OverlayMount>, StepFailure> {
        let StepFs::Overlay { lowers, upper, work } = fs else { return Ok(None) };
        let merged = self.new_dir("merged").map_err(|e| StepFailure::io(loc, "", "creating a mount point", e))?;
        let empty = self.work.path().join("empty");
        OverlayMount::mount(lowers, Some((upper, work)), &merged, &empty)
            .map(Some)
            .map_err(|e| StepFailure::new(loc, "", e))
    }

    /// Turn the step's upper dir into a layer and move the stage forward to include it.
    pub(super) fn finish_step(
        &self,
        st: &mut StageState,
        fs: StepFs,
        step: &Step,
        merge_upper: bool,
    ) -> Result<(), StepFailure> {
        let loc = step.location;
        self.progress.phase("writing the layer");
        let opts = LayerOptions { compression: self.req.compression, source_date_epoch: self.req.source_date_epoch };
        let layer =
            layer::write(self.store, fs.upper(), &opts).map_err(|e| StepFailure::new(loc, "writing the layer", e))?;
        // A new blob is kept by the lease's start time, a reused one was touched by the writer; naming it
        // keeps it whatever its mtime says.
        let store_failed = |e| StepFailure::new(loc, "writing the layer", StepError::Store(e));
        let digest = crate::store::from_oci_digest(layer.descriptor.digest()).map_err(store_failed)?;
        lock(&self.lease).protect(&digest).map_err(store_failed)?;
        let mut diff_ids = st.image.diff_ids.clone();
        diff_ids.push(layer.diff_id.clone());
        match fs {
            StepFs::Overlay { upper, work, .. } => {
                let chain = chain_ids(&diff_ids).pop().unwrap_or_else(|| layer.diff_id.clone());
                self.snapshots.adopt(&upper, &chain).map_err(|e| StepFailure::new(loc, "", e))?;
                let _ = std::fs::remove_dir_all(work);
            }
            StepFs::Copy { rootfs, upper } => {
                if merge_upper {
                    fsops::merge_into(&upper, &rootfs)
                        .map_err(|e| StepFailure::io(loc, "", "applying the layer", e))?;
                }
                let _ = std::fs::remove_dir_all(upper);
            }
        }
        st.layers.push(layer.descriptor);
        st.image.diff_ids.push(layer.diff_id);
        self.history(st, step, false);
        Ok(())
    }

    /// The copy backend's flattened rootfs of a layer chain, extracted the first time it is needed.
    pub(super) fn rootfs(
        &self,
        layers: &[Descriptor],
        existing: &Option<PathBuf>,
        loc: Location,
    ) -> Result<PathBuf, StepFailure> {
        if let Some(p) = existing {
            return Ok(p.clone());
        }
        let dir = self.new_dir("rootfs").map_err(|e| StepFailure::io(loc, "", "creating a rootfs", e))?;
        for l in layers {
            layer::extract(self.store, l, &dir)
                .map_err(|e| StepFailure::new(loc, format!("unpacking layer {}", l.digest()), e))?;
        }
        Ok(dir)
    }

    /// A read-only view of a layer chain, made once per build and kept (mounted) until the build ends.
    fn view(
        &self,
        key: String,
        layers: &[Descriptor],
        diff_ids: &[Digest],
        loc: Location,
    ) -> Result<PathBuf, StepFailure> {
        // Held while the view is made: two stages asking for the same view get one.
        let mut views = lock(&self.views);
        if let Some(p) = views.get(&key) {
            return Ok(p.clone());
        }
        self.ensure_layers(layers, loc)?;
        let path = match self.backend() {
            Backend::Copy => self.rootfs(layers, &None, loc)?,
            Backend::Overlay => {
                let lowers = self.snapshots.lowers(layers, diff_ids).map_err(|e| StepFailure::new(loc, "", e))?;
                match lowers.as_slice() {
                    [] => self.new_dir("empty-view").map_err(|e| fail(loc, format!("creating a view: {e}")))?,
                    [only] => only.clone(),
                    _ => {
                        let target = self.new_dir("view").map_err(|e| fail(loc, format!("creating a view: {e}")))?;
                        let empty = self.work.path().join("empty");
                        let m = OverlayMount::mount(&lowers, None, &target, &empty)
                            .map_err(|e| StepFailure::new(loc, "", e))?;
                        lock(&self.mounts).push(m);
                        target
                    }
                }
            }
        };
        views.insert(key, path.clone());
        Ok(path)
    }

    /// The files of another stage (built on demand) or of an image in the store, for `COPY --from` and
    /// `RUN --mount=from=`. Returns the view and how messages name it.
    pub(super) fn source_view(&self, from: &str, loc: Location) -> Result<(PathBuf, String), StepFailure> {
        if let Some(i) = self.plan.stage_by_ref(from) {
            let (layers, diff_ids, existing) = {
                let s = self.finished(i, loc)?;
                (s.layers.clone(), s.image.diff_ids.clone(), s.rootfs.clone())
            };
            let name = format!("stage {:?}", self.plan.stages[i].display_name());
            // With the copy backend a finished stage's own rootfs is already the view.
            if let (Backend::Copy, Some(root)) = (self.backend(), existing) {
                return Ok((root, name));
            }
            return Ok((self.view(format!("stage:{i}"), &layers, &diff_ids, loc)?, name));
        }
        let img = self.image(from, None, loc).map_err(|e| super::images::no_stage(from, e))?;
        let bytes = self.store.read_blob(&img.config_digest).map_err(|e| StepFailure::new(loc, "", e))?;
        let state = ImageState::from_json(&bytes).map_err(|e| fail(loc, format!("image {from}: {e}")))?;
        let view = self.view(format!("image:{}", img.manifest_digest), img.manifest.layers(), &state.diff_ids, loc)?;
        Ok((view, format!("image {from:?}")))
    }
}
