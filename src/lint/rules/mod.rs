//! The rule table. Every rule is declared once, as data: a stable code (hadolint's `DLxxxx` where hadolint
//! has the rule, so existing ignore comments keep working; BuildKit's check name where only BuildKit has it),
//! a name, the BuildKit check names it also answers to, a default severity, a one-line summary, why it
//! matters, and a pair of example Dockerfiles. The examples are both the rule's documentation
//! (`docs/lint/<CODE>.md` is generated from this declaration) and its tests: the bad one must trigger the
//! rule on `bad_line`, the good one must not trigger it.
//!
//! Each file here groups the rules of one concern with their checks: `image` (FROM and stages),
//! `instructions` (one instruction at a time), `copy` (COPY and ADD), `run` (shell commands in RUN), and
//! `packages`/`packages_rpm` (package managers in RUN), `metadata` (labels, HEALTHCHECK) and
//! `variables` (ARG and ENV scope).

mod copy;
mod image;
mod instructions;
mod metadata;
mod packages;
mod packages_rpm;
mod run;
mod variables;

use super::finding::Severity;
use super::model::Model;
use crate::dockerfile::expand::{Expander, Vars};
use crate::reference::ImageRef;
use std::collections::BTreeMap;

/// One lint rule, as declared.
pub struct Rule {
    /// Stable code used in output, ignore lists and pragmas (`DL3008`, `StageNameCasing`).
    pub code: &'static str,
    /// A CamelCase name (BuildKit's check name where one matches); also accepted wherever a code is.
    pub name: &'static str,
    /// Other names the rule answers to (e.g. BuildKit's `MultipleInstructionsDisallowed` for DL4003).
    pub aliases: &'static [&'static str],
    pub severity: Severity,
    /// One line: what the rule checks.
    pub summary: &'static str,
    /// Why it matters and what to do instead.
    pub rationale: &'static str,
    pub example: Example,
    pub(crate) check: fn(&Model, &mut Emitter),
}

/// A Dockerfile that breaks the rule and one that follows it, with what they need around them.
pub struct Example {
    pub bad: &'static str,
    /// The line of `bad` the finding is reported on.
    pub bad_line: usize,
    pub good: &'static str,
    /// A configuration file (YAML) the example needs, or "".
    pub config: &'static str,
    /// A `.dockerignore` the example needs, or "".
    pub dockerignore: &'static str,
}

impl Rule {
    /// True when `word` (from an ignore list, pragma or override) names this rule: its code, name or an alias.
    pub fn answers_to(&self, word: &str) -> bool {
        let word = word.trim();
        self.code.eq_ignore_ascii_case(word)
            || self.name.eq_ignore_ascii_case(word)
            || self.aliases.iter().any(|a| a.eq_ignore_ascii_case(word))
    }
}

/// Every rule, in code order within each group.
pub fn all() -> impl Iterator<Item = &'static Rule> {
    [
        instructions::RULES,
        image::RULES,
        copy::RULES,
        metadata::RULES,
        run::RULES,
        packages::RULES,
        packages_rpm::RULES,
        variables::RULES,
    ]
    .into_iter()
    .flatten()
}

/// The rule with this code, name or alias.
pub fn find(word: &str) -> Option<&'static Rule> {
    all().find(|r| r.answers_to(word))
}

/// A finding as a check reports it, before pragmas, overrides and file names are applied.
pub(crate) struct Raw {
    pub rule: &'static Rule,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// What a check reports through: it knows which rule is running.
pub(crate) struct Emitter<'o> {
    pub rule: &'static Rule,
    pub out: &'o mut Vec<Raw>,
}

impl Emitter<'_> {
    pub fn at(&mut self, line: usize, message: impl Into<String>) {
        self.out.push(Raw { rule: self.rule, line, column: 1, message: message.into() });
    }

    /// A finding about one word (a flag, the arguments) of an instruction.
    pub fn at_column(&mut self, line: usize, column: usize, message: impl Into<String>) {
        self.out.push(Raw { rule: self.rule, line, column: column.max(1), message: message.into() });
    }

    /// A finding for a typed instruction's error: at its word when it knows which, else at `line`.
    pub fn at_error(&mut self, line: usize, e: &crate::dockerfile::instructions::InstructionError) {
        match e.at {
            Some(p) => self.at_column(p.line, p.column, e.message.clone()),
            None => self.at(line, e.message.clone()),
        }
    }
}

/// Variables known to have a value, for expanding FROM lines and the like.
struct Known<'m>(&'m BTreeMap<String, String>);

impl Vars for Known<'_> {
    fn lookup(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }
}

/// The image a FROM pulls, with global ARG defaults substituted as the build would; `None` when it is
/// `scratch` or an earlier stage (after substitution), still depends on a variable with no default (then no
/// rule can say anything about it), or is not a valid reference.
pub(crate) fn pulled_image(model: &Model, stage: usize, image: &str) -> Option<ImageRef> {
    let mut vars = BTreeMap::new();
    for arg in &model.meta_args {
        if let Some(default) = &arg.default {
            vars.insert(arg.name.clone(), default.clone());
        }
    }
    let expanded = Expander::new(model.dockerfile.directives.escape).word(image, &Known(&vars)).ok()?;
    if !expanded.unset.is_empty() || expanded.value.contains('$') {
        return None;
    }
    let name = expanded.value;
    if name.eq_ignore_ascii_case("scratch") || model.stage_named(&name, stage).is_some() {
        return None;
    }
    ImageRef::parse(&name).ok()
}
