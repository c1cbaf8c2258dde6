//! `rbuild import`: a rootfs tarball becomes a one-layer image, with docker's `--change` instructions applied by
//! the same code a build uses for them (`engine::metadata`) and `--message` as the history comment.

use super::images::open_store;
use super::{Globals, UsageError};
use crate::dockerfile;
use crate::dockerfile::instructions::{self, Command};
use crate::engine::metadata;
use crate::image::state::{HistoryEntry, ImageState};
use crate::image::{self, ImageRef};
use crate::layer::{self, Compression, LayerOptions};
use crate::registry::Platform;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::PathBuf;
use std::process::ExitCode;

/// Turn a rootfs tarball into a one-layer image.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
The tarball (plain, gzip or zstd; - reads stdin) is stored as the layer exactly as given:
entry order and metadata untouched, so the layer's diff_id is the sha256 of the uncompressed
input; it is then compressed with gzip (or zstd). It is only checked to be a well-formed tar
here; unsafe entries are refused when the image is extracted. The config has no default Env
(no PATH), like docker import: add one with --change 'ENV PATH=...'. The creation time is
now, or SOURCE_DATE_EPOCH when that is set.")]
pub struct ImportArgs {
    /// Rootfs tarball, or - for stdin
    pub file: PathBuf,
    /// Name for the image, name[:tag] (none: an unnamed image)
    #[arg(value_parser = super::text())]
    pub reference: Option<String>,
    /// Apply a Dockerfile instruction: CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD,
    /// STOPSIGNAL, USER, VOLUME or WORKDIR (repeatable, applied in order)
    #[arg(value_parser = super::text(), short, long = "change", value_name = "INSTRUCTION")]
    pub changes: Vec<String>,
    /// Commit message (the history entry's comment)
    #[arg(value_parser = super::text(), short, long)]
    pub message: Option<String>,
    /// The image's platform, os/arch[/variant] (default: the host's)
    #[arg(value_parser = super::text(), long, value_name = "PLATFORM")]
    pub platform: Option<String>,
    /// Compress the layer with zstd instead of gzip
    #[arg(long)]
    pub zstd: bool,
}

pub fn run(g: &Globals, a: ImportArgs) -> anyhow::Result<ExitCode> {
    let tags = match &a.reference {
        Some(r) => vec![ImageRef::parse(r).map_err(|e| UsageError(e.to_string()))?],
        None => Vec::new(),
    };
    if tags.iter().any(|t| t.digest().is_some()) {
        return Err(UsageError("an imported image cannot be named with a digest".into()).into());
    }
    let platform = super::pull::parse_platform(a.platform.as_deref())?.unwrap_or_else(Platform::host);
    let mut state = ImageState::scratch(&platform.os, &platform.arch, platform.variant.as_deref());
    for change in &a.changes {
        apply_change(&mut state, change).map_err(|e| UsageError(format!("--change {change:?}: {e}")))?;
    }
    let epoch = super::source_date_epoch(None)?;
    let store = open_store(g)?;
    let shown = a.file.display();
    let input: Box<dyn Read> = if a.file.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(File::open(&a.file).map_err(|e| anyhow::anyhow!("cannot open {shown}: {e}"))?)
    };
    // Keeps the layer, config and manifest from a concurrent prune until the image is in the index.
    let _lease = store.lease()?;
    // A tarball that expands without bound would make a layer that fills the disk when extracted.
    let limits = layer::ArchiveLimits::from_env().map_err(|e| UsageError(e.to_string()))?;
    let tar = limits.bound(BufReader::new(input), layer::decompress)?;
    let compression = if a.zstd { Compression::Zstd } else { Compression::Gzip };
    let opts = LayerOptions { compression, source_date_epoch: epoch };
    let layer = layer::ingest_tar(&store, tar, &opts).map_err(|e| anyhow::anyhow!("importing {shown}: {e}"))?;
    let created = image::timestamp(epoch)?;
    state.created = Some(created.clone());
    state.diff_ids.push(layer.diff_id.clone());
    // Docker's text: its CLI streams a file to the daemon, which records "-". Naming the host path would
    // make the image digest depend on where the tarball happened to be.
    let comment = a.message.clone().unwrap_or_else(|| "Imported from -".to_string());
    state.history.push(HistoryEntry {
        created,
        created_by: String::new(),
        comment: Some(comment),
        author: None,
        empty_layer: false,
    });
    let (image_id, _) = image::commit(&store, &state, &[layer.descriptor], &tags)?;
    println!("{image_id}");
    Ok(ExitCode::SUCCESS)
}

/// The instructions `--change` accepts, as docker's `import` and `commit` do.
const CHANGES: &str = "CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR";

/// One `--change`: a Dockerfile metadata instruction, parsed and applied exactly as a build would.
pub(super) fn apply_change(state: &mut ImageState, change: &str) -> Result<(), String> {
    let parsed = dockerfile::parse(change).map_err(|e| e.message)?;
    let [ins] = parsed.instructions.as_slice() else {
        return Err("give exactly one instruction per --change".into());
    };
    let command = instructions::lower_command(ins).map_err(|e| e.message)?;
    // Docker's list (validCommitCommands): SHELL and MAINTAINER are Dockerfile-only, and the
    // instructions that run or copy need a build.
    if !matches!(
        command,
        Command::Cmd(_)
            | Command::Entrypoint(_)
            | Command::Env(_)
            | Command::Expose(_)
            | Command::Healthcheck(_)
            | Command::Label(_)
            | Command::Onbuild(_)
            | Command::StopSignal(_)
            | Command::User(_)
            | Command::Volume(_)
            | Command::Workdir(_)
    ) {
        return Err(format!("{} is not a valid change command (accepted: {CHANGES})", ins.keyword.to_uppercase()));
    }
    let expander = crate::dockerfile::expand::Expander::new(parsed.directives.escape);
    let mut cmd_set = state.config.cmd.is_some();
    metadata::apply(state, &mut cmd_set, &command, &expander, &crate::plan::Scope::default())
}
