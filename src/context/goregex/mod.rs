//! Go `regexp` syntax, read the way Go reads it, written back as a Rust `regex` with the same meaning.
//!
//! moby/patternmatcher turns a .dockerignore glob into a Go regular expression by passing most characters
//! through untouched, so what a pattern means is decided by Go's regexp parser: `\d` is a digit, `[[:alpha:]]`
//! a POSIX class, a `[` inside a class is a plain character, `[a&&b]` has no set operations, `\é` is an
//! error. Rust's `regex` differs on exactly those points (nested classes, `&&`/`--`/`~~`, Unicode `\d`), so
//! the Go text is never handed to Rust as is: this module parses it with Go's rules (flags `Perl`: one-line
//! anchors, `.` not matching `\n`, Perl classes and escapes, Unicode groups) and emits an unambiguous Rust
//! regex (every non-alphanumeric literal written as `\x{..}`), or the error Go's `regexp.Compile` reports.
//!
//! Only the constructs the pattern compiler can produce are supported; counted repetition `{n,m}` and
//! `(?flags)` groups cannot be produced (the compiler escapes `{` and `(` from user text) and are rejected.

mod charclass;

use charclass::{complement, perl_class, posix, push_class, push_literal, Ranges, MAX_RUNE};

/// Why a Go regular expression does not compile.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TranslateError {
    #[error("trailing backslash at end of expression")]
    TrailingBackslash,
    #[error("invalid escape sequence: `{0}`")]
    InvalidEscape(String),
    #[error("missing closing ]: `{0}`")]
    MissingBracket(String),
    #[error("invalid character class range: `{0}`")]
    InvalidCharRange(String),
    #[error("missing closing )")]
    MissingParen,
    #[error("unexpected )")]
    UnexpectedParen,
    #[error("missing argument to repetition operator: `{0}`")]
    MissingRepeatArgument(char),
    #[error("invalid nested repetition operator")]
    InvalidRepeatOp,
    #[error("unsupported regular expression construct `{0}`")]
    Unsupported(char),
    #[error("{0}")]
    Rust(regex::Error),
}

/// Compile a Go regular expression into a Rust one with the same matches.
pub fn compile(go: &str) -> Result<regex::Regex, TranslateError> {
    let rust = translate(go)?;
    regex::Regex::new(&rust).map_err(TranslateError::Rust)
}

/// Translate Go regexp syntax into Rust regex syntax.
pub fn translate(go: &str) -> Result<String, TranslateError> {
    let mut t = Translator { s: go.chars().collect(), pos: 0, out: String::new() };
    t.run()?;
    Ok(t.out)
}

struct Translator {
    s: Vec<char>,
    pos: usize,
    out: String,
}

impl Translator {
    fn peek(&self) -> Option<char> {
        self.s.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<char> {
        self.s.get(self.pos + offset).copied()
    }

    fn text_from(&self, start: usize) -> String {
        self.s[start..self.pos.min(self.s.len())].iter().collect()
    }

    /// Go's main parse loop. `atom` is where the last repeatable item starts in `out` (a quantifier wraps
    /// it in a group); `None` after `(` or `|`, where Go has nothing to repeat.
    fn run(&mut self) -> Result<(), TranslateError> {
        let mut groups: Vec<usize> = Vec::new();
        let mut atom: Option<usize> = None;
        let mut last_was_repeat = false;
        while let Some(c) = self.peek() {
            let start = self.out.len();
            let mut is_repeat = false;
            match c {
                '(' => {
                    if self.peek_at(1) == Some('?') {
                        return Err(TranslateError::Unsupported('('));
                    }
                    self.pos += 1;
                    groups.push(start);
                    self.out.push_str("(?:");
                    atom = None;
                }
                ')' => {
                    self.pos += 1;
                    let open = groups.pop().ok_or(TranslateError::UnexpectedParen)?;
                    self.out.push(')');
                    atom = Some(open);
                }
                '|' => {
                    self.pos += 1;
                    self.out.push('|');
                    atom = None;
                }
                '*' | '+' | '?' => {
                    self.pos += 1;
                    if last_was_repeat {
                        return Err(TranslateError::InvalidRepeatOp);
                    }
                    let from = atom.ok_or(TranslateError::MissingRepeatArgument(c))?;
                    self.out.insert_str(from, "(?:");
                    self.out.push(')');
                    self.out.push(c);
                    if self.peek() == Some('?') {
                        self.pos += 1;
                        self.out.push('?');
                    }
                    is_repeat = true;
                }
                '{' => return Err(TranslateError::Unsupported('{')),
                '^' => {
                    self.pos += 1;
                    self.out.push_str(r"\A");
                    atom = Some(start);
                }
                '$' => {
                    self.pos += 1;
                    self.out.push_str(r"\z");
                    atom = Some(start);
                }
                '.' => {
                    self.pos += 1;
                    self.out.push('.');
                    atom = Some(start);
                }
                '[' => {
                    self.class()?;
                    atom = Some(start);
                }
                '\\' => {
                    if let Some(last) = self.backslash()? {
                        atom = Some(last);
                    }
                }
                _ => {
                    self.pos += 1;
                    push_literal(&mut self.out, c as u32);
                    atom = Some(start);
                }
            }
            last_was_repeat = is_repeat;
        }
        if !groups.is_empty() {
            return Err(TranslateError::MissingParen);
        }
        Ok(())
    }

    /// A backslash outside a class. Returns where the emitted atom starts, if one was emitted.
    fn backslash(&mut self) -> Result<Option<usize>, TranslateError> {
        let start = self.out.len();
        match self.peek_at(1) {
            None => Err(TranslateError::TrailingBackslash),
            Some('A') | Some('z') | Some('b') | Some('B') => {
                let c = self.peek_at(1).unwrap_or('A');
                self.pos += 2;
                self.out.push_str(match c {
                    'A' => r"\A",
                    'z' => r"\z",
                    // Go's word boundary is ASCII-only.
                    'b' => r"(?-u:\b)",
                    _ => r"(?-u:\B)",
                });
                Ok(Some(start))
            }
            Some('C') => Err(TranslateError::InvalidEscape(r"\C".into())),
            Some('Q') => {
                // \Q...\E: everything up to \E (or the end) is literal, one atom per character.
                self.pos += 2;
                let mut last = None;
                while let Some(c) = self.peek() {
                    if c == '\\' && self.peek_at(1) == Some('E') {
                        self.pos += 2;
                        break;
                    }
                    self.pos += 1;
                    last = Some(self.out.len());
                    push_literal(&mut self.out, c as u32);
                }
                Ok(last)
            }
            Some('p') | Some('P') => {
                let item = self.unicode_class()?;
                self.out.push('[');
                self.out.push_str(&item);
                self.out.push(']');
                Ok(Some(start))
            }
            Some(c) if perl_class(c).is_some() => {
                self.pos += 2;
                let (ranges, negated) = perl_class(c).unwrap_or((&[], false));
                let ranges = if negated { complement(ranges) } else { ranges.to_vec() };
                push_class(&mut self.out, false, &ranges, &[]);
                Ok(Some(start))
            }
            Some(_) => {
                let r = self.escape()?;
                push_literal(&mut self.out, r);
                Ok(Some(start))
            }
        }
    }

    /// Go's `parseEscape`: `self.pos` is at the backslash. Returns the code point it stands for.
    fn escape(&mut self) -> Result<u32, TranslateError> {
        let start = self.pos;
        self.pos += 1;
        let c = self.peek().ok_or(TranslateError::TrailingBackslash)?;
        self.pos += 1;
        let invalid = |t: &Self| TranslateError::InvalidEscape(t.text_from(start));
        match c {
            // Escaped ASCII punctuation (and space, control characters) stands for itself.
            c if c.is_ascii() && !c.is_ascii_alphanumeric() => Ok(c as u32),
            '1'..='7' if !matches!(self.peek(), Some('0'..='7')) => Err(invalid(self)),
            '0'..='7' => {
                let mut r = c as u32 - '0' as u32;
                for _ in 0..2 {
                    match self.peek() {
                        Some(d @ '0'..='7') => {
                            r = r * 8 + (d as u32 - '0' as u32);
                            self.pos += 1;
                        }
                        _ => break,
                    }
                }
                Ok(r)
            }
            'x' => {
                let first = self.peek().ok_or_else(|| invalid(self))?;
                self.pos += 1;
                if first == '{' {
                    let mut r: u32 = 0;
                    let mut digits = 0;
                    loop {
                        let d = self.peek().ok_or_else(|| invalid(self))?;
                        self.pos += 1;
                        if d == '}' {
                            break;
                        }
                        r = r * 16 + d.to_digit(16).ok_or_else(|| invalid(self))?;
                        if r > MAX_RUNE {
                            return Err(invalid(self));
                        }
                        digits += 1;
                    }
                    if digits == 0 {
                        return Err(invalid(self));
                    }
                    return Ok(r);
                }
                let second = self.peek();
                self.pos += 1;
                match (first.to_digit(16), second.and_then(|s| s.to_digit(16))) {
                    (Some(x), Some(y)) => Ok(x * 16 + y),
                    _ => Err(invalid(self)),
                }
            }
            'a' => Ok(0x07),
            'f' => Ok(0x0C),
            'n' => Ok(0x0A),
            'r' => Ok(0x0D),
            't' => Ok(0x09),
            'v' => Ok(0x0B),
            _ => Err(invalid(self)),
        }
    }

    /// Go's `parseUnicodeClass` for `\pN`, `\p{Name}`, `\p{^Name}`, `\PN`...; `self.pos` is at the backslash.
    /// Returns the Rust class item (`\p{Name}` or `\P{Name}`).
    fn unicode_class(&mut self) -> Result<String, TranslateError> {
        let start = self.pos;
        let mut negated = self.peek_at(1) == Some('P');
        self.pos += 2;
        let name: String = match self.peek() {
            Some('{') => {
                let close = self.s[self.pos..].iter().position(|&c| c == '}').map(|i| self.pos + i);
                let Some(close) = close else {
                    self.pos = self.s.len();
                    return Err(TranslateError::InvalidCharRange(self.text_from(start)));
                };
                let name = self.s[self.pos + 1..close].iter().collect();
                self.pos = close + 1;
                name
            }
            Some(c) => {
                self.pos += 1;
                c.to_string()
            }
            None => String::new(),
        };
        let name = match name.strip_prefix('^') {
            Some(rest) => {
                negated = !negated;
                rest.to_string()
            }
            None => name,
        };
        // Go knows "Any" and the exact names of Unicode categories and scripts (`L`, `Lu`, `Greek`,
        // `Old_Italic`); Rust accepts those too (and looser spellings, which are refused here).
        let plausible = name.chars().next().is_some_and(|c| c.is_ascii_uppercase())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !plausible {
            return Err(TranslateError::InvalidCharRange(self.text_from(start)));
        }
        Ok(format!("\\{}{{{name}}}", if negated { 'P' } else { 'p' }))
    }

    /// Go's `parseClass`; `self.pos` is at `[`.
    fn class(&mut self) -> Result<(), TranslateError> {
        let start = self.pos;
        self.pos += 1;
        let negated = self.peek() == Some('^');
        if negated {
            self.pos += 1;
        }
        let mut ranges: Ranges = Vec::new();
        let mut items: Vec<String> = Vec::new();
        let mut first = true;
        loop {
            match self.peek() {
                None => {
                    return Err(TranslateError::MissingBracket(self.text_from(start)));
                }
                Some(']') if !first => {
                    self.pos += 1;
                    break;
                }
                _ => {}
            }
            first = false;
            if self.peek() == Some('[') && self.peek_at(1) == Some(':') {
                if let Some(class) = self.posix_class()? {
                    ranges.extend(class);
                    continue;
                }
            }
            if self.peek() == Some('\\') && matches!(self.peek_at(1), Some('p') | Some('P')) {
                items.push(self.unicode_class()?);
                continue;
            }
            if self.peek() == Some('\\') {
                if let Some((class, neg)) = self.peek_at(1).and_then(perl_class) {
                    self.pos += 2;
                    ranges.extend(if neg { complement(class) } else { class.to_vec() });
                    continue;
                }
            }
            let range_start = self.pos;
            let lo = self.class_char(start)?;
            let mut hi = lo;
            if self.peek() == Some('-') && self.peek_at(1).is_some_and(|c| c != ']') {
                self.pos += 1;
                hi = self.class_char(start)?;
                if hi < lo {
                    return Err(TranslateError::InvalidCharRange(self.text_from(range_start)));
                }
            }
            ranges.push((lo, hi));
        }
        push_class(&mut self.out, negated, &ranges, &items);
        Ok(())
    }

    /// Go's `parseClassChar`.
    fn class_char(&mut self, class_start: usize) -> Result<u32, TranslateError> {
        match self.peek() {
            None => Err(TranslateError::MissingBracket(self.text_from(class_start))),
            Some('\\') => self.escape(),
            Some(c) => {
                self.pos += 1;
                Ok(c as u32)
            }
        }
    }

    /// Go's `parseNamedClass` (`[:alpha:]`, `[:^space:]`); `None` when there is no `:]` ahead, in which case
    /// the `[` is an ordinary class character.
    fn posix_class(&mut self) -> Result<Option<Ranges>, TranslateError> {
        let rest = &self.s[self.pos + 2..];
        let Some(i) = rest.windows(2).position(|w| w == [':', ']']) else {
            return Ok(None);
        };
        let name: String = rest[..i].iter().collect();
        let end = self.pos + 2 + i + 2;
        let (bare, negated) = match name.strip_prefix('^') {
            Some(n) => (n, true),
            None => (name.as_str(), false),
        };
        let Some(class) = posix(bare) else {
            let text = self.s[self.pos..end].iter().collect();
            return Err(TranslateError::InvalidCharRange(text));
        };
        self.pos = end;
        Ok(Some(if negated { complement(class) } else { class.to_vec() }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_match(go: &str, text: &str) -> bool {
        match compile(go) {
            Ok(re) => re.is_match(text),
            Err(e) => panic!("{go:?} should compile: {e}"),
        }
    }

    #[test]
    fn literals_classes_and_anchors_mean_what_go_says() {
        assert!(is_match(r"^a\.b$", "a.b"));
        assert!(!is_match(r"^a\.b$", "axb"));
        assert!(is_match(r"^[^/]*$", "abc"));
        assert!(!is_match(r"^[^/]*$", "a/c"));
        assert!(is_match(r"^(.*/)?x$", "a/b/x"));
        assert!(is_match(r"^(.*/)?x$", "x"));
        assert!(!is_match(r"^(.*/)?x$", "ax"));
        assert!(!is_match(r"^.$", "\n"), "dot does not match a newline");
        assert!(is_match(r"^[^a]$", "\n"), "a negated class matches a newline");
    }

    #[test]
    fn a_bracket_inside_a_class_is_an_ordinary_character() {
        // Go: class {a, [, ^, /}, then `*`, then a literal `]`. Rust would read `[a[^/]]` as nested.
        assert!(is_match(r"^[a[^/]*]$", "]"));
        assert!(is_match(r"^[a[^/]*]$", "a[^/]"));
        assert!(!is_match(r"^[a[^/]*]$", "x]"));
    }

    #[test]
    fn class_set_operators_are_plain_characters() {
        assert!(is_match(r"^[a&&b]$", "&"));
        assert!(is_match(r"^[a~~b]$", "~"));
    }

    #[test]
    fn perl_and_posix_classes_are_ascii_only() {
        assert!(is_match(r"^\d$", "7"));
        assert!(!is_match(r"^\d$", "٣"));
        assert!(is_match(r"^[[:alpha:]]$", "q"));
        assert!(!is_match(r"^[[:alpha:]]$", "é"));
        assert!(is_match(r"^[[:^digit:]x]$", "é"));
        assert!(is_match(r"^\W$", "é"));
        assert!(is_match(r"^[\s]$", "\t"));
    }

    #[test]
    fn escapes_follow_go() {
        assert!(is_match(r"^\a$", "\u{7}"), r"\a is the bell character");
        assert!(is_match(r"^\x41\x{42}\101$", "ABA"));
        assert!(is_match(r"^\ $", " "));
        assert!(is_match(r"^\Qa*b$", "a*b$"), r"\Q quotes to the end");
        assert!(is_match(r"^\Qa*\Eb*$", "a*bb"));
        assert!(matches!(translate(r"\é"), Err(TranslateError::InvalidEscape(_))));
        assert!(matches!(translate(r"\q"), Err(TranslateError::InvalidEscape(_))));
        assert!(matches!(translate(r"\1"), Err(TranslateError::InvalidEscape(_))));
        assert!(matches!(translate(r"a\"), Err(TranslateError::TrailingBackslash)));
        assert!(matches!(translate(r"[\Q]"), Err(TranslateError::InvalidEscape(_))));
    }

    #[test]
    fn bad_ranges_and_brackets_are_errors() {
        assert!(matches!(translate("[Local-Only]"), Err(TranslateError::InvalidCharRange(_))));
        assert!(matches!(translate("[a"), Err(TranslateError::MissingBracket(_))));
        assert!(matches!(translate("[[:nope:]]"), Err(TranslateError::InvalidCharRange(_))));
        assert!(is_match("^[]a]$", "]"), "a leading ] is a literal in Go");
        assert!(is_match("^[a-]$", "-"));
    }

    #[test]
    fn repetition_rules_follow_go() {
        assert!(matches!(translate("a**"), Err(TranslateError::InvalidRepeatOp)));
        assert!(matches!(translate("*a"), Err(TranslateError::MissingRepeatArgument('*'))));
        assert!(matches!(translate("(*)"), Err(TranslateError::MissingRepeatArgument('*'))));
        assert!(matches!(translate("(a"), Err(TranslateError::MissingParen)));
        assert!(matches!(translate("a)"), Err(TranslateError::UnexpectedParen)));
        assert!(is_match("^a*?b$", "aab"));
        assert!(is_match("^^*a$", "a"), "Go lets an anchor repeat");
    }

    #[test]
    fn unicode_groups() {
        assert!(is_match(r"^\p{Greek}$", "α"));
        assert!(is_match(r"^\PL$", "1"));
        assert!(is_match(r"^[\p{^Greek}]$", "a"));
        assert!(matches!(translate(r"\p{greek}"), Err(TranslateError::InvalidCharRange(_))));
        assert!(matches!(translate(r"\p{Greek"), Err(TranslateError::InvalidCharRange(_))));
    }

    #[test]
    fn surrogates_never_match() {
        assert!(!is_match(r"^\x{D800}$", "a"));
        assert!(is_match(r"^[\x{D7FF}-\x{E000}]$", "\u{E000}"));
    }
}
