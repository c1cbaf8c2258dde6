//! `rbuild image …`: the image command group (docker's `docker image`). Only `prune` lives here so far;
//! the other image commands are top-level (`images`, `rmi`, `tag`, …).

use super::{prune, Globals};
use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum ImageCommand {
    /// Remove dangling images (-a: every image no container uses) and what nothing uses any more
    Prune(prune::PruneArgs),
}

pub fn run(g: &Globals, c: ImageCommand) -> anyhow::Result<ExitCode> {
    match c {
        ImageCommand::Prune(a) => prune::run(g, a),
    }
}
