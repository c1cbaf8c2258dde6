//! `rbuild system prune`: `image prune` and `builder prune` in one go, under one store lock.

use super::images::open_store;
use super::{builder, prune, prune_opts, Globals};
use crate::store::gc_cache::CachePolicy;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Removes stopped containers, networks no container uses, dangling images and build cache no image uses; with -a, every image no
container uses and all build cache; with --volumes, anonymous volumes no container uses (docker's
rule: named ones only go with `volume prune -a`). Asks on a terminal unless -f.

Example:
  rbuild system prune -a -f")]
pub struct SystemPruneArgs {
    /// Remove every image no container uses and all build cache
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// Also remove anonymous volumes no container uses
    #[arg(long)]
    pub volumes: bool,
}

pub fn run(g: &Globals, a: SystemPruneArgs) -> anyhow::Result<ExitCode> {
    let images =
        if a.all { "all images without at least one container associated to them" } else { "all dangling images" };
    let cache = if a.all { "all build cache" } else { "unused build cache" };
    let volumes = if a.volumes { "\n  - anonymous volumes not used by at least one container" } else { "" };
    let question = format!("This will remove:\n  - all stopped containers\n  - all networks not used by at least one container{volumes}\n  - {images}\n  - {cache}");
    if !prune_opts::confirm(a.force, &question) {
        return Ok(ExitCode::SUCCESS);
    }
    let store = open_store(g)?;
    // Containers first, outside the store lock (removing one takes it): their images become prunable.
    let (containers, _) = super::container::remove_stopped(&store)?;
    // Networks then: those only the removed containers named are unused now.
    let networks = crate::container::networks::Networks::new(&store).prune()?;
    // Volumes next, now that the removed containers no longer use them (each removal takes the lock).
    let volumes = if a.volumes { Some(crate::container::volume::Volumes::new(&store).prune(false)?) } else { None };
    let locked = store.lock()?;
    let removed = prune::remove_images(&locked, a.all, &[])?;
    let report = locked.prune_cache(&CachePolicy { all: a.all, ..CachePolicy::default() })?;
    drop(locked);
    println!("{} container(s) removed", containers.len());
    super::network::print_pruned(&networks);
    if let Some((names, bytes)) = volumes {
        super::volume::print_pruned(&names, bytes);
    }
    println!("{removed} image(s) removed");
    builder::print_report(&report);
    Ok(ExitCode::SUCCESS)
}
