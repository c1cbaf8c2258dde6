//! The rows of `rbuild history`: one per history entry of an image's config, newest first, with docker's
//! columns and JSON field names (IMAGE CREATED CREATED BY SIZE COMMENT). A layer's size is its blob's
//! size as stored (compressed), as `rbuild images` counts it; empty-layer entries are `0B`. Only the
//! newest row carries the image ID: rbuild keeps no intermediate images, so the others are `<missing>`,
//! as docker shows for pulled images.

use super::listing::{human_duration, human_size};
use crate::store::Image;
use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct HistoryRow {
    #[serde(rename = "ID")]
    pub id: String,
    pub created_at: String,
    pub created_since: String,
    pub created_by: String,
    pub size: String,
    pub comment: String,
}

/// Docker truncates CREATED BY to this many characters, ending in "…".
const CREATED_BY_WIDTH: usize = 45;

pub fn rows(image: &Image, now: DateTime<Utc>, no_trunc: bool) -> Vec<HistoryRow> {
    let history = image.config.history().clone().unwrap_or_default();
    let mut layers = image.manifest.layers().iter();
    let mut rows: Vec<HistoryRow> = history
        .iter()
        .map(|h| {
            let size = if h.empty_layer().unwrap_or(false) { 0 } else { layers.next().map_or(0, |l| l.size()) };
            let created = h.created().as_deref().and_then(|c| DateTime::parse_from_rfc3339(c).ok());
            let created_by = h.created_by().clone().unwrap_or_default();
            let created_by = if no_trunc || created_by.chars().count() <= CREATED_BY_WIDTH {
                created_by
            } else {
                format!("{}…", created_by.chars().take(CREATED_BY_WIDTH - 1).collect::<String>())
            };
            HistoryRow {
                id: "<missing>".into(),
                created_at: created.map_or_else(|| "N/A".into(), |c| c.to_rfc3339()),
                created_since: created
                    .map_or_else(|| "N/A".into(), |c| format!("{} ago", human_duration(now - c.with_timezone(&Utc)))),
                created_by,
                size: human_size(size),
                comment: h.comment().clone().unwrap_or_default(),
            }
        })
        .collect();
    rows.reverse();
    if let Some(top) = rows.first_mut() {
        top.id = if no_trunc { image.config_digest.to_string() } else { image.config_digest.short().to_string() };
    }
    rows
}
