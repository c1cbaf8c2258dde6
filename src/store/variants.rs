//! Compressed variants of uncompressed layers: `variants/<diff_id hex>/<kind>.json`, each the descriptor
//! of a blob holding the same tar compressed one way (`kind` is the compression's name, e.g. `gzip`).
//!
//! A build keeps its layers as plain tars (digest == diff_id) and push and `build -o type=oci|docker`
//! compress them on demand (see docs/layers.md); this index is how the second push finds the gzip blob
//! the first one made instead of compressing the layer again. A record is only a hint: [`Store::variant`] answers
//! only when the blob it names is still in the store and has the recorded size. gc keeps the variants of
//! every plain-tar layer it keeps ([`Store::variant_blobs`]) and drops the records of the others.

use super::{from_oci_digest, Store, StoreError};
use crate::digest::Digest;
use oci_spec::image::Descriptor;
use std::fs;
use std::io::{self, Write};

impl Store {
    /// The recorded `kind` variant of the layer whose diff_id is `diff_id`, if its blob is in the store.
    pub fn variant(&self, diff_id: &Digest, kind: &str) -> Result<Option<Descriptor>, StoreError> {
        let path = self.variants_dir().join(diff_id.hex()).join(format!("{kind}.json"));
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(StoreError::Io { what: "cannot read", path, source }),
        };
        // A record that does not parse is a stale hint, not damage: the variant is made again.
        let Ok(desc) = serde_json::from_slice::<Descriptor>(&bytes) else { return Ok(None) };
        let digest = from_oci_digest(desc.digest())?;
        let present = fs::metadata(self.blob_path(&digest)).is_ok_and(|m| m.is_file() && m.len() == desc.size());
        Ok(present.then_some(desc))
    }

    /// Remember `desc` (already in the store) as the `kind` variant of `diff_id`; replaces an older record.
    pub fn record_variant(&self, diff_id: &Digest, kind: &str, desc: &Descriptor) -> Result<(), StoreError> {
        let dir = self.variants_dir().join(diff_id.hex());
        fs::create_dir_all(&dir).map_err(StoreError::io("cannot create", &dir))?;
        let bytes = super::json::canonical(desc).map_err(|source| StoreError::Json { path: dir.clone(), source })?;
        let mut tmp = self.temp_file("variant")?;
        tmp.write_all(&bytes).map_err(StoreError::io("cannot write", &self.tmp_dir()))?;
        // No fsync: a record lost in a crash only costs compressing the layer again.
        let dest = dir.join(format!("{kind}.json"));
        tmp.persist(&dest).map_err(|e| StoreError::Io { what: "cannot write", path: dest, source: e.error })?;
        Ok(())
    }

    /// The blobs of every recorded variant of `diff_id` (present or not).
    pub(crate) fn variant_blobs(&self, diff_id: &Digest) -> Vec<Digest> {
        let Ok(entries) = fs::read_dir(self.variants_dir().join(diff_id.hex())) else { return Vec::new() };
        entries
            .flatten()
            .filter_map(|e| fs::read(e.path()).ok())
            .filter_map(|b| serde_json::from_slice::<Descriptor>(&b).ok())
            .filter_map(|d| from_oci_digest(d.digest()).ok())
            .collect()
    }

    /// Remove the variant records of layers not in `kept` (gc, after its sweep: their blobs are gone or
    /// unreachable). Returns how many layers' records went.
    pub(crate) fn sweep_variants(&self, kept: &std::collections::BTreeSet<Digest>) -> Result<usize, StoreError> {
        let dir = self.variants_dir();
        let Ok(entries) = fs::read_dir(&dir) else { return Ok(0) };
        let mut count = 0;
        for entry in entries.flatten() {
            let Some(diff_id) = entry.file_name().to_str().and_then(|n| Digest::parse(&format!("sha256:{n}")).ok())
            else {
                continue;
            };
            if kept.contains(&diff_id) {
                continue;
            }
            match fs::remove_dir_all(entry.path()) {
                Ok(()) => count += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(source) => return Err(StoreError::Io { what: "cannot remove", path: entry.path(), source }),
            }
        }
        Ok(count)
    }
}
