//! The snapshotter seam (containerd's `Snapshotter` is the model): every layer step (COPY, ADD, RUN) and
//! every container gets its filesystem here, over whichever backend this process uses, so no caller
//! branches on the backend.
//!
//! Lifecycle of an [`Active`] snapshot: [`Snapshotter::prepare`] on a parent chain → writes (rbuild's own
//! through [`Active::mount`], or a command's in the sandbox on [`Active::rootfs`], after
//! [`Active::track_changes`]; then [`Active::clean_stubs`]) → [`Active::changes`], the writes as an upper
//! dir in overlay's vocabulary, which `layer::write` tars → [`Snapshotter::commit`], the next snapshot.
//! Dropping an active snapshot that was not committed removes what it made (containerd's `Remove`);
//! [`Active::keep`] hands it over instead (a container's filesystem lives as long as the container).
//! [`Snapshotter::view`] is a read-only chain (`COPY --from`, `RUN --mount=from=`).
//!
//! Overlay: committed snapshots are the per-layer dirs of [`Snapshots`]; an active one is those lowers
//! plus a fresh upper and work dir, and commit adopts the upper dir as the next snapshot by a rename.
//! Copy: the chain flattened into one dir ([`Flat`]), which an active snapshot takes over. rbuild writes
//! an upper dir, merged into the flat dir on commit; a command writes the flat dir in place, and its
//! changes are found by a scan before and a diff after (`diff`).

use super::overlay::{self, OverlayMount, ReadOnlyBind};
use super::{chain_ids, diff, stubs, Backend, SnapshotError, Snapshots};
use crate::digest::Digest;
use crate::sandbox::Rootfs;
use crate::store::Store;
use oci_spec::image::Descriptor;
use std::path::{Path, PathBuf};

/// Prepares, commits and views snapshots over one backend.
pub struct Snapshotter<'a> {
    backend: Backend,
    store: &'a Store,
    snapshots: Snapshots<'a>,
}

/// The chain a snapshot stands on: an image's or a stage's layers and their diff_ids, in order.
#[derive(Clone, Copy)]
pub struct Parent<'p> {
    pub layers: &'p [Descriptor],
    pub diff_ids: &'p [Digest],
}

/// Copy backend: a chain flattened into one directory, and how many layers of the chain it holds.
#[derive(Debug)]
pub struct Flat {
    dir: PathBuf,
    layers: usize,
}

impl Flat {
    pub fn path(&self) -> &Path {
        &self.dir
    }
}

/// A writable snapshot being filled by one step (or one container).
pub struct Active {
    /// The changes (overlay: the upper dir itself; copy: written by rbuild or by `changes`).
    upper: PathBuf,
    kind: Kind,
    /// The parent's diff_ids: the committed snapshot's chain id is computed from them.
    parent: Vec<Digest>,
    /// Dropped without commit or keep: remove what this snapshot made.
    armed: bool,
}

enum Kind {
    Overlay { lowers: Vec<PathBuf>, work: PathBuf, at: PathBuf },
    Copy { flat: Flat, writes: Writes },
}

/// Who writes a copy-backend snapshot, and so how its changes are found.
enum Writes {
    /// rbuild writes the upper dir itself (reading the flat dir for what exists); merged on commit.
    Upper,
    /// A command writes the flat dir in place; its changes are what differs from this scan, bar the
    /// stub parents the sandbox touched.
    Tracked { before: diff::Scan, ignore: Vec<PathBuf> },
    /// Tracked, and the difference is in the upper dir.
    Diffed,
}

/// Where rbuild writes into an active snapshot, and reads what is already there; mounted (overlay) while
/// this lives.
pub struct Writable {
    pub root: PathBuf,
    pub upper: PathBuf,
    _mount: Option<OverlayMount>,
}

/// A read-only view of a chain, valid (mounted) while this lives.
pub struct View {
    path: PathBuf,
    _overlay: Option<OverlayMount>,
    _bind: Option<ReadOnlyBind>,
}

impl View {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> SnapshotError {
    let path = path.to_path_buf();
    move |source| SnapshotError::Io { what, path, source }
}

fn make_dir(p: &Path) -> Result<PathBuf, SnapshotError> {
    std::fs::create_dir_all(p).map_err(io("creating", p))?;
    Ok(p.to_path_buf())
}

impl<'a> Snapshotter<'a> {
    pub fn new(store: &'a Store, backend: Backend) -> Snapshotter<'a> {
        Snapshotter { backend, store, snapshots: Snapshots::new(store) }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A writable snapshot on `parent`, its own dirs made under `at` (`upper`, `work`; `rootfs` when the
    /// copy backend has no current `flat` of the chain to take over).
    pub fn prepare(&self, parent: Parent<'_>, flat: Option<Flat>, at: &Path) -> Result<Active, SnapshotError> {
        let kind = match self.backend {
            Backend::Overlay => {
                let lowers = self.snapshots.lowers(parent.layers, parent.diff_ids)?;
                Kind::Overlay { lowers, work: make_dir(&at.join("work"))?, at: at.to_path_buf() }
            }
            Backend::Copy => Kind::Copy { flat: self.flat(parent, flat, &at.join("rootfs"))?, writes: Writes::Upper },
        };
        let upper = at.join("upper");
        if matches!(kind, Kind::Overlay { .. }) {
            make_dir(&upper)?;
        }
        Ok(Active { upper, kind, parent: parent.diff_ids.to_vec(), armed: true })
    }

    /// `flat` when it holds the whole chain; otherwise (none, or one a cache hit left behind) the chain
    /// extracted into `dir`.
    fn flat(&self, parent: Parent<'_>, flat: Option<Flat>, dir: &Path) -> Result<Flat, SnapshotError> {
        match flat {
            Some(f) if f.layers == parent.layers.len() => return Ok(f),
            // Only its own stage knew a stale flat dir: nothing else reads it.
            Some(stale) => {
                let _ = std::fs::remove_dir_all(&stale.dir);
            }
            None => {}
        }
        make_dir(dir)?;
        for layer in parent.layers {
            if let Err(source) = crate::layer::extract(self.store, layer, dir) {
                let _ = std::fs::remove_dir_all(dir);
                return Err(SnapshotError::Extract { digest: layer.digest().to_string(), source });
            }
        }
        Ok(Flat { dir: dir.to_path_buf(), layers: parent.layers.len() })
    }

    /// Make `active`'s changes (`diff_id` is their layer's) the next snapshot of the chain: overlay
    /// publishes the upper dir; copy returns the flat dir holding the chain with the changes in.
    pub fn commit(&self, mut active: Active, diff_id: &Digest) -> Result<Option<Flat>, SnapshotError> {
        active.changes()?;
        active.armed = false;
        // Moved out of the disarmed value (it has a Drop, so its fields cannot be moved out directly).
        match std::mem::replace(&mut active.kind, Kind::Copy { flat: Flat::none(), writes: Writes::Diffed }) {
            Kind::Overlay { work, .. } => {
                let mut ids = std::mem::take(&mut active.parent);
                ids.push(diff_id.clone());
                let chain = chain_ids(&ids).pop().unwrap_or_else(|| diff_id.clone());
                let adopted = self.snapshots.adopt(&active.upper, &chain);
                let _ = std::fs::remove_dir_all(work);
                adopted.map(|_| None)
            }
            Kind::Copy { flat, writes } => {
                let merged = match writes {
                    Writes::Upper => crate::fsops::merge_into(&active.upper, &flat.dir)
                        .map_err(io("applying the changes to", &flat.dir)),
                    _ => Ok(()),
                };
                let _ = std::fs::remove_dir_all(&active.upper);
                if let Err(e) = merged {
                    let _ = std::fs::remove_dir_all(&flat.dir);
                    return Err(e);
                }
                Ok(Some(Flat { dir: flat.dir, layers: flat.layers + 1 }))
            }
        }
    }

    /// A read-only view of `parent` made under `at`; the copy backend takes `flat` when it is current.
    /// Overlay views are read-only mounts; a copy view is a read-only bind of the flat dir where this
    /// process has its private mount namespace, else (no mount privileges) the flat dir itself.
    pub fn view(&self, parent: Parent<'_>, flat: Option<&Flat>, at: &Path) -> Result<View, SnapshotError> {
        let target = make_dir(&at.join("merged"))?;
        let dir = match self.backend {
            Backend::Overlay => {
                let lowers = self.snapshots.lowers(parent.layers, parent.diff_ids)?;
                if !lowers.is_empty() {
                    // One lower is padded with an empty one: even a single snapshot is seen read-only.
                    let mount = OverlayMount::mount(&lowers, None, &target, &at.join("empty"))?;
                    return Ok(View { path: target, _overlay: Some(mount), _bind: None });
                }
                make_dir(&at.join("empty"))?
            }
            Backend::Copy => match flat.filter(|f| f.layers == parent.layers.len()) {
                Some(f) => f.dir.clone(),
                None => self.flat(parent, None, &at.join("rootfs"))?.dir,
            },
        };
        if !overlay::in_private_namespace() {
            return Ok(View { path: dir, _overlay: None, _bind: None });
        }
        let bind = ReadOnlyBind::mount(&dir, &target)?;
        Ok(View { path: target, _overlay: None, _bind: Some(bind) })
    }
}

impl Flat {
    /// The placeholder left in a committed snapshot's place (nothing to remove).
    fn none() -> Flat {
        Flat { dir: PathBuf::new(), layers: 0 }
    }
}

impl Active {
    /// The root a sandbox runs on. An overlay with no lower layer (an image without any) is its upper
    /// dir alone: overlayfs needs a lower dir, and the upper dir already holds every change.
    pub fn rootfs(&self) -> Rootfs {
        match &self.kind {
            Kind::Overlay { lowers, .. } if lowers.is_empty() => Rootfs::Dir(self.upper.clone()),
            Kind::Overlay { lowers, work, .. } => {
                Rootfs::Overlay { lowers: lowers.clone(), upper: self.upper.clone(), work: work.clone() }
            }
            Kind::Copy { flat, .. } => Rootfs::Dir(flat.dir.clone()),
        }
    }

    /// A command is about to write [`Active::rootfs`]: remember the tree (copy backend), so `changes`
    /// can find what it did. With overlay the kernel records the changes itself.
    pub fn track_changes(&mut self) -> Result<(), SnapshotError> {
        if let Kind::Copy { flat, writes } = &mut self.kind {
            let before = diff::scan(&flat.dir).map_err(io("scanning", &flat.dir))?;
            *writes = Writes::Tracked { before, ignore: Vec::new() };
        }
        Ok(())
    }

    /// Take the sandbox's mount-point stubs out of what the command wrote.
    pub fn clean_stubs(&mut self, created: &[String]) {
        let parents = stubs::clean(&self.rootfs(), created);
        if let Kind::Copy { writes: Writes::Tracked { ignore, .. }, .. } = &mut self.kind {
            *ignore = parents;
        }
    }

    /// Where rbuild writes this snapshot's changes: through a mounted overlay (the kernel fills the upper
    /// dir), or, with the copy backend, straight into the upper dir, reading the flat dir for what exists.
    pub fn mount(&self) -> Result<Writable, SnapshotError> {
        match &self.kind {
            Kind::Overlay { lowers, work, at } => {
                let merged = make_dir(&at.join("merged"))?;
                let mount = OverlayMount::mount(lowers, Some((&self.upper, work)), &merged, &at.join("empty"))?;
                Ok(Writable { root: merged.clone(), upper: merged, _mount: Some(mount) })
            }
            Kind::Copy { flat, .. } => {
                Ok(Writable { root: flat.dir.clone(), upper: make_dir(&self.upper)?, _mount: None })
            }
        }
    }

    /// Like [`Active::mount`], but writes go straight into the bare upper dir while `root` is a read-only
    /// view of the layers below, as the copy backend always does. Writing through a mounted overlay costs
    /// every file a failed `copy_file_range` (EXDEV), path-walked metadata calls and overlay's own lookups;
    /// here a COPY pays none of that. Only for writers that never need overlay's whiteout/opaque vocabulary
    /// (COPY refuses a file over a dir and a dir over a file) and that copy up an existing dir's attributes
    /// themselves, as `copy` does.
    pub fn mount_beside(&self) -> Result<Writable, SnapshotError> {
        match &self.kind {
            Kind::Overlay { lowers, at, .. } => {
                let upper = make_dir(&self.upper)?;
                if lowers.is_empty() {
                    return Ok(Writable { root: make_dir(&at.join("empty"))?, upper, _mount: None });
                }
                let merged = make_dir(&at.join("merged"))?;
                let mount = OverlayMount::mount(lowers, None, &merged, &at.join("empty"))?;
                Ok(Writable { root: merged, upper, _mount: Some(mount) })
            }
            Kind::Copy { .. } => self.mount(),
        }
    }

    /// The upper dir itself, unmounted (made if missing): where writes that must not see the layers below
    /// land (`COPY --link`).
    pub fn bare_upper(&self) -> Result<PathBuf, SnapshotError> {
        make_dir(&self.upper)
    }

    /// The changes so far as an upper dir in overlay's vocabulary (what `layer::write` tars).
    pub fn changes(&mut self) -> Result<&Path, SnapshotError> {
        if let Kind::Copy { flat, writes } = &mut self.kind {
            make_dir(&self.upper)?;
            if let Writes::Tracked { before, ignore } = writes {
                diff::diff(&flat.dir, before, &self.upper, ignore).map_err(io("finding the changes in", &flat.dir))?;
                *writes = Writes::Diffed;
            }
        }
        Ok(&self.upper)
    }

    /// Keep the snapshot beyond this value (a container's filesystem): its rootfs for the sandbox.
    pub fn keep(mut self) -> Rootfs {
        self.armed = false;
        self.rootfs()
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let _ = std::fs::remove_dir_all(&self.upper);
        match &self.kind {
            Kind::Overlay { work, at, .. } => {
                let _ = std::fs::remove_dir_all(work);
                let _ = std::fs::remove_dir(at.join("merged"));
            }
            // The flat dir was taken over: a failed step leaves it half-written, so it goes too.
            Kind::Copy { flat, .. } => {
                let _ = std::fs::remove_dir_all(&flat.dir);
            }
        }
    }
}
