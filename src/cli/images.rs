use super::Globals;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct ImagesArgs {}

pub fn run(_g: &Globals, _a: ImagesArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}
