//! `rbuild top CONTAINER`: the container's processes as `ps -ef` shows them (see `crate::container::top`).

use super::Globals;
use crate::container::top::{top, TITLES};
use crate::container::Containers;
use crate::store::Store;
use std::io::Write;
use std::process::ExitCode;

/// Display the running processes of a container
#[derive(Debug, clap::Args)]
pub struct TopArgs {
    /// The container: name, full id or unique id prefix
    #[arg(value_parser = super::text(), value_name = "CONTAINER")]
    pub container: String,
}

pub fn run(g: &Globals, a: TopArgs) -> anyhow::Result<ExitCode> {
    let store = Store::open(&g.root)?;
    let c = Containers::new(&store).find(&a.container)?;
    let mut text = TITLES.join("\t");
    text.push('\n');
    for row in top(&c)? {
        text.push_str(&row.join("\t"));
        text.push('\n');
    }
    let mut out = std::io::stdout().lock();
    out.write_all(super::format::tabwriter(&text).as_bytes())?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
