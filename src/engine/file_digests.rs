//! The context digest cache: the sha256 of each context file's bytes, remembered with the file's stat
//! stamp (size, mtime, ctime, inode, mode, owner, ...) so that a rebuild stats files instead of reading
//! them. One file per context directory in `<root>/cache/context/<sha256 of its path>.bin`.
//!
//! The file is a table a warm rebuild uses as it is read, with no parsing per entry: a header, fixed-size
//! records sorted by path bytes (the order `context_digest` visits paths in, so lookups mostly hit the
//! record after the last one), the path bytes, and a sha256 of all that. A file that is short, torn,
//! of another version or fails its checksum is no cache at all; a stale record only costs a read, as a
//! record is used only when both its path and its whole stamp equal the file's now. It is only a cache:
//! a lost file costs the next build a read of every source file, never a different key.

use crate::digest::Digest;
use crate::fsops::Stamp;
use crate::store::Store;
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Names the format and its version: any change to the layout takes a new one.
const MAGIC: &[u8; 16] = b"rbuild ctxdig v1";
const HEADER: usize = MAGIC.len() + 8;
const SUM: usize = 32;
/// Path offset and length (u32 each), stamp, raw sha256.
const RECORD: usize = 8 + Stamp::BYTES + 32;

type StampBytes = [u8; Stamp::BYTES];

/// Content digests of one context's files, by their stat stamp.
pub struct FileDigests {
    path: PathBuf,
    /// Where the JSON map of earlier versions was kept: removed when this one is saved.
    legacy: PathBuf,
    store: Store,
    saved: Table,
    /// Digests this build computed: they replace `saved`'s records of the same paths when saved.
    fresh: BTreeMap<Vec<u8>, (StampBytes, [u8; 32])>,
    /// The record after the last one found: paths are mostly looked up in the table's order.
    next: usize,
}

impl FileDigests {
    /// The remembered digests for the context at `context` (none when unreadable: they are only a cache).
    pub fn load(store: &Store, context: &Path) -> FileDigests {
        let mut files = FileDigests::none(store, context);
        files.saved = std::fs::read(&files.path).ok().and_then(Table::parse).unwrap_or_default();
        files
    }

    /// No remembered digests for the context at `context` (they are saved where [`FileDigests::load`]
    /// finds them).
    pub fn none(store: &Store, context: &Path) -> FileDigests {
        let abs = std::fs::canonicalize(context).unwrap_or_else(|_| context.to_path_buf());
        let name = Digest::of(abs.as_os_str().as_encoded_bytes());
        let dir = store.context_digests_dir();
        FileDigests {
            path: dir.join(format!("{}.bin", name.hex())),
            legacy: dir.join(format!("{}.json", name.hex())),
            store: store.clone(),
            saved: Table::default(),
            fresh: BTreeMap::new(),
            next: 0,
        }
    }

    /// The digest remembered for the context file `rel` if `meta` still shows the state it was hashed in.
    pub fn known(&self, rel: &Path, meta: &std::fs::Metadata) -> Option<Digest> {
        let rel = rel.as_os_str().as_bytes();
        let stamp = Stamp::of(meta).to_bytes();
        let digest = match self.fresh.get(rel) {
            Some((s, d)) => (*s == stamp).then_some(*d),
            None => self.saved.find(rel).and_then(|i| self.saved.digest_if(i, &stamp)),
        };
        digest.map(Digest::from_sha256)
    }

    /// The sha256 of the regular file `rel` (at `path`) whose stamp is `stamp` now: remembered, or read.
    /// The stamp must be taken before the read: a file that changes while it is read then keeps a stamp
    /// older than its bytes, which no later stat shows again.
    pub(super) fn digest(&mut self, rel: &[u8], path: impl FnOnce() -> PathBuf, stamp: &Stamp) -> io::Result<[u8; 32]> {
        let stamp = stamp.to_bytes();
        if let Some(d) = self.remembered(rel, &stamp) {
            return Ok(d);
        }
        let mut h = Sha256::new();
        let mut f = std::fs::File::open(path())?;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        let digest: [u8; 32] = h.finalize().into();
        self.fresh.insert(rel.to_vec(), (stamp, digest));
        Ok(digest)
    }

    fn remembered(&mut self, rel: &[u8], stamp: &StampBytes) -> Option<[u8; 32]> {
        if !self.fresh.is_empty() {
            if let Some((s, d)) = self.fresh.get(rel) {
                return (s == stamp).then_some(*d);
            }
        }
        let i = if self.saved.name(self.next) == Some(rel) { self.next } else { self.saved.find(rel)? };
        self.next = i + 1;
        self.saved.digest_if(i, stamp)
    }

    /// Write the table back (atomically) if this build computed any digest, and drop an earlier version's
    /// file of the same context.
    pub fn save(&mut self) -> io::Result<()> {
        if self.fresh.is_empty() {
            return Ok(());
        }
        let bytes = self.saved.merged(&self.fresh)?;
        std::fs::create_dir_all(self.path.parent().unwrap_or(Path::new(".")))?;
        super::cache::write_bytes(&self.store, "context-digests", &self.path, &bytes)?;
        let _ = std::fs::remove_file(&self.legacy);
        self.saved = Table::parse(bytes).unwrap_or_default();
        self.fresh.clear();
        self.next = 0;
        Ok(())
    }
}

/// The bytes of a saved table, checked once when read.
#[derive(Default)]
struct Table {
    bytes: Vec<u8>,
    count: usize,
    /// Where the path bytes start.
    names: usize,
}

impl Table {
    fn parse(bytes: Vec<u8>) -> Option<Table> {
        let body = bytes.len().checked_sub(SUM)?;
        if body < HEADER || bytes[..MAGIC.len()] != *MAGIC {
            return None;
        }
        let sum: [u8; 32] = Sha256::digest(&bytes[..body]).into();
        if bytes[body..] != sum {
            return None;
        }
        let count = usize::try_from(u64::from_le_bytes(bytes[MAGIC.len()..HEADER].try_into().ok()?)).ok()?;
        let names = count.checked_mul(RECORD)?.checked_add(HEADER).filter(|&n| n <= body)?;
        Some(Table { bytes, count, names })
    }

    fn record(&self, i: usize) -> &[u8] {
        &self.bytes[HEADER + i * RECORD..HEADER + (i + 1) * RECORD]
    }

    /// The path of record `i` (none past the end, or if the record points outside the path bytes).
    fn name(&self, i: usize) -> Option<&[u8]> {
        if i >= self.count {
            return None;
        }
        let r = self.record(i);
        let at = u32::from_le_bytes(r[..4].try_into().ok()?) as usize;
        let len = u32::from_le_bytes(r[4..8].try_into().ok()?) as usize;
        let start = self.names.checked_add(at)?;
        self.bytes[..self.bytes.len() - SUM].get(start..start.checked_add(len)?)
    }

    /// The record of `rel`, by binary search.
    fn find(&self, rel: &[u8]) -> Option<usize> {
        let (mut lo, mut hi) = (0, self.count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.name(mid).unwrap_or_default().cmp(rel) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid),
            }
        }
        None
    }

    /// Record `i`'s digest if its stamp is `stamp`.
    fn digest_if(&self, i: usize, stamp: &StampBytes) -> Option<[u8; 32]> {
        let r = self.record(i);
        (r[8..8 + Stamp::BYTES] == stamp[..]).then(|| r[8 + Stamp::BYTES..].try_into().ok()).flatten()
    }

    /// A new table: these records, with `fresh` replacing or adding the records of its paths.
    fn merged(&self, fresh: &BTreeMap<Vec<u8>, (StampBytes, [u8; 32])>) -> io::Result<Vec<u8>> {
        use std::cmp::Ordering;
        // (path, stamp and digest), in path order.
        let mut out: Vec<(&[u8], [&[u8]; 2])> = Vec::with_capacity(self.count + fresh.len());
        let mut old = (0..self.count)
            .filter_map(|i| {
                let r = self.record(i);
                Some((self.name(i)?, [&r[8..8 + Stamp::BYTES], &r[8 + Stamp::BYTES..]]))
            })
            .peekable();
        let mut new = fresh.iter().map(|(n, (s, d))| (n.as_slice(), [&s[..], &d[..]])).peekable();
        while let Some(next) = match (old.peek(), new.peek()) {
            (Some(o), Some(n)) => match o.0.cmp(n.0) {
                Ordering::Less => old.next(),
                Ordering::Equal => {
                    old.next();
                    new.next()
                }
                Ordering::Greater => new.next(),
            },
            (Some(_), None) => old.next(),
            (None, _) => new.next(),
        } {
            out.push(next);
        }
        let too_big = || io::Error::new(io::ErrorKind::InvalidData, "context digest table over 4 GiB");
        let name_bytes: usize = out.iter().map(|(n, _)| n.len()).sum();
        u32::try_from(name_bytes).map_err(|_| too_big())?;
        let mut bytes = Vec::with_capacity(HEADER + out.len() * RECORD + name_bytes + SUM);
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&(out.len() as u64).to_le_bytes());
        let mut at = 0u32;
        for (name, [stamp, digest]) in &out {
            // Both fit: their sum is under 4 GiB.
            let len = name.len() as u32;
            bytes.extend_from_slice(&at.to_le_bytes());
            bytes.extend_from_slice(&len.to_le_bytes());
            bytes.extend_from_slice(stamp);
            bytes.extend_from_slice(digest);
            at += len;
        }
        for (name, _) in &out {
            bytes.extend_from_slice(name);
        }
        let sum: [u8; 32] = Sha256::digest(&bytes).into();
        bytes.extend_from_slice(&sum);
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp_of(path: &Path) -> Stamp {
        Stamp::of(&std::fs::symlink_metadata(path).unwrap())
    }

    #[test]
    fn digests_survive_a_save_and_follow_the_stamp() {
        let ctx = tempfile::tempdir().unwrap();
        let store_dir = tempfile::tempdir().unwrap();
        let store = Store::open(store_dir.path()).unwrap();
        let names: Vec<String> = ["b", "a", "a/x", "a-b", "c\u{e9}"].iter().map(|s| s.replace('/', "_")).collect();
        for n in &names {
            std::fs::write(ctx.path().join(n), n).unwrap();
        }
        let mut files = FileDigests::load(&store, ctx.path());
        let mut want = BTreeMap::new();
        for n in &names {
            let p = ctx.path().join(n);
            let d = files.digest(n.as_bytes(), || p.clone(), &stamp_of(&p)).unwrap();
            assert_eq!(d, <[u8; 32]>::from(Sha256::digest(n.as_bytes())));
            want.insert(n.clone(), d);
        }
        files.save().unwrap();
        assert!(files.path.exists() && files.fresh.is_empty());

        // Loaded again: every digest is remembered (a path that is gone proves no file was read).
        let mut again = FileDigests::load(&store, ctx.path());
        assert_eq!(again.saved.count, names.len());
        for (n, d) in &want {
            let p = ctx.path().join(n);
            let stamp = stamp_of(&p);
            let got = again.digest(n.as_bytes(), || PathBuf::from("/nonexistent/never/read"), &stamp).unwrap();
            assert_eq!(&got, d, "{n}");
            assert_eq!(
                again.known(Path::new(n), &std::fs::symlink_metadata(&p).unwrap()).unwrap().hex(),
                hex::encode(d)
            );
        }
        // A changed file is read again, and the new digest replaces the old one when saved.
        std::fs::write(ctx.path().join("b"), "changed").unwrap();
        let p = ctx.path().join("b");
        let d = again.digest(b"b", || p.clone(), &stamp_of(&p)).unwrap();
        assert_eq!(d, <[u8; 32]>::from(Sha256::digest(b"changed")));
        again.save().unwrap();
        let third = FileDigests::load(&store, ctx.path());
        assert_eq!(third.saved.count, names.len());
        assert_eq!(third.known(Path::new("b"), &std::fs::symlink_metadata(&p).unwrap()).unwrap().hex(), hex::encode(d));
    }

    #[test]
    fn a_damaged_table_is_no_cache() {
        let ctx = tempfile::tempdir().unwrap();
        let store_dir = tempfile::tempdir().unwrap();
        let store = Store::open(store_dir.path()).unwrap();
        let p = ctx.path().join("f");
        std::fs::write(&p, "x").unwrap();
        let mut files = FileDigests::load(&store, ctx.path());
        files.digest(b"f", || p.clone(), &stamp_of(&p)).unwrap();
        files.save().unwrap();
        let good = std::fs::read(&files.path).unwrap();
        let meta = std::fs::symlink_metadata(&p).unwrap();
        assert!(FileDigests::load(&store, ctx.path()).known(Path::new("f"), &meta).is_some());
        let mut flipped = good.clone();
        flipped[HEADER + 8 + Stamp::BYTES] ^= 1;
        for bad in [good[..good.len() - 1].to_vec(), flipped, Vec::new(), b"{}".to_vec()] {
            std::fs::write(&files.path, &bad).unwrap();
            assert!(FileDigests::load(&store, ctx.path()).known(Path::new("f"), &meta).is_none());
        }
    }
}
