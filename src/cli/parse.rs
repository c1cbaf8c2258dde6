use super::Globals;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct ParseArgs {}

pub fn run(_g: &Globals, _a: ParseArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}
