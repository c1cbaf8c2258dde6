//! The seed's walk-through on a real Debian 12 (issue 12's first two checks), end to end through the real
//! binary: a Debian base made offline from Debian's packages (`scripts/debian-rootfs.sh`, cached), the
//! apache example built with `apt-get install` in RUN, run detached with a published port, looked at with
//! `ps`, `logs`, `exec`, stopped, started, removed leaving nothing behind; then the commit workflow
//! (`apt-get install` and a deletion in a container, `commit --change`, `run --rm` of the new image,
//! `umoci unpack` seeing both). One store and one image build serve both, so apt runs twice in all.
//! Needs root (namespaces, mounts, pasta; CI runs as root) and Debian's package mirror.

mod common;

use common::containers::*;
use common::{pids_with, require_root, TestContext};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

/// A store holding `debian:12`, imported from the cached mmdebstrap tarball.
fn debian() -> Store {
    require_root();
    let out = std::process::Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/debian-rootfs.sh"))
        .output()
        .expect("running scripts/debian-rootfs.sh");
    assert!(out.status.success(), "scripts/debian-rootfs.sh (needs mmdebstrap): {}", text(&out.stderr));
    let tar = text(&out.stdout).trim().to_string();
    let t = Store(TestContext::new());
    ok(
        &t,
        &[
            "import",
            &tar,
            "debian:12",
            "--change",
            "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "--change",
            "CMD [\"bash\"]",
        ],
    );
    t
}

fn inspect(t: &TestContext, name: &str) -> Value {
    serde_json::from_str::<Value>(&ok(t, &["inspect", name])).unwrap()[0].clone()
}

fn walk_through(t: &TestContext) {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/apache");
    let out = rb(t, &["build", "-q", "-t", "apache:1", example.to_str().unwrap()]);
    assert!(out.status.success(), "building examples/apache: {}", text(&out.stderr));

    let port = free_port();
    let publish = format!("{port}:8080");
    let id = ok(t, &["run", "-d", "--name", "web", "-p", &publish, "apache:1"]).trim().to_string();
    assert!(http_get(port, "/").contains("Hello from rbuild's apache example"));
    let ps = ok(t, &["ps"]);
    let line = ps.lines().find(|l| l.ends_with(" web")).unwrap_or_else(|| panic!("web not in ps:\n{ps}"));
    assert!(line.contains("Up ") && line.contains(&format!("0.0.0.0:{port}->8080/tcp")), "{ps}");
    // apache's own output (its error log is the container's stderr, its access log stdout).
    let deadline = Instant::now() + Duration::from_secs(10);
    let logs = loop {
        let out = rb(t, &["logs", "web"]);
        let all = text(&out.stdout) + &text(&out.stderr);
        if (all.contains("resuming normal operations") && all.contains("\"GET / HTTP/1.0\" 200"))
            || Instant::now() > deadline
        {
            break all;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(logs.contains("AH00094: Command line: 'apache2 -D FOREGROUND'"), "{logs}");
    assert!(logs.contains("\"GET / HTTP/1.0\" 200"), "the access log line is missing: {logs}");
    assert!(ok(t, &["exec", "web", "cat", "/etc/apache2/ports.conf"]).contains("Listen 8080"));

    // apache ends on SIGTERM: well within the 10 s stop timeout, exit code 0.
    let started = Instant::now();
    ok(t, &["stop", "web"]);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(10), "stop took {took:?}, the whole timeout");
    let status = ok(t, &["ps", "-a", "--filter", "name=web", "--format", "{{.Status}}"]);
    assert!(status.starts_with("Exited (0) "), "{status}");

    ok(t, &["start", "web"]);
    assert!(http_get(port, "/").contains("Hello from rbuild's apache example"));
    let pid = inspect(t, "web")["State"]["Pid"].to_string();
    let ns = netns_of(&pid).expect("the container's pid 1 runs");
    assert_ne!(netns_of("self"), Some(ns.clone()), "the container has a network namespace of its own");
    assert!(!pids_with(&format!("HOSTNAME={}", &id[..12])).is_empty());

    ok(t, &["rm", "-f", "web"]);
    let root = t.root().to_string_lossy().into_owned();
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mountinfo.contains(&root), "mounts under the store remain:\n{mountinfo}");
    assert_eq!(pids_with(&format!("HOSTNAME={}", &id[..12])), Vec::<i32>::new(), "processes of web remain");
    assert_eq!(processes_in(&ns), Vec::<String>::new(), "processes (pasta?) still hold web's namespace");
    assert!(std::net::TcpListener::bind(("0.0.0.0", port)).is_ok(), "port {port} still published");
    assert!(!t.root().join("containers").join(&id).exists());
}

fn commit_workflow(t: &TestContext) {
    let script = "apt-get update -qq && apt-get install -y -qq hello >/dev/null && rm /etc/issue.net && echo x > /f";
    // The default network (its own namespace, pasta) reaches the mirror.
    ok(t, &["run", "--name", "c1", "debian:12", "sh", "-c", script]);
    ok(t, &["commit", "--change", "CMD [\"cat\",\"/f\"]", "c1", "mine:0.1"]);
    assert_eq!(ok(t, &["run", "--rm", "mine:0.1"]), "x\n");
    let bundle = t.path("bundle");
    let out = std::process::Command::new("umoci")
        .arg("unpack")
        .arg("--image")
        .arg(format!("{}/oci:mine:0.1", t.root().display()))
        .arg(&bundle)
        .output()
        .expect("umoci is required: apt-get install -y umoci");
    assert!(out.status.success(), "umoci unpack: {}", text(&out.stderr));
    let rootfs = bundle.join("rootfs");
    assert!(rootfs.join("usr/bin/hello").is_file(), "the installed package is missing");
    assert!(rootfs.join("var/lib/dpkg/info/hello.list").is_file());
    assert!(!rootfs.join("etc/issue.net").exists(), "the deletion was not committed");
    assert!(rootfs.join("etc/issue").is_file(), "the base's other files are there");
    assert_eq!(std::fs::read_to_string(rootfs.join("f")).unwrap(), "x\n");
}

#[test]
fn seed_walk_through_of_the_apache_example_and_the_commit_workflow_on_debian() {
    let t = debian();
    walk_through(&t);
    commit_workflow(&t);
}
