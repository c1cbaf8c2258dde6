//! Images a build names (`FROM name`, `COPY --from=name`): found in the store or pulled from their
//! registry, as `--pull` says. An image is pulled at most once per build, so `--pull=always` with the same
//! base in several stages costs one round trip.

use super::stage::{fail, lock, Executor};
use super::StepFailure;
use crate::dockerfile::instructions::Command;
use crate::dockerfile::Location;
use crate::image::state::ImageState;
use crate::plan::PlannedStage;
use crate::reference::ImageRef;
use crate::registry::progress::{Style, TransferProgress};
use crate::registry::pull::{self, PullOptions};
use crate::registry::Platform;
use crate::store::{Image, StoreError};

/// When a build asks a registry for the images it names (docker's `--pull`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum PullPolicy {
    /// Pull only images the store does not have
    #[default]
    Missing,
    /// Pull every image, even when the store has one of that name
    Always,
    /// Never pull: every image must be in the store
    Never,
}

impl Executor<'_> {
    /// The image `name`, from the store or its registry. `platform` is a `FROM --platform` value.
    pub(super) fn image(&self, name: &str, platform: Option<&str>, loc: Location) -> Result<Image, StepFailure> {
        let policy = self.req.pull;
        // Under --pull=always a name this build already resolved was pulled by it.
        if policy != PullPolicy::Always || lock(&self.images).contains_key(name) {
            match self.leased_image(name) {
                Ok(img) => return Ok(img),
                Err(StoreError::NotFound { .. }) if policy != PullPolicy::Never => {}
                Err(e) if policy == PullPolicy::Never => {
                    return Err(fail(loc, format!("{e} (--pull=never: pull it with `rbuild pull {name}`)")))
                }
                Err(e) => return Err(StepFailure::new(loc, "", e)),
            }
        }
        let reference = ImageRef::parse(name).map_err(|e| fail(loc, e.to_string()))?;
        let platform = platform.map(Platform::parse).transpose().map_err(|e| fail(loc, format!("--platform: {e}")))?;
        let opts = PullOptions { platform, client: self.req.registry.clone() };
        use super::progress::Mode;
        let style = match (self.req.quiet, self.req.progress.resolve()) {
            (true, _) => Style::Quiet,
            (false, Mode::Tty) => Style::Tty,
            (false, Mode::Json) => Style::Json,
            (false, _) => Style::Plain,
        };
        let progress = TransferProgress::new(style);
        progress.message(&format!("Pulling {reference} from {}", reference.domain()));
        let pulled = pull::pull(self.store, &reference, &opts, &progress)
            .map_err(|e| StepFailure::new(loc, format!("pulling {reference}"), e))?;
        let img = self.leased_image(&pulled.manifest_digest.to_string()).map_err(|e| StepFailure::new(loc, "", e))?;
        lock(&self.images).insert(name.to_string(), img.clone());
        Ok(img)
    }
}

/// `--from=name` named no stage, and no image could be had either: say both.
pub(super) fn no_stage(from: &str, e: StepFailure) -> StepFailure {
    let context = match e.context.as_str() {
        "" => format!("--from={from} (no stage of that name)"),
        c => format!("--from={from} (no stage of that name): {c}"),
    };
    StepFailure { context, ..e }
}

/// RUN executes the image's binaries on this host: an image of another platform cannot run without
/// emulation, which rbuild does not have. Refuse at the FROM line rather than fail obscurely in RUN (or,
/// worse, build something that is not what `--platform` asked for).
pub(super) fn check_runnable(stage: &PlannedStage, image: &ImageState, name: &str) -> Result<(), StepFailure> {
    if !stage.steps.iter().any(|s| matches!(s.command, Command::Run(_))) {
        return Ok(());
    }
    let theirs = Platform { os: image.os.clone(), arch: image.architecture.clone(), variant: None };
    let host = Platform::host();
    if host.matches(&theirs) {
        return Ok(());
    }
    Err(fail(
        stage.location,
        format!(
            "{name} is a {theirs} image and this host is {host}: RUN cannot execute it (rbuild has no \
             emulation); build on a {theirs} host, or use a {host} base"
        ),
    ))
}
