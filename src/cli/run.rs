//! `rbuild run`: a command in a throwaway container of a stored image, in the same sandbox as RUN; and
//! the hidden init subcommand the sandbox re-executes rbuild as.
//!
//! Exit codes follow `docker run`: the command's own code, 126/127 when it cannot be executed, 125 when
//! rbuild itself fails (image missing, sandbox setup), 128+N when rbuild is stopped by signal N.

use super::{Globals, UsageError};
use crate::digest::Digest;
use crate::sandbox::{self, Bind, Network, Rootfs, RunSpec, SandboxError, Stdin, DEFAULT_PATH};
use crate::snapshot::Snapshots;
use crate::store::{Image, Store};
use anyhow::Context;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Run a command in a new container of IMAGE
///
/// The container's filesystem is the image's snapshots plus its own upper dir; with --rm it is removed
/// afterwards, otherwise it is kept under <root>/containers/<id>/ and its id is printed on stderr.
/// Standard input is attached with -i (and -t), as with docker; the network is the host's unless
/// --network none.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Remove the container's filesystem when the command exits
    #[arg(long)]
    pub rm: bool,
    /// Set an environment variable (K=V; a bare K takes rbuild's own value)
    #[arg(value_parser = super::text(), short = 'e', long = "env", value_name = "K=V")]
    pub env: Vec<String>,
    /// Working directory inside the container (created if missing)
    #[arg(value_parser = super::text(), short = 'w', long = "workdir", value_name = "DIR")]
    pub workdir: Option<String>,
    /// User to run as: name|uid[:group|gid], resolved from the image's /etc/passwd and /etc/group
    #[arg(value_parser = super::text(), short = 'u', long = "user", value_name = "USER")]
    pub user: Option<String>,
    /// Bind-mount a host path: HOST:CONTAINER[:ro|rw]
    #[arg(value_parser = super::text(), short = 'v', long = "volume", value_name = "HOST:CTR[:ro]")]
    pub volumes: Vec<String>,
    /// Network: the host's, or none (only a loopback interface)
    #[arg(long, value_enum, default_value = "host")]
    pub network: NetworkArg,
    /// Keep standard input attached
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// The terminal on stdin becomes the container's (no pseudo-terminal is allocated)
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Replace the image's ENTRYPOINT (this also drops its CMD)
    #[arg(value_parser = super::text(), long, value_name = "CMD")]
    pub entrypoint: Option<String>,
    /// Container hostname (default: the short container id)
    #[arg(value_parser = super::text(), long, value_name = "NAME")]
    pub hostname: Option<String>,
    #[command(flatten)]
    pub sandbox: super::sandbox_opts::SandboxOptions,
    /// Image reference: name[:tag], name@digest, or an image id (prefix)
    #[arg(value_parser = super::text())]
    pub image: String,
    /// Command and arguments (replace the image's CMD)
    #[arg(value_parser = super::text(), trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum NetworkArg {
    Host,
    None,
}

/// Internal: the sandbox init (see `rbuild::sandbox`). Started by rbuild, never by hand.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    pub spec_fd: i32,
    pub report_fd: i32,
    pub status_fd: i32,
}

pub fn init(a: InitArgs) -> anyhow::Result<ExitCode> {
    let code = sandbox::init_main(a.spec_fd, a.report_fd, a.status_fd);
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}

/// Docker's exit code for a failure of the runner itself.
const RUNNER_FAILED: u8 = 125;

pub fn run(g: &Globals, a: RunArgs) -> anyhow::Result<ExitCode> {
    let binds = a.volumes.iter().map(|v| parse_volume(v)).collect::<Result<Vec<_>, _>>()?;
    if let Some(w) = a.workdir.as_deref().filter(|w| !w.starts_with('/')) {
        return Err(UsageError(format!("the working directory must be absolute, got {w:?}")).into());
    }
    match start(g, &a, binds) {
        Ok(code) => Ok(code),
        Err(err) => {
            let code = match err.downcast_ref::<SandboxError>() {
                Some(SandboxError::Interrupted { signal }) => 128 + *signal as u8,
                Some(e) => e.exec_exit_code().map(|c| c as u8).unwrap_or(RUNNER_FAILED),
                // Interrupted before or after the container ran (unpacking its rootfs, say).
                None => crate::interrupt::received().map_or(RUNNER_FAILED, |i| i.exit_code()),
            };
            eprintln!("error: {err:#}");
            Ok(ExitCode::from(code))
        }
    }
}

fn start(g: &Globals, a: &RunArgs, binds: Vec<Bind>) -> anyhow::Result<ExitCode> {
    let store = Store::open(&g.root)?;
    // Held until the container ends: gc keeps the image's blobs and every snapshot meanwhile.
    let mut lease = store.lease()?;
    let image = store.lock()?.resolve_leased(&a.image, &mut lease)?;
    let id = new_container_id()?;
    let dir = if a.rm {
        // The pid in the name lets the next command remove it if this one is killed.
        store.root().join("tmp").join(format!("run-{}-{id}", std::process::id()))
    } else {
        store.containers_dir().join(&id)
    };
    let cleanup = a.rm.then(|| RemoveOnDrop(dir.clone()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    if !a.rm {
        record_container(&dir, &id, &image)?;
    }
    // Overlay unless told otherwise; a refused overlay mount (reported before anything ran) falls back to
    // a copied rootfs, which saves probing overlayfs on every run.
    let copy = std::env::var("RBUILD_SNAPSHOTTER").as_deref() == Ok("copy");
    let rootfs = if copy { copy_rootfs(&store, &image, &dir)? } else { overlay_rootfs(&store, &image, &dir)? };
    let mut spec = container_spec(a, &image, rootfs, binds, &id)?;
    if g.debug {
        eprintln!("debug: container {id} in {}: {:?}", dir.display(), spec.argv);
    }
    let outcome = match sandbox::run(&spec) {
        Err(SandboxError::OverlayMount { errno }) => {
            if g.debug {
                eprintln!("debug: overlayfs cannot be mounted here ({errno}); using the copy backend");
            }
            spec.rootfs = copy_rootfs(&store, &image, &dir)?;
            sandbox::run(&spec)?
        }
        other => other?,
    };
    drop(cleanup);
    if !a.rm {
        let changes = match &spec.rootfs {
            Rootfs::Overlay { upper, .. } => upper,
            Rootfs::Dir(dir) => dir,
        };
        remove_stubs(changes, &outcome.created_stubs);
        eprintln!("container {id} kept in {} (run with --rm to remove it)", dir.display());
    }
    if outcome.oom_killed && outcome.exit_code != 0 {
        eprintln!("error: a process of the container was {}", sandbox::oom_hint(&spec.limits));
    }
    Ok(ExitCode::from(outcome.exit_code.clamp(0, 255) as u8))
}

/// The container's rootfs: an overlay of the image's snapshots over `<dir>/upper` (work dir
/// `<dir>/work`); an image without layers is its upper dir alone.
fn overlay_rootfs(store: &Store, image: &Image, dir: &Path) -> anyhow::Result<Rootfs> {
    let diff_ids = image
        .config
        .rootfs()
        .diff_ids()
        .iter()
        .map(|d| Digest::parse(d).with_context(|| format!("bad diff_id {d:?} in the image config")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let lowers = Snapshots::new(store).lowers(image.manifest.layers(), &diff_ids)?;
    let upper = make_dir(&dir.join("upper"))?;
    if lowers.is_empty() {
        return Ok(Rootfs::Dir(upper));
    }
    Ok(Rootfs::Overlay { lowers, upper, work: make_dir(&dir.join("work"))? })
}

/// The copy backend's rootfs, where overlayfs cannot be mounted: every layer extracted into
/// `<dir>/rootfs`.
fn copy_rootfs(store: &Store, image: &Image, dir: &Path) -> anyhow::Result<Rootfs> {
    for name in ["upper", "work"] {
        let _ = std::fs::remove_dir_all(dir.join(name));
    }
    let rootfs = make_dir(&dir.join("rootfs"))?;
    for layer in image.manifest.layers() {
        crate::layer::extract(store, layer, &rootfs).with_context(|| format!("extracting layer {}", layer.digest()))?;
    }
    Ok(Rootfs::Dir(rootfs))
}

fn make_dir(p: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(p).with_context(|| format!("creating {}", p.display()))?;
    Ok(p.to_path_buf())
}

/// Turn the image config and the flags into the sandbox's spec, as `docker run` merges them.
fn container_spec(a: &RunArgs, image: &Image, rootfs: Rootfs, binds: Vec<Bind>, id: &str) -> anyhow::Result<RunSpec> {
    let config = image.config.config().clone().unwrap_or_default();
    let (entrypoint, default_cmd) = match &a.entrypoint {
        Some(e) if e.is_empty() => (Vec::new(), Vec::new()),
        Some(e) => (vec![e.clone()], Vec::new()),
        None => (config.entrypoint().clone().unwrap_or_default(), config.cmd().clone().unwrap_or_default()),
    };
    let cmd = if a.command.is_empty() { default_cmd } else { a.command.clone() };
    let argv: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
    if argv.is_empty() {
        return Err(UsageError(format!("no command specified: {} has no ENTRYPOINT or CMD", a.image)).into());
    }
    let hostname = a.hostname.clone().unwrap_or_else(|| id[..12].to_string());
    let (seccomp, limits) = a.sandbox.resolve()?;
    let mut env = config.env().clone().unwrap_or_default();
    for e in &a.env {
        match e.split_once('=') {
            Some((k, _)) => set_env(&mut env, k, e),
            None => {
                if let Ok(v) = std::env::var(e) {
                    set_env(&mut env, e, &format!("{e}={v}"));
                }
            }
        }
    }
    add_default(&mut env, "PATH", DEFAULT_PATH);
    add_default(&mut env, "HOSTNAME", &hostname);
    if a.tty {
        add_default(&mut env, "TERM", "xterm");
    }
    let cwd = a.workdir.clone().or_else(|| config.working_dir().clone().filter(|w| !w.is_empty()));
    Ok(RunSpec {
        rootfs,
        argv,
        env,
        cwd: cwd.unwrap_or_else(|| "/".to_string()),
        user: a.user.clone().or_else(|| config.user().clone()).filter(|u| !u.is_empty()),
        network: match a.network {
            NetworkArg::Host => Network::Host,
            NetworkArg::None => Network::None,
        },
        hostname,
        binds,
        stdin: if a.interactive || a.tty { Stdin::Inherit } else { Stdin::Null },
        seccomp,
        limits,
    })
}

fn set_env(env: &mut Vec<String>, key: &str, kv: &str) {
    let prefix = format!("{key}=");
    match env.iter_mut().find(|e| e.starts_with(&prefix)) {
        Some(slot) => *slot = kv.to_string(),
        None => env.push(kv.to_string()),
    }
}

fn add_default(env: &mut Vec<String>, key: &str, value: &str) {
    if !env.iter().any(|e| e.starts_with(&format!("{key}="))) {
        env.push(format!("{key}={value}"));
    }
}

/// `HOST:CONTAINER[:ro|rw]`, the host path absolute and existing.
fn parse_volume(v: &str) -> Result<Bind, UsageError> {
    let bad = |why: &str| UsageError(format!("invalid volume {v:?}: {why} (expected HOST:CONTAINER[:ro])"));
    let parts: Vec<&str> = v.split(':').collect();
    let (host, target, readonly) = match parts.as_slice() {
        [h, t] => (*h, *t, false),
        [h, t, "ro"] => (*h, *t, true),
        [h, t, "rw"] => (*h, *t, false),
        [_, _, opt] => return Err(bad(&format!("unknown option {opt:?}"))),
        _ => return Err(bad("wrong number of fields")),
    };
    if !host.starts_with('/') || !target.starts_with('/') {
        return Err(bad("both paths must be absolute"));
    }
    let source = PathBuf::from(host).canonicalize().map_err(|e| bad(&format!("{host}: {e}")))?;
    Ok(Bind { source, target: target.to_string(), readonly })
}

/// 64 random hex digits, like a docker container id.
fn new_container_id() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes)).context("reading /dev/urandom")?;
    Ok(hex::encode(bytes))
}

/// What a later `commit` needs to know about a kept container.
fn record_container(dir: &Path, id: &str, image: &Image) -> anyhow::Result<()> {
    let record = serde_json::json!({
        "id": id,
        "image": image.config_digest.to_string(),
        "manifest": image.manifest_digest.to_string(),
    });
    let path = dir.join("container.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&record)?).with_context(|| format!("writing {}", path.display()))
}

/// Take the sandbox's mount-point stubs out of the container's changes (deepest first), so a later
/// commit does not record them; one the command filled in (a non-empty file or directory) stays.
fn remove_stubs(changes: &Path, stubs: &[String]) {
    for stub in stubs.iter().rev() {
        let path = changes.join(stub.trim_start_matches('/'));
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => {
                let _ = std::fs::remove_dir(&path);
            }
            Ok(m) if m.is_file() && m.len() == 0 => {
                let _ = std::fs::remove_file(&path);
            }
            _ => {}
        }
    }
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_parse_like_docker() {
        let t = tempfile::tempdir().unwrap();
        let host = t.path().canonicalize().unwrap();
        let b = parse_volume(&format!("{}:/data:ro", host.display())).unwrap();
        assert_eq!(b, Bind { source: host.clone(), target: "/data".into(), readonly: true });
        assert!(!parse_volume(&format!("{}:/data", host.display())).unwrap().readonly);
        assert!(parse_volume("relative:/data").is_err());
        assert!(parse_volume(&format!("{}:/data:zz", host.display())).is_err());
        assert!(parse_volume("/definitely/missing/path:/data").is_err());
    }

    #[test]
    fn env_flags_override_by_key_and_defaults_only_fill_gaps() {
        let mut env = vec!["PATH=/bin".to_string(), "A=1".to_string()];
        set_env(&mut env, "A", "A=2");
        set_env(&mut env, "B", "B=3");
        add_default(&mut env, "PATH", DEFAULT_PATH);
        add_default(&mut env, "HOSTNAME", "abc");
        assert_eq!(env, ["PATH=/bin", "A=2", "B=3", "HOSTNAME=abc"]);
    }
}
