//! Build output on stderr, in one of three modes (`--progress`):
//!
//! - **plain** (BuildKit's plain style): a line when a step starts, one when it ends with its time or
//!   `CACHED`; RUN output streams in between. The default when stderr is not a terminal or `CI` is set.
//! - **tty**: a live spinner with the running step and its elapsed time (indicatif), replaced by the
//!   step's result line when it ends. A RUN's own output cannot share the line with a spinner, so while a
//!   command runs the spinner steps aside and the output streams as in plain mode; the spinner comes back
//!   for the layer commit.
//! - **json**: one JSON object per line (`step`, `done`, `cached`, `phase`, `warning`, `image`), for tools.
//!
//! `-q` silences everything but warnings and errors (the image ID goes to stdout).
//!
//! Stages may build at once (one thread each): every line names its stage (`[stage-1 2/3] RUN ...`) and is
//! written whole under stderr's lock, so lines of parallel steps interleave but never mix; the running
//! step a phase belongs to is the one its thread started. The tty spinner shows the latest step.

use crate::digest::Digest;
use crate::reference::ImageRef;
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::{Mutex, MutexGuard};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// tty on a terminal (and `CI` unset), else plain
    Auto,
    Plain,
    Tty,
    Json,
}

impl Mode {
    /// `Auto` decided for this process's stderr.
    pub fn resolve(self) -> Mode {
        match self {
            Mode::Auto if std::io::stderr().is_terminal() && std::env::var_os("CI").is_none() => Mode::Tty,
            Mode::Auto => Mode::Plain,
            m => m,
        }
    }
}

pub struct Progress {
    mode: Mode,
    quiet: bool,
    debug: bool,
    started: Instant,
    spinner: Mutex<Option<ProgressBar>>,
    /// Each thread's running step (label and start), for phases reported from inside the step.
    current: Mutex<HashMap<ThreadId, Running>>,
}

/// A step in progress: its line (`[stage 2/5] COPY a /b`), its short tag (`[stage 2/5]`), its start.
#[derive(Clone)]
struct Running {
    label: String,
    tag: String,
    started: Instant,
}

/// Output state stays usable after a panicking thread: the panic fails the build anyway.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A running step; `done` or `cached` reports how it ended.
pub struct StepTimer<'a> {
    progress: &'a Progress,
    label: String,
    started: Instant,
}

fn json_line(value: serde_json::Value) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{value}");
}

impl Progress {
    pub fn new(mode: Mode, quiet: bool, debug: bool) -> Progress {
        Progress {
            mode: mode.resolve(),
            quiet,
            debug,
            started: Instant::now(),
            spinner: Mutex::new(None),
            current: Mutex::new(HashMap::new()),
        }
    }

    /// The step this thread is running.
    fn running(&self) -> Option<(String, Instant)> {
        lock(&self.current).get(&std::thread::current().id()).map(|r| (r.label.clone(), r.started))
    }

    /// What starts each line of the running step's command output (`[stage 2/5] `), so the output of
    /// stages running at once can be told apart.
    pub fn output_prefix(&self) -> String {
        lock(&self.current).get(&std::thread::current().id()).map(|r| format!("{} ", r.tag)).unwrap_or_default()
    }

    /// A `--debug` line.
    pub fn debug(&self, text: &str) {
        if self.debug {
            self.clear_spinner();
            eprintln!("debug: {text}");
        }
    }

    fn line(&self, text: &str) {
        if !self.quiet {
            self.clear_spinner();
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "{text}");
        }
    }

    fn clear_spinner(&self) {
        if let Some(pb) = lock(&self.spinner).take() {
            pb.finish_and_clear();
        }
    }

    fn spin(&self, message: String, since: Instant) {
        let pb = ProgressBar::new_spinner();
        pb.set_style(
            ProgressStyle::with_template("{spinner} {msg} {elapsed_precise:.dim}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        pb.set_message(message);
        // Elapsed time counts from the step's start, not from when the spinner (re)appeared.
        pb.set_elapsed(since.elapsed());
        pb.enable_steady_tick(Duration::from_millis(120));
        if let Some(old) = lock(&self.spinner).replace(pb) {
            old.finish_and_clear();
        }
    }

    /// `[stage 2/5] COPY a /b`
    pub fn step(&self, stage: &str, index: usize, total: usize, text: &str) -> StepTimer<'_> {
        let first = text.lines().next().unwrap_or("").trim();
        let first = crate::dockerfile::diagnostic::excerpt(first, crate::dockerfile::diagnostic::EXCERPT_LEN);
        let label = format!("[{stage} {index}/{total}] {first}");
        let started = Instant::now();
        let tag = format!("[{stage} {index}/{total}]");
        lock(&self.current).insert(std::thread::current().id(), Running { label: label.clone(), tag, started });
        if !self.quiet {
            match self.mode {
                Mode::Tty => self.spin(label.clone(), started),
                Mode::Json => json_line(serde_json::json!({"event": "step", "stage": stage, "index": index,
                    "total": total, "instruction": first})),
                _ => self.line(&format!("#{label}")),
            }
        }
        StepTimer { progress: self, label, started }
    }

    /// A command's output is about to stream: in tty mode the spinner steps aside and the step's header
    /// goes to the scroll-back, so the output reads under it.
    pub fn output_begins(&self) {
        if self.quiet || self.mode != Mode::Tty {
            return;
        }
        if let Some((label, _)) = self.running() {
            self.line(&format!("#{label}"));
        }
    }

    /// A named phase of the running step (e.g. writing its layer).
    pub fn phase(&self, what: &str) {
        let Some((label, started)) = self.running() else { return };
        if self.quiet {
            return;
        }
        match self.mode {
            Mode::Tty => self.spin(format!("{label} — {what}"), started),
            Mode::Json => json_line(serde_json::json!({"event": "phase", "step": label, "phase": what})),
            _ => {}
        }
    }

    /// A line about the build as a whole (e.g. `exporting cache to …`).
    pub fn message(&self, text: &str) {
        if self.quiet {
            return;
        }
        match self.mode {
            Mode::Json => json_line(serde_json::json!({"event": "message", "message": text})),
            _ => self.line(&format!("#{text}")),
        }
    }

    pub fn warn(&self, text: &str) {
        // Warnings matter even with -q: they go to stderr regardless.
        self.clear_spinner();
        if self.mode == Mode::Json {
            json_line(serde_json::json!({"event": "warning", "message": text}));
        } else {
            eprintln!("warning: {text}");
        }
    }

    pub fn finish(&self, image_id: &Digest, tags: &[ImageRef]) {
        if self.quiet {
            return;
        }
        let seconds = self.started.elapsed().as_secs_f64();
        if self.mode == Mode::Json {
            let tags: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
            json_line(serde_json::json!({"event": "image", "id": image_id.to_string(), "tags": tags,
                "seconds": seconds}));
            return;
        }
        self.line(&format!("#writing image {image_id}"));
        for t in tags {
            self.line(&format!("#naming to {t}"));
        }
        self.line(&format!("#DONE {seconds:.2}s"));
    }
}

impl StepTimer<'_> {
    fn end(self, how: &str) {
        let p = self.progress;
        lock(&p.current).remove(&std::thread::current().id());
        if p.quiet {
            return;
        }
        let seconds = self.started.elapsed().as_secs_f64();
        match p.mode {
            Mode::Json => json_line(serde_json::json!({"event": how, "step": self.label, "seconds": seconds})),
            _ if how == "cached" => p.line(&format!("#{} CACHED", self.label)),
            _ => p.line(&format!("#{} DONE {seconds:.2}s", self.label)),
        }
    }

    pub fn done(self) {
        self.end("done")
    }

    pub fn cached(self) {
        self.end("cached")
    }
}
