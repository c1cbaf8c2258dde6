//! `rbuild images`: list the images in the store, docker style. Also home of the small helpers the
//! image commands share (opening the store, resolving with usage errors).

use super::{Globals, UsageError};
use crate::cli::listing::{self, ImageRow};
use crate::cli::template::Template;
use crate::store::{Image, Store, StoreError};
use std::io::Write;
use std::process::ExitCode;

/// List images: REPOSITORY, TAG, IMAGE ID, CREATED, SIZE.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
SIZE is the size of the image as stored: its compressed layers plus its config (not the
uncompressed size docker images shows). Images without a name show as <none> <none>.")]
pub struct ImagesArgs {
    /// Only images of this repository (REPOSITORY or REPOSITORY:TAG)
    #[arg(value_parser = super::text())]
    pub reference: Option<String>,
    /// Show all images (rbuild keeps no intermediate images: the same list as without -a)
    #[arg(short, long)]
    pub all: bool,
    /// Only show image IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Show full image IDs
    #[arg(long)]
    pub no_trunc: bool,
    /// `table` (default), `json` (one JSON object per line), or a template over a row's fields
    /// (.Repository .Tag .ID .CreatedAt .CreatedSince .Size .Digest; see `rbuild inspect --help`)
    #[arg(value_parser = super::text(), long, value_name = "FORMAT")]
    pub format: Option<String>,
}

pub fn run(g: &Globals, a: ImagesArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(g)?;
    let mut rows = listing::rows(&store.list()?, chrono::Utc::now(), a.no_trunc);
    if let Some(filter) = &a.reference {
        let (repo, tag) = match filter.split_once(':').filter(|(_, t)| !t.contains('/')) {
            Some((r, t)) => (r, Some(t)),
            None => (filter.as_str(), None),
        };
        let repo = crate::image::ImageRef::parse(repo).map_err(|e| UsageError(e.to_string()))?.name();
        rows.retain(|r| r.repository == repo && tag.is_none_or(|t| r.tag == t));
    }
    let mut out = std::io::stdout().lock();
    if a.quiet {
        for r in &rows {
            writeln!(out, "{}", r.id)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    match a.format.as_deref() {
        None | Some("table") => write_table(&mut out, &rows)?,
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

fn write_table(out: &mut impl Write, rows: &[ImageRow]) -> std::io::Result<()> {
    let header = ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"];
    let cells: Vec<[String; 5]> = rows
        .iter()
        .map(|r| [r.repository.clone(), r.tag.clone(), r.id.clone(), r.created_since.clone(), r.size.clone()])
        .collect();
    write_columns(out, header, &cells)
}

/// Columns padded like docker's tabwriter (minimum width 10, padding 3).
pub(super) fn write_columns<const N: usize>(
    out: &mut impl Write,
    header: [&str; N],
    cells: &[[String; N]],
) -> std::io::Result<()> {
    let mut widths = header.map(|h| h.len());
    for row in cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cols: [&str; N]| {
        let mut s = String::new();
        for (i, c) in cols.iter().enumerate() {
            if i + 1 == cols.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<width$}", width = (widths[i] + 3).max(10)));
            }
        }
        s
    };
    writeln!(out, "{}", line(header))?;
    for row in cells {
        writeln!(out, "{}", line(row.each_ref().map(String::as_str)))?;
    }
    Ok(())
}

/// A `--format` template of a listing command: as docker's formatter, `\t` and `\n` written in the
/// argument are a tab and a newline.
pub(super) fn listing_template(format: &str) -> Result<Template, UsageError> {
    let format = format.replace(r"\t", "\t").replace(r"\n", "\n");
    Template::parse(&format).map_err(|e| UsageError(e.to_string()))
}

pub(super) fn open_store(g: &Globals) -> anyhow::Result<Store> {
    Ok(Store::open(&g.root)?)
}

/// Resolve a user's image reference; a malformed one is a usage error (exit 2).
pub(super) fn resolve(store: &Store, reference: &str) -> anyhow::Result<Image> {
    store.resolve(reference).map_err(|e| match e {
        StoreError::Reference(r) => UsageError(r.to_string()).into(),
        other => other.into(),
    })
}
