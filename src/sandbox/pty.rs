//! `rbuild run -t`: the pseudo-terminal the command runs on. rbuild opens a pty pair; the slave becomes
//! the command's stdin, stdout and stderr and its controlling terminal (the init calls `setsid` and
//! `TIOCSCTTY`), and is bind-mounted at `/dev/console` so `tty` can name it; rbuild copies the master to
//! its own stdout and, with `-i`, its own stdin to the master, with its terminal in raw mode for the run
//! (restored afterwards), so keys such as Ctrl-C reach the command's line discipline, not rbuild. The
//! window size of rbuild's terminal is copied to the master at the start and on every SIGWINCH.

use super::SandboxError;
use nix::errno::Errno;
use nix::pty::{openpty, Winsize};
use nix::sys::signal::{self, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::sys::termios::{self, SetArg, Termios};
use nix::unistd::isatty;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicI32, Ordering};
use std::thread::JoinHandle;

/// The write end of the SIGWINCH self-pipe, -1 while no terminal relay runs.
static WINCH_WRITE: AtomicI32 = AtomicI32::new(-1);

/// The size a pty gets when rbuild's stdin is not a terminal (a terminal's classic default).
const DEFAULT_SIZE: Winsize = Winsize { ws_row: 24, ws_col: 80, ws_xpixel: 0, ws_ypixel: 0 };

extern "C" fn on_winch(_: libc::c_int) {
    let fd = WINCH_WRITE.load(Ordering::SeqCst);
    if fd >= 0 {
        // SAFETY: write(2) is async-signal-safe; the byte is a local. A full pipe just drops the wakeup
        // (one pending wakeup is enough: the thread reads the current size).
        unsafe { libc::write(fd, b"w".as_ptr().cast(), 1) };
    }
}

/// One command's pseudo-terminal, from [`Pty::open`] until [`Pty::finish`].
pub(crate) struct Pty {
    master: File,
    slave: Option<OwnedFd>,
    /// The slave's host path (`/dev/pts/N`), bound at the container's `/dev/console`.
    pub(crate) slave_path: PathBuf,
    input: bool,
    saved: Option<Termios>,
    output: Option<JoinHandle<()>>,
    winch: Option<(JoinHandle<()>, File, SigAction)>,
}

impl Pty {
    /// Open a pty pair sized like rbuild's terminal; `input` relays rbuild's stdin (`-i`).
    pub(crate) fn open(input: bool) -> Result<Pty, SandboxError> {
        let setup = |step: &str, errno: Errno| SandboxError::Setup { step: step.to_string(), errno };
        let size = window_size(io::stdin().as_raw_fd()).unwrap_or(DEFAULT_SIZE);
        let pair = openpty(Some(&size), None).map_err(|e| setup("opening a pseudo-terminal", e))?;
        for fd in [&pair.master, &pair.slave] {
            // Neither end may leak into the init beyond the slave it gets as stdio.
            nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC))
                .map_err(|e| setup("opening a pseudo-terminal", e))?;
        }
        let slave_path = std::fs::read_link(format!("/proc/self/fd/{}", pair.slave.as_raw_fd()))
            .map_err(|e| setup("naming the pseudo-terminal", Errno::from_raw(e.raw_os_error().unwrap_or(0))))?;
        Ok(Pty {
            master: File::from(pair.master),
            slave: Some(pair.slave),
            slave_path,
            input,
            saved: None,
            output: None,
            winch: None,
        })
    }

    /// The slave, for the init's stdin, stdout and stderr.
    pub(crate) fn slave(&self) -> Option<&OwnedFd> {
        self.slave.as_ref()
    }

    /// Once the init holds the slave: drop ours (so the master reads end when the command's side is
    /// closed), enter raw mode, start the relays and the SIGWINCH watch.
    pub(crate) fn start(&mut self) -> Result<(), SandboxError> {
        self.slave = None;
        let pipe_err = SandboxError::Pipe;
        let mut from = self.master.try_clone().map_err(pipe_err)?;
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
            if isatty(&stdin).unwrap_or(false) {
                if let Ok(old) = termios::tcgetattr(&stdin) {
                    let mut raw = old.clone();
                    termios::cfmakeraw(&mut raw);
                    let _ = termios::tcsetattr(&stdin, SetArg::TCSANOW, &raw);
                    self.saved = Some(old);
                }
            }
            // Left running when the command ends (it blocks in read); its own master clone keeps the
            // descriptor it writes to valid until the process exits.
            let mut to = self.master.try_clone().map_err(pipe_err)?;
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
            self.winch = Some(self.watch_winch()?);
        }
        Ok(())
    }

    fn watch_winch(&self) -> Result<(JoinHandle<()>, File, SigAction), SandboxError> {
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK)
            .map_err(|e| SandboxError::Pipe(e.into()))?;
        // The reader blocks; only the handler's end is non-blocking.
        let r = File::from(r);
        nix::fcntl::fcntl(&r, nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::empty()))
            .map_err(|e| SandboxError::Pipe(e.into()))?;
        let w = File::from(w);
        WINCH_WRITE.store(w.as_raw_fd(), Ordering::SeqCst);
        let action = SigAction::new(SigHandler::Handler(on_winch), SaFlags::SA_RESTART, SigSet::empty());
        // SAFETY: the handler only loads an atomic and calls write(2), both async-signal-safe.
        let old = unsafe { signal::sigaction(Signal::SIGWINCH, &action) }
            .map_err(|errno| SandboxError::Setup { step: "catching SIGWINCH".into(), errno })?;
        let master = self.master.try_clone().map_err(SandboxError::Pipe)?;
        let thread = std::thread::spawn(move || {
            let mut r = r;
            let mut byte = [0u8; 1];
            // 'w' is a resize, 'q' (from finish) or the end of the pipe stops the watch.
            while let Ok(1) = r.read(&mut byte) {
                if byte[0] != b'w' {
                    return;
                }
                if let Some(size) = window_size(io::stdin().as_raw_fd()) {
                    set_window_size(&master, &size);
                }
            }
        });
        Ok((thread, w, old))
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
        if let Some(old) = self.saved.take() {
            let _ = termios::tcsetattr(io::stdin().as_fd(), SetArg::TCSANOW, &old);
        }
        if let Some((thread, mut w, old)) = self.winch.take() {
            // SAFETY: puts back the action that was installed before this relay.
            let _ = unsafe { signal::sigaction(Signal::SIGWINCH, &old) };
            WINCH_WRITE.store(-1, Ordering::SeqCst);
            let _ = w.write_all(b"q");
            let _ = thread.join();
        }
    }
}

/// The window size of the terminal on `fd`, if it is one.
fn window_size(fd: i32) -> Option<Winsize> {
    let mut size = DEFAULT_SIZE;
    // SAFETY: TIOCGWINSZ writes one `winsize` into the struct we own; a bad fd is just an error.
    let rc = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut size as *mut Winsize) };
    (rc == 0 && size.ws_row > 0).then_some(size)
}

fn set_window_size(master: &File, size: &Winsize) {
    // SAFETY: TIOCSWINSZ reads one `winsize` from the struct we pass; the kernel sends the command's
    // foreground group SIGWINCH.
    unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, size as *const Winsize) };
}
