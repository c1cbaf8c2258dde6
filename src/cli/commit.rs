//! `rbuild commit`: a container's changes become a new image (see `crate::container::changes`); its
//! `--change` instructions are applied by `import`'s code.

use super::{Globals, UsageError};
use crate::container::changes::{commit, CommitOptions};
use crate::container::Containers;
use crate::image::ImageRef;
use crate::store::Store;
use std::process::ExitCode;

/// Create a new image from a container's changes
#[derive(Debug, clap::Args)]
pub struct CommitArgs {
    /// Apply a Dockerfile instruction to the image config: CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK,
    /// LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME or WORKDIR (repeatable, applied in order)
    #[arg(value_parser = super::text(), short = 'c', long = "change", value_name = "INSTRUCTION")]
    pub changes: Vec<String>,
    /// Commit message
    #[arg(value_parser = super::text(), short, long)]
    pub message: Option<String>,
    /// Author (e.g. "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(value_parser = super::text(), short, long)]
    pub author: Option<String>,
    /// The container: name, full id or unique id prefix
    #[arg(value_parser = super::text(), value_name = "CONTAINER")]
    pub container: String,
    /// Name for the image, name[:tag] (none: an unnamed image)
    #[arg(value_parser = super::text(), value_name = "IMAGE[:TAG]")]
    pub reference: Option<String>,
}

pub fn run(g: &Globals, a: CommitArgs) -> anyhow::Result<ExitCode> {
    let tags = match &a.reference {
        Some(r) => vec![ImageRef::parse(r).map_err(|e| UsageError(e.to_string()))?],
        None => Vec::new(),
    };
    if tags.iter().any(|t| t.digest().is_some()) {
        return Err(UsageError("a committed image cannot be named with a digest".into()).into());
    }
    let store = Store::open(&g.root)?;
    let c = Containers::new(&store).find(&a.container)?;
    let mut edit = |state: &mut crate::image::state::ImageState| {
        for change in &a.changes {
            super::import::apply_change(state, change).map_err(|e| format!("{change:?}: {e}"))?;
        }
        Ok(())
    };
    let opts = CommitOptions { message: a.message.clone(), author: a.author.clone(), edit: &mut edit, tags };
    let id = commit(&store, &c, opts)?;
    println!("{id}");
    Ok(ExitCode::SUCCESS)
}
