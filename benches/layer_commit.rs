//! Layer-commit throughput: one 512 MiB file (half incompressible, half compressible text; `SIZE_MIB`
//! overrides the size) written as a layer through `layer::write` with each compression, timed end to
//! end (tar, hashes, compression, blob write and fsync). Run: `cargo bench --bench layer_commit`
//! (`COMPRESSIONS=zstd,gzip` to choose; the prepared tree and the store are temp dirs under `$TMPDIR`).
//! The row `zstd-cli` times `zstd -3 -T2` on the same file (output to a file in the temp store dir, not
//! fsynced), the reference the zstd commit is measured against; `sha256` hashes the file from memory
//! (about 1.5 GiB/s or more with SHA-NI, which sha2 detects at run time; about 0.3 without).

use rbuild::layer::{self, Compression, LayerOptions};
use rbuild::store::Store;
use std::io::Write;
use std::time::Instant;

fn main() {
    let mib: usize = std::env::var("SIZE_MIB").ok().and_then(|s| s.parse().ok()).unwrap_or(512);
    let which = std::env::var("COMPRESSIONS").unwrap_or_else(|_| "sha256,none,zstd-cli,zstd,gzip".into());
    let tree = tempfile::tempdir().expect("temp tree");
    let mut f = std::fs::File::create(tree.path().join("f")).expect("create file");
    // xorshift for the incompressible half, repeated text for the compressible half.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut block = vec![0u8; 1 << 20];
    for i in 0..mib {
        if i % 2 == 0 {
            for b in block.chunks_exact_mut(8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                b.copy_from_slice(&x.to_le_bytes());
            }
        } else {
            for (j, b) in block.iter_mut().enumerate() {
                *b = b"the quick brown fox jumps over the lazy dog 0123456789\n"[j % 55];
            }
        }
        f.write_all(&block).expect("write file");
    }
    f.sync_all().expect("fsync file");
    drop(f);
    for name in which.split(',') {
        if name == "sha256" {
            use sha2::Digest as _;
            let bytes = std::fs::read(tree.path().join("f")).expect("read file");
            let t = Instant::now();
            let d = sha2::Sha256::digest(&bytes);
            let secs = t.elapsed().as_secs_f64();
            println!("{name:8} {mib} MiB in {secs:6.2} s = {:7.1} MiB/s  {:x}", mib as f64 / secs, d);
            continue;
        }
        if name == "zstd-cli" {
            let root = tempfile::tempdir().expect("temp dir");
            let t = Instant::now();
            let status = std::process::Command::new("zstd")
                .args(["-3", "-T2", "-q", "-f", "-o"])
                .arg(root.path().join("out.zst"))
                .arg(tree.path().join("f"))
                .status()
                .expect("run zstd");
            let secs = t.elapsed().as_secs_f64();
            assert!(status.success(), "zstd failed");
            println!("{name:8} {mib} MiB in {secs:6.2} s = {:7.1} MiB/s", mib as f64 / secs);
            continue;
        }
        let compression = match name {
            "gzip" => Compression::Gzip,
            "zstd" => Compression::Zstd,
            "none" => Compression::None,
            other => panic!("unknown compression {other}"),
        };
        let root = tempfile::tempdir().expect("temp store");
        let store = Store::open(root.path()).expect("open store");
        let opts = LayerOptions { compression, source_date_epoch: Some(0) };
        let t = Instant::now();
        let l = layer::write(&store, tree.path(), &opts).expect("write layer");
        let secs = t.elapsed().as_secs_f64();
        println!(
            "{name:8} {mib} MiB in {secs:6.2} s = {:7.1} MiB/s  blob {} MiB  {}",
            mib as f64 / secs,
            l.descriptor.size() >> 20,
            l.descriptor.digest()
        );
    }
}
