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
    store: Store,
}

impl BlobWriter {
    pub(super) fn create(store: &Store) -> Result<BlobWriter, StoreError> {
        let file = store.temp_file("blob")?;
        Ok(BlobWriter { inner: HashingWriter::new(file), blobs_dir: store.blobs_dir(), store: store.clone() })
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
fn refresh(store: &Store, dest: &Path) -> Result<bool, StoreError> {
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
