//! `rbuild builder prune`: drop build cache (step-cache records, image times, context digests, cache
//! mounts), least recently used first, then collect the blobs and snapshots nothing uses any more.

use super::images::open_store;
use super::prune_opts::{self, Filter};
use super::Globals;
use crate::cli::listing::human_size;
use crate::store::gc_cache::{CachePolicy, CacheReport};
use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum BuilderCommand {
    /// Remove build cache
    #[command(after_help = "\
Without -a, only cache records whose layer no image uses (and broken ones) go; with -a, all build
cache (records, cache mounts, context digests). --keep-storage removes the least recently used
records and mounts until the build cache takes at most SIZE (binary units: 100MB is 100 MiB).
Cache mounts are kept while a build or container runs. Asks on a terminal unless -f is given.

Examples:
  rbuild builder prune -f
  rbuild builder prune --keep-storage 10GB
  rbuild builder prune -a --filter until=72h")]
    Prune(BuilderPruneArgs),
}

#[derive(Debug, clap::Args)]
pub struct BuilderPruneArgs {
    /// Remove all build cache, not just what no image uses
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// Keep at most this much build cache (least recently used goes first)
    #[arg(long, value_name = "SIZE", value_parser = prune_opts::size)]
    pub keep_storage: Option<u64>,
    /// until=DURATION|TIME: only cache last used before then
    #[arg(long, value_name = "FILTER", value_parser = Filter::parse)]
    pub filter: Vec<Filter>,
}

pub fn run(g: &Globals, c: BuilderCommand) -> anyhow::Result<ExitCode> {
    let BuilderCommand::Prune(a) = c;
    super::prune::only_until(&a.filter)?;
    if !prune_opts::confirm(a.force, "This will remove all dangling build cache.") {
        return Ok(ExitCode::SUCCESS);
    }
    let store = open_store(g)?;
    let policy = CachePolicy { all: a.all, keep_storage: a.keep_storage, until: prune_opts::until_of(&a.filter) };
    let report = store.lock()?.prune_cache(&policy)?;
    print_report(&report);
    Ok(ExitCode::SUCCESS)
}

/// The `gc.keep-storage` policy after a build. The image is built by then: a failure here is a warning.
pub fn auto_gc(store: &crate::store::Store, quiet: bool) {
    match crate::store::gc_cache::auto(store) {
        Ok(Some(r)) if !quiet => eprintln!(
            "gc.keep-storage: {} cache record(s), {} blob(s), {} snapshot(s) deleted, {} reclaimed",
            r.records,
            r.gc.removed.len(),
            r.gc.snapshots,
            human_size(r.reclaimed())
        ),
        Ok(_) => {}
        Err(e) => eprintln!("warning: automatic build cache gc: {e}"),
    }
}

pub fn print_report(r: &CacheReport) {
    println!(
        "build cache: {} record(s), {} cache mount(s), {} blob(s), {} snapshot(s) deleted, {} reclaimed",
        r.records,
        r.mounts,
        r.gc.removed.len(),
        r.gc.snapshots,
        human_size(r.reclaimed())
    );
    if r.mounts_in_use || r.gc.snapshots_in_use {
        println!("cache mounts and snapshots kept: a build or container is running (prune again when it is done)");
    }
}
