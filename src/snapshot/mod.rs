//! Snapshots: each image layer unpacked once into `<root>/snapshots/<chain-id>/`, holding that layer alone
//! with overlayfs' whiteout vocabulary, ready to be an overlay lowerdir. A step's filesystem is an overlay
//! of its chain's snapshots plus a fresh upper dir; when the step ends, the upper dir is already in the same
//! vocabulary, so it is tarred into the layer and then *adopted* as the next snapshot by a rename.
//!
//! Lifecycle: `lowers` creates missing snapshots (extract into a temp dir, rename into place, so a
//! half-extracted snapshot is never visible and concurrent builds race harmlessly); `adopt` publishes an
//! upper dir the same way. Snapshots are never modified once published.
//!
//! Where overlayfs cannot be mounted (not root, or a filesystem that refuses it), the copy backend keeps a
//! flattened rootfs directory per stage instead and finds a step's changes by comparing the tree before and
//! after (`diff`). Both backends produce the same files in the layer. Callers never branch on the backend:
//! they prepare, write, commit and view through the one seam, [`Snapshotter`].

pub mod diff;
pub mod overlay;
pub mod snapshotter;
pub mod stubs;
pub mod verify;

pub use snapshotter::{Active, Flat, Parent, Snapshotter, View, Writable};

use crate::digest::Digest;
use crate::layer::{self, LayerError, Whiteouts};
use crate::store::Store;
use oci_spec::image::Descriptor;
use sha2::{Digest as _, Sha256};
use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("unpacking layer {digest} into a snapshot: {source}")]
    Extract { digest: String, source: LayerError },
    #[error("{what} {path}: {source}")]
    Io { what: &'static str, path: PathBuf, source: io::Error },
    #[error("the image has {layers} layers but {diff_ids} diff_ids in its config")]
    Mismatch { layers: usize, diff_ids: usize },
    #[error("mounting overlay at {target}: {source}")]
    Mount { target: PathBuf, source: nix::Error },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("too many layers for one overlay mount ({0}); the limit here is {max}", max = overlay::MAX_LOWERS)]
    TooManyLayers(usize),
}

/// Which snapshot backend a build uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Overlay,
    Copy,
}

/// The OCI chain IDs of a list of diff_ids: `chain(0) = diff_id(0)`,
/// `chain(n) = sha256(chain(n-1) + " " + diff_id(n))`.
pub fn chain_ids(diff_ids: &[Digest]) -> Vec<Digest> {
    let mut out: Vec<Digest> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(prev) => Digest::from_sha256(Sha256::digest(format!("{prev} {d}").as_bytes()).into()),
        };
        out.push(next);
    }
    out
}

pub struct Snapshots<'a> {
    store: &'a Store,
    dir: PathBuf,
}

impl<'a> Snapshots<'a> {
    pub fn new(store: &'a Store) -> Snapshots<'a> {
        Snapshots { store, dir: store.snapshots_dir() }
    }

    pub fn path(&self, chain_id: &Digest) -> PathBuf {
        self.dir.join(chain_id.hex())
    }

    fn ensure_dir(&self) -> Result<(), SnapshotError> {
        std::fs::create_dir_all(&self.dir).map_err(|source| SnapshotError::Io {
            what: "creating",
            path: self.dir.clone(),
            source,
        })
    }

    /// The lower dirs for a layer chain, top-most first (overlay's order), unpacking any that are missing.
    pub fn lowers(&self, layers: &[Descriptor], diff_ids: &[Digest]) -> Result<Vec<PathBuf>, SnapshotError> {
        if layers.len() != diff_ids.len() {
            return Err(SnapshotError::Mismatch { layers: layers.len(), diff_ids: diff_ids.len() });
        }
        let mut out = Vec::with_capacity(layers.len());
        for (layer, chain) in layers.iter().zip(chain_ids(diff_ids)) {
            let path = self.path(&chain);
            if !path.is_dir() {
                self.unpack(layer, &path)?;
            }
            out.push(path);
        }
        out.reverse();
        Ok(out)
    }

    fn unpack(&self, layer: &Descriptor, path: &Path) -> Result<(), SnapshotError> {
        self.ensure_dir()?;
        // Named after this process, so the next command removes it if this one is killed mid-unpack.
        let tmp = self.store.temp_dir_in(&self.dir, ".unpack").map_err(SnapshotError::Store)?;
        layer::extract_with(self.store, layer, tmp.path(), Whiteouts::Overlay)
            .map_err(|source| SnapshotError::Extract { digest: layer.digest().to_string(), source })?;
        self.publish(tmp.keep(), path)
    }

    /// Publish a finished upper dir as the snapshot of `chain_id` (consuming it).
    pub fn adopt(&self, upper: &Path, chain_id: &Digest) -> Result<PathBuf, SnapshotError> {
        self.ensure_dir()?;
        let path = self.path(chain_id);
        self.publish(upper.to_path_buf(), &path)?;
        Ok(path)
    }

    /// Rename `from` into place; if another build published the same snapshot first, keep theirs.
    fn publish(&self, from: PathBuf, to: &Path) -> Result<(), SnapshotError> {
        match std::fs::rename(&from, to) {
            Ok(()) => Ok(()),
            Err(_) if to.is_dir() => {
                let _ = std::fs::remove_dir_all(&from);
                Ok(())
            }
            Err(source) => {
                let _ = std::fs::remove_dir_all(&from);
                Err(SnapshotError::Io { what: "publishing snapshot", path: to.to_path_buf(), source })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_follow_the_oci_definition() {
        let a = Digest::of(b"a");
        let b = Digest::of(b"b");
        let ids = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(ids[0], a);
        assert_eq!(ids[1], Digest::of(format!("{a} {b}").as_bytes()));
        assert!(chain_ids(&[]).is_empty());
    }
}
