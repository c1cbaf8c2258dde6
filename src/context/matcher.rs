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

use super::cleanpath;
use super::pattern::{Pattern, PatternError};

/// Compiled .dockerignore patterns.
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    patterns: Vec<Pattern>,
    exceptions: bool,
}

/// Which patterns a directory matched, handed to its children during a walk. The default value means
/// "nothing known about the parent".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatchInfo {
    parent_matched: Vec<bool>,
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
            matcher.patterns.push(Pattern::new(text, exception, index)?);
        }
        Ok(matcher)
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
    pub fn matches_or_parent_matches(&self, path: &str) -> Result<bool, PatternError> {
        let parents = parent_chain(path);
        let mut matched = false;
        for pattern in &self.patterns {
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
    pub fn matches_with_parent(&self, path: &str, parent: &MatchInfo) -> Result<(bool, MatchInfo), PatternError> {
        let known = parent.parent_matched.len() == self.patterns.len() && !self.patterns.is_empty();
        let mut info = MatchInfo { parent_matched: vec![false; self.patterns.len()] };
        let mut matched = false;
        for (i, pattern) in self.patterns.iter().enumerate() {
            let mut hit = known && parent.parent_matched[i];
            if !hit {
                if pattern.is_exception() != matched {
                    continue;
                }
                hit = pattern.matches(path)?;
                if !hit && !known {
                    hit = parent_chain(path).iter().any(|p| pattern.matches(p).unwrap_or(false));
                }
            }
            info.parent_matched[i] = hit;
            if hit {
                matched = !pattern.is_exception();
            }
        }
        Ok((matched, info))
    }
}

/// The parent directories upstream tries, outermost first: `a/b/c` → `a`, `a/b`. Built the way Go does
/// (split of `filepath.Dir`), so an absolute path yields `""`, `/x`, ...
fn parent_chain(path: &str) -> Vec<String> {
    let parent = cleanpath::parent(path);
    if parent == "." {
        return Vec::new();
    }
    let parts: Vec<&str> = parent.split('/').collect();
    (1..=parts.len()).map(|n| parts[..n].join("/")).collect()
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
