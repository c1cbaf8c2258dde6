//! `rbuild container …` (ls, create, run, start, stop, kill, restart, wait, logs, rm, rename, prune,
//! inspect) and the commands that only read or remove containers: `rm`, `rename`, `container prune`,
//! and the docker-shaped JSON `inspect` shows for a container.

use super::container_run::{RestartArgs, StartArgs};
use super::container_stop::{KillArgs, StopArgs, WaitArgs};
use super::images::open_store;
use super::logs::LogsArgs;
use super::ps::PsArgs;
use super::run::RunArgs;
use super::Globals;
use crate::container::{Container, ContainerError, Containers, Status};
use crate::sandbox::{Network, Rootfs};
use serde_json::{json, Value};
use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum ContainerCommand {
    /// List containers
    #[command(visible_aliases = ["ps", "list"])]
    Ls(PsArgs),
    /// Create a container of an image without starting it
    Create(RunArgs),
    /// Run a command in a new container
    Run(RunArgs),
    /// Start stopped containers
    Start(StartArgs),
    /// Stop running containers
    Stop(StopArgs),
    /// Send a signal to running containers
    Kill(KillArgs),
    /// Restart containers
    Restart(RestartArgs),
    /// Wait for containers to stop; print their exit codes
    Wait(WaitArgs),
    /// Show a container's output
    Logs(LogsArgs),
    /// Remove containers
    Rm(RmArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// Remove all stopped containers
    Prune(PruneArgs),
    /// Show containers as docker-style JSON
    Inspect(InspectArgs),
}

/// Remove one or more containers
#[derive(Debug, clap::Args)]
pub struct RmArgs {
    /// Kill and remove a running container
    #[arg(short, long)]
    pub force: bool,
    /// Also remove the container's anonymous volumes (named volumes stay)
    #[arg(short, long)]
    pub volumes: bool,
    /// Containers: name, full id or unique id prefix
    #[arg(value_parser = super::text(), required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// Rename a container
#[derive(Debug, clap::Args)]
pub struct RenameArgs {
    #[arg(value_parser = super::text(), value_name = "CONTAINER")]
    pub container: String,
    #[arg(value_parser = super::text(), value_name = "NEW_NAME")]
    pub new_name: String,
}

/// Remove all stopped containers
#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    /// Do not ask for confirmation
    #[arg(short, long)]
    pub force: bool,
}

/// Show containers as docker-style JSON
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// Format the output with a Go template (see `rbuild inspect --help`)
    #[arg(value_parser = super::text(), short, long, value_name = "TEMPLATE")]
    pub format: Option<String>,
    #[arg(value_parser = super::text(), required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

pub fn run(g: &Globals, c: ContainerCommand) -> anyhow::Result<ExitCode> {
    match c {
        ContainerCommand::Ls(a) => super::ps::run(g, a),
        ContainerCommand::Create(a) => super::container_run::create(g, a),
        ContainerCommand::Run(a) => super::run::run(g, a),
        ContainerCommand::Start(a) => super::container_run::start(g, a),
        ContainerCommand::Stop(a) => super::container_stop::stop(g, a),
        ContainerCommand::Kill(a) => super::container_stop::kill(g, a),
        ContainerCommand::Restart(a) => super::container_run::restart(g, a),
        ContainerCommand::Wait(a) => super::container_stop::wait(g, a),
        ContainerCommand::Logs(a) => super::logs::run(g, a),
        ContainerCommand::Rm(a) => rm(g, a),
        ContainerCommand::Rename(a) => rename(g, a),
        ContainerCommand::Prune(a) => prune(g, a),
        ContainerCommand::Inspect(a) => inspect(g, a),
    }
}

pub fn rm(g: &Globals, a: RmArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(g)?;
    let containers = Containers::new(&store);
    let mut failed = false;
    for q in &a.containers {
        match containers.find(q).and_then(|mut c| containers.remove(&mut c, a.force).map(|()| c)) {
            Ok(c) => {
                if a.volumes {
                    crate::container::volume::remove_anonymous(&store, &c.config.spec.binds);
                }
                println!("{q}");
            }
            Err(e) => {
                eprintln!("error: {e}");
                failed = true;
            }
        }
    }
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

pub fn rename(g: &Globals, a: RenameArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(g)?;
    Containers::new(&store).rename(&a.container, &a.new_name)?;
    Ok(ExitCode::SUCCESS)
}

pub fn prune(g: &Globals, a: PruneArgs) -> anyhow::Result<ExitCode> {
    if !super::prune_opts::confirm(a.force, "This will remove all stopped containers.") {
        return Ok(ExitCode::SUCCESS);
    }
    let store = open_store(g)?;
    let (deleted, reclaimed) = remove_stopped(&store)?;
    if !deleted.is_empty() {
        println!("Deleted Containers:");
        for id in &deleted {
            println!("{id}");
        }
        println!();
    }
    println!("Total reclaimed space: {}", super::listing::human_size(reclaimed));
    Ok(ExitCode::SUCCESS)
}

/// Remove every container that is not running (`container prune`, `system prune`): their ids and the
/// bytes their directories held.
pub fn remove_stopped(store: &crate::store::Store) -> anyhow::Result<(Vec<String>, u64)> {
    let containers = Containers::new(store);
    let mut deleted = Vec::new();
    let mut reclaimed = 0;
    for mut c in containers.list()? {
        if c.is_running() || c.monitor_alive() {
            continue;
        }
        let size = crate::store::gc_roots::disk_usage(&c.dir);
        containers.remove(&mut c, false)?;
        reclaimed += size;
        deleted.push(c.config.id);
    }
    Ok((deleted, reclaimed))
}

pub fn inspect(g: &Globals, a: InspectArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(g)?;
    let containers = Containers::new(&store);
    let mut views = Vec::new();
    let mut failed = false;
    for q in &a.containers {
        match containers.find(q) {
            Ok(c) => views.push(view(&store, &c)),
            Err(e) => {
                eprintln!("error: {e}");
                failed = true;
            }
        }
    }
    super::inspect::print_views(&views, a.format.as_deref())?;
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// Docker's time for "never": `0001-01-01T00:00:00Z`.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// A container as docker's `inspect` shows it (the fields rbuild has).
pub fn view(store: &crate::store::Store, c: &Container) -> Value {
    let s = &c.state;
    let spec = &c.config.spec;
    let running = matches!(s.status, Status::Running | Status::Paused);
    let (driver, upper) = match &spec.rootfs {
        Rootfs::Overlay { upper, .. } => ("overlay", upper),
        Rootfs::Dir(dir) => ("copy", dir),
    };
    let mounts: Vec<Value> = spec
        .binds
        .iter()
        .map(|b| {
            json!({"Type": "bind", "Source": b.source, "Destination": b.target, "Mode": if b.readonly { "ro" } else { "" },
                "RW": !b.readonly, "Propagation": "rprivate"})
        })
        .collect();
    json!({
        "Id": c.config.id,
        "Created": c.config.created,
        "Path": spec.argv.first(),
        "Args": spec.argv.get(1..).unwrap_or_default(),
        "State": {
            "Status": s.status.as_str(),
            "Running": s.status == Status::Running,
            "Paused": s.status == Status::Paused,
            "Restarting": s.status == Status::Restarting,
            "OOMKilled": s.oom_killed,
            "Dead": false,
            "Pid": if running { s.pid.unwrap_or(0) } else { 0 },
            "ExitCode": s.exit_code.unwrap_or(0),
            "Error": s.error.clone().unwrap_or_default(),
            "StartedAt": s.started_at.clone().unwrap_or_else(|| ZERO_TIME.into()),
            "FinishedAt": s.finished_at.clone().unwrap_or_else(|| ZERO_TIME.into()),
        },
        "Image": c.config.image_id,
        "LogPath": c.log_path(),
        "Name": format!("/{}", c.config.name),
        "RestartCount": s.restart_count,
        "Driver": driver,
        "Platform": "linux",
        "GraphDriver": {"Name": driver, "Data": {"UpperDir": upper}},
        "Mounts": mounts,
        "Config": {
            "Hostname": spec.hostname,
            "User": spec.user.clone().unwrap_or_default(),
            "Env": spec.env,
            "Cmd": spec.argv,
            "Image": c.config.image,
            "WorkingDir": spec.cwd,
            "Labels": c.config.labels,
            "StopSignal": c.config.stop_signal,
        },
        "HostConfig": {
            "NetworkMode": match (&c.config.network_container, spec.network) {
            _ if c.config.network.is_some() => c.config.network.as_ref().map(|m| m.name.clone()).unwrap_or_default(),
            (Some(id), _) => format!("container:{id}"),
            (None, Network::Bridge) => "bridge".to_string(),
            (None, Network::Host) => "host".to_string(),
            (None, Network::None) => "none".to_string(),
        },
            "RestartPolicy": {"Name": c.config.restart.name(), "MaximumRetryCount": c.config.restart.max_retries()},
            "AutoRemove": c.config.auto_remove,
            // docker's units: bytes (0: none), billionths of a CPU (0: none), processes (null: default).
            "Memory": spec.limits.memory.unwrap_or(0),
            "NanoCpus": spec.limits.nano_cpus.unwrap_or(0),
            "PidsLimit": spec.limits.pids,
            "CpuShares": spec.limits.cpu_shares.unwrap_or(0),
            "CpusetCpus": spec.limits.cpuset_cpus.clone().unwrap_or_default(),
            // docker's shapes: `HOST:IP` (null when none), and the resolv.conf flags as given.
            "ExtraHosts": (!spec.resolution.extra_hosts.is_empty()).then(|| {
                spec.resolution
                    .extra_hosts
                    .iter()
                    .map(|l| l.split_once('\t').map(|(ip, host)| format!("{host}:{ip}")).unwrap_or_else(|| l.clone()))
                    .collect::<Vec<_>>()
            }),
            "Dns": spec.resolution.nameservers,
            "DnsSearch": spec.resolution.search,
            "DnsOptions": spec.resolution.options,
        },
        "NetworkSettings": match &c.config.network {
            Some(m) => {
                let (ip, networks) =
                    crate::container::networks::container_settings(store, m, c.id(), c.is_running());
                serde_json::json!({
                    "Ports": crate::container::network::inspect_ports(&c.config.ports),
                    "IPAddress": ip.map(|i| i.to_string()).unwrap_or_default(),
                    "Networks": networks,
                })
            }
            None => serde_json::json!({
                "Ports": crate::container::network::inspect_ports(&c.config.ports),
                "IPAddress": c.state.pid.filter(|_| c.is_running()).and_then(crate::container::network::address_of).unwrap_or_default(),
            }),
        },
    })
}

/// `inspect NAME`: a container when one is called that (docker looks at containers first), `None`
/// when none is, so the caller looks for an image.
pub fn find_view(store: &crate::store::Store, query: &str) -> Result<Option<Value>, ContainerError> {
    match Containers::new(store).find(query) {
        Ok(c) => Ok(Some(view(store, &c))),
        Err(ContainerError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}
