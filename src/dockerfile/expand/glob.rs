//! Shell patterns inside `${V#p}`, `${V%p}` and `${V/p/r}`: `*` any run of characters, `?` any one
//! character, `\` escapes `*`, `?` and `\` (and is dropped before `}` and `/`, which it only protected
//! from ending the operand). No bracket expressions, as in BuildKit.
//!
//! `%` must remove the shortest or longest *suffix*, which a leftmost regex search cannot find directly,
//! so the pattern and the value are both reversed and the suffix becomes a prefix.

use super::lexer::is_name_char;
use super::{check_len, ExpandError};
use regex::Regex;

/// Compile a shell pattern: `*` is greedy or lazy, and the match may be anchored at the start.
fn compile(pattern: &str, greedy: bool, anchored: bool) -> Result<Regex, ExpandError> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut re = String::new();
    if anchored {
        re.push('^');
    }
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' => re.push_str(if greedy { ".*" } else { ".*?" }),
            '?' => re.push('.'),
            '\\' => match chars.get(i) {
                // The escape only kept `}` or `/` from ending the operand; the character is read next.
                Some('}' | '/') => {}
                Some(&next @ ('*' | '?' | '\\')) => {
                    re.push_str(&regex::escape(&next.to_string()));
                    i += 1;
                }
                found => {
                    return Err(ExpandError::InvalidEscape { pattern: pattern.to_string(), found: found.copied() });
                }
            },
            _ => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    Regex::new(&re).map_err(|error| ExpandError::BadPattern { pattern: pattern.to_string(), error })
}

/// `${V#p}` / `${V##p}`: remove the shortest / longest prefix matching `pattern`.
pub(super) fn trim_prefix(pattern: &str, value: &str, longest: bool) -> Result<String, ExpandError> {
    let re = compile(pattern, longest, true)?;
    Ok(match re.find(value) {
        Some(m) => value[m.end()..].to_string(),
        None => value.to_string(),
    })
}

/// `${V%p}` / `${V%%p}`: remove the shortest / longest suffix matching `pattern`.
pub(super) fn trim_suffix(pattern: &str, value: &str, longest: bool) -> Result<String, ExpandError> {
    let reversed = trim_prefix(&reverse_pattern(pattern), &reverse(value), longest)?;
    Ok(reverse(&reversed))
}

/// `${V/p/r}` (first match, `r` literal) and `${V//p/r}` (every match; in `r`, `$0` or `${0}` is the
/// match, `$$` a dollar, other `$name` references are empty), with BuildKit's (Go regexp's) rules.
pub(super) fn replace(pattern: &str, value: &str, replacement: &str, all: bool) -> Result<String, ExpandError> {
    let re = compile(pattern, true, false)?;
    if !all {
        return Ok(match re.find(value) {
            Some(m) => format!("{}{replacement}{}", &value[..m.start()], &value[m.end()..]),
            None => value.to_string(),
        });
    }
    let mut out = String::new();
    let mut last = 0;
    for m in re.find_iter(value) {
        out.push_str(&value[last..m.start()]);
        out.push_str(&expand_template(replacement, m.as_str()));
        check_len(out.len())?;
        last = m.end();
    }
    out.push_str(&value[last..]);
    Ok(out)
}

fn reverse(s: &str) -> String {
    s.chars().rev().collect()
}

/// Reverse a pattern keeping each `\x` pair in order (`a\*c` → `c\*a`).
fn reverse_pattern(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut units: Vec<&[char]> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let len = if chars[i] == '\\' && i + 1 < chars.len() { 2 } else { 1 };
        units.push(&chars[i..i + len]);
        i += len;
    }
    units.into_iter().rev().flatten().collect()
}

/// Go's `Regexp.Expand` for a pattern without capture groups: only group 0 (the match) exists.
fn expand_template(template: &str, matched: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        rest = &rest[dollar + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
            continue;
        }
        match reference(rest) {
            Some((name, after)) => {
                if name == "0" {
                    out.push_str(matched);
                }
                rest = after;
            }
            // Malformed: the `$` is literal.
            None => out.push('$'),
        }
    }
    out.push_str(rest);
    out
}

/// A `name` or `{name}` reference after a `$`: the name and the text after the reference.
fn reference(s: &str) -> Option<(&str, &str)> {
    let (body, braced) = match s.strip_prefix('{') {
        Some(b) => (b, true),
        None => (s, false),
    };
    let len: usize = body.chars().take_while(|&c| is_name_char(c)).map(char::len_utf8).sum();
    if len == 0 {
        return None;
    }
    let (name, after) = body.split_at(len);
    if braced {
        return after.strip_prefix('}').map(|after| (name, after));
    }
    Some((name, after))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverse_pattern_keeps_escape_pairs() {
        assert_eq!(reverse_pattern(r"a\*c"), r"c\*a");
        assert_eq!(reverse_pattern(r"\\\ab"), r"b\a\\");
        assert_eq!(reverse_pattern(r"ab\"), r"\ba");
        assert_eq!(reverse_pattern("👽\\🚀🖖"), "🖖\\🚀👽");
        assert_eq!(reverse_pattern(r"\\b"), r"b\\");
    }

    #[test]
    fn invalid_escapes_are_errors() {
        for bad in ["\\", "\\x", "\\\\\\"] {
            assert!(matches!(compile(bad, true, true), Err(ExpandError::InvalidEscape { .. })), "{bad:?}");
        }
    }

    #[test]
    fn regex_metacharacters_are_literal() {
        let re = compile(r"(()[]{\}^$.\*\?|\\", true, true).expect("compiles");
        assert!(re.is_match(r"(()[]{}^$.*?|\"));
    }

    #[test]
    fn replacement_templates_follow_go() {
        assert_eq!(expand_template("<$0>", "m"), "<m>");
        assert_eq!(expand_template("<${0}>", "m"), "<m>");
        assert_eq!(expand_template("$$x", "m"), "$x");
        assert_eq!(expand_template("$1x$name", "m"), "");
        assert_eq!(expand_template("$", "m"), "$");
        assert_eq!(expand_template("${0", "m"), "${0");
        assert_eq!(expand_template("a$-b", "m"), "a$-b");
    }
}
