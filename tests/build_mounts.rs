//! `RUN --mount` as a user writes it: bind sources with a relative context path, `from=` a stage or an
//! image, real tmpfs mounts, and build secrets (`--secret` / `type=secret`). Runs as root, busybox base.

mod common;

use common::TestContext;

#[test]
fn defect11_bind_source_resolves_against_a_relative_context() {
    let t = TestContext::busybox();
    t.write("f", "from the context\n");
    t.write("Dockerfile", "FROM busybox\nRUN --mount=type=bind,source=f,target=/x cp /x /copied\n");
    // `rbuild build .` from inside the context, and `rbuild build ctx` from its parent.
    let out = t.rbuild().current_dir(t.ctx()).args(["build", "-q", "-t", "rel:dot", "."]).output().unwrap();
    assert!(out.status.success(), "build . failed: {}", String::from_utf8_lossy(&out.stderr));
    t.ok(&["build", "-q", "-t", "rel:parent", "ctx"]);
    for tag in ["rel:dot", "rel:parent"] {
        let layer = t.layer(tag, 1);
        assert!(layer.contains_key("copied"), "{tag}: {:?}", layer.keys());
    }
}

#[test]
fn bind_from_a_stage_and_from_an_image() {
    let t = TestContext::busybox();
    t.write(
        "Dockerfile",
        "FROM busybox AS tools\nRUN echo built > /made\n\
         FROM busybox\n\
         RUN --mount=type=bind,from=tools,source=/made,target=/m cp /m /from-stage\n\
         RUN --mount=type=bind,from=busybox,source=/bin/busybox,target=/bb test -x /bb && echo ok > /from-image\n",
    );
    t.build("from:1", &[]);
    assert_eq!(t.layer("from:1", 1)["from-stage"].data, b"built\n");
    assert_eq!(t.layer("from:1", 2)["from-image"].data, b"ok\n");
}

#[test]
fn defect11_tmpfs_mount_is_a_real_tmpfs_and_leaves_nothing_in_the_layer() {
    let t = TestContext::busybox();
    t.write(
        "Dockerfile",
        "FROM busybox\n\
         RUN --mount=type=tmpfs,target=/x,size=8m grep ' /x tmpfs' /proc/mounts > /seen \
         && grep -q 'size=8192k' /seen && echo scratch > /x/junk\n",
    );
    t.build("tmpfs:1", &[]);
    let layer = t.layer("tmpfs:1", 1);
    assert!(String::from_utf8_lossy(&layer["seen"].data).contains(" /x tmpfs "), "{:?}", layer["seen"]);
    assert!(layer.keys().all(|k| !k.starts_with("x")), "tmpfs contents leaked: {:?}", layer.keys());
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &std::path::Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    let mut hits = Vec::new();
    for entry in walkdir::WalkDir::new(dir).into_iter().filter_map(Result::ok) {
        if entry.file_type().is_file() {
            let data = std::fs::read(entry.path()).unwrap_or_default();
            if data.windows(needle.len()).any(|w| w == needle) {
                hits.push(entry.path().to_path_buf());
            }
        }
    }
    hits
}

#[test]
fn secret_is_readable_in_the_step_and_nowhere_in_the_store() {
    let t = TestContext::busybox();
    let secret = "sekrit-4f1c9a-value";
    std::fs::write(t.path("token"), secret).unwrap();
    // The steps show the secret only upper-cased, so the Dockerfile, the layers and the history never
    // hold its bytes unless rbuild leaks them.
    t.write(
        "Dockerfile",
        "FROM busybox\n\
         RUN --mount=type=secret,id=tok tr a-z A-Z < /run/secrets/tok > /file \
         && stat -c %a /run/secrets/tok > /file-mode\n\
         RUN --mount=type=secret,id=tok,env=TOKEN,target=/etc/tok,mode=0444,uid=7 \
         echo \"$TOKEN\" | tr a-z A-Z > /env && stat -c %u:%a /etc/tok > /env-file\n\
         RUN --mount=type=secret,id=absent echo optional-ok > /optional-ok\n",
    );
    let token = t.path("token");
    t.build("sec:1", &["--secret", &format!("id=tok,src={}", token.display())]);
    let upper = secret.to_uppercase();
    let (l1, l2) = (t.layer("sec:1", 1), t.layer("sec:1", 2));
    assert_eq!((&l1["file"].data[..], &l1["file-mode"].data[..]), (upper.as_bytes(), &b"400\n"[..]));
    assert_eq!(
        (l2["env"].data.clone(), &l2["env-file"].data[..]),
        (format!("{upper}\n").into_bytes(), &b"7:444\n"[..])
    );
    assert_eq!(t.layer("sec:1", 3)["optional-ok"].data, b"optional-ok\n");
    // No layer holds the secret or its mount point; the config and history do not name the value.
    for n in 0..t.layer_count("sec:1") {
        for (path, e) in t.layer("sec:1", n) {
            assert!(!e.data.windows(secret.len()).any(|w| w == secret.as_bytes()), "layer {n}: {path}");
            if n > 0 {
                assert!(!path.starts_with("run") && path != "etc/tok", "layer {n} has the mount point {path}");
            }
        }
    }
    let inspect = t.ok(&["inspect", "sec:1"]);
    assert!(!t.config("sec:1").to_string().contains(secret) && !inspect.contains(secret));
    // Nothing in the store (blobs, step cache, tmp) holds the bytes.
    assert_eq!(files_containing(&t.root(), secret.as_bytes()), Vec::<std::path::PathBuf>::new());
    // From the environment too, and a rebuild with another value reuses the cache (keyed on the id only).
    let out = t
        .rbuild()
        .env("TOK_VAR", secret)
        .args(["build", "-q", "-t", "sec:2", "--secret", "id=tok,env=TOK_VAR", "ctx"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(t.manifest("sec:1"), t.manifest("sec:2"));
}

#[test]
fn required_secret_missing_is_a_clear_error_naming_id_and_line() {
    let t = TestContext::busybox();
    t.write("Dockerfile", "FROM busybox\nRUN --mount=type=secret,id=npmrc,required=true cat /run/secrets/npmrc\n");
    let err = t.fails(&["build", "-q", "-t", "req:1", "ctx"], 1);
    assert!(err.contains("Dockerfile:2") && err.contains("\"npmrc\"") && err.contains("--secret id=npmrc"), "{err}");
}

#[test]
fn ssh_add_in_a_step_lists_the_key_of_a_forwarded_agent() {
    let t = TestContext::busybox();
    // An agent holding one fresh key, on a socket of the test's own.
    let sock = t.path("agent.sock");
    let key = t.path("id_ed25519");
    let agent = std::process::Command::new("ssh-agent").arg("-D").arg("-a").arg(&sock).spawn();
    let _agent = KillOnDrop(agent.expect("ssh-agent: apt-get install -y openssh-client"));
    common::wait_until("the ssh agent's socket", || sock.exists());
    let run = |cmd: &mut std::process::Command| assert!(cmd.status().unwrap().success(), "{cmd:?}");
    run(std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "forwarded-key", "-f"])
        .arg(&key));
    run(std::process::Command::new("ssh-add")
        .arg(&key)
        .env("SSH_AUTH_SOCK", &sock)
        .stderr(std::process::Stdio::null()));
    // busybox has no ssh-add: give the image the host's, with its libraries, at the same paths.
    let ldd = std::process::Command::new("ldd").arg("/usr/bin/ssh-add").output().unwrap();
    let mut files = vec!["/usr/bin/ssh-add".to_string()];
    files.extend(
        String::from_utf8_lossy(&ldd.stdout).split_whitespace().filter(|w| w.starts_with('/')).map(String::from),
    );
    for f in &files {
        let dest = t.ctx().join("sysroot").join(f.trim_start_matches('/'));
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(f, &dest).unwrap();
    }
    t.write(
        "Dockerfile",
        "FROM busybox\nCOPY sysroot/ /\n\
         RUN --mount=type=ssh ssh-add -l > /listed && echo \"$SSH_AUTH_SOCK\" > /sock\n\
         RUN --mount=type=ssh,id=other echo optional-ok > /skipped\n",
    );
    let built = t
        .rbuild()
        .args(["build", "-q", "-t", "ssh:1", "--ssh"])
        .arg(format!("default={}", sock.display()))
        .arg("ctx")
        .output()
        .unwrap();
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    let layer = t.layer("ssh:1", 2);
    assert!(String::from_utf8_lossy(&layer["listed"].data).contains("forwarded-key"), "{:?}", layer["listed"]);
    assert_eq!(layer["sock"].data, b"/run/buildkit/ssh_agent.0\n");
    assert!(layer.keys().all(|k| !k.starts_with("run")), "mount point left in the layer: {:?}", layer.keys());
    assert_eq!(t.layer("ssh:1", 3)["skipped"].data, b"optional-ok\n");
    // required without --ssh: a clear error.
    t.write("Dockerfile", "FROM busybox\nRUN --mount=type=ssh,required=true true\n");
    let err = t.fails(&["build", "-q", "-t", "ssh:2", "ctx"], 1);
    assert!(err.contains("Dockerfile:2") && err.contains("--ssh default"), "{err}");
}

#[test]
fn cache_mount_is_created_with_mode_uid_gid_seeded_from_a_stage_and_keyed_by_target() {
    let t = TestContext::busybox();
    t.write(
        "Dockerfile",
        "FROM busybox AS seed\nRUN mkdir -p /s/sub && echo seeded > /s/sub/f\n\
         FROM busybox\n\
         RUN --mount=type=cache,target=/c,uid=123,gid=456,mode=0750 stat -c %u:%g:%a /c > /attrs && touch /c/x\n\
         RUN --mount=type=cache,id=/c,target=/other ls /other > /same-id\n\
         RUN --mount=type=cache,id=seeded,target=/d,from=seed,source=/s cat /d/sub/f > /seeded\n",
    );
    t.build("cm:1", &[]);
    assert_eq!(t.layer("cm:1", 1)["attrs"].data, b"123:456:750\n");
    assert_eq!(t.layer("cm:1", 2)["same-id"].data, b"x\n", "id defaults to the target");
    assert_eq!(t.layer("cm:1", 3)["seeded"].data, b"seeded\n");
}

/// Two builds of `dockerfile` (ARG ME/OTHER = a/b and b/a) at once; each writes its name in cache mount
/// `sync` and waits for the other's there, so the steps after that run at the same time.
fn two_builds_at_once(t: &TestContext, dockerfile: &str) {
    t.write(
        "Dockerfile.both",
        &format!(
            "FROM busybox\nARG ME\nARG OTHER\n\
         RUN --mount=type=cache,id=sync,target=/sync touch /sync/$ME && i=0 && \
         while [ ! -e /sync/$OTHER ] && [ $i -lt 120 ]; do sleep 0.5; i=$((i+1)); done\n{dockerfile}"
        ),
    );
    let spawn = |me: &str, other: &str| {
        t.process()
            .args(["build", "-q", "-t", &format!("both:{me}"), "-f", "ctx/Dockerfile.both"])
            .args(["--build-arg", &format!("ME={me}"), "--build-arg", &format!("OTHER={other}"), "ctx"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn("a", "b"), spawn("b", "a"));
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn cache_mount_sharing_locked_serialises_two_concurrent_builds() {
    let t = TestContext::busybox();
    two_builds_at_once(
        &t,
        "RUN --mount=type=cache,id=stamps,target=/c,sharing=locked \
         echo start $ME >> /c/log && sleep 2 && echo end $ME >> /c/log\n",
    );
    t.write("Dockerfile.read", "FROM busybox\nRUN --mount=type=cache,id=stamps,target=/c cat /c/log > /log\n");
    t.ok(&["build", "-q", "-t", "stamps:1", "-f", "ctx/Dockerfile.read", "ctx"]);
    let log = String::from_utf8(t.layer("stamps:1", 1)["log"].data.clone()).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    let first = lines.first().and_then(|l| l.strip_prefix("start ")).unwrap_or_default();
    let second = if first == "a" { "b" } else { "a" };
    let expect = [format!("start {first}"), format!("end {first}"), format!("start {second}"), format!("end {second}")];
    assert_eq!(lines, expect, "the two steps overlapped");
}

#[test]
fn cache_mount_sharing_private_gives_a_concurrent_user_its_own_dir() {
    let t = TestContext::busybox();
    // Both steps hold their /p while they wait for each other: the second one must get a fresh dir.
    two_builds_at_once(
        &t,
        "RUN --mount=type=cache,id=sync2,target=/sync --mount=type=cache,id=p,target=/p,sharing=private \
         touch /p/$ME /sync/$ME && i=0 && \
         while [ ! -e /sync/$OTHER ] && [ $i -lt 120 ]; do sleep 0.5; i=$((i+1)); done && ls /p > /list\n",
    );
    for me in ["a", "b"] {
        let layer = t.layer(&format!("both:{me}"), 2);
        assert_eq!(layer["list"].data, format!("{me}\n").into_bytes(), "{me} saw the other's cache dir");
    }
}

/// Ends a child the test started, however the test ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
