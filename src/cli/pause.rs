//! `rbuild pause` / `unpause`: freeze and thaw containers (see `crate::container::pause`).

use super::container_stop::for_each;
use super::Globals;
use crate::container::{pause, Containers};
use crate::store::Store;
use std::process::ExitCode;

/// Pause (or unpause) all processes within one or more containers
#[derive(Debug, clap::Args)]
pub struct PauseArgs {
    /// Containers: name, full id or unique id prefix
    #[arg(value_parser = super::text(), required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

pub fn pause(g: &Globals, a: PauseArgs) -> anyhow::Result<ExitCode> {
    each(g, a, pause::pause)
}

pub fn unpause(g: &Globals, a: PauseArgs) -> anyhow::Result<ExitCode> {
    each(g, a, pause::unpause)
}

fn each(
    g: &Globals,
    a: PauseArgs,
    f: fn(&mut crate::container::Container) -> Result<(), crate::container::ContainerError>,
) -> anyhow::Result<ExitCode> {
    let store = Store::open(&g.root)?;
    Ok(for_each(&a.containers, |q| {
        f(&mut Containers::new(&store).find(q)?)?;
        println!("{q}");
        Ok(())
    }))
}
