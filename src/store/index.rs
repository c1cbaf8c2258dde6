//! `index.json`: the store's only mutable file, and the names (tags) it holds.
//!
//! Every change runs through [`update`]: take the store lock, read the index, change it in memory, write
//! a temp file, fsync, rename over `index.json`, fsync the directory. Readers never lock: a rename is
//! atomic, so they see the old or the new index, never half of one. The naming rules live here too:
//! one descriptor per (manifest, name) with the `org.opencontainers.image.ref.name` annotation, and at
//! most one unannotated (dangling) descriptor for a manifest that lost its last name by being re-tagged.

use super::blob::sync_dir;
use super::lock::{Locked, StoreLock};
use super::{json, Store, StoreError};
use crate::digest::Digest;
use crate::reference::ImageRef;
use oci_spec::image::{Descriptor, DescriptorBuilder, ImageIndex, ImageIndexBuilder, MediaType};
use std::collections::HashMap;
use std::fs;
use std::io::Write;

/// The annotation that carries a tag's full `name:tag`.
pub const REF_NAME_ANNOTATION: &str = oci_spec::image::ANNOTATION_REF_NAME;

/// Create `oci-layout` and an empty `index.json` if they are missing.
pub(super) fn ensure_layout(store: &Store) -> Result<(), StoreError> {
    let layout = store.layout_dir().join("oci-layout");
    let index = store.index_path();
    if layout.is_file() && index.is_file() {
        return Ok(());
    }
    let _lock = StoreLock::acquire(store)?;
    if !layout.is_file() {
        write_atomically(store, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    }
    if !index.is_file() {
        save(store, &empty_index()?)?;
    }
    Ok(())
}

fn empty_index() -> Result<ImageIndex, StoreError> {
    ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(Vec::<Descriptor>::new())
        .build()
        .map_err(|source| StoreError::Spec { what: "image index", source })
}

/// Read `index.json` (no lock needed: it is only ever replaced whole).
pub(crate) fn load(store: &Store) -> Result<ImageIndex, StoreError> {
    let path = store.index_path();
    let bytes = fs::read(&path).map_err(StoreError::io("cannot read", &path))?;
    serde_json::from_slice(&bytes).map_err(|source| StoreError::Json { path, source })
}

/// Replace `index.json`; the caller holds the store lock.
fn save(store: &Store, index: &ImageIndex) -> Result<(), StoreError> {
    let bytes = json::canonical(index).map_err(|source| StoreError::Json { path: store.index_path(), source })?;
    write_atomically(store, "index.json", &bytes)
}

/// Write `<layout>/<name>` by temp file in `<root>/tmp` + fsync + rename + directory fsync.
fn write_atomically(store: &Store, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
    let mut tmp = store.temp_file(name)?;
    let tmp_path = tmp.path().to_path_buf();
    tmp.write_all(bytes).map_err(StoreError::io("cannot write", &tmp_path))?;
    tmp.as_file().sync_all().map_err(StoreError::io("cannot fsync", &tmp_path))?;
    let dest = store.layout_dir().join(name);
    fs::set_permissions(&tmp_path, std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .map_err(StoreError::io("cannot chmod", &tmp_path))?;
    tmp.persist(&dest).map_err(|e| StoreError::Io { what: "cannot replace", path: dest, source: e.error })?;
    sync_dir(&store.layout_dir())
}

/// Run `change` on the index (the caller holds the store lock) and save the result if it changed.
pub(crate) fn update<T>(
    store: &Locked<'_>,
    change: impl FnOnce(&mut Vec<Descriptor>) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let mut index = load(store)?;
    let before = index.manifests().clone();
    let mut manifests = index.manifests().clone();
    let out = change(&mut manifests)?;
    if manifests != before {
        index.set_manifests(manifests);
        save(store, &index)?;
    }
    Ok(out)
}

/// The `name:tag` a descriptor carries, if any.
pub(crate) fn ref_name(desc: &Descriptor) -> Option<&str> {
    desc.annotations().as_ref().and_then(|a| a.get(REF_NAME_ANNOTATION)).map(String::as_str)
}

fn digest_of(desc: &Descriptor) -> &str {
    desc.digest().as_ref()
}

/// Point `name` at `target` (a descriptor without annotations). A manifest the name moves away from
/// and that keeps no other name stays in the index unannotated: a dangling image.
pub(crate) fn set_name(manifests: &mut Vec<Descriptor>, target: &Descriptor, name: &str) {
    let target_digest = digest_of(target).to_string();
    if manifests.iter().any(|d| ref_name(d) == Some(name) && digest_of(d) == target_digest) {
        return;
    }
    if let Some(pos) = manifests.iter().position(|d| ref_name(d) == Some(name)) {
        let old = manifests.remove(pos);
        let old_digest = digest_of(&old).to_string();
        if !manifests.iter().any(|d| digest_of(d) == old_digest) {
            manifests.insert(pos, without_annotations(&old));
        }
    }
    manifests.retain(|d| !(digest_of(d) == target_digest && ref_name(d).is_none()));
    let mut named = without_annotations(target);
    named.set_annotations(Some(HashMap::from([(REF_NAME_ANNOTATION.to_string(), name.to_string())])));
    manifests.push(named);
}

/// Keep `target` in the index even with no name (a build without `-t`).
pub(crate) fn keep_unnamed(manifests: &mut Vec<Descriptor>, target: &Descriptor) {
    if !manifests.iter().any(|d| digest_of(d) == digest_of(target)) {
        manifests.push(without_annotations(target));
    }
}

fn without_annotations(desc: &Descriptor) -> Descriptor {
    let mut d = desc.clone();
    d.set_annotations(None);
    d
}

impl Store {
    /// Point `name` at the manifest `manifest` (which must be in the store).
    pub fn tag(&self, manifest: &Digest, name: &ImageRef) -> Result<(), StoreError> {
        self.lock()?.tag(manifest, name)
    }

    /// Record a freshly written manifest with its names; see [`Locked::add_manifest`].
    pub fn add_manifest(&self, target: &Descriptor, names: &[ImageRef]) -> Result<(), StoreError> {
        self.lock()?.add_manifest(target, names)
    }

    /// Remove one name; see [`Locked::untag`].
    pub fn untag(&self, name: &ImageRef) -> Result<Option<(Digest, bool)>, StoreError> {
        self.lock()?.untag(name, false)
    }

    /// Remove a manifest and its names; see [`Locked::remove_manifest`].
    pub fn remove_manifest(&self, manifest: &Digest) -> Result<Vec<String>, StoreError> {
        self.lock()?.remove_manifest(manifest)
    }
}

impl Locked<'_> {
    /// Point `name` at the manifest `manifest`, which must be in the store with every blob it names.
    pub fn tag(&self, manifest: &Digest, name: &ImageRef) -> Result<(), StoreError> {
        let target = self.manifest_descriptor(manifest)?;
        self.require_complete(manifest)?;
        let name = name.tagged_name();
        update(self, |m| {
            set_name(m, &target, &name);
            Ok(())
        })
    }

    /// Record a freshly written manifest with its names (or as an unnamed image when `names` is empty),
    /// in one index update. Refused when a blob the manifest names is missing (e.g. swept by a gc that ran
    /// before the writer protected it): the index never names an incomplete image.
    pub fn add_manifest(&self, target: &Descriptor, names: &[ImageRef]) -> Result<(), StoreError> {
        self.require_complete(&super::from_oci_digest(target.digest())?)?;
        update(self, |m| {
            if names.is_empty() {
                keep_unnamed(m, target);
            }
            for name in names {
                set_name(m, target, &name.tagged_name());
            }
            Ok(())
        })
    }

    /// Remove one name. Returns the manifest it pointed to and whether that manifest left the index
    /// (no name was left), or `None` when no such name exists.
    /// With `keep_unnamed`, an image that loses its last name stays as a dangling image (`rmi -f` of
    /// the last name of an image a running container uses, as docker does).
    pub fn untag(&self, name: &ImageRef, keep_unnamed: bool) -> Result<Option<(Digest, bool)>, StoreError> {
        let name = name.tagged_name();
        update(self, |m| {
            let Some(pos) = m.iter().position(|d| ref_name(d) == Some(name.as_str())) else {
                return Ok(None);
            };
            let old = m.remove(pos);
            let digest = super::from_oci_digest(old.digest())?;
            let left = !m.iter().any(|d| digest_of(d) == digest_of(&old));
            if left && keep_unnamed {
                self::keep_unnamed(m, &old);
                return Ok(Some((digest, false)));
            }
            Ok(Some((digest, left)))
        })
    }

    /// Remove a manifest and every name pointing to it from the index; returns the names removed.
    pub fn remove_manifest(&self, manifest: &Digest) -> Result<Vec<String>, StoreError> {
        let wanted = manifest.to_string();
        update(self, |m| {
            let names = m.iter().filter(|d| digest_of(d) == wanted).filter_map(ref_name).map(String::from).collect();
            m.retain(|d| digest_of(d) != wanted);
            Ok(names)
        })
    }

    /// Drop every image manifest no name refers to (`<none>:<none>`); returns their manifest digests.
    /// Decided and written in one index update, so a name given meanwhile either came first (and the
    /// image stays) or comes after (and finds the image gone).
    pub fn remove_dangling(&self) -> Result<Vec<Digest>, StoreError> {
        update(self, |m| {
            let named: Vec<String> =
                m.iter().filter(|d| ref_name(d).is_some()).map(|d| digest_of(d).to_string()).collect();
            let mut gone = Vec::new();
            for d in
                m.iter().filter(|d| super::resolve::is_image_manifest(d) && !named.iter().any(|n| n == digest_of(d)))
            {
                gone.push(super::from_oci_digest(d.digest())?);
            }
            m.retain(|d| !gone.iter().any(|g| g.to_string() == digest_of(d)));
            Ok(gone)
        })
    }
}

impl Store {
    /// The descriptor for a manifest blob: from the index when it is there, else from the blob itself.
    fn manifest_descriptor(&self, manifest: &Digest) -> Result<Descriptor, StoreError> {
        let wanted = manifest.to_string();
        if let Some(d) = load(self)?.manifests().iter().find(|d| digest_of(d) == wanted) {
            return Ok(without_annotations(d));
        }
        let bytes = self.read_blob(manifest)?;
        let media_type = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v.get("mediaType").and_then(|m| m.as_str()).map(MediaType::from))
            .unwrap_or(MediaType::ImageManifest);
        DescriptorBuilder::default()
            .media_type(media_type)
            .digest(super::to_oci_digest(manifest)?)
            .size(bytes.len() as u64)
            .build()
            .map_err(|source| StoreError::Spec { what: "manifest descriptor", source })
    }
}
