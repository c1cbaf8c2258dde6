//! Build output in BuildKit's plain style on stderr: one line when a step starts, one when it ends with its
//! time. `-q` silences everything but errors (the image ID goes to stdout).

use crate::digest::Digest;
use crate::image::ImageRef;
use std::io::Write;
use std::time::Instant;

pub struct Progress {
    quiet: bool,
    debug: bool,
    started: Instant,
}

/// A running step; `done` prints its time.
pub struct StepTimer<'a> {
    progress: &'a Progress,
    label: String,
    started: Instant,
}

impl Progress {
    pub fn new(quiet: bool, debug: bool) -> Progress {
        Progress { quiet, debug, started: Instant::now() }
    }

    /// A `--debug` line.
    pub fn debug(&self, text: &str) {
        if self.debug {
            eprintln!("debug: {text}");
        }
    }

    fn line(&self, text: &str) {
        if !self.quiet {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "{text}");
        }
    }

    /// `[stage 2/5] COPY a /b`
    pub fn step(&self, stage: &str, index: usize, total: usize, text: &str) -> StepTimer<'_> {
        let first = text.lines().next().unwrap_or("").trim();
        let label = format!("[{stage} {index}/{total}] {first}");
        self.line(&format!("#{label}"));
        StepTimer { progress: self, label, started: Instant::now() }
    }

    pub fn warn(&self, text: &str) {
        // Warnings matter even with -q: they go to stderr regardless.
        eprintln!("warning: {text}");
    }

    pub fn finish(&self, image_id: &Digest, tags: &[ImageRef]) {
        self.line(&format!("#writing image {image_id}"));
        for t in tags {
            self.line(&format!("#naming to {t}"));
        }
        self.line(&format!("#DONE {:.2}s", self.started.elapsed().as_secs_f64()));
    }
}

impl StepTimer<'_> {
    pub fn done(self) {
        self.progress.line(&format!("#{} DONE {:.2}s", self.label, self.started.elapsed().as_secs_f64()));
    }

    pub fn cached(self) {
        self.progress.line(&format!("#{} CACHED", self.label));
    }
}
