//! The store lock: an exclusive `flock` on `<root>/lock`, held while `index.json` is read-modified-written
//! and while gc marks and sweeps. flock locks belong to the open file description, so two threads that
//! each open the file exclude each other exactly like two processes do — and one thread that asks twice
//! deadlocks, which is why everything done under the lock goes through one [`Locked`] value.
//!
//! [`Locked`] is the store with the lock held. A command that reads the index, decides, and writes
//! (`rmi` resolving a name then removing it, `prune` finding dangling images then deleting them, `tag`
//! resolving its source then naming it, a build resolving its base then leasing its blobs) does all of it
//! through one `Locked`, so no other command's change can land between the decision and the write.

use super::{Store, StoreError};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use std::fs::{File, OpenOptions};
use std::ops::Deref;

/// Held while alive; dropping it releases the lock.
pub struct StoreLock {
    _lock: Flock<File>,
}

impl StoreLock {
    /// Block until the store lock is ours, or until SIGINT/SIGTERM asks the command to stop.
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
                Err((f, Errno::EINTR)) => {
                    crate::interrupt::check()?;
                    file = f;
                }
                Err((_, source)) => return Err(StoreError::Lock { path, source }),
            }
        }
    }
}

/// The store with its lock held; derefs to [`Store`] for reading. Dropping it releases the lock.
pub struct Locked<'a> {
    store: &'a Store,
    _lock: StoreLock,
}

impl Store {
    /// Take the store lock (blocking) for a read-decide-write sequence; see [`Locked`].
    pub fn lock(&self) -> Result<Locked<'_>, StoreError> {
        Ok(Locked { store: self, _lock: StoreLock::acquire(self)? })
    }
}

impl Deref for Locked<'_> {
    type Target = Store;

    fn deref(&self) -> &Store {
        self.store
    }
}
