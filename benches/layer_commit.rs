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

/// CPU seconds (user, system) this process has used so far, all threads.
fn cpu() -> (f64, f64) {
    usage(libc::RUSAGE_SELF)
}

/// CPU seconds (user, system) of `who` (`RUSAGE_SELF` or `RUSAGE_CHILDREN`).
fn usage(who: libc::c_int) -> (f64, f64) {
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct it is given.
    unsafe { libc::getrusage(who, &mut u) };
    let s = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (s(u.ru_utime), s(u.ru_stime))
}

/// The compressible part of the input: `mixed` repeats one line of text (so zstd finds long matches
/// and runs very fast), `docs` repeats a tar of `/usr/share/doc` (the input `../shared/bench/limits.sh`
/// measures `zstd -3 -T2` on: real text, real tar headers).
enum Text {
    Line,
    Docs { tar: Vec<u8>, at: usize },
}

impl Text {
    fn new(data: &str) -> Text {
        match data {
            "mixed" | "noise" => Text::Line,
            "docs" => {
                let out = std::process::Command::new("tar")
                    .args(["-C", "/usr/share", "-cf", "-", "doc"])
                    .stderr(std::process::Stdio::null())
                    .output()
                    .expect("run tar of /usr/share/doc");
                assert!(!out.stdout.is_empty(), "tar of /usr/share/doc is empty");
                Text::Docs { tar: out.stdout, at: 0 }
            }
            other => panic!("unknown DATA {other} (mixed, noise or docs)"),
        }
    }

    fn fill(&mut self, block: &mut [u8]) {
        const LINE: &[u8] = b"the quick brown fox jumps over the lazy dog 0123456789\n";
        match self {
            Text::Line => block.iter_mut().enumerate().for_each(|(j, b)| *b = LINE[j % LINE.len()]),
            Text::Docs { tar, at } => {
                for b in block.iter_mut() {
                    *b = tar[*at];
                    *at = (*at + 1) % tar.len();
                }
            }
        }
    }
}

fn main() {
    let mib: usize = std::env::var("SIZE_MIB").ok().and_then(|s| s.parse().ok()).unwrap_or(512);
    let which = std::env::var("COMPRESSIONS").unwrap_or_else(|_| "sha256,none,zstd-cli,zstd,gzip".into());
    let tree = tempfile::tempdir().expect("temp tree");
    let data = std::env::var("DATA").unwrap_or_else(|_| "mixed".into());
    let mut f = std::fs::File::create(tree.path().join("f")).expect("create file");
    let mut text = Text::new(&data);
    // xorshift for the incompressible MiBs, the chosen text for the others.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut block = vec![0u8; 1 << 20];
    for i in 0..mib {
        let noise = match data.as_str() {
            "noise" => true,
            "mixed" => i % 2 == 0,
            _ => i < mib / 2,
        };
        if noise {
            for b in block.chunks_exact_mut(8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                b.copy_from_slice(&x.to_le_bytes());
            }
        } else {
            text.fill(&mut block);
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
            let (u0, s0) = usage(libc::RUSAGE_CHILDREN);
            let t = Instant::now();
            let status = std::process::Command::new("zstd")
                .args(["-3", "-T2", "-q", "-f", "-o"])
                .arg(root.path().join("out.zst"))
                .arg(tree.path().join("f"))
                .status()
                .expect("run zstd");
            let secs = t.elapsed().as_secs_f64();
            assert!(status.success(), "zstd failed");
            let (u1, s1) = usage(libc::RUSAGE_CHILDREN);
            println!(
                "{name:8} {mib} MiB in {secs:6.2} s = {:7.1} MiB/s  cpu {:.2} user + {:.2} sys",
                mib as f64 / secs,
                u1 - u0,
                s1 - s0
            );
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
        let (u0, s0) = cpu();
        let t = Instant::now();
        let l = layer::write(&store, tree.path(), &opts).expect("write layer");
        let secs = t.elapsed().as_secs_f64();
        let (u1, s1) = cpu();
        println!(
            "{name:8} {mib} MiB in {secs:6.2} s = {:7.1} MiB/s  cpu {:.2} user + {:.2} sys  blob {} MiB  {}",
            mib as f64 / secs,
            u1 - u0,
            s1 - s0,
            l.descriptor.size() >> 20,
            l.descriptor.digest()
        );
    }
}
