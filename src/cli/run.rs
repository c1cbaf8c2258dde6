//! `rbuild run`: a command in a throwaway container of a stored image, in the same sandbox as RUN; and
//! the hidden init subcommand the sandbox re-executes rbuild as.
//!
//! Exit codes follow `docker run`: the command's own code, 126/127 when it cannot be executed, 125 when
//! rbuild itself fails (image missing, sandbox setup), 128+N when rbuild is stopped by signal N.

use super::env_args::set_env;
use super::{Globals, UsageError};
use crate::container::network::{self, PortMapping};
use crate::container::restart::RestartPolicy;
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
    /// Restart policy when the command ends: no, on-failure[:MAX-RETRIES], always, unless-stopped
    #[arg(long, value_name = "POLICY", default_value = "no",
          value_parser = |s: &str| RestartPolicy::parse(s).map_err(|e| e.to_string()))]
    pub restart: RestartPolicy,
    /// Name of the container (default: a random adjective_surname)
    #[arg(value_parser = super::text(), long, value_name = "NAME")]
    pub name: Option<String>,
    /// Set a label on the container (K=V)
    #[arg(value_parser = super::text(), short = 'l', long = "label", value_name = "K=V")]
    pub labels: Vec<String>,
    /// Set an environment variable (K=V; a bare K takes rbuild's own value)
    #[arg(value_parser = super::text(), short = 'e', long = "env", value_name = "K=V")]
    pub env: Vec<String>,
    /// Read environment variables from a file (K=V or K per line, # comments); -e wins; repeatable
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_files: Vec<PathBuf>,
    /// Working directory inside the container (created if missing)
    #[arg(value_parser = super::text(), short = 'w', long = "workdir", value_name = "DIR")]
    pub workdir: Option<String>,
    /// User to run as: name|uid[:group|gid], resolved from the image's /etc/passwd and /etc/group
    #[arg(value_parser = super::text(), short = 'u', long = "user", value_name = "USER")]
    pub user: Option<String>,
    /// Bind-mount a host path (HOST:CONTAINER[:ro|rw]), mount a named volume (NAME:CONTAINER[:ro|rw],
    /// created on first use) or a new anonymous volume (CONTAINER)
    #[arg(value_parser = super::text(), short = 'v', long = "volume", value_name = "SRC:CTR[:ro]")]
    pub volumes: Vec<String>,
    /// Mount a volume, bind or tmpfs: type=bind|volume|tmpfs,source=…,target=…[,readonly] (docker's long -v)
    #[arg(value_parser = super::text(), long = "mount", value_name = "SPEC")]
    pub mounts: Vec<String>,
    /// Mount the container's root filesystem read-only (volumes, binds and /dev stay writable)
    #[arg(long)]
    pub read_only: bool,
    /// Network: bridge (its own namespace, connected by pasta), host, none (only loopback),
    /// container:NAME (join that running container's namespace), or a network made by `network create`
    #[arg(long, value_parser = parse_network, default_value = "bridge", value_name = "MODE")]
    pub network: NetworkArg,
    /// Another name the container's peers on its named network reach it by
    #[arg(value_parser = super::text(), long = "network-alias", value_name = "ALIAS")]
    pub network_alias: Vec<String>,
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
    /// Add a line to /etc/hosts: HOST:IP, where IP may be host-gateway (the host itself); repeatable
    #[arg(value_parser = super::text(), long = "add-host", value_name = "HOST:IP")]
    pub add_hosts: Vec<String>,
    /// A nameserver for /etc/resolv.conf (replacing the host's); repeatable
    #[arg(long = "dns", value_name = "IP")]
    pub dns: Vec<std::net::IpAddr>,
    /// A search domain for /etc/resolv.conf (replacing the host's; '.' for none); repeatable
    #[arg(value_parser = super::text(), long = "dns-search", value_name = "DOMAIN")]
    pub dns_search: Vec<String>,
    /// An option for /etc/resolv.conf, e.g. ndots:2 (replacing the host's); repeatable
    #[arg(value_parser = super::text(), long = "dns-option", visible_alias = "dns-opt", value_name = "OPT")]
    pub dns_options: Vec<String>,
    #[command(flatten)]
    pub sandbox: super::sandbox_opts::SandboxOptions,
    /// The image (name[:tag], name@digest, or an image id prefix), then the command and its arguments
    /// replacing the image's CMD. Everything after the image is the command's, as with docker: one
    /// positional list, so that a word such as `-c` or `-l` there is never taken as an rbuild flag
    #[arg(
        value_parser = super::text(),
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "IMAGE [COMMAND [ARG...]]"
    )]
    pub image_and_command: Vec<String>,
}

impl RunArgs {
    /// The image reference as given.
    pub fn image(&self) -> &str {
        self.image_and_command.first().map_or("", String::as_str)
    }

    /// The command and its arguments (empty: the image's CMD).
    pub fn command(&self) -> &[String] {
        self.image_and_command.get(1..).unwrap_or_default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkArg {
    Bridge,
    Host,
    None,
    /// `container:NAME`: the network namespace of that (running) container.
    Container(String),
    /// A named network (`rbuild network create`).
    Named(String),
}

fn parse_network(s: &str) -> Result<NetworkArg, String> {
    match s {
        "bridge" | "default" => Ok(NetworkArg::Bridge),
        "host" => Ok(NetworkArg::Host),
        "none" => Ok(NetworkArg::None),
        _ => match s.strip_prefix("container:") {
            Some(name) if !name.is_empty() => Ok(NetworkArg::Container(name.to_string())),
            _ if crate::container::networks::is_valid_name(s) => Ok(NetworkArg::Named(s.to_string())),
            _ => Err(format!(
                "invalid network {s:?}: use bridge, host, none, container:NAME or the name of a network \
                 (rbuild network ls)"
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
    let binds = volume_args(&a)?;
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

fn start(g: &Globals, a: &RunArgs, binds: Vec<VolumeArg>) -> anyhow::Result<ExitCode> {
    if !a.rm || a.detach {
        // A kept or detached container is recorded in the store's container model (see `rbuild ps`).
        return super::container_run::run_kept(g, a, binds);
    }
    let store = Store::open(&g.root)?;
    // Held until the container ends: gc keeps the image's blobs and every snapshot meanwhile.
    let mut lease = store.lease()?;
    let image = store.lock()?.resolve_leased(a.image(), &mut lease)?;
    let binds = volume_binds(&store, &image, &binds)?;
    let id = crate::container::new_id()?;
    // The pid in the name lets the next command remove it if this one is killed.
    let dir = store.root().join("tmp").join(format!("run-{}-{id}", std::process::id()));
    let _cleanup = RemoveOnDrop(dir.clone());
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let spec = container_spec(a, &image, rootfs::prepare(&store, &image, &dir)?, binds, &id)?;
    let net = network::Plan { container_id: id.clone(), ..network_plan(&store, a, &image)? };
    if g.debug {
        eprintln!("debug: container {id} in {}: {:?}", dir.display(), spec.argv);
    }
    let result = rootfs::run_sandbox(&store, &image, &dir, spec.clone(), true, &net, &mut |_| {}, None, g.debug);
    // `--rm` takes the container's anonymous volumes with it, as docker's does.
    crate::container::volume::remove_anonymous(&store, &spec.binds);
    let (outcome, _) = result?;
    Ok(outcome_code(&outcome, &spec))
}

/// How the container is connected: its published ports, or the container whose namespace it joins
/// (resolved to an id now, as docker does).
pub(super) fn network_plan(store: &Store, a: &RunArgs, image: &Image) -> anyhow::Result<network::Plan> {
    let join = match &a.network {
        NetworkArg::Container(name) => Some(crate::container::Containers::new(store).find(name)?.id().to_string()),
        _ => None,
    };
    let named = match &a.network {
        NetworkArg::Named(name) => {
            let net = crate::container::networks::Networks::new(store).get(name)?;
            if net.internal && (!a.publish.is_empty() || a.publish_all) {
                return Err(
                    UsageError(format!("-p/-P: network {name} is internal, nothing can be published from it")).into()
                );
            }
            Some(network::Membership { id: net.id, name: net.name, aliases: a.network_alias.clone() })
        }
        _ if !a.network_alias.is_empty() => {
            return Err(UsageError(
                "--network-alias is only for a container on a network made by `rbuild network create`".into(),
            )
            .into())
        }
        _ => None,
    };
    let ports = published_ports(a, image)?;
    Ok(network::Plan {
        ports,
        join,
        named,
        container_id: String::new(),
        container_name: a.name.clone().unwrap_or_default(),
    })
}

/// `-p` and `-P` (the image's EXPOSEd ports), host ports resolved; only a bridge network publishes.
fn published_ports(a: &RunArgs, image: &Image) -> anyhow::Result<Vec<PortMapping>> {
    let publishes = matches!(a.network, NetworkArg::Bridge | NetworkArg::Named(_));
    if !publishes && (!a.publish.is_empty() || a.publish_all) {
        // Docker ignores them with a warning; refusing says plainly that nothing would be published.
        return Err(UsageError(
            "-p/-P need --network bridge or a named network (with host the host's ports are the container's; a joined namespace \
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

/// The container's ENTRYPOINT and CMD as `docker run` merges them: `--entrypoint` replaces the image's
/// and drops its CMD; a command given replaces the CMD.
pub(super) fn entrypoint_and_cmd(a: &RunArgs, image: &Image) -> (Vec<String>, Vec<String>) {
    let config = image.config.config().clone().unwrap_or_default();
    let (entrypoint, default_cmd) = match &a.entrypoint {
        Some(e) if e.is_empty() => (Vec::new(), Vec::new()),
        Some(e) => (vec![e.clone()], Vec::new()),
        None => (config.entrypoint().clone().unwrap_or_default(), config.cmd().clone().unwrap_or_default()),
    };
    (entrypoint, if a.command().is_empty() { default_cmd } else { a.command().to_vec() })
}

/// Turn the image config and the flags into the sandbox's spec, as `docker run` merges them.
pub(super) fn container_spec(
    a: &RunArgs,
    image: &Image,
    rootfs: Rootfs,
    binds: Vec<Bind>,
    id: &str,
) -> anyhow::Result<RunSpec> {
    if a.rm && a.restart != RestartPolicy::No {
        return Err(
            UsageError("Conflicting options: --restart and --rm (a removed container cannot restart)".into()).into()
        );
    }
    let config = image.config.config().clone().unwrap_or_default();
    let (entrypoint, cmd) = entrypoint_and_cmd(a, image);
    let argv: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
    if argv.is_empty() {
        return Err(UsageError(format!("no command specified: {} has no ENTRYPOINT or CMD", a.image())).into());
    }
    let hostname = a.hostname.clone().unwrap_or_else(|| id[..12].to_string());
    let (seccomp, limits) = a.sandbox.resolve()?;
    let mut env = config.env().clone().unwrap_or_default();
    for e in super::env_args::env_args(&a.env_files, &a.env)? {
        set_env(&mut env, &e);
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
            NetworkArg::Bridge | NetworkArg::Container(_) | NetworkArg::Named(_) => Network::Bridge,
            NetworkArg::Host => Network::Host,
            NetworkArg::None => Network::None,
        },
        hostname,
        binds,
        // docker's defaults for a container's tmpfs mount: nosuid, nodev, noexec, mode 1777.
        tmpfs: volume_args(a)?
            .into_iter()
            .filter_map(|v| match v {
                VolumeArg::Tmpfs { target } => Some(sandbox::Tmpfs { target, size: None, noexec: true }),
                _ => None,
            })
            .collect(),
        stdin: stdin_mode(a),
        seccomp,
        limits,
        readonly_rootfs: a.read_only,
        hosts_file: None,
        resolution: resolution(a)?,
    })
}

/// `--add-host`, `--dns`, `--dns-search`, `--dns-option`, refused with a joined namespace as docker does
/// (the container is named and resolved as the one it joins).
fn resolution(a: &RunArgs) -> Result<sandbox::Resolution, UsageError> {
    let given = !a.add_hosts.is_empty() || !a.dns.is_empty() || !a.dns_search.is_empty() || !a.dns_options.is_empty();
    if given && matches!(a.network, NetworkArg::Container(_)) {
        return Err(UsageError(
            "Conflicting options: --add-host/--dns/--dns-search/--dns-option and --network container:NAME".into(),
        ));
    }
    // What host-gateway names: the host's loopback with its network, else the gateway pasta maps to it.
    let gateway = match a.network {
        NetworkArg::Host => Ok("127.0.0.1".to_string()),
        NetworkArg::Bridge => network::host_gateway().map(|gw| gw.to_string()).ok_or(
            "host-gateway is the address of the host's IPv4 default route, and this host has none (use --network \
             host to reach it at 127.0.0.1)",
        ),
        _ => Err("host-gateway needs --network bridge (the default) or host; from this network the host is not \
                  reachable"),
    };
    let mut r = sandbox::Resolution {
        nameservers: a.dns.clone(),
        search: a.dns_search.clone(),
        options: a.dns_options.clone(),
        ..Default::default()
    };
    for word in &a.add_hosts {
        let (line, via_gateway) = super::sandbox_opts::add_host_line(word, gateway.as_deref().map_err(|why| *why))?;
        r.extra_hosts.push(line);
        r.host_gateway |= via_gateway && a.network == NetworkArg::Bridge;
    }
    Ok(r)
}

/// `-t`: a pseudo-terminal of its own (fed from stdin with `-i`); `-i` alone: rbuild's stdin.
pub(super) fn stdin_mode(a: &RunArgs) -> Stdin {
    match (a.interactive, a.tty) {
        (input, true) => Stdin::Terminal { input },
        (true, false) => Stdin::Inherit,
        (false, false) => Stdin::Null,
    }
}

fn add_default(env: &mut Vec<String>, key: &str, value: &str) {
    if !env.iter().any(|e| e.starts_with(&format!("{key}="))) {
        env.push(format!("{key}={value}"));
    }
}

/// One `-v`: a host path bound in, or a named volume of the store (made on first use).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolumeArg {
    Host(Bind),
    Named {
        name: String,
        target: String,
        readonly: bool,
    },
    /// `-v /path`: a new anonymous volume.
    Anonymous {
        target: String,
    },
    /// `--mount type=tmpfs,target=…`: no bind; the sandbox mounts a fresh tmpfs (see `container_spec`).
    Tmpfs {
        target: String,
    },
}

/// `HOST:CONTAINER[:ro|rw]` (the host path absolute and existing) or `NAME:CONTAINER[:ro|rw]` (a NAME
/// without `/` is a named volume, as docker reads it).
pub(super) fn parse_volume(v: &str) -> Result<VolumeArg, UsageError> {
    let bad = |why: &str| {
        UsageError(format!("invalid volume {v:?}: {why} (expected HOST:CONTAINER[:ro] or NAME:CONTAINER[:ro])"))
    };
    let parts: Vec<&str> = v.split(':').collect();
    let (host, target, readonly) = match parts.as_slice() {
        [t] if t.starts_with('/') => return Ok(VolumeArg::Anonymous { target: t.to_string() }),
        [h, t] => (*h, *t, false),
        [h, t, "ro"] => (*h, *t, true),
        [h, t, "rw"] => (*h, *t, false),
        [_, _, opt] => return Err(bad(&format!("unknown option {opt:?}"))),
        _ => return Err(bad("wrong number of fields")),
    };
    if !target.starts_with('/') {
        return Err(bad("the container path must be absolute"));
    }
    if !host.contains('/') {
        if !crate::container::volume::is_valid_name(host) {
            return Err(bad(&format!(
                "{host:?} is not a volume name ([a-zA-Z0-9][a-zA-Z0-9_.-]) and a host path must be absolute"
            )));
        }
        return Ok(VolumeArg::Named { name: host.to_string(), target: target.to_string(), readonly });
    }
    if !host.starts_with('/') {
        return Err(bad("both paths must be absolute"));
    }
    let source = PathBuf::from(host).canonicalize().map_err(|e| bad(&format!("{host}: {e}")))?;
    Ok(VolumeArg::Host(Bind { source, target: target.to_string(), readonly }))
}

/// The `-v`s, then the `--mount`s.
pub(super) fn volume_args(a: &RunArgs) -> Result<Vec<VolumeArg>, UsageError> {
    let volumes = a.volumes.iter().map(|v| parse_volume(v));
    volumes.chain(a.mounts.iter().map(|m| super::mount_arg::parse_mount(m))).collect()
}

/// The binds of the `-v`s, then an anonymous volume for each of the image's `VOLUME`s no `-v` covers:
/// named volumes are created when missing (the store keeps them, see `crate::container::volume`).
pub(super) fn volume_binds(store: &Store, image: &Image, volumes: &[VolumeArg]) -> anyhow::Result<Vec<Bind>> {
    let vols = crate::container::volume::Volumes::new(store);
    let config = image.config.config().clone().unwrap_or_default();
    let mut image_volumes = config.volumes().clone().unwrap_or_default();
    image_volumes.sort();
    let covered = |path: &str| {
        volumes.iter().any(|v| match v {
            VolumeArg::Host(b) => b.target == path,
            VolumeArg::Named { target, .. } | VolumeArg::Anonymous { target } | VolumeArg::Tmpfs { target } => {
                target == path
            }
        })
    };
    let implied = image_volumes
        .into_iter()
        .filter(|p| !covered(p))
        .map(|target| VolumeArg::Anonymous { target })
        .collect::<Vec<_>>();
    // The image's files, mounted once, the first time a volume is empty (docker's copy-up).
    let mut image_view = None;
    let mut bind = |vol: crate::container::volume::Volume, target: &String, readonly: bool| -> anyhow::Result<Bind> {
        if vol.is_empty() {
            if image_view.is_none() {
                image_view = Some(crate::container::view::RootView::image_files(store, image)?);
            }
            vol.copy_up(image_view.as_ref().expect("mounted above").path(), target)?;
        }
        Ok(Bind { source: vol.mountpoint, target: target.clone(), readonly })
    };
    volumes
        .iter()
        .chain(&implied)
        .filter_map(|v| match v {
            VolumeArg::Host(b) => Some(Ok(b.clone())),
            VolumeArg::Named { name, target, readonly } => Some(
                vols.create(Some(name), Default::default())
                    .map_err(Into::into)
                    .and_then(|(vol, _)| bind(vol, target, *readonly)),
            ),
            VolumeArg::Anonymous { target } => Some(
                vols.create(None, Default::default()).map_err(Into::into).and_then(|(vol, _)| bind(vol, target, false)),
            ),
            VolumeArg::Tmpfs { .. } => None,
        })
        .collect()
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
        assert_eq!(b, VolumeArg::Host(Bind { source: host.clone(), target: "/data".into(), readonly: true }));
        let named = VolumeArg::Named { name: "cache".into(), target: "/data".into(), readonly: false };
        assert_eq!(parse_volume("cache:/data").unwrap(), named);
        assert!(parse_volume("./relative:/data").is_err());
        assert!(parse_volume("-bad:/data").is_err());
        assert!(parse_volume("cache:data").is_err());
        assert!(parse_volume(&format!("{}:/data:zz", host.display())).is_err());
        assert!(parse_volume("/definitely/missing/path:/data").is_err());
    }

    #[test]
    fn env_flags_override_by_key_and_defaults_only_fill_gaps() {
        let mut env = vec!["PATH=/bin".to_string(), "A=1".to_string()];
        set_env(&mut env, "A=2");
        set_env(&mut env, "B=3");
        add_default(&mut env, "PATH", DEFAULT_PATH);
        add_default(&mut env, "HOSTNAME", "abc");
        assert_eq!(env, ["PATH=/bin", "A=2", "B=3", "HOSTNAME=abc"]);
    }
}
