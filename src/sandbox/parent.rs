//! rbuild's side of a sandboxed run: check the spec, prepare the scratch directory (the rootfs mount
//! point and the `/etc` files), re-execute rbuild as the sandbox init in new namespaces, send it the
//! spec, register its pids for Ctrl-C, collect the stubs and any setup failure from the status pipe, and
//! turn the init's exit status into a [`RunOutcome`].

use super::bpf::Program;
use super::cgroup::Cgroup;
use super::interrupt::Watch;
use super::pty::Pty;
use super::seccomp::{Profile, Seccomp, DEFAULT_PROFILE};
use super::setup::overlay_options;
use super::setup::{cap_names, granted_caps};
use super::sys::{LinuxSys, Sys};
use super::wire::{read_messages, send_spec, EtcFile, InitSpec, GO};
use super::{Network, Rootfs, RunOutcome, RunSpec, SandboxError, Stdin, INIT_SUBCOMMAND};
use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow, Signal};
use nix::unistd::{getpgrp, getpid, isatty, pipe2, tcgetpgrp, tcsetpgrp};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// `/etc/hosts` when the host has none, or for an empty network namespace.
pub const DEFAULT_HOSTS: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";

/// The `/etc/hosts` a sandbox on `network` with `hostname` gets, before its `--add-host` lines
/// ([`super::Resolution::hosts`]). The sandbox's own name resolves inside it in every mode, as with
/// Docker (apache's AH00558 otherwise); 127.0.1.1 is Debian's address for it.
fn hosts_file(network: Network, hostname: &str) -> String {
    let own = format!("127.0.1.1\t{hostname}\n");
    match network {
        Network::Host => {
            let host = fs::read_to_string("/etc/hosts").unwrap_or_else(|_| DEFAULT_HOSTS.to_string());
            let named = host
                .lines()
                .any(|l| !l.trim_start().starts_with('#') && l.split_whitespace().skip(1).any(|n| n == hostname));
            match (named, host.is_empty() || host.ends_with('\n')) {
                (true, _) => host,
                (false, true) => format!("{host}{own}"),
                (false, false) => format!("{host}\n{own}"),
            }
        }
        Network::None | Network::Bridge => format!("{DEFAULT_HOSTS}{own}"),
    }
}

/// Run `spec` in a new sandbox. The sandbox init is this very program (`/proc/self/exe`), which must
/// therefore be the rbuild binary; see [`run_with_init`] otherwise.
pub fn run(spec: &RunSpec) -> Result<RunOutcome, SandboxError> {
    run_with_init(spec, Path::new("/proc/self/exe"))
}

/// Run `spec` with the command's stdout and stderr relayed line by line to rbuild's own, each line
/// written whole and starting with `prefix`: how the output of commands running at once stays readable
/// (a build's parallel stages).
/// `init_program` is as for [`run_with_init`] (`/proc/self/exe` in rbuild itself).
pub fn run_prefixed(spec: &RunSpec, init_program: &Path, prefix: &str) -> Result<RunOutcome, SandboxError> {
    run_inner(spec, init_program, Some(prefix), Netns::Own, &mut |_| {}, None)
}

/// Run `spec` with `init_program` (an rbuild binary) as the sandbox init: for tests and other programs
/// that link the library.
pub fn run_with_init(spec: &RunSpec, init_program: &Path) -> Result<RunOutcome, SandboxError> {
    run_inner(spec, init_program, None, Netns::Own, &mut |_| {}, None)
}

/// Like [`run_with_init`], calling `on_start` with the host pid of the sandbox's pid 1 once the command
/// has been executed (not when the setup failed): a container monitor records that pid, so `stop` and
/// `kill` can signal the command while this call waits for it.
pub fn run_observed(
    spec: &RunSpec,
    init_program: &Path,
    on_start: &mut dyn FnMut(i32),
) -> Result<RunOutcome, SandboxError> {
    run_inner(spec, init_program, None, Netns::Own, on_start, None)
}

/// The network namespace a sandbox runs in: a new one of its own (or the host's, by its
/// [`Network`]), or one its caller made, which the init joins with `setns`. `ready` runs once the
/// init is started and before it gets its spec: until it returns, the init starts up (exec, runtime)
/// while the caller's network is still being configured (pasta's start overlaps the sandbox's), and no
/// command can run unconnected. `false` (the caller keeps the reason) ends the init unstarted with
/// [`SandboxError::NetworkNotReady`]. `done` runs as soon as a sandbox whose command was executed is
/// empty, before its cgroup and scratch dir are removed: the caller starts ending its network (pasta's
/// exit waits for the kernel to unregister its tap device, ~20 ms) while those are removed.
pub enum Netns<'a> {
    Own,
    Join { fd: BorrowedFd<'a>, ready: &'a mut dyn FnMut() -> bool, done: &'a mut dyn FnMut() },
}

impl Netns<'_> {
    fn fd(&self) -> Option<BorrowedFd<'_>> {
        match self {
            Netns::Own => None,
            Netns::Join { fd, .. } => Some(*fd),
        }
    }
}

/// Like [`run_observed`], in the network namespace `netns` says: a container's, which its caller
/// connects to the outside before the command starts, so the command never sees a namespace without
/// its network.
pub fn run_in_netns(
    spec: &RunSpec,
    init_program: &Path,
    netns: Netns,
    on_start: &mut dyn FnMut(i32),
) -> Result<RunOutcome, SandboxError> {
    run_inner(spec, init_program, None, netns, on_start, None)
}

/// Like [`run_in_netns`] for a [`Stdin::Terminal`] spec, handing the pty's master to `on_master` once
/// the command was executed instead of relaying it to rbuild's stdio: a container monitor logs it and
/// serves it to `attach`.
pub fn run_holding_terminal(
    spec: &RunSpec,
    init_program: &Path,
    netns: Netns,
    on_start: &mut dyn FnMut(i32),
    on_master: &mut dyn FnMut(File),
) -> Result<RunOutcome, SandboxError> {
    run_inner(spec, init_program, None, netns, on_start, Some(on_master))
}

fn run_inner(
    spec: &RunSpec,
    init_program: &Path,
    prefix: Option<&str>,
    mut netns: Netns,
    on_start: &mut dyn FnMut(i32),
    on_master: Option<&mut dyn FnMut(File)>,
) -> Result<RunOutcome, SandboxError> {
    check_spec(spec)?;
    let scratch = Scratch::create(spec)?;
    let foreground = spec.stdin == Stdin::Inherit && owns_terminal();
    let mut pty = match spec.stdin {
        Stdin::Terminal { input } => Some(Pty::open(input)?),
        _ => None,
    };
    // `-i` on a terminal without `-t`: rbuild's own terminal is the command's, named at `/dev/console`.
    let console = if spec.stdin == Stdin::Inherit { stdin_terminal() } else { None };
    let init_spec = InitSpec {
        run: RunSpec { rootfs: scratch.shorten_lowers(&spec.rootfs)?, ..spec.clone() },
        mountpoint: scratch.mountpoint(),
        etc_files: scratch.etc_files(),
        foreground,
        console: console.clone(),
        terminal: pty.as_ref().and_then(|p| p.request(true)),
        seccomp: seccomp_filter(spec)?,
    };
    let cgroup = Cgroup::create(&spec.limits, console.as_deref())?;
    let json = serde_json::to_vec(&init_spec).map_err(SandboxError::Protocol)?;
    let pipe = || pipe2(OFlag::O_CLOEXEC).map_err(|e| SandboxError::Pipe(e.into()));
    let (spec_r, spec_w) = pipe()?;
    let (report_r, report_w) = pipe()?;
    let (status_r, status_w) = pipe()?;
    let mut watch = Watch::start()?;
    let terminal = init_spec.terminal.as_ref().map(|t| t.socket);
    let fds = [&spec_r, &report_w, &status_w];
    let mut init = spawn_init(spec, init_program, netns.fd(), fds, terminal, prefix.is_some())?;
    drop((spec_r, report_w, status_w));
    if let Some(pty) = pty.as_mut() {
        pty.sent();
    }
    let relays = prefix.map(|p| relay(&mut init, p)).unwrap_or_default();
    watch.add(init.id() as i32);
    // The spec at once: the init forks pid 1, which makes the whole sandbox while this process puts it
    // in its cgroup and waits for the network (pasta configuring it); the command waits for the go.
    // An init that died early closes its end: its exit status and the status pipe tell why.
    let mut spec_w = File::from(spec_w);
    let _ = send_spec(&mut spec_w, &json);
    let pid1 = read_pid1(&mut watch, report_r);
    let forked = matches!(pid1, Ok(Some(_)));
    let admitted = match (&pid1, cgroup.as_ref()) {
        // Before the go: the command and every process it starts are in the cgroup.
        (Ok(Some(pid)), Some(cg)) => cg.add(*pid),
        _ => Ok(()),
    };
    let ready = match &mut netns {
        Netns::Join { ready, .. } if forked && admitted.is_ok() => ready(),
        _ => true,
    };
    if let Err(e) = admitted.and(if ready { Ok(()) } else { Err(SandboxError::NetworkNotReady) }) {
        let _ = init.kill();
        let _ = init.wait();
        return Err(e);
    }
    // Without the go (an init that failed) the pipe's end tells pid 1 not to start the command.
    if forked {
        let _ = spec_w.write_all(&[GO]);
    }
    drop(spec_w);
    let collected = pid1.and_then(|pid1| Ok((pid1, read_status(status_r)?)));
    let mut executed = false;
    if let Ok((Some(pid1), text)) = &collected {
        // The status pipe reached its end: the command was executed unless a failure line says otherwise.
        if read_messages(text).is_ok_and(|(_, failure)| failure.is_none()) {
            executed = true;
            on_start(*pid1);
        }
    }
    let relayed = match (pty.as_mut(), &collected) {
        (Some(pty), Ok(_)) => pty.deliver(on_master),
        _ => Ok(()),
    };
    if collected.is_err() || relayed.is_err() {
        // Without the pipes (or the terminal) we cannot follow the sandbox: end it (pid 1 dies with the
        // init).
        let _ = init.kill();
    }
    let status = init.wait().map_err(SandboxError::Pipe);
    // Only after a command ran: a setup that failed (an overlay refused) may be retried in the namespace.
    if let (true, Netns::Join { done, .. }) = (executed, &mut netns) {
        done();
    }
    // Whatever ended the init, nothing of the sandbox outlives this call.
    let drained = cgroup.as_ref().map_or(Ok(()), Cgroup::drain);
    // Every writer is gone now: the relays reach the end of their pipes.
    for r in relays {
        let _ = r.join();
    }
    if let Some(pty) = pty {
        pty.finish();
    }
    if foreground {
        take_terminal_back();
    }
    let (status, (pid1, status_text)) = (status?, collected?);
    relayed?;
    drained?;
    let (exit_code, created_stubs) = command_outcome(watch, status, pid1, &status_text)?;
    let oom_killed = cgroup.as_ref().is_some_and(Cgroup::oom_killed);
    Ok(RunOutcome { exit_code, created_stubs, oom_killed })
}

/// Read the pid of the sandbox's pid 1 (registering it for Ctrl-C), then the status pipe to its end:
/// the command was executed, or the setup gave up.
pub(crate) fn collect_reports(
    watch: &mut Watch,
    report: OwnedFd,
    status: OwnedFd,
) -> Result<(Option<i32>, String), SandboxError> {
    Ok((read_pid1(watch, report)?, read_status(status)?))
}

/// The pid of the sandbox's pid 1, as its init reports it once forked (`None`: the init failed first),
/// registered for Ctrl-C.
fn read_pid1(watch: &mut Watch, report: OwnedFd) -> Result<Option<i32>, SandboxError> {
    let mut text = String::new();
    File::from(report).read_to_string(&mut text).map_err(SandboxError::Pipe)?;
    let pid1 = text.trim().parse::<i32>().ok();
    if let Some(pid) = pid1 {
        // From now on a signal kills pid 1 only: the init stays to wait for the namespace to empty.
        watch.replace_first(pid);
    }
    Ok(pid1)
}

/// The status pipe to its end: the command was executed, or the setup gave up.
fn read_status(status: OwnedFd) -> Result<String, SandboxError> {
    let mut status_text = String::new();
    File::from(status).read_to_string(&mut status_text).map_err(SandboxError::Pipe)?;
    Ok(status_text)
}

/// The seccomp program the child loads: the profile resolved for the capabilities this sandbox's root
/// holds, compiled (or taken from the store's cache, see [`super::bpf`]).
pub(crate) fn seccomp_filter(spec: &RunSpec) -> Result<Option<Program>, SandboxError> {
    let caps = cap_names(granted_caps(spec.network));
    let filter = match &spec.seccomp {
        Seccomp::Unconfined => return Ok(None),
        Seccomp::Profile(p) => p.resolve(&caps),
        Seccomp::Default => Profile::parse(DEFAULT_PROFILE, "(built-in default)")?.resolve(&caps),
    };
    Program::of(&filter).map(Some)
}

/// The namespaces the init is started in (the pid namespace applies to its children).
pub(crate) fn namespace_flags(network: Network) -> CloneFlags {
    let mut flags =
        CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWIPC | CloneFlags::CLONE_NEWPID;
    if network != Network::Host {
        flags |= CloneFlags::CLONE_NEWNET;
    }
    flags
}

/// What the init's exit status and its status-pipe text say about the command: its exit code and the
/// mount-point stubs the sandbox created, or why it never ran (interrupted, a setup failure, an init that
/// died before forking). Shared by a new sandbox and by one joined (`exec`).
pub(super) fn command_outcome(
    watch: Watch,
    status: std::process::ExitStatus,
    pid1: Option<i32>,
    status_text: &str,
) -> Result<(i32, Vec<String>), SandboxError> {
    if let Some(signal) = watch.interrupted() {
        return Err(SandboxError::Interrupted { signal });
    }
    drop(watch);
    let (created_stubs, failure) = read_messages(status_text)?;
    if let Some(failure) = failure {
        return Err(failure.into());
    }
    if pid1.is_none() {
        return Err(SandboxError::InitFailed { status: status.to_string() });
    }
    Ok((status.code().or_else(|| status.signal().map(|s| 128 + s)).unwrap_or(128), created_stubs))
}

/// Copy the init's piped stdout and stderr to ours, a whole prefixed line per write.
fn relay(init: &mut std::process::Child, prefix: &str) -> Vec<std::thread::JoinHandle<()>> {
    fn copy(from: impl Read + Send + 'static, prefix: String, to_stdout: bool) -> std::thread::JoinHandle<()> {
        std::thread::spawn(move || {
            let mut reader = io::BufReader::new(from);
            let mut line = Vec::new();
            loop {
                line.clear();
                match io::BufRead::read_until(&mut reader, b'\n', &mut line) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                if !line.ends_with(b"\n") {
                    line.push(b'\n');
                }
                let mut whole = prefix.as_bytes().to_vec();
                whole.extend_from_slice(&line);
                // A closed stdout (rbuild piped into `head`) must not stop the command: keep draining.
                let _ = if to_stdout {
                    io::stdout().lock().write_all(&whole)
                } else {
                    io::stderr().lock().write_all(&whole)
                };
            }
        })
    }
    let mut out = Vec::new();
    if let Some(o) = init.stdout.take() {
        out.push(copy(o, prefix.to_string(), true));
    }
    if let Some(e) = init.stderr.take() {
        out.push(copy(e, prefix.to_string(), false));
    }
    out
}

fn spawn_init(
    spec: &RunSpec,
    program: &Path,
    netns: Option<BorrowedFd>,
    fds: [&OwnedFd; 3],
    terminal: Option<RawFd>,
    piped: bool,
) -> Result<std::process::Child, SandboxError> {
    let raw: [RawFd; 3] = fds.map(|f| f.as_raw_fd());
    let mut cmd = Command::new(program);
    cmd.arg(INIT_SUBCOMMAND).args(raw.map(|fd| fd.to_string()));
    cmd.stdin(match spec.stdin {
        // With -t the command's stdio is the pty the sandbox makes; the init needs none of rbuild's.
        Stdin::Null | Stdin::Terminal { .. } => Stdio::null(),
        Stdin::Inherit => Stdio::inherit(),
    });
    // The terminal's socket goes through the exec too (its number travels in the spec).
    let passed: Vec<RawFd> = raw.iter().copied().chain(terminal).collect();
    if piped {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    }
    let mut flags = namespace_flags(spec.network);
    let netns = netns.map(|fd| fd.as_raw_fd());
    if netns.is_some() {
        flags.remove(CloneFlags::CLONE_NEWNET);
    }
    let parent = getpid();
    // SAFETY: the closure runs between fork and exec in the child of a possibly multi-threaded process,
    // so it only makes plain system calls (fcntl, prctl, getppid, setns, unshare) and allocates nothing;
    // `netns` is a descriptor the caller keeps open for the whole call.
    unsafe {
        cmd.pre_exec(move || {
            // The init (and through it the namespace) dies with the thread that started it.
            pass_fds_and_die_with_parent(&passed)?;
            if libc::getppid() != parent.as_raw() {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            if let Some(fd) = netns {
                if libc::setns(fd, libc::CLONE_NEWNET) < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            LinuxSys.unshare(flags).map_err(|e| io::Error::from_raw_os_error(e as i32))
        });
    }
    cmd.spawn().map_err(|source| match source.raw_os_error() {
        Some(libc::EPERM) => SandboxError::NotPermitted(source),
        _ => SandboxError::Start { program: program.to_path_buf(), source },
    })
}

/// For a `pre_exec` closure (between fork and exec of a possibly multi-threaded process: plain system
/// calls only, no allocation): let exactly `fds` through the exec, and die with the thread that started
/// the child.
pub(super) fn pass_fds_and_die_with_parent(fds: &[RawFd]) -> io::Result<()> {
    for &fd in fds {
        // SAFETY: fcntl on a descriptor number only changes that descriptor's flags.
        if unsafe { libc::fcntl(fd, libc::F_SETFD, 0) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    // SAFETY: PR_SET_PDEATHSIG only sets this process's parent-death signal.
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

pub(crate) fn check_spec(spec: &RunSpec) -> Result<(), SandboxError> {
    if spec.argv.first().is_none_or(|a| a.is_empty()) {
        return Err(SandboxError::EmptyCommand);
    }
    let absolute = |what: &'static str, path: &str| {
        if path.starts_with('/') {
            Ok(())
        } else {
            Err(SandboxError::NotAbsolute { what, path: path.to_string() })
        }
    };
    absolute("the working directory", &spec.cwd)?;
    for b in &spec.binds {
        absolute("a bind target", &b.target)?;
        absolute("a bind source", &b.source.to_string_lossy())?;
    }
    if matches!(&spec.rootfs, Rootfs::Overlay { lowers, .. } if lowers.is_empty()) {
        return Err(SandboxError::NoLowers);
    }
    let dirs: Vec<&PathBuf> = match &spec.rootfs {
        Rootfs::Overlay { lowers, upper, work } => lowers.iter().chain([upper, work]).collect(),
        Rootfs::Dir(d) => vec![d],
    };
    for d in dirs {
        absolute("a rootfs directory", &d.to_string_lossy())?;
    }
    let no_nul = |what: &'static str, s: &str| if s.contains('\0') { Err(SandboxError::Nul { what }) } else { Ok(()) };
    spec.argv.iter().try_for_each(|a| no_nul("the command", a))?;
    spec.env.iter().try_for_each(|e| no_nul("the environment", e))?;
    no_nul("the working directory", &spec.cwd)?;
    no_nul("the hostname", &spec.hostname)?;
    no_nul("the user", spec.user.as_deref().unwrap_or_default())
}

/// rbuild's stdin is its controlling terminal and rbuild is in the foreground there.
fn owns_terminal() -> bool {
    let stdin = io::stdin();
    isatty(&stdin).unwrap_or(false) && tcgetpgrp(&stdin).map(|p| p == getpgrp()).unwrap_or(false)
}

/// The terminal device on rbuild's stdin, if it is one.
fn stdin_terminal() -> Option<PathBuf> {
    if !isatty(io::stdin()).unwrap_or(false) {
        return None;
    }
    fs::read_link("/proc/self/fd/0").ok().filter(|p| p.starts_with("/dev/"))
}

/// After the command (which had the terminal's foreground) is gone, make rbuild's group the foreground
/// again; SIGTTOU is blocked in this thread meanwhile, as a background group asking would get it.
fn take_terminal_back() {
    let mut ttou = SigSet::empty();
    ttou.add(Signal::SIGTTOU);
    let mut old = SigSet::empty();
    let _ = pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&ttou), Some(&mut old));
    let _ = tcsetpgrp(io::stdin(), getpgrp());
    let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
}

/// A temp directory holding the rootfs mount point and the files bind-mounted over `/etc/hosts`,
/// `/etc/resolv.conf` and `/etc/hostname`; removed when dropped (nothing is mounted on the host side).
struct Scratch {
    dir: tempfile::TempDir,
    hosts: Option<PathBuf>,
}

impl Scratch {
    fn create(spec: &RunSpec) -> Result<Scratch, SandboxError> {
        let dir = tempfile::Builder::new().prefix("rbuild-sandbox-").tempdir().map_err(|source| SandboxError::Io {
            what: "creating a temp dir in",
            path: std::env::temp_dir(),
            source,
        })?;
        let scratch = Scratch { dir, hosts: spec.hosts_file.clone() };
        let root = scratch.mountpoint();
        fs::create_dir(&root).map_err(|source| SandboxError::Io { what: "creating", path: root.clone(), source })?;
        let hosts = spec.resolution.hosts(hosts_file(spec.network, &spec.hostname));
        let resolv = spec.resolution.resolv_conf(spec.network);
        for (name, content) in [("hosts", hosts), ("resolv.conf", resolv), ("hostname", format!("{}\n", spec.hostname))]
        {
            let path = scratch.dir.path().join(name);
            let io = |source| SandboxError::Io { what: "writing", path: path.clone(), source };
            fs::write(&path, content).map_err(io)?;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).map_err(io)?;
        }
        Ok(scratch)
    }

    /// Lower dirs as the init should name them. Relative to their common parent they usually fit in the
    /// overlay options (about 50 snapshot dirs); past that each is reached through a short symlink
    /// `<scratch>/l/<n>` instead, as Docker's overlay2 does, which makes room for hundreds.
    fn shorten_lowers(&self, rootfs: &Rootfs) -> Result<Rootfs, SandboxError> {
        let Rootfs::Overlay { lowers, upper, work } = rootfs else { return Ok(rootfs.clone()) };
        if overlay_options(lowers, upper, work).1.len() <= super::MAX_OVERLAY_OPTIONS {
            return Ok(rootfs.clone());
        }
        let dir = self.dir.path().join("l");
        let io = |what| {
            let path = dir.clone();
            move |source| SandboxError::Io { what, path, source }
        };
        fs::create_dir(&dir).map_err(io("creating"))?;
        let links = super::setup::link_lowers(lowers, &dir).map_err(io("linking lower dirs in"))?;
        Ok(Rootfs::Overlay { lowers: links, upper: upper.clone(), work: work.clone() })
    }

    fn mountpoint(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    fn etc_files(&self) -> Vec<EtcFile> {
        ["hosts", "resolv.conf", "hostname"]
            .iter()
            .map(|name| EtcFile {
                target: format!("/etc/{name}"),
                source: match &self.hosts {
                    Some(hosts) if *name == "hosts" => hosts.clone(),
                    _ => self.dir.path().join(name),
                },
            })
            .collect()
    }
}
