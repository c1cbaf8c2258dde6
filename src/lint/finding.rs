//! What a lint run produces: findings with a code, a place and a severity, and the severity scale that
//! decides which findings fail a run.

use std::fmt;
use std::str::FromStr;

/// How serious a finding is, most serious first. `Ignore` is "off": a rule at that level does not run
/// (DL3057 ships that way and is switched on by a severity override).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Info,
    Style,
    Ignore,
}

impl Severity {
    pub const ALL: [Severity; 5] =
        [Severity::Error, Severity::Warning, Severity::Info, Severity::Style, Severity::Ignore];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
            Severity::Style => "style",
            Severity::Ignore => "ignore",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A severity word that is not one of `error`, `warning`, `info`, `style`, `ignore` (or `none` where a
/// threshold is expected).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown severity {0:?} (expected error, warning, info, style, ignore or none)")]
pub struct SeverityError(pub String);

impl FromStr for Severity {
    type Err = SeverityError;
    fn from_str(s: &str) -> Result<Severity, SeverityError> {
        Severity::ALL.into_iter().find(|l| l.as_str() == s.to_ascii_lowercase()).ok_or_else(|| SeverityError(s.into()))
    }
}

/// The lowest severity that makes a run fail; `None` never fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Threshold(pub Option<Severity>);

impl Default for Threshold {
    /// `info`, as hadolint: style findings are shown but do not fail a commit hook.
    fn default() -> Self {
        Threshold(Some(Severity::Info))
    }
}

impl FromStr for Threshold {
    type Err = SeverityError;
    fn from_str(s: &str) -> Result<Threshold, SeverityError> {
        if s.eq_ignore_ascii_case("none") {
            return Ok(Threshold(None));
        }
        s.parse().map(|l| Threshold(Some(l)))
    }
}

impl Threshold {
    /// True when a finding at `level` reaches this threshold. An `ignore`-level finding never does.
    pub fn reached_by(self, level: Severity) -> bool {
        match self.0 {
            Some(t) => level != Severity::Ignore && level <= t,
            None => false,
        }
    }

    /// True when any of `findings` reaches this threshold.
    pub fn fails(self, findings: &[Finding]) -> bool {
        findings.iter().any(|f| self.reached_by(f.level))
    }
}

/// One problem found in one file. Serialises to hadolint's JSON shape (keys in its order).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    pub code: String,
    pub column: usize,
    pub file: String,
    pub level: Severity,
    pub line: usize,
    pub message: String,
}
