//! Word expansion with BuildKit's shell-lexer semantics. (Placeholder with the agreed API until the real
//! lexer lands: only `$V` and `${V}`.)
use std::collections::{BTreeMap, BTreeSet};

pub trait Vars {
    fn lookup(&self, name: &str) -> Option<String>;
}

impl Vars for BTreeMap<String, String> {
    fn lookup(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    #[error("bad substitution: {0}")]
    BadSubstitution(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Expansion {
    pub value: String,
    pub used: BTreeSet<String>,
    pub unset: BTreeSet<String>,
}

pub struct Expander {
    pub escape: char,
}

impl Expander {
    pub fn new(escape: char) -> Self {
        Expander { escape }
    }

    pub fn word(&self, text: &str, vars: &dyn Vars) -> Result<Expansion, ExpandError> {
        let mut out = Expansion::default();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '$' {
                let braced = chars.peek() == Some(&'{');
                if braced {
                    chars.next();
                }
                let mut name = String::new();
                while let Some(&n) = chars.peek() {
                    if n.is_ascii_alphanumeric() || n == '_' {
                        name.push(n);
                        chars.next();
                    } else {
                        break;
                    }
                }
                if braced && chars.next() != Some('}') {
                    return Err(ExpandError::BadSubstitution(text.to_string()));
                }
                match vars.lookup(&name) {
                    Some(v) => {
                        out.value.push_str(&v);
                        out.used.insert(name);
                    }
                    None => {
                        out.unset.insert(name);
                    }
                }
            } else if c != '"' && c != '\'' {
                out.value.push(c);
            }
        }
        Ok(out)
    }

    pub fn words(&self, text: &str, vars: &dyn Vars) -> Result<Vec<String>, ExpandError> {
        Ok(self.word(text, vars)?.value.split_whitespace().map(String::from).collect())
    }
}
