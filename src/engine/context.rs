//! The build's view of its context: the context root and the set of paths the walk kept after the
//! .dockerignore rules. COPY reads only paths in this set, so an ignored file is as absent as a missing one.

use crate::context::{walk, IgnoreFile, IgnoreFileError, WalkError};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error(transparent)]
    Ignore(#[from] IgnoreFileError),
    #[error(transparent)]
    Walk(#[from] WalkError),
}

pub struct Context {
    pub root: PathBuf,
    /// Relative slash paths (any bytes) of every file, dir and symlink the build may read.
    pub included: BTreeSet<PathBuf>,
}

impl Context {
    /// Walk `root` with the ignore file that applies to `dockerfile`.
    pub fn open(root: &Path, dockerfile: &Path) -> Result<Context, ContextError> {
        let ignore = IgnoreFile::load(root, dockerfile)?;
        let matcher = ignore.matcher()?;
        let included = walk(root, &matcher)?.into_iter().map(|e| e.path).collect();
        Ok(Context { root: root.to_path_buf(), included })
    }
}
