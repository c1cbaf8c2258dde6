//! A real registry for tests: Debian's `docker-registry` (the distribution registry) on a free
//! 127.0.0.1 port with a temp storage dir; optionally TLS with a CA the test makes (openssl) and
//! htpasswd basic auth (`htpasswd -B`). Killed on drop. Only loopback is ever contacted.
#![allow(dead_code)]

pub mod proxy;
pub mod token;

use crate::common::TestContext;
use sha2::{Digest as _, Sha256};
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Registry {
    child: Child,
    pub dir: tempfile::TempDir,
    /// `127.0.0.1:PORT`
    pub host: String,
    /// The CA that signed the server certificate, when TLS is on.
    pub ca: Option<PathBuf>,
    /// The token server of a token-auth registry.
    pub token_server: Option<token::TokenServer>,
}

#[derive(Default)]
pub struct Options {
    pub tls: bool,
    /// (user, password) for htpasswd auth.
    pub user: Option<(String, String)>,
    /// (user, password) for distribution's `auth: token`, with a token server this helper runs.
    pub token: Option<(String, String)>,
    /// With `tls`: demand a client certificate signed by the test CA (mutual TLS); one is made as
    /// `client.cert`/`client.key` in the registry's dir.
    pub client_certs: bool,
}

pub(crate) fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Fail loudly when a tool is missing: `scripts/deps.sh` installs them.
pub fn require_tool(name: &str) {
    let found =
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file())).unwrap_or(false);
    assert!(found, "{name} is needed for the registry tests: run scripts/deps.sh (it installs it)");
}

/// A CA and a server certificate for 127.0.0.1 signed by it, in `dir`.
fn make_certs(dir: &Path) -> PathBuf {
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    run(Command::new("openssl").current_dir(dir).args(["req", "-x509"]).args(ec).args([
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=rbuild test CA",
    ]));
    issue_cert(dir, "server.key", "server.crt", "/CN=127.0.0.1", "subjectAltName=IP:127.0.0.1");
    dir.join("ca.crt")
}

/// A client certificate signed by the test CA in `dir`: `client.cert` and `client.key`.
fn make_client_cert(dir: &Path) {
    issue_cert(dir, "client.key", "client.cert", "/CN=rbuild test client", "extendedKeyUsage=clientAuth");
}

/// A new EC key `key` and a certificate `cert` for `subject`, signed by the test CA in `dir` (`ca.crt`,
/// `ca.key`) with the extension line `ext`, valid for two days.
fn issue_cert(dir: &Path, key: &str, cert: &str, subject: &str, ext: &str) {
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    let csr = format!("{cert}.csr");
    run(Command::new("openssl")
        .current_dir(dir)
        .arg("req")
        .args(ec)
        .args(["-keyout", key, "-out", &csr, "-subj", subject]));
    let ext_file = format!("{cert}.ext");
    std::fs::write(dir.join(&ext_file), format!("{ext}\nbasicConstraints=CA:FALSE\n")).unwrap();
    run(Command::new("openssl")
        .current_dir(dir)
        .args(["x509", "-req", "-in", &csr, "-CA", "ca.crt", "-CAkey", "ca.key"])
        .args(["-CAcreateserial", "-out", cert, "-days", "2", "-extfile", &ext_file]));
}

impl Registry {
    pub fn start(opts: Options) -> Registry {
        require_tool("docker-registry");
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let host = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\n",
            dir.path().join("data").display()
        );
        let ca = if opts.tls {
            let ca = make_certs(dir.path());
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                dir.path().join("server.crt").display(),
                dir.path().join("server.key").display()
            ));
            if opts.client_certs {
                make_client_cert(dir.path());
                config.push_str(&format!("    clientcas:\n      - {}\n", ca.display()));
            }
            Some(ca)
        } else {
            None
        };
        if let Some((user, pass)) = &opts.user {
            require_tool("htpasswd");
            let out = Command::new("htpasswd").args(["-Bbn", user, pass]).output().unwrap();
            assert!(out.status.success());
            std::fs::write(dir.path().join("htpasswd"), &out.stdout).unwrap();
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: rbuild-test\n    path: {}\n",
                dir.path().join("htpasswd").display()
            ));
        }
        let token_server = opts.token.as_ref().map(|(user, pass)| {
            let server = token::TokenServer::start(dir.path(), user, pass);
            config.push_str(&format!(
                "auth:\n  token:\n    realm: http://{}/token\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
                server.host,
                token::SERVICE,
                token::ISSUER,
                server.cert.display()
            ));
            server
        });
        std::fs::write(dir.path().join("config.yml"), config).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting docker-registry");
        let reg = Registry { child, dir, host, ca, token_server };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(&reg.host).is_err() {
            assert!(Instant::now() < deadline, "docker-registry did not listen on {}: {}", reg.host, reg.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        reg
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// The registry's storage of a blob (to tamper with it).
    pub fn blob_data(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap();
        self.dir.path().join("data/docker/registry/v2/blobs/sha256").join(&hex[..2]).join(hex).join("data")
    }

    /// A certs.d base dir holding this registry's CA, for `RBUILD_CERTS_DIRS`.
    pub fn certs_d(&self) -> PathBuf {
        let base = self.dir.path().join("certs.d");
        let d = base.join(&self.host);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::copy(self.ca.as_ref().expect("a TLS registry"), d.join("ca.crt")).unwrap();
        base
    }

    /// skopeo's flags to reach this registry (TLS trusted through the test CA, credentials when given).
    pub fn skopeo_dest_flags(&self) -> Vec<String> {
        match &self.ca {
            Some(_) => {
                let certs = self.certs_d().join(&self.host);
                vec![format!("--dest-cert-dir={}", certs.display())]
            }
            None => vec!["--dest-tls-verify=false".into()],
        }
    }

    /// `skopeo copy [extra] SRC docker://HOST/DEST`.
    pub fn skopeo_copy(&self, src: &str, dest: &str, extra: &[&str]) {
        require_tool("skopeo");
        let mut cmd = Command::new("skopeo");
        cmd.args(["copy", "-q"]).args(self.skopeo_dest_flags()).args(extra);
        cmd.arg(src).arg(format!("docker://{}/{dest}", self.host));
        run(&mut cmd);
    }

    /// `skopeo inspect --raw` of an image in this registry, and its digest.
    pub fn skopeo_inspect(&self, name: &str, extra: &[&str]) -> serde_json::Value {
        let mut cmd = Command::new("skopeo");
        cmd.arg("inspect");
        match &self.ca {
            Some(_) => cmd.arg(format!("--cert-dir={}", self.certs_d().join(&self.host).display())),
            None => cmd.arg("--tls-verify=false"),
        };
        let out = cmd.args(extra).arg(format!("docker://{}/{name}", self.host)).output().unwrap();
        assert!(out.status.success(), "skopeo inspect {name}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Write `content` to a new file under `dir`.
pub fn write(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::File::create(&p).unwrap().write_all(content).unwrap();
    p
}

// Driving rbuild and reading a store, for the registry tests.

pub fn sha(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// `rbuild` with the test's store and credential files only (never the host's).
pub fn rb(t: &TestContext) -> assert_cmd::Command {
    let mut c = t.rbuild();
    c.env("DOCKER_CONFIG", t.dir.path().join("docker"))
        .env("RBUILD_CERTS_DIRS", t.dir.path().join("no-certs.d"))
        // A registries.conf only when the test writes one (missing: no setting), never the host's.
        .env("CONTAINERS_REGISTRIES_CONF", t.dir.path().join("registries.conf"))
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("XDG_RUNTIME_DIR");
    c
}

/// Run and return (exit code, stdout, stderr).
pub fn out(mut c: assert_cmd::Command) -> (i32, String, String) {
    let o = c.output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

pub fn ok(c: assert_cmd::Command) -> String {
    let (code, stdout, stderr) = out(c);
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    stdout
}

/// Busybox imported into a store, its OCI layout as skopeo's source name.
pub fn busybox_source(t: &TestContext) -> String {
    t.import_busybox();
    format!("oci:{}:busybox:latest", t.root().join("oci").display())
}

/// Everything in a store that a failed command must leave alone: index.json's bytes and the blob names.
pub fn store_state(root: &Path) -> (Vec<u8>, Vec<String>) {
    let index = std::fs::read(root.join("oci/index.json")).unwrap_or_default();
    let mut blobs: Vec<String> = std::fs::read_dir(root.join("oci/blobs/sha256"))
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    blobs.sort();
    (index, blobs)
}

pub fn image_id(t: &TestContext, name: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(&ok({
        let mut c = rb(t);
        c.args(["inspect", name]);
        c
    }))
    .unwrap();
    let v = if v.is_array() { v[0].clone() } else { v };
    v["Id"].as_str().or_else(|| v["id"].as_str()).unwrap_or_else(|| panic!("no Id in {v}")).to_string()
}

/// `rbuild` trusting the registry's test CA through a certs.d dir, verification forced on (loopback
/// would otherwise be insecure by default and prove nothing about the CA).
pub fn rb_tls(t: &TestContext, registry: &Registry) -> assert_cmd::Command {
    let mut c = rb(t);
    c.env("RBUILD_CERTS_DIRS", registry.certs_d());
    c
}
