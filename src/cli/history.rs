//! `rbuild history [--no-trunc] [-q] [--format …] IMAGE`: an image's history, docker style.

use super::history_rows as history;
use super::images::{listing_template, open_store, resolve, write_columns};
use super::Globals;
use std::io::Write;
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
    /// `table` (default), `json` (one object per line), or a template over .ID .CreatedAt .CreatedSince
    /// .CreatedBy .Size .Comment
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
}

pub fn run(g: &Globals, a: HistoryArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(g)?;
    let image = resolve(&store, &a.image)?;
    let rows = history::rows(&image, chrono::Utc::now(), a.no_trunc);
    let mut out = std::io::stdout().lock();
    if a.quiet {
        for r in &rows {
            writeln!(out, "{}", r.id)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    match a.format.as_deref() {
        None | Some("table") => {
            let cells: Vec<[String; 5]> = rows
                .iter()
                .map(|r| {
                    [r.id.clone(), r.created_since.clone(), r.created_by.clone(), r.size.clone(), r.comment.clone()]
                })
                .collect();
            write_columns(&mut out, ["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"], &cells)?;
        }
        Some("json") => {
            for r in &rows {
                writeln!(out, "{}", serde_json::to_string(r)?)?;
            }
        }
        Some(t) => {
            let template = listing_template(t)?;
            for r in &rows {
                writeln!(out, "{}", template.render(&serde_json::to_value(r)?)?)?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
