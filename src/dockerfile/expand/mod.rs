//! Word expansion with BuildKit's shell-lexer semantics (`frontend/dockerfile/shell/lex.go`).
//!
//! The planner calls this on instruction arguments after parsing; the parser never expands. One pass reads
//! the word: `$V`, `${V}` and the `${V...}` modifiers (`:-` `-` `:+` `+` `:?` `?` `#` `##` `%` `%%` `/` `//`)
//! are replaced, unset variables become empty, single quotes keep their text literally, double quotes keep
//! spaces but still expand, and the escape character (`\`, or `` ` `` under `# escape=`) makes the next
//! character literal. [`Expander::word`] returns one string (ENV, LABEL, WORKDIR, USER, FROM, each COPY
//! source...), [`Expander::words`] splits on whitespace that came from outside quotes (EXPOSE).
//!
//! Deliberate differences from BuildKit are named where they are made; the one visible difference:
//! since mid-2024 BuildKit's word splitter shares one buffer between nesting levels, so `words` on
//! `a${X:-b}c` returns `bc` there; here it returns `abc`, as BuildKit did before and as a shell does.

mod glob;
mod lexer;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Where variable values come from. A variable that is present with an empty value is *set*.
pub trait Vars {
    fn lookup(&self, name: &str) -> Option<String>;
}

impl Vars for BTreeMap<String, String> {
    fn lookup(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

impl<S: std::hash::BuildHasher> Vars for HashMap<String, String, S> {
    fn lookup(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// An ordered list of `(name, value)`: the last entry of a name wins, as in an environment list.
impl Vars for [(String, String)] {
    fn lookup(&self, name: &str) -> Option<String> {
        self.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }
}

impl Vars for Vec<(String, String)> {
    fn lookup(&self, name: &str) -> Option<String> {
        self.as_slice().lookup(name)
    }
}

impl<V: Vars + ?Sized> Vars for &V {
    fn lookup(&self, name: &str) -> Option<String> {
        (**self).lookup(name)
    }
}

/// Why a word cannot be expanded.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ExpandError {
    #[error("syntax error: missing '}}'")]
    MissingBrace,
    #[error("syntax error: missing '/' in ${{}}")]
    MissingSlash,
    #[error("syntax error: bad substitution")]
    BadSubstitution,
    #[error("unsupported modifier ({0}) in substitution")]
    UnsupportedModifier(String),
    #[error("unexpected end of statement while looking for matching single-quote")]
    UnterminatedSingleQuote,
    #[error("unexpected end of statement while looking for matching double-quote")]
    UnterminatedDoubleQuote,
    #[error("unexpected end of statement while looking for matching {0}")]
    Unterminated(char),
    /// `${V?msg}` with V unset, or `${V:?msg}` with V unset or empty.
    #[error("{name}: {message}")]
    Required { name: String, message: String },
    /// A `#`, `%` or `/` pattern with a `\` before something other than `*`, `?`, `\`, `}` or `/`.
    #[error("invalid pattern ({pattern}) in substitution: invalid escape '\\{}'", found.map(String::from).unwrap_or_default())]
    InvalidEscape { pattern: String, found: Option<char> },
    #[error("invalid pattern ({pattern}) in substitution: {error}")]
    BadPattern { pattern: String, error: regex::Error },
    #[error("substitutions nested more than {0} levels deep")]
    TooDeep(usize),
    /// The expanded text would pass [`MAX_EXPANSION`] bytes: nested `${V//p/r}` multiply, and so can a
    /// variable repeated many times.
    #[error("the expansion is longer than {0} bytes (nested ${{V//p/r}}, or a large variable repeated)")]
    TooLong(usize),
}

/// The longest text one expansion may produce. Nested replacements grow exponentially with the text's
/// length; an environment string passed to exec is limited to 128 KiB anyway.
pub const MAX_EXPANSION: usize = 1 << 20;

/// Fail once `len` bytes of output pass [`MAX_EXPANSION`].
fn check_len(len: usize) -> Result<(), ExpandError> {
    if len > MAX_EXPANSION {
        return Err(ExpandError::TooLong(MAX_EXPANSION));
    }
    Ok(())
}

/// The result of expanding one word.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expansion {
    pub value: String,
    /// Variables the word referenced that were set (possibly empty).
    pub used: BTreeSet<String>,
    /// Variables the word referenced that were not set.
    pub unset: BTreeSet<String>,
}

/// Expands words with a given escape character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expander {
    pub escape: char,
}

impl Default for Expander {
    fn default() -> Self {
        Expander { escape: '\\' }
    }
}

impl Expander {
    pub fn new(escape: char) -> Self {
        Expander { escape }
    }

    /// One word, quotes removed (BuildKit ProcessWord): used for ENV values, WORKDIR, USER, FROM, LABEL...
    pub fn word(&self, text: &str, vars: &dyn Vars) -> Result<Expansion, ExpandError> {
        let mut lexer = lexer::Lexer::new(text, self.escape, true, vars);
        let (value, _) = lexer.run()?;
        Ok(lexer.into_expansion(value))
    }

    /// Split into words on unquoted whitespace after expansion, quotes removed (BuildKit ProcessWords):
    /// used for COPY/ADD/EXPOSE/VOLUME args.
    ///
    /// Whitespace inside a variable's value splits too (`$V` with `V="a b"` is two words) unless the
    /// reference is quoted. An empty quoted word (`""`) yields no word, as in BuildKit.
    pub fn words(&self, text: &str, vars: &dyn Vars) -> Result<Vec<String>, ExpandError> {
        let mut lexer = lexer::Lexer::new(text, self.escape, true, vars);
        Ok(lexer.run()?.1)
    }

    /// A COPY/ADD heredoc body with an unquoted delimiter (BuildKit's `ExpandRaw`): variables and
    /// escapes are processed, quotes are ordinary characters, and the escape character is always `\`
    /// whatever the `# escape=` directive says.
    pub fn heredoc(&self, text: &str, vars: &dyn Vars) -> Result<Expansion, ExpandError> {
        let mut lexer = lexer::Lexer::new(text, '\\', false, vars);
        let (value, _) = lexer.run()?;
        Ok(lexer.into_expansion(value))
    }
}
