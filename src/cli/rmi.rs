use super::Globals;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct RmiArgs {}

pub fn run(_g: &Globals, _a: RmiArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}
