//! `rbuild export CONTAINER|IMAGE [-o FILE|-]`: a container's filesystem (docker's `export`, see
//! `container::changes::export`; containers are looked up first, as `inspect` does) or an image's
//! flattened filesystem (see `archive::export`) as a tar.

use super::images::open_store;
use super::{Globals, UsageError};
use crate::container::{ContainerError, Containers};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
#[command(after_help = "\
The layers are applied in order with their whiteouts, as `docker export` gives for a container
(and as `umoci unpack` lays out a rootfs). `rbuild import` turns such a tar back into an image.

Examples:
  rbuild export app:1.0 -o rootfs.tar
  rbuild export app:1.0 | tar -t")]
pub struct ExportArgs {
    /// Container (name, id or id prefix), else image: name[:tag], image ID or manifest digest
    pub image: String,
    /// Write to this file (`-`: standard output, the default when it is not a terminal)
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub fn run(g: &Globals, a: ExportArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(g)?;
    match Containers::new(&store).find(&a.image) {
        Ok(c) => return write_out(a.output.as_deref(), |w| Ok(crate::container::changes::export(&store, &c, w)?)),
        Err(ContainerError::NotFound(_)) => {}
        Err(e) => return Err(e.into()),
    }
    // Leased: an rmi + prune meanwhile cannot take the layers away half way through.
    let mut lease = store.lease()?;
    let image = store.lock()?.resolve_leased(&a.image, &mut lease).map_err(|e| match e {
        crate::store::StoreError::Reference(r) => anyhow::Error::new(UsageError(r.to_string())),
        other => other.into(),
    })?;
    write_out(a.output.as_deref(), |w| Ok(crate::archive::export(&store, &image, w)?))
}

/// Write the tar made by `write` to `output` (atomically: a temp file beside it, renamed), or to stdout
/// (`-`, or no `-o` when stdout is not a terminal).
fn write_out(
    output: Option<&Path>,
    write: impl FnOnce(&mut dyn Write) -> anyhow::Result<()>,
) -> anyhow::Result<ExitCode> {
    match output {
        Some(path) if path.as_os_str() != "-" => {
            let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            let mut tmp = tempfile::NamedTempFile::new_in(dir)
                .map_err(|e| anyhow::anyhow!("cannot write in {}: {e}", dir.display()))?;
            let mut out = std::io::BufWriter::new(tmp.as_file_mut());
            write(&mut out)?;
            out.flush()?;
            drop(out);
            tmp.as_file().sync_all()?;
            tmp.persist(path).map_err(|e| anyhow::anyhow!("cannot write {}: {}", path.display(), e.error))?;
        }
        _ => {
            if output.is_none() && std::io::stdout().is_terminal() {
                return Err(UsageError("refusing to write a tar to a terminal: use -o FILE or redirect".into()).into());
            }
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            write(&mut out)?;
            out.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
