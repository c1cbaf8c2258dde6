//! The end-to-end test helper: a temp store and context, the real `rbuild` binary, and readers for what it
//! writes (index.json, manifests, configs, layer tars) that use no rbuild code.
#![allow(dead_code)]

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

impl TestContext {
    pub fn new() -> TestContext {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("ctx")).unwrap();
        TestContext { dir }
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
        self.rbuild()
            .args(["import"])
            .arg(busybox_rootfs())
            .args([
                "busybox:latest",
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

    /// The manifest tagged `name` (full `name:tag`), read from index.json.
    pub fn manifest(&self, name: &str) -> Value {
        let index = self.index();
        let m = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == name)
            .unwrap_or_else(|| panic!("{name} not in index.json: {index}"));
        serde_json::from_slice(&self.blob(m["digest"].as_str().unwrap())).unwrap()
    }

    pub fn config(&self, name: &str) -> Value {
        let m = self.manifest(name);
        serde_json::from_slice(&self.blob(m["config"]["digest"].as_str().unwrap())).unwrap()
    }

    /// Entries of layer `n` of image `name`, by path (without leading `./` or `/`).
    pub fn layer(&self, name: &str, n: usize) -> BTreeMap<String, TarEntry> {
        let m = self.manifest(name);
        let l = &m["layers"][n];
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
