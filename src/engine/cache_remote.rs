//! The build's side of `--cache-from` / `--cache-to` (the artifact itself is `crate::cachex`): fetching
//! the blobs of imported cache hits when the build needs their bytes, restoring exported cache mounts,
//! and exporting what the build made or reused when it is done.
//!
//! An imported hit costs nothing until its layer is needed: to build on it (a later step that runs, a
//! `COPY --from` view) or to commit the final image. So a fully cached build fetches only the final
//! image's layers, and a stage the final image does not need is never downloaded.

use super::cache;
use super::stage::{fail, Executor};
use super::{BuildError, StepFailure};
use crate::cachex::{self, export, CacheConfig, CacheTo, ExportMode, Record};
use crate::digest::Digest;
use crate::dockerfile::Location;
use crate::registry::progress::{Style, TransferProgress};
use oci_spec::image::Descriptor;
use std::collections::{HashMap, HashSet};
use std::path::Path;

impl Executor<'_> {
    /// Load the `--cache-from` caches (each unreadable one is a warning). Nothing with `--no-cache`.
    pub(super) fn import_caches(&mut self) {
        if self.req.cache_from.is_empty() || self.req.no_cache {
            return;
        }
        let (imported, warnings) = cachex::Imported::load(&self.req.cache_from, &self.req.registry);
        for w in warnings {
            self.progress.warn(&w);
        }
        self.cache.imported = imported;
    }

    /// Fetch the blobs of `layers` that the store lacks and an imported cache has, and lease them.
    pub(super) fn fetch_imported(&self, layers: &[Descriptor]) -> Result<(), BuildError> {
        if self.cache.imported.is_empty() {
            return Ok(());
        }
        let missing: Vec<Digest> = layers
            .iter()
            .filter_map(|d| crate::store::from_oci_digest(d.digest()).ok())
            .filter(|d| !self.store.has_blob(d) && self.cache.imported.has_blob(d))
            .collect();
        self.fetch_digests(&missing)
    }

    fn fetch_digests(&self, missing: &[Digest]) -> Result<(), BuildError> {
        if missing.is_empty() {
            return Ok(());
        }
        self.progress.phase(&format!("fetching {} layer(s) from the imported cache", missing.len()));
        self.cache.imported.fetch_all(self.store, missing)?;
        // Written after the lease began, so gc keeps them; naming them keeps them whatever their mtime.
        for d in missing {
            super::stage::lock(&self.lease).protect(d)?;
        }
        if let Err(e) = self.cache.persist_fetched(missing) {
            self.progress.debug(&format!("step cache: could not record fetched layers: {e}"));
        }
        Ok(())
    }

    /// [`Executor::fetch_imported`] for a step at `loc`.
    pub(super) fn ensure_layers(&self, layers: &[Descriptor], loc: Location) -> Result<(), StepFailure> {
        self.fetch_imported(layers).map_err(|e| fail(loc, e.to_string()))
    }

    /// Fill an absent or empty cache mount `id` (at `dir`) from an imported cache that exported it.
    pub(super) fn restore_cache_mount(&self, id: &str, dir: &Path, loc: Location) -> Result<(), StepFailure> {
        let Some(descriptor) = self.cache.imported.mount(id).cloned() else { return Ok(()) };
        let empty = std::fs::read_dir(dir).map(|mut d| d.next().is_none()).unwrap_or(true);
        if !empty {
            return Ok(());
        }
        let failed = |e: String| fail(loc, format!("RUN --mount=type=cache,id={id}: restoring from the cache: {e}"));
        self.ensure_layers(std::slice::from_ref(&descriptor), loc)?;
        let parent = dir.parent().unwrap_or(Path::new("/"));
        std::fs::create_dir_all(parent).map_err(|e| failed(e.to_string()))?;
        // Unpacked in the store's tmp/ (same filesystem; a crash leaves debris the next command sweeps),
        // then renamed into place: a concurrent build sees all or nothing.
        let tmp = self.store.temp_dir("cache-mount").map_err(|e| failed(e.to_string()))?;
        crate::layer::extract(self.store, &descriptor, tmp.path()).map_err(|e| failed(e.to_string()))?;
        let _ = std::fs::remove_dir(dir);
        let unpacked = tmp.keep();
        if std::fs::rename(&unpacked, dir).is_err() {
            // Another build filled it first: keep theirs.
            let _ = std::fs::remove_dir_all(&unpacked);
        }
        Ok(())
    }

    /// Export this build's records to every `--cache-to`; `final_key` is the target stage's key.
    pub(super) fn export_caches(&mut self, final_key: &Digest) -> Result<(), BuildError> {
        let report = TransferProgress::new(Style::Quiet);
        for to in &self.req.cache_to {
            self.progress.message(&format!("exporting cache to {}", to.location));
            let records = match to.mode {
                ExportMode::Max => unique(&self.cache.used()),
                ExportMode::Min => chain(&self.cache.used(), final_key),
            };
            let mut mounts = Vec::new();
            for id in &to.mounts {
                let dir = cache::mount_dir(self.store, id);
                if !dir.is_dir() {
                    self.progress.warn(&format!("--cache-to {}: no cache mount {id:?} to export", to.location));
                    continue;
                }
                let m = export::mount_record(self.store, to, id, &dir)?;
                if let Ok(d) = crate::store::from_oci_digest(m.descriptor.digest()) {
                    super::stage::lock(&self.lease).protect(&d)?;
                }
                mounts.push(m);
            }
            let config =
                CacheConfig { version: cachex::format::VERSION, records, images: self.cache.image_times(), mounts };
            self.fetch_for(to, &config)?;
            export::export(self.store, to, &config, &self.req.registry, &report)?;
        }
        Ok(())
    }

    /// Imported blobs the export names but the store lacks: fetched, unless they came from the very
    /// cache being written (then the destination has them and a registry push skips them by HEAD).
    fn fetch_for(&mut self, to: &CacheTo, config: &CacheConfig) -> Result<(), BuildError> {
        let missing: Vec<Digest> = config
            .blobs()
            .filter_map(|d| crate::store::from_oci_digest(d.digest()).ok())
            .filter(|d| !self.store.has_blob(d))
            .filter(|d| self.cache.imported.source_of(d).is_some_and(|l| *l != to.location))
            .collect();
        self.fetch_digests(&missing)
    }
}

/// Each key once, in the order the build used them.
fn unique(used: &[Record]) -> Vec<Record> {
    let mut seen = HashSet::new();
    used.iter().filter(|r| seen.insert(r.key.clone())).cloned().collect()
}

/// The records on the final stage's chain: from its key back through parents (its base stages included).
fn chain(used: &[Record], final_key: &Digest) -> Vec<Record> {
    let by_key: HashMap<&Digest, &Record> = used.iter().map(|r| (&r.key, r)).collect();
    let mut out = Vec::new();
    let mut key = final_key;
    while let Some(r) = by_key.get(key) {
        out.push((*r).clone());
        key = &r.parent;
        if out.len() > used.len() {
            break;
        }
    }
    out.reverse();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cachex::format::descriptor;
    use oci_spec::image::MediaType;

    fn record(key: &str, parent: &str) -> Record {
        let d = Digest::of(key.as_bytes());
        Record {
            key: Digest::of(key.as_bytes()),
            parent: Digest::of(parent.as_bytes()),
            descriptor: descriptor(MediaType::ImageLayerGzip, &d, 1).unwrap(),
            diff_id: d,
            created: String::new(),
        }
    }

    #[test]
    fn min_follows_the_final_chain_and_max_takes_every_record_once() {
        // Stage "builder": b1 ← b2; final stage based on builder's b2: f1 ← f2; an unrelated stage: x1.
        let used = vec![
            record("b1", "base"),
            record("b2", "b1"),
            record("x1", "base"),
            record("f1", "b2"),
            record("b2", "b1"),
            record("f2", "f1"),
        ];
        let keys = |rs: Vec<Record>| rs.into_iter().map(|r| r.key).collect::<Vec<_>>();
        let k = |s: &str| Digest::of(s.as_bytes());
        assert_eq!(keys(chain(&used, &k("f2"))), [k("b1"), k("b2"), k("f1"), k("f2")]);
        assert_eq!(keys(unique(&used)), [k("b1"), k("b2"), k("x1"), k("f1"), k("f2")]);
        assert!(chain(&used, &k("nothing")).is_empty());
    }
}
