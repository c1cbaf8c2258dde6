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
    /// Pause the container during commit (docker's default; --pause=false to keep it running)
    #[arg(short, long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1,
          default_missing_value = "true", value_name = "BOOL")]
    pub pause: bool,
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
    let mut c = Containers::new(&store).find(&a.container)?;
    // Frozen meanwhile, so the layer is one consistent moment of its files.
    let paused = a.pause && c.state.status == crate::container::Status::Running && c.is_running();
    if paused {
        crate::container::pause::pause(&mut c)?;
    }
    let mut edit = |state: &mut crate::image::state::ImageState| {
        for change in &a.changes {
            super::import::apply_change(state, change).map_err(|e| format!("{change:?}: {e}"))?;
        }
        Ok(())
    };
    let opts = CommitOptions { message: a.message.clone(), author: a.author.clone(), edit: &mut edit, tags };
    let result = commit(&store, &c, opts);
    if paused {
        crate::container::pause::unpause(&mut c)?;
    }
    let id = result?;
    println!("{id}");
    Ok(ExitCode::SUCCESS)
}
