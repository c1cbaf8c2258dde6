//! Creating and starting kept containers: `create`, `run` without `--rm` (foreground or `-d`), `start`
//! and `restart`. The model and the monitor live in `crate::container`; this file turns flags into a
//! container config and reports like docker.

use super::run::{container_spec, entrypoint_and_cmd, outcome_code, volume_args, volume_binds, RunArgs, VolumeArg};
use super::{Globals, UsageError};
use crate::container::attach::DetachKeys;
use crate::container::{self, monitor, rootfs, Config, Container, Containers};
use crate::sandbox::{Rootfs, Stdin};
use crate::store::Store;
use anyhow::Context;
use std::collections::BTreeMap;
use std::process::ExitCode;

/// Start one or more stopped containers
#[derive(Debug, clap::Args)]
pub struct StartArgs {
    /// Follow the container's output until it exits, and exit with its code
    #[arg(short, long)]
    pub attach: bool,
    /// Attach stdin too (a -i -t container's terminal); implies -a
    #[arg(short, long)]
    pub interactive: bool,
    /// The key sequence that detaches an attached terminal (docker's syntax)
    #[arg(value_parser = super::text(), long, default_value = crate::container::attach::DEFAULT_DETACH_KEYS, value_name = "KEYS")]
    pub detach_keys: String,
    /// Containers: name, full id or unique id prefix
    #[arg(value_parser = super::text(), required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// Restart one or more containers (stop, then start)
#[derive(Debug, clap::Args)]
pub struct RestartArgs {
    /// Seconds to wait for the stop signal to end the command before SIGKILL
    #[arg(short = 't', long = "time", value_name = "SECONDS", default_value_t = super::container_stop::DEFAULT_STOP_TIMEOUT)]
    pub time: u64,
    #[arg(value_parser = super::text(), required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// Internal: a detached container's monitor (see `rbuild::container::monitor`). Started by rbuild only.
#[derive(Debug, clap::Args)]
pub struct MonitorArgs {
    pub id: String,
    pub ready_fd: i32,
}

/// `create IMAGE [COMMAND...]`: record the container, print its id.
pub fn create(g: &Globals, a: RunArgs) -> anyhow::Result<ExitCode> {
    if a.detach {
        return Err(UsageError("create takes no -d (start runs a created container in the background)".into()).into());
    }
    let binds = volume_args(&a)?;
    let (_, c) = create_container(g, &a, binds)?;
    println!("{}", c.id());
    Ok(ExitCode::SUCCESS)
}

/// `run` without `--rm`: create, then run in the foreground (this process holds the container) or,
/// with `-d`, under a monitor, printing the full id as docker does.
pub fn run_kept(g: &Globals, a: &RunArgs, binds: Vec<VolumeArg>) -> anyhow::Result<ExitCode> {
    let (store, mut c) = create_container(g, a, binds)?;
    if a.detach {
        monitor::spawn(&g.root, c.id(), &c.dir, g.debug)?;
        println!("{}", c.id());
        return Ok(ExitCode::SUCCESS);
    }
    let stdin = super::run::stdin_mode(a);
    // The output also goes into the container's log, for `logs` (a terminal's, merged, on stdout).
    let stderr_too = !matches!(stdin, Stdin::Terminal { .. });
    let log = c.log_path();
    let teed = container::log::open(&log)
        .and_then(|file| container::log::Teed::start(file, stderr_too, true))
        .with_context(|| format!("opening {}", log.display()))?;
    let outcome = rootfs::run(&store, &mut c, stdin, &mut || {}, &mut || {}, g.debug);
    teed.finish().with_context(|| format!("writing {}", log.display()))?;
    let outcome = outcome?;
    eprintln!("container {} kept in {} (run with --rm to remove it)", c.id(), c.dir.display());
    Ok(outcome_code(&outcome, &c.config.spec))
}

/// Record a new container of `a.image`: its config (image, sandbox spec, name, labels) and its
/// filesystem (snapshots unpacked, or the layers copied with the copy backend).
fn create_container(g: &Globals, a: &RunArgs, binds: Vec<VolumeArg>) -> anyhow::Result<(Store, Container)> {
    if let Some(w) = a.workdir.as_deref().filter(|w| !w.starts_with('/')) {
        return Err(UsageError(format!("the working directory must be absolute, got {w:?}")).into());
    }
    let store = Store::open(&g.root)?;
    // Until config.json names the image (a gc root from then on), the lease keeps it.
    let mut lease = store.lease()?;
    let image = store.lock()?.resolve_leased(a.image(), &mut lease)?;
    let binds = volume_binds(&store, &image, &binds)?;
    let id = container::new_id()?;
    let dir = store.container_dir(&id);
    // The real rootfs is made once the name is taken; an overlay's lowers are looked up at each start.
    let placeholder = if std::env::var("RBUILD_SNAPSHOTTER").as_deref() == Ok("copy") {
        Rootfs::Dir(dir.join("rootfs"))
    } else {
        Rootfs::Overlay { lowers: Vec::new(), upper: dir.join("upper"), work: dir.join("work") }
    };
    let spec = container_spec(a, &image, placeholder, binds, &id)?;
    let net = super::run::network_plan(&store, a, &image)?;
    let config = image.config.config().clone().unwrap_or_default();
    let mut labels: BTreeMap<String, String> = config.labels().clone().unwrap_or_default().into_iter().collect();
    for l in &a.labels {
        let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
        labels.insert(k.to_string(), v.to_string());
    }
    let (entrypoint, cmd) = entrypoint_and_cmd(a, &image);
    let containers = Containers::new(&store);
    let mut c = containers.create(Config {
        id: id.clone(),
        name: a.name.clone().unwrap_or_default(),
        created: container::now(),
        image: a.image().to_string(),
        image_id: image.config_digest.to_string(),
        manifest: image.manifest_digest.to_string(),
        labels,
        stop_signal: config.stop_signal().clone(),
        auto_remove: a.rm,
        restart: a.restart,
        ports: net.ports,
        network_container: net.join,
        network: net.named,
        entrypoint: Some(entrypoint),
        cmd: Some(cmd),
        spec,
    })?;
    match rootfs::prepare(&store, &image, &dir) {
        Ok(rootfs) => c.set_rootfs(rootfs)?,
        Err(e) => {
            let _ = containers.remove(&mut c, true);
            return Err(e.into());
        }
    }
    Ok((store, c))
}

/// `start [-a] CONTAINER...`
pub fn start(g: &Globals, a: StartArgs) -> anyhow::Result<ExitCode> {
    let attach = a.attach || a.interactive;
    if attach && a.containers.len() > 1 {
        return Err(UsageError("you cannot start and attach multiple containers at once".into()).into());
    }
    let keys = DetachKeys::parse(&a.detach_keys).map_err(|e| UsageError(e.to_string()))?;
    let store = Store::open(&g.root)?;
    let mut failed = false;
    for query in &a.containers {
        let found = Containers::new(&store).find(query);
        // Taken before the start: an `--rm` container that ends at once is still there to report its end.
        let waiter = found.as_ref().ok().filter(|_| attach).and_then(Container::waiter);
        match found.map_err(anyhow::Error::from).and_then(|c| start_found(g, c)) {
            Ok((c, _)) if attach && matches!(c.config.spec.stdin, Stdin::Terminal { .. }) => {
                return super::attach::to_terminal(c, a.interactive, &keys, waiter);
            }
            // docker's start -a forwards signals to a container without a terminal, with no flag to stop it.
            Ok((c, offset)) if attach => {
                let proxy = super::logs::Signals::Proxy;
                return super::attach::follow_with_input(&store, c, offset, a.interactive, proxy);
            }
            Ok(_) => println!("{query}"),
            Err(e) => {
                eprintln!("error: {e:#}");
                failed = true;
            }
        }
    }
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// Start one container under a monitor; the container and where its log ended before the start.
fn start_one(g: &Globals, store: &Store, query: &str) -> anyhow::Result<(Container, u64)> {
    start_found(g, Containers::new(store).find(query)?)
}

/// [`start_one`] of a container already found.
fn start_found(g: &Globals, c: Container) -> anyhow::Result<(Container, u64)> {
    if c.is_running() || c.monitor_alive() {
        return Err(container::ContainerError::AlreadyRunning { name: c.name().to_string() }.into());
    }
    let offset = std::fs::metadata(c.log_path()).map_or(0, |m| m.len());
    monitor::spawn(&g.root, c.id(), &c.dir, g.debug)?;
    Ok((c, offset))
}

/// `restart [-t N] CONTAINER...`
pub fn restart(g: &Globals, a: RestartArgs) -> anyhow::Result<ExitCode> {
    let store = Store::open(&g.root)?;
    let mut failed = false;
    for query in &a.containers {
        let result = super::container_stop::stop_one(&store, query, a.time).and_then(|_| start_one(g, &store, query));
        match result {
            Ok(_) => println!("{query}"),
            Err(e) => {
                eprintln!("error: {e:#}");
                failed = true;
            }
        }
    }
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
