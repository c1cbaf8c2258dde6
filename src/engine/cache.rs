//! The step cache: a layer step whose inputs were seen before reuses the layer it made then.
//!
//! A step's key is `sha256` over its parent's key, the instruction as written (heredoc bodies included),
//! the image config it runs with (ENV, WORKDIR, USER, SHELL, ...), the stage's ARG values, and what it
//! reads: for COPY/ADD from the context, the paths, types, modes and bytes of every source file (not
//! mtimes, so a `touch` keeps the cache); for `--from`, the other stage's key or the image's manifest
//! digest. A stage's first key is its base: the image's manifest digest, `scratch`, or the base stage's
//! key. Records live in `<root>/cache/steps/<key>.json` and name the layer blob; a record whose blob was
//! garbage-collected is a miss. Only layer steps are cached: metadata steps cost nothing, and their effect
//! is part of the next layer step's key through the config.
//!
//! Keys depend only on those inputs, never on where the store or the context is, inode numbers, mtimes or
//! the host's name: the same Dockerfile and context give the same keys on any machine, which is what lets
//! records travel between machines (`--cache-to`/`--cache-from`, `crate::cachex`). When a build imported
//! caches, a local miss is looked up in their records; such a hit names a blob that may still be in the
//! registry, fetched only when the build needs its bytes (`engine::cache_remote`).

pub use super::file_digests::FileDigests;
use crate::context::stat::{stat_all, ParentStat};
use crate::digest::Digest;
use crate::fsops::Stamp;
use crate::store::Store;
use oci_spec::image::Descriptor;
use sha2::{Digest as _, Sha256};
use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// What a cached step produced.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CachedLayer {
    pub descriptor: Descriptor,
    pub diff_id: Digest,
    /// The history time of the run that made it (kept, as BuildKit keeps it).
    pub created: String,
}

/// Builds a key from labelled parts, so that no two different inputs can run together.
pub struct KeyBuilder(Sha256);

impl KeyBuilder {
    pub fn new(parent: &Digest) -> KeyBuilder {
        let mut h = Sha256::new();
        h.update(b"rbuild step cache v1\0");
        h.update(parent.to_string().as_bytes());
        KeyBuilder(h)
    }

    pub fn part(mut self, label: &str, bytes: &[u8]) -> KeyBuilder {
        self.0.update(label.as_bytes());
        self.0.update((bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
        self
    }

    pub fn finish(self) -> Digest {
        Digest::from_sha256(self.0.finalize().into())
    }
}

/// The store dir of `RUN --mount=type=cache,id=ID`.
pub fn mount_dir(store: &Store, id: &str) -> PathBuf {
    store.cache_mounts_dir().join(Digest::of(id.as_bytes()).hex())
}

/// The key of something outside the cache chain (a base image, `scratch`).
pub fn root_key(what: &str) -> Digest {
    KeyBuilder(Sha256::new()).part("root", what.as_bytes()).finish()
}

pub struct StepCache {
    dir: PathBuf,
    enabled: bool,
    store: Store,
    /// Records of `--cache-from` caches, consulted when the store's own miss.
    pub(super) imported: crate::cachex::Imported,
    /// Every record this build made or reused, in order: what `--cache-to` exports.
    used: std::sync::Mutex<Vec<crate::cachex::Record>>,
    /// The image times this build settled on (see `Executor::settle_times`), for `--cache-to`.
    image_times: std::sync::Mutex<Vec<crate::cachex::ImageTime>>,
}

/// Where a cache hit came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HitSource {
    /// The store's own record; its blob is in the store.
    Local,
    /// An imported cache's record; its blob may still have to be fetched.
    Imported,
}

impl StepCache {
    pub fn new(store: &Store, enabled: bool) -> StepCache {
        StepCache {
            dir: store.step_cache_dir(),
            enabled,
            store: store.clone(),
            imported: crate::cachex::Imported::default(),
            used: Default::default(),
            image_times: Default::default(),
        }
    }

    /// What this build made or reused, for `--cache-to` (stages that ran at once interleave).
    pub fn used(&self) -> Vec<crate::cachex::Record> {
        super::stage::lock(&self.used).clone()
    }

    pub fn image_times(&self) -> Vec<crate::cachex::ImageTime> {
        super::stage::lock(&self.image_times).clone()
    }

    fn path(&self, key: &Digest) -> PathBuf {
        self.dir.join(format!("{}.json", key.hex()))
    }

    /// The cached layer for `key`: the store's record if its blob is still there, else an imported one.
    pub fn lookup(&self, store: &Store, key: &Digest) -> Option<(CachedLayer, HitSource)> {
        if !self.enabled {
            return None;
        }
        if let Some(hit) = self.lookup_local(store, key) {
            return Some((hit, HitSource::Local));
        }
        let r = self.imported.record(key)?;
        let hit =
            CachedLayer { descriptor: r.descriptor.clone(), diff_id: r.diff_id.clone(), created: r.created.clone() };
        Some((hit, HitSource::Imported))
    }

    fn lookup_local(&self, store: &Store, key: &Digest) -> Option<CachedLayer> {
        let bytes = std::fs::read(self.path(key)).ok()?;
        let cached: CachedLayer = serde_json::from_slice(&bytes).ok()?;
        let blob = crate::store::from_oci_digest(cached.descriptor.digest()).ok()?;
        if !store.has_blob(&blob) {
            return None;
        }
        // Its mtime is when it was last used: `builder prune --keep-storage` drops the least recent first.
        let _ = std::fs::File::options()
            .write(true)
            .open(self.path(key))
            .and_then(|f| f.set_modified(std::time::SystemTime::now()));
        Some(cached)
    }

    /// Remember what a step made or reused on `parent`, for this build's export, and in the store when
    /// its blob is there (an imported hit's blob may not be fetched yet: see [`StepCache::persist_fetched`]).
    /// Written atomically (temp file + rename); a failure only costs a miss next time, so it is reported
    /// to the caller but need not fail the build.
    pub fn record(&self, parent: &Digest, key: &Digest, layer: &CachedLayer) -> io::Result<()> {
        self.note_used(parent, key, layer);
        let present = crate::store::from_oci_digest(layer.descriptor.digest()).is_ok_and(|d| self.store.has_blob(&d));
        if !present {
            return Ok(());
        }
        self.write(key, layer)
    }

    /// Remember a step's layer for this build's export only: for a local hit, whose record is in the
    /// store already (and was touched by [`StepCache::lookup`]); rewriting it would cost a rename per
    /// step of every warm build.
    pub fn note_used(&self, parent: &Digest, key: &Digest, layer: &CachedLayer) {
        super::stage::lock(&self.used).push(crate::cachex::Record {
            key: key.clone(),
            parent: parent.clone(),
            descriptor: layer.descriptor.clone(),
            diff_id: layer.diff_id.clone(),
            created: layer.created.clone(),
        });
    }

    /// Records of imported hits whose blobs were just fetched: kept in the store from now on, so the next
    /// build here hits without `--cache-from`.
    pub fn persist_fetched(&self, fetched: &[Digest]) -> io::Result<()> {
        for r in self.used() {
            let blob = crate::store::from_oci_digest(r.descriptor.digest()).map_err(io::Error::other)?;
            if fetched.contains(&blob) {
                let layer = CachedLayer {
                    descriptor: r.descriptor.clone(),
                    diff_id: r.diff_id.clone(),
                    created: r.created.clone(),
                };
                self.write(&r.key, &layer)?;
            }
        }
        Ok(())
    }

    fn write(&self, key: &Digest, layer: &CachedLayer) -> io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        write_json(&self.store, "cache", &self.path(key), layer)
    }

    fn image_path(&self, key: &Digest) -> PathBuf {
        self.store.image_times_dir().join(format!("{}.json", key.hex()))
    }

    /// The `created` time given last time to an image whose config (bar that time) and layers hash to
    /// `key`; see `Executor::settle_times`.
    pub fn image_time(&self, key: &Digest) -> Option<String> {
        if !self.enabled {
            return None;
        }
        match std::fs::read(self.image_path(key)) {
            Ok(bytes) => serde_json::from_slice::<ImageTime>(&bytes).ok().map(|t| t.created),
            Err(_) => self.imported.image_time(key).map(String::from),
        }
    }

    /// Remember an image's time, atomically; touched again when reused, so the least recently used
    /// records are the ones builder prune drops first.
    pub fn record_image_time(&self, key: &Digest, created: &str) -> io::Result<()> {
        super::stage::lock(&self.image_times)
            .push(crate::cachex::ImageTime { key: key.clone(), created: created.to_string() });
        let path = self.image_path(key);
        let time = ImageTime { created: created.to_string() };
        // The same time as recorded (every warm build): touch it instead of a temp file and a rename.
        if std::fs::read(&path).is_ok_and(|b| serde_json::from_slice::<ImageTime>(&b).is_ok_and(|t| t == time)) {
            return std::fs::File::options().write(true).open(&path)?.set_modified(std::time::SystemTime::now());
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        write_json(&self.store, "cache", &path, &time)
    }
}

/// Write `value` as JSON to `path` atomically (temp file in the store, then rename). Serialised in memory
/// first: serde_json writing into a file issues one write() per token, 1.7 million of them for the
/// digests of a 25 000-file context. Not fsynced: a record lost in a crash only costs a cache miss.
pub(super) fn write_json(store: &Store, kind: &str, path: &Path, value: &impl serde::Serialize) -> io::Result<()> {
    write_bytes(store, kind, path, &serde_json::to_vec(value)?)
}

/// Write `bytes` to `path` atomically, as [`write_json`] does.
pub(super) fn write_bytes(store: &Store, kind: &str, path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut tmp = store.temp_file(kind).map_err(io::Error::other)?;
    tmp.write_all(bytes)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// A record of `<root>/cache/images/`.
#[derive(PartialEq, serde::Serialize, serde::Deserialize)]
struct ImageTime {
    created: String,
}

/// Digest of the context files COPY/ADD sources select: each path at or under a source (after
/// .dockerignore), with its type, mode and content (or link target). `sources` are cleaned relative paths;
/// a glob selects by the same rules COPY uses, so it is hashed as the set of what it matches. `stamps`,
/// when given, are the current stamps of `included`'s paths in its order (see `Context::stamps`);
/// without them each selected path is statted.
pub fn context_digest(
    root: &Path,
    included: &BTreeSet<PathBuf>,
    stamps: Option<&[Option<Stamp>]>,
    sources: &[String],
    files: &mut FileDigests,
) -> io::Result<Digest> {
    let mut h = Sha256::new();
    // Each selected path, and its position in `included`.
    let mut selected: Vec<(&[u8], usize)> = Vec::new();
    for s in sources {
        let s = s.trim_start_matches("./").trim_start_matches('/').trim_end_matches('/');
        let globbed = s.contains(['*', '?', '[']);
        for (i, p) in included.iter().enumerate() {
            let p = p.as_os_str().as_bytes();
            let under = s.is_empty()
                || s == "."
                || p.strip_prefix(s.as_bytes()).is_some_and(|rest| rest.is_empty() || rest[0] == b'/');
            // A glob's matches and everything under them; over-selecting only makes the key stricter.
            let glob_hit = globbed && glob_prefix_matches(s, p);
            if under || glob_hit {
                selected.push((p, i));
            }
        }
        h.update(b"source\0");
        h.update(s.as_bytes());
    }
    // Hashed in byte order (`a-b` before `a/c`, where the walk and `Path` put `a/c` first), as keys always
    // were. Mostly in order already, which this sort finds in one pass.
    selected.sort_by(|a, b| a.0.cmp(b.0));
    selected.dedup_by(|a, b| a.0 == b.0);
    let stamps: Vec<io::Result<Stamp>> = match stamps.filter(|s| s.len() == included.len()) {
        Some(stamps) => {
            // One the walk could not take is taken now (and fails now if the path is gone).
            let mut at = ParentStat::new(root);
            selected.iter().map(|&(p, i)| stamps[i].clone().map_or_else(|| at.stat(p), Ok)).collect()
        }
        None => stat_all(root, &selected.iter().map(|&(p, _)| p).collect::<Vec<_>>()),
    };
    let mut hex = [0u8; 64];
    for ((p, _), stamp) in selected.into_iter().zip(stamps) {
        let path = || root.join(OsStr::from_bytes(p));
        let stamp = stamp?;
        let mode = stamp.mode();
        h.update(b"\0entry\0");
        h.update(p);
        h.update(mode.to_le_bytes());
        match mode & libc::S_IFMT {
            libc::S_IFLNK => h.update(std::fs::read_link(path())?.as_os_str().as_encoded_bytes()),
            libc::S_IFREG => {
                let digest = files.digest(p, path, &stamp)?;
                hex::encode_to_slice(digest, &mut hex).map_err(io::Error::other)?;
                h.update(hex);
            }
            _ => {}
        }
    }
    Ok(Digest::from_sha256(h.finalize().into()))
}

/// Whether `path` is matched by the glob `pattern` or lies under something it matches (per-component,
/// `*` and `?` never crossing `/`).
fn glob_prefix_matches(pattern: &str, path: &[u8]) -> bool {
    if pattern.contains("**") {
        // `**` spans any number of components: match the whole pattern against the path and its ancestors.
        let Ok(g) = globset::GlobBuilder::new(pattern).literal_separator(true).build() else { return true };
        let g = g.compile_matcher();
        let mut p = Some(Path::new(OsStr::from_bytes(path)));
        while let Some(at) = p.filter(|p| !p.as_os_str().is_empty()) {
            if g.is_match(at) {
                return true;
            }
            p = at.parent();
        }
        return false;
    }
    let pat: Vec<&str> = pattern.split('/').collect();
    let comps: Vec<&[u8]> = path.split(|&b| b == b'/').collect();
    comps.len() >= pat.len()
        && pat.iter().zip(&comps).all(|(p, c)| {
            globset::GlobBuilder::new(p)
                .literal_separator(true)
                .build()
                .map(|g| g.compile_matcher().is_match(OsStr::from_bytes(c)))
                .unwrap_or(true)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(files: &[(&str, &str)]) -> (tempfile::TempDir, BTreeSet<PathBuf>) {
        let t = tempfile::tempdir().unwrap();
        let mut set = BTreeSet::new();
        for (p, c) in files {
            let path = t.path().join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, c).unwrap();
            set.insert(PathBuf::from(p));
        }
        (t, set)
    }

    #[test]
    fn keys_separate_their_parts() {
        let p = root_key("scratch");
        let a = KeyBuilder::new(&p).part("x", b"ab").part("y", b"c").finish();
        let b = KeyBuilder::new(&p).part("x", b"a").part("y", b"bc").finish();
        assert_ne!(a, b);
        assert_eq!(a, KeyBuilder::new(&p).part("x", b"ab").part("y", b"c").finish());
        assert_ne!(root_key("scratch"), root_key("busybox"));
    }

    #[test]
    fn context_digest_follows_content_not_mtime() {
        let (t, set) = ctx(&[("a.txt", "1"), ("dir/b.txt", "2"), ("other.txt", "3")]);
        let srcs = vec!["a.txt".to_string(), "dir".to_string()];
        let store_dir = tempfile::tempdir().unwrap();
        let store = Store::open(store_dir.path()).unwrap();
        let mut files = FileDigests::load(&store, t.path());
        let mut context_digest = |root: &Path, set: &BTreeSet<PathBuf>, stamps, srcs: &[String]| {
            let d = super::context_digest(root, set, stamps, srcs, &mut files);
            files.save().unwrap();
            d
        };
        let d1 = context_digest(t.path(), &set, None, &srcs).unwrap();
        std::fs::write(t.path().join("other.txt"), "changed").unwrap();
        assert_eq!(context_digest(t.path(), &set, None, &srcs).unwrap(), d1, "unselected files do not count");
        let f = std::fs::File::options().write(true).open(t.path().join("a.txt")).unwrap();
        f.set_modified(std::time::SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(context_digest(t.path(), &set, None, &srcs).unwrap(), d1, "mtimes do not count");
        std::fs::write(t.path().join("dir/b.txt"), "22").unwrap();
        assert_ne!(context_digest(t.path(), &set, None, &srcs).unwrap(), d1, "content counts");
        let glob = context_digest(t.path(), &set, None, &["*.txt".to_string()]).unwrap();
        std::fs::write(t.path().join("other.txt"), "again").unwrap();
        assert_ne!(context_digest(t.path(), &set, None, &["*.txt".to_string()]).unwrap(), glob, "glob matches count");
    }

    #[test]
    fn walk_stamps_give_the_keys_a_stat_gives() {
        let (t, _) = ctx(&[("a-b", "1"), ("a/c", "2"), ("a/d/e", "3"), ("z", "4")]);
        let store_dir = tempfile::tempdir().unwrap();
        let store = Store::open(store_dir.path()).unwrap();
        let mut files = FileDigests::load(&store, t.path());
        let walk = || {
            let (entries, stamps) = crate::context::walk_stamped(t.path(), &Default::default()).unwrap();
            (entries.into_iter().map(|e| e.path).collect::<BTreeSet<_>>(), stamps)
        };
        let (set, stamps) = walk();
        let all = [".".to_string()];
        let by_stat = context_digest(t.path(), &set, None, &all, &mut files).unwrap();
        assert_eq!(context_digest(t.path(), &set, Some(&stamps), &all, &mut files).unwrap(), by_stat);
        // A stamp the walk could not take is taken when the key is.
        let mut missing = stamps.clone();
        missing[2] = None;
        assert_eq!(context_digest(t.path(), &set, Some(&missing), &all, &mut files).unwrap(), by_stat);
        // A changed file: the next walk's stamps change the key as a stat does.
        std::fs::write(t.path().join("a/d/e"), "33").unwrap();
        let (set, stamps) = walk();
        let changed = context_digest(t.path(), &set, Some(&stamps), &all, &mut files).unwrap();
        assert_ne!(changed, by_stat);
        assert_eq!(context_digest(t.path(), &set, None, &all, &mut files).unwrap(), changed);
        // Stamps that are not `included`'s are not used.
        std::fs::write(t.path().join("a/d/e"), "3").unwrap();
        assert_eq!(context_digest(t.path(), &set, Some(&stamps[1..]), &all, &mut files).unwrap(), by_stat);
    }
}
