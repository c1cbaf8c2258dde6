//! `rbuild history [--no-trunc] [-q] [--format …] IMAGE`: an image's history, docker style.

use super::format::{Format, Headers};
use super::history_rows as history;
use super::images::{open_store, resolve};
use super::Globals;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
#[command(after_help = "\
SIZE is the layer as stored (compressed). Only the newest line shows the image ID: rbuild keeps no
intermediate images (docker shows <missing> for them too when an image was pulled).

Examples:
  rbuild history app:1.0
  rbuild history --no-trunc --format '{{.CreatedBy}}\\t{{.Size}}' app:1.0")]
pub struct HistoryArgs {
    /// Image: name[:tag], image ID or manifest digest
    pub image: String,
    /// Do not truncate CREATED BY and IDs
    #[arg(long)]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// `table` (default), `table TEMPLATE` (with headers), `json` (one object per line), or a template
    /// over .ID .CreatedAt .CreatedSince .CreatedBy .Size .Comment
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
}

/// Docker's default `history` table.
const TABLE: &str = r"table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";
const HEADERS: Headers = &[("ID", "IMAGE"), ("CreatedSince", "CREATED")];

pub fn run(g: &Globals, a: HistoryArgs) -> anyhow::Result<ExitCode> {
    let format = Format::parse(if a.quiet { Some("{{.ID}}") } else { a.format.as_deref() }, TABLE)?;
    let store = open_store(g)?;
    let image = resolve(&store, &a.image)?;
    let rows = history::rows(&image, chrono::Utc::now(), a.no_trunc);
    format.write(&mut std::io::stdout().lock(), &rows, HEADERS)?;
    Ok(ExitCode::SUCCESS)
}
