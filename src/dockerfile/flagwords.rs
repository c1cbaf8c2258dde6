//! The `--flag` words of one instruction: which flags each instruction accepts, whether each takes a
//! value or may repeat, booleans, duplicates, and where each flag is written, so that every error about a
//! flag points at its line and column. The values are typed by `flags` and `instructions`.

use super::ast::{Instruction, Keyword, Position};
use super::flags::Deferred;
use super::instructions::InstructionError;
use std::collections::BTreeMap;

/// Flags an instruction accepts: `(name, takes a value, may repeat)`.
pub(super) fn allowed_flags(kind: Keyword) -> &'static [(&'static str, bool, bool)] {
    match kind {
        Keyword::From => &[("platform", true, false)],
        Keyword::Run => &[("mount", true, true), ("network", true, false), ("security", true, false)],
        Keyword::Copy => &[
            ("from", true, false),
            ("chown", true, false),
            ("chmod", true, false),
            ("link", false, false),
            ("parents", false, false),
            ("exclude", true, true),
        ],
        Keyword::Add => &[
            ("chown", true, false),
            ("chmod", true, false),
            ("link", false, false),
            ("parents", false, false),
            ("checksum", true, false),
            ("keep-git-dir", false, false),
            ("exclude", true, true),
        ],
        Keyword::Healthcheck => &[
            ("interval", true, false),
            ("timeout", true, false),
            ("start-period", true, false),
            ("start-interval", true, false),
            ("retries", true, false),
        ],
        _ => &[],
    }
}

/// Parsed `--flag` words of one instruction, each value with where its flag is written.
#[derive(Debug, Default)]
pub(super) struct Flags {
    values: BTreeMap<String, Vec<(String, Position)>>,
    /// Where the instruction is, for flags of an instruction not parsed from a file.
    fallback: Position,
}

impl Flags {
    pub fn parse(ins: &Instruction) -> Result<Flags, InstructionError> {
        let allowed = allowed_flags(ins.kind);
        let fallback = Position { line: ins.location.start_line, column: 0 };
        let mut flags = Flags { values: BTreeMap::new(), fallback };
        for (i, word) in ins.flags.iter().enumerate() {
            let at = ins.flag_positions.get(i).copied().unwrap_or(fallback);
            let err = |message: String| Err(InstructionError::at(ins.location, at, message));
            let body = word.strip_prefix("--").unwrap_or(word);
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            let Some(&(_, takes_value, repeats)) = allowed.iter().find(|(n, _, _)| *n == name) else {
                return err(format!("unknown flag: --{name} on {}", ins.kind.as_str()));
            };
            let value = match (takes_value, value) {
                (true, Some(v)) => v.to_string(),
                (true, None) => return err(format!("missing a value on flag: --{name}")),
                (false, None) => "true".to_string(),
                (false, Some(v)) if v == "true" || v == "false" => v.to_string(),
                (false, Some(v)) => return err(format!("expecting boolean value for flag --{name}, not: {v}")),
            };
            let entry = flags.values.entry(name.to_string()).or_default();
            if !entry.is_empty() && !repeats {
                return err(format!("duplicate flag specified: --{name}"));
            }
            entry.push((value, at));
        }
        Ok(flags)
    }

    pub fn string(&mut self, name: &str) -> Option<String> {
        self.values.remove(name).and_then(|mut v| v.pop()).map(|(v, _)| v)
    }

    pub fn bool(&mut self, name: &str) -> bool {
        self.string(name).is_some_and(|v| v == "true")
    }

    pub fn list(&mut self, name: &str) -> Vec<String> {
        self.values.remove(name).unwrap_or_default().into_iter().map(|(v, _)| v).collect()
    }

    /// The name of a flag given but not taken by the instruction's lowering, and where it is.
    pub fn leftover(&self) -> Option<(&str, Position)> {
        self.values.iter().next().map(|(n, v)| (n.as_str(), v.first().map_or(self.fallback, |(_, p)| *p)))
    }

    /// A flag's values parsed with `parse` (now, or after expansion when they hold a variable); a bad
    /// value is an error at the flag, naming it.
    pub fn typed<T: Clone>(
        &mut self,
        ins: &Instruction,
        name: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Vec<Deferred<T>>, InstructionError> {
        let mut out = Vec::new();
        for (value, at) in self.values.remove(name).unwrap_or_default() {
            let typed = Deferred::parse(&value, &parse).map_err(|e| {
                InstructionError::at(ins.location, at, format!("{} --{name}={value}: {e}", ins.kind.as_str()))
            })?;
            out.push(typed);
        }
        Ok(out)
    }

    /// One flag's value, typed; see [`Flags::typed`].
    pub fn one<T: Clone>(
        &mut self,
        ins: &Instruction,
        name: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<Deferred<T>>, InstructionError> {
        Ok(self.typed(ins, name, parse)?.pop())
    }
}
