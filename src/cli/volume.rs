//! `rbuild volume create|ls|rm|inspect|prune`: docker's volume commands over the store's volumes
//! (`crate::container::volume`), with docker's output.

use super::{prune_opts, Globals};
use crate::container::volume::{VolumeError, Volumes};
use crate::store::Store;
use std::collections::BTreeMap;
use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum VolumeCommand {
    /// Create a volume (a random name when none is given)
    Create(CreateArgs),
    /// List volumes
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Remove volumes no container uses
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Show volumes as docker-style JSON
    Inspect(InspectArgs),
    /// Remove unused anonymous volumes (with -a, every unused volume)
    Prune(PruneArgs),
}

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// Set a label on the volume (K=V)
    #[arg(value_parser = super::text(), short = 'l', long = "label", value_name = "K=V")]
    pub labels: Vec<String>,
    #[arg(value_parser = super::text(), value_name = "NAME")]
    pub name: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct LsArgs {
    /// Only show volume names
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, clap::Args)]
pub struct RmArgs {
    /// Do not fail on a volume that does not exist
    #[arg(short, long)]
    pub force: bool,
    #[arg(value_parser = super::text(), required = true, value_name = "VOLUME")]
    pub volumes: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    #[arg(value_parser = super::text(), required = true, value_name = "VOLUME")]
    pub volumes: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    /// Remove every unused volume, named ones too
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
}

pub fn run(g: &Globals, c: VolumeCommand) -> anyhow::Result<ExitCode> {
    let store = Store::open(&g.root)?;
    let volumes = Volumes::new(&store);
    match c {
        VolumeCommand::Create(a) => {
            let labels: BTreeMap<String, String> = a
                .labels
                .iter()
                .map(|l| l.split_once('=').map_or((l.clone(), String::new()), |(k, v)| (k.into(), v.into())))
                .collect();
            let (v, _) = volumes.create(a.name.as_deref(), labels)?;
            println!("{}", v.name);
        }
        VolumeCommand::Ls(a) => {
            let all = volumes.list()?;
            if !a.quiet {
                println!("DRIVER    VOLUME NAME");
            }
            for v in all {
                if a.quiet {
                    println!("{}", v.name);
                } else {
                    println!("{:<10}{}", "local", v.name);
                }
            }
        }
        VolumeCommand::Rm(a) => {
            let mut failed = false;
            for name in &a.volumes {
                match volumes.remove(name) {
                    Ok(()) => println!("{name}"),
                    Err(VolumeError::NotFound(_)) if a.force => {}
                    Err(e) => {
                        eprintln!("error: {e}");
                        failed = true;
                    }
                }
            }
            return Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS });
        }
        VolumeCommand::Inspect(a) => {
            return super::inspect::inspect_each(&a.volumes, |name| volumes.get(name).map(|v| v.inspect()));
        }
        VolumeCommand::Prune(a) => {
            let what = if a.all { "all local volumes" } else { "anonymous local volumes" };
            if !prune_opts::confirm(a.force, &format!("This will remove {what} not used by at least one container.")) {
                return Ok(ExitCode::SUCCESS);
            }
            let (removed, bytes) = volumes.prune(a.all)?;
            print_pruned(&removed, bytes);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Docker's prune report: the names, then the space reclaimed.
pub(super) fn print_pruned(removed: &[String], bytes: u64) {
    if !removed.is_empty() {
        println!("Deleted Volumes:");
        for name in removed {
            println!("{name}");
        }
        println!();
    }
    println!("Total reclaimed space: {}", super::listing::human_size(bytes));
}
