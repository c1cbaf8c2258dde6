//! Atomic blob ingestion, containerd-style: bytes stream into a temp file under `<root>/tmp/` while
//! being hashed; `commit` fsyncs, checks the digest and size, renames into `blobs/sha256/` and fsyncs
//! the directory. A writer dropped or failing verification leaves nothing behind.

use super::{Store, StoreError};
use crate::digest::{Digest, HashingWriter};
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use tempfile::NamedTempFile;

/// A blob being written. `impl Write`; nothing is visible in the store until [`BlobWriter::commit`].
pub struct BlobWriter {
    inner: HashingWriter<NamedTempFile>,
    blobs_dir: PathBuf,
}

impl BlobWriter {
    pub(super) fn create(store: &Store) -> Result<BlobWriter, StoreError> {
        let tmp = store.tmp_dir();
        let file = tempfile::Builder::new()
            .prefix("blob-")
            .tempfile_in(&tmp)
            .map_err(StoreError::io("cannot create a temp file in", &tmp))?;
        Ok(BlobWriter { inner: HashingWriter::new(file), blobs_dir: store.blobs_dir() })
    }

    /// Bytes written so far.
    pub fn count(&self) -> u64 {
        self.inner.count()
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
        let (digest, size, mut tmp) = self.inner.finish();
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
        if dest.is_file() {
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

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// fsync a directory so a rename into it survives a crash.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(StoreError::io("cannot fsync directory", dir))
}
