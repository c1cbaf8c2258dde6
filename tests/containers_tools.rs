//! Container tools through the real binary on a busybox image: `exec` (the container's namespaces,
//! cgroup, user and exit code), `cp` both ways (paths resolved inside the container's root), `diff`,
//! `export`, `commit`, `top`, `pause`/`unpause`. These need root (namespaces, mounts; CI runs as root)
//! and fail loudly without it.

mod common;

use common::{require_root, TestContext};
use std::process::Output;

/// A store with busybox imported; dropping it removes every container left, so a failed assertion
/// never leaves a detached container running after its store is gone.
struct Store(TestContext);

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
    }
}

fn busybox() -> Store {
    require_root();
    let t = TestContext::new();
    t.import_busybox();
    Store(t)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn rb(t: &TestContext, args: &[&str]) -> Output {
    t.rbuild().args(args).output().unwrap()
}

fn ok(t: &TestContext, args: &[&str]) -> String {
    let out = rb(t, args);
    assert!(out.status.success(), "rbuild {args:?} failed ({:?}): {}", out.status, text(&out.stderr));
    text(&out.stdout)
}

fn fails(t: &TestContext, args: &[&str], code: i32, words: &str) {
    let out = rb(t, args);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "rbuild {args:?}: {stderr}");
    assert!(stderr.contains(words), "rbuild {args:?}: expected {words:?} in: {stderr}");
}

#[test]
fn exec_enters_the_containers_pid_namespace_and_files() {
    let t = busybox();
    ok(&t, &["run", "-d", "--name", "c1", "busybox", "sh", "-c", "echo inside > /marker; exec sleep 1000"]);
    common::wait_until("the marker is written", || rb(&t, &["exec", "c1", "cat", "/marker"]).status.success());
    assert_eq!(ok(&t, &["exec", "c1", "cat", "/marker"]), "inside\n");
    // pid 1 is the container's command, and exec's own process is in the same pid namespace.
    let ps = ok(&t, &["exec", "c1", "ps", "-o", "pid,args"]);
    let pid1 = ps.lines().find(|l| l.split_whitespace().next() == Some("1")).unwrap_or_default();
    assert!(pid1.contains("sleep 1000"), "pid 1 is not the container's command:\n{ps}");
    // The uts namespace too: the hostname is the container's short id.
    let id = ok(&t, &["ps", "-q", "--no-trunc", "--filter", "name=c1"]);
    assert_eq!(ok(&t, &["exec", "c1", "hostname"]).trim(), &id.trim()[..12]);
}

#[test]
fn exec_passes_env_workdir_user_stdin_and_the_exit_code() {
    let t = busybox();
    ok(&t, &["run", "-d", "--name", "c1", "busybox", "sleep", "1000"]);
    let out = ok(&t, &["exec", "-e", "A=B", "-w", "/tmp", "-u", "nobody", "c1", "sh", "-c", "echo $A; pwd; id -u"]);
    assert_eq!(out, "B\n/tmp\n65534\n");
    let out = t.rbuild().args(["exec", "-i", "c1", "cat"]).write_stdin("from stdin\n").output().unwrap();
    assert_eq!(text(&out.stdout), "from stdin\n");
    assert_eq!(rb(&t, &["exec", "c1", "sh", "-c", "exit 7"]).status.code(), Some(7));
    fails(&t, &["exec", "c1", "no-such-cmd"], 127, "executable file not found");
}

#[test]
fn exec_lands_in_the_containers_cgroup() {
    let t = busybox();
    ok(&t, &["run", "-d", "--name", "c1", "busybox", "sleep", "1000"]);
    let mine = ok(&t, &["exec", "c1", "cat", "/proc/self/cgroup"]);
    let theirs = ok(&t, &["exec", "c1", "cat", "/proc/1/cgroup"]);
    assert_eq!(mine, theirs, "exec's process is not in the container's cgroups");
    assert!(theirs.contains("rbuild-"), "the container's cgroup is rbuild's own sandbox cgroup:\n{theirs}");
}

#[test]
fn exec_into_a_stopped_container_is_refused_as_docker_does() {
    let t = busybox();
    ok(&t, &["create", "--name", "c1", "busybox", "sleep", "1000"]);
    fails(&t, &["exec", "c1", "true"], 1, "is not running");
    fails(&t, &["exec", "nope", "true"], 1, "No such container: nope");
}
