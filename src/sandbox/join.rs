//! A second process in a running sandbox (`rbuild exec`): instead of creating namespaces, rbuild
//! re-executes itself as the hidden [`JOIN_SUBCOMMAND`], moves that fresh single-threaded process into
//! the cgroups of the sandbox's pid 1 (before it forks, so the command is counted, limited and drained
//! with the container), and sends it the spec. The join init opens `/proc/<pid 1>/ns/{ipc,uts,net,pid,mnt}`
//! and `setns`es into each (the mount namespace last: the sandbox's root, already pivoted, becomes its
//! root), forks so the child is a member of the pid namespace, and the child takes the same last steps as
//! the sandbox's own command ([`super::setup::Setup::become_user`]: the user, Docker's capabilities,
//! `no_new_privs`, the seccomp filter) before `execve`. The init relays the exit code, as the sandbox init
//! does; setup failures travel on the status pipe.

use super::init::{enter_session, exec_command, fork_and_relay, receive, send, SETUP_FAILED};
use super::interrupt::Watch;
use super::parent::{check_spec, collect_reports, command_outcome, pass_fds_and_die_with_parent, seccomp_filter};
use super::pty::Pty;
use super::setup::Setup;
use super::sys::LinuxSys;
use super::wire::{send_spec, InitSpec, Message, WireError};
use super::{RunOutcome, RunSpec, SandboxError, Stdin};
use nix::fcntl::OFlag;
use nix::sched::{setns, CloneFlags};
use nix::sys::signal::Signal;
use nix::sys::stat::{umask, Mode};
use serde::{Deserialize, Serialize};
use std::fs::{self, File};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The hidden subcommand of the rbuild binary that joins a running sandbox.
pub const JOIN_SUBCOMMAND: &str = "__sandbox-join";

/// The namespaces joined, in order: the mount namespace last, as it changes what `/proc` is.
const NAMESPACES: [(&str, CloneFlags); 5] = [
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("net", CloneFlags::CLONE_NEWNET),
    ("pid", CloneFlags::CLONE_NEWPID),
    ("mnt", CloneFlags::CLONE_NEWNS),
];

/// What the join init reads: the sandbox to join and the command.
#[derive(Debug, Serialize, Deserialize)]
struct JoinSpec {
    /// Host pid of the sandbox's pid 1.
    pid1: i32,
    init: InitSpec,
}

/// Run `spec`'s command (argv, env, cwd, user, stdin; its network and seccomp as the sandbox has them)
/// inside the running sandbox whose pid 1 has host pid `pid1`, with `init_program` (an rbuild binary) as
/// the join init. Returns when the command has ended.
pub fn join(spec: &RunSpec, pid1: i32, init_program: &Path) -> Result<RunOutcome, SandboxError> {
    check_spec(spec)?;
    // `exec -t`: the joined command gets the next pty of the container's devpts (see `pty.rs`).
    let mut pty = match spec.stdin {
        Stdin::Terminal { input } => Some(Pty::open(input)?),
        _ => None,
    };
    let init_spec = InitSpec {
        run: spec.clone(),
        mountpoint: PathBuf::from("/"),
        etc_files: Vec::new(),
        foreground: false,
        console: None,
        terminal: pty.as_ref().and_then(|p| p.request(false)),
        seccomp: seccomp_filter(spec)?,
    };
    let cgroups = cgroups_of(pid1)?;
    let terminal = init_spec.terminal.as_ref().map(|t| t.socket);
    let json = serde_json::to_vec(&JoinSpec { pid1, init: init_spec }).map_err(SandboxError::Protocol)?;
    let pipe = || nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| SandboxError::Pipe(e.into()));
    let (spec_r, spec_w) = pipe()?;
    let (report_r, report_w) = pipe()?;
    let (status_r, status_w) = pipe()?;
    let mut watch = Watch::start()?;
    let mut init = spawn(spec.stdin, init_program, [&spec_r, &report_w, &status_w], terminal)?;
    drop((spec_r, report_w, status_w));
    if let Some(pty) = pty.as_mut() {
        pty.sent();
    }
    watch.add(init.id() as i32);
    // The init waits for its spec before it forks: the command starts in the container's cgroups.
    for procs in &cgroups {
        if let Err(source) = fs::write(procs, init.id().to_string()) {
            let _ = init.kill();
            let _ = init.wait();
            return Err(SandboxError::Cgroup { path: procs.clone(), source });
        }
    }
    let sent = send_spec(&mut File::from(spec_w), &json).map_err(SandboxError::Pipe);
    let collected = collect_reports(&mut watch, report_r, status_r);
    let relayed = match (pty.as_mut(), &collected) {
        (Some(pty), Ok(_)) => pty.deliver(None),
        _ => Ok(()),
    };
    if relayed.is_err() {
        let _ = init.kill();
    }
    let status = init.wait().map_err(SandboxError::Pipe)?;
    if let Some(pty) = pty {
        pty.finish();
    }
    sent?;
    relayed?;
    let (pid, status_text) = collected?;
    let (exit_code, created_stubs) = command_outcome(watch, status, pid, &status_text)?;
    Ok(RunOutcome { exit_code, created_stubs, oom_killed: false })
}

/// The `cgroup.procs` files of every hierarchy in which `pid` sits elsewhere than rbuild itself.
fn cgroups_of(pid: i32) -> Result<Vec<PathBuf>, SandboxError> {
    Ok(sandbox_cgroups(pid)?.into_iter().map(|(_, dir)| dir.join("cgroup.procs")).collect())
}

/// The cgroup directories of `pid` in every hierarchy where it sits elsewhere than rbuild itself (the
/// sandbox's own cgroups, wherever [`super::cgroup`] made them), with each hierarchy's controller list
/// as `/proc/*/cgroup` names it (empty for cgroup v2).
pub fn sandbox_cgroups(pid: i32) -> Result<Vec<(String, PathBuf)>, SandboxError> {
    let path = PathBuf::from(format!("/proc/{pid}/cgroup"));
    let theirs = fs::read_to_string(&path).map_err(|source| SandboxError::Io { what: "reading", path, source })?;
    let ours = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let parse = |line: &str| {
        let mut parts = line.splitn(3, ':');
        let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
        Some((ctrls.to_string(), path.trim_start_matches('/').to_string()))
    };
    let ours: Vec<_> = ours.lines().filter_map(parse).collect();
    let mut out = Vec::new();
    for (ctrls, path) in theirs.lines().filter_map(parse) {
        if ours.iter().any(|(c, p)| *c == ctrls && *p == path) {
            continue;
        }
        if let Some(dir) = hierarchy_mount(&ctrls).map(|m| m.join(&path)).filter(|d| d.is_dir()) {
            out.push((ctrls, dir));
        }
    }
    Ok(out)
}

/// Where the hierarchy with controller list `ctrls` (as `/proc/*/cgroup` names it) is mounted.
fn hierarchy_mount(ctrls: &str) -> Option<PathBuf> {
    let root = Path::new("/sys/fs/cgroup");
    if ctrls.is_empty() {
        let unified = root.join("unified");
        return Some(if unified.is_dir() { unified } else { root.to_path_buf() });
    }
    let name = ctrls.strip_prefix("name=").unwrap_or(ctrls);
    Some(root.join(name)).filter(|d| d.is_dir())
}

fn spawn(
    stdin: Stdin,
    program: &Path,
    fds: [&OwnedFd; 3],
    terminal: Option<RawFd>,
) -> Result<std::process::Child, SandboxError> {
    let raw: [RawFd; 3] = fds.map(|f| f.as_raw_fd());
    let mut cmd = Command::new(program);
    cmd.arg(JOIN_SUBCOMMAND).args(raw.map(|fd| fd.to_string()));
    cmd.stdin(match stdin {
        // With -t the command's stdio is the pty the sandbox makes.
        Stdin::Null | Stdin::Terminal { .. } => Stdio::null(),
        Stdin::Inherit => Stdio::inherit(),
    });
    // The terminal's socket goes through the exec too (its number travels in the spec).
    let passed: Vec<RawFd> = raw.iter().copied().chain(terminal).collect();
    // SAFETY: the closure runs between fork and exec in the child of a possibly multi-threaded process,
    // so it only makes plain system calls (fcntl, prctl) and allocates nothing.
    unsafe {
        cmd.pre_exec(move || pass_fds_and_die_with_parent(&passed));
    }
    cmd.spawn().map_err(|source| SandboxError::Start { program: program.to_path_buf(), source })
}

/// Entry point of the hidden join subcommand (see the module docs). Returns the exit code to relay.
pub fn join_main(spec_fd: RawFd, report_fd: RawFd, status_fd: RawFd) -> i32 {
    let (spec, report, mut status, spec_pipe) = match receive::<JoinSpec>(spec_fd, report_fd, status_fd) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if let Err(e) = enter_namespaces(spec.pid1) {
        send(&mut status, &Message::Failed(WireError::from(&e)));
        return SETUP_FAILED;
    }
    fork_and_relay(report, status, spec_pipe, &spec.init, run_child)
}

/// Open every namespace of `pid1` first (its `/proc` entry is the host's until the mount namespace
/// changes), then join them.
fn enter_namespaces(pid1: i32) -> Result<(), SandboxError> {
    let mut opened = Vec::new();
    for (name, flag) in NAMESPACES {
        let path = PathBuf::from(format!("/proc/{pid1}/ns/{name}"));
        let file = File::open(&path).map_err(|source| SandboxError::Io { what: "opening", path, source })?;
        opened.push((name, flag, file));
    }
    for (name, flag, file) in opened {
        setns(&file, flag).map_err(SandboxError::setup(format!("joining the container's {name} namespace")))?;
    }
    // The mount namespace's root is the sandbox's pivoted root; start from it.
    nix::unistd::chdir("/").map_err(SandboxError::setup("entering /"))
}

/// In the child, a member of the sandbox's pid namespace: the sandbox command's last steps, then `execve`.
fn run_child(spec: &InitSpec, status: File, _spec_pipe: File) -> ! {
    umask(Mode::from_bits_truncate(0o022));
    // If the join init dies (rbuild exec was killed), so does the command.
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    enter_session(spec);
    let mut sys = LinuxSys;
    let mut setup = Setup::new(&mut sys, spec);
    let root = PathBuf::from("/");
    let terminal = spec.terminal.as_ref().map_or(Ok(()), |t| super::pty::take_terminal(&root, t));
    let result = terminal.and_then(|()| setup.become_user(&root)).map(|user| (root, user));
    exec_command(spec, status, result)
}
