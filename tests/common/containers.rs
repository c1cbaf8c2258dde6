//! Helpers for the container tests (`tests/containers*.rs`): a store with busybox imported that removes
//! every container (and then every named network) left when it is dropped (a failed assertion must not leave a detached container running
//! after its store is gone), and short ways to run rbuild against it.

use super::{require_root, TestContext};
use std::process::Output;

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
