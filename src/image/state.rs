//! The image configuration a stage builds up, with Docker's extension fields.
//!
//! oci-spec's `ImageConfiguration` has no place for `Healthcheck`, `OnBuild` or `Shell`, which Docker and
//! BuildKit write into the config and users rely on; so the running state is this struct, serialised to the
//! OCI config JSON (keys sorted, so the same state always gives the same bytes) and checked by parsing it
//! back with oci-spec before it is committed.

use crate::digest::Digest;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthConfig {
    pub test: Vec<String>,
    pub interval: Option<i64>,
    pub timeout: Option<i64>,
    pub start_period: Option<i64>,
    pub start_interval: Option<i64>,
    pub retries: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerConfig {
    pub user: Option<String>,
    pub exposed_ports: BTreeSet<String>,
    pub env: Env,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub volumes: BTreeSet<String>,
    pub working_dir: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub stop_signal: Option<String>,
    pub healthcheck: Option<HealthConfig>,
    pub onbuild: Vec<String>,
    pub shell: Option<Vec<String>>,
}

impl ContainerConfig {
    /// The value of an environment variable.
    pub fn env_get(&self, key: &str) -> Option<&str> {
        self.env.get(key)
    }

    /// Set an environment variable, replacing it in place when present (Docker keeps the original order).
    pub fn env_set(&mut self, key: &str, value: &str) {
        self.env.set(key, value);
    }
}

/// The config's `Env`: `KEY=VALUE` strings in Docker's order, with an index by key so that a Dockerfile
/// with 100 000 ENV lines costs linear time, not a scan of every variable per line.
#[derive(Debug, Clone, Default)]
pub struct Env {
    vars: Vec<String>,
    /// Key → position of the first `KEY=...` entry in `vars` (an entry without `=` names no variable).
    index: HashMap<String, usize>,
}

impl Env {
    /// The value of `key` (the first entry with that key, as Docker reads it).
    pub fn get(&self, key: &str) -> Option<&str> {
        let kv = &self.vars[*self.index.get(key)?];
        kv.split_once('=').map(|(_, v)| v)
    }

    /// Set `key`, replacing the first entry with that key in place, or appending.
    pub fn set(&mut self, key: &str, value: &str) {
        let entry = format!("{key}={value}");
        match self.index.get(key) {
            Some(&i) => self.vars[i] = entry,
            None => {
                self.index.insert(key.to_string(), self.vars.len());
                self.vars.push(entry);
            }
        }
    }

    pub fn as_slice(&self) -> &[String] {
        &self.vars
    }
}

impl From<Vec<String>> for Env {
    fn from(vars: Vec<String>) -> Env {
        let mut index = HashMap::with_capacity(vars.len());
        for (i, kv) in vars.iter().enumerate() {
            if let Some((key, _)) = kv.split_once('=') {
                index.entry(key.to_string()).or_insert(i);
            }
        }
        Env { vars, index }
    }
}

impl std::ops::Deref for Env {
    type Target = [String];
    fn deref(&self) -> &[String] {
        &self.vars
    }
}

/// Two environments are equal when their entries are (the index follows from them).
impl PartialEq for Env {
    fn eq(&self, other: &Env) -> bool {
        self.vars == other.vars
    }
}

impl Eq for Env {}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    pub created: String,
    pub created_by: String,
    pub comment: Option<String>,
    pub author: Option<String>,
    pub empty_layer: bool,
}

/// Everything of an image except its layer blobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageState {
    pub architecture: String,
    pub os: String,
    pub variant: Option<String>,
    pub author: Option<String>,
    pub created: Option<String>,
    pub config: ContainerConfig,
    pub diff_ids: Vec<Digest>,
    pub history: Vec<HistoryEntry>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("image config is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("image config field {field}: {message}")]
    Field { field: &'static str, message: String },
}

impl ImageState {
    /// A fresh state for `FROM scratch`.
    pub fn scratch(os: &str, architecture: &str, variant: Option<&str>) -> ImageState {
        ImageState {
            architecture: architecture.to_string(),
            os: os.to_string(),
            variant: variant.filter(|v| !v.is_empty()).map(String::from),
            author: None,
            created: None,
            config: ContainerConfig::default(),
            diff_ids: Vec::new(),
            history: Vec::new(),
        }
    }

    /// Read an image config JSON (OCI or Docker), keeping Docker's extension fields.
    pub fn from_json(bytes: &[u8]) -> Result<ImageState, ConfigError> {
        let v: Value = serde_json::from_slice(bytes)?;
        let c = v.get("config").cloned().unwrap_or(Value::Null);
        let strings = |v: Option<&Value>| -> Option<Vec<String>> {
            v.and_then(Value::as_array).map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect())
        };
        let keys = |v: Option<&Value>| -> BTreeSet<String> {
            v.and_then(Value::as_object).map(|o| o.keys().cloned().collect()).unwrap_or_default()
        };
        let string = |v: Option<&Value>| v.and_then(Value::as_str).filter(|s| !s.is_empty()).map(String::from);
        let healthcheck = c.get("Healthcheck").and_then(Value::as_object).map(|h| HealthConfig {
            test: strings(h.get("Test")).unwrap_or_default(),
            interval: h.get("Interval").and_then(Value::as_i64),
            timeout: h.get("Timeout").and_then(Value::as_i64),
            start_period: h.get("StartPeriod").and_then(Value::as_i64),
            start_interval: h.get("StartInterval").and_then(Value::as_i64),
            retries: h.get("Retries").and_then(Value::as_i64),
        });
        let config = ContainerConfig {
            user: string(c.get("User")),
            exposed_ports: keys(c.get("ExposedPorts")),
            env: strings(c.get("Env")).unwrap_or_default().into(),
            entrypoint: strings(c.get("Entrypoint")),
            cmd: strings(c.get("Cmd")),
            volumes: keys(c.get("Volumes")),
            working_dir: string(c.get("WorkingDir")),
            labels: c
                .get("Labels")
                .and_then(Value::as_object)
                .map(|o| o.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
                .unwrap_or_default(),
            stop_signal: string(c.get("StopSignal")),
            healthcheck,
            onbuild: strings(c.get("OnBuild")).unwrap_or_default(),
            shell: strings(c.get("Shell")),
        };
        let mut diff_ids = Vec::new();
        for d in strings(v.pointer("/rootfs/diff_ids")).unwrap_or_default() {
            diff_ids.push(
                Digest::parse(&d)
                    .map_err(|e| ConfigError::Field { field: "rootfs.diff_ids", message: e.to_string() })?,
            );
        }
        let history = v
            .get("history")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|h| HistoryEntry {
                        created: h.get("created").and_then(Value::as_str).unwrap_or_default().to_string(),
                        created_by: h.get("created_by").and_then(Value::as_str).unwrap_or_default().to_string(),
                        comment: string(h.get("comment")),
                        author: string(h.get("author")),
                        empty_layer: h.get("empty_layer").and_then(Value::as_bool).unwrap_or(false),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(ImageState {
            architecture: string(v.get("architecture")).unwrap_or_else(|| "amd64".into()),
            os: string(v.get("os")).unwrap_or_else(|| "linux".into()),
            variant: string(v.get("variant")),
            author: string(v.get("author")),
            created: string(v.get("created")),
            config,
            diff_ids,
            history,
        })
    }

    /// The config JSON: sorted keys, Docker's field names, checked against oci-spec's schema.
    pub fn to_json(&self) -> Result<Vec<u8>, ConfigError> {
        let c = &self.config;
        let mut config = Map::new();
        let set_map = |m: &mut Map<String, Value>, k: &str, keys: &BTreeSet<String>| {
            if !keys.is_empty() {
                m.insert(k.into(), Value::Object(keys.iter().map(|p| (p.clone(), json!({}))).collect()));
            }
        };
        if let Some(u) = &c.user {
            config.insert("User".into(), json!(u));
        }
        set_map(&mut config, "ExposedPorts", &c.exposed_ports);
        if !c.env.is_empty() {
            config.insert("Env".into(), json!(c.env.as_slice()));
        }
        if let Some(e) = &c.entrypoint {
            config.insert("Entrypoint".into(), json!(e));
        }
        if let Some(cmd) = &c.cmd {
            config.insert("Cmd".into(), json!(cmd));
        }
        set_map(&mut config, "Volumes", &c.volumes);
        if let Some(w) = &c.working_dir {
            config.insert("WorkingDir".into(), json!(w));
        }
        if !c.labels.is_empty() {
            config.insert("Labels".into(), json!(c.labels));
        }
        if let Some(s) = &c.stop_signal {
            config.insert("StopSignal".into(), json!(s));
        }
        if let Some(h) = &c.healthcheck {
            let mut hc = Map::new();
            hc.insert("Test".into(), json!(h.test));
            for (k, v) in [
                ("Interval", h.interval),
                ("Timeout", h.timeout),
                ("StartPeriod", h.start_period),
                ("StartInterval", h.start_interval),
                ("Retries", h.retries),
            ] {
                if let Some(v) = v {
                    hc.insert(k.into(), json!(v));
                }
            }
            config.insert("Healthcheck".into(), Value::Object(hc));
        }
        if !c.onbuild.is_empty() {
            config.insert("OnBuild".into(), json!(c.onbuild));
        }
        if let Some(s) = &c.shell {
            config.insert("Shell".into(), json!(s));
        }
        let history: Vec<Value> = self
            .history
            .iter()
            .map(|h| {
                let mut m = Map::new();
                m.insert("created".into(), json!(h.created));
                m.insert("created_by".into(), json!(h.created_by));
                if let Some(c) = &h.comment {
                    m.insert("comment".into(), json!(c));
                }
                if let Some(a) = &h.author {
                    m.insert("author".into(), json!(a));
                }
                if h.empty_layer {
                    m.insert("empty_layer".into(), json!(true));
                }
                Value::Object(m)
            })
            .collect();
        let mut root = Map::new();
        root.insert("architecture".into(), json!(self.architecture));
        root.insert("os".into(), json!(self.os));
        if let Some(v) = &self.variant {
            root.insert("variant".into(), json!(v));
        }
        if let Some(a) = &self.author {
            root.insert("author".into(), json!(a));
        }
        if let Some(c) = &self.created {
            root.insert("created".into(), json!(c));
        }
        root.insert("config".into(), Value::Object(config));
        let diff_ids: Vec<String> = self.diff_ids.iter().map(|d| d.to_string()).collect();
        root.insert("rootfs".into(), json!({"type": "layers", "diff_ids": diff_ids}));
        root.insert("history".into(), Value::Array(history));
        let bytes = serde_json::to_vec(&Value::Object(root))?;
        // The OCI schema is the contract with other tools: refuse to commit what oci-spec cannot read.
        serde_json::from_slice::<oci_spec::image::ImageConfiguration>(&bytes)?;
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_keeps_docker_extensions() {
        let mut s = ImageState::scratch("linux", "amd64", None);
        s.config.env_set("PATH", "/bin");
        s.config.env_set("A", "1");
        s.config.env_set("PATH", "/usr/bin");
        s.config.exposed_ports.insert("80/tcp".into());
        s.config.labels.insert("b".into(), "2".into());
        s.config.labels.insert("a".into(), "1".into());
        s.config.shell = Some(vec!["/bin/bash".into(), "-c".into()]);
        s.config.onbuild = vec!["RUN echo hi".into()];
        s.config.healthcheck = Some(HealthConfig { test: vec!["NONE".into()], ..Default::default() });
        s.diff_ids.push(Digest::of(b""));
        s.history.push(HistoryEntry {
            created: "2024-01-01T00:00:00Z".into(),
            created_by: "ENV A=1".into(),
            comment: None,
            author: None,
            empty_layer: true,
        });
        let bytes = s.to_json().unwrap();
        assert_eq!(s.config.env.as_slice(), ["PATH=/usr/bin", "A=1"]);
        let back = ImageState::from_json(&bytes).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.to_json().unwrap(), bytes, "serialisation is deterministic");
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.contains(r#""Labels":{"a":"1","b":"2"}"#), "{text}");
        assert!(text.contains(r#""ExposedPorts":{"80/tcp":{}}"#), "{text}");
    }
}
