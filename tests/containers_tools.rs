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

/// A container with `/d/f`, an absolute and a relative symlink pointing out of it, and a host file.
fn with_links(t: &Store) {
    ok(
        t,
        &[
            "run",
            "-d",
            "--name",
            "c1",
            "busybox",
            "sh",
            "-c",
            "mkdir -p /d; echo secret > /d/f; ln -s /etc/hostname /d/abs; ln -s ../../../../../etc /d/rel; \
             touch /ready; exec sleep 1000",
        ],
    );
    common::wait_until("the container's files exist", || {
        rb(t, &["exec", "c1", "test", "-e", "/ready"]).status.success()
    });
}

#[test]
fn cp_out_of_a_container_resolves_symlinks_and_dotdot_inside_it() {
    let t = busybox();
    with_links(&t);
    let out = t.path("out");
    ok(&t, &["cp", "c1:/d", out.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(out.join("f")).unwrap(), "secret\n");
    // Links are copied as links, not followed.
    assert_eq!(std::fs::read_link(out.join("abs")).unwrap(), std::path::Path::new("/etc/hostname"));
    // `..` stops at the container's root, and an escaping relative link lands inside it: the container's
    // passwd (busybox's), never the host's.
    let container_passwd = ok(&t, &["exec", "c1", "cat", "/etc/passwd"]);
    for src in ["c1:/../../../../etc/passwd", "c1:/d/rel/passwd", "c1:/d/abs/../passwd"] {
        let dest = t.path("pw");
        ok(&t, &["cp", src, dest.to_str().unwrap()]);
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), container_passwd, "{src}");
        std::fs::remove_file(&dest).unwrap();
    }
    // `-`: a tar on stdout, rooted at the copied name.
    let tar = rb(&t, &["cp", "c1:/d", "-"]);
    let entries = common::read_tar(&tar.stdout);
    assert!(entries.contains_key("d/f"), "{:?}", entries.keys());
    fails(
        &t,
        &["cp", "c1:/no/such", t.path("x").to_str().unwrap()],
        1,
        "Could not find the file /no/such in container c1",
    );
}

#[test]
fn cp_into_a_container_never_writes_to_the_host_through_its_links() {
    let t = busybox();
    with_links(&t);
    let marker = format!("rbuild-cp-test-{}", std::process::id());
    let src = t.path(&marker);
    std::fs::write(&src, "from host\n").unwrap();
    ok(&t, &["cp", src.to_str().unwrap(), "c1:/d/rel/"]);
    ok(&t, &["cp", src.to_str().unwrap(), "c1:/../../../tmp/dotdot"]);
    assert_eq!(ok(&t, &["exec", "c1", "cat", &format!("/etc/{marker}")]), "from host\n");
    assert_eq!(ok(&t, &["exec", "c1", "cat", "/tmp/dotdot"]), "from host\n");
    assert!(!std::path::Path::new("/etc").join(&marker).exists(), "cp wrote through the link to the host");
    // An absolute link at the destination is followed inside the container (as docker does), never to
    // the host's file of that name.
    let host_hostname = std::fs::read_to_string("/etc/hostname").ok();
    ok(&t, &["cp", src.to_str().unwrap(), "c1:/d/abs"]);
    assert_eq!(ok(&t, &["exec", "c1", "cat", "/etc/hostname"]), "from host\n");
    assert_eq!(std::fs::read_to_string("/etc/hostname").ok(), host_hostname);
    // `-`: a tar on stdin extracted into a directory.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(3);
    h.set_mode(0o644);
    b.append_data(&mut h, "t.txt", &b"tar"[..]).unwrap();
    let data = b.into_inner().unwrap();
    t.rbuild().args(["cp", "-", "c1:/tmp"]).write_stdin(data).assert().success();
    assert_eq!(ok(&t, &["exec", "c1", "cat", "/tmp/t.txt"]), "tar");
}

#[test]
fn cp_works_on_a_stopped_container_and_writes_into_its_layer() {
    let t = busybox();
    with_links(&t);
    ok(&t, &["stop", "-t", "0", "c1"]);
    let out = t.path("f");
    ok(&t, &["cp", "c1:/d/f", out.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "secret\n");
    std::fs::write(&out, "written while stopped\n").unwrap();
    ok(&t, &["cp", out.to_str().unwrap(), "c1:/d/rel/stopped"]);
    ok(&t, &["start", "c1"]);
    common::wait_until("restarted", || rb(&t, &["exec", "c1", "true"]).status.success());
    assert_eq!(ok(&t, &["exec", "c1", "cat", "/etc/stopped"]), "written while stopped\n");
    // Nothing of the helper's mount stays.
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains("rbuild-view-"), "a view mount was left:\n{mounts}");
}
