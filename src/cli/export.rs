//! `rbuild export IMAGE [-o FILE|-]`: an image's flattened filesystem as a tar (see `archive::export`).

use super::images::open_store;
use super::{Globals, UsageError};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
#[command(after_help = "\
The layers are applied in order with their whiteouts, as `docker export` gives for a container
(and as `umoci unpack` lays out a rootfs). `rbuild import` turns such a tar back into an image.

Examples:
  rbuild export app:1.0 -o rootfs.tar
  rbuild export app:1.0 | tar -t")]
pub struct ExportArgs {
    /// Image: name[:tag], image ID or manifest digest
    pub image: String,
    /// Write to this file (`-`: standard output, the default when it is not a terminal)
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub fn run(g: &Globals, a: ExportArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(g)?;
    // Leased: an rmi + prune meanwhile cannot take the layers away half way through.
    let mut lease = store.lease()?;
    let image = store.lock()?.resolve_leased(&a.image, &mut lease).map_err(|e| match e {
        crate::store::StoreError::Reference(r) => anyhow::Error::new(UsageError(r.to_string())),
        other => other.into(),
    })?;
    match a.output.as_deref() {
        Some(path) if path.as_os_str() != "-" => {
            let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
            let mut tmp = tempfile::NamedTempFile::new_in(dir)
                .map_err(|e| anyhow::anyhow!("cannot write in {}: {e}", dir.display()))?;
            crate::archive::export(&store, &image, std::io::BufWriter::new(tmp.as_file_mut()))?;
            tmp.as_file().sync_all()?;
            tmp.persist(path).map_err(|e| anyhow::anyhow!("cannot write {}: {}", path.display(), e.error))?;
        }
        _ => {
            if a.output.is_none() && std::io::stdout().is_terminal() {
                return Err(UsageError("refusing to write a tar to a terminal: use -o FILE or redirect".into()).into());
            }
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            crate::archive::export(&store, &image, &mut out)?;
            out.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
