use super::Globals;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct TagArgs {}

pub fn run(_g: &Globals, _a: TagArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}
