//! `--build-context NAME=DIR|docker-image://REF`: extra named contexts. `FROM NAME`, `COPY --from=NAME`
//! and `RUN --mount from=NAME` resolve to them before stages and images of that name (BuildKit's
//! precedence): a stage a named context replaces is not built for those references.
//! - a directory is read like the main context (its own `.dockerignore` applies; its key is the digest of
//!   what the walk kept); it can be copied and mounted from, but not be a FROM base;
//! - `docker-image://REF` is that image, from the store or its registry (as `--pull` says).

use super::context::{Context, ContextError};
use crate::plan::{Base, Plan, PlanError};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum NamedError {
    #[error("malformed --build-context {0:?}: expected NAME=DIR or NAME=docker-image://REF")]
    Malformed(String),
    #[error(
        "--build-context {name}={value}: {what} sources are not supported: give a directory or docker-image://REF"
    )]
    Unsupported { name: String, value: String, what: String },
    #[error("--build-context {name}={path}: {source}")]
    Dir { name: String, path: String, source: Box<ContextError> },
    #[error("--build-context {name}={path}: not a directory")]
    NotDir { name: String, path: String },
}

#[derive(Debug, Clone)]
pub enum NamedContext {
    /// A directory and the relative paths its `.dockerignore` keeps.
    Dir { root: PathBuf, included: BTreeSet<PathBuf> },
    /// An image reference.
    Image(String),
}

/// Named contexts by name (as given; matched like stage names, ignoring case).
#[derive(Debug, Clone, Default)]
pub struct NamedContexts(BTreeMap<String, NamedContext>);

impl NamedContexts {
    /// Parse the `--build-context` words, walking each directory once.
    pub fn parse(words: &[String]) -> Result<NamedContexts, NamedError> {
        let mut out = BTreeMap::new();
        for w in words {
            let (name, value) = w
                .split_once('=')
                .filter(|(n, v)| !n.is_empty() && !v.is_empty())
                .ok_or_else(|| NamedError::Malformed(w.clone()))?;
            let context = if let Some(reference) = value.strip_prefix("docker-image://") {
                NamedContext::Image(reference.to_string())
            } else if let Some((scheme, _)) = value.split_once("://") {
                return Err(NamedError::Unsupported { name: name.into(), value: value.into(), what: scheme.into() });
            } else {
                let path = PathBuf::from(value);
                if !path.is_dir() {
                    return Err(NamedError::NotDir { name: name.into(), path: value.into() });
                }
                let ctx = Context::open(&path, &path.join("Dockerfile")).map_err(|e| NamedError::Dir {
                    name: name.into(),
                    path: value.into(),
                    source: Box::new(e),
                })?;
                NamedContext::Dir { root: ctx.root, included: ctx.included }
            };
            out.insert(name.to_ascii_lowercase(), context);
        }
        Ok(NamedContexts(out))
    }

    pub fn get(&self, name: &str) -> Option<&NamedContext> {
        self.0.get(&name.to_ascii_lowercase())
    }

    /// Point every FROM that names a context at it, and drop the edges to stages a context replaces.
    pub fn rebase(&self, plan: &mut Plan) -> Result<(), PlanError> {
        if self.0.is_empty() {
            return Ok(());
        }
        let replaced: Vec<bool> =
            plan.stages.iter().map(|s| s.name.as_deref().is_some_and(|n| self.get(n).is_some())).collect();
        let names: Vec<Option<String>> = plan.stages.iter().map(|s| s.name.clone()).collect();
        for stage in &mut plan.stages {
            let named = match &stage.base {
                Base::Image(name) => Some(name.clone()),
                Base::Stage(i) => names[*i].clone(),
                Base::Scratch => None,
            };
            match named.as_deref().and_then(|n| self.get(n)) {
                Some(NamedContext::Image(reference)) => stage.base = Base::Image(reference.clone()),
                Some(NamedContext::Dir { .. }) => {
                    return Err(PlanError {
                        location: stage.location,
                        message: format!(
                            "FROM {}: a directory build context cannot be a base image: COPY --from it instead",
                            named.unwrap_or_default()
                        ),
                    })
                }
                None => {}
            }
            stage.deps.retain(|d| !replaced[d.stage]);
        }
        Ok(())
    }
}
