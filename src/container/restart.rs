//! Restart policies (`run`/`create --restart no|on-failure[:N]|always|unless-stopped`), applied by
//! whoever runs the container (its monitor, or the foreground `rbuild run`) in [`super::rootfs::run`]:
//! when the command ends and the policy says so, the state becomes `restarting` (exit code kept,
//! `RestartCount` + 1), the runner waits ([`Backoff`]) and runs the command again, still holding the
//! container's lock, so `start` is refused and `ps` shows `Restarting (1) …` meanwhile.
//!
//! `stop`, `kill` and `rm -f` end the loop: before signalling they leave a [`STOP_REQUEST`] file in the
//! container's directory, which the runner checks after each end and while it waits (docker's
//! "manually stopped"). A new start removes it. Without a daemon there is no daemon restart, so
//! `unless-stopped` behaves as `always`.

use super::ContainerError;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::{Duration, Instant};

/// The file `stop`/`kill`/`rm -f` leave for the runner: do not restart.
pub const STOP_REQUEST: &str = "stop-requested";

/// Docker's backoff, simplified: the first restart waits 100 ms, each further one twice as long up
/// to a minute; a run that lasted 10 s or more starts the series again.
const FIRST_DELAY: Duration = Duration::from_millis(100);
const MAX_DELAY: Duration = Duration::from_secs(60);
const RESET_AFTER: Duration = Duration::from_secs(10);
/// How often a waiting runner looks for a stop request.
const POLL: Duration = Duration::from_millis(20);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    #[default]
    No,
    /// Restart after a non-zero exit, at most `max_retries` times (0: without limit).
    OnFailure {
        max_retries: u32,
    },
    Always,
    UnlessStopped,
}

impl RestartPolicy {
    /// Docker's syntax: `no`, `always`, `unless-stopped`, `on-failure`, `on-failure:N`.
    pub fn parse(s: &str) -> Result<RestartPolicy, ContainerError> {
        let bad = |why: &str| ContainerError::BadRestartPolicy { policy: s.to_string(), why: why.to_string() };
        let (name, count) = match s.split_once(':') {
            Some((name, count)) => (name, Some(count)),
            None => (s, None),
        };
        let policy = match name {
            "no" | "" => RestartPolicy::No,
            "always" => RestartPolicy::Always,
            "unless-stopped" => RestartPolicy::UnlessStopped,
            "on-failure" => {
                let max_retries = match count {
                    None => 0,
                    Some(n) => n.parse().map_err(|_| bad("the maximum retry count is a number, e.g. on-failure:3"))?,
                };
                return Ok(RestartPolicy::OnFailure { max_retries });
            }
            _ => return Err(bad("use no, always, unless-stopped, on-failure or on-failure:N")),
        };
        match count {
            Some(_) => Err(bad("a maximum retry count only goes with on-failure")),
            None => Ok(policy),
        }
    }

    /// The name `inspect` shows (`HostConfig.RestartPolicy.Name`).
    pub fn name(self) -> &'static str {
        match self {
            RestartPolicy::No => "no",
            RestartPolicy::OnFailure { .. } => "on-failure",
            RestartPolicy::Always => "always",
            RestartPolicy::UnlessStopped => "unless-stopped",
        }
    }

    pub fn max_retries(self) -> u32 {
        match self {
            RestartPolicy::OnFailure { max_retries } => max_retries,
            _ => 0,
        }
    }

    /// Whether a command that ended with `exit_code`, after `restarts` restarts, runs again.
    pub fn restarts(self, exit_code: i32, restarts: u32) -> bool {
        match self {
            RestartPolicy::No => false,
            RestartPolicy::Always | RestartPolicy::UnlessStopped => true,
            RestartPolicy::OnFailure { max_retries } => exit_code != 0 && (max_retries == 0 || restarts < max_retries),
        }
    }
}

/// The wait before each restart.
#[derive(Debug)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff { next: FIRST_DELAY }
    }
}

impl Backoff {
    /// The wait before the next start, after a run that lasted `ran`.
    pub fn next(&mut self, ran: Duration) -> Duration {
        if ran >= RESET_AFTER {
            self.next = FIRST_DELAY;
        }
        let delay = self.next;
        self.next = (self.next * 2).min(MAX_DELAY);
        delay
    }
}

/// Ask the runner of the container in `dir` not to restart it.
pub fn request_stop(dir: &Path) -> Result<(), ContainerError> {
    let path = dir.join(STOP_REQUEST);
    std::fs::write(&path, b"").map_err(ContainerError::io("writing", &path))
}

pub fn stop_requested(dir: &Path) -> bool {
    dir.join(STOP_REQUEST).exists()
}

/// A new start: earlier stop requests are done with.
pub fn clear_stop_request(dir: &Path) {
    let _ = std::fs::remove_file(dir.join(STOP_REQUEST));
}

/// Wait `delay` before a restart; `false` when a stop was requested meanwhile.
pub fn wait(dir: &Path, delay: Duration) -> bool {
    let until = Instant::now() + delay;
    loop {
        if stop_requested(dir) {
            return false;
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(POLL));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse_like_dockers_and_decide_restarts() {
        assert_eq!(RestartPolicy::parse("no").unwrap(), RestartPolicy::No);
        assert_eq!(RestartPolicy::parse("on-failure:2").unwrap(), RestartPolicy::OnFailure { max_retries: 2 });
        assert_eq!(RestartPolicy::parse("on-failure").unwrap(), RestartPolicy::OnFailure { max_retries: 0 });
        assert_eq!(RestartPolicy::parse("unless-stopped").unwrap().name(), "unless-stopped");
        for bad in ["sometimes", "always:3", "on-failure:x", "on-failure:-1"] {
            assert!(RestartPolicy::parse(bad).is_err(), "{bad}");
        }
        let twice = RestartPolicy::OnFailure { max_retries: 2 };
        assert!(twice.restarts(1, 0) && twice.restarts(1, 1) && !twice.restarts(1, 2) && !twice.restarts(0, 0));
        assert!(RestartPolicy::Always.restarts(0, 100) && !RestartPolicy::No.restarts(1, 0));
    }

    #[test]
    fn backoff_doubles_up_to_a_minute_and_resets_after_a_long_run() {
        let mut b = Backoff::default();
        let quick = Duration::from_millis(5);
        assert_eq!([b.next(quick), b.next(quick), b.next(quick)].map(|d| d.as_millis()), [100, 200, 400]);
        for _ in 0..20 {
            b.next(quick);
        }
        assert_eq!(b.next(quick), MAX_DELAY);
        assert_eq!(b.next(RESET_AFTER), FIRST_DELAY);
    }

    #[test]
    fn a_stop_request_ends_the_wait() {
        let t = tempfile::tempdir().unwrap();
        assert!(wait(t.path(), Duration::from_millis(1)));
        request_stop(t.path()).unwrap();
        assert!(!wait(t.path(), Duration::from_secs(60)));
        clear_stop_request(t.path());
        assert!(!stop_requested(t.path()));
    }
}
