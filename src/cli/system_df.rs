//! `rbuild system df [-v] [--format …]`: disk usage by part of the store (see `store::usage`), printed
//! through the listing formatter (`cli::format`) with docker's columns.

use super::format::{Format, Headers};
use super::images::open_store;
use super::Globals;
use crate::cli::listing::{human_duration, human_size, split_name};
use crate::store::usage::{self, Part};
use serde::Serialize;
use std::io::Write;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Sizes are disk usage as du counts it. RECLAIMABLE is what `rbuild system prune -a` would free
(images: those no container uses; snapshots: those of no kept image; build cache: all of it).
--format json prints one object per line with byte counts (SizeBytes, ReclaimableBytes) too;
a template sees .Type .TotalCount .Active .Size .Reclaimable .SizeBytes .ReclaimableBytes.

Example:
  rbuild system df -v
  rbuild system df --format 'table {{.Type}}\\t{{.Size}}'")]
pub struct DfArgs {
    /// Also list images (shared and unique size) and build cache records
    #[arg(short, long)]
    pub verbose: bool,
    /// `table` (default), `table TEMPLATE`, `json`, or a template over a row's fields
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
}

/// One line of the summary, with docker's JSON field names.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct PartRow {
    #[serde(rename = "Type")]
    kind: &'static str,
    total_count: usize,
    active: usize,
    size: String,
    reclaimable: String,
    size_bytes: u64,
    reclaimable_bytes: u64,
}

/// A line of `-v`'s image table (docker's `system df -v` columns).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ImageRow {
    repository: String,
    tag: String,
    #[serde(rename = "ID")]
    id: String,
    size: String,
    shared_size: String,
    unique_size: String,
    containers: usize,
}

/// A line of `-v`'s build cache table.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct CacheRow {
    #[serde(rename = "ID")]
    id: String,
    size: String,
    last_used_since: String,
}

const TABLE: &str = r"table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}";
const HEADERS: Headers = &[("TotalCount", "TOTAL")];
const IMAGE_TABLE: &str =
    r"table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}";
const IMAGE_HEADERS: Headers = &[("ID", "IMAGE ID")];
const CACHE_TABLE: &str = r"table {{.ID}}\t{{.Size}}\t{{.LastUsedSince}}";
const CACHE_HEADERS: Headers = &[("ID", "CACHE ID"), ("LastUsedSince", "LAST USED")];

pub fn run(g: &Globals, a: DfArgs) -> anyhow::Result<ExitCode> {
    let format = Format::parse(a.format.as_deref(), TABLE)?;
    let store = open_store(g)?;
    let u = usage::measure(&store)?;
    let parts: [(&str, Part); 6] = [
        ("Images", u.images),
        ("Snapshots", u.snapshots),
        ("Build Cache", u.build_cache),
        ("Cache Mounts", u.cache_mounts),
        ("Containers", u.containers),
        ("Unreferenced Blobs", u.unreferenced),
    ];
    let rows: Vec<PartRow> = parts
        .into_iter()
        .map(|(kind, p)| PartRow {
            kind,
            total_count: p.count,
            active: p.active,
            size: human_size(p.size),
            reclaimable: format!(
                "{} ({}%)",
                human_size(p.reclaimable),
                (p.reclaimable * 100).checked_div(p.size).unwrap_or(0)
            ),
            size_bytes: p.size,
            reclaimable_bytes: p.reclaimable,
        })
        .collect();
    let mut out = std::io::stdout().lock();
    format.write(&mut out, &rows, HEADERS)?;
    if !a.verbose {
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(out, "\nLayers: {} shared, {} unique", human_size(u.layers_shared), human_size(u.layers_unique))?;
    writeln!(out, "\nImages space usage:\n")?;
    let mut images = Vec::new();
    for i in &u.image_list {
        let names = if i.names.is_empty() { vec!["<none>:<none>".to_string()] } else { i.names.clone() };
        for n in names {
            let (repo, tag) = if n == "<none>:<none>" { ("<none>", "<none>") } else { split_name(&n) };
            images.push(ImageRow {
                repository: repo.to_string(),
                tag: tag.to_string(),
                id: i.id.short().to_string(),
                size: human_size(i.size),
                shared_size: human_size(i.shared),
                unique_size: human_size(i.size - i.shared),
                containers: i.containers,
            });
        }
    }
    Format::parse(None, IMAGE_TABLE)?.write(&mut out, &images, IMAGE_HEADERS)?;
    writeln!(out, "\nBuild cache usage: {}\n", human_size(u.build_cache.size))?;
    let now = std::time::SystemTime::now();
    let cache: Vec<CacheRow> = u
        .cache_list
        .iter()
        .map(|c| {
            let ago = now.duration_since(c.used).unwrap_or_default();
            CacheRow {
                id: c.key[..12.min(c.key.len())].to_string(),
                size: human_size(c.size),
                last_used_since: format!("{} ago", human_duration(chrono::Duration::from_std(ago).unwrap_or_default())),
            }
        })
        .collect();
    Format::parse(None, CACHE_TABLE)?.write(&mut out, &cache, CACHE_HEADERS)?;
    Ok(ExitCode::SUCCESS)
}
