//! BuildKit's shell-word splitting, only as far as heredoc detection needs it.
//!
//! BuildKit finds heredoc markers by running its shell lexer (`shell.Lex`, escape token always `\`, unset
//! variables kept as written, no environment) over the whole logical line and testing each resulting word.
//! Which words come out decides which heredocs exist, so this reproduces the lexer's observable behaviour:
//! quotes, escapes, `$name` / `${...}` forms (re-split at white space when outside double quotes), `<<`
//! followed by blanks staying in one word, and the errors that make BuildKit see no heredoc at all. It
//! never expands anything: with no variable set, every `$` form comes back as written.

/// What to keep of quotes and escapes in the words (BuildKit's `RawQuotes` / `RawEscapes`).
#[derive(Clone, Copy)]
pub(super) struct Mode {
    pub raw_quotes: bool,
    pub raw_escapes: bool,
}

/// Split `src` into words, or fail with BuildKit's message.
pub(super) fn words(src: &str, mode: Mode) -> Result<Vec<String>, String> {
    let mut lexer = Lexer { chars: src.chars().collect(), at: 0, mode, buf: String::new() };
    lexer.until(None, mode.raw_escapes).map(|(_, words)| words).map_err(|e| format!("failed to process {src:?}: {e}"))
}

struct Lexer {
    chars: Vec<char>,
    at: usize,
    mode: Mode,
    /// The current word. Shared by nested scans, as BuildKit's is: a nested `${...}` scan clears it.
    buf: String,
}

/// The words being collected by one scan (`buf` holds the current one).
#[derive(Default)]
struct Words {
    done: Vec<String>,
    in_word: bool,
}

const ESCAPE: char = '\\';

impl Lexer {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        self.at += usize::from(c.is_some());
        c
    }

    fn add_char(&mut self, w: &mut Words, c: char) {
        if c.is_whitespace() {
            if w.in_word && !self.buf.is_empty() {
                w.done.push(std::mem::take(&mut self.buf));
                w.in_word = false;
            }
        } else {
            self.add_raw(w, c);
        }
    }

    fn add_raw(&mut self, w: &mut Words, c: char) {
        self.buf.push(c);
        w.in_word = true;
    }

    fn add_raw_str(&mut self, w: &mut Words, s: &str) {
        self.buf.push_str(s);
        w.in_word = true;
    }

    fn finish(&mut self, mut w: Words) -> Vec<String> {
        if !self.buf.is_empty() {
            w.done.push(std::mem::take(&mut self.buf));
        }
        w.done
    }

    /// Scan until `stop` (consumed) or the end of input; returns the processed text and its words.
    fn until(&mut self, stop: Option<char>, raw_escapes: bool) -> Result<(String, Vec<String>), String> {
        let saved = self.mode.raw_escapes;
        self.mode.raw_escapes = raw_escapes;
        let result = self.scan(stop);
        self.mode.raw_escapes = saved;
        result
    }

    fn scan(&mut self, stop: Option<char>) -> Result<(String, Vec<String>), String> {
        let mut result = String::new();
        self.buf.clear();
        let mut w = Words::default();
        while let Some(c) = self.peek() {
            if Some(c) == stop {
                self.next();
                return Ok((result, self.finish(w)));
            }
            match c {
                '$' => {
                    let text = self.dollar()?;
                    result.push_str(&text);
                    text.chars().for_each(|c| self.add_char(&mut w, c));
                }
                '<' => {
                    let text = self.possible_heredoc();
                    result.push_str(&text);
                    self.add_raw_str(&mut w, &text);
                }
                '\'' | '"' => {
                    let text = if c == '\'' { self.single_quoted()? } else { self.double_quoted()? };
                    result.push_str(&text);
                    self.add_raw_str(&mut w, &text);
                }
                _ => {
                    self.next();
                    if c == ESCAPE {
                        if self.mode.raw_escapes {
                            self.add_raw(&mut w, c);
                            result.push(c);
                        }
                        let Some(escaped) = self.next() else { break };
                        self.add_raw(&mut w, escaped);
                        result.push(escaped);
                    } else {
                        self.add_char(&mut w, c);
                        result.push(c);
                    }
                }
            }
        }
        match stop {
            Some(s) => Err(format!("unexpected end of statement while looking for matching {s}")),
            None => Ok((result, self.finish(w))),
        }
    }

    fn single_quoted(&mut self) -> Result<String, String> {
        let mut out = String::new();
        let open = self.next().unwrap_or('\'');
        if self.mode.raw_quotes {
            out.push(open);
        }
        loop {
            match self.next() {
                None => return Err("unexpected end of statement while looking for matching single-quote".into()),
                Some('\'') => {
                    if self.mode.raw_quotes {
                        out.push('\'');
                    }
                    return Ok(out);
                }
                Some(c) => out.push(c),
            }
        }
    }

    fn double_quoted(&mut self) -> Result<String, String> {
        let mut out = String::new();
        let open = self.next().unwrap_or('"');
        if self.mode.raw_quotes {
            out.push(open);
        }
        loop {
            match self.peek() {
                None => return Err("unexpected end of statement while looking for matching double-quote".into()),
                Some('"') => {
                    self.next();
                    if self.mode.raw_quotes {
                        out.push('"');
                    }
                    return Ok(out);
                }
                Some('$') => out.push_str(&self.dollar()?),
                Some(_) => {
                    let mut c = self.next().unwrap_or_default();
                    if c == ESCAPE {
                        if self.mode.raw_escapes {
                            out.push(c);
                        }
                        match self.peek() {
                            None => continue,
                            Some('"' | '$' | ESCAPE) => c = self.next().unwrap_or_default(),
                            Some(_) => {}
                        }
                    }
                    out.push(c);
                }
            }
        }
    }

    /// `$name`, `${name}`, `${name<op>word}`, `${name/pattern/replacement}`: as written (nothing is set).
    fn dollar(&mut self) -> Result<String, String> {
        self.next();
        if self.peek() != Some('{') {
            let name = self.name();
            return Ok(format!("${name}"));
        }
        self.next();
        match self.peek() {
            None => return Err("syntax error: missing '}'".into()),
            Some('{' | '}' | ':') => return Err("syntax error: bad substitution".into()),
            Some(_) => {}
        }
        let name = self.name();
        let mut op = self.next();
        let mut ops = op.map_or('\u{fffd}', |c| c).to_string();
        let mut null_is_unset = false;
        match op {
            Some('}') => Ok(format!("${{{name}}}")),
            Some(':' | '+' | '-' | '?' | '#' | '%') => {
                if op == Some(':') {
                    null_is_unset = true;
                    op = self.next();
                    ops.push(op.unwrap_or('\u{fffd}'));
                }
                let raw = matches!(op, Some('#' | '%'));
                if null_is_unset && raw {
                    return Err(format!("unsupported modifier ({ops}) in substitution"));
                }
                let (word, _) = self.until(Some('}'), raw).map_err(|e| self.missing('}', e))?;
                Ok(format!("${{{name}{ops}{word}}}"))
            }
            Some('/') => {
                if self.peek() == Some('/') {
                    self.next();
                }
                let (pattern, _) = self.until(Some('/'), true).map_err(|e| {
                    if self.peek().is_none() {
                        "syntax error: missing '/' in ${}".to_string()
                    } else {
                        e
                    }
                })?;
                let (replacement, _) = self.until(Some('}'), true).map_err(|e| self.missing('}', e))?;
                Ok(format!("${{{name}/{pattern}/{replacement}}}"))
            }
            _ => Err(format!("unsupported modifier ({ops}) in substitution")),
        }
    }

    fn missing(&self, c: char, e: String) -> String {
        if self.peek().is_none() {
            format!("syntax error: missing '{c}'")
        } else {
            e
        }
    }

    /// A variable name: digits, one special parameter, or letters/digits/underscores.
    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if name.is_empty() && c.is_ascii_digit() {
                while let Some(d) = self.peek().filter(char::is_ascii_digit) {
                    self.next();
                    name.push(d);
                }
                return name;
            }
            if name.is_empty() && matches!(c, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.next();
                return c.to_string();
            }
            if !(c.is_alphanumeric() || c == '_') {
                break;
            }
            self.next();
            name.push(c);
        }
        name
    }

    /// `<` alone, or `<<` with the blanks that follow it kept in the same word.
    fn possible_heredoc(&mut self) -> String {
        self.next();
        if self.peek() != Some('<') {
            return "<".into();
        }
        self.next();
        let mut out = String::from("<<");
        while let Some(c) = self.peek().filter(|c| matches!(c, '\t' | '\r' | ' ')) {
            self.next();
            out.push(c);
        }
        out
    }
}
