//! A token server for distribution's `auth: token`, on 127.0.0.1.

use super::run;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub const SERVICE: &str = "rbuild-test-registry";
pub const ISSUER: &str = "rbuild-test-issuer";
/// The OAuth2 refresh token (docker's `identitytoken`) the server accepts in a `POST` refresh-token grant.
pub const REFRESH_TOKEN: &str = "rbuild-test-refresh-token";

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
    pub fn start(dir: &Path, user: &str, pass: &str) -> TokenServer {
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
                let mut length = 0usize;
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = h.split_once(':') {
                        if k.eq_ignore_ascii_case("authorization") {
                            authorization = v.trim().to_string();
                        } else if k.eq_ignore_ascii_case("content-length") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                    }
                }
                // GET: docker's token protocol, basic auth. POST: the OAuth2 form (a refresh-token grant),
                // whose scopes are one space-separated value.
                let form = if line.starts_with("POST") {
                    let mut body = vec![0u8; length];
                    use std::io::Read;
                    let _ = reader.read_exact(&mut body);
                    Some(String::from_utf8_lossy(&body).into_owned())
                } else {
                    None
                };
                let query = match &form {
                    Some(f) => f.as_str(),
                    None => target.split_once('?').map(|(_, q)| q).unwrap_or(""),
                };
                let mut scopes = query_values(query, "scope");
                if form.is_some() {
                    scopes = scopes.iter().flat_map(|s| s.split(' ').map(String::from).collect::<Vec<_>>()).collect();
                }
                let granted = match &form {
                    Some(_) => {
                        query_values(query, "grant_type") == ["refresh_token"]
                            && query_values(query, "refresh_token") == [REFRESH_TOKEN]
                    }
                    None => authorization == expected,
                };
                seen2.lock().unwrap().push(format!(
                    "{} {}",
                    match (&form, authorization.is_empty()) {
                        (Some(_), _) => "refresh",
                        (None, true) => "-",
                        (None, false) => "auth",
                    },
                    scopes.join(" ")
                ));
                let reply = if !granted {
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
