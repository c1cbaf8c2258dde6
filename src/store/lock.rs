//! The store lock: an exclusive `flock` on `<root>/lock`, held while `index.json` is read-modified-written
//! and while gc marks and sweeps. flock locks belong to the open file description, so two threads that
//! each open the file exclude each other exactly like two processes do.

use super::{Store, StoreError};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use std::fs::{File, OpenOptions};

/// Held while alive; dropping it releases the lock.
pub struct StoreLock {
    _lock: Flock<File>,
}

impl StoreLock {
    /// Block until the store lock is ours.
    pub fn acquire(store: &Store) -> Result<StoreLock, StoreError> {
        let path = store.root().join("lock");
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(StoreError::io("cannot open lock file", &path))?;
        loop {
            match Flock::lock(file, FlockArg::LockExclusive) {
                Ok(lock) => return Ok(StoreLock { _lock: lock }),
                Err((f, Errno::EINTR)) => file = f,
                Err((_, source)) => return Err(StoreError::Lock { path, source }),
            }
        }
    }
}
