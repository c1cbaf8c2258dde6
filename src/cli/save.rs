//! `rbuild save [-o FILE|-] [--format docker|oci] IMAGE...` and `rbuild load [-i FILE|-]`.

use super::images::{open_store, resolve};
use super::{Globals, UsageError};
use crate::archive::{self, Format};
use crate::reference::ImageRef;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
#[command(after_help = "\
The docker format (default) is what `docker save` writes since Docker 25: manifest.json and
repositories for `docker load`/`podman load`, plus an OCI layout over the same blobs. --format oci
writes the OCI layout only (`skopeo copy oci-archive:FILE:NAME …`). Blobs several images share are
written once.

Examples:
  rbuild save -o app.tar app:1.0 app:1.1
  rbuild save --format oci app:1.0 | gzip > app-oci.tar.gz")]
pub struct SaveArgs {
    /// Images: name[:tag], image ID or manifest digest
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
    /// Write to this file (`-`: standard output, the default when it is not a terminal)
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// docker (docker-archive, also an OCI layout) or oci
    #[arg(long, value_enum, default_value = "docker")]
    pub format: FormatArg,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum FormatArg {
    Docker,
    Oci,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Reads a docker-archive or an OCI archive, plain or compressed (gzip, zstd, bzip2, xz), verifies
every blob's digest and size, and only then adds the images with the names the archive gives.
A bad archive is refused as a whole: the store is left as it was.

Examples:
  rbuild load -i app.tar
  skopeo copy docker://alpine docker-archive:/dev/stdout:alpine:latest | rbuild load")]
pub struct LoadArgs {
    /// Read from this file (`-`: standard input, the default)
    #[arg(short, long, value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Print only the loaded image IDs
    #[arg(short, long)]
    pub quiet: bool,
}

pub fn save(g: &Globals, a: SaveArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(g)?;
    let mut images = Vec::new();
    for reference in &a.images {
        let image = resolve(&store, reference)?;
        // Saved by name: that name; by ID or digest: every name it has (docker does the same).
        let by_name = ImageRef::parse(reference).ok().filter(|r| r.digest().is_none()).map(|r| r.tagged_name());
        let names = match by_name.filter(|n| image.names.contains(n)) {
            Some(n) => vec![n],
            None => image.names.clone(),
        };
        images.push((image, names));
    }
    let format = match a.format {
        FormatArg::Docker => Format::Docker,
        FormatArg::Oci => Format::Oci,
    };
    match a.output.as_deref() {
        Some(path) if path.as_os_str() != "-" => {
            // Into a temp file beside the target, renamed at the end: a failed save leaves no half archive.
            let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
            let mut tmp = tempfile::NamedTempFile::new_in(dir)
                .map_err(|e| anyhow::anyhow!("cannot write in {}: {e}", dir.display()))?;
            archive::save(&store, &images, format, std::io::BufWriter::new(tmp.as_file_mut()))?;
            tmp.as_file().sync_all()?;
            tmp.persist(path).map_err(|e| anyhow::anyhow!("cannot write {}: {}", path.display(), e.error))?;
        }
        _ => {
            if a.output.is_none() && std::io::stdout().is_terminal() {
                return Err(
                    UsageError("refusing to write an archive to a terminal: use -o FILE or redirect".into()).into()
                );
            }
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            archive::save(&store, &images, format, &mut out)?;
            out.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn load(g: &Globals, a: LoadArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(g)?;
    let loaded = match a.input.as_deref() {
        Some(path) if path.as_os_str() != "-" => {
            let f = std::fs::File::open(path).map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
            archive::load(&store, f)?
        }
        _ => archive::load(&store, std::io::stdin().lock())?,
    };
    for l in loaded {
        if a.quiet || l.names.is_empty() {
            println!("Loaded image ID: {}", l.id);
        }
        if !a.quiet {
            for n in &l.names {
                println!("Loaded image: {n}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
