//! `rbuild run -t`: the pseudo-terminal the command runs on, made as runc makes it. The sandbox's pid 1
//! opens `ptmx` of the container's own devpts instance (mounted `newinstance`) once it has pivoted into
//! the rootfs, so the slave is `/dev/pts/0` inside (`tty` names it; it is also bind-mounted at
//! `/dev/console`, as docker does), makes it its stdin, stdout, stderr and controlling terminal, and sends
//! the master back to rbuild over a unix socketpair (`SCM_RIGHTS`) before it executes the command.
//! `exec -t` does the same in the joined sandbox (the next `/dev/pts/N`, no console).
//!
//! On rbuild's side [`Pty`] holds the socketpair, receives the master once the command was executed,
//! and either hands it to the caller (a container monitor) or relays it: the master to rbuild's stdout
//! and, with `-i`, rbuild's stdin to the master, with rbuild's terminal in raw mode for the run (restored
//! afterwards), so keys such as Ctrl-C reach the command's line discipline, not rbuild. The window size
//! of rbuild's terminal is the pty's at the start and is copied to the master on every SIGWINCH.

use super::SandboxError;
use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::pty::Winsize;
use nix::sys::signal::{self, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::sys::socket::{self, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType};
use nix::sys::stat::Mode;
use nix::sys::termios::{self, SetArg, Termios};
use nix::unistd::isatty;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};
use std::thread::JoinHandle;

/// The write end of the SIGWINCH self-pipe, -1 while no terminal relay runs.
static WINCH_WRITE: AtomicI32 = AtomicI32::new(-1);

/// The size a pty gets when rbuild's stdin is not a terminal (a terminal's classic default).
pub(crate) const DEFAULT_SIZE: Winsize = Winsize { ws_row: 24, ws_col: 80, ws_xpixel: 0, ws_ypixel: 0 };

/// What the sandbox needs to make the command's terminal (part of the init's spec).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TerminalRequest {
    /// The sandbox's end of the socketpair the master goes back on (passed through the init's exec).
    pub socket: RawFd,
    pub rows: u16,
    pub cols: u16,
    /// Also bind the slave at `/dev/console` (the sandbox's first terminal; not for `exec -t`).
    pub console: bool,
}

extern "C" fn on_winch(_: libc::c_int) {
    let fd = WINCH_WRITE.load(Ordering::SeqCst);
    if fd >= 0 {
        // SAFETY: write(2) is async-signal-safe; the byte is a local. A full pipe just drops the wakeup
        // (one pending wakeup is enough: the thread reads the current size).
        unsafe { libc::write(fd, b"w".as_ptr().cast(), 1) };
    }
}

/// In the sandbox, once it has pivoted into `root` (still as root, before the user is taken): open a pty
/// of the container's devpts, make its slave fds 0, 1 and 2 and the controlling terminal of this process
/// (a session leader already), bind it at `/dev/console` when asked, and send the master on the request's
/// socket. Neither the master nor the socket stays open here.
pub(crate) fn take_terminal(root: &Path, request: &TerminalRequest) -> Result<(), SandboxError> {
    // SAFETY: the init passed this descriptor for us alone (its number travelled in the spec); taking
    // ownership closes it when the function returns.
    let socket = unsafe { OwnedFd::from_raw_fd(request.socket) };
    let setup = |step: &str| SandboxError::setup(step.to_string());
    let pts = root.join("dev/pts");
    let flags = OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC;
    let master = open(&pts.join("ptmx"), flags, Mode::empty()).map_err(setup("opening /dev/pts/ptmx"))?;
    let mut number: libc::c_uint = 0;
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCGPTN writes one unsigned int we own; TIOCSPTLCK reads one int we own.
    let ok = unsafe {
        libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut number) == 0
            && libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) == 0
    };
    if !ok {
        return Err(setup("unlocking the pseudo-terminal")(Errno::last()));
    }
    set_window_size(master.as_fd(), &Winsize { ws_row: request.rows, ws_col: request.cols, ..DEFAULT_SIZE });
    let slave_path = pts.join(number.to_string());
    let slave = open(&slave_path, flags, Mode::empty()).map_err(setup("opening the pseudo-terminal's slave"))?;
    if request.console {
        let console = root.join("dev/console");
        File::create(&console)
            .map_err(|e| setup("creating /dev/console")(Errno::from_raw(e.raw_os_error().unwrap_or(0))))?;
        nix::mount::mount(Some(&slave_path), &console, None::<&str>, nix::mount::MsFlags::MS_BIND, None::<&str>)
            .map_err(setup("bind-mounting the terminal on /dev/console"))?;
    }
    for fd in 0..3 {
        // SAFETY: dup2 onto the standard descriptors, which this process owns; the old ones are replaced.
        if unsafe { libc::dup2(slave.as_raw_fd(), fd) } < 0 {
            return Err(setup("making the terminal stdin, stdout and stderr")(Errno::last()));
        }
    }
    drop(slave);
    // SAFETY: TIOCSCTTY takes an integer argument (0: do not steal a terminal another session owns).
    if unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) } < 0 {
        return Err(setup("making the pseudo-terminal the controlling terminal")(Errno::last()));
    }
    let fds = [master.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    socket::sendmsg::<()>(socket.as_raw_fd(), &[IoSlice::new(b"t")], &cmsg, MsgFlags::empty(), None)
        .map_err(setup("sending the pseudo-terminal to rbuild"))?;
    Ok(())
}

/// rbuild's side of one command's pseudo-terminal, from [`Pty::open`] until [`Pty::finish`].
pub(crate) struct Pty {
    ours: OwnedFd,
    /// The sandbox's end, until the init has inherited it.
    theirs: Option<OwnedFd>,
    size: Winsize,
    input: bool,
    raw: Option<RawMode>,
    output: Option<JoinHandle<()>>,
    winch: Option<(JoinHandle<()>, Winch)>,
}

impl Pty {
    /// The socketpair the master comes back on; `input` relays rbuild's stdin (`-i`). The pty gets the
    /// size of rbuild's terminal (24x80 when its stdin is not one).
    pub(crate) fn open(input: bool) -> Result<Pty, SandboxError> {
        let flags = SockFlag::SOCK_CLOEXEC;
        let (ours, theirs) = socket::socketpair(AddressFamily::Unix, SockType::Stream, None, flags)
            .map_err(|e| SandboxError::Pipe(e.into()))?;
        let size = window_size(io::stdin().as_raw_fd()).unwrap_or(DEFAULT_SIZE);
        Ok(Pty { ours, theirs: Some(theirs), size, input, raw: None, output: None, winch: None })
    }

    /// The request for the sandbox (`console`: bind the slave at `/dev/console` too); its socket must be
    /// passed through the init's exec.
    pub(crate) fn request(&self, console: bool) -> Option<TerminalRequest> {
        let socket = self.theirs.as_ref()?.as_raw_fd();
        Some(TerminalRequest { socket, rows: self.size.ws_row, cols: self.size.ws_col, console })
    }

    /// Once the init holds its end: drop ours of it.
    pub(crate) fn sent(&mut self) {
        self.theirs = None;
    }

    /// Once the status pipe has ended (the sandbox sends the master before executing the command, so it
    /// is there now or never comes): hand the master to `take`, or relay it ([`Pty::relay`]). Nothing
    /// to do when the sandbox gave up before making it (the status pipe says why).
    pub(crate) fn deliver(&mut self, take: Option<&mut dyn FnMut(File)>) -> Result<(), SandboxError> {
        match (self.receive()?, take) {
            (Some(master), Some(take)) => {
                take(master);
                Ok(())
            }
            (Some(master), None) => self.relay(master),
            (None, _) => Ok(()),
        }
    }

    /// The master, if the sandbox sent it. Never blocks.
    fn receive(&self) -> Result<Option<File>, SandboxError> {
        let mut byte = [0u8; 1];
        let mut iov = [IoSliceMut::new(&mut byte)];
        let mut space = nix::cmsg_space!([RawFd; 1]);
        let msg = match socket::recvmsg::<()>(self.ours.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::MSG_DONTWAIT)
        {
            Ok(m) => m,
            Err(Errno::EAGAIN) => return Ok(None),
            Err(e) => return Err(SandboxError::Pipe(e.into())),
        };
        for cmsg in msg.cmsgs().map_err(|e| SandboxError::Pipe(e.into()))? {
            if let ControlMessageOwned::ScmRights(fds) = cmsg {
                // SAFETY: SCM_RIGHTS installed these descriptors in this process for us alone; each is
                // owned once (the first is the master, any other is closed at once).
                let mut owned = fds.into_iter().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) });
                if let Some(master) = owned.next() {
                    // recvmsg without MSG_CMSG_CLOEXEC: no later child may inherit it.
                    let _ = nix::fcntl::fcntl(&master, nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC));
                    return Ok(Some(File::from(master)));
                }
            }
        }
        Ok(None)
    }

    /// Relay `master` to rbuild's stdout and (with `-i`) rbuild's stdin to it, in raw mode, and follow
    /// rbuild's window size.
    fn relay(&mut self, master: File) -> Result<(), SandboxError> {
        let pipe_err = SandboxError::Pipe;
        let mut from = master.try_clone().map_err(pipe_err)?;
        self.output = Some(std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            // EIO once every slave descriptor is closed: the command's side is gone.
            while let Ok(n @ 1..) = from.read(&mut buf) {
                let mut out = io::stdout().lock();
                if out.write_all(&buf[..n]).and_then(|()| out.flush()).is_err() {
                    // A closed stdout must not stop the command: keep draining.
                    continue;
                }
            }
        }));
        let stdin = io::stdin();
        if self.input {
            self.raw = RawMode::enter();
            // Left running when the command ends (it blocks in read); its own master clone keeps the
            // descriptor it writes to valid until the process exits.
            let mut to = master.try_clone().map_err(pipe_err)?;
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = io::stdin().lock().read(&mut buf) {
                    if to.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
        }
        if isatty(&stdin).unwrap_or(false) {
            let winch = Winch::install()?;
            let mut signals = winch.read.try_clone().map_err(pipe_err)?;
            let thread = std::thread::spawn(move || {
                let mut byte = [0u8; 1];
                // 'w' is a resize, 'q' (from the drop) or the end of the pipe stops the watch.
                while let Ok(1) = signals.read(&mut byte) {
                    if byte[0] != b'w' {
                        return;
                    }
                    if let Some(size) = window_size(io::stdin().as_raw_fd()) {
                        set_window_size(master.as_fd(), &size);
                    }
                }
            });
            self.winch = Some((thread, winch));
        }
        Ok(())
    }

    /// After the sandbox is gone: wait for the last output, then restore (as dropping does).
    pub(crate) fn finish(mut self) {
        if let Some(out) = self.output.take() {
            let _ = out.join();
        }
    }
}

impl Drop for Pty {
    /// Restore rbuild's terminal and SIGWINCH, also when the run failed half-way.
    fn drop(&mut self) {
        self.raw = None;
        if let Some((thread, mut winch)) = self.winch.take() {
            let _ = winch.write.write_all(b"q");
            let _ = thread.join();
        }
    }
}

/// rbuild's terminal (its stdin) in raw mode, as long as this lives: keys such as Ctrl-C and Ctrl-P are
/// bytes for the container, not signals or line editing for rbuild.
pub struct RawMode {
    saved: Termios,
}

impl RawMode {
    /// `None` when stdin is not a terminal (nothing to change).
    pub fn enter() -> Option<RawMode> {
        let stdin = io::stdin();
        if !isatty(&stdin).unwrap_or(false) {
            return None;
        }
        let saved = termios::tcgetattr(&stdin).ok()?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(&stdin, SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(io::stdin().as_fd(), SetArg::TCSANOW, &self.saved);
    }
}

/// SIGWINCH as a descriptor: each signal writes `w` to a self-pipe whose read end is [`Winch::fd`],
/// until this is dropped (the previous action comes back). One at a time per process.
pub struct Winch {
    read: File,
    write: File,
    old: SigAction,
}

impl Winch {
    pub fn install() -> Result<Winch, SandboxError> {
        let pipe_err = |e: Errno| SandboxError::Pipe(e.into());
        let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK).map_err(pipe_err)?;
        // The reader blocks (or polls); only the handler's end is non-blocking.
        let read = File::from(r);
        nix::fcntl::fcntl(&read, nix::fcntl::FcntlArg::F_SETFL(OFlag::empty())).map_err(pipe_err)?;
        let write = File::from(w);
        WINCH_WRITE.store(write.as_raw_fd(), Ordering::SeqCst);
        let action = SigAction::new(SigHandler::Handler(on_winch), SaFlags::SA_RESTART, SigSet::empty());
        // SAFETY: the handler only loads an atomic and calls write(2), both async-signal-safe.
        let old = unsafe { signal::sigaction(Signal::SIGWINCH, &action) }
            .map_err(|errno| SandboxError::Setup { step: "catching SIGWINCH".into(), errno })?;
        Ok(Winch { read, write, old })
    }

    /// Readable once a SIGWINCH came; read a byte per signal.
    pub fn fd(&self) -> &File {
        &self.read
    }
}

impl Drop for Winch {
    fn drop(&mut self) {
        // SAFETY: puts back the action that was installed before this one.
        let _ = unsafe { signal::sigaction(Signal::SIGWINCH, &self.old) };
        WINCH_WRITE.store(-1, Ordering::SeqCst);
    }
}

/// The window size of the terminal on `fd`, if it is one.
pub fn window_size(fd: i32) -> Option<Winsize> {
    let mut size = DEFAULT_SIZE;
    // SAFETY: TIOCGWINSZ writes one `winsize` into the struct we own; a bad fd is just an error.
    let rc = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut size as *mut Winsize) };
    (rc == 0 && size.ws_row > 0).then_some(size)
}

/// Set the window size of the pty whose master (or slave) is `fd`; the kernel sends the command's
/// foreground group SIGWINCH.
pub fn set_window_size(fd: std::os::fd::BorrowedFd, size: &Winsize) {
    // SAFETY: TIOCSWINSZ reads one `winsize` from the struct we pass.
    unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, size as *const Winsize) };
}
