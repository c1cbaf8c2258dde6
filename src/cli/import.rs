use super::Globals;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct ImportArgs {}

pub fn run(_g: &Globals, _a: ImportArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}
