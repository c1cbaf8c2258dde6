//! `rbuild diff CONTAINER`: docker's A/C/D listing of what a container changed (see
//! `crate::container::changes`).

use super::Globals;
use crate::container::changes::diff;
use crate::container::Containers;
use crate::store::Store;
use std::io::Write;
use std::process::ExitCode;

/// Inspect changes to files or directories on a container's filesystem
#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// The container: name, full id or unique id prefix
    #[arg(value_parser = super::text(), value_name = "CONTAINER")]
    pub container: String,
}

pub fn run(g: &Globals, a: DiffArgs) -> anyhow::Result<ExitCode> {
    let store = Store::open(&g.root)?;
    let c = Containers::new(&store).find(&a.container)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for (kind, path) in diff(&store, &c)? {
        writeln!(out, "{} {path}", kind.letter())?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
