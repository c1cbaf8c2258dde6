//! `rbuild lint`: a Dockerfile linter for pre-commit hooks, CI and `rbuild build --check`.
//!
//! The flow is one pass forward: the text is parsed by `dockerfile::parse` (a file that does not parse
//! yields one DL1000 finding and nothing else), grouped into a [`model`] of stages whose RUN commands are
//! read by the [`shell`] reader, every enabled rule of the declared [`rules`] table looks at that model,
//! and the findings are filtered by inline pragmas and BuildKit's `# check=` directive, given their
//! configured severity, and sorted by line. Rendering ([`format`]) and deciding the exit status
//! ([`Threshold`]) are separate steps for the caller.
//!
//! Linting never touches the network or the store, and never fails on a bad Dockerfile: problems with the
//! file are findings. Only the caller's own inputs (configuration, `.dockerignore`) can be errors.

mod config;
pub mod docs;
mod finding;
pub mod format;
mod model;
mod pragma;
pub mod rules;
mod sarif;
pub(crate) mod shell;

pub use config::{Config, ConfigError, Overrides, CONFIG_FILES};
pub use finding::{Finding, Severity, SeverityError, Threshold};
pub use format::{render, Format, FormatError};
pub use rules::{Example, Rule};

use crate::context::{IgnoreFile, IgnoreFileError, Matcher};
use model::Model;
use pragma::Pragmas;
use rules::{Emitter, Raw};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum LintError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot use .dockerignore for lint: {0}")]
    DockerIgnore(#[from] IgnoreFileError),
}

/// One Dockerfile to lint.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// The name findings carry (`Dockerfile`, `docker/app.Dockerfile`, `-`).
    pub file: &'a str,
    pub text: &'a str,
    /// The build's `.dockerignore`, for CopyIgnoredFile; `None` skips that rule.
    pub dockerignore: Option<&'a Matcher>,
}

/// The `.dockerignore` a build of `dockerfile` with `context` would use, compiled; `None` when there is none.
pub fn dockerignore(context: &Path, dockerfile: &Path) -> Result<Option<Matcher>, LintError> {
    let file = IgnoreFile::load(context, dockerfile)?;
    if file.source().is_none() {
        return Ok(None);
    }
    Ok(Some(file.matcher()?))
}

/// Lint one Dockerfile.
pub fn lint(input: &Input, config: &Config) -> Vec<Finding> {
    let dockerfile = match crate::dockerfile::parse(input.text) {
        Ok(d) => d,
        Err(e) => {
            // Nothing else can be said about a file that does not parse; this finding cannot be silenced.
            return vec![Finding {
                code: "DL1000".into(),
                column: e.column.max(1),
                file: input.file.to_string(),
                level: Severity::Error,
                line: e.line,
                message: e.message,
            }];
        }
    };
    let model = Model::build(&dockerfile, config, input.dockerignore);
    let pragmas = Pragmas::read(input.text, &dockerfile, !config.disable_ignore_pragma);
    let mut raw: Vec<Raw> = Vec::new();
    for rule in rules::all() {
        if config.ignores(rule) || config.severity(rule) == Severity::Ignore {
            continue;
        }
        (rule.check)(&model, &mut Emitter { rule, out: &mut raw });
    }
    let mut findings: Vec<Finding> = raw
        .into_iter()
        .filter(|r| !pragmas.silences(r.rule, r.line))
        .map(|r| Finding {
            code: r.rule.code.to_string(),
            column: r.column,
            file: input.file.to_string(),
            level: if pragmas.errors { Severity::Error } else { config.severity(r.rule) },
            line: r.line,
            message: r.message,
        })
        .collect();
    // Stable: within a line, findings keep the order of the rule table.
    findings.sort_by_key(|f| f.line);
    findings.dedup();
    findings
}
