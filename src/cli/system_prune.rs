//! `rbuild system prune`: `image prune` and `builder prune` in one go, under one store lock.

use super::images::open_store;
use super::{builder, prune, prune_opts, Globals};
use crate::store::gc_cache::CachePolicy;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Removes stopped containers, dangling images and build cache no image uses; with -a, every image no
container uses and all build cache. rbuild has no named volumes yet: --volumes is accepted for
docker's sake and removes nothing more. Asks on a terminal unless -f.

Example:
  rbuild system prune -a -f")]
pub struct SystemPruneArgs {
    /// Remove every image no container uses and all build cache
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// Also prune volumes (rbuild keeps none)
    #[arg(long)]
    pub volumes: bool,
}

pub fn run(g: &Globals, a: SystemPruneArgs) -> anyhow::Result<ExitCode> {
    let images =
        if a.all { "all images without at least one container associated to them" } else { "all dangling images" };
    let cache = if a.all { "all build cache" } else { "unused build cache" };
    let question = format!("This will remove:\n  - all stopped containers\n  - {images}\n  - {cache}");
    if !prune_opts::confirm(a.force, &question) {
        return Ok(ExitCode::SUCCESS);
    }
    let store = open_store(g)?;
    // Containers first, outside the store lock (removing one takes it): their images become prunable.
    let (containers, _) = super::container::remove_stopped(&store)?;
    let locked = store.lock()?;
    let removed = prune::remove_images(&locked, a.all, &[])?;
    let report = locked.prune_cache(&CachePolicy { all: a.all, ..CachePolicy::default() })?;
    drop(locked);
    println!("{} container(s) removed", containers.len());
    println!("{removed} image(s) removed");
    builder::print_report(&report);
    Ok(ExitCode::SUCCESS)
}
