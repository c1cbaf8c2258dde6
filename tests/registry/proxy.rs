//! A fault-injecting HTTP proxy on 127.0.0.1 in front of a registry.

use std::io::Write;
use std::net::{TcpListener, TcpStream};

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
