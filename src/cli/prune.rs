//! `rbuild image prune` (and its short form `rbuild prune`): remove dangling images (manifests no name
//! refers to) or, with `-a`, every image no kept container uses; then collect what nothing uses any more
//! (blobs, snapshots). Kept step-cache records keep their layers: `builder prune` is for those.

use super::images::open_store;
use super::prune_opts::{self, Filter};
use super::{Globals, UsageError};
use crate::cli::listing::human_size;
use crate::store::{gc_roots, Locked};
use std::process::ExitCode;
use std::time::SystemTime;

#[derive(Debug, clap::Args)]
#[command(after_help = "\
A dangling image is one whose name moved to another image (`<none>:<none>` in `rbuild images`).
With -a, every image that no kept container uses goes, named or not (as docker's -a).
Images and blobs that a running build or container uses are kept (they hold a lease).
Asks for confirmation on a terminal unless -f is given.

Examples:
  rbuild image prune -f
  rbuild image prune -a --filter until=24h --filter label=stage=ci")]
pub struct PruneArgs {
    /// Remove every image no container uses, not just dangling ones
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// until=DURATION|TIME (created before), label=KEY[=VALUE], label!=KEY[=VALUE]
    #[arg(long, value_name = "FILTER", value_parser = Filter::parse)]
    pub filter: Vec<Filter>,
}

pub fn run(g: &Globals, a: PruneArgs) -> anyhow::Result<ExitCode> {
    let what =
        if a.all { "all images without at least one container associated to them" } else { "all dangling images" };
    if !prune_opts::confirm(a.force, &format!("This will remove {what}.")) {
        return Ok(ExitCode::SUCCESS);
    }
    let store = open_store(g)?;
    // One lock for deciding and deleting: a `tag` of a dangling image lands before (the image is named
    // and stays) or after (it finds the image gone), never in between.
    let locked = store.lock()?;
    let removed = remove_images(&locked, a.all, &a.filter)?;
    let report = locked.collect()?;
    drop(locked);
    println!(
        "{} {}image(s) removed, {} blob(s) deleted, {} snapshot(s) deleted, {} reclaimed",
        removed,
        if a.all { "" } else { "dangling " },
        report.removed.len(),
        report.snapshots,
        human_size(report.bytes)
    );
    if report.snapshots_in_use {
        println!("snapshots kept: a build or container is running (prune again when it is done)");
    }
    Ok(ExitCode::SUCCESS)
}

/// Remove the images `image prune` would, printing each; returns how many. The caller holds the lock
/// and collects garbage after.
pub fn remove_images(store: &Locked<'_>, all: bool, filters: &[Filter]) -> anyhow::Result<usize> {
    let in_containers = gc_roots::container_manifests(store)?;
    let in_use = store.in_use()?;
    let until = prune_opts::until_of(filters);
    let mut removed = 0;
    for image in store.list()? {
        // An image a running build or container uses (it holds a lease) is kept, as docker keeps those
        // of containers.
        if (!all && !image.names.is_empty())
            || in_containers.contains(&image.manifest_digest)
            || in_use.contains(&image.manifest_digest)
        {
            continue;
        }
        if let Some(until) = until {
            let created = image.created.as_deref().and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok());
            if created.is_none_or(|c| SystemTime::from(c) >= until) {
                continue;
            }
        }
        if !filters.iter().all(|f| f.labels_match(&image.labels)) {
            continue;
        }
        for name in store.remove_manifest(&image.manifest_digest)? {
            println!("untagged: {name}");
        }
        println!("deleted: {}", image.id);
        removed += 1;
    }
    Ok(removed)
}

/// Refuse `--filter` kinds a command does not support.
pub fn only_until(filters: &[Filter]) -> Result<(), UsageError> {
    match filters.iter().find(|f| !matches!(f, Filter::Until(_))) {
        Some(f) => Err(UsageError(format!("--filter {f:?}: only until=… is supported here"))),
        None => Ok(()),
    }
}
