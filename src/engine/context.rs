//! The build's view of its context: the context root and the set of paths the walk kept after the
//! .dockerignore rules. COPY reads only paths in this set, so an ignored file is as absent as a missing one.
//!
//! The walk also stats each path it keeps (on other threads, while it goes on), and keys computed right
//! after it use those stamps instead of stat'ing every source again: for a second after the walk, a
//! stamp it took is as recent as the state any key can capture (a file may change between a key and the
//! copy that follows it, as ever). Keys computed later (after a step ran, or a base image was pulled)
//! stat their sources again.

use crate::context::{walk_stamped, Filter, IgnoreFile, IgnoreFileError, WalkError};
use crate::fsops::Stamp;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long the walk's stamps serve keys.
const FRESH: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error(transparent)]
    Ignore(#[from] IgnoreFileError),
    #[error(transparent)]
    Walk(#[from] WalkError),
    #[error("build context {root:?}: cannot make it an absolute path: {source}")]
    Absolute { root: PathBuf, source: std::io::Error },
}

pub struct Context {
    pub root: PathBuf,
    /// Relative slash paths (any bytes) of every file, dir and symlink the build may read.
    pub included: BTreeSet<PathBuf>,
    /// The walk's stamp of each path of `included`, in its order (empty when there are none).
    stamps: Vec<Option<Stamp>>,
    walked: Instant,
}

impl Context {
    /// Walk `root` with the ignore file that applies to `dockerfile`.
    /// The root is made absolute (`rbuild build .`): bind mounts resolve their sources inside it, and the
    /// sandbox mounts only absolute paths.
    pub fn open(root: &Path, dockerfile: &Path) -> Result<Context, ContextError> {
        let root =
            &std::path::absolute(root).map_err(|e| ContextError::Absolute { root: root.to_path_buf(), source: e })?;
        let ignore = IgnoreFile::load(root, dockerfile)?;
        let matcher = ignore.matcher()?;
        let (entries, mut stamps) = walk_stamped(root, &Filter::exclude(matcher))?;
        let walked = Instant::now();
        // The set's order is the walk's (a directory, then what it holds, names by bytes); stamps are
        // used by position, so only when that holds.
        if !entries.windows(2).all(|w| w[0].path < w[1].path) {
            stamps.clear();
        }
        let included: BTreeSet<PathBuf> = entries.into_iter().map(|e| e.path).collect();
        Ok(Context { root: root.to_path_buf(), included, stamps, walked })
    }

    /// The walk's stamps of `included`'s paths, in its order, while they are fresh.
    pub fn stamps(&self) -> Option<&[Option<Stamp>]> {
        (!self.stamps.is_empty() && self.walked.elapsed() < FRESH).then_some(&self.stamps[..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walk_stamps_serve_only_right_after_the_walk() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("d")).unwrap();
        std::fs::write(t.path().join("d/f"), "x").unwrap();
        std::fs::write(t.path().join("d-g"), "y").unwrap();
        let mut ctx = Context::open(t.path(), &t.path().join("Dockerfile")).unwrap();
        let stamps = ctx.stamps().expect("fresh");
        assert_eq!(stamps.len(), ctx.included.len());
        for (path, stamp) in ctx.included.iter().zip(stamps) {
            let want = Stamp::of(&std::fs::symlink_metadata(t.path().join(path)).unwrap());
            assert!(*stamp == Some(want), "{}", path.display());
        }
        ctx.walked = Instant::now().checked_sub(FRESH).unwrap();
        assert!(ctx.stamps().is_none());
    }
}
