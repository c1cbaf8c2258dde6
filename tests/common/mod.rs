//! The end-to-end test helper: a temp store and context, the real `rbuild` binary, and readers for what it
//! writes (index.json, manifests, configs, layer tars) that use no rbuild code.
#![allow(dead_code)]

pub mod containers;
pub mod rootfs;

use assert_cmd::Command;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Tests that run RUN steps in a sandbox need root; CI runs as root. Fail, never skip, elsewhere.
pub fn require_root() {
    assert!(nix::unistd::geteuid().is_root(), "these tests run RUN steps in a sandbox and need root (CI runs as root)");
}

/// An external tool the test needs (skopeo, umoci, ...): fail loudly, with the install command, when it
/// is missing.
pub fn tool(name: &str) -> std::process::Command {
    let found = std::process::Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(found, "this test needs `{name}` on PATH: apt-get install -y {name} (scripts/deps.sh installs it)");
    std::process::Command::new(name)
}

/// Run a tool command, insisting on success; its stdout.
pub fn run_tool(cmd: &mut std::process::Command) -> String {
    let out = cmd.output().expect("run tool");
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Output bytes as text, for messages.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Incompressible bytes (xorshift), so a layer's size is the file's.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

pub struct TestContext {
    pub dir: tempfile::TempDir,
}

/// One entry of a layer tar: type, mode, uid, gid, link target, content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TarEntry {
    pub kind: char,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    pub link: Option<String>,
    pub data: Vec<u8>,
}

/// A busybox rootfs tarball, made once per test binary by `scripts/busybox-rootfs.sh`.
pub fn busybox_rootfs() -> PathBuf {
    static TAR: OnceLock<PathBuf> = OnceLock::new();
    TAR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("busybox-rootfs");
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join(format!("busybox-{}.tar", std::process::id()));
        let status =
            std::process::Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/busybox-rootfs.sh"))
                .arg(&out)
                .status()
                .expect("running scripts/busybox-rootfs.sh");
        assert!(
            status.success(),
            "scripts/busybox-rootfs.sh failed: install busybox-static (apt-get install -y busybox-static)"
        );
        out
    })
    .clone()
}

/// Where scripts/deps.sh leaves Debian's arm64 busybox-static package.
pub const ARM64_BUSYBOX_DEB: &str = "/var/cache/rbuild-test/busybox-static_arm64.deb";

/// An arm64 busybox rootfs tarball (Debian's binary, the host's applet list), made once per test binary.
pub fn arm64_busybox_rootfs() -> PathBuf {
    static TAR: OnceLock<PathBuf> = OnceLock::new();
    TAR.get_or_init(|| {
        assert!(
            Path::new(ARM64_BUSYBOX_DEB).is_file(),
            "{ARM64_BUSYBOX_DEB} is missing: run scripts/deps.sh (it runs `apt-get download busybox-static:arm64`)"
        );
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("busybox-rootfs");
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join(format!("busybox-arm64-{}.tar", std::process::id()));
        let status =
            std::process::Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/busybox-rootfs.sh"))
                .arg(&out)
                .arg(ARM64_BUSYBOX_DEB)
                .status()
                .expect("running scripts/busybox-rootfs.sh");
        assert!(status.success(), "scripts/busybox-rootfs.sh {ARM64_BUSYBOX_DEB} failed");
        out
    })
    .clone()
}

impl TestContext {
    pub fn new() -> TestContext {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("ctx")).unwrap();
        TestContext { dir }
    }

    /// A store holding busybox:latest (needs root, as every test that runs it does).
    pub fn busybox() -> TestContext {
        require_root();
        let t = TestContext::new();
        t.import_busybox();
        t
    }

    /// A path in the test's temp dir (outside the context and the store).
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    pub fn ctx(&self) -> PathBuf {
        self.dir.path().join("ctx")
    }

    /// Write a file in the context (parents created).
    pub fn write(&self, rel: &str, content: &str) -> PathBuf {
        let p = self.ctx().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, content).unwrap();
        p
    }

    pub fn rbuild(&self) -> Command {
        let mut c = Command::cargo_bin("rbuild").unwrap();
        c.env("RBUILD_ROOT", self.root()).env_remove("SOURCE_DATE_EPOCH").current_dir(self.dir.path());
        c
    }

    /// The real binary as a std Command, for tests that spawn it or give it pipes (assert_cmd's cannot).
    pub fn process(&self) -> std::process::Command {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_rbuild"));
        c.env("RBUILD_ROOT", self.root()).env_remove("SOURCE_DATE_EPOCH").current_dir(self.dir.path());
        c
    }

    /// Run `rbuild ARGS` and insist on success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.rbuild().args(args).output().unwrap();
        assert!(
            out.status.success(),
            "rbuild {args:?} failed ({:?}):\nstdout: {}\nstderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Run `rbuild ARGS` expecting exit code `code`; returns stderr.
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.rbuild().args(args).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(code),
            "rbuild {args:?}:\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stderr).unwrap()
    }

    /// `rbuild build -t TAG ctx` with extra args; asserts success.
    pub fn build(&self, tag: &str, extra: &[&str]) -> String {
        let out = self.rbuild().arg("build").arg("-q").arg("-t").arg(tag).args(extra).arg(self.ctx()).output().unwrap();
        assert!(
            out.status.success(),
            "build failed:\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    /// Import the busybox rootfs as `busybox:latest`.
    pub fn import_busybox(&self) {
        self.import_rootfs(&busybox_rootfs(), "busybox:latest", &[]);
    }

    /// Import the arm64 busybox rootfs as `name`, an image of platform linux/arm64.
    pub fn import_arm64_busybox(&self, name: &str) {
        self.import_rootfs(&arm64_busybox_rootfs(), name, &["--platform", "linux/arm64"]);
    }

    fn import_rootfs(&self, tar: &Path, name: &str, extra: &[&str]) {
        self.rbuild()
            .args(["import"])
            .args(extra)
            .arg(tar)
            .args([
                name,
                "--change",
                "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "--change",
                "CMD [\"sh\"]",
            ])
            .assert()
            .success();
    }

    pub fn index(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.root().join("oci/index.json")).unwrap()).unwrap()
    }

    pub fn blob(&self, digest: &str) -> Vec<u8> {
        let hex = digest.strip_prefix("sha256:").unwrap();
        std::fs::read(self.root().join("oci/blobs/sha256").join(hex)).unwrap()
    }

    /// The index.json entry (manifest descriptor) named `name` (full `name:tag`).
    pub fn index_entry(&self, name: &str) -> Value {
        let index = self.index();
        index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} not in index.json: {index}"))
    }

    /// The manifest tagged `name` (full `name:tag`), read from index.json.
    pub fn manifest(&self, name: &str) -> Value {
        serde_json::from_slice(&self.blob(self.index_entry(name)["digest"].as_str().unwrap())).unwrap()
    }

    pub fn config(&self, name: &str) -> Value {
        let m = self.manifest(name);
        serde_json::from_slice(&self.blob(m["config"]["digest"].as_str().unwrap())).unwrap()
    }

    /// Entries of layer `n` of image `name`, by path (without leading `./` or `/`).
    pub fn layer(&self, name: &str, n: usize) -> BTreeMap<String, TarEntry> {
        self.layer_entries(&self.manifest(name)["layers"][n])
    }

    /// Entries of the layer a manifest's layer descriptor `l` names (plain, gzip or zstd), by path.
    pub fn layer_entries(&self, l: &Value) -> BTreeMap<String, TarEntry> {
        let raw = self.blob(l["digest"].as_str().unwrap());
        let media = l["mediaType"].as_str().unwrap();
        let data: Vec<u8> = if media.ends_with("gzip") {
            let mut v = Vec::new();
            flate2::read::MultiGzDecoder::new(&raw[..]).read_to_end(&mut v).unwrap();
            v
        } else if media.ends_with("zstd") {
            zstd::decode_all(&raw[..]).unwrap()
        } else {
            raw
        };
        read_tar(&data)
    }

    pub fn layer_count(&self, name: &str) -> usize {
        self.manifest(name)["layers"].as_array().unwrap().len()
    }
}

pub fn read_tar(data: &[u8]) -> BTreeMap<String, TarEntry> {
    let mut out = BTreeMap::new();
    let mut ar = tar::Archive::new(data);
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e
            .path()
            .unwrap()
            .to_string_lossy()
            .trim_start_matches("./")
            .trim_start_matches('/')
            .trim_end_matches('/')
            .to_string();
        let h = e.header().clone();
        let kind = match h.entry_type() {
            tar::EntryType::Regular => 'f',
            tar::EntryType::Directory => 'd',
            tar::EntryType::Symlink => 'l',
            tar::EntryType::Link => 'h',
            _ => '?',
        };
        let link = e.link_name().unwrap().map(|l| l.to_string_lossy().into_owned());
        let mut content = Vec::new();
        e.read_to_end(&mut content).unwrap();
        out.insert(
            path,
            TarEntry {
                kind,
                mode: h.mode().unwrap() & 0o7777,
                uid: h.uid().unwrap(),
                gid: h.gid().unwrap(),
                mtime: h.mtime().unwrap(),
                link,
                data: content,
            },
        );
    }
    out
}

/// Poll `done` until it holds; fail after 20 s (a hang, not a timing assertion).
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !done() {
        assert!(start.elapsed() < std::time::Duration::from_secs(20), "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The pids of the processes whose environment holds `marker` (`K=V`), e.g. everything a sandbox ran.
pub fn pids_with(marker: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
        if let Ok(env) = std::fs::read(e.path().join("environ")) {
            if env.split(|b| *b == 0).any(|kv| kv == marker.as_bytes()) {
                out.push(pid);
            }
        }
    }
    out
}
