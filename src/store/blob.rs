//! Atomic blob ingestion, containerd-style: bytes stream into a temp file under `<root>/tmp/` while
//! being hashed; `commit` fsyncs, checks the digest and size, renames into `blobs/sha256/` and fsyncs
//! the directory. A writer dropped or failing verification leaves nothing behind.
//!
//! Hashing and the file writes run on a worker thread ([`Offloaded`]) once a blob passes 1 MiB, so a
//! layer's compressor never waits for them; and the kernel is asked to start writing back every
//! [`WRITEBACK`] bytes as they arrive, so the fsync at commit finds little left to do. Pages more than
//! [`KEEP`] bytes behind the write position are waited for and dropped from the page cache (drop-behind):
//! a large blob then recycles a few megabytes of page cache instead of claiming fresh memory for every
//! page, which on this project's VMs (free memory handed back to the host) made the copy into the page
//! cache the slowest part of a layer commit (docs/benchmarks.md, "bigfile").

use super::offload::Offloaded;
use super::{Store, StoreError};
use crate::digest::Digest;
use sha2::{Digest as _, Sha256};
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use tempfile::NamedTempFile;

/// Start writeback after this many new bytes: large enough to be one sequential write for the disk.
const WRITEBACK: u64 = 8 << 20;
/// Written bytes kept in the page cache behind the write position; older ones are written out and
/// dropped. Two writeback ranges: the disk works on one while the next is being filled.
const KEEP: u64 = 2 * WRITEBACK;

/// A blob being written. `impl Write`; nothing is visible in the store until [`BlobWriter::commit`].
pub struct BlobWriter {
    sink: Offloaded<Sink>,
    count: u64,
    blobs_dir: PathBuf,
    store: Store,
}

/// The temp file and the hash of what went into it: the worker's state.
struct Sink {
    file: NamedTempFile,
    hasher: Sha256,
    written: u64,
    /// Bytes already handed to writeback.
    flushed: u64,
    /// Bytes already written out and dropped from the page cache.
    dropped: u64,
}

fn sink_step(s: &mut Sink, chunk: &[u8]) -> io::Result<()> {
    s.file.write_all(chunk)?;
    s.hasher.update(chunk);
    s.written += chunk.len() as u64;
    if s.written - s.flushed >= WRITEBACK {
        start_writeback(s.file.as_file(), s.flushed, s.written - s.flushed);
        s.flushed = s.written;
        let behind = s.flushed.saturating_sub(KEEP);
        if behind > s.dropped {
            drop_behind(s.file.as_file(), s.dropped, behind - s.dropped);
            s.dropped = behind;
        }
    }
    Ok(())
}

/// Wait until `len` bytes at `offset` are written out, then drop them from the page cache. Only a hint
/// like [`start_writeback`]: durability and error reporting stay with the fsync at commit (a page whose
/// write failed stays dirty, and is not dropped), so failures are ignored.
#[allow(unsafe_code)]
fn drop_behind(file: &File, offset: u64, len: u64) {
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else { return };
    let wait = libc::SYNC_FILE_RANGE_WAIT_BEFORE | libc::SYNC_FILE_RANGE_WRITE | libc::SYNC_FILE_RANGE_WAIT_AFTER;
    // SAFETY: both calls only read their integer arguments; the fd is open for their duration because
    // `file` is borrowed.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset, len, wait);
        libc::posix_fadvise(file.as_raw_fd(), offset, len, libc::POSIX_FADV_DONTNEED);
    }
}

/// Ask the kernel to start writing `len` bytes at `offset` to disk now, without waiting. Only a hint
/// (the fsync at commit is what makes the blob durable and reports errors), so failures (a filesystem
/// without it, e.g. some FUSE) are ignored.
#[allow(unsafe_code)]
fn start_writeback(file: &File, offset: u64, len: u64) {
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else { return };
    // SAFETY: sync_file_range only reads its integer arguments; the fd is open for the call's duration
    // because `file` is borrowed.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE);
    }
}

impl BlobWriter {
    pub(super) fn create(store: &Store) -> Result<BlobWriter, StoreError> {
        let file = store.temp_file("blob")?;
        let sink = Sink { file, hasher: Sha256::new(), written: 0, flushed: 0, dropped: 0 };
        Ok(BlobWriter {
            sink: Offloaded::new(sink, sink_step),
            count: 0,
            blobs_dir: store.blobs_dir(),
            store: store.clone(),
        })
    }

    /// Bytes written so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Publish the blob, verifying it against `expected` when given. Returns its digest and size.
    pub fn commit(self, expected: Option<&Digest>) -> Result<(Digest, u64), StoreError> {
        self.commit_expecting(expected, None)
    }

    /// Publish the blob, verifying digest and size when given (e.g. from a descriptor).
    pub fn commit_expecting(
        self,
        expected: Option<&Digest>,
        expected_size: Option<u64>,
    ) -> Result<(Digest, u64), StoreError> {
        let tmp_dir = self.store.tmp_dir();
        let sink = self.sink.finish().map_err(StoreError::io("cannot write blob into", &tmp_dir))?;
        let (digest, size, mut tmp) = (Digest::from_sha256(sink.hasher.finalize().into()), sink.written, sink.file);
        if let Some(expected) = expected {
            if *expected != digest {
                return Err(StoreError::DigestMismatch { expected: expected.clone(), actual: digest });
            }
        }
        if let Some(expected) = expected_size {
            if expected != size {
                return Err(StoreError::SizeMismatch { digest, expected, actual: size });
            }
        }
        let tmp_path = tmp.path().to_path_buf();
        tmp.flush().map_err(StoreError::io("cannot write", &tmp_path))?;
        tmp.as_file().sync_all().map_err(StoreError::io("cannot fsync", &tmp_path))?;
        let dest = self.blobs_dir.join(digest.hex());
        if dest.is_file() && refresh(&self.store, &dest)? {
            // Same digest, same bytes: keep the existing file (it may be in use) and drop ours.
            return Ok((digest, size));
        }
        // tempfile creates 0600; blobs are world-readable like every OCI layout.
        fs::set_permissions(&tmp_path, fs::Permissions::from_mode(0o644))
            .map_err(StoreError::io("cannot chmod", &tmp_path))?;
        tmp.persist(&dest).map_err(|e| StoreError::Io { what: "cannot publish blob", path: dest, source: e.error })?;
        sync_dir(&self.blobs_dir)?;
        Ok((digest, size))
    }
}

/// An existing blob is about to be reused: give it a fresh mtime under the store lock, so that a lease
/// taken before now keeps it (gc keeps blobs written since a lease began) and no gc running meanwhile
/// can sweep it between this check and the caller protecting it. `false` when gc removed it first.
pub(super) fn refresh(store: &Store, dest: &Path) -> Result<bool, StoreError> {
    let _lock = store.lock()?;
    match File::options().write(true).open(dest) {
        Ok(f) => {
            f.set_modified(std::time::SystemTime::now()).map_err(StoreError::io("cannot touch", dest))?;
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(StoreError::Io { what: "cannot open", path: dest.to_path_buf(), source }),
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        crate::interrupt::check()?;
        self.sink.push(buf)?;
        self.count += buf.len() as u64;
        Ok(buf.len())
    }

    /// Buffered bytes reach the file at commit; until then nothing is visible anyway.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// fsync a directory so a rename into it survives a crash.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(StoreError::io("cannot fsync directory", dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes of `path` in the page cache (mincore over a shared read-only mapping).
    #[allow(unsafe_code)]
    fn resident_bytes(path: &Path) -> u64 {
        let file = File::open(path).unwrap();
        let len = file.metadata().unwrap().len() as usize;
        // SAFETY: sysconf only reads its argument.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
        let mut vec = vec![0u8; len.div_ceil(page)];
        // SAFETY: a fresh read-only shared mapping of an open file, never dereferenced here; mincore
        // writes one byte per page into `vec`, which has exactly that many; the mapping is unmapped once.
        unsafe {
            let addr = libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, libc::MAP_SHARED, file.as_raw_fd(), 0);
            assert_ne!(addr, libc::MAP_FAILED, "mmap {}", path.display());
            assert_eq!(libc::mincore(addr, len, vec.as_mut_ptr()), 0, "mincore");
            libc::munmap(addr, len);
        }
        vec.iter().filter(|b| **b & 1 == 1).count() as u64 * page as u64
    }

    #[test]
    fn a_large_blob_is_dropped_from_the_page_cache_behind_the_writer_and_stays_intact() {
        // On disk, not a tmpfs /tmp (where pages cannot be dropped): the crate's target dir.
        let dir = tempfile::tempdir_in(concat!(env!("CARGO_MANIFEST_DIR"), "/target")).unwrap();
        let store = Store::open(dir.path()).unwrap();
        let data: Vec<u8> = (0..64u64 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        let mut w = store.blob_writer().unwrap();
        for piece in data.chunks(100_003) {
            w.write_all(piece).unwrap();
        }
        let (digest, size) = w.commit(None).unwrap();
        assert_eq!((digest.clone(), size), (Digest::of(&data), data.len() as u64));
        let path = store.blob_path(&digest);
        let resident = resident_bytes(&path);
        // What is still cached: the last KEEP bytes plus the range not yet handed to writeback.
        assert!(resident <= KEEP + WRITEBACK + (1 << 20), "{} MiB of 64 still cached", resident >> 20);
        assert!(fs::read(&path).unwrap() == data, "blob bytes differ from what was written");
    }
}
