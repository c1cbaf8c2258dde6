//! The word reader: one left-to-right pass over the text that expands, unquotes and splits at once.
//!
//! Each nesting level (`${V:-word}`, the pattern of `${V#pattern}`...) is read by [`Lexer::read_until`]
//! with its own result and word buffers. Inside `#`, `%` and `/` operands escapes are kept raw (the
//! shell-pattern compiler interprets them); that setting is scoped to the level that set it.

use super::glob;
use super::{check_len, ExpandError, Expansion, Vars};
use std::collections::BTreeSet;
use std::sync::OnceLock;

/// How deep `${...}` operands may nest; each level is a few stack frames, and the text is user input.
const MAX_DEPTH: usize = 200;

pub(super) struct Lexer<'a> {
    chars: Vec<char>,
    pos: usize,
    escape: char,
    quotes: bool,
    raw_escapes: bool,
    depth: usize,
    vars: &'a dyn Vars,
    used: BTreeSet<String>,
    unset: BTreeSet<String>,
}

/// Words being split: whitespace from outside quotes ends a word, quoted or escaped text never does.
#[derive(Default)]
struct Words {
    done: Vec<String>,
    buf: String,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, ch: char) {
        if !ch.is_whitespace() {
            self.add_raw_char(ch);
        } else if self.in_word && !self.buf.is_empty() {
            self.done.push(std::mem::take(&mut self.buf));
            self.in_word = false;
        }
    }

    fn add_raw_char(&mut self, ch: char) {
        self.buf.push(ch);
        self.in_word = true;
    }

    fn add_str(&mut self, s: &str) {
        s.chars().for_each(|c| self.add_char(c));
    }

    fn add_raw_str(&mut self, s: &str) {
        self.buf.push_str(s);
        self.in_word = true;
    }

    fn finish(mut self) -> Vec<String> {
        if !self.buf.is_empty() {
            self.done.push(self.buf);
        }
        self.done
    }
}

impl<'a> Lexer<'a> {
    pub(super) fn new(text: &str, escape: char, quotes: bool, vars: &'a dyn Vars) -> Self {
        Lexer {
            chars: text.chars().collect(),
            pos: 0,
            escape,
            quotes,
            raw_escapes: false,
            depth: 0,
            vars,
            used: BTreeSet::new(),
            unset: BTreeSet::new(),
        }
    }

    /// Read the whole text: the expanded string and its words.
    pub(super) fn run(&mut self) -> Result<(String, Vec<String>), ExpandError> {
        self.read_until(None, false)
    }

    pub(super) fn into_expansion(self, value: String) -> Expansion {
        Expansion { value, used: self.used, unset: self.unset }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }

    /// Read up to `stop` (consumed) or the end of the text, with escapes kept raw or not for this level.
    fn read_until(&mut self, stop: Option<char>, raw_escapes: bool) -> Result<(String, Vec<String>), ExpandError> {
        if self.depth >= MAX_DEPTH {
            return Err(ExpandError::TooDeep(MAX_DEPTH));
        }
        let outer = std::mem::replace(&mut self.raw_escapes, raw_escapes);
        self.depth += 1;
        let result = self.read_level(stop);
        self.depth -= 1;
        self.raw_escapes = outer;
        result
    }

    fn read_level(&mut self, stop: Option<char>) -> Result<(String, Vec<String>), ExpandError> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.pos += 1;
                return Ok((result, words.finish()));
            }
            match ch {
                '$' => {
                    let value = self.dollar()?;
                    result.push_str(&value);
                    check_len(result.len())?;
                    // An unquoted expansion is split on its whitespace.
                    words.add_str(&value);
                }
                '<' => {
                    let marker = self.heredoc_marker();
                    result.push_str(&marker);
                    words.add_raw_str(&marker);
                }
                '\'' | '"' if self.quotes => {
                    let text = if ch == '\'' { self.single_quoted()? } else { self.double_quoted()? };
                    result.push_str(&text);
                    check_len(result.len())?;
                    words.add_raw_str(&text);
                }
                _ => {
                    self.pos += 1;
                    if ch != self.escape {
                        words.add_char(ch);
                        result.push(ch);
                        continue;
                    }
                    if self.raw_escapes {
                        words.add_raw_char(ch);
                        result.push(ch);
                    }
                    // A trailing escape character is dropped.
                    let Some(escaped) = self.next() else { break };
                    words.add_raw_char(escaped);
                    result.push(escaped);
                }
            }
        }
        match stop {
            Some(stop) => Err(ExpandError::Unterminated(stop)),
            None => Ok((result, words.finish())),
        }
    }

    /// `'...'`: everything literal up to the next `'`; nothing escapes inside.
    fn single_quoted(&mut self) -> Result<String, ExpandError> {
        self.pos += 1;
        let mut text = String::new();
        loop {
            match self.next() {
                None => return Err(ExpandError::UnterminatedSingleQuote),
                Some('\'') => return Ok(text),
                Some(c) => text.push(c),
            }
        }
    }

    /// `"..."`: literal except `$` expansions; the escape character only escapes `"`, `$` and itself
    /// (before anything else it is kept).
    fn double_quoted(&mut self) -> Result<String, ExpandError> {
        self.pos += 1;
        let mut text = String::new();
        loop {
            match self.peek() {
                None => return Err(ExpandError::UnterminatedDoubleQuote),
                Some('"') => {
                    self.pos += 1;
                    return Ok(text);
                }
                Some('$') => {
                    let value = self.dollar()?;
                    text.push_str(&value);
                    check_len(text.len())?;
                }
                Some(mut ch) => {
                    self.pos += 1;
                    if ch == self.escape {
                        if self.raw_escapes {
                            text.push(ch);
                        }
                        match self.peek() {
                            // The loop then reports the missing closing quote.
                            None => continue,
                            Some(next) if next == '"' || next == '$' || next == self.escape => {
                                self.pos += 1;
                                ch = next;
                            }
                            Some(_) => {}
                        }
                    }
                    text.push(ch);
                }
            }
        }
    }

    /// `<` or `<<` with the blanks after it, kept together so a heredoc marker stays one word.
    fn heredoc_marker(&mut self) -> String {
        self.pos += 1;
        if self.peek() != Some('<') {
            return "<".to_string();
        }
        self.pos += 1;
        let mut marker = "<<".to_string();
        while let Some(c @ (' ' | '\t' | '\r')) = self.peek() {
            marker.push(c);
            self.pos += 1;
        }
        marker
    }

    fn lookup(&mut self, name: &str) -> Option<String> {
        let value = self.vars.lookup(name);
        if value.is_some() {
            self.used.insert(name.to_string());
        } else {
            self.unset.insert(name.to_string());
        }
        value
    }

    /// A `$` reference; `self.pos` is at the `$`.
    fn dollar(&mut self) -> Result<String, ExpandError> {
        self.pos += 1;
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".to_string());
            }
            return Ok(self.lookup(&name).unwrap_or_default());
        }
        self.pos += 1;
        match self.peek() {
            None => return Err(ExpandError::MissingBrace),
            Some('{' | '}' | ':') => return Err(ExpandError::BadSubstitution),
            Some(_) => {}
        }
        let name = self.name();
        match self.next() {
            None => Err(ExpandError::MissingBrace),
            Some('}') => Ok(self.lookup(&name).unwrap_or_default()),
            Some(':') => {
                let modifier = self.next();
                let label = format!(":{}", modifier.map(String::from).unwrap_or_default());
                self.modified(&name, modifier, true, label)
            }
            Some(m @ ('+' | '-' | '?' | '#' | '%')) => self.modified(&name, Some(m), false, m.to_string()),
            Some('/') => self.replaced(&name),
            Some(other) => Err(ExpandError::UnsupportedModifier(other.to_string())),
        }
    }

    /// `${V-w}`, `${V:-w}`, `${V+w}`, `${V:+w}`, `${V?w}`, `${V:?w}`, `${V#p}`, `${V##p}`, `${V%p}`,
    /// `${V%%p}`; `self.pos` is after the modifier. `colon`: an empty value counts as unset.
    fn modified(
        &mut self,
        name: &str,
        modifier: Option<char>,
        colon: bool,
        label: String,
    ) -> Result<String, ExpandError> {
        let pattern_operand = matches!(modifier, Some('#' | '%'));
        if colon && pattern_operand {
            return Err(ExpandError::UnsupportedModifier(label));
        }
        let word = self.operand('}', pattern_operand, ExpandError::MissingBrace)?;
        let value = self.lookup(name);
        let unset = value.is_none() || (colon && value.as_deref() == Some(""));
        match modifier {
            Some('-') => Ok(if unset { word } else { value.unwrap_or_default() }),
            Some('+') => Ok(if unset { String::new() } else { word }),
            Some('?') => match value {
                Some(v) if !unset => Ok(v),
                _ => {
                    let default =
                        if value.is_none() { "is not allowed to be unset" } else { "is not allowed to be empty" };
                    let message = if word.is_empty() { default.to_string() } else { word };
                    Err(ExpandError::Required { name: name.to_string(), message })
                }
            },
            Some(op @ ('#' | '%')) => {
                // A doubled operator (`##`, `%%`) removes the longest match instead of the shortest.
                let (pattern, longest) = match word.strip_prefix(op) {
                    Some(rest) => (rest, true),
                    None => (word.as_str(), false),
                };
                let value = value.unwrap_or_default();
                if op == '#' {
                    glob::trim_prefix(pattern, &value, longest)
                } else {
                    glob::trim_suffix(pattern, &value, longest)
                }
            }
            _ => Err(ExpandError::UnsupportedModifier(label)),
        }
    }

    /// `${V/pattern/replacement}` (first match) and `${V//pattern/replacement}` (every match).
    fn replaced(&mut self, name: &str) -> Result<String, ExpandError> {
        let all = self.peek() == Some('/');
        if all {
            self.pos += 1;
        }
        let pattern = self.operand('/', true, ExpandError::MissingSlash)?;
        let replacement = self.operand('}', true, ExpandError::MissingBrace)?;
        let value = self.lookup(name).unwrap_or_default();
        glob::replace(&pattern, &value, &replacement, all)
    }

    /// Read a modifier's operand up to `stop`. An error that leaves the reader at the end of the text is
    /// reported as the missing terminator, as BuildKit does.
    fn operand(&mut self, stop: char, raw_escapes: bool, at_end: ExpandError) -> Result<String, ExpandError> {
        match self.read_until(Some(stop), raw_escapes) {
            Ok((word, _)) => Ok(word),
            Err(_) if self.at_end() => Err(at_end),
            Err(e) => Err(e),
        }
    }

    /// A variable name: a run of digits (positional), one special parameter (`@ * # ? - $ !`), or
    /// letters, digits and `_` (Unicode letters and decimal digits, as Go's `unicode` package says).
    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && is_decimal_digit(ch) {
                while let Some(d) = self.peek().filter(|&d| is_decimal_digit(d)) {
                    name.push(d);
                    self.pos += 1;
                }
                return name;
            }
            if name.is_empty() && matches!(ch, '@' | '*' | '#' | '?' | '-' | '$' | '!') {
                self.pos += 1;
                return ch.to_string();
            }
            if !is_name_char(ch) {
                break;
            }
            name.push(ch);
            self.pos += 1;
        }
        name
    }
}

/// Go's `unicode.IsDigit` (general category Nd).
pub(super) fn is_decimal_digit(c: char) -> bool {
    static ND: OnceLock<Option<regex::Regex>> = OnceLock::new();
    c.is_ascii_digit() || (!c.is_ascii() && in_category(c, &ND, r"^\p{Nd}$"))
}

/// Go's `unicode.IsLetter || unicode.IsDigit || c == '_'` (general categories L and Nd).
pub(super) fn is_name_char(c: char) -> bool {
    static L: OnceLock<Option<regex::Regex>> = OnceLock::new();
    c.is_ascii_alphanumeric() || c == '_' || (!c.is_ascii() && (is_decimal_digit(c) || in_category(c, &L, r"^\p{L}$")))
}

/// Is `c` in the Unicode class `class` (a one-character regex, compiled once into `cell`)?
fn in_category(c: char, cell: &OnceLock<Option<regex::Regex>>, class: &str) -> bool {
    let re = cell.get_or_init(|| regex::Regex::new(class).ok());
    re.as_ref().is_some_and(|re| re.is_match(c.encode_utf8(&mut [0; 4])))
}
