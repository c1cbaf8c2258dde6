//! The content store: an OCI image layout under `<root>/oci/` plus rbuild's own working files.
//!
//! Layout: `<root>/oci/{oci-layout,index.json,blobs/sha256/<hex>}` is a plain OCI image layout that skopeo
//! and umoci read directly; `<root>/tmp/` receives blobs and index files while they are being written;
//! `<root>/lock` is the flock that serialises every change of `index.json`. The lifecycle it enforces:
//! a blob is streamed into `tmp/`, hashed while written, fsynced, verified, and only then renamed into
//! `blobs/` (see [`BlobWriter`]); `index.json` is never edited in place but replaced by rename under the
//! lock. Tags are manifest descriptors in `index.json` annotated with `org.opencontainers.image.ref.name`;
//! a manifest left without a name stays as a dangling entry until `rmi`/prune drops it and [`gc`] sweeps
//! the blobs nothing reaches. This module must never hold a layer in memory nor derive a blob path from
//! anything but a validated [`Digest`].

mod blob;
pub mod check;
pub mod debris;
mod extensions;
pub mod gc;
pub mod gc_cache;
pub mod gc_roots;
mod index;
pub mod json;
mod layout;
mod lease;
mod lock;
mod offload;
mod repair;
mod resolve;
pub mod settings;
pub mod usage;
mod variants;

pub use blob::BlobWriter;
pub use extensions::{ConfigExtensions, Healthcheck};
pub use index::REF_NAME_ANNOTATION;
pub use lease::Lease;
pub use lock::Locked;
pub(crate) use offload::Offloaded;
pub use resolve::{Image, ImageSummary, PlatformPick};

use crate::digest::Digest;
use crate::reference::ReferenceError;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{what} {path}: {source}")]
    Io { what: &'static str, path: PathBuf, source: io::Error },
    #[error("malformed JSON in {path}: {source}")]
    Json { path: PathBuf, source: serde_json::Error },
    #[error("cannot build {what}: {source}")]
    Spec { what: &'static str, source: oci_spec::OciSpecError },
    #[error("blob digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch { expected: Digest, actual: Digest },
    #[error("blob size mismatch for {digest}: expected {expected} bytes, got {actual}")]
    SizeMismatch { digest: Digest, expected: u64, actual: u64 },
    #[error("blob {0} is not in the store")]
    BlobNotFound(Digest),
    #[error("image \"{reference}\" not found in store {}", root.display())]
    NotFound { reference: String, root: PathBuf },
    #[error("image id prefix \"{prefix}\" is ambiguous: it matches {}", candidates.join(", "))]
    Ambiguous { prefix: String, candidates: Vec<String> },
    #[error("unsupported digest {0:?} in the store (only sha256 is supported)")]
    UnsupportedDigest(String),
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error("cannot lock {}: {source}", path.display())]
    Lock { path: PathBuf, source: nix::Error },
    #[error("image {manifest} is incomplete: blob {missing} is not in the store (removed by rmi/prune meanwhile?)")]
    Incomplete { manifest: Digest, missing: Digest },
    #[error(
        "store root {} has mode {mode:04o} (other users can reach its files) and belongs to uid {owner}, not to \
         us: `chmod 700 {}` as its owner, or use another --root",
        path.display(),
        path.display()
    )]
    OpenRoot { path: PathBuf, mode: u32, owner: u32 },
    #[error(transparent)]
    Interrupted(#[from] crate::interrupt::Interrupted),
}

impl StoreError {
    pub(crate) fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StoreError + 'a {
        move |source| StoreError::Io { what, path: path.to_path_buf(), source }
    }
}

/// A store rooted at a directory. Cheap to open; every operation reads what it needs from disk, so
/// several processes can share one root.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// Open the store at `root`, creating the directory layout, `oci-layout` and an empty `index.json`
    /// when missing, making sure no other user can enter it (see [`secure_root`]), and removing what
    /// dead rbuild processes left behind (see [`debris`]).
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        secure_root(root)?;
        let store = Store { root: root.to_path_buf() };
        for dir in [store.blobs_dir(), store.tmp_dir()] {
            fs::create_dir_all(&dir).map_err(StoreError::io("cannot create", &dir))?;
        }
        index::ensure_layout(&store)?;
        debris::sweep(&store)?;
        Ok(store)
    }

    /// The existing store at `root`, untouched: no directory created, no permission changed, no debris
    /// removed (for `system check`, which must report what it finds).
    pub fn at(root: &Path) -> Result<Store, StoreError> {
        let store = Store { root: root.to_path_buf() };
        let index = store.index_path();
        fs::metadata(&index).map_err(StoreError::io("no store here: cannot stat", &index))?;
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The OCI image layout directory (`<root>/oci`), as `skopeo inspect oci:<this>:TAG` wants it.
    pub fn layout_dir(&self) -> PathBuf {
        self.root.join("oci")
    }

    pub(crate) fn blobs_dir(&self) -> PathBuf {
        self.layout_dir().join("blobs").join("sha256")
    }

    pub(crate) fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    pub(crate) fn index_path(&self) -> PathBuf {
        self.layout_dir().join("index.json")
    }

    /// The one place a digest becomes a path. `Digest` only holds 64 validated hex digits, so the result
    /// is always a direct child of `blobs/sha256/`.
    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.blobs_dir().join(d.hex())
    }

    pub fn has_blob(&self, d: &Digest) -> bool {
        self.blob_path(d).is_file()
    }

    /// Start writing a new blob into `tmp/`; see [`BlobWriter::commit`].
    pub fn blob_writer(&self) -> Result<BlobWriter, StoreError> {
        BlobWriter::create(self)
    }

    /// Ingest a whole in-memory blob (configs, manifests) and return its digest and size.
    pub fn write_blob(&self, bytes: &[u8]) -> Result<(Digest, u64), StoreError> {
        let (digest, size) = (Digest::of(bytes), bytes.len() as u64);
        let dest = self.blob_path(&digest);
        // Already there (the config and manifest of every warm rebuild): a fresh mtime, as the writer
        // gives a reused blob, without its temp file and fsync.
        if fs::metadata(&dest).is_ok_and(|m| m.is_file() && m.len() == size) && blob::refresh(self, &dest)? {
            return Ok((digest, size));
        }
        let mut w = self.blob_writer()?;
        io::Write::write_all(&mut w, bytes).map_err(StoreError::io("cannot write blob into", &self.tmp_dir()))?;
        w.commit(Some(&digest))
    }

    /// Read a small blob (manifest, config) into memory.
    pub fn read_blob(&self, d: &Digest) -> Result<Vec<u8>, StoreError> {
        let path = self.blob_path(d);
        fs::read(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StoreError::BlobNotFound(d.clone()),
            _ => StoreError::Io { what: "cannot read blob", path, source: e },
        })
    }

    /// Open a blob for streaming (layers).
    pub fn open_blob(&self, d: &Digest) -> Result<fs::File, StoreError> {
        let path = self.blob_path(d);
        fs::File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StoreError::BlobNotFound(d.clone()),
            _ => StoreError::Io { what: "cannot open blob", path, source: e },
        })
    }
}

/// The store root is the one gate between other local users and everything below it: snapshots hold
/// images' setuid binaries and device nodes with their image modes, blobs may hold secrets. So it is
/// created 0700, and an existing root that lets others in (anything beyond group search, 0710) is
/// tightened to 0700 when it is ours, and refused otherwise. Its parents are left as they are.
fn secure_root(root: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if let Some(parent) = root.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(StoreError::io("cannot create", parent))?;
    }
    match fs::DirBuilder::new().mode(0o700).create(root) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(source) => return Err(StoreError::Io { what: "cannot create", path: root.to_path_buf(), source }),
    }
    let (owner, mode) = check::owner_and_mode(root).map_err(StoreError::io("cannot stat", root))?;
    if mode & 0o067 == 0 {
        return Ok(());
    }
    if owner != nix::unistd::geteuid().as_raw() {
        return Err(StoreError::OpenRoot { path: root.to_path_buf(), mode, owner });
    }
    fs::set_permissions(root, fs::Permissions::from_mode(mode & 0o700)).map_err(StoreError::io("cannot chmod", root))
}

/// Convert one of our digests into oci-spec's type.
pub fn to_oci_digest(d: &Digest) -> Result<oci_spec::image::Digest, StoreError> {
    d.to_string().parse().map_err(|source| StoreError::Spec { what: "digest", source })
}

/// Convert an oci-spec digest read from disk into ours; anything but sha256 is refused.
pub fn from_oci_digest(d: &oci_spec::image::Digest) -> Result<Digest, StoreError> {
    Digest::parse(d.as_ref()).map_err(|_| StoreError::UnsupportedDigest(d.to_string()))
}

#[cfg(test)]
mod tests;
