//! The sandbox init: the process rbuild re-executes (hidden subcommand [`super::INIT_SUBCOMMAND`]) in
//! fresh namespaces. Being a new, single-threaded process, it may fork and keep running Rust code in the
//! child. It reads the [`InitSpec`], forks once so the child is pid 1 of the new pid namespace, reports
//! that child's pid to rbuild (which SIGKILLs it on Ctrl-C), then waits and relays the exit status: the
//! kernel reports pid 1's end only once every process of its namespace is gone, so the init returning
//! means the sandbox is empty. The
//! child runs the [`Setup`] with the real [`LinuxSys`] and executes the command; anything that fails is
//! reported on the status pipe before the child exits.

use super::exec::{close_inherited_fds, command_env, exec, find_program, reset_signals};
use super::setup::Setup;
use super::sys::LinuxSys;
use super::wire::{read_spec, InitSpec, Message, WireError, GO};
use super::Stdin;
use nix::sys::signal::{self, SigHandler, SigSet, SigmaskHow, Signal};
use nix::sys::stat::{umask, Mode};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, getpid, setpgid, setsid, tcsetpgrp, ForkResult, Pid};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, RawFd};

/// Exit code of the init when the setup failed (the status pipe says why), as Docker's 125.
pub(crate) const SETUP_FAILED: i32 = 125;

/// Entry point of the hidden init subcommand: the three descriptors rbuild passed (spec to read, pid
/// report and status to write). Returns the exit code to relay.
pub fn init_main(spec_fd: RawFd, report_fd: RawFd, status_fd: RawFd) -> i32 {
    let (spec, report, status, go) = match receive::<InitSpec>(spec_fd, report_fd, status_fd) {
        Ok(c) => c,
        Err(code) => return code,
    };
    fork_and_relay(report, status, go, &spec, run_child)
}

/// Fork once: the child (pid 1 of the sandbox's pid namespace) runs `child(spec, status pipe, spec
/// pipe)`; this process reports the child's pid on `report`, waits for it and returns the exit code to
/// relay. Only for the freshly exec'd, single-threaded init processes (this one and `join`'s).
pub(crate) fn fork_and_relay<S>(
    report: File,
    mut status: File,
    go: File,
    spec: &S,
    child: fn(&S, File, File) -> !,
) -> i32 {
    // SAFETY: the callers are single-threaded (freshly exec'd, no thread started), so the child may keep
    // running arbitrary code.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            drop(report);
            child(spec, status, go)
        }
        Ok(ForkResult::Parent { child }) => {
            drop((status, go));
            relay(child, report)
        }
        Err(errno) => {
            send(&mut status, &Message::Failed(WireError::Init(format!("fork: {errno}"))));
            SETUP_FAILED
        }
    }
}

/// Take the three descriptors rbuild passed (spec to read, pid report and status to write) and read the
/// spec of type `T`; the spec pipe is returned too, open, for the [`GO`] byte. On failure the error went
/// to the status pipe (when it could) and the exit code to return is given.
pub(crate) fn receive<T: serde::de::DeserializeOwned>(
    spec_fd: RawFd,
    report_fd: RawFd,
    status_fd: RawFd,
) -> Result<(T, File, File, File), i32> {
    for fd in [spec_fd, report_fd, status_fd] {
        // SAFETY: F_GETFD only reads the descriptor's flags; it checks that rbuild really passed it open.
        if fd <= 2 || unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
            eprintln!("rbuild: descriptor {fd} is not open (internal command)");
            return Err(SETUP_FAILED);
        }
    }
    // SAFETY: each descriptor was checked open above, was created for this process by rbuild, and is
    // owned by nothing else here; the File takes sole ownership.
    let (mut spec_in, report, mut status) =
        unsafe { (File::from_raw_fd(spec_fd), File::from_raw_fd(report_fd), File::from_raw_fd(status_fd)) };
    for f in [&report, &status, &spec_in] {
        // The command must not inherit them; the pre_exec in rbuild had cleared the flag to pass them here.
        let fd = std::os::fd::AsRawFd::as_raw_fd(f);
        // SAFETY: F_SETFD only changes the flags of a descriptor this process owns.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    match read_spec(&mut spec_in)
        .map_err(|e| format!("reading the spec: {e}"))
        .and_then(|json| serde_json::from_slice(&json).map_err(|e| format!("reading the spec: {e}")))
    {
        Ok(s) => Ok((s, report, status, spec_in)),
        Err(e) => {
            send(&mut status, &Message::Failed(WireError::Init(e)));
            Err(SETUP_FAILED)
        }
    }
}

/// In the init: report the child's pid, then wait for it and turn its end into an exit code.
pub(crate) fn relay(child: Pid, mut report: File) -> i32 {
    // rbuild decides what a Ctrl-C does (it kills the namespace); a tty's signals must not kill the relay.
    for sig in [Signal::SIGINT, Signal::SIGQUIT, Signal::SIGTERM] {
        // SAFETY: SIG_IGN runs no code; this process is single-threaded.
        let _ = unsafe { signal::signal(sig, SigHandler::SigIgn) };
    }
    let _ = writeln!(report, "{}", child.as_raw());
    drop(report);
    loop {
        match waitpid(child, None) {
            Ok(WaitStatus::Exited(_, code)) => return code,
            Ok(WaitStatus::Signaled(_, sig, _)) => return 128 + sig as i32,
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return SETUP_FAILED,
        }
    }
}

/// In pid 1 of the new namespace: set up and execute the command. Never returns.
fn run_child(spec: &InitSpec, mut status: File, mut go: File) -> ! {
    umask(Mode::from_bits_truncate(0o022));
    // If rbuild's init dies (rbuild was killed), so does the namespace.
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    enter_session(spec);
    let mut sys = LinuxSys;
    let mut setup = Setup::new(&mut sys, spec);
    let result = setup.prepare_root().and_then(|()| {
        let root = setup.enter_root()?;
        if let Some(request) = &spec.terminal {
            super::pty::take_terminal(&root, request)?;
        }
        let user = setup.become_user(&root)?;
        Ok((root, user))
    });
    send(&mut status, &Message::Stubs(setup.stubs().to_vec()));
    // The sandbox is made; the command starts once it is in its cgroup and its network is connected.
    let result = result.and_then(|ready| {
        let mut byte = [0u8];
        match go.read_exact(&mut byte) {
            Ok(()) if byte[0] == GO => Ok(ready),
            _ => Err(super::SandboxError::Init("rbuild gave up before the command could start".into())),
        }
    });
    drop(go);
    exec_command(spec, status, result)
}

/// The hand-over once the root is entered and the user taken (or the error that stopped it): find the
/// program, reset signals, load the seccomp filter, execute. Never returns; a failure goes to the status
/// pipe and becomes docker's exit code.
pub(crate) fn exec_command(
    spec: &InitSpec,
    mut status: File,
    result: Result<(std::path::PathBuf, crate::users::ResolvedUser), super::SandboxError>,
) -> ! {
    let err = match result {
        Err(e) => e,
        Ok((root, user)) => {
            // Changing uid cleared the parent-death signal.
            let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
            let env = command_env(&spec.run.env, &user);
            let argv0 = spec.run.argv.first().map(String::as_str).unwrap_or_default();
            match find_program(&root, argv0, &env) {
                Err(e) => e,
                Ok(program) => {
                    reset_signals();
                    // The filter goes on last: every call before it is rbuild's, not the command's.
                    let filter = spec.seccomp.as_ref().map_or(Ok(()), super::bpf::Program::load);
                    match close_inherited_fds().and(filter) {
                        Err(e) => e,
                        Ok(()) => exec(&program, &spec.run.argv, &env),
                    }
                }
            }
        }
    };
    send(&mut status, &Message::Failed(WireError::from(&err)));
    let code = err.exec_exit_code().unwrap_or(SETUP_FAILED);
    // SAFETY: _exit ends this forked child at once, skipping exit handlers and buffers that belong to
    // the init it was forked from.
    unsafe { libc::_exit(code) }
}

/// Put the command in its own process group (its own session without a terminal for RUN), and hand it
/// the terminal's foreground when rbuild had it, so Ctrl-C in `rbuild run -it sh` reaches the shell.
pub(crate) fn enter_session(spec: &InitSpec) {
    if spec.run.stdin == Stdin::Null {
        let _ = setsid();
        return;
    }
    if let Stdin::Terminal { .. } = spec.run.stdin {
        // A session of its own, whose controlling terminal the pty's slave becomes once the sandbox has
        // made it (`pty::take_terminal`): the command is then the terminal's foreground group, so its
        // Ctrl-C and SIGWINCH reach it.
        let _ = setsid();
        return;
    }
    let _ = setpgid(Pid::from_raw(0), Pid::from_raw(0));
    if spec.foreground {
        // A background group changing the foreground gets SIGTTOU unless it blocks it.
        let mut ttou = SigSet::empty();
        ttou.add(Signal::SIGTTOU);
        let mut old = SigSet::empty();
        let _ = signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&ttou), Some(&mut old));
        let _ = tcsetpgrp(std::io::stdin(), getpid());
        let _ = signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
    }
}

pub(crate) fn send(status: &mut File, message: &Message) {
    if let Ok(mut line) = serde_json::to_string(message) {
        line.push('\n');
        let _ = status.write_all(line.as_bytes());
    }
}
