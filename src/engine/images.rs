//! Images a build names (`FROM name`, `COPY --from=name`): found in the store or pulled from their
//! registry, as `--pull` says. An image is pulled at most once per build, so `--pull=always` with the same
//! base in several stages costs one round trip.

use super::stage::{fail, image_key, lock, Executor};
use super::StepFailure;
use crate::dockerfile::Location;
use crate::emulation;
use crate::image::state::ImageState;
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
    /// The image `name`, from the store or its registry. `platform` is the one asked for (`FROM
    /// --platform`, `build --platform`): a stored image of another platform is pulled again for it, as
    /// docker does, or refused under `--pull=never`.
    pub(super) fn image(&self, name: &str, platform: Option<&Platform>, loc: Location) -> Result<Image, StepFailure> {
        let policy = self.req.pull;
        let pull_hint = |p: Option<&Platform>| match p {
            Some(p) => format!("rbuild pull --platform {} {name}", p.short()),
            None => format!("rbuild pull {name}"),
        };
        // Under --pull=always a name this build already resolved was pulled by it.
        if policy != PullPolicy::Always || lock(&self.images).contains_key(&image_key(name, platform)) {
            match self.leased_image(name, platform) {
                Ok(img) => match (platform, stored_platform(&img)) {
                    (Some(want), Some(have)) if !want.matches(&have) => {
                        if policy == PullPolicy::Never {
                            return Err(fail(
                                loc,
                                format!(
                                    "image {name} is {}, not the {} asked for (--pull=never: pull it with `{}`, or \
                                     import one with `rbuild import --platform {}`)",
                                    have.short(),
                                    want.short(),
                                    pull_hint(Some(want)),
                                    want.short()
                                ),
                            ));
                        }
                    }
                    _ => return Ok(img),
                },
                Err(StoreError::NotFound { .. }) if policy != PullPolicy::Never => {}
                Err(e) if policy == PullPolicy::Never => {
                    return Err(fail(loc, format!("{e} (--pull=never: pull it with `{}`)", pull_hint(platform))))
                }
                Err(e) => return Err(StepFailure::new(loc, "", e)),
            }
        }
        let reference = ImageRef::parse(name).map_err(|e| fail(loc, e.to_string()))?;
        let opts = PullOptions { platform: platform.cloned(), client: self.req.registry.clone() };
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
        let img =
            self.leased_image(&pulled.manifest_digest.to_string(), None).map_err(|e| StepFailure::new(loc, "", e))?;
        lock(&self.images).insert(image_key(name, platform), img.clone());
        Ok(img)
    }
}

/// The platform a stored image's config declares (`None` if it names none).
fn stored_platform(img: &Image) -> Option<Platform> {
    Platform::from_json(&serde_json::to_value(&img.config).ok()?)
}

/// `--from=name` named no stage, and no image could be had either: say both.
pub(super) fn no_stage(from: &str, e: StepFailure) -> StepFailure {
    let context = match e.context.as_str() {
        "" => format!("--from={from} (no stage of that name)"),
        c => format!("--from={from} (no stage of that name): {c}"),
    };
    StepFailure { context, ..e }
}

/// RUN executes the image's binaries: natively when the stage's platform is the host's architecture,
/// else through a binfmt_misc handler (qemu-user). Without one, say so at the RUN line, naming the
/// platform and what to install, before anything is mounted or run.
pub(super) fn check_runnable(image: &ImageState, loc: Location) -> Result<(), StepFailure> {
    let host = Platform::host();
    if emulation::native(&image.architecture, &host.arch) {
        return Ok(());
    }
    let theirs = Platform::of_image(image);
    emulation::handler_for(&image.architecture).map(|_| ()).map_err(|e| {
        fail(loc, format!("RUN for {} on this {} host needs emulation: {e}", theirs.short(), host.short()))
    })
}
