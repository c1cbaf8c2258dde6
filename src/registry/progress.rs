//! What pull and push show while they transfer: one line per layer event (plain, the default off a
//! terminal or under `CI`), a live bar per layer with bytes and speed (tty, indicatif), one JSON object
//! per event (json: `layer` with `state` pulling/pushing/downloaded/pushed/exists/mounted, `message`), or
//! nothing (quiet). Layers report from worker threads, so this is `Sync`.

use crate::digest::Digest;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Quiet,
    Plain,
    Tty,
    Json,
}

/// How a layer's transfer ended.
#[derive(Debug, Clone, Copy)]
pub enum Outcome<'a> {
    Downloaded,
    Pushed,
    /// The destination already had it (store or registry).
    Exists,
    /// Mounted from this repository of the same registry.
    Mounted(&'a str),
}

pub struct TransferProgress {
    style: Style,
    multi: MultiProgress,
    bars: Mutex<HashMap<Digest, ProgressBar>>,
}

fn short(d: &Digest) -> &str {
    &d.hex()[..12]
}

impl TransferProgress {
    pub fn new(style: Style) -> TransferProgress {
        let multi = MultiProgress::with_draw_target(match style {
            Style::Tty => ProgressDrawTarget::stderr(),
            _ => ProgressDrawTarget::hidden(),
        });
        TransferProgress { style, multi, bars: Mutex::new(HashMap::new()) }
    }

    fn line(&self, text: &str, json: serde_json::Value) {
        match self.style {
            Style::Quiet => {}
            Style::Plain => eprintln!("{text}"),
            Style::Tty => {
                let _ = self.multi.println(text);
            }
            Style::Json => {
                let _ = writeln!(std::io::stderr().lock(), "{json}");
            }
        }
    }

    /// A line about the whole transfer ("Pulling x", "Digest: …").
    pub fn message(&self, text: &str) {
        self.line(text, serde_json::json!({"event": "message", "message": text}));
    }

    /// A layer starts moving (`push`: up, else down).
    pub fn start(&self, digest: &Digest, size: u64, push: bool) {
        let verb = if push { "pushing" } else { "pulling" };
        if self.style == Style::Tty {
            let pb = self.multi.add(ProgressBar::new(size));
            pb.set_style(
                ProgressStyle::with_template("{prefix} {msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            pb.set_prefix(short(digest).to_string());
            pb.set_message(verb);
            self.bars.lock().unwrap_or_else(|e| e.into_inner()).insert(digest.clone(), pb);
            return;
        }
        self.line(
            &format!("{}: {verb} {size} bytes", short(digest)),
            serde_json::json!({"event": "layer", "digest": digest.to_string(), "state": verb, "size": size}),
        );
    }

    /// Bytes moved so far for a layer (shown on a tty only).
    pub fn bytes(&self, digest: &Digest, done: u64) {
        if self.style == Style::Tty {
            if let Some(pb) = self.bars.lock().unwrap_or_else(|e| e.into_inner()).get(digest) {
                pb.set_position(done);
            }
        }
    }

    /// A layer is done (or needed no transfer).
    pub fn done(&self, digest: &Digest, outcome: Outcome<'_>) {
        let (state, text) = match outcome {
            Outcome::Downloaded => ("downloaded", "downloaded".to_string()),
            Outcome::Pushed => ("pushed", "pushed".to_string()),
            Outcome::Exists => ("exists", "already exists".to_string()),
            Outcome::Mounted(from) => ("mounted", format!("mounted from {from}")),
        };
        if let Some(pb) = self.bars.lock().unwrap_or_else(|e| e.into_inner()).remove(digest) {
            pb.finish_and_clear();
            self.multi.remove(&pb);
        }
        self.line(
            &format!("{}: {text}", short(digest)),
            serde_json::json!({"event": "layer", "digest": digest.to_string(), "state": state}),
        );
    }
}

/// A writer that reports how many bytes went through it.
pub struct Counting<'a, W> {
    pub inner: W,
    pub count: u64,
    pub digest: &'a Digest,
    pub progress: &'a TransferProgress,
}

impl<W: Write> Write for Counting<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        self.progress.bytes(self.digest, self.count);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that reports how many bytes went through it (from `base`, for resumed uploads).
pub struct CountingReader<'a, R> {
    pub inner: R,
    pub count: u64,
    pub digest: &'a Digest,
    pub progress: &'a TransferProgress,
}

impl<R: std::io::Read> std::io::Read for CountingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        self.progress.bytes(self.digest, self.count);
        Ok(n)
    }
}
