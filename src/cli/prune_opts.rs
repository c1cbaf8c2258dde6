//! What the prune commands (`image prune`, `builder prune`, `system prune`, `prune`) share: `--filter`
//! and size arguments turned into types, the confirmation prompt, and the "reclaimed" line.

use super::UsageError;
use std::io::{BufRead, IsTerminal, Write};
use std::time::{Duration, SystemTime};

/// One `--filter`, as docker accepts them for prune.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// Only what was created (images) or last used (cache) before this time.
    Until(SystemTime),
    /// `label=KEY`, `label=KEY=VALUE`, and `label!=…` for the opposite.
    Label { key: String, value: Option<String>, negate: bool },
}

impl Filter {
    pub fn parse(s: &str) -> Result<Filter, UsageError> {
        let bad = |why: &str| UsageError(format!("--filter {s:?}: {why}"));
        let (name, value) = s.split_once('=').ok_or_else(|| bad("want NAME=VALUE (until=24h, label=k=v)"))?;
        match name {
            "until" => Ok(Filter::Until(until(value).ok_or_else(|| {
                bad("until wants a duration (10m, 24h, 1h30m), an RFC 3339 time, or seconds since the epoch")
            })?)),
            "label" | "label!" => {
                let (key, value) = match value.split_once('=') {
                    Some((k, v)) => (k, Some(v.to_string())),
                    None => (value, None),
                };
                if key.is_empty() {
                    return Err(bad("label wants a key"));
                }
                Ok(Filter::Label { key: key.to_string(), value, negate: name == "label!" })
            }
            _ => Err(bad("unknown filter (supported: until, label)")),
        }
    }

    /// Whether an image with these labels passes this filter (`until` is checked by the caller).
    pub fn labels_match(&self, labels: &std::collections::HashMap<String, String>) -> bool {
        match self {
            Filter::Until(_) => true,
            Filter::Label { key, value, negate } => {
                let hit = labels.get(key).is_some_and(|v| value.as_ref().is_none_or(|want| want == v));
                hit != *negate
            }
        }
    }
}

/// The latest `until=` among `filters`, if any.
pub fn until_of(filters: &[Filter]) -> Option<SystemTime> {
    filters.iter().filter_map(|f| if let Filter::Until(t) = f { Some(*t) } else { None }).min()
}

pub fn until(v: &str) -> Option<SystemTime> {
    if let Ok(secs) = v.parse::<u64>() {
        return Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs));
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(v) {
        return Some(SystemTime::from(t));
    }
    SystemTime::now().checked_sub(go_duration(v)?)
}

/// A Go duration: `90s`, `10m`, `1h30m`, `1.5h`, `500ms`.
pub fn go_duration(v: &str) -> Option<Duration> {
    let mut rest = v;
    let mut total = 0f64;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            _ => return None,
        };
        total += n * scale;
        rest = &rest[unit_end..];
    }
    Some(Duration::from_secs_f64(total))
}

/// A size as docker's `--keep-storage` takes it (see `store::settings::parse_size`).
pub fn size(v: &str) -> Result<u64, UsageError> {
    crate::store::settings::parse_size(v)
        .ok_or_else(|| UsageError(format!("size {v:?}: want bytes or a number with a unit (512MB, 10GB)")))
}

/// Ask before deleting, on a terminal only (`-f` skips it; with no terminal there is nobody to ask).
/// `false`: the user said no.
pub fn confirm(force: bool, warning: &str) -> bool {
    if force || !std::io::stdin().is_terminal() {
        return true;
    }
    eprint!("WARNING! {warning}\nAre you sure you want to continue? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_parse_like_docker() {
        assert_eq!(size("100MB").unwrap(), 100 << 20);
        assert_eq!(size("1g").unwrap(), 1 << 30);
        assert_eq!(size("512").unwrap(), 512);
        assert!(size("ten").is_err());
        assert_eq!(go_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(go_duration("24h"), Some(Duration::from_secs(86400)));
        assert_eq!(go_duration("10x"), None);
        assert!(matches!(Filter::parse("until=24h").unwrap(), Filter::Until(_)));
        let l = Filter::parse("label=a=b").unwrap();
        let labels = std::collections::HashMap::from([("a".to_string(), "b".to_string())]);
        assert!(l.labels_match(&labels));
        assert!(!Filter::parse("label!=a").unwrap().labels_match(&labels));
        assert!(Filter::parse("dangling=true").is_err());
    }
}
