//! Docker's config fields that the OCI image spec (and so oci-spec's `Config`) does not model:
//! `Healthcheck`, `OnBuild` and `Shell`. They are written inside the config's `config` object exactly
//! where docker puts them, and read back from the raw config JSON.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A `HEALTHCHECK`, with durations in nanoseconds as docker stores them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Healthcheck {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub test: Vec<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub interval: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub timeout: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_period: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_interval: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retries: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// The docker-only fields of an image's `config`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConfigExtensions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_build: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
}

impl ConfigExtensions {
    /// Read the extensions from a whole image config document; absent or malformed fields are `None`
    /// (an image written by another tool is still readable).
    pub fn from_config_json(doc: &Value) -> ConfigExtensions {
        let config = doc.get("config");
        let field = |name: &str| config.and_then(|c| c.get(name)).cloned();
        ConfigExtensions {
            healthcheck: field("Healthcheck").and_then(|v| serde_json::from_value(v).ok()),
            on_build: field("OnBuild").and_then(|v| serde_json::from_value(v).ok()),
            shell: field("Shell").and_then(|v| serde_json::from_value(v).ok()),
        }
    }

    /// Insert the extensions into a serialised image config (creating `config` when needed).
    pub fn merge_into(&self, doc: &mut Value) -> Result<(), serde_json::Error> {
        let Value::Object(fields) = serde_json::to_value(self)? else { return Ok(()) };
        if fields.is_empty() {
            return Ok(());
        }
        if let Value::Object(root) = doc {
            let config = root.entry("config").or_insert_with(|| Value::Object(Default::default()));
            if !config.is_object() {
                *config = Value::Object(Default::default());
            }
            if let Value::Object(config) = config {
                config.extend(fields);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_round_trip_through_the_config_object() {
        let ext = ConfigExtensions {
            healthcheck: Some(Healthcheck {
                test: vec!["CMD".into(), "true".into()],
                interval: 5,
                ..Default::default()
            }),
            on_build: Some(vec!["RUN echo hi".into()]),
            shell: Some(vec!["/bin/bash".into(), "-c".into()]),
        };
        let mut doc = serde_json::json!({"architecture": "amd64", "config": {"Env": ["A=b"]}});
        ext.merge_into(&mut doc).unwrap();
        assert_eq!(doc["config"]["Env"][0], "A=b");
        assert_eq!(doc["config"]["Healthcheck"]["Interval"], 5);
        assert_eq!(ConfigExtensions::from_config_json(&doc), ext);
    }

    #[test]
    fn empty_extensions_leave_the_document_alone() {
        let mut doc = serde_json::json!({"os": "linux"});
        ConfigExtensions::default().merge_into(&mut doc).unwrap();
        assert_eq!(doc, serde_json::json!({"os": "linux"}));
    }
}
