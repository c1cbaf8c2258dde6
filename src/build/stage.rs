//! Executing stages: resolve the base, run ONBUILD triggers, dispatch each step (one function per
//! instruction kind), and keep each finished stage for the stages that build on it or copy from it.

use super::context::Context;
use super::copy::{self, CopySpec, SourceRoot};
use super::metadata::{self as meta, StageVars};
use super::progress::Progress;
use super::{users, BuildError, BuildRequest, StepFailure};
use crate::dockerfile::expand::Expander;
use crate::dockerfile::instructions::{self, ArgDecl, Command, Copy, Step};
use crate::dockerfile::{self, Location};
use crate::fsops;
use crate::image::state::{HistoryEntry, ImageState};
use crate::layer::{self, LayerOptions};
use crate::plan::{args::PREDEFINED_PROXY_ARGS, Base, Plan, Scope};
use crate::store::Store;
use oci_spec::image::Descriptor;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A stage as it stands (while running) or as it ended.
pub(crate) struct StageState {
    pub image: ImageState,
    pub layers: Vec<Descriptor>,
    /// The stage's filesystem, once a step or another stage needed it.
    pub rootfs: Option<PathBuf>,
    args: Scope,
    cmd_set: bool,
}

pub(crate) struct Executor<'a> {
    store: &'a Store,
    req: &'a BuildRequest,
    plan: &'a Plan,
    ctx: &'a Context,
    progress: &'a Progress,
    work: tempfile::TempDir,
    dirs: usize,
    stages: Vec<Option<StageState>>,
    building: BTreeSet<usize>,
    /// Images named by `COPY --from=<image>`, materialised once per build.
    images: BTreeMap<String, PathBuf>,
    declared_args: BTreeSet<String>,
    expander: Expander,
}

fn fail(location: Location, message: impl Into<String>) -> StepFailure {
    StepFailure { location, message: message.into() }
}

impl<'a> Executor<'a> {
    pub fn new(
        store: &'a Store,
        req: &'a BuildRequest,
        plan: &'a Plan,
        ctx: &'a Context,
        progress: &'a Progress,
    ) -> Result<Executor<'a>, BuildError> {
        let tmp = store.tmp_dir();
        let work = tempfile::Builder::new()
            .prefix("build-")
            .tempdir_in(&tmp)
            .map_err(|source| BuildError::Io { what: format!("creating a work dir in {}", tmp.display()), source })?;
        Ok(Executor {
            store,
            req,
            plan,
            ctx,
            progress,
            work,
            dirs: 0,
            stages: (0..plan.stages.len()).map(|_| None).collect(),
            building: BTreeSet::new(),
            images: BTreeMap::new(),
            declared_args: plan.meta_args.names().map(String::from).collect(),
            expander: Expander::new(plan.escape),
        })
    }

    fn new_dir(&mut self, kind: &str) -> Result<PathBuf, std::io::Error> {
        self.dirs += 1;
        let p = self.work.path().join(format!("{kind}-{}", self.dirs));
        std::fs::create_dir(&p)?;
        Ok(p)
    }

    /// RFC 3339 time for `created` fields: SOURCE_DATE_EPOCH when given, else now.
    fn created(&self) -> String {
        // The CLI checked the epoch is a number; one out of chrono's range falls back to now.
        crate::image::timestamp(self.req.source_date_epoch)
            .or_else(|_| crate::image::timestamp(None))
            .unwrap_or_default()
    }

    fn now(&self) -> (i64, i64) {
        match self.req.source_date_epoch {
            Some(s) => (s, 0),
            None => {
                let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
                (d.as_secs() as i64, d.subsec_nanos() as i64)
            }
        }
    }

    /// Build stage `idx` (and whatever it needs) unless already built.
    pub fn build_stage(&mut self, idx: usize) -> Result<usize, StepFailure> {
        if self.stages[idx].is_some() {
            return Ok(idx);
        }
        let stage = &self.plan.stages[idx];
        if !self.building.insert(idx) {
            return Err(fail(stage.location, format!("circular dependency on stage {}", stage.display_name())));
        }
        let label = stage.display_name();
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
            let timer = self.progress.step(&label, i + 2, total, &step.original);
            self.dispatch(&mut st, step)?;
            timer.done();
        }
        self.building.remove(&idx);
        self.stages[idx] = Some(st);
        Ok(idx)
    }

    fn base_state(&mut self, idx: usize) -> Result<StageState, StepFailure> {
        let stage = &self.plan.stages[idx];
        let loc = stage.location;
        let (mut image, layers) = match &stage.base {
            Base::Scratch => {
                let (os, arch, variant) = crate::image::host_platform();
                (ImageState::scratch(os, arch, Some(variant)), Vec::new())
            }
            Base::Stage(i) => {
                let i = self.build_stage(*i)?;
                let base = self.stages[i].as_ref().ok_or_else(|| fail(loc, "base stage did not finish"))?;
                (base.image.clone(), base.layers.clone())
            }
            Base::Image(name) => {
                let img = self.store.resolve(name).map_err(|e| {
                    fail(loc, format!("{e}; import a base image with `rbuild import ROOTFS.tar {name}`"))
                })?;
                let bytes = self.store.read_blob(&img.config_digest).map_err(|e| fail(loc, e.to_string()))?;
                let state = ImageState::from_json(&bytes).map_err(|e| fail(loc, format!("image {name}: {e}")))?;
                (state, img.manifest.layers().clone())
            }
        };
        if image.config.env_get("PATH").is_none() {
            image.config.env_set("PATH", DEFAULT_PATH);
        }
        Ok(StageState { image, layers, rootfs: None, args: Scope::default(), cmd_set: false })
    }

    fn run_trigger(&mut self, st: &mut StageState, trigger: &str, loc: Location) -> Result<(), StepFailure> {
        let bad = |e: String| fail(loc, format!("ONBUILD trigger {trigger:?} of the base image: {e}"));
        let parsed = dockerfile::parse(trigger).map_err(|e| bad(e.message))?;
        let ins = parsed.instructions.first().ok_or_else(|| bad("empty trigger".into()))?;
        let command = instructions::lower_command(ins).map_err(|e| bad(e.message))?;
        let step = Step { command, location: loc, original: trigger.to_string() };
        self.dispatch(st, &step)
    }

    fn history(&self, st: &mut StageState, step: &Step, empty_layer: bool) {
        let created_by = step.original.lines().next().unwrap_or("").trim().to_string();
        st.image.history.push(HistoryEntry {
            created: self.created(),
            created_by,
            comment: Some("rbuild".into()),
            author: None,
            empty_layer,
        });
    }

    fn dispatch(&mut self, st: &mut StageState, step: &Step) -> Result<(), StepFailure> {
        let loc = step.location;
        match &step.command {
            Command::Run(_) => {
                return Err(fail(loc, "RUN is not supported yet: this rbuild builds images from COPY/ADD and metadata"))
            }
            Command::Copy(c) => return self.copy(st, c, step),
            Command::Arg(decls) => return self.arg(st, decls, step),
            metadata => {
                let args = st.args.clone();
                meta::apply(&mut st.image, &mut st.cmd_set, metadata, &self.expander, &args)
                    .map_err(|e| fail(loc, e))?;
            }
        }
        self.history(st, step, true);
        Ok(())
    }

    fn arg(&mut self, st: &mut StageState, decls: &[ArgDecl], step: &Step) -> Result<(), StepFailure> {
        for d in decls {
            let vars = StageVars { env: &st.image.config, args: &st.args };
            let value = match (self.req.build_args.get(&d.name), &d.default) {
                (Some(v), _) => Some(v.to_string()),
                (None, Some(def)) => {
                    Some(meta::expand_word(&self.expander, def, &vars).map_err(|e| fail(step.location, e))?)
                }
                (None, None) => self.plan.meta_args.get(&d.name).cloned().flatten(),
            };
            self.declared_args.insert(d.name.clone());
            st.args.set(&d.name, value);
        }
        self.history(st, step, true);
        Ok(())
    }

    /// The stage's rootfs, extracted from its layers the first time a step needs it.
    fn rootfs(
        &mut self,
        layers: &[Descriptor],
        existing: &Option<PathBuf>,
        loc: Location,
    ) -> Result<PathBuf, StepFailure> {
        if let Some(p) = existing {
            return Ok(p.clone());
        }
        let dir = self.new_dir("rootfs").map_err(|e| fail(loc, format!("creating a rootfs: {e}")))?;
        for l in layers {
            layer::extract(self.store, l, &dir)
                .map_err(|e| fail(loc, format!("unpacking layer {}: {e}", l.digest())))?;
        }
        Ok(dir)
    }

    /// The rootfs COPY --from reads: another stage's (built on demand), or an image's.
    fn copy_source_root(&mut self, from: &str, loc: Location) -> Result<(PathBuf, String), StepFailure> {
        if let Some(i) = self.plan.stage_by_ref(from) {
            let i = self.build_stage(i)?;
            let (layers, existing) = {
                let s = self.stages[i].as_ref().ok_or_else(|| fail(loc, "stage did not finish"))?;
                (s.layers.clone(), s.rootfs.clone())
            };
            let root = self.rootfs(&layers, &existing, loc)?;
            if let Some(s) = self.stages[i].as_mut() {
                s.rootfs = Some(root.clone());
            }
            return Ok((root, format!("stage {:?}", self.plan.stages[i].display_name())));
        }
        if let Some(p) = self.images.get(from) {
            return Ok((p.clone(), format!("image {from:?}")));
        }
        let img = self
            .store
            .resolve(from)
            .map_err(|e| fail(loc, format!("COPY --from={from}: no stage of that name, and {e}")))?;
        let root = self.rootfs(img.manifest.layers(), &None, loc)?;
        self.images.insert(from.to_string(), root.clone());
        Ok((root, format!("image {from:?}")))
    }

    fn copy(&mut self, st: &mut StageState, c: &Copy, step: &Step) -> Result<(), StepFailure> {
        let loc = step.location;
        let kw = if c.add { "ADD" } else { "COPY" };
        let failed = |e: String| fail(loc, format!("{kw}: {e}"));
        let (sources, dest, from, chown, chmod, heredocs) = {
            let ex = &self.expander;
            let vars = StageVars { env: &st.image.config, args: &st.args };
            let word = |w: &String| meta::expand_word(ex, w, &vars).map_err(failed);
            let sources = c.sources.iter().map(word).collect::<Result<Vec<_>, _>>()?;
            let heredocs = c
                .heredocs
                .iter()
                .map(|h| {
                    let content = if h.expand {
                        ex.heredoc(&h.content, &vars).map(|e| e.value).map_err(|e| failed(e.to_string()))?
                    } else {
                        h.content.clone()
                    };
                    Ok((h.name.clone(), content))
                })
                .collect::<Result<Vec<_>, StepFailure>>()?;
            (
                sources,
                word(&c.dest)?,
                c.from.as_ref().map(|f| meta::expand_word(ex, f, &self.plan.meta_args).map_err(failed)).transpose()?,
                c.chown.as_ref().map(word).transpose()?,
                c.chmod.as_ref().map(word).transpose()?,
                heredocs,
            )
        };
        let chmod = match chmod {
            None => None,
            Some(m) => Some(
                u32::from_str_radix(&m, 8)
                    .ok()
                    .filter(|m| *m <= 0o7777)
                    .ok_or_else(|| failed(format!("invalid --chmod={m}: use an octal mode such as 755")))?,
            ),
        };
        if c.parents {
            return Err(failed("--parents is not supported yet".into()));
        }
        let rootfs = self.rootfs(&st.layers, &st.rootfs, loc)?;
        st.rootfs = Some(rootfs.clone());
        let owner = match chown {
            None => (0, 0),
            Some(spec) => {
                let u = users::resolve(&rootfs, &spec, true).map_err(|e| failed(format!("--chown={spec}: {e}")))?;
                (u.uid, u.gid)
            }
        };
        let spec = CopySpec {
            sources,
            heredocs,
            dest,
            workdir: st.image.config.working_dir.clone().unwrap_or_else(|| "/".into()),
            owner,
            chmod,
            add: c.add,
            exclude: c.exclude.clone(),
            now: self.now(),
        };
        let upper = self.new_dir("upper").map_err(|e| failed(format!("creating a layer dir: {e}")))?;
        match &from {
            Some(f) => {
                let (root, what) = self.copy_source_root(f, loc)?;
                let src = SourceRoot { dir: &root, included: None, what };
                copy::run(&spec, &src, &rootfs, &upper).map_err(|e| failed(e.to_string()))?;
            }
            None => {
                let src = SourceRoot {
                    dir: &self.ctx.root,
                    included: Some(&self.ctx.included),
                    what: "the build context".to_string(),
                };
                copy::run(&spec, &src, &rootfs, &upper).map_err(|e| failed(e.to_string()))?;
            }
        }
        self.commit_layer(st, &upper, &rootfs, step)
    }

    /// Turn a finished upper dir into a layer, merge it into the rootfs, and record it.
    fn commit_layer(
        &mut self,
        st: &mut StageState,
        upper: &std::path::Path,
        rootfs: &std::path::Path,
        step: &Step,
    ) -> Result<(), StepFailure> {
        let loc = step.location;
        let opts = LayerOptions { compression: self.req.compression, source_date_epoch: self.req.source_date_epoch };
        let layer = layer::write(self.store, upper, &opts).map_err(|e| fail(loc, format!("writing the layer: {e}")))?;
        fsops::merge_into(upper, rootfs).map_err(|e| fail(loc, format!("applying the layer: {e}")))?;
        let _ = std::fs::remove_dir_all(upper);
        st.layers.push(layer.descriptor);
        st.image.diff_ids.push(layer.diff_id);
        self.history(st, step, false);
        Ok(())
    }

    /// The target stage's image with `--label`s and the creation time applied.
    pub fn finish(
        &mut self,
        idx: usize,
        labels: &BTreeMap<String, String>,
    ) -> Result<(ImageState, Vec<Descriptor>), StepFailure> {
        let st = self.stages[idx].take().ok_or_else(|| fail(Location::default(), "target stage did not finish"))?;
        let mut image = st.image;
        image.config.labels.extend(labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        image.created = Some(self.created());
        Ok((image, st.layers))
    }

    /// `--build-arg`s no ARG declared, as Docker warns.
    pub fn unused_build_args(&self) -> Vec<String> {
        let unused: Vec<&str> = self
            .plan
            .build_args
            .names()
            .filter(|n| !self.declared_args.contains(*n) && !PREDEFINED_PROXY_ARGS.contains(n))
            .filter(|n| *n != "SOURCE_DATE_EPOCH")
            .collect();
        if unused.is_empty() {
            Vec::new()
        } else {
            vec![format!("one or more build-args [{}] were not consumed", unused.join(" "))]
        }
    }
}
