//! The build engine: a Dockerfile and its context in, a committed, tagged image out.
//!
//! `build` parses, lowers and plans, then builds the target stage and every stage it needs, each once,
//! independent stages at the same time (`schedule`). A stage's filesystem is a working rootfs under the store's `tmp/`, materialised from
//! its base layers only when a step needs it; each COPY/ADD writes a fresh upper dir that becomes one layer
//! and is then merged into the rootfs. Nothing is published until the whole build succeeded: a failed build
//! leaves no image and no tag (only unreferenced blobs, which gc removes).

pub mod cache;
mod cache_mount;
mod cache_remote;
pub mod context;
pub mod copy;
pub mod fetch;
mod file_digests;
mod fs;
pub mod git;
pub mod images;
pub mod metadata;
pub mod multi;
pub mod named;
pub mod output;
pub mod progress;
mod reuse;
pub mod runspec;
mod schedule;
pub mod secrets;
pub mod squash;
mod stage;
mod steps;

use crate::digest::Digest;
use crate::dockerfile::{self, instructions, Diagnostic, Location, Position};
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
    /// `--secret` values for `RUN --mount=type=secret` (never in the image or the cache).
    pub secrets: secrets::Secrets,
    /// `--ssh` agent sockets for `RUN --mount=type=ssh`.
    pub ssh: secrets::SshAgents,
    pub target: Option<String>,
    /// The platform to build for (`--platform`); `None`: the host's.
    pub platform: Option<crate::registry::Platform>,
    /// `--build-context` names, resolved before stages and images of the same name.
    pub build_contexts: named::NamedContexts,
    pub labels: BTreeMap<String, String>,
    pub compression: Compression,
    /// Clamp for mtimes and the `created` fields: same inputs, same digests.
    pub source_date_epoch: Option<i64>,
    /// The network RUN steps get unless they ask for another (`RUN --network=`).
    pub network: crate::sandbox::Network,
    /// `--add-host` lines (`IP\tNAME`) RUN steps find in /etc/hosts after the usual ones.
    pub extra_hosts: Vec<String>,
    /// The seccomp filter and resource limits of every RUN step (`--security-opt`, `--memory`,
    /// `--pids-limit`).
    pub seccomp: crate::sandbox::Seccomp,
    pub limits: crate::sandbox::Limits,
    /// Run every step even when the step cache has its result.
    pub no_cache: bool,
    /// `--no-cache-filter`: the stages (by name) whose steps run even when the step cache has them.
    pub no_cache_filter: Vec<String>,
    /// `--squash`: the target stage's new layers become one.
    pub squash: bool,
    /// `--annotation`: annotations of the image manifest.
    pub annotations: BTreeMap<String, String>,
    pub progress: progress::Mode,
    pub quiet: bool,
    pub debug: bool,
    /// When to pull the images FROM and COPY --from name.
    pub pull: images::PullPolicy,
    /// How to reach registries for those pulls.
    pub registry: crate::registry::ClientOptions,
    /// Where to export the build cache (`--cache-to`), and the caches to consult (`--cache-from`).
    pub cache_to: Vec<crate::cachex::CacheTo>,
    pub cache_from: Vec<crate::cachex::CacheFrom>,
    /// How many stages may build at once (`--jobs`; at least 1).
    pub jobs: usize,
    /// The rbuild binary RUN re-executes as the sandbox init; `None` is this process's own binary (see
    /// `sandbox::run_with_init`: programs and tests that link the library point it at rbuild).
    pub sandbox_init: Option<PathBuf>,
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
    /// Something wrong at a place in the Dockerfile (syntax, instruction, plan).
    #[error("{0}")]
    Dockerfile(Box<Diagnostic>),
    /// A step failed: where (the diagnostic, rendered once) and why, typed to the leaf that failed.
    #[error("{diagnostic}")]
    Step { diagnostic: Box<Diagnostic>, source: StepError },
    #[error("build context {path}: {source}")]
    Context { path: String, source: context::ContextError },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Image(#[from] crate::image::ImageError),
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error(transparent)]
    Cache(#[from] crate::cachex::CacheError),
}

/// Why a step failed, kept typed down to the module that failed (not flattened into text), so callers
/// and tests can match it and the CLI prints the cause chain under the Dockerfile line.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Layer(#[from] crate::layer::LayerError),
    #[error(transparent)]
    Snapshot(#[from] crate::snapshot::SnapshotError),
    #[error(transparent)]
    Sandbox(#[from] crate::sandbox::SandboxError),
    #[error(transparent)]
    Copy(#[from] copy::CopyError),
    #[error(transparent)]
    Fetch(#[from] fetch::FetchError),
    #[error(transparent)]
    Git(#[from] git::GitError),
    #[error(transparent)]
    Registry(#[from] crate::registry::RegistryError),
    #[error(transparent)]
    Squash(#[from] squash::SquashError),
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    /// RUN's command ran and failed.
    #[error("process {argv} did not complete successfully: exit code: {code}{hint}")]
    Exit { argv: String, code: i32, hint: String },
    /// The instruction cannot do what it says here: a value, a source, a stage or an image that does not
    /// fit (the message says which and what to do).
    #[error("{0}")]
    Instruction(String),
}

/// A failure at an instruction, before it is given the file name: `context` names the instruction (and
/// flag) as the message starts, e.g. `RUN --mount`.
#[derive(Debug)]
pub(crate) struct StepFailure {
    pub location: Location,
    /// The word at fault (a flag) when it is known; else the message points at the instruction.
    pub at: Option<Position>,
    pub context: String,
    /// Boxed: failures travel up through every step function, which should stay cheap to return.
    pub error: Box<StepError>,
}

impl StepFailure {
    pub fn new(location: Location, context: impl Into<String>, error: impl Into<StepError>) -> StepFailure {
        StepFailure { location, at: None, context: context.into(), error: Box::new(error.into()) }
    }

    /// Point at the flag the failure comes from (`step.flag_at(..)`), unless it points somewhere already.
    pub fn at(mut self, at: Option<Position>) -> StepFailure {
        self.at = self.at.or(at);
        self
    }

    /// `what` failed with an I/O error.
    pub fn io(location: Location, context: &str, what: impl Into<String>, source: std::io::Error) -> StepFailure {
        StepFailure::new(location, context, StepError::Io { what: what.into(), source })
    }
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

    /// A failed step as the user reads it: `Dockerfile:12:1: RUN --mount: <why>`, the line under it.
    fn failed(&self, f: StepFailure) -> BuildError {
        let message = if f.context.is_empty() { f.error.to_string() } else { format!("{}: {}", f.context, f.error) };
        let diagnostic = match f.at {
            Some(at) => Diagnostic::at(&self.file_name(), &self.dockerfile_text, at, message),
            None => Diagnostic::at_line(&self.file_name(), &self.dockerfile_text, f.location.start_line, message),
        };
        BuildError::Step { diagnostic: Box::new(diagnostic), source: *f.error }
    }
}

/// Run a whole build and publish the image under the requested tags.
pub fn build(store: &Store, req: &BuildRequest) -> Result<BuildOutput, BuildError> {
    build_image(store, req, true).map(|built| built.output)
}

/// A finished image: what `build` reports, the config it wrote, and its manifest's descriptor.
pub(crate) struct Built {
    pub output: BuildOutput,
    pub image: crate::image::ImageState,
    pub manifest: oci_spec::image::Descriptor,
}

/// Run a whole build; with `name`, publish the image under the requested tags (else only its blobs are
/// written, for an index to name: `multi`).
fn build_image(store: &Store, req: &BuildRequest, name: bool) -> Result<Built, BuildError> {
    let progress = Progress::new(req.progress, req.quiet, req.debug);
    let parsed = dockerfile::parse(&req.dockerfile_text).map_err(|e| {
        let mut d = Diagnostic::at_line(&req.file_name(), &req.dockerfile_text, e.line, e.message.clone());
        d.column = e.column;
        if !e.source_line.is_empty() {
            d.source_line = e.source_line.clone();
        }
        BuildError::Dockerfile(Box::new(d))
    })?;
    let program = instructions::lower(&parsed).map_err(|e| {
        let mut d = Diagnostic::at_line(&req.file_name(), &req.dockerfile_text, e.location.start_line, e.message);
        if let Some(at) = e.at {
            d = Diagnostic::at(&d.file, &req.dockerfile_text, at, d.message);
        }
        BuildError::Dockerfile(Box::new(d))
    })?;
    let plan = plan::resolve_for(&program, req.build_args.clone(), req.target.as_deref(), req.platform.as_ref())
        .and_then(|mut plan| req.build_contexts.rebase(&mut plan).map(|()| plan))
        .map_err(|e| {
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
    // The context digests are read (a few MB for a big context) while the context is walked.
    let (ctx, files) = std::thread::scope(|s| {
        let files = s.spawn(|| cache::FileDigests::load(store, &req.context_dir));
        let ctx = context::Context::open(&req.context_dir, &req.dockerfile);
        // A thread that died left no digests: they are only a cache.
        (ctx, files.join().unwrap_or_else(|_| cache::FileDigests::none(store, &req.context_dir)))
    });
    let ctx = ctx.map_err(|source| BuildError::Context { path: req.context_dir.display().to_string(), source })?;
    let mut exec = Executor::new(store, req, &plan, &ctx, files, &progress)?;
    exec.import_caches();
    exec.build_all(req.jobs).map_err(|f| req.failed(f))?;
    let final_key = exec.stages[plan.target].get().map(|s| s.key.clone());
    let (image, layers) = exec.finish(plan.target, &req.labels).map_err(|f| req.failed(f))?;
    // Layers taken from an imported cache are fetched now if nothing needed their bytes before.
    exec.fetch_imported(&layers)?;
    let (image_id, manifest_desc) = crate::image::write(store, &image, &layers, &req.annotations)?;
    if name {
        store.add_manifest(&manifest_desc, &req.tags)?;
    }
    let manifest = crate::store::from_oci_digest(manifest_desc.digest())?;
    if let Some(key) = final_key.filter(|_| !req.cache_to.is_empty()) {
        exec.export_caches(&key)?;
    }
    let warnings = exec.unused_build_args();
    for w in &warnings {
        progress.warn(w);
    }
    progress.finish(&image_id, &req.tags);
    Ok(Built { output: BuildOutput { image_id, manifest, warnings }, image, manifest: manifest_desc })
}
