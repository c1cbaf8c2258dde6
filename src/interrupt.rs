//! SIGINT and SIGTERM for the whole command: a process-wide flag that the long loops check.
//!
//! [`install`] (called once by `cli::main`) catches both signals with a handler that only records which
//! one came. Work that runs long — writing a blob (layer write, import, every ingest), unpacking a
//! layer, copying files for COPY — calls [`check`] as it goes and returns [`Interrupted`] once a signal
//! came; the error unwinds through the callers, whose `Drop` guards (temp files, temp dirs, leases,
//! overlay mounts) remove what the command had started, and `cli::main` exits 128+signal with one line.
//! A second signal means "stop now": the handler exits at once, and the next command's debris sweep
//! (`store::debris`) removes what is left. The handler is installed without SA_RESTART so a command
//! blocked on the store lock wakes up (EINTR) and can see the flag.
//!
//! While a RUN step runs, the sandbox installs its own handler (`sandbox::interrupt`) and restores this
//! one after. What this module must never do: anything in the handler beyond atomics and `_exit`.

use nix::sys::signal::{self, SaFlags, SigAction, SigHandler, SigSet, Signal};
use std::sync::atomic::{AtomicI32, Ordering};

/// The signal received, 0 if none.
static RECEIVED: AtomicI32 = AtomicI32::new(0);

/// The command was asked to stop by a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("interrupted by {}", signal_name(*.signal))]
pub struct Interrupted {
    pub signal: i32,
}

impl Interrupted {
    /// The shell's convention: 128 + the signal number (130 for SIGINT, 143 for SIGTERM).
    pub fn exit_code(&self) -> u8 {
        u8::try_from(128 + self.signal).unwrap_or(u8::MAX)
    }
}

impl From<Interrupted> for std::io::Error {
    /// As an I/O error for loops that speak `io::Result`. Not `ErrorKind::Interrupted`: std's loops
    /// retry on that kind, and this must stop them.
    fn from(e: Interrupted) -> std::io::Error {
        std::io::Error::other(e)
    }
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}

extern "C" fn on_signal(sig: libc::c_int) {
    if RECEIVED.swap(sig, Ordering::SeqCst) != 0 {
        // SAFETY: _exit(2) is async-signal-safe; a second signal asks for no more clean-up.
        unsafe { libc::_exit(128 + sig) };
    }
}

/// Catch SIGINT and SIGTERM for the rest of the process. Failing to install is not fatal (the command
/// then dies on a signal as before, and the next command sweeps its debris), so the error is returned for
/// the caller to report in debug output.
pub fn install() -> Result<(), nix::Error> {
    let action = SigAction::new(SigHandler::Handler(on_signal), SaFlags::empty(), SigSet::empty());
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only touches an atomic and calls _exit(2), both async-signal-safe.
        unsafe {
            signal::sigaction(sig, &action)?;
        }
    }
    Ok(())
}

/// Record a signal caught elsewhere (e.g. by the sandbox's handler during RUN) as if it came here.
pub fn note(signal: i32) {
    let _ = RECEIVED.compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst);
}

/// Take the signal received, if any, as handled: the next one counts as a first one again (what a
/// command that forwards each signal to a container needs, see `cli::attach`).
pub fn take() -> Option<i32> {
    Some(RECEIVED.swap(0, Ordering::SeqCst)).filter(|s| *s != 0)
}

/// The signal that asked the command to stop, if any.
pub fn received() -> Option<Interrupted> {
    Some(RECEIVED.load(Ordering::SeqCst)).filter(|s| *s != 0).map(|signal| Interrupted { signal })
}

/// `Err(Interrupted)` once SIGINT or SIGTERM came: the call long loops make between units of work.
pub fn check() -> Result<(), Interrupted> {
    received().map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_shell_convention() {
        assert_eq!(Interrupted { signal: libc::SIGINT }.exit_code(), 130);
        assert_eq!(Interrupted { signal: libc::SIGTERM }.exit_code(), 143);
        assert_eq!(Interrupted { signal: libc::SIGTERM }.to_string(), "interrupted by SIGTERM");
        let io: std::io::Error = Interrupted { signal: libc::SIGINT }.into();
        assert_ne!(io.kind(), std::io::ErrorKind::Interrupted, "std's loops must not retry it");
    }
}
