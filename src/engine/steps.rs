//! The layer steps: COPY/ADD (rbuild writes into the stage's filesystem) and RUN (a sandboxed command
//! does). Both expand their words with the stage's variables, write into a fresh upper dir, and end in
//! `finish_step`.

use super::cache::{self, CachedLayer, HitSource, KeyBuilder};
use super::copy::{self, CopySpec, SourceRoot};
use super::fetch;
use super::fs::StepFs;
use super::metadata::{self as meta, StageVars};
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
use crate::sandbox::{self, Bind, Network, Rootfs, RunSpec, Stdin, Tmpfs};
use crate::snapshot::diff;
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
                typed(&c.chown, "chown", &expand, flags::check_chown).map_err(failed)?,
                typed(&c.chmod, "chmod", &expand, flags::parse_chmod).map_err(failed)?,
                typed(&c.checksum, "checksum", &expand, flags::check_checksum).map_err(failed)?,
                heredocs,
            )
        };
        if c.parents {
            return Err(failed("--parents is not supported yet".into()));
        }
        // ADD's URLs are fetched first: the step cache keys on what they hold.
        let mut downloads = Vec::new();
        if c.add {
            for url in sources.iter().filter(|s| fetch::is_url(s)) {
                let dir =
                    self.new_dir("download").map_err(|e| StepFailure::io(loc, kw, "creating a download dir", e))?;
                let checksum = checksum.as_deref();
                downloads.push(fetch::download(url, &dir, checksum).map_err(|e| StepFailure::new(loc, kw, e))?);
            }
        }
        let fetched: String = downloads.iter().map(|d| format!("{} {}\n", d.url, d.digest)).collect();
        let read = match &from {
            Some(f) => self.source_key(f, loc)?.to_string().into_bytes(),
            None => {
                let paths: Vec<String> =
                    sources.iter().filter(|s| !s.starts_with("<<") && !fetch::is_url(s)).cloned().collect();
                cache::context_digest(&self.ctx.root, &self.ctx.included, &paths, &mut lock(&self.files))
                    .map_err(|e| StepFailure::io(loc, kw, "reading the sources", e))?
                    .to_string()
                    .into_bytes()
            }
        };
        let heredoc_text: String = heredocs.iter().map(|(n, c)| format!("{n}\0{c}\0")).collect();
        let key = self.step_key(
            st,
            step,
            &[("reads", &read), ("heredocs", heredoc_text.as_bytes()), ("downloads", fetched.as_bytes())],
        );
        if self.reuse_cached(st, step, &key)? {
            return Ok(Outcome::Cached);
        }
        let source = match &from {
            Some(f) => Some(self.source_view(f, loc)?),
            None => None,
        };
        let fs = self.prepare_step(st, loc)?;
        let mount = self.mount_step(&fs, loc)?;
        // With overlay rbuild writes through the merged mount and the kernel fills the upper dir; with the
        // copy backend it writes the upper dir itself, reading the rootfs for what is already there.
        let (root, upper) = match (&mount, &fs) {
            (Some(m), _) => (m.path().to_path_buf(), m.path().to_path_buf()),
            (None, StepFs::Copy { rootfs, upper }) => (rootfs.clone(), upper.clone()),
            (None, StepFs::Overlay { .. }) => return Err(failed("overlay step without a mount".into())),
        };
        let owner = match chown {
            None => (0, 0),
            Some(spec) => {
                let u = users::resolve(&root, &spec, true).map_err(|e| failed(format!("--chown={spec}: {e}")))?;
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
            downloads,
        };
        let result = match &source {
            Some((dir, what)) => {
                copy::run(&spec, &SourceRoot { dir, included: None, what: what.clone() }, &root, &upper)
            }
            None => {
                let src = SourceRoot {
                    dir: &self.ctx.root,
                    included: Some(&self.ctx.included),
                    what: "the build context".to_string(),
                };
                copy::run(&spec, &src, &root, &upper)
            }
        };
        drop(mount);
        result.map_err(|e| StepFailure::new(loc, kw, e))?;
        self.finish_step(st, fs, step, true)?;
        self.remember(st, key);
        Ok(Outcome::Done)
    }

    pub(super) fn run(&self, st: &mut StageState, r: &Run, step: &Step) -> Result<Outcome, StepFailure> {
        let loc = step.location;
        let failed = |e: String| fail(loc, format!("RUN: {e}"));
        let (argv, script) = runspec::argv(r, &st.image.config).map_err(failed)?;
        let mounts = {
            let vars = StageVars { env: &st.image.config, args: &st.args };
            let expand = |w: &str| meta::expand_word(&self.expander, w, &vars);
            let mut out = Vec::new();
            for m in &r.mounts {
                let typed = m.resolve(expand, flags::parse_mount).map_err(|e| failed(format!("--mount: {e}")))?;
                out.push(typed);
            }
            let network = typed(&r.network, "network", &expand, flags::parse_network).map_err(failed)?;
            let security = typed(&r.security, "security", &expand, flags::parse_security).map_err(failed)?;
            (out, network, security)
        };
        let (typed_mounts, network, security) = mounts;
        if security == Some(SecurityMode::Insecure) {
            return Err(failed(
                "--security=insecure is not supported: rbuild grants no entitlements; drop the flag".into(),
            ));
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
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| failed(format!("--mount: {e}")))?;
        let mut reads = format!("network={network:?}\n");
        for (typed, m) in typed_mounts.iter().zip(&mounts) {
            reads.push_str(&format!("{typed:?}\n"));
            if let MountSpec::Bind { source, from, .. } = m {
                let digest = match from {
                    Some(f) => self.source_key(f, loc)?,
                    None => cache::context_digest(
                        &self.ctx.root,
                        &self.ctx.included,
                        std::slice::from_ref(source),
                        &mut lock(&self.files),
                    )
                    .map_err(|e| StepFailure::io(loc, "RUN --mount", "reading the bind source", e))?,
                };
                reads.push_str(&format!("{digest}\n"));
            }
        }
        let key = self.step_key(st, step, &[("reads", reads.as_bytes())]);
        if self.reuse_cached(st, step, &key)? {
            return Ok(Outcome::Cached);
        }
        let StepMounts { mut binds, tmpfs, env: secret_env, secrets: _held } = self.mount_binds(&mounts, loc)?;
        if let Some((name, body)) = script {
            let dir = self.new_dir("script").map_err(|e| failed(e.to_string()))?;
            let path = dir.join(&name);
            std::fs::write(&path, body).map_err(|e| failed(format!("writing the heredoc script: {e}")))?;
            binds.push(Bind { source: path, target: format!("{}/{name}", runspec::SCRIPT_DIR), readonly: true });
        }
        let fs = self.prepare_step(st, loc)?;
        let (rootfs, before) = match &fs {
            StepFs::Overlay { lowers, upper, work } => {
                (Rootfs::Overlay { lowers: lowers.clone(), upper: upper.clone(), work: work.clone() }, None)
            }
            StepFs::Copy { rootfs, .. } => {
                let before = diff::scan(rootfs).map_err(|e| StepFailure::io(loc, "RUN", "scanning the rootfs", e))?;
                (Rootfs::Dir(rootfs.clone()), Some(before))
            }
        };
        let spec = RunSpec {
            rootfs,
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
            limits: self.req.limits,
            readonly_rootfs: false,
        };
        self.progress.output_begins();
        let init = self.req.sandbox_init.as_deref().unwrap_or(Path::new("/proc/self/exe"));
        let outcome = sandbox::run_prefixed(&spec, init, &self.progress.output_prefix())
            .map_err(|e| StepFailure::new(loc, "RUN", e))?;
        let written_root = match &fs {
            StepFs::Overlay { upper, .. } => upper.clone(),
            StepFs::Copy { rootfs, .. } => rootfs.clone(),
        };
        runspec::remove_stubs(&written_root, &outcome.created_stubs);
        if let StepFs::Overlay { upper, lowers, .. } = &fs {
            runspec::prune_stub_parents(upper, &outcome.created_stubs, lowers);
        }
        if outcome.exit_code != 0 {
            let shown = serde_json::to_string(&argv).unwrap_or_default();
            let oom =
                if outcome.oom_killed { format!(" ({})", sandbox::oom_hint(&self.req.limits)) } else { String::new() };
            return Err(StepFailure::new(loc, "", StepError::Exit { argv: shown, code: outcome.exit_code, hint: oom }));
        }
        if let (StepFs::Copy { rootfs, upper }, Some(before)) = (&fs, &before) {
            let ignore = runspec::stub_parents(&outcome.created_stubs);
            diff::diff(rootfs, before, upper, &ignore)
                .map_err(|e| StepFailure::io(loc, "RUN", "finding the step's changes", e))?;
        }
        self.finish_step(st, fs, step, false)?;
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
        let args: String = st.args.defined().map(|(k, v)| format!("{k}={v}\n")).collect();
        let mut key = KeyBuilder::new(&st.key)
            .part("step", step.original.as_bytes())
            .part("config", &config_json)
            .part("args", args.as_bytes());
        for (label, bytes) in reads {
            key = key.part(label, bytes);
        }
        key.finish()
    }

    /// The cache key standing for another stage's files (built on demand) or an image's.
    fn source_key(&self, from: &str, loc: Location) -> Result<Digest, StepFailure> {
        if let Some(i) = self.plan.stage_by_ref(from) {
            return Ok(self.finished(i, loc)?.key.clone());
        }
        let img = self.image(from, None, loc).map_err(|e| super::images::no_stage(from, e))?;
        Ok(img.manifest_digest)
    }

    /// On a cache hit, take the recorded layer instead of running the step.
    fn reuse_cached(&self, st: &mut StageState, step: &Step, key: &Digest) -> Result<bool, StepFailure> {
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
        // The copy backend's flattened rootfs does not have this layer: rebuild it when next needed. (The
        // overlay backend has none; asking which backend this is would probe for one on a cache hit.)
        st.rootfs = None;
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
        st.key = key;
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
    fn mount_binds(&self, mounts: &[MountSpec], loc: crate::dockerfile::Location) -> Result<StepMounts, StepFailure> {
        let failed = |e: String| fail(loc, format!("RUN --mount: {e}"));
        let mut out = StepMounts { binds: Vec::new(), tmpfs: Vec::new(), env: Vec::new(), secrets: Vec::new() };
        for m in mounts {
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
                MountSpec::Cache { id, target, readonly } => {
                    let dir = cache::mount_dir(self.store, id);
                    self.restore_cache_mount(id, &dir, loc)?;
                    std::fs::create_dir_all(&dir).map_err(|e| failed(format!("creating cache dir: {e}")))?;
                    Bind { source: dir, target: target.clone(), readonly: *readonly }
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
}
