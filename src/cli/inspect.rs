use super::Globals;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct InspectArgs {}

pub fn run(_g: &Globals, _a: InspectArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}
