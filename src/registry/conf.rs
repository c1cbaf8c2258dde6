//! The `registries` setting: containers' `registries.conf` (TOML), the file podman, buildah and skopeo
//! read, so one file tells all of them (and rbuild) which registries are insecure or blocked.
//!
//! Found as containers/image finds it: `$CONTAINERS_REGISTRIES_CONF`, else
//! `$XDG_CONFIG_HOME/containers/registries.conf` (`~/.config/…`) when it exists, else
//! `/etc/containers/registries.conf`; a missing file is an empty setting. Read: version 2's
//! `[[registry]]` tables (`prefix`, default `location`; `insecure`; `blocked`), the most specific prefix
//! winning (a `*.example.com` wildcard is less specific than any exact host), and version 1's
//! `[registries.insecure]`/`[registries.block]` lists. Not used (and ignored, never an error, so one file
//! still serves all tools): mirrors, a `location` that rewrites its prefix elsewhere, short-name search
//! lists and the `registries.conf.d` drop-ins.
//! `insecure = true` makes the registry plain-http-or-unverified TLS unless `--tls-verify` says otherwise;
//! `insecure = false` makes it verified even on loopback (where docker's default is insecure);
//! `blocked` refuses every pull and push of the names under its prefix (and `login` to a blocked host).

use super::RegistryError;
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Debug, Default, Deserialize)]
struct File {
    #[serde(default)]
    registry: Vec<Entry>,
    /// Version 1's lists.
    #[serde(default)]
    registries: Option<V1>,
}

#[derive(Debug, Default, Deserialize)]
struct V1 {
    #[serde(default)]
    insecure: Option<V1List>,
    #[serde(default)]
    block: Option<V1List>,
}

#[derive(Debug, Default, Deserialize)]
struct V1List {
    #[serde(default)]
    registries: Vec<String>,
}

/// One `[[registry]]` table.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct Entry {
    #[serde(default)]
    pub prefix: Option<String>,
    #[serde(default)]
    pub location: String,
    /// `Some(false)` is meaningful: it makes even a loopback registry verified.
    #[serde(default)]
    pub insecure: Option<bool>,
    #[serde(default)]
    pub blocked: bool,
}

impl Entry {
    fn prefix(&self) -> &str {
        self.prefix.as_deref().filter(|p| !p.is_empty()).unwrap_or(&self.location)
    }

    /// How well the prefix matches `name` (`host[:port][/path]`): its length, wildcards below any exact
    /// match; `None` when it does not.
    fn specificity(&self, name: &str) -> Option<usize> {
        let prefix = self.prefix();
        if let Some(domain) = prefix.strip_prefix("*.") {
            let host = name.split('/').next().unwrap_or(name);
            return host.ends_with(&format!(".{domain}")).then_some(0);
        }
        let rest = name.strip_prefix(prefix)?;
        (rest.is_empty() || rest.starts_with(['/', ':', '@']) || prefix.ends_with('/')).then_some(prefix.len() + 1)
    }
}

/// The settings of one registries.conf.
#[derive(Debug, Default)]
pub struct Registries {
    /// Where they were read from, for messages.
    pub path: Option<PathBuf>,
    entries: Vec<Entry>,
}

impl Registries {
    /// The file containers' tools would read (see the module doc).
    pub fn path() -> PathBuf {
        if let Some(p) = std::env::var_os("CONTAINERS_REGISTRIES_CONF").filter(|p| !p.is_empty()) {
            return PathBuf::from(p);
        }
        let config = std::env::var_os("XDG_CONFIG_HOME")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")));
        match config.map(|c| c.join("containers/registries.conf")) {
            Some(user) if user.is_file() => user,
            _ => PathBuf::from("/etc/containers/registries.conf"),
        }
    }

    /// Read the setting from [`Registries::path`]; a missing file is an empty setting.
    pub fn load() -> Result<Registries, RegistryError> {
        let path = Registries::path();
        match std::fs::read_to_string(&path) {
            Ok(text) => Registries::parse(&text).map(|r| Registries { path: Some(path.clone()), ..r }).map_err(|e| {
                RegistryError::Conf {
                    path,
                    detail: format!("{e} (fix the file or point CONTAINERS_REGISTRIES_CONF elsewhere)"),
                }
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Registries::default()),
            Err(source) => Err(RegistryError::Io { path, source }),
        }
    }

    pub fn parse(text: &str) -> Result<Registries, toml::de::Error> {
        let file: File = toml::from_str(text)?;
        let mut entries = file.registry;
        let v1 = file.registries.unwrap_or_default();
        let list = |l: Option<V1List>, insecure: bool| {
            l.unwrap_or_default().registries.into_iter().map(move |location| Entry {
                prefix: None,
                location,
                insecure: Some(insecure),
                blocked: !insecure,
            })
        };
        entries.extend(list(v1.insecure, true));
        entries.extend(list(v1.block, false));
        Ok(Registries { path: None, entries })
    }

    /// The entry that applies to `name` (`host[:port]` or a full `host/path` name), if any.
    pub fn find(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().filter_map(|e| e.specificity(name).map(|s| (s, e))).max_by_key(|(s, _)| *s).map(|(_, e)| e)
    }

    /// Whether the registry `host[:port]` is marked insecure (or, `Some(false)`, explicitly not).
    pub fn insecure(&self, registry: &str) -> Option<bool> {
        self.find(registry).and_then(|e| e.insecure)
    }

    /// An error when `name` (`host/path`) is under a blocked prefix.
    pub fn check_blocked(&self, name: &str) -> Result<(), RegistryError> {
        match self.find(name) {
            Some(e) if e.blocked => Err(RegistryError::Blocked {
                name: name.to_string(),
                prefix: e.prefix().to_string(),
                path: self.path.clone().unwrap_or_default(),
            }),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_specific_prefix_wins_and_v1_lists_count() {
        let r = Registries::parse(
            r#"
unqualified-search-registries = ["docker.io"]
[[registry]]
location = "reg.example:5000"
insecure = true
[[registry]]
prefix = "reg.example:5000/bad"
location = "reg.example:5000/bad"
blocked = true
[[registry]]
location = "*.corp.example"
insecure = true
[[registry.mirror]]
location = "mirror.example"
[registries.block]
registries = ["evil.example"]
"#,
        )
        .unwrap();
        assert_eq!(r.insecure("reg.example:5000"), Some(true));
        assert_eq!(r.insecure("reg.example:50001"), None, "a port is part of the name");
        assert_eq!((r.insecure("a.corp.example"), r.insecure("corp.example")), (Some(true), None));
        assert!(r.check_blocked("reg.example:5000/good/app").is_ok());
        assert!(r.check_blocked("reg.example:5000/bad/app").is_err());
        assert!(r.check_blocked("reg.example:5000/badness/app").is_ok(), "prefixes end at a path boundary");
        assert!(r.check_blocked("evil.example/x").is_err());
        assert_eq!(r.insecure("docker.io"), None);
    }

    #[test]
    fn a_broken_file_names_the_line() {
        let e = Registries::parse("[[registry]]\nlocation = \n").unwrap_err().to_string();
        assert!(e.contains("line 2"), "{e}");
    }
}
