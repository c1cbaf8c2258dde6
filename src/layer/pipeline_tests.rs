//! Tests of the threaded layer pipeline: the hashes computed on worker threads equal the single-threaded
//! result, and a commit that fails part-way leaves nothing in the store.

use super::*;
use crate::digest::Digest;
use crate::store::Store;
use std::fs;
use std::io::{self, Read};

/// A tree with one file spanning many pipeline chunks (and not a whole number of them).
fn big_tree(root: &std::path::Path) {
    let mut x: u32 = 1;
    let data: Vec<u8> = (0..(5 << 20) + 12_345)
        .map(|i| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            if i % 3 == 0 {
                b'x'
            } else {
                (x >> 24) as u8
            }
        })
        .collect();
    fs::write(root.join("big"), data).unwrap();
    fs::write(root.join("small"), b"hello").unwrap();
}

#[test]
fn threaded_hashes_equal_the_single_threaded_result() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let tree = dir.path().join("tree");
    fs::create_dir(&tree).unwrap();
    big_tree(&tree);
    for compression in [Compression::None, Compression::Gzip, Compression::Zstd] {
        let opts = LayerOptions { compression, source_date_epoch: Some(0) };
        let layer = write(&store, &tree, &opts).unwrap();
        // The same tar, written and hashed on this thread alone.
        let tar = write_tree(&tree, Vec::new(), &opts).unwrap().into_inner().unwrap();
        assert_eq!(layer.diff_id, Digest::of(&tar), "{compression:?} diff_id");
        let blob_digest = crate::store::from_oci_digest(layer.descriptor.digest()).unwrap();
        let bytes = fs::read(store.blob_path(&blob_digest)).unwrap();
        assert_eq!(Digest::of(&bytes), blob_digest, "{compression:?} digest");
        assert_eq!(bytes.len() as u64, layer.descriptor.size(), "{compression:?} size");
        let mut back = Vec::new();
        decompress(&bytes[..]).unwrap().read_to_end(&mut back).unwrap();
        assert_eq!(back, tar, "{compression:?} content");
    }
}

/// A tar stream that fails after `good` bytes, as a pipe does when its writer dies.
struct Broken {
    tar: Vec<u8>,
    pos: usize,
    good: usize,
}

impl Read for Broken {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.good {
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, "source went away"));
        }
        let n = buf.len().min(self.good - self.pos);
        buf[..n].copy_from_slice(&self.tar[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[test]
fn an_interrupted_commit_leaves_no_blob() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let tree = dir.path().join("tree");
    fs::create_dir(&tree).unwrap();
    big_tree(&tree);
    let tar = write_tree(&tree, Vec::new(), &LayerOptions::default()).unwrap().into_inner().unwrap();
    for compression in [Compression::None, Compression::Gzip, Compression::Zstd] {
        // Past several chunks, so every worker thread is running when the source fails.
        let source = Broken { tar: tar.clone(), pos: 0, good: 4 << 20 };
        let opts = LayerOptions { compression, source_date_epoch: None };
        let err = ingest_tar(&store, source, &opts).expect_err("a failing source must fail the commit");
        assert!(err.to_string().contains("source went away"), "{compression:?}: {err}");
        let blobs: Vec<_> = fs::read_dir(store.blob_path(&Digest::of(b"")).parent().unwrap()).unwrap().collect();
        assert!(blobs.is_empty(), "{compression:?}: a blob was published: {blobs:?}");
        let tmp: Vec<_> = fs::read_dir(store.tmp_dir()).unwrap().collect();
        assert!(tmp.is_empty(), "{compression:?}: temp files left: {tmp:?}");
    }
}

#[test]
fn files_copied_in_large_pieces_are_whole_and_padded_in_the_tar() {
    // Sizes at and around the 1 MiB piece size of the large-file copy, and one not a multiple of 512.
    for size in [(1 << 20) - 1, 1 << 20, (1 << 20) + 1, (3 << 20) + 511] {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..size).map(|i: usize| (i * 7 % 253) as u8).collect();
        fs::write(dir.path().join("a"), &data).unwrap();
        fs::write(dir.path().join("b"), b"after").unwrap();
        let tar = write_tree(dir.path(), Vec::new(), &LayerOptions::default()).unwrap().into_inner().unwrap();
        assert_eq!(tar.len(), 512 + size.div_ceil(512) * 512 + 512 + 512 + 1024, "size {size}: tar length");
        let mut got = Vec::new();
        for entry in tar::Archive::new(&tar[..]).entries().unwrap() {
            let mut entry = entry.unwrap();
            let mut content = Vec::new();
            entry.read_to_end(&mut content).unwrap();
            got.push((entry.path().unwrap().display().to_string(), content));
        }
        assert!(got == [("a".to_string(), data), ("b".to_string(), b"after".to_vec())], "size {size}: entries");
    }
}
