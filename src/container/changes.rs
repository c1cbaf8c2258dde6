//! What a container changed, and what can be made of it: `diff` (docker's `A`/`C`/`D` lines, read from
//! the overlay's upper dir, whiteouts and opaque dirs included), `export` (the whole filesystem as one
//! tar, written by the layer tar writer as image `export` is), and `commit` (the upper dir written as one
//! layer by the writer RUN uses — overlay whiteouts become `.wh.` entries — on top of the image's layers,
//! with the image's config edited by the caller, e.g. `--change` through the code `import` uses).
//!
//! A copy-backend container (`RBUILD_SNAPSHOTTER=copy`) keeps no record of what changed, only the whole
//! filesystem: `diff` and `commit` refuse it with a clear error; `export` works.

use super::view::{image_of, RootView};
use super::{Container, ContainerError};
use crate::digest::Digest;
use crate::image::state::{HistoryEntry, ImageState};
use crate::image::{self, ImageRef};
use crate::layer::{self, Compression, LayerOptions};
use crate::sandbox::Rootfs;
use crate::store::{Image, Lease, Store};
use std::io::Write;
use std::path::{Path, PathBuf};

/// One line of `diff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Changed,
    Added,
    Deleted,
}

impl Kind {
    /// Docker's letter.
    pub fn letter(self) -> char {
        match self {
            Kind::Changed => 'C',
            Kind::Added => 'A',
            Kind::Deleted => 'D',
        }
    }
}

/// The upper dir and lower dirs (top-most first) of an overlay container.
fn layers_of(store: &Store, c: &Container, what: &'static str) -> Result<(PathBuf, Vec<PathBuf>), ContainerError> {
    if matches!(c.config.spec.rootfs, Rootfs::Dir(_)) {
        return Err(ContainerError::CopyBackend { name: c.config.name.clone(), what });
    }
    let image = image_of(store, c)?;
    match super::rootfs::overlay(store, &image, &c.dir)? {
        Rootfs::Overlay { lowers, upper, .. } => Ok((upper, lowers)),
        Rootfs::Dir(upper) => Ok((upper, Vec::new())),
    }
}

/// Docker's `diff`: every path of the upper dir, `D` for a whiteout, `C` for what the image had, `A`
/// for new; below an opaque dir, what the image had there and the upper dir lacks is `D` too. Sorted by
/// path.
pub fn diff(store: &Store, c: &Container) -> Result<Vec<(Kind, String)>, ContainerError> {
    let (upper, lowers) = layers_of(store, c, "diff")?;
    let in_lowers = |rel: &Path| lowers.iter().any(|l| std::fs::symlink_metadata(l.join(rel)).is_ok());
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(&upper).follow_links(false).min_depth(1) {
        let entry = entry.map_err(|e| ContainerError::Io { what: "reading", path: upper.clone(), source: e.into() })?;
        let rel = entry.path().strip_prefix(&upper).unwrap_or(entry.path()).to_path_buf();
        let meta = std::fs::symlink_metadata(entry.path()).map_err(ContainerError::io("reading", entry.path()))?;
        let shown = format!("/{}", rel.display());
        if layer::is_overlay_whiteout(&meta) {
            out.push((Kind::Deleted, shown));
            continue;
        }
        out.push((if in_lowers(&rel) { Kind::Changed } else { Kind::Added }, shown));
        if meta.is_dir() && layer::is_opaque_dir(entry.path()) {
            for lower in &lowers {
                let Ok(names) = std::fs::read_dir(lower.join(&rel)) else { continue };
                for name in names.flatten().map(|e| e.file_name()) {
                    if std::fs::symlink_metadata(entry.path().join(&name)).is_err() {
                        out.push((Kind::Deleted, format!("/{}", rel.join(&name).display())));
                    }
                }
            }
        }
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    out.dedup();
    Ok(out)
}

/// The container's whole filesystem as a tar (docker's `export`), without `/proc`, `/dev`, `/sys` or
/// bind mounts.
pub fn export(store: &Store, c: &Container, out: impl Write) -> Result<(), ContainerError> {
    let view = RootView::files(store, c)?;
    let opts = LayerOptions { compression: Compression::None, source_date_epoch: None };
    let tar = layer::write_tree(view.path(), out, &opts)?;
    tar.into_inner().and_then(|mut w| w.flush()).map_err(ContainerError::io("writing the export of", view.path()))
}

/// Keep `image`'s blobs from gc for as long as `lease` lives; `false` when some are gone already.
pub fn protect_image(store: &Store, lease: &mut Lease, image: &Image) -> Result<bool, ContainerError> {
    let mut digests = vec![image.manifest_digest.clone(), image.config_digest.clone()];
    for layer in image.manifest.layers() {
        digests.push(crate::store::from_oci_digest(layer.digest())?);
    }
    Ok(store.lock()?.protect_present(lease, &digests)?)
}

/// What `commit` records besides the layer.
pub struct CommitOptions<'a> {
    /// `-m`: the history entry's comment.
    pub message: Option<String>,
    /// `-a`: the config's and the history entry's author.
    pub author: Option<String>,
    /// `-c`: edits of the image config (applied in order), e.g. `--change` instructions.
    pub edit: &'a mut dyn FnMut(&mut ImageState) -> Result<(), String>,
    pub tags: Vec<ImageRef>,
}

/// What the container ran with becomes the image's config, as docker's commit does (before `--change`):
/// its ENTRYPOINT and CMD, environment, working directory and user. The `HOSTNAME` rbuild sets for each
/// container is not the image's, so it is left out unless the image had one.
fn take_container_config(state: &mut ImageState, c: &Container) {
    let spec = &c.config.spec;
    let cfg = &mut state.config;
    let non_empty = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
    if let Some(entrypoint) = &c.config.entrypoint {
        cfg.entrypoint = non_empty(entrypoint);
    }
    if let Some(cmd) = &c.config.cmd {
        cfg.cmd = non_empty(cmd);
    }
    let image_hostname = cfg.env.get("HOSTNAME").is_some();
    for (key, value) in spec.env.iter().filter_map(|kv| kv.split_once('=')) {
        if key != "HOSTNAME" || image_hostname {
            cfg.env.set(key, value);
        }
    }
    if spec.cwd != "/" || cfg.working_dir.is_some() {
        cfg.working_dir = Some(spec.cwd.clone());
    }
    if spec.user.is_some() {
        cfg.user = spec.user.clone();
    }
}

/// Write the container's changes as one new layer on its image; returns the new image id.
pub fn commit(store: &Store, c: &Container, opts: CommitOptions<'_>) -> Result<Digest, ContainerError> {
    let (upper, _) = layers_of(store, c, "commit")?;
    let image = image_of(store, c)?;
    let mut lease = store.lease()?;
    if !protect_image(store, &mut lease, &image)? {
        let source = crate::store::StoreError::BlobNotFound(image.manifest_digest.clone());
        return Err(ContainerError::ImageGone { name: c.config.name.clone(), image: c.config.image.clone(), source });
    }
    let config = store.read_blob(&image.config_digest)?;
    let mut state = ImageState::from_json(&config).map_err(|e| ContainerError::Image(e.into()))?;
    take_container_config(&mut state, c);
    (opts.edit)(&mut state).map_err(|reason| ContainerError::CommitChange { reason })?;
    let layer = layer::write(store, &upper, &LayerOptions { compression: Compression::Gzip, source_date_epoch: None })?;
    let created = image::timestamp(None)?;
    state.created = Some(created.clone());
    state.diff_ids.push(layer.diff_id.clone());
    if opts.author.is_some() {
        state.author = opts.author.clone();
    }
    state.history.push(HistoryEntry {
        created,
        created_by: c.config.spec.argv.join(" "),
        comment: opts.message,
        author: opts.author,
        empty_layer: false,
    });
    let mut layers = image.manifest.layers().to_vec();
    layers.push(layer.descriptor);
    let (id, _) = image::commit(store, &state, &layers, &opts.tags)?;
    Ok(id)
}
