//! `rbuild run`: a command in a throwaway container of a stored image, in the same sandbox as RUN; and
//! the hidden init subcommand the sandbox re-executes rbuild as.
//!
//! Exit codes follow `docker run`: the command's own code, 126/127 when it cannot be executed, 125 when
//! rbuild itself fails (image missing, sandbox setup), 128+N when rbuild is stopped by signal N.

use super::{Globals, UsageError};
use crate::container::network::{self, PortMapping};
use crate::container::{rootfs, ContainerError};
use crate::sandbox::{self, Bind, Network, Rootfs, RunSpec, SandboxError, Stdin, DEFAULT_PATH};
use crate::store::{Image, Store};
use anyhow::Context;
use std::path::PathBuf;
use std::process::ExitCode;

/// Run a command in a new container of IMAGE
///
/// The container's filesystem is the image's snapshots plus its own upper dir; with --rm it is removed
/// afterwards, otherwise the container is kept (see `rbuild ps -a`) and its id is printed on stderr.
/// With -d it runs in the background under a monitor process and its id is printed on stdout.
/// Standard input is attached with -i (and -t), as with docker; the container gets a network namespace
/// of its own, connected by pasta (--network bridge, the default), or the host's, or none.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Remove the container's filesystem when the command exits
    #[arg(long)]
    pub rm: bool,
    /// Run the container in the background (under a monitor process) and print its id
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Name of the container (default: a random adjective_surname)
    #[arg(value_parser = super::text(), long, value_name = "NAME")]
    pub name: Option<String>,
    /// Set a label on the container (K=V)
    #[arg(value_parser = super::text(), short = 'l', long = "label", value_name = "K=V")]
    pub labels: Vec<String>,
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
    /// Network: bridge (its own namespace, connected by pasta), host, none (only loopback), or
    /// container:NAME (join that running container's namespace)
    #[arg(long, value_parser = parse_network, default_value = "bridge", value_name = "MODE")]
    pub network: NetworkArg,
    /// Publish a container port on the host: [IP:]HOSTPORT:CTRPORT[/udp], or CTRPORT for a free host port
    #[arg(value_parser = super::text(), short = 'p', long = "publish", value_name = "PORTS")]
    pub publish: Vec<String>,
    /// Publish every port the image EXPOSEs on a free host port
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkArg {
    Bridge,
    Host,
    None,
    /// `container:NAME`: the network namespace of that (running) container.
    Container(String),
}

fn parse_network(s: &str) -> Result<NetworkArg, String> {
    match s {
        "bridge" | "default" => Ok(NetworkArg::Bridge),
        "host" => Ok(NetworkArg::Host),
        "none" => Ok(NetworkArg::None),
        _ => match s.strip_prefix("container:") {
            Some(name) if !name.is_empty() => Ok(NetworkArg::Container(name.to_string())),
            _ => Err(format!(
                "unknown network {s:?}: use bridge, host, none or container:NAME (named networks are not supported yet)"
            )),
        },
    }
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
pub(super) const RUNNER_FAILED: u8 = 125;

pub fn run(g: &Globals, a: RunArgs) -> anyhow::Result<ExitCode> {
    let binds = a.volumes.iter().map(|v| parse_volume(v)).collect::<Result<Vec<_>, _>>()?;
    if let Some(w) = a.workdir.as_deref().filter(|w| !w.starts_with('/')) {
        return Err(UsageError(format!("the working directory must be absolute, got {w:?}")).into());
    }
    match start(g, &a, binds) {
        Ok(code) => Ok(code),
        Err(err) => {
            let code = match (err.downcast_ref::<SandboxError>(), err.downcast_ref::<ContainerError>()) {
                (Some(SandboxError::Interrupted { signal }), _) => 128 + *signal as u8,
                (Some(e), _) => e.exec_exit_code().map(|c| c as u8).unwrap_or(RUNNER_FAILED),
                (None, Some(e)) if rootfs::exit_code_of(e) != i32::from(RUNNER_FAILED) => {
                    rootfs::exit_code_of(e).clamp(0, 255) as u8
                }
                // Interrupted before or after the container ran (unpacking its rootfs, say).
                _ => crate::interrupt::received().map_or(RUNNER_FAILED, |i| i.exit_code()),
            };
            eprintln!("error: {err:#}");
            Ok(ExitCode::from(code))
        }
    }
}

fn start(g: &Globals, a: &RunArgs, binds: Vec<Bind>) -> anyhow::Result<ExitCode> {
    if !a.rm || a.detach {
        // A kept or detached container is recorded in the store's container model (see `rbuild ps`).
        return super::container_run::run_kept(g, a, binds);
    }
    let store = Store::open(&g.root)?;
    // Held until the container ends: gc keeps the image's blobs and every snapshot meanwhile.
    let mut lease = store.lease()?;
    let image = store.lock()?.resolve_leased(&a.image, &mut lease)?;
    let id = crate::container::new_id()?;
    // The pid in the name lets the next command remove it if this one is killed.
    let dir = store.root().join("tmp").join(format!("run-{}-{id}", std::process::id()));
    let _cleanup = RemoveOnDrop(dir.clone());
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let spec = container_spec(a, &image, rootfs::prepare(&store, &image, &dir)?, binds, &id)?;
    let net = network_plan(&store, a, &image)?;
    if g.debug {
        eprintln!("debug: container {id} in {}: {:?}", dir.display(), spec.argv);
    }
    let (outcome, _) = rootfs::run_sandbox(&store, &image, &dir, spec.clone(), true, &net, &mut |_| {}, g.debug)?;
    Ok(outcome_code(&outcome, &spec))
}

/// How the container is connected: its published ports, or the container whose namespace it joins
/// (resolved to an id now, as docker does).
pub(super) fn network_plan(store: &Store, a: &RunArgs, image: &Image) -> anyhow::Result<network::Plan> {
    let join = match &a.network {
        NetworkArg::Container(name) => Some(crate::container::Containers::new(store).find(name)?.id().to_string()),
        _ => None,
    };
    Ok(network::Plan { ports: published_ports(a, image)?, join })
}

/// `-p` and `-P` (the image's EXPOSEd ports), host ports resolved; only a bridge network publishes.
fn published_ports(a: &RunArgs, image: &Image) -> anyhow::Result<Vec<PortMapping>> {
    if a.network != NetworkArg::Bridge && (!a.publish.is_empty() || a.publish_all) {
        // Docker ignores them with a warning; refusing says plainly that nothing would be published.
        return Err(UsageError(
            "-p/-P need --network bridge (with host the host's ports are the container's; a joined namespace \
             publishes through its container)"
                .into(),
        )
        .into());
    }
    let config = image.config.config().clone().unwrap_or_default();
    let exposed = config.exposed_ports().clone().unwrap_or_default();
    Ok(network::resolve_ports(&a.publish, &exposed, a.publish_all)?)
}

/// The exit code of a foreground run, saying so when the OOM killer ended it.
pub(super) fn outcome_code(outcome: &sandbox::RunOutcome, spec: &RunSpec) -> ExitCode {
    if outcome.oom_killed && outcome.exit_code != 0 {
        eprintln!("error: a process of the container was {}", sandbox::oom_hint(&spec.limits));
    }
    ExitCode::from(outcome.exit_code.clamp(0, 255) as u8)
}

/// Turn the image config and the flags into the sandbox's spec, as `docker run` merges them.
pub(super) fn container_spec(
    a: &RunArgs,
    image: &Image,
    rootfs: Rootfs,
    binds: Vec<Bind>,
    id: &str,
) -> anyhow::Result<RunSpec> {
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
            // A joined namespace is the container's own too (not the host's): bridge's caps and /etc/hosts.
            NetworkArg::Bridge | NetworkArg::Container(_) => Network::Bridge,
            NetworkArg::Host => Network::Host,
            NetworkArg::None => Network::None,
        },
        hostname,
        binds,
        stdin: stdin_mode(a),
        seccomp,
        limits,
    })
}

/// `-t`: a pseudo-terminal of its own (fed from stdin with `-i`); `-i` alone: rbuild's stdin.
pub(super) fn stdin_mode(a: &RunArgs) -> Stdin {
    match (a.interactive, a.tty) {
        (input, true) => Stdin::Terminal { input },
        (true, false) => Stdin::Inherit,
        (false, false) => Stdin::Null,
    }
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
pub(super) fn parse_volume(v: &str) -> Result<Bind, UsageError> {
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
