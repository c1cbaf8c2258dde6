//! The layer steps: COPY/ADD (rbuild writes into the stage's filesystem) and RUN (a sandboxed command
//! does). Both expand their words with the stage's variables, write into a fresh upper dir, and end in
//! `finish_step`.

use super::cache::{self, CachedLayer, HitSource, KeyBuilder};
use super::copy::{self, CopySpec, SourceRoot};
use super::fetch;
use super::git;
use super::metadata::{self as meta, StageVars};
use super::named::NamedContext;
use super::reuse::{self, Reuse};
use super::runspec::{self, MountSpec};
use super::secrets::SecretFile;
use super::stage::{fail, lock, Executor, Outcome, StageState};
use super::{StepError, StepFailure};
use crate::digest::Digest;
use crate::dockerfile::flags::{self, Deferred, NetworkMode, SecurityMode};
use crate::dockerfile::instructions::{Copy, Run, Step};
use crate::dockerfile::Location;
use crate::image::state::HistoryEntry;
use crate::plan::args::PREDEFINED_PROXY_ARGS;
use crate::rootpath::{self, Escape};
use crate::sandbox::{self, Bind, Network, RunSpec, Stdin, Tmpfs};
use crate::snapshot::{chain_ids, Backend};
use crate::users;
use std::path::{Path, PathBuf};

/// A flag's typed value once its variables are expanded (see `dockerfile::flags::Deferred`).
fn typed<T: Clone>(
    flag: &Option<Deferred<T>>,
    name: &str,
    expand: &dyn Fn(&str) -> Result<String, String>,
    parse: fn(&str) -> Result<T, String>,
) -> Result<Option<T>, String> {
    let Some(d) = flag else { return Ok(None) };
    d.resolve(expand, parse).map(Some).map_err(|e| format!("--{name}={}: {e}", d.unexpanded().unwrap_or_default()))
}

impl Executor<'_> {
    pub(super) fn copy(&self, st: &mut StageState, c: &Copy, step: &Step) -> Result<Outcome, StepFailure> {
        let loc = step.location;
        let kw = if c.add { "ADD" } else { "COPY" };
        let failed = |e: String| fail(loc, format!("{kw}: {e}"));
        let flag = |name: &str| step.flag_at(name, 0);
        let (sources, dest, from, chown, chmod, checksum, heredocs) = {
            let ex = &self.expander;
            let vars = StageVars { env: &st.image.config, args: &st.args };
            let word = |w: &String| meta::expand_word(ex, w, &vars).map_err(failed);
            let expand = |w: &str| meta::expand_word(ex, w, &vars);
            let sources = c.sources.iter().map(word).collect::<Result<Vec<_>, _>>()?;
            let mut heredocs = Vec::new();
            for h in &c.heredocs {
                let content = if h.expand {
                    ex.heredoc(&h.content, &vars).map(|e| e.value).map_err(|e| failed(e.to_string()))?
                } else {
                    h.content.clone()
                };
                heredocs.push((h.name.clone(), content));
            }
            // `--from` sees only global ARGs, as in BuildKit: stage dependencies must not depend on stage state.
            let from = c.from.as_ref().map(|f| meta::expand_word(ex, f, &self.plan.meta_args).map_err(failed));
            (
                sources,
                word(&c.dest)?,
                from.transpose()?,
                typed(&c.chown, "chown", &expand, flags::check_chown).map_err(|e| failed(e).at(flag("chown")))?,
                typed(&c.chmod, "chmod", &expand, flags::parse_chmod).map_err(|e| failed(e).at(flag("chmod")))?,
                typed(&c.checksum, "checksum", &expand, flags::check_checksum)
                    .map_err(|e| failed(e).at(flag("checksum")))?,
                heredocs,
            )
        };
        // ADD's URLs are fetched first: the step cache keys on what they hold. Git sources are resolved to
        // a commit (the key), and checked out only if the step runs.
        let mut downloads = Vec::new();
        let mut gits = Vec::new();
        if c.add {
            for s in sources.iter().filter(|s| git::is_git(s)) {
                let resolved = git::resolve(&git::parse(s), checksum.as_deref());
                gits.push((s.clone(), resolved.map_err(|e| StepFailure::new(loc, kw, e))?));
            }
            for url in sources.iter().filter(|s| fetch::is_url(s) && !git::is_git(s)) {
                let dir =
                    self.new_dir("download").map_err(|e| StepFailure::io(loc, kw, "creating a download dir", e))?;
                let checksum = checksum.as_deref();
                downloads.push(fetch::download(url, &dir, checksum).map_err(|e| StepFailure::new(loc, kw, e))?);
            }
        }
        let mut fetched: String = downloads.iter().map(|d| format!("{} {}\n", d.url, d.digest)).collect();
        for (_, r) in &gits {
            let g = &r.source;
            let url = git::redact(&g.url);
            fetched.push_str(&format!("git {url} {:?} {:?} {} {}\n", g.reference, g.subdir, r.commit, c.keep_git_dir));
        }
        let read = match &from {
            Some(f) => self.source_key(f, loc).map_err(|e| e.at(flag("from")))?.to_string().into_bytes(),
            None => {
                let paths: Vec<String> = sources
                    .iter()
                    .filter(|s| !s.starts_with("<<") && !fetch::is_url(s) && !git::is_git(s))
                    .map(|s| copy::unpivot(s))
                    .collect();
                let ctx = &self.ctx;
                cache::context_digest(&ctx.root, &ctx.included, ctx.stamps(), &paths, &mut lock(&self.files))
                    .map_err(|e| StepFailure::io(loc, kw, "reading the sources", e))?
                    .to_string()
                    .into_bytes()
            }
        };
        let heredoc_text: String = heredocs.iter().map(|(n, c)| format!("{n}\0{c}\0")).collect();
        let workdir = st.image.config.working_dir.clone().unwrap_or_else(|| "/".into());
        let reads = [("reads", &read[..]), ("heredocs", heredoc_text.as_bytes()), ("downloads", fetched.as_bytes())];
        let base_key = st.key.clone();
        let key = if c.link {
            // What the copy itself depends on, and nothing of the stage below it (see docs/cache.md).
            let words = format!("{sources:?} {dest:?} {workdir:?} {chown:?} {chmod:?} {:?} {}", c.exclude, c.parents);
            // A user *name* is looked up in the stage's /etc/passwd: then the layer depends on the base.
            let named_owner = chown.as_deref().is_some_and(|o| o.split(':').any(|p| p.parse::<u32>().is_err()));
            let below = if named_owner { base_key.clone() } else { cache::root_key("COPY --link") };
            key_on(&below, st, step, ("link", words.as_bytes()), &reads)
        } else {
            self.step_key(st, step, &reads)
        };
        if self.reuse_cached(st, step, &key)? {
            if c.link {
                self.link_forward(st, base_key, &key);
            }
            return Ok(Outcome::Cached);
        }
        // A miss: the key of this COPY's previous results whatever the sources held (see `reuse`).
        let reusable = !c.add && !c.link && from.is_none() && heredocs.is_empty();
        let reuse_key = (reusable && self.snapshotter().backend() == Backend::Overlay)
            .then(|| self.step_key(st, step, &[("copy-reuse", b"")]));
        let source = match &from {
            Some(f) => Some(self.source_view(f, loc).map_err(|e| e.at(flag("from")))?),
            None => None,
        };
        let fs = self.prepare_step(st, loc)?;
        // COPY writes beside the layers below (see `Active::mount_beside`); ADD's archives may replace a
        // dir by a file or the reverse, which needs overlay's own whiteouts: it writes through the mount.
        let mount = if c.add { fs.mount() } else { fs.mount_beside() };
        let mount = mount.map_err(|e| StepFailure::new(loc, "", e))?;
        let (root, upper) = (mount.root.clone(), mount.upper.clone());
        let owner = match chown {
            None => (0, 0),
            Some(spec) => {
                let u = users::resolve(&root, &spec, true)
                    .map_err(|e| failed(format!("--chown={spec}: {e}")).at(flag("chown")))?;
                (u.uid, u.gid)
            }
        };
        // `--link`: the files land in an empty tree (the upper dir alone), never looking at the stage below.
        let (mount, root, upper) = match c.link {
            true => {
                drop(mount);
                let bare = fs.bare_upper().map_err(|e| StepFailure::new(loc, "", e))?;
                (None, bare.clone(), bare)
            }
            false => (Some(mount), root, upper),
        };
        let mut git_trees = Vec::new();
        for (s, r) in &gits {
            let dir = self.new_dir("git").map_err(|e| StepFailure::io(loc, kw, "creating a checkout dir", e))?;
            let tree = git::checkout(r, &dir.join("repo"), c.keep_git_dir).map_err(|e| StepFailure::new(loc, kw, e))?;
            git_trees.push((s.clone(), tree));
        }
        let spec = CopySpec {
            sources,
            heredocs,
            dest,
            workdir,
            owner,
            chmod,
            add: c.add,
            parents: c.parents,
            exclude: c.exclude.clone(),
            now: self.now(),
            downloads,
            git_trees,
        };
        let mut written = None;
        let result = match &source {
            Some((dir, what)) => {
                // A named directory context hides what its .dockerignore excludes, as the main one does.
                let included = match from.as_deref().and_then(|f| self.req.build_contexts.get(f)) {
                    Some(NamedContext::Dir { included, .. }) => Some(included),
                    _ => None,
                };
                copy::run(&spec, &SourceRoot { dir, included, what: what.clone() }, &root, &upper, None)
            }
            None => {
                let src = SourceRoot {
                    dir: &self.ctx.root,
                    included: Some(&self.ctx.included),
                    what: "the build context".to_string(),
                };
                let files = lock(&self.files);
                let reuse = reuse_key.as_ref().map(|k| {
                    Reuse::load(&reuse::record_path(self.store, k), &self.store.snapshots_dir(), &files, &self.ctx.root)
                });
                let result = copy::run(&spec, &src, &root, &upper, reuse.as_ref());
                if let Some(r) = reuse {
                    self.progress.debug(&format!("{kw}: {} files linked from the previous result", r.linked.get()));
                    written = Some(r.finish());
                }
                result
            }
        };
        drop(mount);
        result.map_err(|e| StepFailure::new(loc, kw, e))?;
        self.finish_step(st, fs, step)?;
        if let (Some(written), Some(k), Some(chain)) = (written, &reuse_key, chain_ids(&st.image.diff_ids).pop()) {
            if let Err(e) = written.save(self.store, &reuse::record_path(self.store, k), &chain) {
                self.progress.debug(&format!("{kw}: could not record the result for reuse: {e}"));
            }
        }
        self.remember(st, key.clone());
        if c.link {
            self.link_forward(st, base_key, &key);
        }
        Ok(Outcome::Done)
    }

    /// After a `--link` step (run or reused): the stage's key moves on from `base` *and* the link key, so
    /// later steps still rerun on a new base, and the layer is recorded under that chained key too, so
    /// `--cache-to mode=min` finds the whole chain.
    fn link_forward(&self, st: &mut StageState, base: Digest, link: &Digest) {
        st.key = base;
        let chained = KeyBuilder::new(&st.key).part("linked", link.to_string().as_bytes()).finish();
        self.remember(st, chained);
    }

    pub(super) fn run(&self, st: &mut StageState, r: &Run, step: &Step) -> Result<Outcome, StepFailure> {
        let loc = step.location;
        let failed = |e: String| fail(loc, format!("RUN: {e}"));
        let (argv, script) = runspec::argv(r, &st.image.config).map_err(failed)?;
        let mounts = {
            let vars = StageVars { env: &st.image.config, args: &st.args };
            let expand = |w: &str| meta::expand_word(&self.expander, w, &vars);
            let mut out = Vec::new();
            for (i, m) in r.mounts.iter().enumerate() {
                let typed = m
                    .resolve(expand, flags::parse_mount)
                    .map_err(|e| failed(format!("--mount: {e}")).at(step.flag_at("mount", i)))?;
                out.push(typed);
            }
            let network = typed(&r.network, "network", &expand, flags::parse_network)
                .map_err(|e| failed(e).at(step.flag_at("network", 0)))?;
            let security = typed(&r.security, "security", &expand, flags::parse_security)
                .map_err(|e| failed(e).at(step.flag_at("security", 0)))?;
            (out, network, security)
        };
        let (typed_mounts, network, security) = mounts;
        if security == Some(SecurityMode::Insecure) {
            return Err(failed(
                "--security=insecure is not supported: rbuild grants no entitlements; drop the flag".into(),
            )
            .at(step.flag_at("security", 0)));
        }
        let network = match network {
            None | Some(NetworkMode::Default) => self.req.network,
            Some(NetworkMode::None) => Network::None,
            Some(NetworkMode::Host) => Network::Host,
        };
        let workdir = st.image.config.working_dir.clone().unwrap_or_else(|| "/".into());
        let mounts = typed_mounts
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let ssh_index = typed_mounts[..i].iter().filter(|m| matches!(m, flags::Mount::Ssh(_))).count();
                runspec::mount_spec(m, &workdir, ssh_index)
                    .map_err(|e| failed(format!("--mount: {e}")).at(step.flag_at("mount", i)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut reads = format!("network={network:?}\n");
        for (i, (typed, m)) in typed_mounts.iter().zip(&mounts).enumerate() {
            reads.push_str(&format!("{typed:?}\n"));
            if let MountSpec::Bind { source, from, .. } = m {
                let at = step.flag_at("mount", i);
                let digest = match from {
                    Some(f) => self.source_key(f, loc).map_err(|e| e.at(at))?,
                    None => cache::context_digest(
                        &self.ctx.root,
                        &self.ctx.included,
                        self.ctx.stamps(),
                        std::slice::from_ref(source),
                        &mut lock(&self.files),
                    )
                    .map_err(|e| StepFailure::io(loc, "RUN --mount", "reading the bind source", e).at(at))?,
                };
                reads.push_str(&format!("{digest}\n"));
            }
        }
        // Part of the key as in BuildKit (its ExecOp holds them), and only when given: other keys stay.
        let limits = &self.req.limits;
        if !self.req.extra_hosts.is_empty() || limits.shm_size.is_some() || limits.ulimits != Default::default() {
            reads.push_str(&format!(
                "hosts={:?} shm={:?} ulimits={:?}\n",
                self.req.extra_hosts, limits.shm_size, limits.ulimits
            ));
        }
        let key = self.step_key(st, step, &[("reads", reads.as_bytes())]);
        if self.reuse_cached(st, step, &key)? {
            return Ok(Outcome::Cached);
        }
        super::images::check_runnable(&st.image, loc)?;
        let mounted = std::cell::Cell::new(0);
        let StepMounts { mut binds, tmpfs, env: secret_env, secrets: _held, locks: _locked } = self
            .mount_binds(&mounts, loc, &mounted)
            .map_err(|e| e.at(mounted.get().checked_sub(1).and_then(|i| step.flag_at("mount", i))))?;
        if let Some((name, body)) = script {
            let dir = self.new_dir("script").map_err(|e| failed(e.to_string()))?;
            let path = dir.join(&name);
            std::fs::write(&path, body).map_err(|e| failed(format!("writing the heredoc script: {e}")))?;
            binds.push(Bind { source: path, target: format!("{}/{name}", runspec::SCRIPT_DIR), readonly: true });
        }
        let mut fs = self.prepare_step(st, loc)?;
        fs.track_changes().map_err(|e| StepFailure::new(loc, "RUN", e))?;
        let spec = RunSpec {
            rootfs: fs.rootfs(),
            argv: argv.clone(),
            env: [self.run_env(st), secret_env].concat(),
            cwd: st.image.config.working_dir.clone().unwrap_or_else(|| "/".into()),
            user: st.image.config.user.clone(),
            network,
            hostname: "rbuild".into(),
            binds,
            tmpfs,
            stdin: Stdin::Null,
            seccomp: self.req.seccomp.clone(),
            limits: self.req.limits.clone(),
            readonly_rootfs: false,
            hosts_file: None,
            resolution: sandbox::Resolution { extra_hosts: self.req.extra_hosts.clone(), ..Default::default() },
        };
        self.progress.output_begins();
        let init = self.req.sandbox_init.as_deref().unwrap_or(Path::new("/proc/self/exe"));
        let outcome = sandbox::run_prefixed(&spec, init, &self.progress.output_prefix())
            .map_err(|e| StepFailure::new(loc, "RUN", e))?;
        fs.clean_stubs(&outcome.created_stubs);
        if outcome.exit_code != 0 {
            let shown = serde_json::to_string(&argv).unwrap_or_default();
            let oom =
                if outcome.oom_killed { format!(" ({})", sandbox::oom_hint(&self.req.limits)) } else { String::new() };
            return Err(StepFailure::new(loc, "", StepError::Exit { argv: shown, code: outcome.exit_code, hint: oom }));
        }
        self.finish_step(st, fs, step)?;
        self.remember(st, key);
        Ok(Outcome::Done)
    }

    /// The step-cache key of a layer step: the stage so far, the instruction as written, the config it
    /// runs with, the stage's ARG values, and what it reads.
    fn step_key(&self, st: &StageState, step: &Step, reads: &[(&str, &[u8])]) -> Digest {
        let mut config = st.image.clone();
        config.history.clear();
        config.diff_ids.clear();
        config.created = None;
        let config_json = config.to_json().unwrap_or_default();
        key_on(&st.key, st, step, ("config", &config_json), reads)
    }

    /// The cache key standing for another stage's files (built on demand) or an image's.
    fn source_key(&self, from: &str, loc: Location) -> Result<Digest, StepFailure> {
        let (from, named) = match self.req.build_contexts.get(from) {
            Some(NamedContext::Dir { root, included }) => {
                return cache::context_digest(root, included, None, &[".".into()], &mut lock(&self.files))
                    .map_err(|e| StepFailure::io(loc, "", format!("reading build context {from:?}"), e));
            }
            Some(NamedContext::Image(reference)) => (reference.as_str(), true),
            None => (from, false),
        };
        // A docker-image:// context names an image, never a stage.
        if let Some(i) = self.plan.stage_by_ref(from).filter(|_| !named) {
            return Ok(self.finished(i, loc)?.key.clone());
        }
        let img = self.image(from, self.plan.platform.as_ref(), loc).map_err(|e| super::images::no_stage(from, e))?;
        Ok(img.manifest_digest)
    }

    /// On a cache hit, take the recorded layer instead of running the step.
    fn reuse_cached(&self, st: &mut StageState, step: &Step, key: &Digest) -> Result<bool, StepFailure> {
        if st.no_cache {
            return Ok(false);
        }
        let Some((cached, source)) = self.cache.lookup(self.store, key) else { return Ok(false) };
        let blob = crate::store::from_oci_digest(cached.descriptor.digest())
            .map_err(|e| StepFailure::new(step.location, "", e))?;
        // Checked and leased under the store lock: a gc between the lookup and here makes this a miss.
        let locked = self.store.lock().map_err(|e| StepFailure::new(step.location, "", e))?;
        let present = locked
            .protect_present(&mut lock(&self.lease), &[blob])
            .map_err(|e| StepFailure::new(step.location, "", e))?;
        drop(locked);
        // An imported record's blob is fetched (and leased) only when the build needs its bytes.
        if !present && source == HitSource::Local {
            return Ok(false);
        }
        if source == HitSource::Local {
            self.cache.note_used(&st.key, key, &cached);
        } else if let Err(e) = self.cache.record(&st.key, key, &cached) {
            self.progress.debug(&format!("step cache: could not record {key}: {e}"));
        }
        st.layers.push(cached.descriptor);
        st.image.diff_ids.push(cached.diff_id);
        let created = match self.req.source_date_epoch {
            Some(_) => self.created(),
            None => cached.created,
        };
        st.image.history.push(HistoryEntry {
            created,
            created_by: step.original.lines().next().unwrap_or("").trim().to_string(),
            comment: Some("rbuild".into()),
            author: None,
            empty_layer: false,
        });
        st.key = key.clone();
        Ok(true)
    }

    /// After a step ran: record its layer under its key, and move the stage's key forward.
    fn remember(&self, st: &mut StageState, key: Digest) {
        if let (Some(descriptor), Some(diff_id), Some(h)) =
            (st.layers.last(), st.image.diff_ids.last(), st.image.history.last())
        {
            let cached =
                CachedLayer { descriptor: descriptor.clone(), diff_id: diff_id.clone(), created: h.created.clone() };
            if let Err(e) = self.cache.record(&st.key, &key, &cached) {
                self.progress.debug(&format!("step cache: could not record {key}: {e}"));
            }
        }
        // A step that ran because of --no-cache-filter may have made something new: what builds on it
        // (later steps, COPY --from this stage) must be keyed by what it made, not by what it was asked.
        st.key = match st.image.diff_ids.last().filter(|_| st.no_cache) {
            Some(made) => KeyBuilder::new(&key).part("made", made.to_string().as_bytes()).finish(),
            None => key,
        };
    }

    /// The environment of a RUN: the image's ENV, then the stage's ARGs that ENV does not override, then
    /// the predefined proxy args given with `--build-arg` (these never reach the image).
    fn run_env(&self, st: &StageState) -> Vec<String> {
        let mut env = st.image.config.env.to_vec();
        let has = |env: &[String], k: &str| env.iter().any(|kv| kv.split_once('=').map(|(n, _)| n) == Some(k));
        for (k, v) in st.args.defined() {
            if !has(&env, k) {
                env.push(format!("{k}={v}"));
            }
        }
        for k in PREDEFINED_PROXY_ARGS {
            if let Some(v) = self.req.build_args.get(k) {
                if !has(&env, k) {
                    env.push(format!("{k}={v}"));
                }
            }
        }
        env
    }

    /// `RUN --mount` specs as sandbox binds: context or stage files read-only by default, cache dirs that
    /// persist in the store between builds, private copies of secrets; the tmpfs mounts and secret variables.
    /// `started` counts the mounts begun, so a failure names its `--mount` flag.
    fn mount_binds(
        &self,
        mounts: &[MountSpec],
        loc: crate::dockerfile::Location,
        started: &std::cell::Cell<usize>,
    ) -> Result<StepMounts, StepFailure> {
        let failed = |e: String| fail(loc, format!("RUN --mount: {e}"));
        let mut out = StepMounts {
            binds: Vec::new(),
            tmpfs: Vec::new(),
            env: Vec::new(),
            secrets: Vec::new(),
            locks: Vec::new(),
        };
        for m in mounts {
            started.set(started.get() + 1);
            let bind = match m {
                MountSpec::Bind { source, target, from, readwrite } => {
                    let (root, what) = match from {
                        Some(f) => self.source_view(f, loc)?,
                        None => (self.ctx.root.clone(), "the build context".to_string()),
                    };
                    let escape = if from.is_some() { Escape::Clamp } else { Escape::Refuse };
                    let path = rootpath::resolve_in(&root, Path::new(source), true, escape)
                        .map_err(|e| failed(format!("source {source:?} in {what}: {e}")))?;
                    if !path.exists() {
                        return Err(failed(format!("source {source:?} not found in {what}")));
                    }
                    // A writable bind gets a throwaway copy: writes must not reach the context or a snapshot.
                    let path = if *readwrite { self.scratch_copy(&path, loc)? } else { path };
                    Bind { source: path, target: target.clone(), readonly: !*readwrite }
                }
                MountSpec::Cache(c) => {
                    let (bind, lock) = self.cache_bind(c, loc)?;
                    out.locks.extend(lock);
                    bind
                }
                MountSpec::Tmpfs { target, size } => {
                    out.tmpfs.push(Tmpfs { target: target.clone(), size: *size, noexec: false });
                    continue;
                }
                MountSpec::Ssh { id, target, required } => {
                    self.ssh_bind(&mut out, id, target, *required, loc)?;
                    continue;
                }
                MountSpec::Secret { id, target, env, required, mode, uid, gid } => {
                    let Some(value) = self.req.secrets.get(id) else {
                        if *required {
                            return Err(failed(format!(
                                "secret {id:?} is required but was not given: pass --secret id={id},src=FILE \
                                 (or id={id},env=VAR)"
                            )));
                        }
                        continue;
                    };
                    if let Some(var) = env {
                        out.env.push(format!("{var}={}", String::from_utf8_lossy(value)));
                    }
                    let Some(target) = target else { continue };
                    let file = SecretFile::write(id, value, *mode, *uid, *gid).map_err(|e| failed(e.to_string()))?;
                    let bind = Bind { source: file.path(), target: target.clone(), readonly: true };
                    out.secrets.push(file);
                    bind
                }
            };
            out.binds.push(bind);
        }
        Ok(out)
    }

    /// `type=ssh`: the agent's socket bound in; the first one is `SSH_AUTH_SOCK` (as BuildKit).
    fn ssh_bind(
        &self,
        out: &mut StepMounts,
        id: &str,
        target: &str,
        required: bool,
        loc: Location,
    ) -> Result<(), StepFailure> {
        let Some(socket) = self.req.ssh.get(id) else {
            if required {
                return Err(fail(
                    loc,
                    format!("RUN --mount: ssh agent {id:?} is required but was not given: pass --ssh {id}[=SOCKET]"),
                ));
            }
            return Ok(());
        };
        if !out.env.iter().any(|e| e.starts_with("SSH_AUTH_SOCK=")) {
            out.env.push(format!("SSH_AUTH_SOCK={target}"));
        }
        out.binds.push(Bind { source: socket.to_path_buf(), target: target.to_string(), readonly: false });
        Ok(())
    }

    fn scratch_copy(&self, path: &std::path::Path, loc: crate::dockerfile::Location) -> Result<PathBuf, StepFailure> {
        let dir = self.new_dir("rwbind").map_err(|e| fail(loc, e.to_string()))?;
        let dest = dir.join("src");
        crate::fsops::copy_tree(path, &dest)
            .map_err(|e| fail(loc, format!("RUN --mount: copying {} for a writable bind: {e}", path.display())))?;
        Ok(dest)
    }
}

/// What a RUN's `--mount`s give the sandbox; the secret copies are removed when this is dropped, after
/// the step.
struct StepMounts {
    binds: Vec<Bind>,
    tmpfs: Vec<Tmpfs>,
    /// `VAR=value` of `type=secret,env=VAR`.
    env: Vec<String>,
    secrets: Vec<SecretFile>,
    /// The `sharing=locked|private` cache mounts' locks, released after the step.
    locks: Vec<super::cache_mount::MountLock>,
}

/// A layer step's key on `below` (the stage so far, or for `--link` a fixed root): the instruction as
/// written, what it runs with (`with`: the config, or a `--link` step's expanded words), the stage's ARG
/// values, and what it reads.
fn key_on(below: &Digest, st: &StageState, step: &Step, with: (&str, &[u8]), reads: &[(&str, &[u8])]) -> Digest {
    let args: String = st.args.defined().map(|(k, v)| format!("{k}={v}\n")).collect();
    let mut key = KeyBuilder::new(below)
        .part("step", step.original.as_bytes())
        .part(with.0, with.1)
        .part("args", args.as_bytes());
    for (label, bytes) in reads {
        key = key.part(label, bytes);
    }
    key.finish()
}
