//! Named and anonymous volumes, kept in the store as docker's local driver keeps them:
//! `volumes/<name>/_data` (what containers mount) and `volumes/<name>/volume.json` (creation time,
//! labels, whether the volume is anonymous). A volume is in use while a kept container's config binds
//! its `_data`; removal of one in use is refused, as docker refuses it.

use super::{ContainerError, Containers};
use crate::store::Store;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// What can go wrong with a volume. The texts follow docker's.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error(
        "create {0}: \"{0}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" \
         are allowed. If you intended to pass a host directory, use absolute path"
    )]
    InvalidName(String),
    #[error("get {0}: no such volume")]
    NotFound(String),
    #[error("remove {name}: volume is in use - [{}] (remove those containers first: rbuild rm)", users.join(", "))]
    InUse { name: String, users: Vec<String> },
    #[error("{what} {}: {source}", path.display())]
    Io { what: &'static str, path: PathBuf, source: io::Error },
    #[error("malformed {}: {source}", path.display())]
    Json { path: PathBuf, source: serde_json::Error },
    #[error("volume {name}: its content from the image at {target}: {source}")]
    CopyUp { name: String, target: String, source: io::Error },
    #[error("volume {name}: the image path {target}: {source}")]
    ImagePath { name: String, target: String, source: crate::rootpath::RootPathError },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Container(#[from] Box<ContainerError>),
}

fn io_err<'p>(what: &'static str, path: &'p Path) -> impl FnOnce(io::Error) -> VolumeError + 'p {
    move |source| VolumeError::Io { what, path: path.to_path_buf(), source }
}

/// `volume.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Meta {
    /// RFC 3339, UTC.
    pub created: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Made for an image's `VOLUME` (a random 64-hex name): `rm -v`, `run --rm` and a plain
    /// `volume prune` remove it.
    #[serde(default)]
    pub anonymous: bool,
}

/// One volume as read from the store.
#[derive(Debug, Clone)]
pub struct Volume {
    pub name: String,
    /// `volumes/<name>/_data`.
    pub mountpoint: PathBuf,
    pub meta: Meta,
}

impl Volume {
    /// Docker's `volume inspect` object.
    pub fn inspect(&self) -> serde_json::Value {
        serde_json::json!({
            "CreatedAt": self.meta.created,
            "Driver": "local",
            "Labels": self.meta.labels,
            "Mountpoint": self.mountpoint,
            "Name": self.name,
            "Options": null,
            "Scope": "local",
        })
    }
}

const META: &str = "volume.json";
const DATA: &str = "_data";

impl Volume {
    /// Nothing in `_data` yet: the next container to mount it initialises it ([`Volume::copy_up`]).
    pub fn is_empty(&self) -> bool {
        fs::read_dir(&self.mountpoint).is_ok_and(|mut d| d.next().is_none())
    }

    /// Docker's copy-up, for an empty volume ([`Volume::is_empty`]): what the image has at `target`
    /// (resolved inside `image_root`), ownership and modes included, when that is a directory.
    pub fn copy_up(&self, image_root: &Path, target: &str) -> Result<(), VolumeError> {
        let copy_err = |source| VolumeError::CopyUp { name: self.name.clone(), target: target.to_string(), source };
        let rel = crate::rootpath::resolve(image_root, Path::new(target), true, crate::rootpath::Escape::Clamp)
            .map_err(|source| VolumeError::ImagePath { name: self.name.clone(), target: target.to_string(), source })?;
        let from = image_root.join(rel);
        if !from.is_dir() {
            return Ok(());
        }
        crate::fsops::copy_tree(&from, &self.mountpoint).map_err(copy_err)
    }
}

/// The volumes of one store.
pub struct Volumes<'a> {
    store: &'a Store,
}

/// Docker's rule for local volume names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() >= 2
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

impl<'a> Volumes<'a> {
    pub fn new(store: &'a Store) -> Volumes<'a> {
        Volumes { store }
    }

    /// Create a volume, or return the existing one of that name (docker's `volume create` does the
    /// same). No name means an anonymous volume with a random 64-hex name. The second value says
    /// whether this call made it (a new volume is empty, so it gets the image's content on first use).
    pub fn create(&self, name: Option<&str>, labels: BTreeMap<String, String>) -> Result<(Volume, bool), VolumeError> {
        let (name, anonymous) = match name {
            Some(n) if !is_valid_name(n) => return Err(VolumeError::InvalidName(n.to_string())),
            Some(n) => (n.to_string(), false),
            None => (super::new_id().map_err(Box::new)?, true),
        };
        let _lock = self.store.lock()?;
        if let Ok(v) = self.get(&name) {
            return Ok((v, false));
        }
        let dir = self.store.volume_dir(&name);
        // Built in a temp dir of tmp/ (swept if this process dies) and renamed into place, so a
        // half-made volume is never listed.
        let building = self.store.temp_dir("volume")?;
        let tmp = building.path().join(&name);
        fs::create_dir_all(tmp.join(DATA)).map_err(io_err("creating", &tmp))?;
        let meta =
            Meta { created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true), labels, anonymous };
        let bytes = serde_json::to_vec_pretty(&meta).expect("volume metadata serialises");
        fs::write(tmp.join(META), bytes).map_err(io_err("writing", &tmp))?;
        let parent = self.store.volumes_dir();
        fs::create_dir_all(&parent).map_err(io_err("creating", &parent))?;
        fs::rename(&tmp, &dir).map_err(io_err("creating", &dir))?;
        Ok((self.get(&name)?, true))
    }

    pub fn get(&self, name: &str) -> Result<Volume, VolumeError> {
        if !is_valid_name(name) {
            return Err(VolumeError::NotFound(name.to_string()));
        }
        let dir = self.store.volume_dir(name);
        let path = dir.join(META);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(VolumeError::NotFound(name.to_string())),
            Err(source) => return Err(VolumeError::Io { what: "reading", path, source }),
        };
        let meta = serde_json::from_slice(&bytes).map_err(|source| VolumeError::Json { path, source })?;
        Ok(Volume { name: name.to_string(), mountpoint: dir.join(DATA), meta })
    }

    /// Every volume, by name.
    pub fn list(&self) -> Result<Vec<Volume>, VolumeError> {
        let dir = self.store.volumes_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(VolumeError::Io { what: "listing", path: dir, source }),
        };
        let mut out = Vec::new();
        for entry in entries {
            let name = entry.map_err(io_err("listing", &dir))?.file_name().to_string_lossy().into_owned();
            match self.get(&name) {
                Ok(v) => out.push(v),
                // Removed meanwhile, or not a volume.
                Err(VolumeError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The names of the containers whose config mounts `volume`.
    pub fn users(&self, volume: &Volume) -> Result<Vec<String>, VolumeError> {
        let containers = Containers::new(self.store).list().map_err(Box::new)?;
        Ok(containers
            .into_iter()
            .filter(|c| c.config.spec.binds.iter().any(|b| b.source == volume.mountpoint))
            .map(|c| c.config.name)
            .collect())
    }

    /// Remove a volume no container uses. Out of `volumes/` in one rename, then deleted, so no
    /// reader sees half a volume.
    pub fn remove(&self, name: &str) -> Result<(), VolumeError> {
        let _lock = self.store.lock()?;
        let v = self.get(name)?;
        let users = self.users(&v)?;
        if !users.is_empty() {
            return Err(VolumeError::InUse { name: name.to_string(), users });
        }
        let dir = self.store.volume_dir(name);
        // A removal cut short stays in this temp dir, which the next command's debris sweep removes.
        let doomed = self.store.temp_dir("volume-rm")?;
        fs::rename(&dir, doomed.path().join(name)).map_err(io_err("removing", &dir))?;
        let path = doomed.path().to_path_buf();
        doomed.close().map_err(io_err("removing", &path))
    }

    /// Remove the volumes no container uses: anonymous ones only unless `all` (docker 23's rule).
    /// The names removed and the bytes they held.
    pub fn prune(&self, all: bool) -> Result<(Vec<String>, u64), VolumeError> {
        let mut removed = Vec::new();
        let mut bytes = 0;
        for v in self.list()? {
            if !(all || v.meta.anonymous) || !self.users(&v)?.is_empty() {
                continue;
            }
            let size = crate::store::gc_roots::disk_usage(&v.mountpoint);
            match self.remove(&v.name) {
                Ok(()) => {
                    removed.push(v.name);
                    bytes += size;
                }
                // Taken into use or removed meanwhile.
                Err(VolumeError::InUse { .. } | VolumeError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok((removed, bytes))
    }
}

/// Remove the anonymous volumes among a removed container's binds that no other container uses
/// (`rm -v`, `run --rm`). Named volumes stay, as with docker. A failure is reported, not returned: the
/// container is gone by then, and `volume prune` finds what is left.
pub fn remove_anonymous(store: &Store, binds: &[crate::sandbox::Bind]) {
    let volumes = Volumes::new(store);
    let root = store.volumes_dir();
    for b in binds {
        let Some(name) = b.source.parent().filter(|p| p.parent() == Some(&root)).and_then(|p| p.file_name()) else {
            continue;
        };
        let name = name.to_string_lossy();
        match volumes.get(&name) {
            Ok(v) if v.meta.anonymous && v.mountpoint == b.source => match volumes.remove(&name) {
                Ok(()) | Err(VolumeError::InUse { .. } | VolumeError::NotFound(_)) => {}
                Err(e) => eprintln!("warning: anonymous volume {name} not removed: {e}"),
            },
            _ => {}
        }
    }
}
