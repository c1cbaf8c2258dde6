//! Containers without a daemon: the model in the store and the life of one container.
//!
//! A container is the directory `<root>/containers/<id>/` (see [`Store::container_dir`]) holding
//! `config.json` (what to run: the image, the sandbox spec, name, labels, creation time; written once,
//! rewritten only by `rename`), `state.json` (created | running | paused | restarting | exited, the
//! monitor's and the command's pids, exit code, start and finish times; always replaced atomically),
//! `ctr.log` (docker's json-file log of a detached container), `monitor.lock`, and the writable layer
//! (`upper/` + `work/` over the image's snapshots, or `rootfs/` with the copy backend).
//!
//! Lifecycle: `create` writes config and a `created` state; a start runs the command in the same sandbox
//! RUN uses, either in a detached monitor ([`monitor`]) or in the foreground `rbuild run`. Whoever runs it
//! holds an exclusive flock on `monitor.lock` for as long as the sandbox lives: that lock, not a pid, is
//! how every other command tells a live container from one whose monitor was killed. A state that says
//! running while nobody holds the lock is corrected on the next read to exited with code
//! [`UNKNOWN_EXIT_CODE`]. Stop and kill are plain signals to the recorded pid of the sandbox's pid 1, sent
//! only while the lock shows the monitor alive (so a recycled pid is never signalled).
//!
//! This module never deletes a container that is running unless asked to (`force`), and then only after
//! its processes are gone; mounts live in the sandbox's own mount namespace and vanish with it.

pub mod attach;
pub mod changes;
pub mod cp;
pub mod exec;
pub mod log;
#[allow(unsafe_code)]
pub mod monitor;
// `ip`'s pre_exec: setns into a network's or a container's namespace.
#[allow(unsafe_code)]
pub mod bridge;
mod names;
// pasta's pre_exec: PDEATHSIG and the namespace descriptor it inherits.
#[allow(unsafe_code)]
pub mod network;
pub mod networks;
pub mod pause;
pub mod restart;
pub mod rootfs;
mod state;
pub mod top;
pub mod view;
pub mod volume;

pub use state::{State, Status, UNKNOWN_EXIT_CODE};

use crate::sandbox::{RunSpec, SandboxError};
use crate::snapshot::SnapshotError;
use crate::store::{Store, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// Everything that can go wrong with a container. The texts follow docker's where docker has one.
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error("No such container: {0}")]
    NotFound(String),
    #[error("multiple IDs found with provided prefix: {prefix} (it matches {}); give more of the id or the name", candidates.join(", "))]
    Ambiguous { prefix: String, candidates: Vec<String> },
    #[error(
        "Conflict. The container name \"/{name}\" is already in use by container \"{id}\". You have to remove \
         (or rename) that container to be able to reuse that name."
    )]
    NameInUse { name: String, id: String },
    #[error("Invalid container name ({0}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")]
    InvalidName(String),
    #[error(
        "cannot remove container \"/{name}\": container is running: stop the container before removing or force \
         remove (rm -f)"
    )]
    RemoveRunning { name: String },
    #[error("container {name} is already running: stop it first (rbuild stop {name}) or use rbuild restart")]
    AlreadyRunning { name: String },
    #[error("Container {name} is not running")]
    NotRunning { name: String },
    /// Docker's wording for `exec` into a container that is not running.
    #[error("container {id} is not running")]
    ExecNotRunning { id: String },
    #[error("Could not find the file {path} in container {container}")]
    CpNotFound { path: String, container: String },
    #[error("cp: {path} {reason}")]
    CpPath { path: String, reason: String },
    #[error("container {name}: its image has {count} layers, too many to mount its filesystem at once here")]
    TooManyLayers { name: String, count: usize },
    #[error("container {name}: its filesystem could not be mounted (the error is above)")]
    ViewMount { name: String },
    #[error(
        "container {name} uses the copy backend, which keeps no record of its changes: {what} needs the \
         overlay backend (create it without RBUILD_SNAPSHOTTER=copy)"
    )]
    CopyBackend { name: String, what: &'static str },
    #[error(
        "container {name} has no freezer cgroup of its own (neither cgroup v2 nor the v1 freezer hierarchy is \
         usable here), so it cannot be paused; stop it instead"
    )]
    NoFreezer { name: String },
    #[error("the kernel did not finish freezing or thawing {} in time", path.display())]
    FreezeTimeout { path: PathBuf },
    #[error("Container {name} is already paused")]
    AlreadyPaused { name: String },
    #[error("Container {name} is not paused")]
    NotPaused { name: String },
    #[error("invalid restart policy {policy:?}: {why}")]
    BadRestartPolicy { policy: String, why: String },
    #[error("--change: {reason}")]
    CommitChange { reason: String },
    #[error(transparent)]
    Image(#[from] crate::image::ImageError),
    #[error("invalid signal: {0} (use a name such as TERM, SIGKILL or a number such as 9)")]
    BadSignal(String),
    #[error("cannot send {signal} to container {name}: {errno}")]
    Signal { name: String, signal: String, errno: nix::errno::Errno },
    #[error("{what} {}: {source}", path.display())]
    Io { what: &'static str, path: PathBuf, source: io::Error },
    #[error("malformed {}: {source}", path.display())]
    Json { path: PathBuf, source: serde_json::Error },
    #[error("container {name}: its image {image} is no longer complete in the store ({source})")]
    ImageGone { name: String, image: String, source: StoreError },
    #[error("bad diff_id {0:?} in the image config")]
    BadDiffId(String),
    #[error("cannot start the container monitor: {0}")]
    MonitorSpawn(io::Error),
    #[error("the monitor of container {name} exited before starting it (see {})", log.display())]
    MonitorDied { name: String, log: PathBuf },
    /// The monitor's report of why the command could not be started (the text of its error).
    #[error("{message}")]
    StartFailed { message: String, exit_code: i32 },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error(transparent)]
    Layer(#[from] crate::layer::LayerError),
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error(transparent)]
    Attach(#[from] attach::AttachError),
    #[error(transparent)]
    Network(#[from] network::NetworkError),
}

impl ContainerError {
    fn io<'p>(what: &'static str, path: &'p Path) -> impl FnOnce(io::Error) -> ContainerError + 'p {
        move |source| ContainerError::Io { what, path: path.to_path_buf(), source }
    }
}

/// What a container runs: `config.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    /// 64 hex digits.
    pub id: String,
    pub name: String,
    /// RFC 3339 with nanoseconds, UTC.
    pub created: String,
    /// The image reference as the user gave it (`ps` shows it).
    pub image: String,
    /// The image id (config digest).
    pub image_id: String,
    /// The image's manifest digest: gc keeps this image while the container exists.
    pub manifest: String,
    pub labels: BTreeMap<String, String>,
    /// The image's STOPSIGNAL, if any (`stop` sends it, SIGTERM otherwise).
    pub stop_signal: Option<String>,
    /// `--rm`: the monitor removes the container when its command ends.
    #[serde(default)]
    pub auto_remove: bool,
    /// Published ports (`-p`, `-P`), host ports resolved at create; pasta forwards them (`network`).
    #[serde(default)]
    pub ports: Vec<network::PortMapping>,
    /// `--network container:ID`: the container whose network namespace this one joins at each start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_container: Option<String>,
    /// `--network NAME`: the named network it is attached to while it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<network::Membership>,
    /// `--restart`: what its runner does when the command ends (see [`restart`]).
    #[serde(default, skip_serializing_if = "is_default")]
    pub restart: restart::RestartPolicy,
    /// The ENTRYPOINT and CMD the container runs (the image's merged with `run`'s flags), which `commit`
    /// writes into the new image as docker does; `None` in configs older rbuilds wrote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    /// The sandbox spec. Its rootfs is the container's own; an overlay's lower dirs are looked up again
    /// at every start, so a swept snapshot is simply unpacked again.
    pub spec: RunSpec,
}

/// One container as read from the store.
#[derive(Debug, Clone)]
pub struct Container {
    pub dir: PathBuf,
    pub config: Config,
    pub state: State,
}

const CONFIG: &str = "config.json";
const STATE: &str = "state.json";
const LOG: &str = "ctr.log";
const LOCK: &str = "monitor.lock";
/// What the monitor itself has to say (its own failures), apart from the command's output.
const MONITOR_LOG: &str = "monitor.log";
/// Shared-locked by commands waiting for the command's end (see [`Container::waiter`]).
const WAITERS: &str = "waiters.lock";
/// How long an `--rm` container's end waits for its waiters to read the exit code before removing it.
const WAITERS_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// A signal as docker's `kill -s` and STOPSIGNAL take it: `TERM`, `SIGTERM`, `sigterm` or `15`.
pub fn parse_signal(s: &str) -> Result<nix::sys::signal::Signal, ContainerError> {
    use nix::sys::signal::Signal;
    let bad = || ContainerError::BadSignal(s.to_string());
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| bad());
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") { upper } else { format!("SIG{upper}") };
    name.parse::<Signal>().map_err(|_| bad())
}

/// 64 random hex digits, like a docker container id.
pub fn new_id() -> Result<String, ContainerError> {
    Ok(hex::encode(random_bytes::<32>()?))
}

fn random_bytes<const N: usize>() -> Result<[u8; N], ContainerError> {
    let mut bytes = [0u8; N];
    let urandom = Path::new("/dev/urandom");
    fs::File::open(urandom)
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(ContainerError::io("reading", urandom))?;
    Ok(bytes)
}

/// Write `bytes` to `path` atomically: temp file beside it, fsync, rename.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ContainerError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp =
        tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir).map_err(ContainerError::io("writing", path))?;
    tmp.write_all(bytes).and_then(|_| tmp.as_file().sync_all()).map_err(ContainerError::io("writing", path))?;
    tmp.persist(path).map_err(|e| ContainerError::Io { what: "writing", path: path.to_path_buf(), source: e.error })?;
    Ok(())
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ContainerError> {
    let bytes = fs::read(path).map_err(ContainerError::io("reading", path))?;
    serde_json::from_slice(&bytes).map_err(|source| ContainerError::Json { path: path.to_path_buf(), source })
}

fn pretty(value: &impl Serialize) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(value).expect("container records serialise");
    bytes.push(b'\n');
    bytes
}

/// The current time as docker writes it: RFC 3339, nanoseconds, UTC.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

impl Container {
    /// Read the container in `dir`, correcting a state whose monitor died (see the module docs).
    pub fn load(dir: &Path) -> Result<Container, ContainerError> {
        let config: Config = read_json(&dir.join(CONFIG))?;
        let state: State = read_json(&dir.join(STATE))?;
        let mut c = Container { dir: dir.to_path_buf(), config, state };
        c.reconcile()?;
        Ok(c)
    }

    pub fn id(&self) -> &str {
        &self.config.id
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join(LOG)
    }

    pub fn monitor_log_path(&self) -> PathBuf {
        self.dir.join(MONITOR_LOG)
    }

    fn lock_path(&self) -> PathBuf {
        self.dir.join(LOCK)
    }

    /// Re-read the state file.
    pub fn refresh(&mut self) -> Result<(), ContainerError> {
        self.state = read_json(&self.dir.join(STATE))?;
        self.reconcile()
    }

    pub fn save_state(&self) -> Result<(), ContainerError> {
        write_atomic(&self.dir.join(STATE), &pretty(&self.state))
    }

    fn save_config(&self) -> Result<(), ContainerError> {
        write_atomic(&self.dir.join(CONFIG), &pretty(&self.config))
    }

    /// Record the filesystem made for the container (after [`rootfs::prepare`]).
    pub fn set_rootfs(&mut self, rootfs: crate::sandbox::Rootfs) -> Result<(), ContainerError> {
        self.config.spec.rootfs = rootfs;
        self.save_config()
    }

    /// Whether a process (a monitor or a foreground `run`) holds this container's lock.
    pub fn monitor_alive(&self) -> bool {
        let Ok(file) = fs::File::open(self.lock_path()) else { return false };
        matches!(
            nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock),
            Err((_, nix::errno::Errno::EWOULDBLOCK))
        )
    }

    /// Take this container's lock for as long as the returned guard lives: the caller runs it. `None`
    /// when another process holds it. Readers probe the lock for an instant (see
    /// [`Container::monitor_alive`]), so a lock found taken is tried again for a short while before a
    /// start is refused: only a process that keeps it is running the container.
    pub fn hold(&self) -> Result<Option<nix::fcntl::Flock<fs::File>>, ContainerError> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(200);
        loop {
            match self.try_lock()? {
                Some(lock) => return Ok(Some(lock)),
                None if std::time::Instant::now() >= deadline => return Ok(None),
                None => std::thread::sleep(std::time::Duration::from_millis(2)),
            }
        }
    }

    fn try_lock(&self) -> Result<Option<nix::fcntl::Flock<fs::File>>, ContainerError> {
        let path = self.lock_path();
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(ContainerError::io("opening", &path))?;
        match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
            Ok(lock) => Ok(Some(lock)),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
            Err((_, errno)) => Err(ContainerError::Io { what: "locking", path, source: errno.into() }),
        }
    }

    /// Running (or paused) with a live monitor: the only case in which its pid may be signalled.
    pub fn is_running(&self) -> bool {
        matches!(self.state.status, Status::Running | Status::Paused) && self.monitor_alive()
    }

    /// A state that says running while no monitor holds the lock belongs to a killed monitor: its
    /// sandbox died with it (the sandbox's init has PDEATHSIG), so record it as exited, code unknown.
    /// Decided holding the lock and on a fresh read of the state, so a monitor that recorded the real
    /// end and exited in the meantime is never overwritten.
    fn reconcile(&mut self) -> Result<(), ContainerError> {
        if !matches!(self.state.status, Status::Running | Status::Paused | Status::Restarting) {
            return Ok(());
        }
        let Some(_lock) = self.try_lock()? else { return Ok(()) };
        self.state = read_json(&self.dir.join(STATE))?;
        self.mark_lost_if_running()
    }

    /// Holding the lock: a running state is stale (its monitor is gone).
    pub(crate) fn mark_lost_if_running(&mut self) -> Result<(), ContainerError> {
        if matches!(self.state.status, Status::Running | Status::Paused | Status::Restarting) {
            self.state.lost_monitor();
            self.save_state()?;
        }
        Ok(())
    }

    /// Send `signal` to the container's command (its pid 1). Its restart policy ends here (docker's
    /// "manually stopped"): a restarting container gets no signal, only the request not to start again.
    pub fn signal(&self, signal: nix::sys::signal::Signal) -> Result<(), ContainerError> {
        if self.monitor_alive() {
            restart::request_stop(&self.dir)?;
        }
        let pid = match self.state.pid {
            Some(pid) if self.is_running() => pid,
            _ => return Err(ContainerError::NotRunning { name: self.config.name.clone() }),
        };
        if self.state.status == Status::Paused {
            // A frozen process cannot act on the signal: thaw it first (see `pause`).
            pause::unpause(&mut self.clone())?;
        }
        match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal) {
            Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
            Err(errno) => {
                Err(ContainerError::Signal { name: self.config.name.clone(), signal: signal.to_string(), errno })
            }
        }
    }

    /// Held while a command waits for the command's end (`wait`, `start -a`, `attach`): the end of an
    /// `--rm` container waits until no waiter holds it (for a few seconds at most) before removing the
    /// container, so that they read its exit code first, as docker's waiters get it. `None` when it
    /// cannot be taken (the removal is under way).
    pub fn waiter(&self) -> Option<nix::fcntl::Flock<fs::File>> {
        let file = self.waiters_file().ok()?;
        nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockSharedNonblock).ok()
    }

    /// `waiters.lock`, made if missing: waiters lock it shared, the end of an `--rm` container exclusive.
    fn waiters_file(&self) -> io::Result<fs::File> {
        fs::OpenOptions::new().create(true).truncate(false).write(true).open(self.dir.join(WAITERS))
    }

    /// The end of an `--rm` container, before it is removed: let the commands waiting for it read its
    /// recorded end first (see [`Container::waiter`]).
    pub(crate) fn let_waiters_read(&self) {
        use nix::fcntl::{Flock, FlockArg};
        let Ok(mut file) = self.waiters_file() else { return };
        let deadline = std::time::Instant::now() + WAITERS_GRACE;
        loop {
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(_all_read) => return,
                Err((f, _)) if std::time::Instant::now() < deadline => {
                    file = f;
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Err(_) => return,
            }
        }
    }

    /// Wait until the command has ended (the monitor recorded it, or the monitor is gone), polling the
    /// state; `false` when `timeout` passed first. An `--rm` container removed at its end keeps the state
    /// last read, its recorded end when this waited for it.
    pub fn wait_stopped(&mut self, timeout: Option<std::time::Duration>) -> Result<bool, ContainerError> {
        let waiter = self.waiter();
        self.wait_stopped_holding(timeout, waiter)
    }

    /// [`Container::wait_stopped`] with a [`Container::waiter`] taken earlier (before the container was
    /// started or attached to), given up once the end is read.
    pub fn wait_stopped_holding(
        &mut self,
        timeout: Option<std::time::Duration>,
        mut waiter: Option<nix::fcntl::Flock<fs::File>>,
    ) -> Result<bool, ContainerError> {
        let start = std::time::Instant::now();
        loop {
            match self.refresh() {
                Ok(()) => {}
                // Removed at its end (`--rm`) or by another command: it has stopped.
                Err(ContainerError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => return Ok(true),
                Err(e) => return Err(e),
            }
            let starting = self.state.status == Status::Created && self.monitor_alive();
            if !starting && !self.is_running() {
                // Its end is read: an `--rm` container's monitor may remove it now (it waits for this).
                drop(waiter.take());
                // A restarting container's runner holds the lock until its policy gives up or a stop
                // request ends it (see `restart`).
                // Let the monitor finish writing and release the lock before the caller moves on.
                while self.monitor_alive() && !self.is_running() {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                    if self.state.status == Status::Restarting {
                        self.refresh()?;
                    }
                }
                if self.is_running() {
                    // Restarted by its policy meanwhile: wait for this run to end.
                    continue;
                }
                return match self.refresh() {
                    Err(ContainerError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => Ok(true),
                    other => other.map(|_| true),
                };
            }
            if timeout.is_some_and(|t| start.elapsed() >= t) {
                return Ok(false);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

/// The containers of one store.
pub struct Containers<'a> {
    store: &'a Store,
}

impl<'a> Containers<'a> {
    pub fn new(store: &'a Store) -> Containers<'a> {
        Containers { store }
    }

    /// Every container, oldest first. Directories without a config (a container kept by an older
    /// rbuild, or one being created) are not containers yet.
    pub fn list(&self) -> Result<Vec<Container>, ContainerError> {
        let dir = self.store.containers_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(ContainerError::Io { what: "listing", path: dir, source }),
        };
        let mut out = Vec::new();
        for entry in entries {
            let path = entry.map_err(ContainerError::io("listing", &dir))?.path();
            if !path.join(CONFIG).exists() || !path.join(STATE).exists() {
                continue;
            }
            match Container::load(&path) {
                Ok(c) => out.push(c),
                // Removed meanwhile by another command.
                Err(ContainerError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        out.sort_by(|a, b| a.config.created.cmp(&b.config.created));
        Ok(out)
    }

    /// A container by full id, name, or unique id prefix (docker's order).
    pub fn find(&self, query: &str) -> Result<Container, ContainerError> {
        let all = self.list()?;
        let name = query.strip_prefix('/').unwrap_or(query);
        if let Some(c) =
            all.iter().find(|c| c.config.id == query).or_else(|| all.iter().find(|c| c.config.name == name))
        {
            return Ok(c.clone());
        }
        let matches: Vec<&Container> =
            if query.is_empty() { Vec::new() } else { all.iter().filter(|c| c.config.id.starts_with(query)).collect() };
        match matches.as_slice() {
            [] => Err(ContainerError::NotFound(query.to_string())),
            [one] => Ok((*one).clone()),
            many => Err(ContainerError::Ambiguous {
                prefix: query.to_string(),
                candidates: many.iter().map(|c| format!("{} ({})", &c.config.id[..12], c.config.name)).collect(),
            }),
        }
    }

    /// Record a new container: its directory, `config.json` and a `created` state. `config.name` empty
    /// means a random docker-style name. Names are checked and taken under the store lock.
    pub fn create(&self, mut config: Config) -> Result<Container, ContainerError> {
        if !config.name.is_empty() {
            config.name = names::validate(&config.name)?;
        }
        let _lock = self.store.lock()?;
        let taken: BTreeMap<String, String> =
            self.list()?.into_iter().map(|c| (c.config.name.clone(), c.config.id.clone())).collect();
        if config.name.is_empty() {
            let mut attempt = 0;
            config.name = loop {
                let name = names::random(attempt, &random_bytes::<4>()?);
                if !taken.contains_key(&name) {
                    break name;
                }
                attempt += 1;
            };
        } else if let Some(id) = taken.get(&config.name) {
            return Err(ContainerError::NameInUse { name: config.name, id: id.clone() });
        }
        let dir = self.store.container_dir(&config.id);
        fs::create_dir_all(&dir).map_err(ContainerError::io("creating", &dir))?;
        let c = Container { dir, config, state: State::default() };
        c.save_state()?;
        // The config last: a directory is a container once it has both files.
        c.save_config()?;
        Ok(c)
    }

    /// Give a container another name.
    pub fn rename(&self, query: &str, new_name: &str) -> Result<(), ContainerError> {
        let new_name = names::validate(new_name)?;
        let _lock = self.store.lock()?;
        let mut c = self.find(query)?;
        if let Some(other) = self.list()?.into_iter().find(|o| o.config.name == new_name) {
            return Err(ContainerError::NameInUse { name: new_name, id: other.config.id });
        }
        c.config.name = new_name;
        c.save_config()
    }

    /// Remove a container; a running one only with `force`, after killing it and waiting for its
    /// monitor to end (so no process, mount or cgroup of it is left).
    pub fn remove(&self, c: &mut Container, force: bool) -> Result<(), ContainerError> {
        let starting = matches!(c.state.status, Status::Created | Status::Restarting) && c.monitor_alive();
        if c.is_running() || starting {
            if !force {
                return Err(ContainerError::RemoveRunning { name: c.config.name.clone() });
            }
            loop {
                match c.signal(nix::sys::signal::Signal::SIGKILL) {
                    Ok(()) | Err(ContainerError::NotRunning { .. }) => {}
                    Err(e) => return Err(e),
                }
                if c.wait_stopped(Some(std::time::Duration::from_secs(10)))? {
                    break;
                }
            }
        }
        // Out of `containers/` in one rename, so no reader ever sees half a container; a removal cut
        // short stays in `tmp/` under this pid, where the next command's debris sweep finishes it.
        let doomed = self.store.tmp_dir().join(format!("container-{}-{}", std::process::id(), c.config.id));
        let path = match fs::rename(&c.dir, &doomed) {
            Ok(()) => doomed,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(_) => c.dir.clone(),
        };
        match fs::remove_dir_all(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(ContainerError::Io { what: "removing", path, source }),
        }
    }
}

/// A container config for unit tests: `argv` `true`, image busybox, created now.
#[cfg(test)]
pub(crate) fn test_config(id: &str, name: &str) -> Config {
    let spec: RunSpec = serde_json::from_value(serde_json::json!({
        "rootfs": {"Dir": "/x"}, "argv": ["true"], "env": [], "cwd": "/", "user": null, "network": "Host",
        "hostname": "h", "binds": [], "stdin": "Null", "seccomp": "Default", "limits": {"memory": null, "pids": null}
    }))
    .unwrap();
    Config {
        id: id.into(),
        name: name.into(),
        created: now(),
        image: "busybox".into(),
        image_id: "sha256:00".into(),
        manifest: "sha256:00".into(),
        labels: BTreeMap::new(),
        stop_signal: None,
        auto_remove: false,
        restart: restart::RestartPolicy::No,
        ports: Vec::new(),
        network_container: None,
        network: None,
        entrypoint: None,
        cmd: None,
        spec,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::test_config as config;

    #[test]
    fn containers_are_found_by_id_name_or_unique_prefix_and_names_stay_unique() {
        let t = tempfile::tempdir().unwrap();
        let store = Store::open(t.path()).unwrap();
        let cs = Containers::new(&store);
        let (a, b) = ("ab".repeat(32), format!("abc{}", "0".repeat(61)));
        cs.create(config(&a, "web")).unwrap();
        cs.create(config(&b, "")).unwrap();
        assert_eq!(cs.find("web").unwrap().id(), a);
        assert_eq!(cs.find(&b).unwrap().id(), b);
        assert_eq!(cs.find("abc").unwrap().id(), b);
        match cs.find("ab") {
            Err(e @ ContainerError::Ambiguous { .. }) => assert!(e.to_string().contains("multiple IDs"), "{e}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(cs.find("zz"), Err(ContainerError::NotFound(_))));
        assert!(matches!(cs.create(config(&"cd".repeat(32), "web")), Err(ContainerError::NameInUse { .. })));
        let random = cs.find(&b).unwrap().config.name;
        assert!(names::validate(&random).is_ok() && random.contains('_'), "{random}");
        cs.rename("web", "site").unwrap();
        assert_eq!(cs.find("site").unwrap().id(), a);
        let mut c = cs.find("site").unwrap();
        assert!(!c.is_running());
        cs.remove(&mut c, false).unwrap();
        assert!(matches!(cs.find("site"), Err(ContainerError::NotFound(_))));
    }

    #[test]
    fn signals_parse_like_dockers() {
        use nix::sys::signal::Signal;
        assert_eq!(parse_signal("TERM").unwrap(), Signal::SIGTERM);
        assert_eq!(parse_signal("sigkill").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("9").unwrap(), Signal::SIGKILL);
        assert!(parse_signal("NOPE").is_err() && parse_signal("999").is_err());
    }
}
