//! `rbuild images --filter`: docker's image filters, with docker's semantics (daemon/images/images.go):
//! - `dangling=true|false`: only images without a name / only named ones;
//! - `reference=PATTERN`: names matching Go's `path.Match` pattern, against `name:tag` or the bare
//!   repository (`reference.FamiliarMatch`); only the matching names of an image are listed, and an
//!   image with none is left out;
//! - `label=KEY` / `label=KEY=VALUE`, `until=…` (the prune filters, `prune_opts::Filter`);
//! - `before=IMAGE` / `since=IMAGE`: created strictly before / after that image.
//!
//! Different keys AND together. A repeated `reference` ORs; repeated `label`s must all match; of
//! repeated `before`s the earliest image counts, of `since`s the latest; `dangling=true` anywhere wins.

use super::images::resolve;
use super::prune_opts::{self, Filter};
use super::UsageError;
use crate::store::{ImageSummary, Store};
use chrono::{DateTime, Utc};
use std::time::SystemTime;

#[derive(Debug, Default)]
pub struct ImageFilters {
    dangling: Option<bool>,
    references: Vec<regex::Regex>,
    /// `label` and `until` filters.
    prune: Vec<Filter>,
    before: Vec<String>,
    since: Vec<String>,
}

impl ImageFilters {
    /// Parse every `--filter KEY=VALUE`.
    pub fn parse(args: &[String]) -> Result<ImageFilters, UsageError> {
        let mut f = ImageFilters::default();
        for arg in args {
            let bad = |why: &str| UsageError(format!("--filter {arg:?}: {why}"));
            let (key, value) = arg.split_once('=').ok_or_else(|| bad("want KEY=VALUE (e.g. dangling=true)"))?;
            match key {
                "dangling" => {
                    let v = match value {
                        "true" => true,
                        "false" => false,
                        _ => return Err(bad("dangling wants true or false")),
                    };
                    f.dangling = Some(f.dangling.unwrap_or(false) || v);
                }
                "reference" => f.references.push(
                    path_match_regex(value)
                        .ok_or_else(|| bad("not a valid pattern (Go path.Match: *, ?, [a-z], [^a], \\ escapes)"))?,
                ),
                "label" | "until" => f.prune.push(Filter::parse(arg)?),
                "before" => f.before.push(value.to_string()),
                "since" => f.since.push(value.to_string()),
                _ => return Err(bad("unknown filter (supported: dangling, reference, label, before, since, until)")),
            }
        }
        Ok(f)
    }

    /// Add a reference pattern (the positional `REPOSITORY[:TAG]` of `images`, as docker treats it).
    pub fn add_reference(&mut self, pattern: &str) -> Result<(), UsageError> {
        let re = path_match_regex(pattern).ok_or_else(|| UsageError(format!("{pattern:?} is not a valid pattern")))?;
        self.references.push(re);
        Ok(())
    }

    /// The images that pass, each with only the names that pass.
    pub fn apply(&self, store: &Store, images: Vec<ImageSummary>) -> anyhow::Result<Vec<ImageSummary>> {
        let created_of = |reference: &String| -> anyhow::Result<Option<DateTime<Utc>>> {
            Ok(created(resolve(store, reference)?.config.created().as_deref()))
        };
        let mut before = None;
        for r in &self.before {
            before = before.into_iter().chain(created_of(r)?).min();
        }
        let mut since = None;
        for r in &self.since {
            since = since.into_iter().chain(created_of(r)?).max();
        }
        let until = prune_opts::until_of(&self.prune);
        let mut out = Vec::new();
        for mut image in images {
            let at = created(image.created.as_deref());
            if before.is_some_and(|b| at.is_none_or(|c| c >= b))
                || since.is_some_and(|s| at.is_none_or(|c| c <= s))
                || until.is_some_and(|u| at.is_none_or(|c| SystemTime::from(c) >= u))
                || !self.prune.iter().all(|f| f.labels_match(&image.labels))
            {
                continue;
            }
            if !self.references.is_empty() {
                image.names.retain(|name| self.references.iter().any(|re| familiar_match(re, name)));
            }
            let keep = if image.names.is_empty() {
                self.dangling != Some(false) && self.references.is_empty()
            } else {
                self.dangling != Some(true)
            };
            if keep {
                out.push(image);
            }
        }
        Ok(out)
    }
}

fn created(rfc3339: Option<&str>) -> Option<DateTime<Utc>> {
    rfc3339.and_then(|c| DateTime::parse_from_rfc3339(c).ok()).map(|c| c.with_timezone(&Utc))
}

/// docker's `reference.FamiliarMatch`: the pattern against `name:tag`, else against the repository.
fn familiar_match(re: &regex::Regex, name: &str) -> bool {
    re.is_match(name) || re.is_match(crate::reference::split_name(name).0)
}

/// Go's `path.Match` pattern as an anchored regex: `*` is any run of non-`/` characters, `?` one
/// non-`/` character, `[…]` / `[^…]` a class with ranges, `\` escapes. `None` for a malformed pattern.
fn path_match_regex(pattern: &str) -> Option<regex::Regex> {
    let mut re = String::from("^");
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '\\' => re.push_str(&regex::escape(&chars.next()?.to_string())),
            '[' => {
                re.push('[');
                let mut first = true;
                loop {
                    let c = chars.next()?;
                    match c {
                        ']' if !first => break,
                        ']' => return None,
                        '^' if first => re.push('^'),
                        '-' if !first => re.push('-'),
                        '\\' => re.push_str(&regex::escape(&chars.next()?.to_string())),
                        c => re.push_str(&regex::escape(&c.to_string())),
                    }
                    first = first && c == '^';
                }
                re.push(']');
            }
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    regex::Regex::new(&re).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, name: &str) -> bool {
        familiar_match(&path_match_regex(pattern).unwrap(), name)
    }

    #[test]
    fn reference_patterns_match_like_docker() {
        assert!(matches("busybox", "busybox:latest"));
        assert!(matches("busybox:latest", "busybox:latest"));
        assert!(!matches("busybox:1", "busybox:latest"));
        assert!(matches("app*", "app2:1"));
        assert!(matches("*:1.?", "web:1.5"));
        assert!(!matches("*", "127.0.0.1:5000/x:1"), "* does not cross a /");
        assert!(matches("*/x", "127.0.0.1:5000/x:1"));
        assert!(matches("app[0-9]", "app7:t"));
        assert!(!matches("app[^0-9]", "app7:t"));
        assert!(matches(r"a\*", "a*:t"));
        for bad in ["[", "a[]", "a\\", "[a-"] {
            assert!(path_match_regex(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn bad_filters_are_usage_errors() {
        for bad in ["dangling", "dangling=yes", "nope=1", "reference=[", "label="] {
            assert!(ImageFilters::parse(&[bad.to_string()]).is_err(), "{bad}");
        }
        let f = ImageFilters::parse(&["dangling=false".into(), "dangling=true".into()]).unwrap();
        assert_eq!(f.dangling, Some(true));
    }
}
