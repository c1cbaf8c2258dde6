//! The sandbox a RUN step (and `rbuild run`) executes in: new mount, pid, uts and ipc namespaces (and an
//! empty network namespace with `Network::None`; with `Network::Bridge` one the caller made and connected,
//! joined with `setns`, see [`run_in_netns`]), a rootfs that is an overlay of read-only snapshots plus
//! an upper dir (or a plain directory), `/proc`, a minimal `/dev`, a read-only `/sys`, the container's own
//! `/etc/hosts`, `/etc/resolv.conf` and `/etc/hostname`, then `pivot_root`, the image's user, Docker's
//! default capabilities and `no_new_privs`, and finally `execve` of the command.
//!
//! Lifecycle, and why it looks like runc's: rbuild may be multi-threaded, so it never forks and keeps
//! running Rust code. [`run`] re-executes rbuild itself (`/proc/self/exe` and the hidden init subcommand)
//! with a `pre_exec` that only calls `unshare`; the spec travels as JSON over a pipe. That *init* process
//! is a fresh single-threaded process: it forks once, so the child is pid 1 of the new pid namespace; the
//! child performs the whole setup ([`setup`], through the [`Sys`] seam), then waits for rbuild's go on the
//! spec pipe (meanwhile rbuild moves it into its cgroup and, for a container, waits for pasta to connect
//! its network: that wait overlaps the whole setup) and `execve`s the command. The
//! init waits and relays the exit status (128+signal when killed). Setup failures and the mount-point stubs
//! the child created travel back on a close-on-exec status pipe, so the user reads "sandbox: mounting
//! /proc: EPERM" instead of an exit code. Every mount lives in the sandbox's own mount namespace, so
//! nothing stays mounted on the host once its processes are gone.
//!
//! Each sandbox gets its own cgroup ([`cgroup`]: pids limit, `--memory`, and on cgroup v1 a device
//! filter), which rbuild creates before the init runs, puts pid 1 in before its command starts, and
//! drains (SIGKILL, then wait until empty) and removes after it: when [`run`] returns, no process of the sandbox is alive. SIGINT/SIGTERM to rbuild
//! SIGKILL the namespace's pid 1 (the kernel then kills the rest and the init, which is left alive to
//! wait, sees pid 1 only once the namespace is empty) and [`run`] returns [`SandboxError::Interrupted`].
//!
//! What the command may do: the capabilities of [`granted_caps`] (Docker's defaults without CAP_MKNOD,
//! and without CAP_NET_RAW on the host's network), a rootfs and binds mounted `nodev`, a fresh anonymous
//! session keyring, and the seccomp filter of [`seccomp`] (Docker's default profile unless told
//! otherwise), compiled by rbuild once and cached in the store ([`bpf`]), loaded as the last step before
//! `execve`.
//!
//! [`join`] runs a second command in a running sandbox (`rbuild exec`): the same last steps, in the
//! sandbox's namespaces and cgroups instead of new ones (see `join.rs`).
//!
//! This module must never touch a host path through the image's symlinks (every mount point is resolved
//! inside the rootfs) and keeps each `unsafe` block beside a `// SAFETY:` comment.

mod bpf;
mod cgroup;
mod exec;
#[cfg(test)]
mod fake;
mod init;
mod interrupt;
mod join;
mod parent;
mod pty;
mod resolv;
mod rlimit;
mod seccomp;
mod setup;
mod sys;
#[cfg(test)]
mod tests;
mod wire;

pub use bpf::set_cache_dir as set_seccomp_cache_dir;
pub use cgroup::{Limits, DEFAULT_PIDS_LIMIT};
pub use init::init_main;
pub use interrupt::cancel_all;
pub use join::{join, join_main, sandbox_cgroups, JOIN_SUBCOMMAND};
pub use parent::{
    run, run_holding_terminal, run_in_netns, run_observed, run_prefixed, run_with_init, Netns, DEFAULT_HOSTS,
};
pub use pty::{set_window_size, window_size, RawMode, Winch};
pub use resolv::Resolution;
pub use rlimit::Ulimits;
pub use seccomp::{Profile, Seccomp, DEFAULT_PROFILE};
pub use setup::{granted_caps, link_lowers, overlay_options, MAX_OVERLAY_OPTIONS};
pub use sys::{LinuxSys, Sys};

use nix::errno::Errno;
use serde::{Deserialize, Serialize};
use std::io;
use std::path::PathBuf;

/// The hidden subcommand of the rbuild binary that runs the sandbox init (see the module docs).
pub const INIT_SUBCOMMAND: &str = "__sandbox-init";

/// The `PATH` used to find the command when the spec's env has none (Docker's default).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The filesystem the command sees as `/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rootfs {
    /// Mounted inside the sandbox's own mount namespace, so it vanishes with the sandbox.
    Overlay {
        /// Read-only layers, top-most first.
        lowers: Vec<PathBuf>,
        upper: PathBuf,
        work: PathBuf,
    },
    /// A plain directory (copy backend): bind-mounted as the root.
    Dir(PathBuf),
}

/// Which network the command gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Network {
    /// The host's network namespace (Docker's `--network host`, buildah's default for chroot isolation).
    Host,
    /// A new network namespace with only `lo`, up.
    None,
    /// A network namespace of the container's own (Docker's default bridge isolation). Run through
    /// [`run_in_netns`] with a namespace the caller connected (a container's: `pasta` gives it the
    /// outside, see `crate::container::network`); without one it is a new namespace like [`Network::None`].
    Bridge,
}

/// A host path mounted into the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bind {
    pub source: PathBuf,
    /// Absolute path in the container; resolved inside the rootfs.
    pub target: String,
    pub readonly: bool,
}

/// A tmpfs mounted into the container (mode 1777, nodev, nosuid; noexec where asked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tmpfs {
    /// Absolute path in the container; resolved inside the rootfs.
    pub target: String,
    /// Bytes; `None` is the kernel's default (half of RAM).
    pub size: Option<u64>,
    /// docker's default for a container's `--mount type=tmpfs`; BuildKit's RUN tmpfs mounts allow exec.
    #[serde(default)]
    pub noexec: bool,
}

/// Where the command's standard input comes from. Output always goes to rbuild's stdout/stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stdin {
    /// `/dev/null`, and no controlling terminal (RUN).
    Null,
    /// rbuild's own stdin; when it is rbuild's controlling terminal and rbuild is in the foreground, the
    /// command becomes the terminal's foreground process group (`rbuild run -it`).
    Inherit,
    /// A new pseudo-terminal of the container's devpts (`rbuild run -t`, `exec -t`, see `pty.rs`): the
    /// command's stdin, stdout and stderr are its slave, its controlling terminal; rbuild relays the master
    /// to its stdout and, with `input` (`-i`), its stdin to the master (or hands the master to the caller,
    /// [`run_holding_terminal`]).
    Terminal { input: bool },
}

/// Everything one sandboxed command needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSpec {
    pub rootfs: Rootfs,
    /// The command, already wrapped in the SHELL by the caller for shell form. `argv[0]` is looked up in
    /// the env's `PATH` (or [`DEFAULT_PATH`]) inside the new root when it has no `/`.
    pub argv: Vec<String>,
    /// `K=V` pairs; the caller adds PATH and the like. HOME is added from passwd when missing.
    pub env: Vec<String>,
    /// Absolute working directory, created (0755, root) if missing, like WORKDIR.
    pub cwd: String,
    /// USER spec `name|uid[:group|gid]`, resolved from the rootfs' `/etc/passwd` and `/etc/group`.
    /// `None` is root, with root's supplementary groups.
    pub user: Option<String>,
    pub network: Network,
    pub hostname: String,
    pub binds: Vec<Bind>,
    /// Fresh tmpfs mounts (`RUN --mount=type=tmpfs`, `run --mount type=tmpfs`), mounted after the binds;
    /// nothing written there reaches the rootfs.
    #[serde(default)]
    pub tmpfs: Vec<Tmpfs>,
    pub stdin: Stdin,
    /// The seccomp filter (`--security-opt seccomp=`).
    pub seccomp: Seccomp,
    /// Processes and memory (`--pids-limit`, `--memory`), applied through the sandbox's cgroup.
    pub limits: Limits,
    /// `run --read-only`: the root filesystem is mounted read-only (binds, volumes, /dev, /proc are not).
    #[serde(default)]
    pub readonly_rootfs: bool,
    /// A file to bind-mount as `/etc/hosts` instead of one made for the run: a named network's, which
    /// it rewrites in place as containers come and go (`crate::container::bridge`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosts_file: Option<PathBuf>,
    /// `--add-host`, `--dns`, `--dns-search`, `--dns-option`: the sandbox's `/etc/hosts` lines and
    /// `/etc/resolv.conf` (see [`Resolution`]).
    #[serde(default, skip_serializing_if = "Resolution::is_empty")]
    pub resolution: Resolution,
}

/// How the command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutcome {
    /// The command's exit code, or 128+signal when a signal killed it.
    pub exit_code: i32,
    /// Mount-point stubs the sandbox had to create in the rootfs (absolute container paths, parents
    /// before children). The caller removes them from the upper dir before diffing; a stub the command
    /// itself replaced may be gone already.
    pub created_stubs: Vec<String>,
    /// The kernel's OOM killer ended a process of the sandbox (it hit its `--memory` limit).
    pub oom_killed: bool,
}

/// Everything that can go wrong around a sandboxed command (not the command's own failure: that is a
/// non-zero [`RunOutcome::exit_code`]).
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("sandbox: the command is empty")]
    EmptyCommand,
    #[error("sandbox: an overlay rootfs needs at least one lower dir (use Rootfs::Dir for an empty image)")]
    NoLowers,
    #[error("sandbox: {what} must be an absolute path, got {path:?}")]
    NotAbsolute { what: &'static str, path: String },
    #[error("sandbox: {what} contains a NUL byte")]
    Nul { what: &'static str },
    #[error("sandbox: {what} {}: {source}", path.display())]
    Io { what: &'static str, path: PathBuf, source: io::Error },
    #[error("sandbox: creating namespaces needs root (CAP_SYS_ADMIN): {0}")]
    NotPermitted(io::Error),
    #[error("sandbox: cannot start {} in new namespaces: {source}", program.display())]
    Start { program: PathBuf, source: io::Error },
    #[error("sandbox: talking to the sandbox init: {0}")]
    Pipe(io::Error),
    #[error("sandbox: malformed message from the sandbox init: {0}")]
    Protocol(serde_json::Error),
    #[error("sandbox: the sandbox init failed before running the command ({status})")]
    InitFailed { status: String },
    /// The init process itself failed (unreadable spec, fork); the text comes from that process.
    #[error("sandbox init: {0}")]
    Init(String),
    /// A system call of the setup failed, e.g. "mounting /proc: EPERM".
    #[error("sandbox: {step}: {errno}")]
    Setup { step: String, errno: Errno },
    /// overlayfs refused the rootfs (e.g. an upper dir on a filesystem it cannot use): the caller may
    /// fall back to a copied rootfs, as nothing ran yet.
    #[error("sandbox: mounting the overlay rootfs: {errno}")]
    OverlayMount { errno: Errno },
    #[error("sandbox: {mount_point} resolves to the root of the rootfs")]
    MountOnRoot { mount_point: String },
    /// USER could not be resolved from the image's passwd/group files.
    #[error("sandbox: {0}")]
    User(String),
    /// Docker's wording: `exec: "foo": executable file not found in $PATH` (exit code 127).
    #[error("exec: \"{argv0}\": executable file not found in $PATH")]
    NotFound { argv0: String },
    /// `execve` itself failed (exit code 126, or 127 for a missing path).
    #[error("exec: \"{argv0}\": {errno}")]
    Exec { argv0: String, errno: Errno },
    #[error("sandbox: interrupted by {}; the command was killed", signal_name(*signal))]
    Interrupted { signal: i32 },
    #[error("sandbox: cgroup {}: {source}", path.display())]
    Cgroup { path: PathBuf, source: io::Error },
    /// A limit the user asked for cannot be applied here.
    #[error(
        "sandbox: {limit} needs the {controller} cgroup controller, which is not usable here ({why}); \
         run rbuild where cgroups are delegated to it (as root on the host, or a container with a writable \
         cgroup), or drop the option"
    )]
    NoController { controller: &'static str, limit: String, why: String },
    #[error("sandbox: {count} process(es) of the sandbox are still alive after SIGKILL (cgroup {})", cgroup.display())]
    Lingering { count: usize, cgroup: PathBuf },
    /// The caller's readiness check (a container network that pasta had still to configure) failed
    /// before the command was given its spec; the caller holds the reason and reports it instead.
    #[error("sandbox: the container's network could not be made ready; the command was not started")]
    NetworkNotReady,
    #[error("seccomp profile {file}: {problem}")]
    BadProfile { file: String, problem: String },
    #[error("sandbox: seccomp: {what}: {reason}")]
    Seccomp { what: String, reason: String },
}

impl SandboxError {
    /// The exit code Docker gives a command that could not be executed: 127 not found, 126 not runnable.
    pub fn exec_exit_code(&self) -> Option<i32> {
        match self {
            SandboxError::NotFound { .. } | SandboxError::Exec { errno: Errno::ENOENT, .. } => Some(127),
            SandboxError::Exec { .. } => Some(126),
            _ => None,
        }
    }

    fn setup(step: impl Into<String>) -> impl FnOnce(Errno) -> SandboxError {
        let step = step.into();
        move |errno| SandboxError::Setup { step, errno }
    }
}

/// What to add to a failure when the OOM killer ended the command: the limit, and what to do.
pub fn oom_hint(limits: &Limits) -> String {
    let limit = match limits.memory {
        Some(b) if b % (1 << 20) == 0 => format!(" of {}m", b >> 20),
        Some(b) => format!(" of {b} bytes"),
        None => String::new(),
    };
    format!("killed by the kernel's OOM killer: the memory limit{limit} was reached; raise --memory")
}

fn signal_name(signal: i32) -> String {
    match nix::sys::signal::Signal::try_from(signal) {
        Ok(s) => s.as_str().to_string(),
        Err(_) => format!("signal {signal}"),
    }
}
