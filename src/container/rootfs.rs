//! A container's filesystem and one run of its command: the overlay of the image's snapshots over the
//! container's `upper/` (or, with the copy backend, every layer extracted into `rootfs/`), prepared and
//! cleaned of the sandbox's stubs by the same snapshotter seam as RUN's (`snapshot::Snapshotter`,
//! `snapshot::stubs`), and [`run`], which both the detached monitor and the foreground `rbuild run` use to
//! execute a container.

use super::{network, restart};
use super::{Container, ContainerError};
use crate::digest::Digest;
use crate::sandbox::{self, Rootfs, RunOutcome, RunSpec, SandboxError};
use crate::snapshot::{overlay, stubs, Backend, Parent, Snapshotter};
use crate::store::{Image, Store};
use std::path::Path;

/// The rootfs of a new container in `dir`: overlay unless `RBUILD_SNAPSHOTTER=copy`.
pub fn prepare(store: &Store, image: &Image, dir: &Path) -> Result<Rootfs, ContainerError> {
    prepare_with(store, image, dir, overlay::forced().unwrap_or(Backend::Overlay))
}

/// An overlay of the image's snapshots over `<dir>/upper` (work dir `<dir>/work`); an image without
/// layers is its upper dir alone.
pub fn overlay(store: &Store, image: &Image, dir: &Path) -> Result<Rootfs, ContainerError> {
    prepare_with(store, image, dir, Backend::Overlay)
}

/// The copy backend's rootfs, where overlayfs cannot be mounted: every layer extracted into
/// `<dir>/rootfs` (an `upper/` or `work/` left by a refused overlay is dropped first).
pub fn copy(store: &Store, image: &Image, dir: &Path) -> Result<Rootfs, ContainerError> {
    for name in ["upper", "work"] {
        let _ = std::fs::remove_dir_all(dir.join(name));
    }
    prepare_with(store, image, dir, Backend::Copy)
}

/// The one rootfs preparation RUN uses too (`snapshot::Snapshotter::prepare`), kept for the container's
/// life.
fn prepare_with(store: &Store, image: &Image, dir: &Path, backend: Backend) -> Result<Rootfs, ContainerError> {
    let diff_ids = image
        .config
        .rootfs()
        .diff_ids()
        .iter()
        .map(|d| Digest::parse(d).map_err(|_| ContainerError::BadDiffId(d.clone())))
        .collect::<Result<Vec<_>, _>>()?;
    let parent = Parent { layers: image.manifest.layers(), diff_ids: &diff_ids };
    Ok(Snapshotter::new(store, backend).prepare(parent, None, dir)?.keep())
}

/// Run `spec` in `dir`; an overlay that the kernel refuses before anything ran falls back to a copied
/// rootfs (saving a probe of overlayfs on every run) when `fresh` (the copy replaces the upper dir, so
/// never for a container that already ran). A `Network::Bridge` spec runs in the namespace `plan` says:
/// its own, connected by pasta and publishing `plan.ports`, or a running container's. Returns the outcome
/// and the rootfs really used.
#[allow(clippy::too_many_arguments)] // one run's inputs; a struct would be built and torn apart at once
pub fn run_sandbox(
    store: &Store,
    image: &Image,
    dir: &Path,
    mut spec: RunSpec,
    fresh: bool,
    plan: &network::Plan,
    on_start: &mut dyn FnMut(i32),
    mut on_master: Option<&mut dyn FnMut(std::fs::File)>,
    debug: bool,
) -> Result<(RunOutcome, Rootfs), ContainerError> {
    // Connected before the command starts (pasta configures the namespace while the sandbox's init
    // starts up); pasta ends when this returns.
    let net = match spec.network {
        sandbox::Network::Bridge => Some(connect(store, plan, &mut spec, dir)?),
        _ => None,
    };
    let exe = Path::new("/proc/self/exe");
    // Why the network did not come up, when it did not (the sandbox only says that it did not).
    let not_ready = std::cell::Cell::new(None);
    let mut sandbox_run = |spec: &RunSpec| {
        let mut ready = || match net.as_ref().map_or(Ok(()), network::Link::wait_ready) {
            Ok(()) => true,
            Err(e) => {
                not_ready.set(Some(e));
                false
            }
        };
        let mut done = || net.as_ref().map_or((), network::Link::end);
        let netns = match net.as_ref() {
            Some(link) => sandbox::Netns::Join { fd: link.netns(), ready: &mut ready, done: &mut done },
            None => sandbox::Netns::Own,
        };
        // A `-t` container under a monitor: the monitor holds the pty's master (see `attach`).
        match on_master.as_mut() {
            Some(take) => sandbox::run_holding_terminal(spec, exe, netns, on_start, *take),
            None => sandbox::run_in_netns(spec, exe, netns, on_start),
        }
    };
    let outcome = match sandbox_run(&spec) {
        Err(SandboxError::OverlayMount { errno }) if fresh => {
            if debug {
                eprintln!("debug: overlayfs cannot be mounted here ({errno}); using the copy backend");
            }
            spec.rootfs = copy(store, image, dir)?;
            sandbox_run(&spec)
        }
        other => other,
    };
    let outcome = match (outcome, not_ready.take()) {
        (Err(SandboxError::NetworkNotReady), Some(why)) => return Err(why.into()),
        (outcome, _) => outcome?,
    };
    stubs::clean(&spec.rootfs, &outcome.created_stubs);
    Ok((outcome, spec.rootfs))
}

/// The namespace a bridge-mode sandbox joins: its own, connected by pasta (and attached to the named
/// network `plan.named`, whose `/etc/hosts` it then gets), or that of the running container `plan.join`
/// (`--network container:NAME`).
fn connect(
    store: &Store,
    plan: &network::Plan,
    spec: &mut RunSpec,
    dir: &Path,
) -> Result<network::Link, ContainerError> {
    if let Some(m) = &plan.named {
        let net = super::networks::Networks::new(store).get(&m.id).map_err(|e| match e {
            super::networks::NetworksError::NotFound(_) => {
                network::NetworkError::from(super::networks::NetworksError::NotFound(m.name.clone()))
            }
            e => e.into(),
        })?;
        // An internal network has no way out: no pasta, a bare namespace.
        let base = if net.internal {
            network::Link::Bare(network::new_netns()?)
        } else {
            network::Link::Pasta(network::Attached::start(&plan.ports, Some(network::PASTA_IFNAME), false)?)
        };
        let member = super::bridge::Member {
            container_id: plan.container_id.clone(),
            name: plan.container_name.clone(),
            aliases: m.aliases.clone(),
            hostname: spec.hostname.clone(),
            extra_hosts: spec.resolution.extra_hosts.clone(),
        };
        let hosts = dir.join("hosts");
        let endpoint =
            super::bridge::attach(store, &net, base.netns(), &member, &hosts).map_err(network::NetworkError::from)?;
        spec.hosts_file = Some(hosts);
        return Ok(network::Link::Network { endpoint: Box::new(endpoint), base: Box::new(base) });
    }
    let Some(id) = &plan.join else {
        // Not waited for: the sandbox waits (`Link::wait_ready`) just before its command may start.
        return Ok(network::Link::Pasta(network::Attached::spawn(&plan.ports, None, spec.resolution.host_gateway)?));
    };
    let other = super::Containers::new(store).find(id)?;
    match other.state.pid.filter(|_| other.is_running()) {
        Some(pid) => Ok(network::Link::Joined(network::open_netns(pid)?)),
        None => Err(ContainerError::NotRunning { name: other.name().to_string() }),
    }
}

/// Run a kept container's command, holding its lock, with `state.json` following along: running
/// (with pids) once the command was executed, exited with its code when it ends (or restarting, and
/// running again, as its restart policy says), or back to what it was with the error when it could not
/// be started. `on_start` runs after the running state is recorded,
/// `before_exit` once the sandbox is gone and before the end is recorded (the monitor drains the log
/// there, so whoever sees the exited state sees the whole log). The image is leased meanwhile, so gc
/// keeps its blobs and snapshots.
pub fn run(
    store: &Store,
    c: &mut Container,
    stdin: sandbox::Stdin,
    on_start: &mut dyn FnMut(),
    before_exit: &mut dyn FnMut(),
    debug: bool,
) -> Result<RunOutcome, ContainerError> {
    run_holding_terminal(store, c, stdin, on_start, before_exit, None, debug)
}

/// [`run`], with the pty's master of a [`sandbox::Stdin::Terminal`] run handed to `on_master` (once the
/// command was executed) instead of relayed to this process's stdio: the monitor of a `-t` container.
pub fn run_holding_terminal(
    store: &Store,
    c: &mut Container,
    stdin: sandbox::Stdin,
    on_start: &mut dyn FnMut(),
    before_exit: &mut dyn FnMut(),
    mut on_master: Option<&mut dyn FnMut(std::fs::File)>,
    debug: bool,
) -> Result<RunOutcome, ContainerError> {
    let Some(_held) = c.hold()? else {
        return Err(ContainerError::AlreadyRunning { name: c.config.name.clone() });
    };
    c.state = super::read_json(&c.dir.join(super::STATE))?;
    // We hold the lock: a state still saying running is a killed monitor's.
    c.mark_lost_if_running()?;
    // A start by hand: the restart policy's count and an earlier stop request are done with.
    c.state.restart_count = 0;
    restart::clear_stop_request(&c.dir);
    let mut backoff = restart::Backoff::default();
    let result = loop {
        let began = std::time::Instant::now();
        let result = run_held(
            store,
            c,
            stdin,
            on_start,
            on_master.as_mut().map(|f| &mut **f as &mut dyn FnMut(std::fs::File)),
            debug,
        );
        let outcome = match &result {
            Ok(outcome) if c.state.status == super::Status::Running => outcome,
            _ => break result,
        };
        if !c.config.restart.restarts(outcome.exit_code, c.state.restart_count) || restart::stop_requested(&c.dir) {
            break result;
        }
        c.state.exited(outcome.exit_code, outcome.oom_killed, None);
        c.state.status = super::Status::Restarting;
        c.state.restart_count += 1;
        c.save_state()?;
        if !restart::wait(&c.dir, backoff.next(began.elapsed())) {
            break result;
        }
    };
    before_exit();
    match &result {
        Ok(outcome) => c.state.exited(outcome.exit_code, outcome.oom_killed, None),
        Err(e) if matches!(c.state.status, super::Status::Running | super::Status::Restarting) => {
            c.state.exited(exit_code_of(e), false, Some(e.to_string()))
        }
        Err(e) => c.state.start_failed(exit_code_of(e), e.to_string()),
    }
    c.save_state()?;
    if c.config.auto_remove && c.state.status == super::Status::Exited {
        // `--rm`: removed before the lock goes, so whoever waited for the end finds it gone, once the
        // commands waiting for it have read the end just recorded.
        c.let_waiters_read();
        super::Containers::new(store).remove(c, false)?;
        super::volume::remove_anonymous(store, &c.config.spec.binds);
    }
    result
}

/// Docker's exit code for a container whose command could not run: 127/126 for exec failures, 128+N
/// when interrupted by signal N, 125 for the runtime's own failures.
pub fn exit_code_of(e: &ContainerError) -> i32 {
    match e {
        ContainerError::Sandbox(SandboxError::Interrupted { signal }) => 128 + signal,
        ContainerError::Sandbox(s) => s.exec_exit_code().unwrap_or(125),
        ContainerError::StartFailed { exit_code, .. } => *exit_code,
        _ => 125,
    }
}

fn run_held(
    store: &Store,
    c: &mut Container,
    stdin: sandbox::Stdin,
    on_start: &mut dyn FnMut(),
    on_master: Option<&mut dyn FnMut(std::fs::File)>,
    debug: bool,
) -> Result<RunOutcome, ContainerError> {
    let (name, reference) = (c.config.name.clone(), c.config.image.clone());
    let gone = |source| ContainerError::ImageGone { name: name.clone(), image: reference.clone(), source };
    let manifest = Digest::parse(&c.config.manifest)
        .map_err(|_| gone(crate::store::StoreError::UnsupportedDigest(c.config.manifest.clone())))?;
    let mut lease = store.lease()?;
    let image = store.load_image(&manifest, Vec::new()).map_err(gone)?;
    if !super::changes::protect_image(store, &mut lease, &image)? {
        return Err(gone(crate::store::StoreError::BlobNotFound(manifest)));
    }
    let mut spec = c.config.spec.clone();
    spec.stdin = stdin;
    if matches!(spec.rootfs, Rootfs::Overlay { .. }) {
        spec.rootfs = overlay(store, &image, &c.dir)?;
    }
    let fresh = c.state.started_at.is_none() && c.state.finished_at.is_none();
    let monitor_pid = std::process::id() as i32;
    let plan = network::Plan {
        ports: c.config.ports.clone(),
        join: c.config.network_container.clone(),
        named: c.config.network.clone(),
        container_id: c.config.id.clone(),
        container_name: c.config.name.clone(),
    };
    let mut failed_save = None;
    let dir = c.dir.clone();
    let mut started = |pid: i32| {
        c.state.started(monitor_pid, pid);
        match c.save_state() {
            Ok(()) => on_start(),
            Err(e) => failed_save = Some(e),
        }
    };
    let (outcome, rootfs) = run_sandbox(store, &image, &dir, spec, fresh, &plan, &mut started, on_master, debug)?;
    if let Some(e) = failed_save {
        return Err(e);
    }
    if rootfs != c.config.spec.rootfs && matches!(rootfs, Rootfs::Dir(_)) {
        // The copy fallback: from now on this container's filesystem is its rootfs/ dir.
        c.config.spec.rootfs = rootfs;
        c.save_config()?;
    }
    Ok(outcome)
}
