//! Work on a byte stream moved off the writing thread: [`Offloaded`] gathers what is written into 1 MiB
//! chunks and hands each, through a bounded channel, to one worker thread that runs a step on it (hash
//! it; hash it and write it to a file). The layer pipeline uses it so that sha256 of the tar stream
//! (diff_id) and of the compressed blob (digest), and the blob's file writes, run beside the compressor
//! instead of between its calls.
//!
//! The worker starts with the first full chunk: a small blob (a config, a manifest) never starts one and
//! is processed inline at `finish`. Chunks go to the worker in order and are processed in order, so
//! the result is the single-threaded result. A failing step ends the worker; the writer sees its error at
//! its next `push` or at `finish`. Dropping an `Offloaded` closes the channel and joins the worker, so
//! the worker's state (e.g. a temp file) is gone when the drop returns.

use std::io;
use std::mem;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::thread::JoinHandle;

/// Bytes per chunk handed to the worker: large enough that channel hand-offs cost nothing next to the
/// work, small enough that the pipeline holds little memory (`DEPTH + 2` chunks at most).
pub(crate) const CHUNK: usize = 1 << 20;
/// Chunks queued for the worker before the writer waits: the writer runs ahead of the worker by this much.
const DEPTH: usize = 4;

/// The step run on every chunk, in order.
pub(crate) type Step<S> = fn(&mut S, &[u8]) -> io::Result<()>;

/// A byte stream whose processing (`step` over a state `S`) runs on a worker thread.
pub(crate) struct Offloaded<S: Send + 'static> {
    step: Step<S>,
    buf: Vec<u8>,
    stage: Stage<S>,
}

enum Stage<S> {
    /// No worker yet: the state is still here.
    Inline(S),
    Threaded(Worker<S>),
    /// The worker failed and its error was returned; nothing more is accepted.
    Failed,
}

struct Worker<S> {
    chunks: Option<SyncSender<Vec<u8>>>,
    /// Emptied chunk buffers coming back for reuse, so the stream does not allocate (and page-fault)
    /// a fresh megabyte per chunk.
    spare: Receiver<Vec<u8>>,
    handle: Option<JoinHandle<io::Result<S>>>,
}

impl<S: Send + 'static> Offloaded<S> {
    pub(crate) fn new(state: S, step: Step<S>) -> Offloaded<S> {
        Offloaded { step, buf: Vec::new(), stage: Stage::Inline(state) }
    }

    /// Add bytes to the stream.
    pub(crate) fn push(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            if self.buf.capacity() < CHUNK {
                self.buf.reserve_exact(CHUNK - self.buf.len());
            }
            let take = (CHUNK - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buf.len() == CHUNK {
                self.hand_off()?;
            }
        }
        Ok(())
    }

    /// Process the rest and return the state.
    pub(crate) fn finish(mut self) -> io::Result<S> {
        match mem::replace(&mut self.stage, Stage::Failed) {
            Stage::Inline(mut state) => {
                (self.step)(&mut state, &self.buf)?;
                Ok(state)
            }
            Stage::Threaded(mut worker) => {
                if !self.buf.is_empty() {
                    let chunk = mem::take(&mut self.buf);
                    if worker.chunks.as_ref().is_some_and(|tx| tx.send(chunk).is_err()) {
                        return worker.join().and_then(|_| Err(gone()));
                    }
                }
                worker.join()
            }
            Stage::Failed => Err(gone()),
        }
    }

    /// Send the full buffer to the worker (starting it first if needed) and take a spare one.
    fn hand_off(&mut self) -> io::Result<()> {
        let mut worker = match mem::replace(&mut self.stage, Stage::Failed) {
            Stage::Inline(state) => Worker::spawn(state, self.step)?,
            Stage::Threaded(worker) => worker,
            Stage::Failed => return Err(gone()),
        };
        let chunk = mem::take(&mut self.buf);
        if worker.chunks.as_ref().is_some_and(|tx| tx.send(chunk).is_ok()) {
            self.buf = worker.spare.try_recv().unwrap_or_default();
            self.stage = Stage::Threaded(worker);
            return Ok(());
        }
        // The worker stopped: it failed, and its error is the one to report.
        worker.join().and_then(|_| Err(gone()))
    }
}

impl<S: Send + 'static> Worker<S> {
    fn spawn(mut state: S, step: Step<S>) -> io::Result<Worker<S>> {
        let (chunks, rx) = mpsc::sync_channel::<Vec<u8>>(DEPTH);
        let (spare_tx, spare) = mpsc::sync_channel::<Vec<u8>>(DEPTH + 2);
        let handle = std::thread::Builder::new().name("rbuild-offload".into()).spawn(move || {
            for mut chunk in rx {
                step(&mut state, &chunk)?;
                chunk.clear();
                // Never block on a writer that stopped taking spares: a full return channel drops it.
                if let Err(TrySendError::Disconnected(_)) = spare_tx.try_send(chunk) {
                    // The writer is gone; keep processing what is queued, as finish expects.
                }
            }
            Ok(state)
        })?;
        Ok(Worker { chunks: Some(chunks), spare, handle: Some(handle) })
    }

    /// Close the channel, wait for the worker and take its state or its error.
    fn join(&mut self) -> io::Result<S> {
        self.chunks = None;
        match self.handle.take() {
            Some(h) => h.join().unwrap_or_else(|_| Err(io::Error::other("a stream worker thread panicked"))),
            None => Err(gone()),
        }
    }
}

impl<S> Drop for Worker<S> {
    fn drop(&mut self) {
        // Closing the channel ends the worker after the queued chunks; joining means its state (a temp
        // file) is dropped before whoever dropped us goes on.
        self.chunks = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn gone() -> io::Error {
    io::Error::other("the stream worker thread stopped")
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest as _, Sha256};

    fn hash_step(h: &mut Sha256, data: &[u8]) -> io::Result<()> {
        h.update(data);
        Ok(())
    }

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[test]
    fn result_equals_the_single_threaded_result_at_every_chunk_boundary() {
        for n in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 11 * CHUNK + 7] {
            let bytes = data(n);
            let mut off = Offloaded::new(Sha256::new(), hash_step);
            for piece in bytes.chunks(100_003) {
                off.push(piece).unwrap();
            }
            assert_eq!(off.finish().unwrap().finalize(), Sha256::digest(&bytes), "size {n}");
        }
    }

    fn fail_at_third(seen: &mut usize, _: &[u8]) -> io::Result<()> {
        *seen += 1;
        if *seen == 3 {
            return Err(io::Error::new(io::ErrorKind::StorageFull, "disk full at chunk 3"));
        }
        Ok(())
    }

    #[test]
    fn the_workers_error_reaches_the_writer() {
        // Long stream: the error arrives at a push. Short one: at finish.
        for chunks in [40, 3] {
            let mut off = Offloaded::new(0usize, fail_at_third);
            let mut err = None;
            for _ in 0..chunks {
                if let Err(e) = off.push(&data(CHUNK)) {
                    err = Some(e);
                    break;
                }
            }
            let err = match err {
                Some(e) => e,
                None => off.finish().expect_err("finish must report the worker's error"),
            };
            assert_eq!(err.kind(), io::ErrorKind::StorageFull, "{chunks} chunks: {err}");
        }
    }

    fn panic_step(_: &mut (), _: &[u8]) -> io::Result<()> {
        panic!("step panicked")
    }

    #[test]
    fn a_panicking_worker_is_an_error_not_a_hang() {
        let mut off = Offloaded::new((), panic_step);
        let pushed = (0..10).try_for_each(|_| off.push(&data(CHUNK)));
        let err = match pushed {
            Err(e) => e,
            Ok(()) => off.finish().expect_err("finish must fail"),
        };
        assert!(err.to_string().contains("panicked"), "{err}");
    }
}
