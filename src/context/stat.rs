//! Stat stamps of context entries (`lstat`, never through a symlink), taken where they are cheapest: by
//! `fstatat` on each entry's parent directory, opened once for the run of names it holds, and on a few
//! threads. A rebuild of a big context that changed nowhere is mostly these calls, one per entry, so they
//! are taken either for a list of paths ([`stat_all`]) or while the walk lists the entries
//! ([`walk_stamped`]), on the cores the walk leaves idle.

use super::walk::{walk_into, Entry, Filter, WalkError};
use crate::fsops::Stamp;
use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::{mpsc, Mutex};

/// How many entries the walk lists before it hands them to a stat thread.
const BATCH: usize = 1024;

/// Walk `root` through `filter` as [`super::walk_filtered`] does, and stamp each listed entry. The stamp
/// of an entry is taken after the walk read its directory and before the walk returns; `None` where the
/// stat failed (a file removed meanwhile), and no stamps at all if a stat thread could not start or died.
pub fn walk_stamped(root: &Path, filter: &Filter) -> Result<(Vec<Entry>, Vec<Option<Stamp>>), WalkError> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 3);
    let (job_tx, job_rx) = mpsc::channel::<(usize, Vec<u8>)>();
    let job_rx = Mutex::new(job_rx);
    let (done_tx, done_rx) = mpsc::channel::<(usize, Vec<Option<Stamp>>)>();
    std::thread::scope(|s| {
        let mut batches = 0;
        let mut workers = Vec::new();
        let walked = walk_into(root, filter, BATCH, &mut |batch| {
            // A thread more for each batch up to `threads`: a small context costs one. The others take
            // the batches of one that cannot start; if none can, no entry is stamped (found below).
            if batches < threads {
                let (jobs, done) = (&job_rx, done_tx.clone());
                workers.extend(std::thread::Builder::new().spawn_scoped(s, move || stamp_batches(root, jobs, done)));
            }
            // The batch's paths, each ended by a NUL (no name holds one).
            let mut paths = Vec::with_capacity(batch.iter().map(|e| e.path.as_os_str().len() + 1).sum());
            for e in batch {
                paths.extend_from_slice(e.path.as_os_str().as_bytes());
                paths.push(0);
            }
            // Fails only when every thread died; their batches then have no stamps, found below.
            let _ = job_tx.send((batches, paths));
            batches += 1;
        });
        drop(job_tx);
        drop(done_tx);
        // Joined here, so that one that panicked only leaves its batches unstamped.
        for w in workers {
            let _ = w.join();
        }
        let entries = walked?;
        let mut parts: Vec<_> = done_rx.iter().collect();
        parts.sort_unstable_by_key(|(i, _)| *i);
        let stamps: Vec<Option<Stamp>> = parts.into_iter().flat_map(|(_, s)| s).collect();
        // Each batch's stamps are as many as its entries: a batch missing leaves fewer.
        Ok(if stamps.len() == entries.len() { (entries, stamps) } else { (entries, Vec::new()) })
    })
}

/// A stat thread: stamps each batch it takes until the walk is done.
fn stamp_batches(
    root: &Path,
    jobs: &Mutex<mpsc::Receiver<(usize, Vec<u8>)>>,
    done: mpsc::Sender<(usize, Vec<Option<Stamp>>)>,
) {
    let mut at = ParentStat::new(root);
    loop {
        let job = match jobs.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok((i, paths)) = job else { return };
        let stamps = match paths.strip_suffix(&[0]) {
            Some(paths) => paths.split(|&b| b == 0).map(|rel| at.stat(rel).ok()).collect(),
            None => Vec::new(),
        };
        if done.send((i, stamps)).is_err() {
            return;
        }
    }
}

/// `lstat` of each of `rels` under `root`, in order, on a few threads.
pub fn stat_all(root: &Path, rels: &[&[u8]]) -> Vec<io::Result<Stamp>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(4);
    if threads < 2 || rels.len() < 2048 {
        return ParentStat::new(root).all(rels);
    }
    std::thread::scope(|s| {
        let chunks: Vec<_> = rels
            .chunks(rels.len().div_ceil(threads))
            .map(|c| (c, s.spawn(move || ParentStat::new(root).all(c))))
            .collect();
        // A thread that died is redone here, so every path keeps its place in the result.
        chunks.into_iter().flat_map(|(c, h)| h.join().unwrap_or_else(|_| ParentStat::new(root).all(c))).collect()
    })
}

/// `lstat` of sorted paths under a root by `fstatat` on their parent directory, opened once for the run of
/// names it holds: the kernel walks each directory's path once instead of every file's full path (that
/// walk was most of a warm rebuild's time on a 25,000-file context).
pub struct ParentStat<'a> {
    root: &'a Path,
    parent: Option<(Vec<u8>, std::os::fd::OwnedFd)>,
}

impl<'a> ParentStat<'a> {
    pub fn new(root: &'a Path) -> ParentStat<'a> {
        ParentStat { root, parent: None }
    }

    pub fn all(mut self, rels: &[&[u8]]) -> Vec<io::Result<Stamp>> {
        rels.iter().map(|rel| self.stat(rel)).collect()
    }

    pub fn stat(&mut self, rel: &[u8]) -> io::Result<Stamp> {
        let (dir, name) = match rel.iter().rposition(|&b| b == b'/') {
            Some(i) => (&rel[..i], &rel[i + 1..]),
            None => (&rel[..0], rel),
        };
        let fd = match self.parent.take() {
            Some((open, fd)) if open.as_slice() == dir => &self.parent.insert((open, fd)).1,
            _ => {
                let flags = nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC;
                let path = self.root.join(OsStr::from_bytes(dir));
                let fd = nix::fcntl::open(&path, flags, nix::sys::stat::Mode::empty())?;
                &self.parent.insert((dir.to_vec(), fd)).1
            }
        };
        let name = OsStr::from_bytes(name);
        let stat = nix::sys::stat::fstatat(fd, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)?;
        Ok(Stamp::of_stat(&stat))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::Matcher;

    fn tree(files: &[&str]) -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        for p in files {
            let path = t.path().join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, p).unwrap();
        }
        t
    }

    #[test]
    fn stats_by_parent_directory_match_lstat_of_the_full_path() {
        let t = tree(&["top", "a/b/deep", "a/b/other", "a/c"]);
        std::os::unix::fs::symlink("../nowhere", t.path().join("a/link")).unwrap();
        let rels: Vec<&[u8]> = vec![b"a/b/deep", b"a/b/other", b"a/c", b"a/link", b"top"];
        let got = ParentStat::new(t.path()).all(&rels);
        for (rel, stamp) in rels.iter().zip(got) {
            let want = Stamp::of(&std::fs::symlink_metadata(t.path().join(OsStr::from_bytes(rel))).unwrap());
            assert!(stamp.unwrap() == want, "{}", String::from_utf8_lossy(rel));
        }
        // A name that is gone is an error, not another file's stamp.
        assert!(ParentStat::new(t.path()).all(&[b"a/b/deep".as_slice(), b"a/b/gone"])[1].is_err());
        assert!(ParentStat::new(t.path()).all(&[b"nodir/x".as_slice()])[0].is_err());
    }

    #[test]
    fn walk_stamps_are_each_listed_entrys_lstat() {
        // Enough entries for several batches, so that several threads stamp them.
        let names: Vec<String> = (0..2 * BATCH + 7).map(|i| format!("d{}/f{i}", i % 13)).collect();
        let mut all: Vec<&str> = names.iter().map(String::as_str).collect();
        all.push("skip/me");
        let t = tree(&all);
        std::os::unix::fs::symlink("d0", t.path().join("link")).unwrap();
        let filter = Filter::exclude(Matcher::new(["skip"]).unwrap());
        let (entries, stamps) = walk_stamped(t.path(), &filter).unwrap();
        assert_eq!(entries, super::super::walk_filtered(t.path(), &filter).unwrap());
        assert_eq!(stamps.len(), entries.len());
        for (e, stamp) in entries.iter().zip(stamps) {
            let want = Stamp::of(&std::fs::symlink_metadata(t.path().join(&e.path)).unwrap());
            assert!(stamp == Some(want), "{}", e.path.display());
        }
    }
}
