//! Store settings: `<root>/config.json`, read when a command needs a setting; a missing file means the
//! defaults. Today it holds the automatic gc policy applied at the end of each build, after BuildKit's
//! default policy:
//!
//! ```json
//! { "gc": { "enabled": true, "keep-storage": "20GB" } }
//! ```
//!
//! `keep-storage` defaults to 10% of the store's filesystem, at most 20 GB; `"enabled": false` turns the
//! automatic gc off (the prune commands still work).
//!
//! `{ "layers": { "compression": "gzip" } }` makes builds without `--compression` write gzip (or `zstd`)
//! layers into the store instead of the default plain tars (see docs/layers.md).

use super::{Store, StoreError};
use std::fs;
use std::io;

/// Everything wrong with a settings file.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{path}: {source}; fix or remove the file (see docs/gc.md)")]
    Json { path: String, source: serde_json::Error },
    #[error("{path}: gc.keep-storage {value:?}: want bytes or a number with a unit (512MB, 20GB)")]
    Size { path: String, value: String },
    #[error("{path}: layers.compression {value:?}: want \"none\", \"gzip\" or \"zstd\"")]
    Compression { path: String, value: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    gc: Gc,
    #[serde(default)]
    layers: Layers,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Layers {
    compression: Option<String>,
}

/// How builds store the layers they make when `--compression` does not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalCompression {
    /// Plain tars, compressed on push, save and `--output` (the default).
    None,
    Gzip,
    Zstd,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Gc {
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(rename = "keep-storage")]
    keep_storage: Option<String>,
}

impl Default for Gc {
    fn default() -> Gc {
        Gc { enabled: true, keep_storage: None }
    }
}

fn yes() -> bool {
    true
}

const DEFAULT_CAP: u64 = 20 << 30;

impl Store {
    fn settings(&self) -> Result<(File, String), SettingsError> {
        let path = self.root().join("config.json");
        let shown = path.display().to_string();
        let file: File = match fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|source| SettingsError::Json { path: shown.clone(), source })?
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => File::default(),
            Err(source) => return Err(StoreError::Io { what: "cannot read", path, source }.into()),
        };
        Ok((file, shown))
    }

    /// How builds store their layers when `--compression` does not say.
    pub fn layer_compression(&self) -> Result<LocalCompression, SettingsError> {
        let (file, shown) = self.settings()?;
        match file.layers.compression.as_deref() {
            None | Some("none") => Ok(LocalCompression::None),
            Some("gzip") => Ok(LocalCompression::Gzip),
            Some("zstd") => Ok(LocalCompression::Zstd),
            Some(other) => Err(SettingsError::Compression { path: shown, value: other.to_string() }),
        }
    }

    /// How much build cache the automatic gc keeps, or `None` when it is off.
    pub fn gc_keep_storage(&self) -> Result<Option<u64>, SettingsError> {
        let (file, shown) = self.settings()?;
        if !file.gc.enabled {
            return Ok(None);
        }
        match file.gc.keep_storage {
            Some(v) => parse_size(&v).map(Some).ok_or(SettingsError::Size { path: shown, value: v }),
            None => {
                let stat = nix::sys::statvfs::statvfs(self.root()).map_err(|e| StoreError::Io {
                    what: "cannot statfs",
                    path: self.root().to_path_buf(),
                    source: e.into(),
                })?;
                let size = stat.blocks() as u64 * stat.fragment_size() as u64;
                Ok(Some((size / 10).min(DEFAULT_CAP)))
            }
        }
    }
}

/// A size as docker's `--keep-storage` takes it: bytes, or a number with b/k/m/g/t (binary units, an
/// optional trailing `b`/`ib`: `100MB` is 100 MiB).
pub fn parse_size(v: &str) -> Option<u64> {
    let lower = v.trim().to_ascii_lowercase();
    let digits_end = lower.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(lower.len());
    let n: f64 = lower[..digits_end].parse().ok()?;
    let unit = lower[digits_end..].trim();
    let unit = unit.strip_suffix("ib").or_else(|| unit.strip_suffix('b')).unwrap_or(unit);
    let scale: u64 = match unit {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => return None,
    };
    Some((n * scale as f64) as u64)
}
