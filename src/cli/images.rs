//! `rbuild images`: list the images in the store, docker style. Also home of the small helpers the
//! image commands share (opening the store, resolving with usage errors).

use super::format::{Format, Headers};
use super::image_filter::ImageFilters;
use super::{Globals, UsageError};
use crate::cli::listing;
use crate::store::{Image, Store, StoreError};
use std::process::ExitCode;

/// List images: REPOSITORY, TAG, IMAGE ID, CREATED, SIZE.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
SIZE is the size of the image as stored: its compressed layers plus its config (not the
uncompressed size docker images shows). Images without a name show as <none> <none>.
Several --filter options AND together; repeated reference= filters OR, repeated label= filters AND.

Examples:
  rbuild images --filter dangling=true -q
  rbuild images --filter 'reference=app*' --filter since=base:1
  rbuild images --format 'table {{.Repository}}\\t{{.Tag}}\\t{{.Size}}'")]
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
    /// `table` (default), `table TEMPLATE` (with headers), `json` (one JSON object per line), or a
    /// template over a row's fields (.Repository .Tag .ID .CreatedAt .CreatedSince .Size .Digest)
    #[arg(value_parser = super::text(), long, value_name = "FORMAT")]
    pub format: Option<String>,
    /// dangling=true|false, reference=PATTERN, label=KEY[=VALUE], before=IMAGE, since=IMAGE, until=TIME
    #[arg(short, long, value_parser = super::text(), value_name = "FILTER")]
    pub filter: Vec<String>,
}

/// Docker's default `images` table.
const TABLE: &str = r"table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";
const HEADERS: Headers = &[("ID", "IMAGE ID"), ("CreatedSince", "CREATED")];

pub fn run(g: &Globals, a: ImagesArgs) -> anyhow::Result<ExitCode> {
    let format = Format::parse(if a.quiet { Some("{{.ID}}") } else { a.format.as_deref() }, TABLE)?;
    let mut filters = ImageFilters::parse(&a.filter)?;
    if let Some(reference) = &a.reference {
        filters.add_reference(&familiar_pattern(reference))?;
    }
    let store = open_store(g)?;
    let images = filters.apply(&store, store.list()?)?;
    let rows = listing::rows(&images, chrono::Utc::now(), a.no_trunc);
    format.write(&mut std::io::stdout().lock(), &rows, HEADERS)?;
    Ok(ExitCode::SUCCESS)
}

/// The positional `REPOSITORY[:TAG]` as a reference pattern: a full name (`docker.io/library/busybox`)
/// is written the familiar way the store keeps names (`busybox`); a pattern with wildcards stays as is.
fn familiar_pattern(reference: &str) -> String {
    if reference.contains(['*', '?', '[', '\\']) {
        return reference.to_string();
    }
    match crate::image::ImageRef::parse(reference) {
        Ok(r) => match r.explicit_tag() {
            Some(tag) => format!("{}:{tag}", r.name()),
            None => r.name(),
        },
        Err(_) => reference.to_string(),
    }
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
