//! The build engine: a Dockerfile and its context in, a committed, tagged image out.
//!
//! `build` parses, lowers and plans, then builds the target stage and every stage it needs, each once,
//! independent stages at the same time (`schedule`). A stage's filesystem is a working rootfs under the store's `tmp/`, materialised from
//! its base layers only when a step needs it; each COPY/ADD writes a fresh upper dir that becomes one layer
//! and is then merged into the rootfs. Nothing is published until the whole build succeeded: a failed build
//! leaves no image and no tag (only unreferenced blobs, which gc removes).

pub mod cache;
pub mod context;
pub mod copy;
pub mod fetch;
mod fs;
pub mod images;
pub mod metadata;
pub mod progress;
pub mod runspec;
mod schedule;
mod stage;
mod steps;

use crate::digest::Digest;
use crate::dockerfile::{self, instructions, Diagnostic, Location};
use crate::layer::Compression;
use crate::plan::{self, BuildArgs};
use crate::reference::ImageRef;
use crate::store::Store;
use progress::Progress;
use stage::Executor;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Everything a build needs, validated by the CLI.
#[derive(Debug, Clone)]
pub struct BuildRequest {
    pub context_dir: PathBuf,
    /// The Dockerfile's path (for messages and to find `<Dockerfile>.dockerignore`).
    pub dockerfile: PathBuf,
    pub dockerfile_text: String,
    pub tags: Vec<ImageRef>,
    pub build_args: BuildArgs,
    pub target: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub compression: Compression,
    /// Clamp for mtimes and the `created` fields: same inputs, same digests.
    pub source_date_epoch: Option<i64>,
    /// The network RUN steps get unless they ask for another (`RUN --network=`).
    pub network: crate::sandbox::Network,
    /// The seccomp filter and resource limits of every RUN step (`--security-opt`, `--memory`,
    /// `--pids-limit`).
    pub seccomp: crate::sandbox::Seccomp,
    pub limits: crate::sandbox::Limits,
    /// Run every step even when the step cache has its result.
    pub no_cache: bool,
    pub progress: progress::Mode,
    pub quiet: bool,
    pub debug: bool,
    /// When to pull the images FROM and COPY --from name.
    pub pull: images::PullPolicy,
    /// How to reach registries for those pulls.
    pub registry: crate::registry::ClientOptions,
    /// How many stages may build at once (`--jobs`; at least 1).
    pub jobs: usize,
}

#[derive(Debug, Clone)]
pub struct BuildOutput {
    /// The image ID: the config digest, as `docker images` shows.
    pub image_id: Digest,
    pub manifest: Digest,
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Something wrong at a place in the Dockerfile (syntax, instruction, or the step that failed there).
    #[error("{0}")]
    Dockerfile(Box<Diagnostic>),
    #[error("build context {path}: {source}")]
    Context { path: String, source: context::ContextError },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Image(#[from] crate::image::ImageError),
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
}

/// A failure at an instruction, before it is given the file name.
#[derive(Debug)]
pub(crate) struct StepFailure {
    pub location: Location,
    pub message: String,
}

impl BuildRequest {
    fn file_name(&self) -> String {
        self.dockerfile.display().to_string()
    }

    fn at(&self, location: Location, message: impl Into<String>) -> BuildError {
        BuildError::Dockerfile(Box::new(Diagnostic::at_line(
            &self.file_name(),
            &self.dockerfile_text,
            location.start_line,
            message,
        )))
    }
}

/// Run a whole build and publish the image under the requested tags.
pub fn build(store: &Store, req: &BuildRequest) -> Result<BuildOutput, BuildError> {
    let progress = Progress::new(req.progress, req.quiet, req.debug);
    let parsed = dockerfile::parse(&req.dockerfile_text).map_err(|e| {
        let mut d = Diagnostic::at_line(&req.file_name(), &req.dockerfile_text, e.line, e.message.clone());
        d.column = e.column;
        if !e.source_line.is_empty() {
            d.source_line = e.source_line.clone();
        }
        BuildError::Dockerfile(Box::new(d))
    })?;
    let program = instructions::lower(&parsed).map_err(|e| req.at(e.location, e.message))?;
    let plan = plan::resolve(&program, req.build_args.clone(), req.target.as_deref()).map_err(|e| {
        if e.location.start_line == 0 {
            BuildError::Dockerfile(Box::new(Diagnostic {
                file: req.file_name(),
                line: 0,
                column: 0,
                message: e.message,
                source_line: String::new(),
            }))
        } else {
            req.at(e.location, e.message)
        }
    })?;
    let ctx = context::Context::open(&req.context_dir, &req.dockerfile)
        .map_err(|source| BuildError::Context { path: req.context_dir.display().to_string(), source })?;
    let mut exec = Executor::new(store, req, &plan, &ctx, &progress)?;
    exec.build_all(req.jobs).map_err(|f| req.at(f.location, f.message))?;
    let (image, layers) = exec.finish(plan.target, &req.labels).map_err(|f| req.at(f.location, f.message))?;
    let (image_id, manifest) = crate::image::commit(store, &image, &layers, &req.tags)?;
    let warnings = exec.unused_build_args();
    for w in &warnings {
        progress.warn(w);
    }
    progress.finish(&image_id, &req.tags);
    Ok(BuildOutput { image_id, manifest, warnings })
}
