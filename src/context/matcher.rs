//! An ordered list of .dockerignore patterns and the rule that combines them (moby/patternmatcher).
//!
//! Patterns are evaluated in order and the last one that matches decides: a plain pattern excludes, a
//! `!pattern` re-includes. A pattern matches a path when it matches the path itself or any of its parent
//! directories. Evaluation is skipped where it cannot change the outcome (an exclusion is not tried on an
//! already excluded path, nor an exception on a path not excluded), so a pattern whose regular expression
//! is broken only fails when it is actually tried, as upstream.
//!
//! Two entry points: [`Matcher::excluded`] for one path, and [`Matcher::matches_with_parent`] for a walk
//! that hands each directory's per-pattern results down to its children (fsutil uses this one, and it
//! differs from `excluded` in corner cases: a parent's result for a pattern that was skipped at the
//! parent is not re-derived for the child).
//!
//! Matching costs what the path's candidate patterns cost, not the whole list: a pattern whose first path
//! element is plain text can only match paths with that first element, so patterns are indexed by it and
//! only that bucket plus the patterns that start with a glob are tried (in list order, as upstream). The
//! latter usually require some plain text (`**/*.log` needs `.log`): one Aho-Corasick pass over the path
//! finds which texts it holds, and only patterns whose text is there, or that require none, are tried.
//! 2 000 patterns over 20 000 files is then a few seconds in a debug build, not most of a minute.
//! Paths are bytes (any file name); see [`Pattern::matches`].

use super::cleanpath;
use super::pattern::{Pattern, PatternError};
use aho_corasick::AhoCorasick;
use std::collections::HashMap;

/// Compiled .dockerignore patterns.
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    patterns: Vec<Pattern>,
    exceptions: bool,
    /// Positions of the patterns that may match any path (they start with a glob), ascending.
    anywhere: Vec<usize>,
    /// Positions of the patterns whose first element is plain text, by that text, ascending.
    by_first: HashMap<Vec<u8>, Vec<usize>>,
    /// The text some of the `anywhere` patterns require in a path, found in one pass over it; for each
    /// text, the patterns that require it. The other `anywhere` patterns are in `always`.
    required: Option<(AhoCorasick, Vec<Vec<usize>>)>,
    always: Vec<usize>,
}

/// Which patterns a directory matched, handed to its children during a walk. The default value means
/// "nothing known about the parent".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatchInfo {
    /// `None`: nothing known. Otherwise the positions of the patterns the parent matched, ascending.
    parent_matched: Option<Vec<usize>>,
}

impl Matcher {
    /// Build a matcher from raw patterns: each is whitespace-trimmed (empty ones are dropped), cleaned like
    /// Go's `filepath.Clean`, and a leading `!` makes it an exception. Error indexes refer to positions in
    /// `patterns`, empty ones included.
    pub fn new<I, S>(patterns: I) -> Result<Matcher, PatternError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut matcher = Matcher::default();
        for (index, raw) in patterns.into_iter().enumerate() {
            let trimmed = raw.as_ref().trim();
            if trimmed.is_empty() {
                continue;
            }
            let cleaned = cleanpath::clean(trimmed);
            let (text, exception) = match cleaned.strip_prefix('!') {
                Some("") => return Err(PatternError::IllegalException { index }),
                Some(rest) => (rest.to_string(), true),
                None => (cleaned, false),
            };
            matcher.exceptions |= exception;
            let pattern = Pattern::new(text, exception, index)?;
            let position = matcher.patterns.len();
            match pattern.literal_first_element() {
                Some(first) => matcher.by_first.entry(first.as_bytes().to_vec()).or_default().push(position),
                None => matcher.anywhere.push(position),
            }
            matcher.patterns.push(pattern);
        }
        let mut texts: Vec<&str> = Vec::new();
        let mut by_text: Vec<Vec<usize>> = Vec::new();
        for &i in &matcher.anywhere {
            match matcher.patterns[i].required_text() {
                Some(t) => match texts.iter().position(|x| *x == t) {
                    Some(k) => by_text[k].push(i),
                    None => {
                        texts.push(t);
                        by_text.push(vec![i]);
                    }
                },
                None => matcher.always.push(i),
            }
        }
        matcher.required = match AhoCorasick::new(&texts) {
            Ok(ac) if !texts.is_empty() => Some((ac, by_text)),
            // Cannot happen for so few texts; trying every pattern is always correct.
            _ => {
                matcher.always = matcher.anywhere.clone();
                None
            }
        };
        Ok(matcher)
    }

    /// The patterns that can match `path` or one of its parents (which share its first element), in list
    /// order: the others cannot match, so skipping them changes no outcome.
    fn candidates(&self, path: &[u8]) -> Vec<usize> {
        let first = path.split(|&b| b == b'/').next().unwrap_or_default();
        let mut out: Vec<usize> = self.by_first.get(first).map_or(&[][..], Vec::as_slice).to_vec();
        out.extend_from_slice(&self.always);
        if let Some((ac, by_text)) = &self.required {
            for m in ac.find_overlapping_iter(path) {
                out.extend_from_slice(&by_text[m.pattern().as_usize()]);
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// True when some pattern is a `!` exception.
    pub fn has_exceptions(&self) -> bool {
        self.exceptions
    }

    /// Is `path` (relative, slash-separated) excluded? The path is cleaned first; the context root `.` is
    /// never excluded.
    pub fn excluded(&self, path: &str) -> Result<bool, PatternError> {
        let path = cleanpath::clean(path);
        if path == "." {
            return Ok(false);
        }
        self.matches_or_parent_matches(&path)
    }

    /// Upstream's `MatchesOrParentMatches`: like [`Matcher::excluded`] without cleaning the path.
    pub fn matches_or_parent_matches(&self, path: impl AsRef<[u8]>) -> Result<bool, PatternError> {
        let path = path.as_ref();
        let parents = parent_chain(path);
        let mut matched = false;
        for i in self.candidates(path) {
            let pattern = &self.patterns[i];
            if pattern.is_exception() != matched {
                continue;
            }
            let mut hit = pattern.matches(path)?;
            if !hit {
                // Errors on parents are not reported: the path itself already evaluated cleanly.
                hit = parents.iter().any(|p| pattern.matches(p).unwrap_or(false));
            }
            if hit {
                matched = !pattern.is_exception();
            }
        }
        Ok(matched)
    }

    /// Upstream's `MatchesUsingParentResults`: decide `path` knowing which patterns its parent directory
    /// matched, and return what to hand to `path`'s own children.
    pub fn matches_with_parent(
        &self,
        path: impl AsRef<[u8]>,
        parent: &MatchInfo,
    ) -> Result<(bool, MatchInfo), PatternError> {
        let path = path.as_ref();
        let known = parent.parent_matched.as_deref().filter(|_| !self.patterns.is_empty());
        let mut hits = Vec::new();
        let mut matched = false;
        // A pattern the parent matched is a candidate of the path too: the parent has its first element.
        for i in self.candidates(path) {
            let pattern = &self.patterns[i];
            let mut hit = known.is_some_and(|k| k.binary_search(&i).is_ok());
            if !hit {
                if pattern.is_exception() != matched {
                    continue;
                }
                hit = pattern.matches(path)?;
                if !hit && known.is_none() {
                    hit = parent_chain(path).iter().any(|p| pattern.matches(p).unwrap_or(false));
                }
            }
            if hit {
                hits.push(i);
                matched = !pattern.is_exception();
            }
        }
        Ok((matched, MatchInfo { parent_matched: Some(hits) }))
    }
}

/// The parent directories upstream tries, outermost first: `a/b/c` → `a`, `a/b`. Built the way Go does
/// (split of `filepath.Dir`), so an absolute path yields `""`, `/x`, ...
fn parent_chain(path: &[u8]) -> Vec<Vec<u8>> {
    let Some(last_slash) = path.iter().rposition(|&b| b == b'/') else { return Vec::new() };
    // `filepath.Dir` cleans what is left.
    let parent = clean_bytes(&path[..=last_slash]);
    if parent == b"." {
        return Vec::new();
    }
    let parts: Vec<&[u8]> = parent.split(|&b| b == b'/').collect();
    (1..=parts.len()).map(|n| parts[..n].join(&b'/')).collect()
}

/// [`cleanpath::clean`] for a path of any bytes. Cleaning only looks at `/` and `.`, so each non-ASCII
/// byte stands in as a private use character while the text is cleaned, then turns back into itself.
fn clean_bytes(path: &[u8]) -> Vec<u8> {
    const BASE: u32 = 0xF_0000;
    let text: String = path
        .iter()
        .map(|&b| if b.is_ascii() { b as char } else { char::from_u32(BASE + u32::from(b)).unwrap_or('?') })
        .collect();
    cleanpath::clean(&text).chars().map(|c| if c.is_ascii() { c as u8 } else { (u32::from(c) - BASE) as u8 }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(patterns: &[&str]) -> Matcher {
        Matcher::new(patterns).unwrap_or_else(|e| panic!("{patterns:?}: {e}"))
    }

    #[test]
    fn last_matching_pattern_wins() {
        let matcher = m(&["*.go", "!keep.go", "keep.go"]);
        assert!(matcher.excluded("keep.go").expect("valid"));
        let matcher = m(&["*.go", "!keep.go"]);
        assert!(!matcher.excluded("keep.go").expect("valid"));
        assert!(matcher.excluded("other.go").expect("valid"));
    }

    #[test]
    fn a_parent_match_excludes_the_child() {
        let matcher = m(&["docs"]);
        assert!(matcher.excluded("docs/a/b.md").expect("valid"));
        assert!(!matcher.excluded("docsx/a").expect("valid"));
    }

    #[test]
    fn root_is_never_excluded() {
        assert!(!m(&["*"]).excluded(".").expect("valid"));
        assert!(!m(&["*"]).excluded("./").expect("valid"));
    }

    #[test]
    fn error_indexes_count_empty_patterns() {
        let err = Matcher::new(["a", "", "!"]).expect_err("bare ! is illegal");
        assert_eq!(err.index(), 2);
    }

    #[test]
    fn broken_exception_is_only_an_error_when_tried() {
        // The exception is only evaluated for paths the first pattern excluded.
        let matcher = m(&["*.txt", "![z-a]"]);
        assert!(!matcher.excluded("main.rs").expect("exception not tried"));
        assert!(matcher.excluded("a.txt").is_err());
    }

    #[test]
    fn parent_results_are_handed_down() {
        let matcher = m(&["foo*", "!foo/bar2"]);
        let (dir, info) = matcher.matches_with_parent("foo", &MatchInfo::default()).expect("valid");
        assert!(dir);
        let (child, _) = matcher.matches_with_parent("foo/bar2", &info).expect("valid");
        assert!(!child);
        let (other, _) = matcher.matches_with_parent("foo/x", &info).expect("valid");
        assert!(other);
    }

    #[test]
    fn parent_results_differ_from_parent_matching_where_upstream_does() {
        // The exception `!d` is skipped at `d` (nothing excluded it yet), so fsutil's walk does not
        // remember `d` matching it; MatchesOrParentMatches re-checks the parent and re-includes.
        let matcher = m(&["d/f", "!d"]);
        let (_, info) = matcher.matches_with_parent("d", &MatchInfo::default()).expect("valid");
        assert!(matcher.matches_with_parent("d/f", &info).expect("valid").0);
        assert!(!matcher.excluded("d/f").expect("valid"));
    }
}
