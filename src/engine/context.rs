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
    #[error("build context {root:?}: cannot make it an absolute path: {source}")]
    Absolute { root: PathBuf, source: std::io::Error },
}

pub struct Context {
    pub root: PathBuf,
    /// Relative slash paths (any bytes) of every file, dir and symlink the build may read.
    pub included: BTreeSet<PathBuf>,
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
        let included = walk(root, &matcher)?.into_iter().map(|e| e.path).collect();
        Ok(Context { root: root.to_path_buf(), included })
    }
}
