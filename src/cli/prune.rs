//! `rbuild prune`: remove dangling images (manifests no name refers to), then every blob no image uses.

use super::images::open_store;
use super::Globals;
use crate::image::listing::human_size;
use crate::store::gc;
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
    let dangling: Vec<_> = store.list()?.into_iter().filter(|i| i.names.is_empty()).collect();
    for image in &dangling {
        store.remove_manifest(&image.manifest_digest)?;
        println!("deleted: {}", image.id);
    }
    let report = gc::collect(&store)?;
    println!(
        "{} dangling image(s) removed, {} blob(s) deleted, {} reclaimed",
        dangling.len(),
        report.removed.len(),
        human_size(report.bytes)
    );
    Ok(ExitCode::SUCCESS)
}
