//! `state.json`: where a container is in its life, and the transitions between states.
//!
//! ```text
//!   create ──▶ created ──start──▶ running ──command ends / stop / kill──▶ exited ──start──▶ running …
//!                 │                  │  ▲                                   ▲
//!                 │                  ▼  │ (pause/unpause: not yet)           │
//!                 │                paused                                    │
//!                 └──the command cannot be executed (error kept)──▶ created  │
//!                    monitor killed: the next reader turns running into ─────┘ exited (255)
//! ```
//! A restart policy (see `restart.rs`) adds one more edge, owned by the runner that holds the lock:
//! the command ends ──▶ restarting (exit code kept, restart_count + 1) ──after a backoff──▶ running.

use serde::{Deserialize, Serialize};

/// The exit code recorded when the monitor died and took the command with it, so the real code is
/// unknown. Docker reports 255 when it cannot tell how a container ended.
pub const UNKNOWN_EXIT_CODE: i32 = 255;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Created,
    Running,
    Paused,
    Restarting,
    Exited,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Exited => "exited",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct State {
    pub status: Status,
    /// The process that runs the sandbox (a detached monitor, or a foreground `rbuild run`).
    pub monitor_pid: Option<i32>,
    /// The host pid of the container's pid 1 while it runs.
    pub pid: Option<i32>,
    pub exit_code: Option<i32>,
    /// RFC 3339 with nanoseconds, UTC.
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// Why the last start failed, or how the monitor was lost.
    pub error: Option<String>,
    pub oom_killed: bool,
    /// Restarts by the restart policy since the last start (`RestartCount`).
    #[serde(default)]
    pub restart_count: u32,
}

impl State {
    /// The command was executed.
    pub fn started(&mut self, monitor_pid: i32, pid: i32) {
        *self = State {
            status: Status::Running,
            monitor_pid: Some(monitor_pid),
            pid: Some(pid),
            started_at: Some(super::now()),
            restart_count: self.restart_count,
            ..State::default()
        };
    }

    /// The command ended with `exit_code`.
    pub fn exited(&mut self, exit_code: i32, oom_killed: bool, error: Option<String>) {
        self.status = Status::Exited;
        self.pid = None;
        self.monitor_pid = None;
        self.exit_code = Some(exit_code);
        self.finished_at = Some(super::now());
        self.oom_killed = oom_killed;
        self.error = error;
    }

    /// The command could not be started: the container stays as it was (created, or exited from an
    /// earlier run), with the error and docker's exit code for it.
    pub fn start_failed(&mut self, exit_code: i32, error: String) {
        self.pid = None;
        self.monitor_pid = None;
        self.exit_code = Some(exit_code);
        self.error = Some(error);
    }

    /// The monitor died without recording the end (see [`UNKNOWN_EXIT_CODE`]).
    pub fn lost_monitor(&mut self) {
        self.exited(
            UNKNOWN_EXIT_CODE,
            false,
            Some("the container's monitor was killed; the command died with it and its exit code is unknown".into()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions_record_what_docker_shows() {
        let mut s = State::default();
        assert_eq!(s.status, Status::Created);
        s.started(10, 11);
        assert_eq!((s.status, s.pid, s.exit_code), (Status::Running, Some(11), None));
        assert!(s.started_at.is_some() && s.finished_at.is_none());
        s.exited(137, false, None);
        assert_eq!((s.status, s.pid, s.exit_code), (Status::Exited, None, Some(137)));
        s.lost_monitor();
        assert_eq!(s.exit_code, Some(UNKNOWN_EXIT_CODE));
        let json = serde_json::to_string(&s).unwrap();
        assert!(json.contains(r#""status":"exited""#), "{json}");
    }
}
