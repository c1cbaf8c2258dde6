//! `rbuild system`: commands about the store as a whole. `check` audits it read-only (see
//! `store::check` and `snapshot::verify`); the crash harness (`scripts/crash`) runs the same check.

use super::Globals;
use crate::snapshot;
use crate::store::{check, Store};
use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum SystemCommand {
    /// Check the store: blob digests, references, snapshots, debris of dead processes, leaked mounts, permissions
    #[command(after_help = "\
Read-only unless --repair: prints one line per problem and exits 1 when there is any, 0 when
the store is consistent. Every blob is hashed, so this reads the whole store.
Every snapshot (an unpacked layer) is compared with its layer, file by file.
--repair removes only what is provably broken (corrupt blobs, step cache records naming missing
blobs, names pointing at missing manifests, snapshots that differ from their layer (they are
unpacked again when needed), debris of dead processes), says what it removed,
then checks again; what is left needs a person (e.g. `rbuild rmi` of an incomplete image).

Example:
  rbuild system check --repair")]
    Check {
        /// Remove what is provably broken, then check again
        #[arg(long)]
        repair: bool,
    },
    /// Show disk usage: images, snapshots, build cache, cache mounts, containers
    Df(super::system_df::DfArgs),
    /// Remove dangling images and unused build cache (-a: all unused images and all build cache)
    Prune(super::system_prune::SystemPruneArgs),
}

pub fn run(g: &Globals, c: SystemCommand) -> anyhow::Result<ExitCode> {
    match c {
        SystemCommand::Check { repair } => {
            let store = Store::at(&g.root)?;
            if repair {
                let locked = store.lock()?;
                let mut removed = locked.repair()?.removed;
                removed.extend(snapshot::verify::repair(&locked)?);
                for line in removed {
                    println!("removed: {line}");
                }
            }
            let report = check::check(&store)?;
            let snapshots = snapshot::verify::verify(&store)?;
            for p in &report.problems {
                println!("{p}");
            }
            for s in &snapshots {
                println!("{s}");
            }
            let problems = report.problems.len() + snapshots.len();
            println!(
                "{}: {} blob(s), {} manifest(s) checked, {problems} problem(s)",
                g.root.display(),
                report.blobs,
                report.manifests,
            );
            Ok(if problems == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        SystemCommand::Prune(a) => super::system_prune::run(g, a),
        SystemCommand::Df(a) => super::system_df::run(g, a),
    }
}
