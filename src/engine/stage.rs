//! Executing stages: resolve the base, run ONBUILD triggers, dispatch each step (one function per
//! instruction kind), and keep each finished stage for the stages that build on it or copy from it.

use super::cache::{root_key, FileDigests, StepCache};
use super::context::Context;
use super::metadata::{self as meta, StageVars};
use super::progress::Progress;
use super::{BuildError, BuildRequest, StepFailure};
use crate::digest::Digest;
use crate::dockerfile::expand::Expander;
use crate::dockerfile::instructions::{self, ArgDecl, Command, Step};
use crate::dockerfile::{self, Location};
use crate::image::state::{HistoryEntry, ImageState};
use crate::plan::{args::PREDEFINED_PROXY_ARGS, Base, Plan, Scope};
use crate::registry::Platform;
use crate::snapshot::{Flat, Snapshotter, View};
use crate::store::{Image, Lease, Store, StoreError};
use oci_spec::image::Descriptor;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// How a step ended: run, or taken from the step cache.
pub(crate) enum Outcome {
    Done,
    Cached,
}

/// A stage as it stands (while running) or as it ended.
pub(crate) struct StageState {
    /// The step-cache key of everything so far (see `cache`).
    pub key: Digest,
    pub image: ImageState,
    pub layers: Vec<Descriptor>,
    /// Copy backend: the stage's flattened filesystem, once a step or another stage needed it.
    pub flat: Option<Flat>,
    pub args: Scope,
    pub cmd_set: bool,
    /// `--no-cache-filter` names this stage: its steps always run.
    pub no_cache: bool,
    /// How many of `layers` the stage's base had (`--squash` merges the rest).
    pub base_layers: usize,
}

/// Runs the stages of a plan. Shared by the threads that build independent stages at once (see
/// `schedule`): what a step changes is its own `StageState`; what the build shares is behind a lock.
pub(crate) struct Executor<'a> {
    pub(super) store: &'a Store,
    pub(super) req: &'a BuildRequest,
    pub(super) plan: &'a Plan,
    pub(super) ctx: &'a Context,
    pub(super) progress: &'a Progress,
    /// The snapshotter, its backend decided when a step first needs a filesystem (see
    /// [`Executor::snapshotter`]).
    snapshotter: OnceLock<Snapshotter<'a>>,
    pub(super) cache: StepCache,
    pub(super) files: Mutex<FileDigests>,
    /// Keeps this build's blobs, and those of every image it reads, from a concurrent gc until the image
    /// is committed.
    pub(super) lease: Mutex<Lease>,
    // Declared before `work`: views are unmounted before their mount points are deleted.
    pub(super) mounts: Mutex<Vec<View>>,
    pub(super) work: tempfile::TempDir,
    dirs: AtomicUsize,
    /// Each stage's final state, set once when it finished.
    pub(super) stages: Vec<OnceLock<StageState>>,
    /// Which stages are waiting, building or done (see `schedule`).
    pub(super) schedule: super::schedule::Board,
    /// Read-only views of other stages and images (`COPY --from`), made once per build.
    pub(super) views: Mutex<BTreeMap<String, PathBuf>>,
    declared_args: Mutex<BTreeSet<String>>,
    pub(super) expander: Expander,
    /// Images named by FROM, `COPY --from` and `RUN --mount from=`, as resolved and leased.
    pub(super) images: Mutex<BTreeMap<String, Image>>,
    /// This build's one "now" (or SOURCE_DATE_EPOCH): every step that runs is stamped with it.
    build_time: String,
}

/// What a metadata step's history and the image's `created` hold until [`Executor::finish`] knows whether
/// the image is one built before (then it keeps that build's time) or new (then it is `build_time`).
const UNSETTLED_TIME: &str = "rbuild:unsettled-build-time";

/// Take a lock even if a thread panicked while holding it: what it guards is a cache or a list that a
/// half-finished update leaves usable, and the panic itself fails the build.
pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A step failure the engine itself finds (the instruction cannot do what it says); leaf modules'
/// failures keep their type through [`StepFailure::new`].
pub(super) fn fail(location: Location, message: impl Into<String>) -> StepFailure {
    StepFailure::new(location, "", super::StepError::Instruction(message.into()))
}

impl<'a> Executor<'a> {
    pub fn new(
        store: &'a Store,
        req: &'a BuildRequest,
        plan: &'a Plan,
        ctx: &'a Context,
        files: FileDigests,
        progress: &'a Progress,
    ) -> Result<Executor<'a>, BuildError> {
        // Work dirs of builds killed before they could clean up were removed when the store was opened.
        let work = store.temp_dir("build")?;
        let lease = store.lease()?;
        Ok(Executor {
            store,
            req,
            plan,
            ctx,
            progress,
            snapshotter: OnceLock::new(),
            cache: StepCache::new(store, !req.no_cache),
            files: Mutex::new(files),
            lease: Mutex::new(lease),
            mounts: Mutex::new(Vec::new()),
            work,
            dirs: AtomicUsize::new(0),
            stages: (0..plan.stages.len()).map(|_| OnceLock::new()).collect(),
            schedule: super::schedule::Board::new(plan),
            views: Mutex::new(BTreeMap::new()),
            declared_args: Mutex::new(plan.meta_args.names().map(String::from).collect()),
            expander: Expander::new(plan.escape),
            images: Mutex::new(BTreeMap::new()),
            // The CLI checked the epoch is a number; one out of chrono's range falls back to now.
            build_time: crate::image::timestamp(req.source_date_epoch)
                .or_else(|_| crate::image::timestamp(None))
                .unwrap_or_default(),
        })
    }

    /// The snapshotter, its backend decided when a step first needs a filesystem: a build whose every step
    /// is a cache hit never mounts anything, so it does not pay for the overlay probe (a mount, a write, an
    /// unmount and five rmdirs: 30-250 ms of a warm no-op build on a busy disk).
    pub(super) fn snapshotter(&self) -> &Snapshotter<'a> {
        self.snapshotter.get_or_init(|| {
            let (backend, why) = crate::snapshot::overlay::detect(self.work.path());
            match why {
                Some(why) => self.progress.debug(&format!("snapshots: copy backend ({why})")),
                None => self.progress.debug("snapshots: overlay backend"),
            }
            Snapshotter::new(self.store, backend)
        })
    }

    /// The image `reference` names, resolved once per build and leased (manifest, config, layers) under
    /// the store lock, so an `rmi` + `prune` meanwhile can neither remove what the build reads nor make
    /// two steps see two different images under one name. A name of a multi-platform image stands for
    /// its `platform` entry (none given: the host's).
    pub(super) fn leased_image(&self, reference: &str, platform: Option<&Platform>) -> Result<Image, StoreError> {
        let mut images = lock(&self.images);
        let key = image_key(reference, platform);
        if let Some(img) = images.get(&key) {
            return Ok(img.clone());
        }
        let wanted =
            |v: &serde_json::Value| Platform::from_json(v).is_some_and(|p| platform.is_some_and(|w| w.matches(&p)));
        let pick: crate::store::PlatformPick = platform.map(|_| &wanted as &dyn Fn(&serde_json::Value) -> bool);
        let img = self.store.lock()?.resolve_leased_for(reference, pick, &mut lock(&self.lease))?;
        images.insert(key, img.clone());
        Ok(img)
    }

    pub(super) fn new_dir(&self, kind: &str) -> Result<PathBuf, std::io::Error> {
        let n = self.dirs.fetch_add(1, Ordering::Relaxed) + 1;
        let p = self.work.path().join(format!("{kind}-{n}"));
        std::fs::create_dir(&p)?;
        Ok(p)
    }

    /// RFC 3339 time for the `created` field of a step that ran: SOURCE_DATE_EPOCH when given, else the
    /// build's start.
    pub(super) fn created(&self) -> String {
        self.build_time.clone()
    }

    /// The `created` of what does not run (metadata steps, the image itself): settled in `finish`.
    fn unsettled_created(&self) -> String {
        match self.req.source_date_epoch {
            Some(_) => self.created(),
            None => UNSETTLED_TIME.to_string(),
        }
    }

    pub(super) fn now(&self) -> (i64, i64) {
        match self.req.source_date_epoch {
            Some(s) => (s, 0),
            None => {
                let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
                (d.as_secs() as i64, d.subsec_nanos() as i64)
            }
        }
    }

    /// Build stage `idx`; the schedule has built what the plan says it needs.
    pub(super) fn build_stage(&self, idx: usize) -> Result<(), StepFailure> {
        let stage = &self.plan.stages[idx];
        // BuildKit names the platform a step is built for: `[linux/arm64 stage-0 2/3]`.
        let label = match &self.plan.platform {
            Some(p) => format!("{} {}", p.short(), stage.display_name()),
            None => stage.display_name(),
        };
        let total = stage.steps.len() + 1;
        let base_text = self.req.dockerfile_text.lines().nth(stage.location.start_line.saturating_sub(1));
        let timer = self.progress.step(&label, 1, total, base_text.unwrap_or("FROM"));
        let mut st = self.base_state(idx)?;
        timer.done();
        let triggers = std::mem::take(&mut st.image.config.onbuild);
        for trigger in triggers {
            self.run_trigger(&mut st, &trigger, stage.location)?;
        }
        for (i, step) in stage.steps.iter().enumerate() {
            if self.schedule.failed() {
                return Err(fail(step.location, "stopped: another stage failed"));
            }
            let timer = self.progress.step(&label, i + 2, total, &step.original);
            match self.dispatch(&mut st, step)? {
                Outcome::Cached => timer.cached(),
                Outcome::Done => timer.done(),
            }
        }
        // The schedule builds each stage once; were it built twice, both results would be the same.
        let _ = self.stages[idx].set(st);
        Ok(())
    }

    fn base_state(&self, idx: usize) -> Result<StageState, StepFailure> {
        let stage = &self.plan.stages[idx];
        let loc = stage.location;
        let wanted = self.plan.stage_platform(idx);
        let (mut image, layers, key) = match &stage.base {
            Base::Scratch => {
                let p = wanted.cloned().unwrap_or_else(Platform::host);
                // The host's scratch keeps the key it always had; another platform's is a root of its own.
                let key = if p == Platform::host() { root_key("scratch") } else { root_key(&format!("scratch {p}")) };
                (ImageState::scratch(&p.os, &p.arch, p.variant.as_deref()), Vec::new(), key)
            }
            Base::Stage(i) => {
                let base = self.finished(*i, loc)?;
                (base.image.clone(), base.layers.clone(), base.key.clone())
            }
            Base::Image(name) => {
                let img = self.image(name, wanted, loc)?;
                let bytes = self.store.read_blob(&img.config_digest).map_err(|e| StepFailure::new(loc, "FROM", e))?;
                let state = ImageState::from_json(&bytes).map_err(|e| fail(loc, format!("image {name}: {e}")))?;
                (state, img.manifest.layers().clone(), root_key(&img.manifest_digest.to_string()))
            }
        };
        // The image is for the platform asked for (the base matched it, bar an unnamed variant).
        if let Some(p) = wanted {
            (image.os, image.architecture, image.variant) = (p.os.clone(), p.arch.clone(), p.variant.clone());
        }
        if image.config.env_get("PATH").is_none() {
            image.config.env_set("PATH", DEFAULT_PATH);
        }
        let no_cache =
            stage.name.as_deref().is_some_and(|n| self.req.no_cache_filter.iter().any(|f| f.eq_ignore_ascii_case(n)));
        let base_layers = layers.len();
        Ok(StageState { key, image, layers, flat: None, args: Scope::default(), cmd_set: false, no_cache, base_layers })
    }

    fn run_trigger(&self, st: &mut StageState, trigger: &str, loc: Location) -> Result<(), StepFailure> {
        let bad = |e: String| fail(loc, format!("ONBUILD trigger {trigger:?} of the base image: {e}"));
        let parsed = dockerfile::parse(trigger).map_err(|e| bad(e.message))?;
        let ins = parsed.instructions.first().ok_or_else(|| bad("empty trigger".into()))?;
        let command = instructions::lower_command(ins).map_err(|e| bad(e.message))?;
        let step = Step { command, location: loc, original: trigger.to_string(), flags: Vec::new() };
        self.dispatch(st, &step).map(|_| ())
    }

    pub(super) fn history(&self, st: &mut StageState, step: &Step, empty_layer: bool) {
        let created_by = step.original.lines().next().unwrap_or("").trim().to_string();
        // A layer step that ran is stamped now; a metadata step's time is settled with the image's.
        let created = if empty_layer { self.unsettled_created() } else { self.created() };
        st.image.history.push(HistoryEntry {
            created,
            created_by,
            comment: Some("rbuild".into()),
            author: None,
            empty_layer,
        });
    }

    fn dispatch(&self, st: &mut StageState, step: &Step) -> Result<Outcome, StepFailure> {
        let loc = step.location;
        match &step.command {
            Command::Run(r) => return self.run(st, r, step),
            Command::Copy(c) => return self.copy(st, c, step),
            Command::Arg(decls) => return self.arg(st, decls, step).map(|_| Outcome::Done),
            metadata => {
                let args = st.args.clone();
                meta::apply(&mut st.image, &mut st.cmd_set, metadata, &self.expander, &args)
                    .map_err(|e| fail(loc, e))?;
            }
        }
        self.history(st, step, true);
        Ok(Outcome::Done)
    }

    fn arg(&self, st: &mut StageState, decls: &[ArgDecl], step: &Step) -> Result<(), StepFailure> {
        for d in decls {
            let vars = StageVars { env: &st.image.config, args: &st.args };
            let value = match (self.req.build_args.get(&d.name), &d.default) {
                (Some(v), _) => Some(v.to_string()),
                (None, Some(def)) => {
                    Some(meta::expand_word(&self.expander, def, &vars).map_err(|e| fail(step.location, e))?)
                }
                (None, None) => self.plan.meta_args.get(&d.name).cloned().flatten(),
            };
            lock(&self.declared_args).insert(d.name.clone());
            st.args.set(&d.name, value);
        }
        self.history(st, step, true);
        Ok(())
    }

    /// The target stage's image with `--label`s and the creation time applied.
    pub fn finish(
        &mut self,
        idx: usize,
        labels: &BTreeMap<String, String>,
    ) -> Result<(ImageState, Vec<Descriptor>), StepFailure> {
        let st = self.stages[idx].take().ok_or_else(|| fail(Location::default(), "target stage did not finish"))?;
        if let Err(e) = lock(&self.files).save() {
            self.progress.debug(&format!("context digests: could not save: {e}"));
        }
        let (mut image, mut layers) = (st.image, st.layers);
        image.config.labels.extend(labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        image.created = Some(self.unsettled_created());
        if self.req.squash {
            let opts = crate::layer::LayerOptions {
                compression: self.req.compression,
                source_date_epoch: self.req.source_date_epoch,
            };
            super::squash::squash(self.store, &mut image, &mut layers, st.base_layers, &opts, self.unsettled_created())
                .map_err(|e| StepFailure::new(Location::default(), "--squash", e))?;
        }
        self.settle_times(&mut image, &layers);
        Ok((image, layers))
    }

    /// Give the unsettled times their value. An image whose every layer step came from the cache has the
    /// same config, bar these times, as the last build of the same inputs: it keeps that build's time, so
    /// a fully cached rebuild gives the same image ID and manifest, and leaves no dangling image (as
    /// BuildKit does). Anything else gets this build's time, remembered for the next rebuild.
    fn settle_times(&mut self, image: &mut ImageState, layers: &[Descriptor]) {
        if self.req.source_date_epoch.is_some() {
            return;
        }
        let key = image.to_json().ok().and_then(|config| {
            let layers = serde_json::to_vec(layers).ok()?;
            Some(
                super::cache::KeyBuilder::new(&root_key("image"))
                    .part("config", &config)
                    .part("layers", &layers)
                    .finish(),
            )
        });
        let time = key.as_ref().and_then(|k| self.cache.image_time(k)).unwrap_or_else(|| self.created());
        if let Some(key) = &key {
            if let Err(e) = self.cache.record_image_time(key, &time) {
                self.progress.debug(&format!("step cache: could not record the image time: {e}"));
            }
        }
        let times = image.created.iter_mut().chain(image.history.iter_mut().map(|h| &mut h.created));
        for t in times.filter(|t| *t == UNSETTLED_TIME) {
            t.clone_from(&time);
        }
    }

    /// `--build-arg`s no ARG declared, as Docker warns.
    pub fn unused_build_args(&self) -> Vec<String> {
        let declared = lock(&self.declared_args);
        let unused: Vec<&str> = self
            .plan
            .build_args
            .names()
            .filter(|n| !declared.contains(*n) && !PREDEFINED_PROXY_ARGS.contains(n))
            .filter(|n| *n != "SOURCE_DATE_EPOCH")
            .collect();
        if unused.is_empty() {
            Vec::new()
        } else {
            vec![format!("one or more build-args [{}] were not consumed", unused.join(" "))]
        }
    }
}

/// How the build remembers an image it resolved: by name, and by the platform asked for when one was.
pub(super) fn image_key(reference: &str, platform: Option<&Platform>) -> String {
    match platform {
        Some(p) => format!("{reference} {p}"),
        None => reference.to_string(),
    }
}
