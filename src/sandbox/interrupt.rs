//! Ctrl-C while sandboxes run. While at least one [`Watch`] is alive, SIGINT and SIGTERM are caught by a
//! handler that only does async-signal-safe work: it records the signal and SIGKILLs every pid
//! registered here (each sandbox's init until its pid 1 is known, then that pid 1 alone), which takes
//! each pid namespace down with all its processes and mounts; the init, left alive, sees pid 1 end only
//! once the namespace is empty. The waiting threads then see their sandbox end, read the recorded signal and
//! return [`SandboxError::Interrupted`]. The previous handlers come back when the last watch ends.

use super::SandboxError;
use nix::sys::signal::{self, SaFlags, SigAction, SigHandler, SigSet, Signal};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Mutex;

const WATCHED: [Signal; 2] = [Signal::SIGINT, Signal::SIGTERM];

/// Pids to SIGKILL on a signal; 0 is a free slot. Two per sandbox, so 128 sandboxes at once.
static VICTIMS: [AtomicI32; 256] = [const { AtomicI32::new(0) }; 256];
/// The signal received while watching, 0 if none.
static RECEIVED: AtomicI32 = AtomicI32::new(0);

struct Installed {
    watches: usize,
    previous: Vec<(Signal, SigAction)>,
}

static STATE: Mutex<Installed> = Mutex::new(Installed { watches: 0, previous: Vec::new() });

extern "C" fn on_signal(sig: libc::c_int) {
    RECEIVED.store(sig, Ordering::SeqCst);
    // The whole command is interrupted, not only this sandbox (an atomic compare-exchange: signal-safe).
    crate::interrupt::note(sig);
    for slot in &VICTIMS {
        let pid = slot.load(Ordering::SeqCst);
        if pid > 0 {
            // SAFETY: kill(2) is async-signal-safe and takes plain integers.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// End every sandbox this process runs (SIGKILL to each registered pid, as on Ctrl-C but without
/// marking the process interrupted): how a build stops its other stages once one has failed. Those
/// runs end as killed (exit 137); sandboxes started afterwards are not affected.
pub fn cancel_all() {
    for slot in &VICTIMS {
        let pid = slot.load(Ordering::SeqCst);
        if pid > 0 {
            let _ = signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

/// One sandbox's registration; dropping it unregisters its pids.
pub(crate) struct Watch {
    slots: Vec<usize>,
}

impl Watch {
    /// Start watching (installing the handlers if this is the first watch).
    pub(crate) fn start() -> Result<Watch, SandboxError> {
        let mut state = STATE.lock().unwrap_or_else(|p| p.into_inner());
        if state.watches == 0 {
            let action = SigAction::new(SigHandler::Handler(on_signal), SaFlags::SA_RESTART, SigSet::empty());
            for sig in WATCHED {
                // SAFETY: the handler only touches atomics and calls kill(2), both async-signal-safe.
                match unsafe { signal::sigaction(sig, &action) } {
                    Ok(old) => state.previous.push((sig, old)),
                    Err(errno) => {
                        restore(&mut state.previous);
                        return Err(SandboxError::Setup { step: format!("catching {sig}"), errno });
                    }
                }
            }
        }
        state.watches += 1;
        Ok(Watch { slots: Vec::new() })
    }

    /// SIGKILL `pid` on a signal, and right now if one already came.
    pub(crate) fn add(&mut self, pid: i32) {
        if let Some(i) =
            VICTIMS.iter().position(|s| s.compare_exchange(0, pid, Ordering::SeqCst, Ordering::SeqCst).is_ok())
        {
            self.slots.push(i);
        }
        if RECEIVED.load(Ordering::SeqCst) != 0 {
            let _ = signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
        }
    }

    /// Watch `pid` instead of the first pid added (the init, once its child, pid 1, is known).
    pub(crate) fn replace_first(&mut self, pid: i32) {
        match self.slots.first() {
            Some(&i) => VICTIMS[i].store(pid, Ordering::SeqCst),
            None => return self.add(pid),
        }
        if RECEIVED.load(Ordering::SeqCst) != 0 {
            let _ = signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
        }
    }

    /// The signal that interrupted the run, if any.
    pub(crate) fn interrupted(&self) -> Option<i32> {
        Some(RECEIVED.load(Ordering::SeqCst)).filter(|s| *s != 0)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        for i in self.slots.drain(..) {
            VICTIMS[i].store(0, Ordering::SeqCst);
        }
        let mut state = STATE.lock().unwrap_or_else(|p| p.into_inner());
        state.watches -= 1;
        if state.watches == 0 {
            restore(&mut state.previous);
            RECEIVED.store(0, Ordering::SeqCst);
        }
    }
}

fn restore(previous: &mut Vec<(Signal, SigAction)>) {
    for (sig, old) in previous.drain(..) {
        // SAFETY: reinstalls the disposition that was in place before `start`.
        let _ = unsafe { signal::sigaction(sig, &old) };
    }
}
