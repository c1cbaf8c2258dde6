//! One .dockerignore pattern: checked, classified and compiled with moby/patternmatcher's rules.
//!
//! A pattern goes through two checks, as upstream: when the matcher is built, its syntax is checked with
//! Go's `filepath.Match` grammar (`[` classes must close, no empty or dangling ranges, no trailing `\`);
//! then it is turned into a matcher of one of four kinds (exact string, prefix for a trailing `**`,
//! suffix for a leading `**`, or a regular expression). The regular expression can still fail to compile
//! (`[Local-Only]` is a fine `filepath.Match` class but `l-O` is a reversed range for Go's regexp); that
//! error is kept and reported each time the pattern is evaluated, never at construction, exactly when
//! upstream would report it.
//!
//! Why a hand-written compiler and not `globset`: Docker's semantics are not a glob dialect `globset` offers.
//! `**` is compiled to `(.*/)?` wherever it stands (`a**b` matches `a/x/b`), a leading `**` followed by
//! plain text is a bare suffix test (`**file` matches `dir/myfile`), `\d` or `[[:alpha:]]` mean what Go's
//! regexp says, `[!a]` is a class of `!` and `a` (not a negation), and some errors only appear at match
//! time. So the pattern is compiled into the same Go regular expression upstream builds, and that is
//! translated to a Rust `regex` by [`super::goregex`].

use super::goregex::{self, TranslateError};

/// Why a pattern is rejected. `index` is the pattern's position in the list given to the matcher.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PatternError {
    #[error("illegal exclusion pattern: \"!\"")]
    IllegalException { index: usize },
    #[error("bad pattern {pattern:?}: {fault}")]
    Syntax { index: usize, pattern: String, fault: SyntaxFault },
    #[error("bad pattern {pattern:?}: {error}")]
    Regex { index: usize, pattern: String, error: TranslateError },
}

impl PatternError {
    /// The position of the offending pattern in the list the matcher was built from.
    pub fn index(&self) -> usize {
        match self {
            PatternError::IllegalException { index }
            | PatternError::Syntax { index, .. }
            | PatternError::Regex { index, .. } => *index,
        }
    }
}

/// What is wrong with a pattern's `filepath.Match` syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SyntaxFault {
    #[error("trailing backslash")]
    TrailingBackslash,
    #[error("unterminated character class")]
    UnterminatedClass,
    #[error("malformed character range in class")]
    BadRange,
}

/// How a pattern is matched (upstream's `matchType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchKind {
    /// The path equals the pattern.
    Exact,
    /// `prefix**`: the path starts with the text before `**`.
    Prefix,
    /// `**suffix`: the path ends with the text after `**` (or is it, without its leading `/`).
    Suffix,
    /// Anything else, through a regular expression.
    Regex,
}

#[derive(Debug, Clone)]
enum Compiled {
    Exact,
    Prefix(String),
    Suffix(String),
    Regex(regex::Regex),
}

/// A cleaned pattern, ready to match slash-separated relative paths.
#[derive(Debug, Clone)]
pub struct Pattern {
    text: String,
    exception: bool,
    index: usize,
    kind: MatchKind,
    go_regex: Option<String>,
    compiled: Result<Compiled, TranslateError>,
}

impl Pattern {
    /// Build from a pattern already trimmed and cleaned, without its `!`.
    pub(crate) fn new(text: String, exception: bool, index: usize) -> Result<Pattern, PatternError> {
        check_syntax(&text).map_err(|fault| PatternError::Syntax {
            index,
            pattern: display(&text, exception),
            fault,
        })?;
        let (kind, go_regex) = classify(&text);
        let compiled = match kind {
            MatchKind::Exact => Ok(Compiled::Exact),
            MatchKind::Prefix => Ok(Compiled::Prefix(text[..text.len() - 2].to_string())),
            MatchKind::Suffix => Ok(Compiled::Suffix(text[2..].to_string())),
            MatchKind::Regex => goregex::compile(&go_regex).map(Compiled::Regex),
        };
        let go_regex = (kind == MatchKind::Regex).then_some(go_regex);
        Ok(Pattern { text, exception, index, kind, go_regex, compiled })
    }

    /// The cleaned pattern, without the leading `!` of an exception.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// True for a `!pattern` that re-includes what earlier patterns excluded.
    pub fn is_exception(&self) -> bool {
        self.exception
    }

    pub fn kind(&self) -> MatchKind {
        self.kind
    }

    /// For [`MatchKind::Regex`], the Go regular expression upstream compiles this pattern to.
    pub fn go_regex(&self) -> Option<&str> {
        self.go_regex.as_deref()
    }

    /// Does `path` (slash-separated, relative) match this pattern? Paths are bytes, as file names are:
    /// literal kinds compare bytes, and a regular expression sees the path the way Go's regexp reads a
    /// string (each byte that is not valid UTF-8 is one U+FFFD), so any file name can be matched. Fails
    /// when the pattern's regular expression does not compile.
    pub fn matches(&self, path: impl AsRef<[u8]>) -> Result<bool, PatternError> {
        let path = path.as_ref();
        match &self.compiled {
            Ok(Compiled::Exact) => Ok(path == self.text.as_bytes()),
            Ok(Compiled::Prefix(prefix)) => Ok(path.starts_with(prefix.as_bytes())),
            Ok(Compiled::Suffix(suffix)) => {
                // `**/foo` also matches `foo` itself.
                Ok(path.ends_with(suffix.as_bytes()) || suffix.strip_prefix('/').is_some_and(|s| path == s.as_bytes()))
            }
            Ok(Compiled::Regex(re)) => Ok(re.is_match(&go_string(path))),
            Err(error) => Err(PatternError::Regex {
                index: self.index,
                pattern: display(&self.text, self.exception),
                error: error.clone(),
            }),
        }
    }

    /// The longest run of plain text inside one path element of the pattern: every path the pattern
    /// matches contains it (a glob, class or escape never produces these characters in its place). `None`
    /// when there is none, or the pattern cannot match at all yet (a regex that does not compile, whose
    /// evaluation must still report its error).
    pub(crate) fn required_text(&self) -> Option<&str> {
        if self.compiled.is_err() {
            return None;
        }
        let text = self.text.as_str();
        let mut best = "";
        let mut start = 0;
        let mut in_class = false;
        let mut chars = text.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            let special = in_class || c == '/' || c == '\\' || PATTERN_CHARS.contains(&c);
            match c {
                '[' if !in_class => in_class = true,
                ']' if in_class => in_class = false,
                // The escaped character belongs to the escape (Go's `\d` is a class).
                '\\' => {
                    chars.next();
                }
                _ => {}
            }
            if special {
                if i - start > best.len() {
                    best = &text[start..i];
                }
                start = chars.peek().map_or(text.len(), |&(j, _)| j);
            }
        }
        if text.len() - start > best.len() {
            best = &text[start..];
        }
        (!best.is_empty() && !best.contains(char::REPLACEMENT_CHARACTER)).then_some(best)
    }

    /// The pattern's first path element when it is plain text (no glob or escape character): then only
    /// paths whose first element is exactly this can match (every kind is anchored at the start).
    pub(crate) fn literal_first_element(&self) -> Option<&str> {
        if self.kind == MatchKind::Suffix {
            return None;
        }
        let first = self.text.split('/').next().unwrap_or_default();
        (!first.contains(PATTERN_CHARS)).then_some(first)
    }
}

/// Characters that make a pattern more than a literal path.
pub(crate) const PATTERN_CHARS: &[char] = &['*', '[', ']', '?', '^', '\\'];

/// A path as Go's regexp reads it: valid UTF-8 as is (no copy), each other byte as U+FFFD.
fn go_string(path: &[u8]) -> std::borrow::Cow<'_, str> {
    let mut rest = match std::str::from_utf8(path) {
        Ok(s) => return s.into(),
        Err(_) => path,
    };
    let mut out = String::with_capacity(path.len() + 8);
    loop {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                out.push_str(s);
                return out.into();
            }
            Err(e) => {
                let (valid, after) = rest.split_at(e.valid_up_to());
                out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                // Go decodes an invalid sequence one byte at a time, each byte one RuneError.
                let bad = e.error_len().unwrap_or(after.len());
                out.extend(std::iter::repeat_n(char::REPLACEMENT_CHARACTER, bad));
                rest = &after[bad..];
            }
        }
    }
}

fn display(text: &str, exception: bool) -> String {
    if exception {
        format!("!{text}")
    } else {
        text.to_string()
    }
}

/// Upstream's `compile`: decide the match kind and build the Go regular expression.
fn classify(pattern: &str) -> (MatchKind, String) {
    let chars: Vec<char> = pattern.chars().collect();
    let mut re = String::from("^");
    let mut kind = MatchKind::Exact;
    let mut pos = 0;
    let mut token = 0;
    while pos < chars.len() {
        let ch = chars[pos];
        pos += 1;
        match ch {
            '*' if chars.get(pos) == Some(&'*') => {
                pos += 1;
                // `**/` is the same as `**`.
                if chars.get(pos) == Some(&'/') {
                    pos += 1;
                }
                if pos == chars.len() {
                    if kind == MatchKind::Exact {
                        kind = MatchKind::Prefix;
                    } else {
                        re.push_str(".*");
                        kind = MatchKind::Regex;
                    }
                } else {
                    re.push_str("(.*/)?");
                    kind = MatchKind::Regex;
                }
                if token == 0 {
                    kind = MatchKind::Suffix;
                }
            }
            '*' => {
                re.push_str("[^/]*");
                kind = MatchKind::Regex;
            }
            '?' => {
                re.push_str("[^/]");
                kind = MatchKind::Regex;
            }
            '.' | '+' | '(' | ')' | '|' | '{' | '}' | '$' => {
                re.push('\\');
                re.push(ch);
            }
            '\\' => match chars.get(pos) {
                Some(&next) => {
                    re.push('\\');
                    re.push(next);
                    pos += 1;
                    kind = MatchKind::Regex;
                }
                None => re.push('\\'),
            },
            '[' | ']' => {
                re.push(ch);
                kind = MatchKind::Regex;
            }
            _ => re.push(ch),
        }
        token += 1;
    }
    if kind == MatchKind::Regex {
        re.push('$');
    }
    (kind, re)
}

/// Go's `filepath.Match` syntax rules (Unix): every `[` class closes, holds at least one item, and its
/// items are a character or `lo-hi` where neither end is an unescaped `-` or `]`; `\` escapes the next
/// character and may not end the pattern.
fn check_syntax(pattern: &str) -> Result<(), SyntaxFault> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut pos = 0;
    while pos < chars.len() {
        match chars[pos] {
            '\\' => {
                if pos + 1 >= chars.len() {
                    return Err(SyntaxFault::TrailingBackslash);
                }
                pos += 2;
            }
            '[' => pos = check_class(&chars, pos + 1)?,
            _ => pos += 1,
        }
    }
    Ok(())
}

/// Check the class whose body starts at `pos`; returns the position after its closing `]`.
fn check_class(chars: &[char], mut pos: usize) -> Result<usize, SyntaxFault> {
    if chars.get(pos) == Some(&'^') {
        pos += 1;
    }
    let mut items = 0;
    loop {
        if chars.get(pos) == Some(&']') && items > 0 {
            return Ok(pos + 1);
        }
        pos = class_end(chars, pos)?;
        if chars.get(pos) == Some(&'-') {
            pos = class_end(chars, pos + 1)?;
        }
        items += 1;
    }
}

/// Go's `getEsc`: one (possibly escaped) class character at `pos`, which must be followed by more text.
fn class_end(chars: &[char], mut pos: usize) -> Result<usize, SyntaxFault> {
    match chars.get(pos) {
        None => return Err(SyntaxFault::UnterminatedClass),
        Some('-') | Some(']') => return Err(SyntaxFault::BadRange),
        Some('\\') => {
            pos += 1;
            if pos >= chars.len() {
                return Err(SyntaxFault::UnterminatedClass);
            }
        }
        Some(_) => {}
    }
    pos += 1;
    if pos >= chars.len() {
        return Err(SyntaxFault::UnterminatedClass);
    }
    Ok(pos)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind_of(p: &str) -> (MatchKind, Option<String>) {
        let pat = Pattern::new(p.to_string(), false, 0).unwrap_or_else(|e| panic!("{p:?}: {e}"));
        (pat.kind(), pat.go_regex().map(String::from))
    }

    #[test]
    fn classification_follows_upstream() {
        assert_eq!(kind_of("abc.def"), (MatchKind::Exact, None));
        assert_eq!(kind_of("dir/**"), (MatchKind::Prefix, None));
        assert_eq!(kind_of("**/dir"), (MatchKind::Suffix, None));
        assert_eq!(kind_of("**"), (MatchKind::Suffix, None));
        assert_eq!(kind_of("a*/b"), (MatchKind::Regex, Some("^a[^/]*/b$".into())));
        assert_eq!(kind_of("**/**"), (MatchKind::Regex, Some("^(.*/)?.*$".into())));
        assert_eq!(kind_of("a**b"), (MatchKind::Regex, Some("^a(.*/)?b$".into())));
    }

    #[test]
    fn syntax_errors_are_caught_at_construction() {
        for bad in ["[", "a[", "[^", "[^bc", "[]a]", "[-]", "[x-]", "[-x]", "[a-b-c]", "\\", "a\\"] {
            assert!(
                matches!(Pattern::new(bad.into(), false, 3), Err(PatternError::Syntax { index: 3, .. })),
                "{bad:?} must be a syntax error"
            );
        }
        for good in ["[\\]a]", "[\\-]", "[x\\-]", "[a*]", "[!a]", "[Local-Only]"] {
            assert!(Pattern::new(good.into(), false, 0).is_ok(), "{good:?} is valid filepath.Match syntax");
        }
    }

    #[test]
    fn regex_errors_are_reported_on_every_evaluation() {
        let p = Pattern::new("[Local-Only]".into(), true, 7).expect("valid filepath.Match syntax");
        for _ in 0..2 {
            match p.matches("x") {
                Err(PatternError::Regex { index: 7, pattern, .. }) => assert_eq!(pattern, "![Local-Only]"),
                other => panic!("expected a regex error, got {other:?}"),
            }
        }
    }

    #[test]
    fn bang_inside_a_class_is_not_a_negation() {
        let p = Pattern::new("[!a]".into(), false, 0).expect("valid");
        assert!(p.matches("!").expect("compiles"));
        assert!(p.matches("a").expect("compiles"));
        assert!(!p.matches("b").expect("compiles"));
    }

    #[test]
    fn leading_double_star_with_plain_text_is_a_bare_suffix_test() {
        let p = Pattern::new("**file".into(), false, 0).expect("valid");
        assert!(p.matches("dir/myfile").expect("no regex"));
        assert!(p.matches("file").expect("no regex"));
    }

    #[test]
    fn non_utf8_names_match_byte_for_byte_and_as_go_runes() {
        let any = Pattern::new("d/x?y".into(), false, 0).expect("valid");
        assert!(any.matches(b"d/x\xffy").expect("compiles"), "one bad byte is one rune for `?`");
        assert!(!any.matches(b"d/x\xff\xfey").expect("compiles"));
        let suffix = Pattern::new("**.log".into(), false, 0).expect("valid");
        assert!(suffix.matches(b"a/\xff.log").expect("no regex"));
        let exact = Pattern::new("plain".into(), false, 0).expect("valid");
        assert!(!exact.matches(b"plain\xff").expect("no regex"));
        assert_eq!(go_string(b"a\xe2\x82b"), "a\u{fffd}\u{fffd}b");
    }

    #[test]
    fn required_text_is_plain_text_inside_one_element() {
        let req = |p: &str| Pattern::new(p.into(), false, 0).expect("valid").required_text().map(String::from);
        assert_eq!(req("**/nomatch1*.log").as_deref(), Some("nomatch1"));
        assert_eq!(req("**/b").as_deref(), Some("b"), "`**/b` matches `b`: the slash is not required");
        assert_eq!(req("a[bcd]efg\\dxy").as_deref(), Some("efg"));
        assert_eq!(req("*/*"), None);
        assert_eq!(req("[z-a]x"), None, "a broken regex must still be evaluated");
    }

    #[test]
    fn backslash_escapes_use_go_regexp_meaning() {
        let digit = Pattern::new("v\\d".into(), false, 0).expect("valid");
        assert!(digit.matches("v1").expect("compiles"));
        assert!(!digit.matches("vd").expect("compiles"));
        let star = Pattern::new("a\\*b".into(), false, 0).expect("valid");
        assert!(star.matches("a*b").expect("compiles"));
        assert!(!star.matches("axb").expect("compiles"));
    }
}
