//! The lint configuration file: `.rbuild-lint.yaml`, or hadolint's `.hadolint.yaml` with the same keys, so
//! a repository that already configures hadolint keeps working:
//!
//! ```yaml
//! ignored: [DL3008, StageNameCasing]     # rules that never run
//! override:                              # per-rule severities
//!   error: [DL3015]
//!   info: [DL3057]
//! trustedRegistries: [docker.io, registry.example.com]   # DL3026
//! label-schema: {owner: text}            # DL3049-DL3051
//! strict-labels: true                    # DL3050
//! failure-threshold: warning
//! disable-ignore-pragma: false
//! ```
//!
//! Unknown keys are accepted (hadolint has output options that make no sense here), unknown rule codes
//! too (ShellCheck codes and retired DL codes appear in real configurations).

use super::finding::{Severity, Threshold};
use super::rules::Rule;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Files looked for, in order, in the directory a run starts from.
pub const CONFIG_FILES: &[&str] = &[".rbuild-lint.yaml", ".rbuild-lint.yml", ".hadolint.yaml", ".hadolint.yml"];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read lint configuration {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid lint configuration {path}: {source}")]
    Yaml { path: PathBuf, source: serde_yaml_ng::Error },
    #[error("invalid lint configuration {path}: failure-threshold: {source}")]
    Threshold { path: PathBuf, source: super::finding::SeverityError },
}

/// Per-severity lists of rules, as under hadolint's `override:` key.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
pub struct Overrides {
    #[serde(default)]
    pub error: Vec<String>,
    #[serde(default)]
    pub warning: Vec<String>,
    #[serde(default)]
    pub info: Vec<String>,
    #[serde(default)]
    pub style: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
pub struct Config {
    #[serde(default)]
    pub ignored: Vec<String>,
    #[serde(default, rename = "override")]
    pub overrides: Overrides,
    #[serde(default, rename = "trustedRegistries", alias = "trusted-registries", alias = "trusted_registries")]
    pub trusted_registries: Vec<String>,
    #[serde(default, rename = "label-schema", alias = "labelSchema")]
    pub label_schema: BTreeMap<String, String>,
    #[serde(default, rename = "strict-labels", alias = "strictLabels")]
    pub strict_labels: bool,
    #[serde(default, rename = "failure-threshold", alias = "failureThreshold")]
    pub failure_threshold: Option<String>,
    #[serde(default, rename = "disable-ignore-pragma", alias = "disableIgnorePragma")]
    pub disable_ignore_pragma: bool,
}

impl Config {
    /// Parse configuration text; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        // An empty file is an empty configuration, not a YAML error.
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        let config: Config =
            serde_yaml_ng::from_str(text).map_err(|source| ConfigError::Yaml { path: path.to_path_buf(), source })?;
        config.threshold().map_err(|source| ConfigError::Threshold { path: path.to_path_buf(), source })?;
        Ok(config)
    }

    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        Config::parse(&text, path)
    }

    /// The first of [`CONFIG_FILES`] present in `dir`, loaded.
    pub fn discover(dir: &Path) -> Result<Option<(PathBuf, Config)>, ConfigError> {
        for name in CONFIG_FILES {
            let path = dir.join(name);
            if path.is_file() {
                return Config::load(&path).map(|c| Some((path, c)));
            }
        }
        Ok(None)
    }

    /// The configured failure threshold, if the file sets one.
    pub fn threshold(&self) -> Result<Option<Threshold>, super::finding::SeverityError> {
        self.failure_threshold.as_deref().map(str::parse).transpose()
    }

    /// True when the rule is switched off by `ignored`.
    pub fn ignores(&self, rule: &Rule) -> bool {
        self.ignored.iter().any(|w| rule.answers_to(w))
    }

    /// The rule's severity after `override`.
    pub fn severity(&self, rule: &Rule) -> Severity {
        let o = &self.overrides;
        let levels = [
            (&o.error, Severity::Error),
            (&o.warning, Severity::Warning),
            (&o.info, Severity::Info),
            (&o.style, Severity::Style),
        ];
        levels.into_iter().find(|(list, _)| list.iter().any(|w| rule.answers_to(w))).map_or(rule.severity, |(_, l)| l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::rules::find;

    #[test]
    fn reads_hadolint_keys() {
        let text = "ignored:\n  - DL3008\n  - SC2086\noverride:\n  error: [DL3015]\ntrustedRegistries:\n  - docker.io\nlabel-schema:\n  owner: text\nstrict-labels: true\nfailure-threshold: warning\nformat: json\n";
        let c = Config::parse(text, Path::new(".hadolint.yaml")).unwrap();
        let dl3008 = find("DL3008").unwrap();
        let dl3015 = find("DL3015").unwrap();
        assert!(c.ignores(dl3008));
        assert!(!c.ignores(dl3015));
        assert_eq!(c.severity(dl3015), Severity::Error);
        assert_eq!(c.severity(dl3008), Severity::Warning);
        assert_eq!(c.trusted_registries, ["docker.io"]);
        assert!(c.strict_labels);
        assert_eq!(c.threshold().unwrap(), Some(Threshold(Some(Severity::Warning))));
    }

    #[test]
    fn names_work_like_codes_and_bad_files_are_errors() {
        let c = Config::parse("ignored: [stagenamecasing]\n", Path::new("x")).unwrap();
        assert!(c.ignores(find("StageNameCasing").unwrap()));
        assert!(Config::parse("", Path::new("x")).unwrap() == Config::default());
        assert!(matches!(Config::parse("ignored: 3\n", Path::new("x")), Err(ConfigError::Yaml { .. })));
        assert!(matches!(
            Config::parse("failure-threshold: loud\n", Path::new("x")),
            Err(ConfigError::Threshold { .. })
        ));
    }
}
