//! The monitor of a detached container (podman's `conmon` is the model): one small process per running
//! container, started by `run -d`, `start` and `restart` as rbuild's hidden [`SUBCOMMAND`].
//!
//! [`spawn`] starts it in a session of its own (`setsid`: no terminal, the CLI's Ctrl-C never reaches
//! it) with stdin and stdout on `/dev/null` and stderr on the container's `monitor.log`, so it outlives
//! the CLI. It takes the container's lock, points its own stdout and stderr at two pipes whose lines it
//! copies into `ctr.log` ([`super::log`]), and runs the container in the sandbox RUN uses
//! ([`super::rootfs::run`]); the sandbox's init inherits the pipes as the command's stdout and stderr.
//! Once the command was executed (or could not be), it reports on a pipe the CLI waits on, so `run -d`
//! fails with the same message and exit code as a foreground run would. When the command ends (and every
//! process of the sandbox is gone) it drains the log, records the exit code and exits.
//!
//! A `-t` container's command writes to its pty instead: the monitor holds the master, logs what comes
//! out of it and serves `attach.sock` ([`super::attach::Server`], bound before the command starts).
//!
//! Stop and kill requests are not sent to the monitor: the CLI signals the command's pid 1 directly,
//! which is safe because it only does so while the monitor holds the container's lock (see
//! [`super::Container::signal`]). If the monitor is killed, the sandbox's init dies with it
//! (PDEATHSIG) and with it the whole pid namespace and its mounts; the next reader of the state records
//! the container as exited with [`super::UNKNOWN_EXIT_CODE`].

use super::{attach, log, rootfs, ContainerError, Containers};
use crate::sandbox::Stdin;
use crate::store::Store;
use nix::fcntl::OFlag;
use serde::{Deserialize, Serialize};
use std::cell::Cell;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};

/// The hidden subcommand of the rbuild binary that runs a monitor.
pub const SUBCOMMAND: &str = "__container-monitor";

/// What the monitor tells the CLI that started it, as one JSON line.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Report {
    Started,
    Failed { message: String, exit_code: i32 },
}

/// Start a monitor for the container `id` of the store at `root` and wait until it has executed the
/// command (`Ok`) or failed to (the error it reports, with docker's exit code).
pub fn spawn(root: &Path, id: &str, dir: &Path, debug: bool) -> Result<(), ContainerError> {
    let log_path = dir.join(super::MONITOR_LOG);
    let stderr = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(ContainerError::io("opening", &log_path))?;
    let (ready_r, ready_w) =
        nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| ContainerError::MonitorSpawn(e.into()))?;
    let ready_fd = ready_w.as_raw_fd();
    // The monitor runs in `/` (as conmon does: it must not keep the caller's directory or a mount under
    // it busy for the container's lifetime), so it gets the store root as an absolute path.
    let root = std::path::absolute(root).map_err(ContainerError::MonitorSpawn)?;
    let mut cmd = Command::new("/proc/self/exe");
    cmd.current_dir("/").arg("--root").arg(&root);
    if debug {
        cmd.arg("--debug");
    }
    cmd.arg(SUBCOMMAND).arg(id).arg(ready_fd.to_string());
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::from(stderr));
    // SAFETY: runs between fork and exec; setsid and fcntl are plain system calls that allocate nothing.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // Let the report pipe through the exec.
            if libc::fcntl(ready_fd, libc::F_SETFD, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(ContainerError::MonitorSpawn)?;
    drop(ready_w);
    let mut text = String::new();
    let _ = File::from(ready_r).read_to_string(&mut text);
    // Reap the monitor in the background if it exits while this CLI still runs; when the CLI exits
    // first, the monitor is re-parented and reaped by init.
    std::thread::spawn(move || child.wait());
    match serde_json::from_str::<Report>(text.trim()) {
        Ok(Report::Started) => Ok(()),
        Ok(Report::Failed { message, exit_code }) => Err(ContainerError::StartFailed { message, exit_code }),
        Err(_) => Err(ContainerError::MonitorDied { name: id[..12.min(id.len())].to_string(), log: log_path }),
    }
}

/// The monitor's main: run container `id`, reporting on `ready_fd`.
pub fn main(root: &Path, id: &str, ready_fd: RawFd, debug: bool) -> ExitCode {
    // SAFETY: `spawn` passed this descriptor, open and owned by nobody else in this process, on the
    // command line; taking ownership here closes it on every path (and it is close-on-exec from now on).
    let ready = unsafe { OwnedFd::from_raw_fd(ready_fd) };
    let _ = nix::fcntl::fcntl(&ready, nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC));
    let mut ready = Some(File::from(ready));
    let mut report = |r: Report| {
        if let Some(mut f) = ready.take() {
            let _ = writeln!(f, "{}", serde_json::to_string(&r).unwrap_or_default());
        }
    };
    match serve(root, id, &mut || report(Report::Started), debug) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}: monitor of {id}: {e}", super::now());
            report(Report::Failed { message: e.to_string(), exit_code: rootfs::exit_code_of(&e) });
            ExitCode::FAILURE
        }
    }
}

fn serve(root: &Path, id: &str, started: &mut dyn FnMut(), debug: bool) -> Result<(), ContainerError> {
    let store = Store::open(root)?;
    let mut c = Containers::new(&store).find(id)?;
    let log_path = c.log_path();
    let log_file = log::open(&log_path).map_err(ContainerError::io("opening", &log_path))?;
    // The sandbox's init inherits fds 1 and 2: the command writes into pipes whose lines go into the log.
    // Put back at the end (`/dev/null` and `monitor.log`), so the monitor's own error goes there.
    let teed = log::Teed::start(log_file.clone(), true, false).map_err(|source| ContainerError::Io {
        what: "redirecting output to",
        path: log_path,
        source,
    })?;
    let mut teed = Some(teed);
    let mut drain = || {
        // Waits until the copiers have written all the command wrote (its processes are gone).
        if let Some(Err(e)) = teed.take().map(log::Teed::finish) {
            eprintln!("{}: writing the container log: {e}", super::now());
        }
    };
    // A `-t` container: this process holds its pty and serves `attach` (see [`super::attach`]).
    let terminal = match c.config.spec.stdin {
        Stdin::Terminal { input } => Some((attach::Server::bind(&c.dir)?, input)),
        _ => None,
    };
    // `-i` without `-t`: the command's stdin is a pipe (this process's fd 0, which the sandbox passes on)
    // that `attach` writes into through this process.
    let input = match c.config.spec.stdin {
        Stdin::Inherit => Some(serve_input(&c.dir)?),
        _ => None,
    };
    let stdin = c.config.spec.stdin;
    let tty_output = Cell::new(None);
    let mut on_master = |master: File| {
        let Some((server, input)) = &terminal else { return };
        match server.serve(master, *input, log_file.clone()) {
            Ok(thread) => tty_output.set(Some(thread)),
            Err(e) => eprintln!("{}: serving the terminal: {e}", super::now()),
        }
    };
    let mut drain_all = || {
        if let Some(thread) = tty_output.take() {
            if let Ok(Err(e)) = thread.join() {
                eprintln!("{}: writing the container log: {e}", super::now());
            }
        }
        drain();
    };
    let on_master: Option<&mut dyn FnMut(File)> = terminal.as_ref().map(|_| &mut on_master as _);
    let result = rootfs::run_holding_terminal(&store, &mut c, stdin, started, &mut drain_all, on_master, debug);
    // A run refused before the sandbox (container already running, state unreadable) did not drain: do it
    // now, so the monitor's own error goes to monitor.log and not into the container's log.
    drain_all();
    if terminal.is_some() || input.is_some() {
        let _ = std::fs::remove_file(c.dir.join(attach::SOCKET));
    }
    result.map(|_| ())
}

/// Make fd 0 the reading end of a new pipe whose writing end `attach` clients feed, served on the
/// container's socket.
fn serve_input(dir: &Path) -> Result<attach::Server, ContainerError> {
    let server = attach::Server::bind(dir)?;
    let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| ContainerError::MonitorSpawn(e.into()))?;
    nix::unistd::dup2_stdin(&read).map_err(|e| ContainerError::MonitorSpawn(e.into()))?;
    server.serve_input(File::from(write))?;
    Ok(server)
}
