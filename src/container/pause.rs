//! `pause` / `unpause`: freeze every process of a running container through its sandbox's own cgroup —
//! cgroup v2's `cgroup.freeze`, or the v1 freezer hierarchy (the sandbox joins a freezer cgroup of its
//! own where that hierarchy is mounted) — and record `paused` in the state. Where the container has no
//! freezer of its own, pausing is refused with a clear error (freezing a cgroup shared with rbuild
//! would freeze rbuild).
//!
//! A signal to a paused container (`stop`, `kill`, `rm -f`) thaws it first (see
//! [`super::Container::signal`]): a frozen process cannot act on a signal, and `stop` would otherwise
//! wait for nothing.

use super::{Container, ContainerError, Status};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long the kernel may take to freeze or thaw every task before we give up.
const SETTLE: Duration = Duration::from_secs(10);

/// The container's freezer: its v2 cgroup (`cgroup.freeze`) or v1 freezer cgroup (`freezer.state`).
enum Freezer {
    V2(PathBuf),
    V1(PathBuf),
}

fn freezer(c: &Container, pid: i32) -> Result<Freezer, ContainerError> {
    let cgroups = crate::sandbox::sandbox_cgroups(pid)?;
    let v2 = cgroups.iter().find(|(ctrls, dir)| ctrls.is_empty() && dir.join("cgroup.freeze").exists());
    let v1 = cgroups.iter().find(|(ctrls, _)| ctrls.split(',').any(|x| x == "freezer"));
    match (v2, v1) {
        (Some((_, dir)), _) => Ok(Freezer::V2(dir.clone())),
        (None, Some((_, dir))) => Ok(Freezer::V1(dir.clone())),
        (None, None) => Err(ContainerError::NoFreezer { name: c.config.name.clone() }),
    }
}

fn write(path: &Path, value: &str) -> Result<(), ContainerError> {
    fs::write(path, value).map_err(ContainerError::io("writing", path))
}

/// Set the freezer and wait until the kernel reports every task in that state.
fn set(f: &Freezer, frozen: bool) -> Result<(), ContainerError> {
    let (file, value, done): (PathBuf, &str, Box<dyn Fn() -> bool>) = match f {
        Freezer::V2(dir) => {
            let events = dir.join("cgroup.events");
            let want = if frozen { "frozen 1" } else { "frozen 0" };
            let done = move || fs::read_to_string(&events).is_ok_and(|t| t.lines().any(|l| l == want));
            (dir.join("cgroup.freeze"), if frozen { "1" } else { "0" }, Box::new(done))
        }
        Freezer::V1(dir) => {
            let state = dir.join("freezer.state");
            let want = if frozen { "FROZEN" } else { "THAWED" };
            let done = move || fs::read_to_string(&state).is_ok_and(|t| t.trim() == want);
            (dir.join("freezer.state"), if frozen { "FROZEN" } else { "THAWED" }, Box::new(done))
        }
    };
    let deadline = Instant::now() + SETTLE;
    loop {
        // v1 may stop at FREEZING when a task is busy in the kernel: writing again retries.
        write(&file, value)?;
        if done() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(ContainerError::FreezeTimeout { path: file });
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Freeze the running container `c` and record it paused.
pub fn pause(c: &mut Container) -> Result<(), ContainerError> {
    let pid = match c.state.pid {
        Some(_) if c.state.status == Status::Paused && c.is_running() => {
            return Err(ContainerError::AlreadyPaused { name: c.config.name.clone() })
        }
        Some(pid) if c.is_running() => pid,
        _ => return Err(ContainerError::NotRunning { name: c.config.name.clone() }),
    };
    set(&freezer(c, pid)?, true)?;
    c.refresh()?;
    if c.state.status == Status::Running {
        c.state.status = Status::Paused;
        c.save_state()?;
    }
    Ok(())
}

/// Thaw the paused container `c` and record it running.
pub fn unpause(c: &mut Container) -> Result<(), ContainerError> {
    let pid = match c.state.pid {
        Some(pid) if c.state.status == Status::Paused && c.is_running() => pid,
        _ => return Err(ContainerError::NotPaused { name: c.config.name.clone() }),
    };
    set(&freezer(c, pid)?, false)?;
    c.refresh()?;
    if c.state.status == Status::Paused {
        c.state.status = Status::Running;
        c.save_state()?;
    }
    Ok(())
}
