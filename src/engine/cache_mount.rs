//! `RUN --mount=type=cache` when the step runs: the store dir of a cache id, created the first time with
//! the mount's `mode`/`uid`/`gid` (or filled from `from=`/`source=`), and the `sharing=` policy between
//! concurrent users of one id — builds in other processes and stages of this build alike:
//! - `shared` (default): every user mounts the same dir at once;
//! - `locked`: an exclusive `flock` on the cache dir, held for the whole step, so users take turns;
//! - `private`: the same lock, but taken without waiting; a user that finds the dir busy mounts a fresh
//!   dir of its own for the step instead (thrown away afterwards, as BuildKit keeps it only as a cache).
//!
//! The lock is on the directory itself, so the cache-mounts dir holds nothing but caches (`system df` and
//! the cache prune count its entries). flock locks belong to the open file description: two threads that
//! each open the dir exclude each other like two processes do.

use super::cache;
use super::stage::{fail, Executor};
use super::StepFailure;
use crate::dockerfile::flags::Sharing;
use crate::dockerfile::Location;
use crate::rootpath::{self, Escape};
use crate::sandbox::Bind;
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use std::fs::File;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A cache mount as the step asked for it, its target resolved against WORKDIR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheSpec {
    pub id: String,
    pub target: String,
    pub readonly: bool,
    pub sharing: Sharing,
    /// Of the cache dir when rbuild creates it (not when it is filled from `seed`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// `from=` (a stage, image or build context) and `source=` in it (default its root): what a new
    /// cache dir starts with.
    pub seed: Option<(String, String)>,
}

/// The lock a `locked` or `private` cache mount holds until the step ends (dropping it releases it).
pub(super) type MountLock = Flock<File>;

impl Executor<'_> {
    /// The bind of a cache mount, and the lock to hold while the step runs.
    pub(super) fn cache_bind(&self, c: &CacheSpec, loc: Location) -> Result<(Bind, Option<MountLock>), StepFailure> {
        let failed = |e: String| fail(loc, format!("RUN --mount=type=cache,id={}: {e}", c.id));
        let dir = cache::mount_dir(self.store, &c.id);
        self.restore_cache_mount(&c.id, &dir, loc)?;
        if !dir.exists() {
            let seed = match &c.seed {
                Some((from, source)) => Some(self.cache_seed(from, source, loc)?),
                None => None,
            };
            self.create_cache_dir(&dir, c, seed.as_deref())
                .map_err(|e| failed(format!("creating the cache dir: {e}")))?;
        }
        let bind = |source: PathBuf| Bind { source, target: c.target.clone(), readonly: c.readonly };
        let lock = match c.sharing {
            Sharing::Shared => return Ok((bind(dir), None)),
            Sharing::Locked => lock_dir(&dir, true),
            Sharing::Private => lock_dir(&dir, false),
        }
        .map_err(|e| failed(format!("locking the cache dir: {e}")))?;
        match lock {
            Some(lock) => Ok((bind(dir), Some(lock))),
            // `private` and another user has it: a fresh dir of our own, gone with the build's work dir.
            None => {
                let own = self.new_dir("cache-private").map_err(|e| failed(e.to_string()))?;
                set_attrs(&own, c).map_err(|e| failed(e.to_string()))?;
                Ok((bind(own), None))
            }
        }
    }

    /// Where `source=` is in `from=`: a path inside that stage's or image's filesystem.
    fn cache_seed(&self, from: &str, source: &str, loc: Location) -> Result<PathBuf, StepFailure> {
        let (root, what) = self.source_view(from, loc)?;
        let path = rootpath::resolve_in(&root, Path::new(source), true, Escape::Clamp)
            .map_err(|e| fail(loc, format!("RUN --mount=type=cache: source {source:?} in {what}: {e}")))?;
        if !path.is_dir() {
            return Err(fail(loc, format!("RUN --mount=type=cache: source {source:?} is not a directory in {what}")));
        }
        Ok(path)
    }

    /// Make the cache dir in the store's tmp/ (empty with the mount's attributes, or a copy of `seed`) and
    /// rename it into place: a concurrent build sees no dir or a whole one. If another build made it
    /// first, theirs stays.
    fn create_cache_dir(&self, dir: &Path, c: &CacheSpec, seed: Option<&Path>) -> std::io::Result<()> {
        if let Some(parent) = dir.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let tmp = self.store.temp_dir("cache-mount").map_err(std::io::Error::other)?;
        let made = tmp.path().join("dir");
        match seed {
            Some(seed) => crate::fsops::copy_tree(seed, &made)?,
            None => {
                std::fs::create_dir(&made)?;
                set_attrs(&made, c)?;
            }
        }
        if std::fs::rename(&made, dir).is_err() && !dir.is_dir() {
            return Err(std::io::Error::other(format!("cannot move the new cache dir to {}", dir.display())));
        }
        Ok(())
    }
}

fn set_attrs(dir: &Path, c: &CacheSpec) -> std::io::Result<()> {
    // Ownership first: chown clears setuid/setgid bits.
    std::os::unix::fs::chown(dir, Some(c.uid), Some(c.gid))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(c.mode))
}

/// An exclusive flock on `dir`: waiting for it (`wait`), or `None` at once when another user holds it.
fn lock_dir(dir: &Path, wait: bool) -> std::io::Result<Option<MountLock>> {
    let mut file = File::open(dir)?;
    let how = if wait { FlockArg::LockExclusive } else { FlockArg::LockExclusiveNonblock };
    loop {
        match Flock::lock(file, how) {
            Ok(lock) => return Ok(Some(lock)),
            Err((_, Errno::EWOULDBLOCK)) if !wait => return Ok(None),
            Err((f, Errno::EINTR)) => {
                crate::interrupt::check().map_err(std::io::Error::other)?;
                file = f;
            }
            Err((_, e)) => return Err(e.into()),
        }
    }
}
