use super::Globals;
use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum ContextCommand {
    /// List the files a build would send, after .dockerignore rules
    Ls {},
}

pub fn run(_g: &Globals, _a: ContextCommand) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}
