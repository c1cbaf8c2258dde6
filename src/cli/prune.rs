//! `rbuild prune`: remove dangling images (manifests no name refers to), then every blob no image uses.

use super::images::open_store;
use super::Globals;
use crate::image::listing::human_size;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
#[command(after_help = "\
A dangling image is one whose name moved to another image (`<none>:<none>` in `rbuild images`).
Blobs that a running build is still writing are kept (builds hold a lease).

Example:
  rbuild prune")]
pub struct PruneArgs {}

pub fn run(g: &Globals, _a: PruneArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(g)?;
    // One lock for deciding and deleting: a `tag` of a dangling image lands before (the image is named
    // and stays) or after (it finds the image gone), never in between.
    let locked = store.lock()?;
    let dangling = locked.remove_dangling()?;
    for manifest in &dangling {
        // The blobs are still there until gc runs: show the image ID, as `images` does.
        let id = locked.load_image(manifest, Vec::new()).map(|i| i.config_digest.to_string());
        println!("deleted: {}", id.unwrap_or_else(|_| manifest.to_string()));
    }
    let report = locked.collect()?;
    drop(locked);
    println!(
        "{} dangling image(s) removed, {} blob(s) deleted, {} reclaimed",
        dangling.len(),
        report.removed.len(),
        human_size(report.bytes)
    );
    Ok(ExitCode::SUCCESS)
}
