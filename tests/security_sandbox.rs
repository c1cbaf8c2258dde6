//! Regression tests for the sandbox defects of issue 7 (docs/security.md, "### Sandbox"): block devices
//! (1), seccomp and the keyring (3), CAP_NET_RAW on the host network (4), processes outliving rbuild (8)
//! and the RUN limits (12). Each drives the real binary as an attacker would: a Dockerfile RUN or
//! `rbuild run` on a busybox image, with a tiny static C probe (built here with `gcc -static`) for exact
//! system calls busybox cannot make. These need root (CI runs as root) and fail loudly without it.

mod common;

use common::{pids_with, text, TestContext};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Each subcommand makes one system call and prints `ok` or `errno N (text)`; exit 0 only on `ok`.
const PROBE_C: &str = r#"
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/if_ether.h>
#include <netinet/in.h>

static int report(long r) {
    if (r < 0) { printf("errno %d (%s)\n", errno, strerror(errno)); return 1; }
    printf("ok\n");
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    const char *c = argv[1];
    if (!strcmp(c, "unshare-user")) return report(unshare(CLONE_NEWUSER));
    if (!strcmp(c, "af-packet")) return report(socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL)));
    if (!strcmp(c, "raw-socket")) return report(socket(AF_INET, SOCK_RAW, IPPROTO_ICMP));
    if (!strcmp(c, "keyctl-session")) return report(syscall(SYS_keyctl, 0 /* GET_KEYRING_ID */, -3 /* @s */, 0));
    if (!strcmp(c, "keyctl-read") && argc > 2) {
        char buf[256];
        long n = syscall(SYS_keyctl, 11 /* KEYCTL_READ */, atol(argv[2]), buf, sizeof buf - 1);
        if (n >= 0) { buf[n < 255 ? n : 255] = 0; printf("read: %s\n", buf); }
        return report(n);
    }
    if (!strcmp(c, "alloc") && argc > 2) {
        size_t mb = atol(argv[2]);
        /* volatile: the compiler may not drop memory nobody reads. */
        volatile char *p = malloc(mb << 20);
        if (!p) return report(-1);
        for (size_t i = 0; i < (mb << 20); i += 4096) p[i] = 1;
        return report(0);
    }
    return 2;
}
"#;

/// The probe, compiled once per test binary.
fn probe() -> PathBuf {
    static PROBE: OnceLock<PathBuf> = OnceLock::new();
    PROBE
        .get_or_init(|| {
            let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sandbox-probe");
            std::fs::create_dir_all(&dir).unwrap();
            let src = dir.join(format!("probe-{}.c", std::process::id()));
            let bin = dir.join(format!("probe-{}", std::process::id()));
            std::fs::write(&src, PROBE_C).unwrap();
            let out =
                std::process::Command::new("gcc").arg("-static").arg("-O1").arg("-o").arg(&bin).arg(&src).output();
            let out = out.expect("running gcc: install gcc and libc6-dev (scripts/deps.sh)");
            assert!(out.status.success(), "gcc -static failed (libc6-dev missing?): {}", text(&out.stderr));
            bin
        })
        .clone()
}

/// A store with busybox and a context holding the probe at `probe`.
fn setup() -> TestContext {
    let t = TestContext::busybox();
    std::fs::copy(probe(), t.ctx().join("probe")).unwrap();
    t
}

/// `rbuild build` of `dockerfile` with `extra` flags (not asserting success).
fn build(t: &TestContext, dockerfile: &str, extra: &[&str]) -> Output {
    t.write("Dockerfile", dockerfile);
    t.rbuild().args(["build", "--no-cache", "--progress", "plain"]).args(extra).arg(t.ctx()).output().unwrap()
}

/// An image `probe:latest` = busybox + the probe at /probe.
fn probe_image(t: &TestContext) {
    t.write("Dockerfile", "FROM busybox\nCOPY probe /probe\n");
    t.build("probe:latest", &[]);
}

fn run(t: &TestContext, args: &[&str]) -> Output {
    t.rbuild().args(["run", "--rm"]).args(args).output().unwrap()
}

fn both(out: &Output) -> String {
    format!("{}{}", text(&out.stdout), text(&out.stderr))
}

/// The capability masks of `CapEff` and `CapBnd` in a /proc/self/status dump (a build tags each line of
/// RUN output with its step, `[stage-0 2/2] CapEff: ...`; `rbuild run` does not).
fn caps(status: &str, field: &str) -> u64 {
    let untagged = |l: &'_ str| -> String {
        l.strip_prefix('[').and_then(|r| r.split_once("] ")).map_or(l, |(_, rest)| rest).to_string()
    };
    let line =
        status.lines().map(untagged).find(|l| l.starts_with(field)).unwrap_or_else(|| panic!("no {field} in {status}"));
    u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
}

const CAP_NET_RAW: u64 = 1 << 13;
const CAP_MKNOD: u64 = 1 << 27;

#[test]
fn defect1_block_device_access_from_run_is_refused() {
    let t = setup();
    // The host's first loop device (on a normal host `b 8 0` is the whole disk). Only read: the old code
    // let the same node write into the device's backing file.
    let out = build(&t, "FROM busybox\nRUN mknod /tmp/d b 7 0 && dd if=/tmp/d of=/dev/null count=1\n", &[]);
    assert!(!out.status.success(), "a block device was created and opened from RUN:\n{}", both(&out));
    assert!(both(&out).contains("mknod: /tmp/d: Operation not permitted"), "{}", both(&out));
    let out = build(&t, "FROM busybox\nRUN grep -E '^Cap(Eff|Bnd)' /proc/self/status\n", &[]);
    assert!(out.status.success(), "{}", both(&out));
    for field in ["CapEff", "CapBnd"] {
        assert_eq!(caps(&both(&out), field) & CAP_MKNOD, 0, "CAP_MKNOD kept in {field}: {}", both(&out));
    }
}

#[test]
fn defect1_block_device_access_from_rbuild_run_is_refused() {
    let t = setup();
    let out = run(&t, &["busybox", "sh", "-c", "mknod /tmp/d b 7 0 && dd if=/tmp/d of=/dev/null count=1"]);
    assert!(!out.status.success(), "a block device was opened from rbuild run:\n{}", both(&out));
    assert!(both(&out).contains("Operation not permitted"), "{}", both(&out));
}

#[test]
fn defect1_a_device_node_shipped_in_an_image_cannot_be_opened() {
    let t = setup();
    // An image whose layer holds `b 7 0` (made on the host side, where mknod is allowed).
    let dir = tempfile::tempdir().unwrap();
    let node = dir.path().join("blk");
    nix::sys::stat::mknod(
        &node,
        nix::sys::stat::SFlag::S_IFBLK,
        nix::sys::stat::Mode::from_bits_truncate(0o666),
        libc::makedev(7, 0),
    )
    .unwrap();
    let tar = dir.path().join("image.tar");
    std::fs::copy(common::busybox_rootfs(), &tar).unwrap();
    let status =
        std::process::Command::new("tar").arg("-rf").arg(&tar).arg("-C").arg(dir.path()).arg("blk").status().unwrap();
    assert!(status.success());
    t.rbuild().args(["import"]).arg(&tar).arg("devimg:latest").assert().success();
    let out =
        run(&t, &["devimg", "sh", "-c", "test -b /blk && echo is-a-block-device; dd if=/blk of=/dev/null count=1"]);
    assert!(text(&out.stdout).contains("is-a-block-device"), "the image lost its device node: {}", both(&out));
    assert!(!out.status.success(), "a block device node from an image was opened:\n{}", both(&out));
    assert!(both(&out).contains("Permission denied"), "nodev must refuse it: {}", both(&out));
    // The same from a RUN step (copy and overlay backends both mount the rootfs nodev).
    for snapshotter in ["overlay", "copy"] {
        t.write("Dockerfile", "FROM devimg\nRUN dd if=/blk of=/dev/null count=1\n");
        let out = t
            .rbuild()
            .env("RBUILD_SNAPSHOTTER", snapshotter)
            .args(["build", "--no-cache"])
            .arg(t.ctx())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{snapshotter}: the device node was opened from RUN:\n{}", both(&out));
        assert!(both(&out).contains("Permission denied"), "{snapshotter}: {}", both(&out));
    }
}

#[test]
fn defect3_unshare_user_namespace_in_run_is_refused_by_seccomp() {
    let t = setup();
    let df = "FROM busybox\nCOPY probe /probe\nRUN /probe unshare-user\n";
    let out = build(&t, df, &[]);
    assert!(!out.status.success(), "unshare(CLONE_NEWUSER) worked in RUN:\n{}", both(&out));
    assert!(both(&out).contains("errno 1 (Operation not permitted)"), "{}", both(&out));
    // busybox's unshare -U as the issue reported it.
    let out = build(&t, "FROM busybox\nRUN unshare -U true\n", &[]);
    assert!(!out.status.success(), "unshare -U worked in RUN:\n{}", both(&out));
    // The profile is what blocks it: unconfined lets the same call through.
    let out = build(&t, df, &["--security-opt", "seccomp=unconfined"]);
    assert!(out.status.success(), "seccomp=unconfined should allow unshare(CLONE_NEWUSER):\n{}", both(&out));
}

#[test]
fn the_compiled_seccomp_program_is_cached_in_the_store_and_a_damaged_one_is_never_loaded() {
    let t = setup();
    probe_image(&t);
    let cache = t.root().join("cache").join("seccomp");
    let _ = std::fs::remove_dir_all(&cache);
    // The first run compiles the default profile and keeps the program; the filter is in force.
    let out = run(&t, &["probe", "/probe", "keyctl-session"]);
    assert!(both(&out).contains("errno 1 (Operation not permitted)"), "{}", both(&out));
    let programs: Vec<_> = std::fs::read_dir(&cache).expect("no cache/seccomp after a run").flatten().collect();
    assert_eq!(programs.len(), 1, "one program for the default profile: {programs:?}");
    let path = programs[0].path();
    let program = std::fs::read(&path).unwrap();
    assert!(!program.is_empty() && program.len() % 8 == 0, "not whole BPF instructions: {} bytes", program.len());
    // A later run loads the cached program: the same filter, nothing compiled again.
    let out = run(&t, &["probe", "/probe", "keyctl-session"]);
    assert!(both(&out).contains("errno 1 (Operation not permitted)"), "{}", both(&out));
    assert_eq!(std::fs::read(&path).unwrap(), program);
    // A torn or damaged entry is not taken for a program: it is compiled again and the filter holds.
    std::fs::write(&path, &program[..program.len() - 3]).unwrap();
    let out = run(&t, &["probe", "/probe", "keyctl-session"]);
    assert!(both(&out).contains("errno 1 (Operation not permitted)"), "{}", both(&out));
    assert_eq!(std::fs::read(&path).unwrap(), program, "the damaged entry was not replaced");
}

#[test]
fn defect3_keyctl_and_af_packet_in_run_fail() {
    let t = setup();
    let out = build(&t, "FROM busybox\nCOPY probe /probe\nRUN /probe keyctl-session\n", &[]);
    assert!(!out.status.success(), "keyctl worked in RUN:\n{}", both(&out));
    assert!(both(&out).contains("errno 1 (Operation not permitted)"), "{}", both(&out));
    let out = build(&t, "FROM busybox\nCOPY probe /probe\nRUN /probe af-packet\n", &[]);
    assert!(!out.status.success(), "an AF_PACKET socket opened in RUN:\n{}", both(&out));
    assert!(both(&out).contains("errno 1 (Operation not permitted)"), "{}", both(&out));
}

#[test]
fn defect3_a_host_session_keyring_secret_is_not_readable_even_unconfined() {
    let t = setup();
    probe_image(&t);
    // A secret in this thread's session keyring (the one rbuild, spawned from here, inherits).
    let (kind, desc, payload) = (c"user", c"rbuild-defect3", b"host-secret-42");
    // SAFETY: add_key(2) reads the three NUL-terminated strings and the payload, all alive for the call.
    let id = unsafe {
        libc::syscall(
            libc::SYS_add_key,
            kind.as_ptr(),
            desc.as_ptr(),
            payload.as_ptr(),
            payload.len(),
            -3i32, // KEY_SPEC_SESSION_KEYRING
        )
    };
    assert!(id > 0, "add_key failed: {}", std::io::Error::last_os_error());
    let out = run(&t, &["--security-opt", "seccomp=unconfined", "probe", "/probe", "keyctl-read", &id.to_string()]);
    assert!(!text(&out.stdout).contains("host-secret-42"), "the host's secret was read: {}", both(&out));
    assert!(!out.status.success(), "{}", both(&out));
    // With the default profile keyctl itself is refused.
    let out = run(&t, &["probe", "/probe", "keyctl-read", &id.to_string()]);
    assert!(both(&out).contains("errno 1 (Operation not permitted)"), "{}", both(&out));
}

#[test]
fn defect3_a_bad_seccomp_profile_is_a_clear_usage_error() {
    let t = setup();
    let bad = t.dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "ALLOW"}]}"#,
    )
    .unwrap();
    t.write("Dockerfile", "FROM busybox\nRUN true\n");
    let out = t
        .rbuild()
        .arg("build")
        .arg("--security-opt")
        .arg(format!("seccomp={}", bad.display()))
        .arg(t.ctx())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", both(&out));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("seccomp profile {}", bad.display())) && err.contains("unknown variant `ALLOW`"),
        "{err}"
    );
    let out = run(&t, &["--security-opt", "seccomp=/no/such/profile.json", "busybox", "true"]);
    assert!(
        !out.status.success() && text(&out.stderr).contains("/no/such/profile.json: cannot read it"),
        "{}",
        both(&out)
    );
    // A valid custom profile is applied: this one refuses mkdir with EACCES.
    let custom = t.dir.path().join("custom.json");
    std::fs::write(
        &custom,
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":13}]}"#,
    )
    .unwrap();
    let out = run(&t, &["--security-opt", &format!("seccomp={}", custom.display()), "busybox", "mkdir", "/x"]);
    assert!(!out.status.success() && text(&out.stderr).contains("Permission denied"), "{}", both(&out));
}

#[test]
fn defect4_net_raw_is_dropped_on_the_host_network() {
    let t = setup();
    probe_image(&t);
    let out = build(
        &t,
        "FROM busybox\nCOPY probe /probe\nRUN grep -E '^Cap(Eff|Bnd)' /proc/self/status; /probe raw-socket\n",
        &[],
    );
    assert!(!out.status.success(), "a raw socket opened in RUN on the host network:\n{}", both(&out));
    assert!(both(&out).contains("errno 1 (Operation not permitted)"), "{}", both(&out));
    for field in ["CapEff", "CapBnd"] {
        assert_eq!(caps(&both(&out), field) & CAP_NET_RAW, 0, "NET_RAW in {field}: {}", both(&out));
    }
    let out = run(&t, &["--network", "host", "probe", "/probe", "af-packet"]);
    assert!(!out.status.success(), "AF_PACKET opened by rbuild run on the host network: {}", both(&out));
    // In its own empty network namespace it keeps NET_RAW, as Docker does (ping on lo works).
    let out = run(&t, &["--network", "none", "probe", "/probe", "raw-socket"]);
    assert!(out.status.success(), "{}", both(&out));
}

#[test]
fn defect8_no_sandbox_process_outlives_rbuild_after_sigterm() {
    let t = setup();
    let marker = format!("RBUILD_DEFECT8={}", std::process::id());
    t.write(
        "Dockerfile",
        &format!("FROM busybox\nENV {marker}\nRUN for i in $(seq 2000); do sleep 1000 & done; echo forked >&2; wait\n"),
    );
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_rbuild"))
        .env("RBUILD_ROOT", t.root())
        .args(["build", "--no-cache", "--progress", "plain"])
        .arg(t.ctx())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = String::new();
    loop {
        let line = lines.next().expect("the build ended before the step forked").unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.trim_end().ends_with("forked") {
            break;
        }
    }
    let before = pids_with(&marker).len();
    assert!(before > 1000, "only {before} sandbox processes running: {seen}");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = child.wait().unwrap();
    // The moment rbuild is gone, so is every process of its sandbox: no waiting here.
    let left = pids_with(&marker);
    for pid in &left {
        // Do not leave the old code's leftovers running (they also hold our pipes open).
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(*pid), nix::sys::signal::Signal::SIGKILL);
    }
    assert!(left.is_empty(), "{} of {before} sandbox processes alive after rbuild exited ({status:?})", left.len());
    let rest: String = lines.map_while(Result::ok).collect::<Vec<_>>().join("\n");
    assert!(rest.contains("interrupted by SIGTERM"), "{rest}");
    assert!(!status.success(), "{rest}");
}

/// No `rbuild-<pid>-*` cgroup of the rbuild process `pid` is left in any hierarchy.
fn assert_no_cgroup_left(pid: u32) {
    let prefix = format!("rbuild-{pid}-");
    for entry in walkdir::WalkDir::new("/sys/fs/cgroup").max_depth(4).into_iter().flatten() {
        let name = entry.file_name().to_string_lossy();
        assert!(!name.starts_with(&prefix), "cgroup {} left behind", entry.path().display());
    }
}

#[test]
fn defect12_a_fork_bomb_in_run_is_stopped_by_the_default_pids_limit() {
    let t = setup();
    let marker = format!("RBUILD_DEFECT12={}", std::process::id());
    t.write(
        "Dockerfile",
        &format!("FROM busybox\nENV {marker}\nRUN for i in $(seq 20000); do sleep 30 & done; echo done\n"),
    );
    let started = Instant::now();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_rbuild"))
        .env("RBUILD_ROOT", t.root())
        .args(["build", "--no-cache", "--progress", "plain"])
        .arg(t.ctx())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    let took = started.elapsed();
    assert!(!out.status.success(), "the fork bomb completed: {}", both(&out));
    assert!(both(&out).contains("can't fork"), "not stopped by fork errors: {}", both(&out));
    // 20 000 sleeps of 30 s would take the whole 30 s; the limit ends it long before.
    assert!(took < Duration::from_secs(25), "the fork bomb ran for {took:?}");
    assert_eq!(pids_with(&marker), Vec::<i32>::new(), "processes of the fork bomb are left");
    assert_no_cgroup_left(pid);
}

#[test]
fn defect12_an_explicit_pids_limit_applies_to_run_and_rbuild_run() {
    let t = setup();
    let df = "FROM busybox\nRUN for i in $(seq 40); do sleep 5 & done; echo forked-all\n";
    let out = build(&t, df, &["--pids-limit", "20"]);
    assert!(!out.status.success() && both(&out).contains("can't fork"), "{}", both(&out));
    let out = run(
        &t,
        &["--pids-limit", "20", "busybox", "sh", "-c", "for i in $(seq 40); do sleep 5 & done; echo forked-all"],
    );
    assert!(!text(&out.stdout).contains("forked-all") || !out.status.success(), "{}", both(&out));
    assert!(both(&out).contains("can't fork"), "{}", both(&out));
    // The command is in its cgroup from its very first instruction (pid 1 is moved there while the
    // sandbox is made, and the command waits for that): its first process is in rbuild's cgroup (v1's
    // pids hierarchy or v2's unified one).
    let out = run(&t, &["--pids-limit", "20", "busybox", "cat", "/proc/self/cgroup"]);
    assert!(text(&out.stdout).lines().any(|l| l.contains("/rbuild-")), "{}", both(&out));
}

#[test]
fn defect12_memory_limit_oom_kills_a_step_with_a_clear_message() {
    let t = setup();
    let out = build(&t, "FROM busybox\nCOPY probe /probe\nRUN /probe alloc 200\n", &["--memory", "32m"]);
    assert!(!out.status.success(), "200 MB allocated under --memory 32m: {}", both(&out));
    let all = both(&out);
    assert!(all.contains("exit code: 137"), "{all}");
    assert!(all.contains("OOM killer: the memory limit of 32m was reached; raise --memory"), "{all}");
    // Without the limit the same step passes.
    let out = build(&t, "FROM busybox\nCOPY probe /probe\nRUN /probe alloc 200\n", &[]);
    assert!(out.status.success(), "{}", both(&out));
    probe_image(&t);
    let out = run(&t, &["--memory", "32m", "probe", "/probe", "alloc", "200"]);
    assert_eq!(out.status.code(), Some(137), "{}", both(&out));
    assert!(text(&out.stderr).contains("OOM killer"), "{}", both(&out));
}

#[test]
fn rbuild_run_leaves_no_cgroup_behind() {
    let t = setup();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_rbuild"))
        .env("RBUILD_ROOT", t.root())
        .args(["run", "--rm", "--memory", "64m", "busybox", "sh", "-c", "sleep 100 & echo started"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    assert!(child.wait().unwrap().success(), "{out}");
    assert_no_cgroup_left(child.id());
}
