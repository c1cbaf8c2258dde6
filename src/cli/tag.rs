use super::images::{open_store, resolve};
use super::{Globals, UsageError};
use crate::reference::ImageRef;
use std::process::ExitCode;

/// Give an image another name: `rbuild tag SOURCE TARGET[:TAG]`. A name already pointing elsewhere moves.
#[derive(Debug, clap::Args)]
pub struct TagArgs {
    /// Existing image: name[:tag], image ID (full or at least 4 hex digits), or manifest digest
    #[arg(value_parser = super::text())]
    pub source: String,
    /// New name[:tag]
    #[arg(value_parser = super::text())]
    pub target: String,
}

pub fn run(g: &Globals, a: TagArgs) -> anyhow::Result<ExitCode> {
    let target = ImageRef::parse(&a.target).map_err(|e| UsageError(e.to_string()))?;
    if target.digest().is_some() {
        return Err(UsageError(format!("cannot tag with a digest: {}", a.target)).into());
    }
    let store = open_store(g)?;
    // Resolved and named under one lock, so an rmi or prune cannot remove the image in between.
    let locked = store.lock()?;
    let image = resolve(&locked, &a.source)?;
    // A multi-platform image's new name names its index too, not only the host's image.
    locked.tag(&locked.index_named(&a.source)?.unwrap_or(image.manifest_digest), &target)?;
    Ok(ExitCode::SUCCESS)
}
