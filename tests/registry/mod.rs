//! A real registry for tests: Debian's `docker-registry` (the distribution registry) on a free
//! 127.0.0.1 port with a temp storage dir; optionally TLS with a CA the test makes (openssl) and
//! htpasswd basic auth (`htpasswd -B`). Killed on drop. Only loopback is ever contacted.
#![allow(dead_code)]

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
    pub token_server: Option<TokenServer>,
}

#[derive(Default)]
pub struct Options {
    pub tls: bool,
    /// (user, password) for htpasswd auth.
    pub user: Option<(String, String)>,
    /// (user, password) for distribution's `auth: token`, with a token server this helper runs.
    pub token: Option<(String, String)>,
}

fn run(cmd: &mut Command) {
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
    run(Command::new("openssl").current_dir(dir).arg("req").args(ec).args([
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]));
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n").unwrap();
    run(Command::new("openssl").current_dir(dir).args([
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]));
    dir.join("ca.crt")
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
            let server = TokenServer::start(dir.path(), user, pass);
            config.push_str(&format!(
                "auth:\n  token:\n    realm: http://{}/token\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
                server.host,
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

const SERVICE: &str = "rbuild-test-registry";
const ISSUER: &str = "rbuild-test-issuer";

/// A token server for distribution's `auth: token` on 127.0.0.1: checks basic auth, then answers a JWT
/// (RS256, signed by openssl with a key whose self-signed certificate the registry trusts, `x5c` header)
/// granting pull and push on every repository in the requested scopes.
pub struct TokenServer {
    pub host: String,
    pub cert: PathBuf,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Token requests seen, as "user scope..." lines (to prove the flow ran).
    pub seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

fn b64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn query_values(query: &str, key: &str) -> Vec<String> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .filter(|(k, _)| *k == key)
        .map(|(_, v)| {
            let mut out = Vec::new();
            let b = v.as_bytes();
            let mut i = 0;
            while i < b.len() {
                if b[i] == b'%' && i + 2 < b.len() {
                    out.push(u8::from_str_radix(&v[i + 1..i + 3], 16).unwrap());
                    i += 3;
                } else {
                    out.push(b[i]);
                    i += 1;
                }
            }
            String::from_utf8(out).unwrap()
        })
        .collect()
}

impl TokenServer {
    fn start(dir: &Path, user: &str, pass: &str) -> TokenServer {
        run(Command::new("openssl").current_dir(dir).args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "token.key",
            "-out",
            "token.crt",
            "-days",
            "2",
            "-subj",
            "/CN=rbuild token issuer",
        ]));
        let der = Command::new("openssl")
            .current_dir(dir)
            .args(["x509", "-in", "token.crt", "-outform", "DER"])
            .output()
            .unwrap()
            .stdout;
        let x5c = {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(der)
        };
        let key = dir.join("token.key");
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let expected = {
            use base64::Engine;
            format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}")))
        };
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (stop2, seen2, user) = (stop.clone(), seen.clone(), user.to_string());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(std::sync::atomic::Ordering::SeqCst) {
                    return;
                }
                let Ok(mut conn) = conn else { continue };
                let mut reader = std::io::BufReader::new(conn.try_clone().unwrap());
                let mut line = String::new();
                use std::io::BufRead;
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let target = line.split_whitespace().nth(1).unwrap_or("").to_string();
                let mut authorization = String::new();
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = h.split_once(':') {
                        if k.eq_ignore_ascii_case("authorization") {
                            authorization = v.trim().to_string();
                        }
                    }
                }
                let query = target.split_once('?').map(|(_, q)| q).unwrap_or("");
                let scopes = query_values(query, "scope");
                seen2.lock().unwrap().push(format!(
                    "{} {}",
                    if authorization.is_empty() { "-" } else { "auth" },
                    scopes.join(" ")
                ));
                let reply = if authorization != expected {
                    "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}".to_string()
                } else {
                    let access: Vec<serde_json::Value> = scopes
                        .iter()
                        .filter_map(|s| s.split(':').nth(1).map(String::from))
                        .map(
                            |name| serde_json::json!({"type": "repository", "name": name, "actions": ["pull", "push"]}),
                        )
                        .collect();
                    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
                    let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "x5c": [x5c]});
                    let claims = serde_json::json!({"iss": ISSUER, "sub": user, "aud": SERVICE, "exp": now + 600,
                        "nbf": now - 60, "iat": now, "jti": format!("{now}-{}", rand_id()), "access": access});
                    let input =
                        format!("{}.{}", b64url(header.to_string().as_bytes()), b64url(claims.to_string().as_bytes()));
                    let mut sign = Command::new("openssl")
                        .args(["dgst", "-sha256", "-sign"])
                        .arg(&key)
                        .stdin(Stdio::piped())
                        .stdout(Stdio::piped())
                        .spawn()
                        .unwrap();
                    sign.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
                    let sig = sign.wait_with_output().unwrap().stdout;
                    let token = format!("{input}.{}", b64url(&sig));
                    let body =
                        serde_json::json!({"token": token, "access_token": token, "expires_in": 600}).to_string();
                    format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
                };
                let _ = conn.write_all(reply.as_bytes());
            }
        });
        TokenServer { host, cert: dir.join("token.crt"), stop, thread: Some(thread), seen }
    }
}

fn rand_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::SeqCst)
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(&self.host);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What a [`FaultProxy`] breaks.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    /// Every blob GET answers its headers and half its body, then the connection drops.
    TruncateBlobGets,
    /// The first PATCH (blob upload) is cut after this many body bytes.
    CutFirstPatchAfter(usize),
}

/// An HTTP proxy on 127.0.0.1 in front of a registry that breaks transfers as told, one request per
/// connection (it forces `Connection: close`). `log` records "METHOD PATH content-range" per request.
pub struct FaultProxy {
    pub host: String,
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn read_head(r: &mut impl std::io::BufRead) -> Option<Vec<String>> {
    let mut lines = Vec::new();
    loop {
        let mut l = String::new();
        if r.read_line(&mut l).ok()? == 0 {
            return None;
        }
        let l = l.trim_end().to_string();
        if l.is_empty() {
            return Some(lines);
        }
        lines.push(l);
    }
}

fn header<'a>(head: &'a [String], name: &str) -> Option<&'a str> {
    head.iter().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn with_close(head: &[String]) -> Vec<u8> {
    let mut out = String::new();
    for l in head.iter().filter(|l| !l.to_ascii_lowercase().starts_with("connection:")) {
        out.push_str(l);
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    out.into_bytes()
}

impl FaultProxy {
    pub fn start(upstream: &str, fault: Fault) -> FaultProxy {
        use std::io::{BufReader, Read};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (stop2, log2, upstream) = (stop.clone(), log.clone(), upstream.to_string());
        let thread = std::thread::spawn(move || {
            let mut patches = 0;
            for conn in listener.incoming() {
                if stop2.load(std::sync::atomic::Ordering::SeqCst) {
                    return;
                }
                let Ok(mut client) = conn else { continue };
                let mut reader = BufReader::new(client.try_clone().unwrap());
                let Some(head) = read_head(&mut reader) else { continue };
                let mut parts = head[0].split_whitespace();
                let (method, path) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
                log2.lock().unwrap().push(format!("{method} {path} {}", header(&head, "content-range").unwrap_or("")));
                let len: usize = header(&head, "content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
                let mut body = vec![0u8; len];
                let mut cut = None;
                if method == "PATCH" {
                    patches += 1;
                    if let (Fault::CutFirstPatchAfter(n), 1) = (fault, patches) {
                        cut = Some(n.min(len));
                    }
                }
                let want = cut.unwrap_or(len);
                if reader.read_exact(&mut body[..want]).is_err() {
                    continue;
                }
                let Ok(mut up) = TcpStream::connect(&upstream) else { continue };
                let _ = up.write_all(&with_close(&head));
                let _ = up.write_all(&body[..want]);
                if cut.is_some() {
                    // The client's link drops mid-body; the registry sees a short body and the client an error.
                    let _ = up.shutdown(std::net::Shutdown::Both);
                    let _ = client.shutdown(std::net::Shutdown::Both);
                    continue;
                }
                let mut response = Vec::new();
                let _ = up.read_to_end(&mut response);
                let truncate =
                    matches!(fault, Fault::TruncateBlobGets) && method == "GET" && path.contains("/blobs/sha256:");
                if truncate {
                    if let Some(end) = response.windows(4).position(|w| w == b"\r\n\r\n") {
                        let body_len = response.len() - end - 4;
                        response.truncate(end + 4 + body_len / 2);
                    }
                }
                let _ = client.write_all(&response);
                let _ = client.shutdown(std::net::Shutdown::Both);
            }
        });
        FaultProxy { host, log, stop, thread: Some(thread) }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = TcpStream::connect(&self.host);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
