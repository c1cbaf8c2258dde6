//! What travels between rbuild and its sandbox init: the [`InitSpec`] (JSON after its length, rbuild →
//! init, over a pipe that then carries the [`GO`] byte) and [`Message`]s (JSON lines, sandbox → rbuild,
//! over a close-on-exec status pipe whose end-of-file means the command was executed or the setup gave
//! up).

use super::bpf::Program;
use super::pty::TerminalRequest;
use super::{RunSpec, SandboxError};
use nix::errno::Errno;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The run spec plus what rbuild prepared for it on the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct InitSpec {
    pub run: RunSpec,
    /// An empty host directory the rootfs is mounted on, then pivoted into.
    pub mountpoint: PathBuf,
    /// Files bind-mounted over container paths: `/etc/hosts`, `/etc/resolv.conf`, `/etc/hostname`.
    pub etc_files: Vec<EtcFile>,
    /// Make the command the foreground process group of the terminal on stdin (`rbuild run -it`).
    pub foreground: bool,
    /// `-i` without `-t`: the host terminal on stdin, bind-mounted at `/dev/console` so `tty` can name it
    /// (the container's own devpts instance does not show the host's pseudo-terminals).
    pub console: Option<PathBuf>,
    /// `-t`: the command gets a pseudo-terminal of the container's own devpts (see `pty.rs`).
    #[serde(default)]
    pub terminal: Option<TerminalRequest>,
    /// The seccomp filter resolved and compiled for this sandbox by rbuild; `None` when unconfined.
    pub seccomp: Option<Program>,
}

/// The byte rbuild sends after a new sandbox's spec once its command may start: pid 1 makes the whole
/// sandbox, then waits for it on the spec pipe while rbuild puts it in its cgroup and waits for its network
/// (pasta configuring the namespace). The pipe's end without it means rbuild gave up. (`exec`'s join
/// enters a sandbox that is ready: no go there.)
pub(crate) const GO: u8 = b'G';

/// Send a spec: its length (8 bytes, little-endian), then its JSON. The pipe stays open for [`GO`].
pub(crate) fn send_spec(to: &mut impl std::io::Write, json: &[u8]) -> std::io::Result<()> {
    to.write_all(&(json.len() as u64).to_le_bytes())?;
    to.write_all(json)
}

/// Read a spec [`send_spec`] sent, and nothing after it.
pub(crate) fn read_spec(from: &mut impl std::io::Read) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 8];
    from.read_exact(&mut len)?;
    let len = usize::try_from(u64::from_le_bytes(len))
        .ok()
        .filter(|&n| n <= 64 << 20)
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "the spec's length is not plausible"))?;
    let mut json = vec![0; len];
    from.read_exact(&mut json)?;
    Ok(json)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct EtcFile {
    pub target: String,
    pub source: PathBuf,
}

/// One line on the status pipe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Message {
    /// The mount-point stubs created in the rootfs (sent once the mounts are done, or at a failure).
    Stubs(Vec<String>),
    /// The setup failed; the command never ran.
    Failed(WireError),
}

/// A [`SandboxError`] as it crosses the process boundary (errno as a number, I/O errors as errno).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum WireError {
    Setup {
        step: String,
        errno: i32,
    },
    MountOnRoot {
        mount_point: String,
    },
    OverlayMount {
        errno: i32,
    },
    User(String),
    NotFound {
        argv0: String,
    },
    Exec {
        argv0: String,
        errno: i32,
    },
    Seccomp {
        what: String,
        reason: String,
    },
    /// Failures of the init itself (unreadable spec, fork): only ever shown to the user.
    Init(String),
}

impl From<&SandboxError> for WireError {
    fn from(e: &SandboxError) -> WireError {
        match e {
            SandboxError::Setup { step, errno } => WireError::Setup { step: step.clone(), errno: *errno as i32 },
            SandboxError::Io { what, path, source } => WireError::Setup {
                step: format!("{what} {}", path.display()),
                errno: source.raw_os_error().unwrap_or(libc::EIO),
            },
            SandboxError::MountOnRoot { mount_point } => WireError::MountOnRoot { mount_point: mount_point.clone() },
            SandboxError::OverlayMount { errno } => WireError::OverlayMount { errno: *errno as i32 },
            SandboxError::User(m) => WireError::User(m.clone()),
            SandboxError::NotFound { argv0 } => WireError::NotFound { argv0: argv0.clone() },
            SandboxError::Exec { argv0, errno } => WireError::Exec { argv0: argv0.clone(), errno: *errno as i32 },
            SandboxError::Init(m) => WireError::Init(m.clone()),
            SandboxError::Seccomp { what, reason } => WireError::Seccomp { what: what.clone(), reason: reason.clone() },
            other => WireError::Init(other.to_string()),
        }
    }
}

impl From<WireError> for SandboxError {
    fn from(e: WireError) -> SandboxError {
        match e {
            WireError::Setup { step, errno } => SandboxError::Setup { step, errno: Errno::from_raw(errno) },
            WireError::MountOnRoot { mount_point } => SandboxError::MountOnRoot { mount_point },
            WireError::OverlayMount { errno } => SandboxError::OverlayMount { errno: Errno::from_raw(errno) },
            WireError::User(m) => SandboxError::User(m),
            WireError::NotFound { argv0 } => SandboxError::NotFound { argv0 },
            WireError::Exec { argv0, errno } => SandboxError::Exec { argv0, errno: Errno::from_raw(errno) },
            WireError::Seccomp { what, reason } => SandboxError::Seccomp { what, reason },
            WireError::Init(m) => SandboxError::Init(m),
        }
    }
}

/// Parse the status pipe's content: the stubs (last list sent) and the failure, if any.
pub(crate) fn read_messages(text: &str) -> Result<(Vec<String>, Option<WireError>), SandboxError> {
    let mut stubs = Vec::new();
    let mut failure = None;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str(line).map_err(SandboxError::Protocol)? {
            Message::Stubs(s) => stubs = s,
            Message::Failed(f) => failure = Some(f),
        }
    }
    Ok((stubs, failure))
}
