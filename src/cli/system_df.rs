//! `rbuild system df [-v] [--format json]`: disk usage by part of the store (see `store::usage`).

use super::images::open_store;
use super::{Globals, UsageError};
use crate::cli::listing::{human_duration, human_size, split_name};
use crate::store::usage::{self, Part};
use std::io::Write;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Sizes are disk usage as du counts it. RECLAIMABLE is what `rbuild system prune -a` would free
(images: those no container uses; snapshots: those of no kept image; build cache: all of it).
--format json prints one object per line with byte counts (SizeBytes, ReclaimableBytes) too.

Example:
  rbuild system df -v")]
pub struct DfArgs {
    /// Also list images (shared and unique size) and build cache records
    #[arg(short, long)]
    pub verbose: bool,
    /// `table` (default) or `json`
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
}

pub fn run(g: &Globals, a: DfArgs) -> anyhow::Result<ExitCode> {
    let json = match a.format.as_deref() {
        None | Some("table") => false,
        Some("json") => true,
        Some(other) => return Err(UsageError(format!("--format {other:?}: want table or json")).into()),
    };
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
    let mut out = std::io::stdout().lock();
    if json {
        for (kind, p) in parts {
            let row = serde_json::json!({
                "Type": kind, "TotalCount": p.count, "Active": p.active,
                "Size": human_size(p.size), "Reclaimable": human_size(p.reclaimable),
                "SizeBytes": p.size, "ReclaimableBytes": p.reclaimable,
            });
            writeln!(out, "{row}")?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(out, "{:<20}{:<10}{:<10}{:<12}RECLAIMABLE", "TYPE", "TOTAL", "ACTIVE", "SIZE")?;
    for (kind, p) in parts {
        let pct = (p.reclaimable * 100).checked_div(p.size).unwrap_or(0);
        let reclaim = format!("{} ({pct}%)", human_size(p.reclaimable));
        writeln!(out, "{kind:<20}{:<10}{:<10}{:<12}{reclaim}", p.count, p.active, human_size(p.size))?;
    }
    if a.verbose {
        writeln!(out, "\nLayers: {} shared, {} unique", human_size(u.layers_shared), human_size(u.layers_unique))?;
        writeln!(out, "\nImages space usage:\n")?;
        writeln!(
            out,
            "{:<30}{:<10}{:<14}{:<12}{:<12}{:<12}CONTAINERS",
            "REPOSITORY", "TAG", "IMAGE ID", "SIZE", "SHARED SIZE", "UNIQUE SIZE"
        )?;
        for i in &u.image_list {
            let names = if i.names.is_empty() { vec!["<none>:<none>".to_string()] } else { i.names.clone() };
            for n in names {
                let (repo, tag) = if n == "<none>:<none>" { ("<none>", "<none>") } else { split_name(&n) };
                writeln!(
                    out,
                    "{repo:<30}{tag:<10}{:<14}{:<12}{:<12}{:<12}{}",
                    i.id.short(),
                    human_size(i.size),
                    human_size(i.shared),
                    human_size(i.size - i.shared),
                    i.containers
                )?;
            }
        }
        writeln!(out, "\nBuild cache usage: {}\n", human_size(u.build_cache.size))?;
        writeln!(out, "{:<14}{:<12}LAST USED", "CACHE ID", "SIZE")?;
        let now = std::time::SystemTime::now();
        for c in &u.cache_list {
            let ago = now.duration_since(c.used).unwrap_or_default();
            let ago = human_duration(chrono::Duration::from_std(ago).unwrap_or_default());
            writeln!(out, "{:<14}{:<12}{ago} ago", &c.key[..12.min(c.key.len())], human_size(c.size))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
