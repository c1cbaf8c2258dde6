//! End-to-end isolation and semantics of the sandbox, driven through the real `rbuild run` on a busybox
//! image: pid namespace, refused mounts, read-only /sys, invisible host paths, `--network none`, USER /
//! WORKDIR / ENV / HOME / PATH like Docker, exit codes, binds, kept containers, and a SIGTERM that must
//! leave no process and no mount behind. These need root (CI runs as root) and fail loudly without it.

mod common;

use common::{busybox_rootfs, pids_with, text, wait_until, TestContext};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

/// `rbuild run --rm ARGS...`.
fn run(t: &TestContext, args: &[&str]) -> Output {
    t.rbuild().arg("run").arg("--rm").args(args).output().unwrap()
}

/// `rbuild run --rm ARGS...`, asserting success; stdout.
fn run_ok(t: &TestContext, args: &[&str]) -> String {
    let out = run(t, args);
    assert!(out.status.success(), "rbuild run {args:?} failed: {:?}\n{}", out.status, text(&out.stderr));
    text(&out.stdout)
}

#[test]
fn the_command_is_pid_1_of_its_own_pid_namespace() {
    let t = TestContext::busybox();
    let out = run_ok(
        &t,
        &["busybox", "sh", "-c", "echo $$; tr '\\0' ' ' < /proc/1/cmdline; echo; ls /proc | grep -c '^[0-9]'"],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1");
    assert_eq!(lines[1].trim_end(), "sh -c echo $$; tr '\\0' ' ' < /proc/1/cmdline; echo; ls /proc | grep -c '^[0-9]'");
    // sh, ls and grep at most (tr and echo have exited): none of the host's processes.
    let count: usize = lines[2].trim().parse().unwrap();
    assert!(count <= 3, "{count} processes visible: {out}");
}

#[test]
fn mount_and_umount_are_refused() {
    let t = TestContext::busybox();
    let out = run(&t, &["busybox", "sh", "-c", "mount -t tmpfs x /tmp; echo status=$?; grep -c ' /tmp ' /proc/mounts"]);
    // busybox words EPERM as "permission denied (are you root?)".
    assert!(text(&out.stderr).contains("permission denied"), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().collect::<Vec<_>>(), ["status=1", "0"], "mount succeeded inside the sandbox");
    let out = run(&t, &["busybox", "umount", "/proc"]);
    assert!(!out.status.success(), "umount /proc succeeded inside the sandbox");
    assert!(text(&out.stderr).contains("Operation not permitted"), "{}", text(&out.stderr));
}

#[test]
fn sys_and_proc_sys_are_read_only() {
    let t = TestContext::busybox();
    for target in ["/sys/kernel/uevent_helper", "/sys/fs/test-file", "/proc/sys/kernel/domainname"] {
        let out = run(&t, &["busybox", "sh", "-c", &format!("echo x > {target}")]);
        assert!(!out.status.success(), "writing {target} succeeded");
        assert!(text(&out.stderr).contains("Read-only file system"), "{target}: {}", text(&out.stderr));
    }
    assert_eq!(
        run_ok(&t, &["busybox", "sh", "-c", "grep ' /sys ' /proc/mounts | cut -d' ' -f4 | cut -d, -f1"]).trim(),
        "ro"
    );
}

#[test]
fn host_paths_outside_the_rootfs_are_invisible() {
    let t = TestContext::busybox();
    let secret_dir = tempfile::tempdir().unwrap();
    let secret = secret_dir.path().join("host-secret");
    std::fs::write(&secret, "do not read").unwrap();
    let secret = secret.to_str().unwrap();
    let out =
        run(&t, &["busybox", "sh", "-c", &format!("test -e {secret} || test -e /proc/1/root{secret} && echo visible")]);
    assert_eq!(text(&out.stdout), "", "the host file {secret} is visible inside");
    // The root holds exactly the image's top-level entries, none of the host's.
    let listing = run_ok(&t, &["busybox", "ls", "-a", "/"]);
    let mut names: Vec<&str> = listing.lines().filter(|n| *n != "." && *n != "..").collect();
    names.sort();
    assert_eq!(names, ["bin", "dev", "etc", "home", "linuxrc", "proc", "root", "sbin", "sys", "tmp", "usr", "var"]);
    // Nothing of the host's mount table but what the sandbox mounted.
    let mounts = run_ok(&t, &["busybox", "cat", "/proc/self/mountinfo"]);
    let points: Vec<&str> = mounts.lines().filter_map(|l| l.split(' ').nth(4)).collect();
    for p in &points {
        let allowed = ["/", "/proc", "/dev", "/sys", "/etc/hosts", "/etc/resolv.conf", "/etc/hostname"]
            .iter()
            .any(|a| p == a || p.starts_with("/proc/") || p.starts_with("/dev/"));
        assert!(allowed, "unexpected mount point {p} in\n{mounts}");
    }
}

#[test]
fn network_none_has_only_loopback_and_it_is_up() {
    let t = TestContext::busybox();
    let dev = run_ok(&t, &["--network", "none", "busybox", "cat", "/proc/net/dev"]);
    let ifaces: Vec<&str> = dev.lines().skip(2).filter_map(|l| l.split(':').next()).map(str::trim).collect();
    assert_eq!(ifaces, ["lo"], "{dev}");
    let flags =
        run_ok(&t, &["--network", "none", "busybox", "cat", "/sys/class/net/lo/operstate", "/sys/class/net/lo/flags"]);
    let flags = flags.lines().nth(1).unwrap();
    let bits = u32::from_str_radix(flags.trim_start_matches("0x"), 16).unwrap();
    assert_eq!(bits & 1, 1, "lo is not up: flags {flags}");
    // `--network host` shares the host's interfaces (the default is now a namespace of the container's own).
    let host = std::fs::read_to_string("/proc/net/dev").unwrap();
    let shared = run_ok(&t, &["--network", "host", "busybox", "cat", "/proc/net/dev"]);
    assert_eq!(shared.lines().count(), host.lines().count());
}

/// busybox plus users and groups, appended to /etc/passwd and /etc/group as the tests do for Debian's
/// busybox (it has no adduser); imported as `users:latest`, and as `users-app:latest` with USER/WORKDIR.
fn import_users(t: &TestContext) {
    let passwd = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n\
                  app:x:1000:1000:App:/home/app:/bin/sh\nworker:x:1001:1001::/home/worker:/bin/sh\n";
    let group = "root:x:0:\nnogroup:x:65534:\napp:x:1000:\nworker:x:1001:\nwheel:x:10:app\nstaff:x:50:app,worker\n";
    let tar = t.dir.path().join("users.tar");
    let mut out = tar::Builder::new(std::fs::File::create(&tar).unwrap());
    let mut ar = tar::Archive::new(std::fs::File::open(busybox_rootfs()).unwrap());
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e.path().unwrap().to_string_lossy().trim_start_matches("./").to_string();
        if path == "etc/passwd" || path == "etc/group" {
            continue;
        }
        let header = e.header().clone();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        out.append(&header, &data[..]).unwrap();
    }
    for (name, content) in [("etc/passwd", passwd), ("etc/group", group)] {
        let mut h = tar::Header::new_gnu();
        h.set_size(content.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        out.append_data(&mut h, name, content.as_bytes()).unwrap();
    }
    out.finish().unwrap();
    drop(out);
    for (tag, extra) in
        [("users:latest", vec![]), ("users-app:latest", vec!["--change", "USER app", "--change", "WORKDIR /srv"])]
    {
        // No ENV PATH: `rbuild run` must supply Docker's default.
        t.rbuild().arg("import").arg(&tar).arg(tag).args(extra).assert().success();
    }
}

#[test]
fn user_workdir_env_home_and_path_follow_docker() {
    let t = TestContext::busybox();
    import_users(&t);
    const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    let probe = "echo \"$(id -u) $(id -g) [$(id -G)] $HOME $PWD $PATH\"";
    let cases: &[(&[&str], &str, String)] = &[
        (&["users"], "root, root's home", format!("0 0 [0] /root / {DEFAULT_PATH}")),
        (
            &["-u", "app", "users"],
            "a name: passwd ids, member groups",
            format!("1000 1000 [1000 10 50] /home/app / {DEFAULT_PATH}"),
        ),
        (
            &["-u", "1000", "users"],
            "a uid in passwd: same as its name",
            format!("1000 1000 [1000 10 50] /home/app / {DEFAULT_PATH}"),
        ),
        (
            &["-u", "app:wheel", "users"],
            "an explicit group: no supplementary groups",
            format!("1000 10 [10] /home/app / {DEFAULT_PATH}"),
        ),
        (&["-u", "worker:1234", "users"], "a numeric group", format!("1001 1234 [1234] /home/worker / {DEFAULT_PATH}")),
        (&["-u", "4242", "users"], "a uid not in passwd: gid 0, HOME /", format!("4242 0 [0] / / {DEFAULT_PATH}")),
        (&["-u", "4242:4343", "users"], "uid:gid not in the files", format!("4242 4343 [4343] / / {DEFAULT_PATH}")),
        (&["-u", "nobody", "users"], "nobody", format!("65534 65534 [65534] /nonexistent / {DEFAULT_PATH}")),
        (
            &["-u", "app", "-e", "HOME=/custom", "users"],
            "HOME from -e wins",
            format!("1000 1000 [1000 10 50] /custom / {DEFAULT_PATH}"),
        ),
        (&["-e", "PATH=/bin", "users"], "PATH from -e wins", "0 0 [0] /root / /bin".to_string()),
        (&["-w", "/new/dir", "users"], "-w creates the directory", format!("0 0 [0] /root /new/dir {DEFAULT_PATH}")),
        (
            &["users-app"],
            "the image's USER and WORKDIR",
            format!("1000 1000 [1000 10 50] /home/app /srv {DEFAULT_PATH}"),
        ),
        (
            &["-u", "root", "-w", "/", "users-app"],
            "flags override the image",
            format!("0 0 [0] /root / {DEFAULT_PATH}"),
        ),
        (&["busybox"], "the image's own ENV PATH", format!("0 0 [0] /root / {DEFAULT_PATH}")),
    ];
    let mut failures = Vec::new();
    for (args, what, expected) in cases {
        let mut full: Vec<&str> = args.to_vec();
        full.extend(["sh", "-c", probe]);
        let out = run(&t, &full);
        let got = text(&out.stdout).trim().to_string();
        if got != *expected {
            failures.push(format!(
                "{what} ({args:?}):\n  expected {expected}\n  got      {got}\n  stderr {}",
                text(&out.stderr)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // A working directory the sandbox creates is root's and 0755, whoever runs the command.
    assert_eq!(run_ok(&t, &["-u", "app", "-w", "/made/here", "users", "stat", "-c", "%a %u", "."]).trim(), "755 0");
    // `-e K` takes rbuild's own value; an unknown user is a clear error.
    let out = t
        .rbuild()
        .args(["run", "--rm", "-e", "FROM_HOST", "users", "sh", "-c", "echo $FROM_HOST"])
        .env("FROM_HOST", "yes")
        .output()
        .unwrap();
    assert_eq!(text(&out.stdout).trim(), "yes");
    let out = run(&t, &["-u", "ghost", "users", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(text(&out.stderr).contains("unable to find user ghost"), "{}", text(&out.stderr));
}

#[test]
fn exit_codes_pass_through() {
    let t = TestContext::busybox();
    for code in [0, 3, 255] {
        assert_eq!(run(&t, &["busybox", "sh", "-c", &format!("exit {code}")]).status.code(), Some(code));
    }
    let out = run(&t, &["busybox", "no-such-command"]);
    assert_eq!(out.status.code(), Some(127));
    assert!(
        text(&out.stderr).contains("exec: \"no-such-command\": executable file not found in $PATH"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&t, &["busybox", "/etc/passwd"]);
    assert_eq!(out.status.code(), Some(126), "{}", text(&out.stderr));
    // A command killed by a signal gives 128+N.
    assert_eq!(run(&t, &["busybox", "sh", "-c", "sleep 100 & kill -9 $!; wait $!"]).status.code(), Some(137));
}

/// Pids of processes whose environment holds `marker` (our sandboxed commands).
fn host_mounts_mentioning(path: &Path) -> Vec<String> {
    let needle = path.to_string_lossy().into_owned();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(&needle))
        .map(String::from)
        .collect()
}

#[test]
fn sigterm_kills_the_whole_sandbox_and_leaves_no_mounts() {
    let t = TestContext::busybox();
    let marker = format!("RBUILD_TEST_MARKER={}", std::process::id());
    let mut child = t
        .process()
        .args(["run", "--rm", "-e", &marker, "busybox", "sh", "-c", "sleep 100 & echo started; wait"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "started");
    let pids = pids_with(&marker);
    assert_eq!(pids.len(), 2, "expected sh and sleep in the sandbox, found {pids:?}");
    // While it runs, its mounts are in its own namespace only.
    assert_eq!(host_mounts_mentioning(&t.root()), Vec::<String>::new());
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert_eq!(status.code(), Some(128 + 15), "{stderr}");
    assert!(stderr.contains("interrupted by SIGTERM"), "{stderr}");
    wait_until("the sandboxed processes to be gone", || {
        pids.iter().all(|p| !Path::new(&format!("/proc/{p}")).exists())
    });
    assert_eq!(host_mounts_mentioning(&t.root()), Vec::<String>::new());
    assert_eq!(host_mounts_mentioning(Path::new("rbuild-sandbox-")), Vec::<String>::new());
    // --rm still cleaned up the container's directory.
    let leftovers: Vec<PathBuf> = std::fs::read_dir(t.root().join("tmp"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().contains("run-"))
        .collect();
    assert_eq!(leftovers, Vec::<PathBuf>::new());
}

#[test]
fn a_sandbox_killed_from_outside_reports_the_signal() {
    let t = TestContext::busybox();
    let marker = format!("RBUILD_TEST_MARKER=kill-{}", std::process::id());
    let mut child = t
        .process()
        .args(["run", "--rm", "-e", &marker, "busybox", "sh", "-c", "echo started; exec sleep 100"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let pids = pids_with(&marker);
    assert_eq!(pids.len(), 1, "{pids:?}");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pids[0]), nix::sys::signal::Signal::SIGKILL).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(137));
}

#[test]
fn volumes_bind_host_paths_read_write_or_read_only() {
    let t = TestContext::busybox();
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("in"), "from host").unwrap();
    let rw = format!("{}:/data", host.path().display());
    assert_eq!(run_ok(&t, &["-v", &rw, "busybox", "sh", "-c", "cat /data/in; echo back > /data/out"]), "from host");
    assert_eq!(std::fs::read_to_string(host.path().join("out")).unwrap(), "back\n");
    let ro = format!("{}:/mnt/deep/ro:ro", host.path().display());
    let out = run(&t, &["-v", &ro, "busybox", "sh", "-c", "cat /mnt/deep/ro/in && touch /mnt/deep/ro/x"]);
    assert_eq!(text(&out.stdout), "from host");
    assert!(text(&out.stderr).contains("Read-only file system"), "{}", text(&out.stderr));
    assert!(!host.path().join("x").exists());
    // A bare word is a volume name, as with docker; a relative path is refused.
    let out = t.rbuild().args(["run", "--rm", "-v", "./relative:/x", "busybox", "true"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

#[test]
fn etc_files_are_the_containers_own_and_never_land_in_its_changes_on_both_backends() {
    let t = TestContext::busybox();
    // Overlay: the container's changes are its upper dir; copy backend: its whole rootfs.
    for (backend, changes_dir) in [("overlay", "upper"), ("copy", "rootfs")] {
        let out = t
            .rbuild()
            .env("RBUILD_SNAPSHOTTER", backend)
            .args(["run", "--hostname", "box1", "busybox", "sh", "-c"])
            .arg("hostname; cat /etc/hostname; echo 10.9.9.9 extra >> /etc/hosts; echo changed > /hello")
            .output()
            .unwrap();
        assert!(out.status.success(), "{backend}: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout), "box1\nbox1\n");
        let stderr = text(&out.stderr);
        let id = stderr.split_whitespace().nth(1).unwrap_or_default().to_string();
        assert!(stderr.starts_with("container ") && id.len() == 64, "{stderr}");
        let dir = t.root().join("containers").join(&id);
        let changes = dir.join(changes_dir);
        assert_eq!(std::fs::read_to_string(changes.join("hello")).unwrap(), "changed\n", "{backend}");
        for f in ["etc/hosts", "etc/resolv.conf", "etc/hostname"] {
            assert!(!changes.join(f).exists(), "{backend}: {f} left in the container's changes");
        }
        let record: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
        assert_eq!(record["id"], id.as_str());
    }
    // With --rm nothing stays in the store's tmp.
    run_ok(&t, &["busybox", "true"]);
    let tmp: Vec<_> = std::fs::read_dir(t.root().join("tmp")).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(tmp.iter().all(|n| !n.to_string_lossy().starts_with("run-")), "{tmp:?}");
}

#[test]
fn stdin_is_attached_with_i_and_closed_without() {
    let t = TestContext::busybox();
    let mut child = t
        .process()
        .args(["run", "--rm", "-i", "busybox", "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"piped in\n").unwrap();
    assert_eq!(text(&child.wait_with_output().unwrap().stdout), "piped in\n");
    let mut child = t
        .process()
        .args(["run", "--rm", "busybox", "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let _ = child.stdin.take().unwrap().write_all(b"ignored\n");
    assert_eq!(text(&child.wait_with_output().unwrap().stdout), "");
}

#[test]
fn it_on_a_terminal_gives_the_command_the_terminal_and_ctrl_c() {
    let t = TestContext::busybox();
    let pty = nix::pty::openpty(None, None).unwrap();
    let slave = std::fs::File::from(pty.slave);
    // `setsid -c` (util-linux) makes the pty rbuild's controlling terminal, as in a real session.
    let mut child = std::process::Command::new("setsid")
        .args(["-c", "-w", env!("CARGO_BIN_EXE_rbuild"), "run", "--rm", "-it", "busybox", "sh"])
        .env("RBUILD_ROOT", t.root())
        .stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave)
        .spawn()
        .expect("running setsid from util-linux");
    let mut master = std::fs::File::from(pty.master);
    let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let mut reader = master.try_clone().unwrap();
    let sink = seen.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let saw = |s: &str| seen.lock().unwrap().contains(s);
    wait_until("the shell prompt", || saw("/ # "));
    master.write_all(b"sleep 100\n").unwrap();
    std::thread::sleep(Duration::from_millis(800));
    // Ctrl-C reaches the command's process group (not rbuild's): sleep dies, the shell lives on.
    master.write_all(b"\x03").unwrap();
    master.write_all(b"echo alive-$((40+2)) $(tty)\n").unwrap();
    wait_until("the shell to survive Ctrl-C", || saw("alive-42 /dev/pts/0"));
    master.write_all(b"exit 5\n").unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(5), "{}", seen.lock().unwrap());
}
