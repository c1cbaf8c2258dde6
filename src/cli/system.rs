//! `rbuild system`: commands about the store as a whole. `check` audits it read-only (see
//! `store::check`); the crash harness (`scripts/crash`) runs the same check.

use super::Globals;
use crate::store::{check, Store};
use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum SystemCommand {
    /// Check the store: blob digests, references, debris of dead processes, leaked mounts, permissions
    #[command(after_help = "\
Read-only: nothing is changed or repaired. Prints one line per problem and exits 1 when there is
any, 0 when the store is consistent. Every blob is hashed, so this reads the whole store.

Example:
  rbuild system check")]
    Check,
    /// Show disk usage: images, snapshots, build cache, cache mounts, containers
    Df(super::system_df::DfArgs),
    /// Remove dangling images and unused build cache (-a: all unused images and all build cache)
    Prune(super::system_prune::SystemPruneArgs),
}

pub fn run(g: &Globals, c: SystemCommand) -> anyhow::Result<ExitCode> {
    match c {
        SystemCommand::Check => {
            let store = Store::at(&g.root)?;
            let report = check::check(&store)?;
            for p in &report.problems {
                println!("{p}");
            }
            println!(
                "{}: {} blob(s), {} manifest(s) checked, {} problem(s)",
                g.root.display(),
                report.blobs,
                report.manifests,
                report.problems.len()
            );
            Ok(if report.problems.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        SystemCommand::Prune(a) => super::system_prune::run(g, a),
        SystemCommand::Df(a) => super::system_df::run(g, a),
    }
}
