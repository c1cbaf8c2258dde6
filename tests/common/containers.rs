//! Helpers for the container tests (`tests/containers*.rs`): a store with busybox imported that removes
//! every container (and then every named network) left when it is dropped (a failed assertion must not leave a detached container running
//! after its store is gone), and short ways to run rbuild against it.

use super::{require_root, wait_until, TestContext};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Output;
use std::time::Duration;

pub struct Store(pub TestContext);

impl std::ops::Deref for Store {
    type Target = TestContext;
    fn deref(&self) -> &TestContext {
        &self.0
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        let ids = rb(&self.0, &["ps", "-a", "-q", "--no-trunc"]);
        for id in text(&ids.stdout).lines() {
            let _ = rb(&self.0, &["rm", "-f", id]);
        }
        // A named network's namespace is a mount under /run: it must not outlive the store.
        let _ = rb(&self.0, &["network", "prune", "-f"]);
    }
}

/// A fresh store with busybox imported (root only).
pub fn busybox() -> Store {
    require_root();
    let t = TestContext::new();
    t.import_busybox();
    Store(t)
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Run rbuild with `args`, whatever the outcome.
pub fn rb(t: &TestContext, args: &[&str]) -> Output {
    t.rbuild().args(args).output().unwrap()
}

/// Run rbuild, asserting success; its stdout.
pub fn ok(t: &TestContext, args: &[&str]) -> String {
    let out = rb(t, args);
    assert!(out.status.success(), "rbuild {args:?} failed ({:?}): {}", out.status, text(&out.stderr));
    text(&out.stdout)
}

/// Run rbuild, asserting it fails with `code` and says `words` on stderr.
pub fn fails(t: &TestContext, args: &[&str], code: i32, words: &str) {
    let out = rb(t, args);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "rbuild {args:?}: {stderr}");
    assert!(stderr.contains(words), "rbuild {args:?}: expected {words:?} in: {stderr}");
}

/// A host port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `GET path` on 127.0.0.1:port; the response body, once the server answers (it may still be starting).
pub fn http_get(port: u16, path: &str) -> String {
    let mut body = String::new();
    wait_until(&format!("an answer on 127.0.0.1:{port}"), || {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else { return false };
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n");
        let mut resp = String::new();
        let _ = s.read_to_string(&mut resp);
        match resp.split_once("\r\n\r\n") {
            Some((head, b)) if head.starts_with("HTTP/1.") && head.contains(" 200 ") => {
                body = b.to_string();
                true
            }
            _ => false,
        }
    });
    body
}

/// The network namespace of a process, as `/proc/PID/ns/net` names it (`net:[INODE]`).
pub fn netns_of(pid: &str) -> Option<String> {
    std::fs::read_link(format!("/proc/{pid}/ns/net")).ok().map(|p| p.to_string_lossy().into_owned())
}

/// Every process that is in the network namespace `ns`.
pub fn processes_in(ns: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|pid| pid.parse::<u32>().is_ok() && netns_of(pid).as_deref() == Some(ns))
        .collect()
}
