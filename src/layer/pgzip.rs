//! Parallel gzip: the stream is cut into fixed-size blocks, each compressed on a worker thread into a
//! complete gzip member, and the members are written in order. A concatenation of gzip members is one valid
//! gzip stream (RFC 1952 §2.2; Go's `gzip.Reader`, which docker, containerd, skopeo and umoci use, reads it
//! as one), and because the block size is fixed the output depends on the input only, never on the number
//! of threads or their timing: digests stay reproducible.
//!
//! gzip is the bottleneck of a layer commit (tar and sha256 run several times faster); with N cores this
//! writer compresses up to N blocks at once.

use flate2::write::GzEncoder;
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

/// Size of one independently compressed block. Large enough that the per-member overhead (about 20 bytes
/// of header and trailer, and a fresh dictionary) is negligible.
pub const BLOCK: usize = 1 << 20;

type Job = (u64, Vec<u8>);
type Done = (u64, io::Result<Vec<u8>>);

pub struct ParallelGzEncoder<W: Write> {
    inner: Option<W>,
    level: flate2::Compression,
    buf: Vec<u8>,
    next_seq: u64,
    next_write: u64,
    pending: BTreeMap<u64, Vec<u8>>,
    in_flight: usize,
    max_in_flight: usize,
    jobs: Option<SyncSender<Job>>,
    done: Receiver<Done>,
    workers: Vec<JoinHandle<()>>,
}

fn compress(level: flate2::Compression, block: &[u8]) -> io::Result<Vec<u8>> {
    // flate2 writes mtime 0 and no file name in the header: each member depends on its block only.
    let mut e = GzEncoder::new(Vec::with_capacity(block.len() / 2 + 64), level);
    e.write_all(block)?;
    e.finish()
}

impl<W: Write> ParallelGzEncoder<W> {
    pub fn new(inner: W, level: flate2::Compression) -> ParallelGzEncoder<W> {
        let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).clamp(1, 16);
        let (job_tx, job_rx) = mpsc::sync_channel::<Job>(threads * 2);
        let job_rx = std::sync::Arc::new(std::sync::Mutex::new(job_rx));
        let (done_tx, done_rx) = mpsc::channel::<Done>();
        let workers = (0..threads)
            .map(|_| {
                let rx = job_rx.clone();
                let tx = done_tx.clone();
                std::thread::spawn(move || loop {
                    let job = match rx.lock() {
                        Ok(guard) => guard.recv(),
                        Err(_) => return,
                    };
                    let Ok((seq, block)) = job else { return };
                    if tx.send((seq, compress(level, &block))).is_err() {
                        return;
                    }
                })
            })
            .collect();
        ParallelGzEncoder {
            inner: Some(inner),
            level,
            buf: Vec::with_capacity(BLOCK),
            next_seq: 0,
            next_write: 0,
            pending: BTreeMap::new(),
            in_flight: 0,
            max_in_flight: threads * 2,
            jobs: Some(job_tx),
            done: done_rx,
            workers,
        }
    }

    fn inner(&mut self) -> io::Result<&mut W> {
        self.inner.as_mut().ok_or_else(|| io::Error::other("parallel gzip encoder already finished"))
    }

    /// Hand the full buffer to a worker, first making room by writing out finished blocks.
    fn dispatch(&mut self) -> io::Result<()> {
        while self.in_flight >= self.max_in_flight {
            self.collect_one()?;
        }
        let block = std::mem::replace(&mut self.buf, Vec::with_capacity(BLOCK));
        let jobs = self.jobs.as_ref().ok_or_else(|| io::Error::other("parallel gzip encoder already finished"))?;
        jobs.send((self.next_seq, block)).map_err(|_| io::Error::other("gzip worker threads are gone"))?;
        self.next_seq += 1;
        self.in_flight += 1;
        Ok(())
    }

    /// Wait for one finished block and write out every block that is now next in order.
    fn collect_one(&mut self) -> io::Result<()> {
        let (seq, member) = self.done.recv().map_err(|_| io::Error::other("gzip worker threads are gone"))?;
        self.in_flight -= 1;
        self.pending.insert(seq, member?);
        while let Some(member) = self.pending.remove(&self.next_write) {
            self.inner()?.write_all(&member)?;
            self.next_write += 1;
        }
        Ok(())
    }

    /// Compress what is left, write every member, and return the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        if self.next_seq == 0 {
            // Everything fit in one block (an empty input too): one member, no thread hand-off.
            let member = compress(self.level, &self.buf)?;
            self.inner()?.write_all(&member)?;
            self.buf.clear();
            (self.next_seq, self.next_write) = (1, 1);
        } else if !self.buf.is_empty() {
            self.dispatch()?;
        }
        while self.in_flight > 0 {
            self.collect_one()?;
        }
        self.jobs = None;
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
        self.inner.take().ok_or_else(|| io::Error::other("parallel gzip encoder already finished"))
    }
}

impl<W: Write> Write for ParallelGzEncoder<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let take = (BLOCK - self.buf.len()).min(data.len());
        self.buf.extend_from_slice(&data[..take]);
        if self.buf.len() == BLOCK {
            self.dispatch()?;
        }
        Ok(take)
    }

    /// Blocks are only complete at [`finish`](Self::finish); flushing writes out what is already done.
    fn flush(&mut self) -> io::Result<()> {
        while let Ok((seq, member)) = self.done.try_recv() {
            self.in_flight -= 1;
            self.pending.insert(seq, member?);
        }
        while let Some(member) = self.pending.remove(&self.next_write) {
            self.inner()?.write_all(&member)?;
            self.next_write += 1;
        }
        self.inner()?.flush()
    }
}

impl<W: Write> Drop for ParallelGzEncoder<W> {
    fn drop(&mut self) {
        // Closing the job channel ends the workers; finished or not, nothing is written any more.
        self.jobs = None;
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn roundtrip(data: &[u8]) -> Vec<u8> {
        let mut e = ParallelGzEncoder::new(Vec::new(), flate2::Compression::default());
        // Odd-sized writes cross block boundaries.
        for chunk in data.chunks(333_333) {
            e.write_all(chunk).unwrap();
        }
        e.finish().unwrap()
    }

    fn pseudo_random(n: usize) -> Vec<u8> {
        let mut x: u64 = 0x9e3779b97f4a7c15;
        (0..n)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                if i % 7 == 0 {
                    b'a'
                } else {
                    x as u8
                }
            })
            .collect()
    }

    #[test]
    fn output_is_a_gzip_stream_of_the_input() {
        for size in [0, 10, BLOCK - 1, BLOCK, BLOCK + 1, 5 * BLOCK + 12345] {
            let data = pseudo_random(size);
            let gz = roundtrip(&data);
            let mut back = Vec::new();
            flate2::read::MultiGzDecoder::new(&gz[..]).read_to_end(&mut back).unwrap();
            assert_eq!(back, data, "size {size}");
        }
    }

    #[test]
    fn output_depends_on_the_input_only() {
        let data = pseudo_random(3 * BLOCK + 99);
        assert_eq!(roundtrip(&data), roundtrip(&data));
        // One small input is exactly what a plain encoder writes.
        let small = pseudo_random(1000);
        assert_eq!(roundtrip(&small), compress(flate2::Compression::default(), &small).unwrap());
    }
}
