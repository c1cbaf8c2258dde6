//! `rbuild cp`: copy files between a container and the host (see `crate::container::cp`), and the hidden
//! helper that holds a stopped container's filesystem mounted (`crate::container::view`).

use super::{Globals, UsageError};
use crate::container::cp::{copy_in, copy_out};
use crate::container::view::RootView;
use crate::container::Containers;
use crate::store::Store;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Copy files between a container and the host: CONTAINER:SRC DEST|- or SRC|- CONTAINER:DEST
#[derive(Debug, clap::Args)]
pub struct CpArgs {
    #[arg(value_parser = super::text(), value_name = "SRC")]
    pub src: String,
    #[arg(value_parser = super::text(), value_name = "DEST")]
    pub dest: String,
}

/// `CONTAINER:PATH` → (container, path); a host path is anything else (docker: a path with a `/` before
/// the first `:` is local).
fn split(arg: &str) -> Option<(&str, &str)> {
    let (c, p) = arg.split_once(':')?;
    (!c.is_empty() && !c.contains('/')).then_some((c, p))
}

pub fn run(g: &Globals, a: CpArgs) -> anyhow::Result<ExitCode> {
    let store = Store::open(&g.root)?;
    let containers = Containers::new(&store);
    match (split(&a.src), split(&a.dest)) {
        (Some((name, src)), None) => {
            let c = containers.find(name)?;
            let view = RootView::open(&store, &c)?;
            let dest = (a.dest != "-").then(|| PathBuf::from(&a.dest));
            copy_out(view.path(), name, src, dest.as_deref(), std::io::stdout().lock())?;
        }
        (None, Some((name, dest))) => {
            let c = containers.find(name)?;
            let view = RootView::open(&store, &c)?;
            let src = (a.src != "-").then(|| PathBuf::from(&a.src));
            copy_in(view.path(), src.as_deref(), dest, std::io::stdin().lock())?;
        }
        (Some(_), Some(_)) => return Err(UsageError("copying between containers is not supported".into()).into()),
        (None, None) => {
            return Err(UsageError("must specify at least one container source (CONTAINER:PATH)".into()).into())
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The hidden mount helper's arguments.
#[derive(Debug, clap::Args)]
pub struct MountArgs {
    pub parent: PathBuf,
    #[arg(value_parser = super::text())]
    pub options: String,
    pub mountpoint: PathBuf,
}

pub fn mount_helper(a: MountArgs) -> ExitCode {
    crate::container::view::mount_main(Path::new(&a.parent), &a.options, &a.mountpoint)
}
