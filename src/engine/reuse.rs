//! Rebuilding a context COPY from its previous result: a COPY whose sources changed in a few files links
//! every unchanged file from the snapshot the same COPY made last time (same stage below, same words and
//! flags) instead of creating it again; `link()` allocates no inode, and on ext4 inode allocation is most of
//! a big COPY's time. Only files are linked; dirs and symlinks are made as a fresh copy makes them.
//!
//! A file is linked only when the fresh copy would be the very same bytes and attributes: the record of the
//! previous result says which content digest each destination file got, the context's digest cache says
//! what the source holds now, and the snapshot's own file must still have the owner, mode, size and mtime
//! the copy would give. Anything else (no record, a snapshot gone or re-unpacked, a failed link) is a plain
//! copy. Snapshots stay immutable: COPY replaces a path by unlinking it first (`Writer::prepare_target`),
//! never writes through an existing file, and a later RUN sees the snapshot as an overlay lower dir, whose
//! files overlay copies up before any write. A layer tar holds each linked inode once, so its hardlink
//! detection by (dev, ino) makes no link entry of it: the layer equals a cold build's (`tests/copy.rs`).
//!
//! Records live beside the context digests (`cache/context/copy-<key>.json`), a shortcut like them: lost,
//! the next COPY copies every file.

use super::cache::FileDigests;
use crate::digest::Digest;
use crate::fsops::{Attrs, FileCopier};
use crate::store::Store;
use std::cell::RefCell;
use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// What a COPY result holds: its snapshot's chain id and each destination file's content digest.
#[derive(serde::Serialize, serde::Deserialize, Default)]
struct Record {
    chain: String,
    files: HashMap<String, Digest>,
}

/// Where the record of the COPY with reuse key `key` (its step key without the sources' content) is kept.
pub fn record_path(store: &Store, key: &Digest) -> PathBuf {
    store.context_digests_dir().join(format!("copy-{}.json", key.hex()))
}

/// One COPY's links to its previous result, and the record of the result it makes.
pub struct Reuse<'a> {
    /// The previous result's snapshot dir and what its files hold, when both are still there.
    previous: Option<(PathBuf, HashMap<String, Digest>)>,
    digests: &'a FileDigests,
    context: &'a Path,
    written: RefCell<HashMap<String, Digest>>,
    /// Files linked (for the debug line and tests of the speed-up).
    pub linked: std::cell::Cell<usize>,
}

impl<'a> Reuse<'a> {
    /// Load the record at `path`; its snapshot is looked up under `snapshots`.
    pub fn load(path: &Path, snapshots: &Path, digests: &'a FileDigests, context: &'a Path) -> Reuse<'a> {
        let record: Option<Record> = fs::read(path).ok().and_then(|b| serde_json::from_slice(&b).ok());
        let previous = record
            .filter(|r| !r.chain.is_empty() && !r.chain.contains('/'))
            .map(|r| (snapshots.join(&r.chain), r.files))
            .filter(|(dir, _)| dir.is_dir());
        Reuse { previous, digests, context, written: RefCell::default(), linked: Default::default() }
    }

    /// Give `target` (relative to the rootfs; `up` in the upper dir, not existing) the context file `from`
    /// with `attrs`: a link to the previous result's file when that is provably the same, else a copy.
    pub fn copy(
        &self,
        copier: &FileCopier,
        from: &Path,
        meta: &fs::Metadata,
        target: &Path,
        up: &Path,
        attrs: &Attrs,
    ) -> io::Result<()> {
        let key = target.to_string_lossy().into_owned();
        let digest = from.strip_prefix(self.context).ok().and_then(|rel| self.digests.known(rel, meta));
        let Some(digest) = digest else {
            self.written.borrow_mut().remove(&key);
            return copier.copy(from, meta.len(), up, attrs);
        };
        if let Some((dir, files)) = &self.previous {
            if files.get(&key) == Some(&digest) {
                let old = dir.join(target);
                let same = fs::symlink_metadata(&old)
                    .is_ok_and(|m| m.is_file() && m.len() == meta.len() && Attrs::of(&m) == *attrs);
                if same && fs::hard_link(&old, up).is_ok() {
                    self.linked.set(self.linked.get() + 1);
                    self.written.borrow_mut().insert(key, digest);
                    return Ok(());
                }
            }
        }
        copier.copy(from, meta.len(), up, attrs)?;
        self.written.borrow_mut().insert(key, digest);
        Ok(())
    }

    /// `target` is being replaced by something that is not a context file's copy.
    pub fn forget(&self, target: &Path) {
        self.written.borrow_mut().remove(&*target.to_string_lossy());
    }

    /// What this COPY wrote, to be saved once its snapshot is committed.
    pub fn finish(self) -> Written {
        Written(self.written.into_inner())
    }
}

/// The destination files a COPY wrote from the context, and their content digests.
pub struct Written(HashMap<String, Digest>);

impl Written {
    /// Remember this COPY's result (its snapshot's chain id) for the next one. Only a shortcut: a failed
    /// write costs the next rebuild its links.
    pub fn save(self, store: &Store, path: &Path, chain: &Digest) -> io::Result<()> {
        let record = Record { chain: chain.hex().to_string(), files: self.0 };
        fs::create_dir_all(store.context_digests_dir())?;
        super::cache::write_json(store, "copy-record", path, &record)
    }
}
