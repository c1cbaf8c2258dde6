//! The rows of `rbuild images`: docker's columns and wording (`2 minutes ago`, `4.26MB`), computed from
//! store summaries. One row per name; an image without a name is one `<none>:<none>` row.

use crate::store::ImageSummary;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// One line of `rbuild images`, with docker's JSON field names.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageRow {
    pub repository: String,
    pub tag: String,
    #[serde(rename = "ID")]
    pub id: String,
    pub digest: String,
    pub created_at: String,
    pub created_since: String,
    pub size: String,
    #[serde(skip)]
    pub created: Option<DateTime<Utc>>,
}

/// Rows for every summary, newest first (then by name), as docker lists them.
pub fn rows(summaries: &[ImageSummary], now: DateTime<Utc>, no_trunc: bool) -> Vec<ImageRow> {
    let mut rows = Vec::new();
    for s in summaries {
        let created =
            s.created.as_deref().and_then(|c| DateTime::parse_from_rfc3339(c).ok()).map(|c| c.with_timezone(&Utc));
        let id = if no_trunc { s.id.to_string() } else { s.id.short().to_string() };
        let row = |repository: String, tag: String| ImageRow {
            repository,
            tag,
            id: id.clone(),
            digest: "<none>".into(),
            created_at: created.map_or_else(|| "N/A".into(), |c| c.format("%Y-%m-%d %H:%M:%S %z UTC").to_string()),
            created_since: created.map_or_else(|| "N/A".into(), |c| format!("{} ago", human_duration(now - c))),
            size: human_size(s.size),
            created,
        };
        if s.names.is_empty() {
            rows.push(row("<none>".into(), "<none>".into()));
        }
        for name in &s.names {
            let (repo, tag) = split_name(name);
            rows.push(row(repo.to_string(), tag.to_string()));
        }
    }
    rows.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| (&a.repository, &a.tag).cmp(&(&b.repository, &b.tag))));
    rows
}

pub use crate::reference::split_name;

/// Docker's `units.HumanSize`: decimal units, three significant digits (`0B`, `1.23kB`, `45.6MB`).
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1000.0 && unit < UNITS.len() - 1 {
        size /= 1000.0;
        unit += 1;
    }
    // Rounding to three digits can reach 1000 (999.7kB): move up a unit rather than print "1e+03kB".
    if format_sig3(size) == "1000" && unit < UNITS.len() - 1 {
        size /= 1000.0;
        unit += 1;
    }
    format!("{}{}", format_sig3(size), UNITS[unit])
}

/// `%.3g` for values in [0, 1000): three significant digits, trailing zeros dropped.
fn format_sig3(v: f64) -> String {
    let decimals = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Docker's `units.HumanDuration`: "Less than a second", "About a minute", "3 hours", "2 weeks", ….
pub fn human_duration(d: chrono::TimeDelta) -> String {
    let secs = d.num_seconds();
    if secs < 1 {
        return "Less than a second".into();
    }
    if secs == 1 {
        return "1 second".into();
    }
    if secs < 60 {
        return format!("{secs} seconds");
    }
    let minutes = secs / 60;
    if minutes == 1 {
        return "About a minute".into();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    let hours = (secs as f64 / 3600.0 + 0.5) as i64;
    if hours == 1 {
        return "About an hour".into();
    }
    if hours < 48 {
        return format!("{hours} hours");
    }
    if hours < 24 * 7 * 2 {
        return format!("{} days", hours / 24);
    }
    if hours < 24 * 30 * 2 {
        return format!("{} weeks", hours / 24 / 7);
    }
    if hours < 24 * 365 * 2 {
        return format!("{} months", hours / 24 / 30);
    }
    format!("{} years", secs / 3600 / 24 / 365)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Digest;
    use chrono::TimeDelta;

    #[test]
    fn sizes_read_like_docker() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1000), "1kB");
        assert_eq!(human_size(1234), "1.23kB");
        assert_eq!(human_size(4_261_000), "4.26MB");
        assert_eq!(human_size(45_600_000), "45.6MB");
        assert_eq!(human_size(999_700), "1MB");
        assert_eq!(human_size(2_000_000_000), "2GB");
    }

    #[test]
    fn durations_read_like_docker() {
        let d = |s| human_duration(TimeDelta::seconds(s));
        assert_eq!(d(0), "Less than a second");
        assert_eq!(d(1), "1 second");
        assert_eq!(d(45), "45 seconds");
        assert_eq!(d(90), "About a minute");
        assert_eq!(d(150), "2 minutes");
        assert_eq!(d(3600), "About an hour");
        assert_eq!(d(5 * 3600), "5 hours");
        assert_eq!(d(3 * 86400), "3 days");
        assert_eq!(d(20 * 86400), "2 weeks");
        assert_eq!(d(100 * 86400), "3 months");
        assert_eq!(d(3 * 365 * 86400), "3 years");
    }

    #[test]
    fn rows_split_names_and_show_dangling_images() {
        assert_eq!(split_name("127.0.0.1:5000/x/y:tag"), ("127.0.0.1:5000/x/y", "tag"));
        assert_eq!(split_name("app:1.0"), ("app", "1.0"));
        let now = DateTime::parse_from_rfc3339("2024-01-01T00:10:00Z").unwrap().with_timezone(&Utc);
        let summary = |names: &[&str], created: &str| ImageSummary {
            id: Digest::of(created.as_bytes()),
            manifest_digest: Digest::of(b"m"),
            names: names.iter().map(|n| n.to_string()).collect(),
            created: Some(created.to_string()),
            size: 1234,
            labels: Default::default(),
        };
        let rows = rows(
            &[
                summary(&["old:1"], "2024-01-01T00:00:00Z"),
                summary(&[], "2024-01-01T00:08:00Z"),
                summary(&["b:2", "a:1"], "2024-01-01T00:08:00Z"),
            ],
            now,
            false,
        );
        let shown: Vec<(String, String, String)> =
            rows.iter().map(|r| (r.repository.clone(), r.tag.clone(), r.created_since.clone())).collect();
        assert_eq!(
            shown,
            vec![
                ("<none>".into(), "<none>".into(), "2 minutes ago".into()),
                ("a".into(), "1".into(), "2 minutes ago".into()),
                ("b".into(), "2".into(), "2 minutes ago".into()),
                ("old".into(), "1".into(), "10 minutes ago".into()),
            ]
        );
        assert_eq!(rows[0].id.len(), 12);
        assert_eq!(rows[0].size, "1.23kB");
    }
}
