//! Walking the stage graph: every stage the target needs is built once, each as soon as the stages it
//! needs are done, up to `--jobs` at a time (std::thread::scope: the workers borrow the executor and
//! end before `build` returns). Stages the target does not need are never started.
//!
//! The plan knows every edge written in the Dockerfile. The one dependency it cannot see is an ONBUILD
//! trigger of an *image* naming a stage (`COPY --from=stage`): that stage is then built on the spot by
//! the thread that needs it, or waited for if another thread is building it. The first failure is the
//! build's: no stage starts after it, running commands are killed, and running stages stop before their
//! next step.

use super::stage::{fail, lock, Executor, StageState};
use super::StepFailure;
use crate::dockerfile::Location;
use crate::plan::Plan;
use std::sync::{Condvar, Mutex};
use std::thread::ThreadId;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    /// Not needed by the target (unless an image's ONBUILD trigger asks for it).
    Skipped,
    Waiting,
    Building(ThreadId),
    Done,
    Failed,
}

struct State {
    status: Vec<Status>,
    /// The first failure; once set, no stage starts.
    failure: Option<StepFailure>,
}

/// Which stages are waiting, building or done, shared by the workers.
pub(crate) struct Board {
    state: Mutex<State>,
    changed: Condvar,
}

impl Board {
    pub fn new(plan: &Plan) -> Board {
        let mut status = vec![Status::Skipped; plan.stages.len()];
        for i in plan.needed() {
            status[i] = Status::Waiting;
        }
        Board { state: Mutex::new(State { status, failure: None }), changed: Condvar::new() }
    }

    fn settle(&self, idx: usize, result: Result<(), StepFailure>) {
        let mut state = lock(&self.state);
        match result {
            Ok(()) => state.status[idx] = Status::Done,
            Err(e) => {
                state.status[idx] = Status::Failed;
                if state.failure.is_none() {
                    state.failure = Some(e);
                    // The build has failed: stop the commands other stages are running (BuildKit does the
                    // same) instead of waiting for them; their own errors are not the build's.
                    crate::sandbox::cancel_all();
                }
            }
        }
        self.changed.notify_all();
    }

    /// True once a stage has failed: running stages stop before their next step.
    pub fn failed(&self) -> bool {
        lock(&self.state).failure.is_some()
    }
}

impl Executor<'_> {
    /// Build every stage the target needs, `jobs` at a time.
    pub(super) fn build_all(&self, jobs: usize) -> Result<(), StepFailure> {
        let workers = jobs.max(1).min(self.plan.needed().len());
        std::thread::scope(|scope| {
            for _ in 1..workers {
                scope.spawn(|| self.work_loop());
            }
            self.work_loop();
        });
        match lock(&self.schedule.state).failure.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Take the next stage whose dependencies are done, build it, repeat; return when nothing is left.
    fn work_loop(&self) {
        let board = &self.schedule;
        loop {
            let mut state = lock(&board.state);
            let idx = loop {
                if state.failure.is_some() {
                    return;
                }
                let ready = (0..state.status.len()).find(|&i| {
                    state.status[i] == Status::Waiting
                        && self.plan.stages[i].deps.iter().all(|d| state.status[d.stage] == Status::Done)
                });
                if let Some(i) = ready {
                    break i;
                }
                if !state.status.iter().any(|s| matches!(s, Status::Waiting | Status::Building(_))) {
                    return;
                }
                state = board.changed.wait(state).unwrap_or_else(|p| p.into_inner());
            };
            state.status[idx] = Status::Building(std::thread::current().id());
            drop(state);
            let result = self.build_stage(idx);
            board.settle(idx, result);
        }
    }

    /// The finished state of stage `idx`, which the plan made a dependency of the running stage; a stage
    /// only an image's ONBUILD trigger names is built (or waited for) here.
    pub(super) fn finished(&self, idx: usize, loc: Location) -> Result<&StageState, StepFailure> {
        if let Some(st) = self.stages[idx].get() {
            return Ok(st);
        }
        let board = &self.schedule;
        let name = self.plan.stages[idx].display_name();
        let mut state = lock(&board.state);
        loop {
            match state.status[idx] {
                Status::Done => break,
                Status::Failed => return Err(fail(loc, format!("stage {name:?} failed"))),
                Status::Building(t) if t == std::thread::current().id() => {
                    return Err(fail(loc, format!("circular dependency on stage {name:?}")));
                }
                Status::Building(_) => state = board.changed.wait(state).unwrap_or_else(|p| p.into_inner()),
                Status::Waiting | Status::Skipped => {
                    state.status[idx] = Status::Building(std::thread::current().id());
                    drop(state);
                    let result = self.build_stage(idx);
                    let failed = result.is_err();
                    board.settle(idx, result);
                    if failed {
                        return Err(fail(loc, format!("stage {name:?} failed")));
                    }
                    break;
                }
            }
        }
        self.stages[idx].get().ok_or_else(|| fail(loc, format!("stage {name:?} did not finish")))
    }
}
