//! Build arguments: `--build-arg` values, the global (meta) ARG scope, and the args Docker predefines.

use super::PlanError;
use crate::dockerfile::expand::{Expander, Vars};
use crate::dockerfile::instructions::Program;
use crate::registry::Platform;
use std::collections::BTreeMap;

/// Proxy args every stage may use without declaring them (and that never reach the image history).
pub const PREDEFINED_PROXY_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// `--build-arg` values as given on the command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildArgs {
    values: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed --build-arg {0:?}: expected NAME=VALUE (or NAME to take the value from the environment)")]
pub struct BuildArgError(pub String);

impl BuildArgs {
    /// Parse `NAME=VALUE` words; a bare `NAME` takes its value from the environment (and is dropped when the
    /// environment has none), as `docker build` does.
    pub fn parse(words: &[String]) -> Result<BuildArgs, BuildArgError> {
        let mut values = BTreeMap::new();
        for w in words {
            let (name, value) = match w.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (w.as_str(), std::env::var(w).ok()),
            };
            let valid = !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == '$');
            if !valid {
                return Err(BuildArgError(w.clone()));
            }
            if let Some(v) = value {
                values.insert(name.to_string(), v);
            }
        }
        Ok(BuildArgs { values })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }
}

/// Declared ARGs in one scope, in declaration order of first appearance: name → value (None when declared
/// without a value).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    values: BTreeMap<String, Option<String>>,
}

impl Scope {
    pub fn set(&mut self, name: &str, value: Option<String>) {
        self.values.insert(name.to_string(), value);
    }

    pub fn contains(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    pub fn get(&self, name: &str) -> Option<&Option<String>> {
        self.values.get(name)
    }

    /// Declared names with a value, as `(name, value)`.
    pub fn defined(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values.iter().filter_map(|(k, v)| v.as_deref().map(|v| (k.as_str(), v)))
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }
}

impl Vars for Scope {
    fn lookup(&self, name: &str) -> Option<String> {
        self.values.get(name).cloned().flatten()
    }
}

/// The automatic platform args (`TARGETPLATFORM`, `BUILDARCH`, ...), present in the global scope: TARGET*
/// describe `target` (the `--platform` being built), BUILD* the host that runs the build.
pub fn platform_args(target: &Platform) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (prefix, platform) in [("TARGET", target), ("BUILD", &Platform::host())] {
        let (os, arch, variant) = platform.arg_parts();
        out.push((format!("{prefix}PLATFORM"), platform.short()));
        out.push((format!("{prefix}OS"), os.to_string()));
        out.push((format!("{prefix}ARCH"), arch.to_string()));
        out.push((format!("{prefix}VARIANT"), variant.to_string()));
    }
    out
}

fn is_platform_arg(name: &str) -> bool {
    ["TARGET", "BUILD"]
        .iter()
        .any(|p| name.strip_prefix(p).is_some_and(|rest| matches!(rest, "PLATFORM" | "OS" | "ARCH" | "VARIANT")))
}

/// The global scope: automatic platform args, then each ARG before the first FROM (build-arg value, else
/// its default expanded with the args declared before it).
pub fn meta_scope(
    program: &Program,
    build_args: &BuildArgs,
    target: &Platform,
    expander: &Expander,
) -> Result<Scope, PlanError> {
    let mut scope = Scope::default();
    for (name, value) in platform_args(target) {
        scope.set(&name, Some(build_args.get(&name).map(String::from).unwrap_or(value)));
    }
    for (decl, location) in &program.meta_args {
        let value = match (build_args.get(&decl.name), &decl.default) {
            (Some(v), _) => Some(v.to_string()),
            (None, Some(d)) => Some(
                expander
                    .word(d, &scope)
                    .map_err(|e| PlanError { location: *location, message: format!("ARG {}: {e}", decl.name) })?
                    .value,
            ),
            // `ARG TARGETPLATFORM` with no value re-declares an automatic arg: it keeps its value.
            (None, None) => scope.get(&decl.name).cloned().flatten().filter(|_| is_platform_arg(&decl.name)),
        };
        scope.set(&decl.name, value);
    }
    Ok(scope)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_args_parse_name_value_and_reject_malformed() {
        let a = BuildArgs::parse(&["A=1".into(), "B==x".into(), "C=".into()]).unwrap();
        assert_eq!((a.get("A"), a.get("B"), a.get("C")), (Some("1"), Some("=x"), Some("")));
        assert!(BuildArgs::parse(&["=1".into()]).is_err());
        assert!(BuildArgs::parse(&["A B=1".into()]).is_err());
    }

    #[test]
    fn bare_build_arg_reads_the_environment() {
        let a = BuildArgs::parse(&["PATH".into(), "RBUILD_SURELY_UNSET_VAR_123".into()]).unwrap();
        assert_eq!(a.get("PATH").map(String::from), std::env::var("PATH").ok());
        assert_eq!(a.get("RBUILD_SURELY_UNSET_VAR_123"), None);
    }

    #[test]
    fn platform_args_describe_the_host() {
        let args: BTreeMap<String, String> = platform_args(&Platform::host()).into_iter().collect();
        assert_eq!(args["TARGETOS"], "linux");
        assert!(args["TARGETPLATFORM"].starts_with("linux/"));
        assert_eq!(args["TARGETARCH"], args["BUILDARCH"]);
    }

    #[test]
    fn target_args_follow_the_requested_platform() {
        let target = Platform::parse("linux/arm/v7").unwrap();
        let args: BTreeMap<String, String> = platform_args(&target).into_iter().collect();
        assert_eq!(args["TARGETPLATFORM"], "linux/arm/v7");
        assert_eq!((args["TARGETARCH"].as_str(), args["TARGETVARIANT"].as_str()), ("arm", "v7"));
        assert_eq!(args["BUILDARCH"], Platform::host().arch);
        let arm64: BTreeMap<String, String> =
            platform_args(&Platform::parse("linux/arm64").unwrap()).into_iter().collect();
        assert_eq!((arm64["TARGETPLATFORM"].as_str(), arm64["TARGETVARIANT"].as_str()), ("linux/arm64", ""));
    }
}
