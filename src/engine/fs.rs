//! Stage filesystems for layer steps, through the snapshotter seam (`snapshot::Snapshotter`).
//!
//! A layer step (COPY, ADD, RUN) prepares an active snapshot on its stage's chain; when the step is done,
//! [`Executor::finish_step`] tars the snapshot's changes into the layer and commits the snapshot, which
//! moves the stage forward. Read-only views of other stages and images (`COPY --from`,
//! `RUN --mount=from=`) are made here too, once per build.

use super::named::NamedContext;
use super::stage::{fail, lock, Executor, StageState};
use super::{StepError, StepFailure};
use crate::dockerfile::instructions::Step;
use crate::dockerfile::Location;
use crate::image::state::ImageState;
use crate::layer::{self, LayerOptions};
use crate::snapshot::{Active, Flat, Parent};
use std::path::PathBuf;

impl Executor<'_> {
    /// A fresh writable snapshot for the next layer step of `st` (the copy backend takes over the stage's
    /// flat rootfs until the step commits).
    pub(super) fn prepare_step(&self, st: &mut StageState, loc: Location) -> Result<Active, StepFailure> {
        self.ensure_layers(&st.layers, loc)?;
        let at = self.new_dir("step").map_err(|e| StepFailure::io(loc, "", "creating a work dir", e))?;
        let parent = Parent { layers: &st.layers, diff_ids: &st.image.diff_ids };
        self.snapshotter().prepare(parent, st.flat.take(), &at).map_err(|e| StepFailure::new(loc, "", e))
    }

    /// Turn the step's changes into a layer and commit the snapshot: the stage moves forward to include it.
    pub(super) fn finish_step(&self, st: &mut StageState, mut fs: Active, step: &Step) -> Result<(), StepFailure> {
        let loc = step.location;
        self.progress.phase("writing the layer");
        let opts = LayerOptions { compression: self.req.compression, source_date_epoch: self.req.source_date_epoch };
        let changes = fs.changes().map_err(|e| StepFailure::new(loc, "", e))?;
        let layer =
            layer::write(self.store, changes, &opts).map_err(|e| StepFailure::new(loc, "writing the layer", e))?;
        // A new blob is kept by the lease's start time, a reused one was touched by the writer; naming it
        // keeps it whatever its mtime says.
        let store_failed = |e| StepFailure::new(loc, "writing the layer", StepError::Store(e));
        let digest = crate::store::from_oci_digest(layer.descriptor.digest()).map_err(store_failed)?;
        lock(&self.lease).protect(&digest).map_err(store_failed)?;
        st.flat = self.snapshotter().commit(fs, &layer.diff_id).map_err(|e| StepFailure::new(loc, "", e))?;
        st.layers.push(layer.descriptor);
        st.image.diff_ids.push(layer.diff_id);
        self.history(st, step, false);
        Ok(())
    }

    /// A read-only view of a layer chain, made once per build and kept (mounted) until the build ends;
    /// the copy backend takes a finished stage's `flat` rootfs as it is.
    fn view(
        &self,
        key: String,
        parent: Parent<'_>,
        flat: Option<&Flat>,
        loc: Location,
    ) -> Result<PathBuf, StepFailure> {
        // Held while the view is made: two stages asking for the same view get one.
        let mut views = lock(&self.views);
        if let Some(p) = views.get(&key) {
            return Ok(p.clone());
        }
        self.ensure_layers(parent.layers, loc)?;
        let at = self.new_dir("view").map_err(|e| StepFailure::io(loc, "", "creating a view", e))?;
        let view = self.snapshotter().view(parent, flat, &at).map_err(|e| StepFailure::new(loc, "", e))?;
        let path = view.path().to_path_buf();
        lock(&self.mounts).push(view);
        views.insert(key, path.clone());
        Ok(path)
    }

    /// The files of another stage (built on demand) or of an image in the store, for `COPY --from` and
    /// `RUN --mount=from=`. Returns the view and how messages name it.
    pub(super) fn source_view(&self, from: &str, loc: Location) -> Result<(PathBuf, String), StepFailure> {
        let (from, named) = match self.req.build_contexts.get(from) {
            Some(NamedContext::Dir { root, .. }) => return Ok((root.clone(), format!("build context {from:?}"))),
            Some(NamedContext::Image(reference)) => (reference.as_str(), true),
            None => (from, false),
        };
        // A docker-image:// context names an image, never a stage.
        if let Some(i) = self.plan.stage_by_ref(from).filter(|_| !named) {
            let s = self.finished(i, loc)?;
            let name = format!("stage {:?}", self.plan.stages[i].display_name());
            let parent = Parent { layers: &s.layers, diff_ids: &s.image.diff_ids };
            return Ok((self.view(format!("stage:{i}"), parent, s.flat.as_ref(), loc)?, name));
        }
        let img = self.image(from, self.plan.platform.as_ref(), loc).map_err(|e| super::images::no_stage(from, e))?;
        let bytes = self.store.read_blob(&img.config_digest).map_err(|e| StepFailure::new(loc, "", e))?;
        let state = ImageState::from_json(&bytes).map_err(|e| fail(loc, format!("image {from}: {e}")))?;
        let parent = Parent { layers: img.manifest.layers(), diff_ids: &state.diff_ids };
        let view = self.view(format!("image:{}", img.manifest_digest), parent, None, loc)?;
        Ok((view, format!("image {from:?}")))
    }
}
