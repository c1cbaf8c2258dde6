//! `attach` to a `-t` container: the monitor's side ([`Server`]) and the client's ([`attach`]); and the
//! input of a container made with `-i` but no terminal ([`Server::serve_input`], [`send_input`]).
//!
//! The monitor of a `-t` container holds its pty's master (the sandbox hands it over, see
//! `crate::sandbox::run_holding_terminal`). It copies everything the command writes into `ctr.log` (one
//! json-file entry per line, stream `stdout`: a terminal merges stderr) and to every attached client (as
//! docker does; each one's input goes in too), and serves `containers/<id>/attach.sock`, bound before the
//! command starts (and reached, by both sides, through `/proc/self/fd/<dir fd>/`: a store path may exceed
//! the 108 bytes of a socket address). What clients send is a small framed protocol, one byte of kind,
//! four of length (big-endian), the payload: `DATA` for the terminal's input (dropped unless the
//! container was made with `-i`), `RESIZE` with rows and columns (two big-endian u16) for `TIOCSWINSZ`.
//! The monitor sends raw output back and closes the connections once the command's side of the terminal
//! is gone.
//!
//! The client puts its terminal in raw mode, and with one `poll` over its stdin, the socket and a
//! SIGWINCH self-pipe (no threads, so nothing is left blocked in a read of stdin when it stops) relays
//! stdin to the socket, the socket to stdout, and its window size. The detach keys (docker's default
//! Ctrl-P Ctrl-Q, `--detach-keys`) end it: the socket is shut down and closed, the container runs on.
//!
//! Without a terminal (`run -d -i`, `create -i`), the command's stdin is a pipe whose writing end the
//! monitor holds; the same socket takes `DATA` frames into it and a `CLOSE` frame (the client's stdin
//! ended) closes it, so the command reads its end of file: docker's default `StdinOnce`. Output is not
//! on the socket: the client follows the log, as for a container without `-i`.

use crate::sandbox::{self, RawMode, SandboxError, Winch};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::pty::Winsize;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// The socket in a container's directory.
pub const SOCKET: &str = "attach.sock";
/// docker's default `--detach-keys`.
pub const DEFAULT_DETACH_KEYS: &str = "ctrl-p,ctrl-q";
/// Frame kinds, client to monitor.
const DATA: u8 = 0;
const RESIZE: u8 = 1;
const CLOSE: u8 = 2;
/// How long the monitor waits for a client to take output before dropping it.
const CLIENT_WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// A frame's payload is at most this long (the client sends what one read of its stdin gave).
const MAX_FRAME: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    #[error("{what} {}: {source}", path.display())]
    Socket { what: &'static str, path: PathBuf, source: io::Error },
    #[error(
        "{} is not served: a -t container's terminal is attachable when it runs under a monitor (run -d, \
         start); one run in the foreground belongs to the rbuild that runs it",
        path.display()
    )]
    NotServed { path: PathBuf },
    #[error("invalid --detach-keys {keys:?}: {reason} (e.g. ctrl-p,ctrl-q or ctrl-a,x)")]
    DetachKeys { keys: String, reason: String },
    #[error("attach: relaying the terminal: {0}")]
    Relay(io::Error),
    #[error(transparent)]
    Terminal(#[from] SandboxError),
}

/// A container directory's socket path short enough for a socket address: through a descriptor of the
/// directory, kept open as long as the path is used.
struct ShortPath {
    _dir: OwnedFd,
    path: PathBuf,
}

impl ShortPath {
    fn of(dir: &Path) -> Result<ShortPath, AttachError> {
        let flags = nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC;
        let fd = nix::fcntl::open(dir, flags, nix::sys::stat::Mode::empty()).map_err(|e| AttachError::Socket {
            what: "opening",
            path: dir.to_path_buf(),
            source: e.into(),
        })?;
        let path = PathBuf::from(format!("/proc/self/fd/{}/{SOCKET}", fd.as_raw_fd()));
        Ok(ShortPath { _dir: fd, path })
    }
}

/// The monitor's end: the listening socket and the attached clients.
pub struct Server {
    listener: UnixListener,
    clients: Arc<Mutex<Vec<UnixStream>>>,
}

impl Server {
    /// Bind `<dir>/attach.sock` (a stale one from an earlier run is replaced).
    pub fn bind(dir: &Path) -> Result<Server, AttachError> {
        let short = ShortPath::of(dir)?;
        let _ = std::fs::remove_file(dir.join(SOCKET));
        let listener = UnixListener::bind(&short.path).map_err(|source| AttachError::Socket {
            what: "listening on",
            path: dir.join(SOCKET),
            source,
        })?;
        Ok(Server { listener, clients: Arc::default() })
    }

    /// Serve the terminal whose master is `master`: accept clients from now on, write their input (with
    /// `input`) and window sizes to it, and copy its output into `log` and to every client. The returned
    /// thread ends when the command's side of the terminal is gone, after closing the clients'
    /// connections.
    pub fn serve(
        &self,
        master: File,
        input: bool,
        log: Arc<Mutex<File>>,
    ) -> Result<JoinHandle<io::Result<()>>, AttachError> {
        let listener = self.listener.try_clone().map_err(AttachError::Relay)?;
        let (clients, to_master) = (self.clients.clone(), master.try_clone().map_err(AttachError::Relay)?);
        // Left blocked in accept when the command ends: the monitor exits right after.
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (Ok(reader), Ok(master)) = (stream.try_clone(), to_master.try_clone()) else { continue };
                // A client that stops reading (suspended, say) is dropped rather than stalling the command,
                // whose output would otherwise block once the pty's buffer is full.
                let _ = stream.set_write_timeout(Some(CLIENT_WRITE_TIMEOUT));
                lock(&clients).push(stream);
                std::thread::spawn(move || read_frames(reader, master, input));
            }
        });
        let tee = Tee { master, clients: self.clients.clone() };
        let clients = self.clients.clone();
        Ok(std::thread::spawn(move || {
            let copied = super::log::copy_stream(tee, "stdout", log);
            for c in lock(&clients).drain(..) {
                let _ = c.shutdown(Shutdown::Both);
            }
            copied
        }))
    }

    /// Serve the input of a container without a terminal: accept clients from now on and write their
    /// `DATA` into `stdin` (the pipe the command reads) until one sends `CLOSE`, which closes it. The
    /// accepting thread is left blocked when the command ends: the monitor exits right after.
    pub fn serve_input(&self, stdin: File) -> Result<(), AttachError> {
        let listener = self.listener.try_clone().map_err(AttachError::Relay)?;
        let stdin = Arc::new(Mutex::new(Some(stdin)));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let stdin = stdin.clone();
                std::thread::spawn(move || read_input_frames(stream, &stdin));
            }
        });
        Ok(())
    }
}

/// One client's frames into the command's stdin, until it disconnects or ends that stdin.
fn read_input_frames(from: UnixStream, stdin: &Mutex<Option<File>>) {
    for_each_frame(from, |kind, body| {
        let mut pipe = stdin.lock().unwrap_or_else(|p| p.into_inner());
        match kind {
            // A command that closed its stdin (EPIPE) takes no more; the pipe goes.
            DATA if pipe.as_mut().is_some_and(|p| p.write_all(body).is_err()) => *pipe = None,
            CLOSE => *pipe = None,
            _ => {}
        }
        true
    });
}

/// Read a client's frames, handing each (kind, payload) to `f` until it returns false, the client
/// disconnects or a frame is malformed.
fn for_each_frame(mut from: UnixStream, mut f: impl FnMut(u8, &[u8]) -> bool) {
    let mut header = [0u8; 5];
    let mut payload = vec![0u8; MAX_FRAME];
    while from.read_exact(&mut header).is_ok() {
        let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
        if len > MAX_FRAME || from.read_exact(&mut payload[..len]).is_err() || !f(header[0], &payload[..len]) {
            return;
        }
    }
}

/// The client's end for a container without a terminal: a thread copies this process's stdin to the
/// container's (through its monitor) and ends it when stdin ends. Output is the caller's to follow.
pub fn send_input(dir: &Path) -> Result<JoinHandle<()>, AttachError> {
    let mut stream = connect(dir)?;
    Ok(std::thread::spawn(move || {
        let mut buf = vec![0u8; MAX_FRAME];
        let mut stdin = io::stdin().lock();
        loop {
            match stdin.read(&mut buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Ok(0) | Err(_) => break,
                Ok(n) if send_frame(&mut stream, DATA, &buf[..n]).is_err() => return,
                Ok(_) => {}
            }
        }
        let _ = send_frame(&mut stream, CLOSE, &[]);
    }))
}

fn lock(clients: &Mutex<Vec<UnixStream>>) -> std::sync::MutexGuard<'_, Vec<UnixStream>> {
    clients.lock().unwrap_or_else(|p| p.into_inner())
}

/// One client's frames into the terminal, until it disconnects.
fn read_frames(from: UnixStream, mut master: File, input: bool) {
    for_each_frame(from, |kind, body| {
        match kind {
            DATA if input && master.write_all(body).is_err() => return false,
            RESIZE if body.len() == 4 => {
                let rows = u16::from_be_bytes([body[0], body[1]]);
                let cols = u16::from_be_bytes([body[2], body[3]]);
                let size = Winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
                sandbox::set_window_size(master.as_fd(), &size);
            }
            _ => {}
        }
        true
    });
}

/// The master as the log copier reads it: each chunk also goes to every attached client (one that cannot
/// take it, detached or stalled, is dropped); the end of the command's side (EIO) is the end of the stream.
struct Tee {
    master: File,
    clients: Arc<Mutex<Vec<UnixStream>>>,
}

impl Read for Tee {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = match self.master.read(buf) {
            Err(e) if e.raw_os_error() == Some(libc::EIO) => return Ok(0),
            other => other?,
        };
        lock(&self.clients).retain_mut(|c| c.write_all(&buf[..n]).is_ok());
        Ok(n)
    }
}

/// The byte sequence that detaches a client (`--detach-keys`, docker's syntax: comma-separated keys,
/// each a single character or `ctrl-X`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetachKeys(Vec<u8>);

impl DetachKeys {
    pub fn parse(keys: &str) -> Result<DetachKeys, AttachError> {
        let bad = |reason: &str| AttachError::DetachKeys { keys: keys.to_string(), reason: reason.to_string() };
        let mut bytes = Vec::new();
        for key in keys.split(',') {
            let byte = match key.strip_prefix("ctrl-") {
                Some(c) if c.len() == 1 => match c.as_bytes()[0].to_ascii_lowercase() {
                    c @ b'a'..=b'z' => c - b'a' + 1,
                    b'@' => 0,
                    c @ (b'[' | b'\\' | b']' | b'^' | b'_') => c - b'@',
                    _ => return Err(bad(&format!("{key:?} is not a control key"))),
                },
                None if key.len() == 1 => key.as_bytes()[0],
                _ => return Err(bad(&format!("{key:?} is neither one character nor ctrl-<key>"))),
            };
            bytes.push(byte);
        }
        Ok(DetachKeys(bytes))
    }

    /// Pass `input` through the matcher: the bytes to send, and whether the whole sequence was typed.
    /// A partial match is held back (`held` bytes of it) and sent once a byte breaks it, as docker does.
    fn feed(&self, held: &mut usize, input: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(input.len());
        for &b in input {
            if b == self.0[*held] {
                *held += 1;
                if *held == self.0.len() {
                    return (out, true);
                }
                continue;
            }
            out.extend_from_slice(&self.0[..*held]);
            *held = usize::from(b == self.0[0]);
            if *held == 0 {
                out.push(b);
            }
        }
        (out, false)
    }
}

/// How an attached session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The detach keys were typed: the container runs on.
    Detached,
    /// The monitor closed the connection: the command's terminal is gone (it has ended).
    Closed,
}

/// Attach this process's terminal to the `-t` container in `dir`: its output to stdout, and (with
/// `input`) stdin to it, until detached or the command ends.
pub fn attach(dir: &Path, input: bool, keys: &DetachKeys) -> Result<Ended, AttachError> {
    let mut stream = connect(dir)?;
    let stdin = io::stdin();
    let terminal = nix::unistd::isatty(&stdin).unwrap_or(false);
    let _raw = if input { RawMode::enter() } else { None };
    let winch = if terminal { Some(Winch::install()?) } else { None };
    if terminal {
        send_size(&mut stream)?;
    }
    let ended = relay(&mut stream, input, keys, winch.as_ref());
    // Nothing of ours stays connected, whatever ended the session.
    let _ = stream.shutdown(Shutdown::Both);
    ended
}

fn relay(stream: &mut UnixStream, input: bool, keys: &DetachKeys, winch: Option<&Winch>) -> Result<Ended, AttachError> {
    let stdin = io::stdin();
    let mut stdin_open = input;
    let mut held = 0;
    let mut buf = vec![0u8; MAX_FRAME];
    loop {
        let (socket_ready, stdin_ready, winch_ready) = {
            let readable = PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR;
            let mut fds = vec![PollFd::new(stream.as_fd(), PollFlags::POLLIN)];
            if stdin_open {
                fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            }
            if let Some(w) = winch {
                fds.push(PollFd::new(w.fd().as_fd(), PollFlags::POLLIN));
            }
            match poll(&mut fds, PollTimeout::NONE) {
                Err(nix::errno::Errno::EINTR) => continue,
                other => other.map_err(|e| AttachError::Relay(e.into()))?,
            };
            let ready = |i: usize| fds.get(i).and_then(PollFd::revents).is_some_and(|r| r.intersects(readable));
            (ready(0), stdin_open && ready(1), winch.is_some() && ready(if stdin_open { 2 } else { 1 }))
        };
        if socket_ready {
            let n = stream.read(&mut buf).map_err(AttachError::Relay)?;
            if n == 0 {
                return Ok(Ended::Closed);
            }
            let mut out = io::stdout().lock();
            // A closed stdout must not end the session early: the command may still read input.
            let _ = out.write_all(&buf[..n]).and_then(|()| out.flush());
        }
        if stdin_ready {
            // Straight from the descriptor: a buffered reader could hold bytes back from the next poll.
            let n = nix::unistd::read(&stdin, &mut buf).map_err(|e| AttachError::Relay(e.into()))?;
            if n == 0 {
                stdin_open = false;
                continue;
            }
            let (send, detach) = keys.feed(&mut held, &buf[..n]);
            if !send.is_empty() {
                send_frame(stream, DATA, &send)?;
            }
            if detach {
                return Ok(Ended::Detached);
            }
        }
        if let Some(w) = winch.filter(|_| winch_ready) {
            let _ = w.fd().read(&mut [0u8; 64]);
            send_size(stream)?;
        }
    }
}

fn send_size(stream: &mut UnixStream) -> Result<(), AttachError> {
    let Some(size) = sandbox::window_size(io::stdin().as_raw_fd()) else { return Ok(()) };
    let mut body = size.ws_row.to_be_bytes().to_vec();
    body.extend_from_slice(&size.ws_col.to_be_bytes());
    send_frame(stream, RESIZE, &body)
}

/// Connect to the container's monitor on `<dir>/attach.sock`.
fn connect(dir: &Path) -> Result<UnixStream, AttachError> {
    let short = ShortPath::of(dir)?;
    UnixStream::connect(&short.path).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => AttachError::NotServed { path: dir.join(SOCKET) },
        _ => AttachError::Socket { what: "connecting to", path: dir.join(SOCKET), source },
    })
}

fn send_frame(stream: &mut UnixStream, kind: u8, body: &[u8]) -> Result<(), AttachError> {
    let mut frame = vec![kind];
    frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
    frame.extend_from_slice(body);
    stream.write_all(&frame).map_err(AttachError::Relay)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_parse_like_dockers() {
        assert_eq!(DetachKeys::parse(DEFAULT_DETACH_KEYS).unwrap(), DetachKeys(vec![0x10, 0x11]));
        assert_eq!(DetachKeys::parse("ctrl-a,x,ctrl-@,ctrl-[").unwrap(), DetachKeys(vec![1, b'x', 0, 0x1b]));
        for bad in ["", "ctrl-", "ctrl-1", "ab", "ctrl-p,"] {
            assert!(DetachKeys::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_matcher_holds_a_partial_sequence_and_sends_it_when_broken() {
        let keys = DetachKeys::parse(DEFAULT_DETACH_KEYS).unwrap();
        let mut held = 0;
        assert_eq!(keys.feed(&mut held, b"ls\r"), (b"ls\r".to_vec(), false));
        // Ctrl-P alone is held back, then sent with the byte that breaks the sequence.
        assert_eq!(keys.feed(&mut held, b"\x10"), (Vec::new(), false));
        assert_eq!(keys.feed(&mut held, b"a"), (b"\x10a".to_vec(), false));
        // Ctrl-P Ctrl-P Ctrl-Q: the first is sent, the last two detach.
        assert_eq!(keys.feed(&mut held, b"x\x10\x10\x11"), (b"x\x10".to_vec(), true));
        // Split across reads.
        let mut held = 0;
        assert_eq!(keys.feed(&mut held, b"\x10"), (Vec::new(), false));
        assert_eq!(keys.feed(&mut held, b"\x11"), (Vec::new(), true));
    }
}
