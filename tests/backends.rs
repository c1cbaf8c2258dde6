//! One suite, both snapshot backends: the same Dockerfile built with overlay snapshots and with the copy
//! backend must give the same image tree, and `umoci unpack` (an independent implementation of layer
//! application and whiteouts) must turn it into exactly the expected files. Needs root, as RUN does; run
//! as another user it fails saying so.

mod common;

use common::{require_root, TestContext};
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

/// `path → (type, mode, uid, gid, content or link target)` of a tree, not following symlinks.
fn tree(root: &Path) -> BTreeMap<String, (char, u32, u32, u32, String)> {
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(root).min_depth(1).sort_by_file_name() {
        let e = e.unwrap();
        let m = e.path().symlink_metadata().unwrap();
        let rel = e.path().strip_prefix(root).unwrap().display().to_string();
        let (kind, content) = if m.is_dir() {
            ('d', String::new())
        } else if m.file_type().is_symlink() {
            ('l', std::fs::read_link(e.path()).unwrap().display().to_string())
        } else {
            let bytes = std::fs::read(e.path()).unwrap();
            // Small files by content (readable in failures), large ones by length and a checksum.
            if bytes.len() <= 64 {
                ('f', String::from_utf8_lossy(&bytes).into_owned())
            } else {
                ('f', format!("{} bytes, sum {}", bytes.len(), bytes.iter().map(|b| *b as u64).sum::<u64>()))
            }
        };
        out.insert(rel, (kind, m.mode() & 0o7777, m.uid(), m.gid(), content));
    }
    out
}

fn build_and_unpack(t: &TestContext, backend: &str) -> BTreeMap<String, (char, u32, u32, u32, String)> {
    let tag = format!("wh:{backend}");
    let out =
        t.rbuild().env("RBUILD_SNAPSHOTTER", backend).args(["build", "-q", "-t", &tag]).arg(t.ctx()).output().unwrap();
    assert!(out.status.success(), "{backend}: {}", String::from_utf8_lossy(&out.stderr));
    let bundle = t.dir.path().join(format!("bundle-{backend}"));
    let out = Command::new("umoci")
        .arg("unpack")
        .arg("--image")
        .arg(format!("{}/oci:{tag}", t.root().display()))
        .arg(&bundle)
        .output()
        .expect("umoci is required: apt-get install -y umoci");
    assert!(out.status.success(), "umoci unpack: {}", String::from_utf8_lossy(&out.stderr));
    tree(&bundle.join("rootfs"))
}

#[test]
fn whiteouts_and_replaced_dirs_unpack_the_same_on_both_backends() {
    require_root();
    let t = TestContext::new();
    t.import_busybox();
    t.write("app.conf", "new conf\n");
    t.write(
        "Dockerfile",
        r#"FROM busybox:latest
RUN mkdir -p /data/old/sub /data/keep && echo 1 > /data/old/sub/f && echo k > /data/keep/k \
 && echo x > /data/gone.txt && ln -s keep/k /data/link && echo h > /data/h1 && ln /data/h1 /data/h2 \
 && echo m > /data/mode
RUN rm /data/gone.txt && rm -r /data/old && rm /bin/vi \
 && rm -rf /data/keep && mkdir /data/keep && echo fresh > /data/keep/new \
 && chmod 600 /data/mode && chown -h 5:6 /data/link
COPY --chown=7:8 app.conf /data/keep/
RUN mkdir -p /data/old && echo back > /data/old/again
"#,
    );
    let overlay = build_and_unpack(&t, "overlay");
    let copy = build_and_unpack(&t, "copy");
    let differences: Vec<String> = overlay
        .keys()
        .chain(copy.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .filter(|k| overlay.get(*k) != copy.get(*k))
        .map(|k| format!("{k}: overlay {:?} / copy {:?}", overlay.get(k), copy.get(k)))
        .collect();
    assert!(differences.is_empty(), "the two backends disagree:\n{}", differences.join("\n"));
    let get = |p: &str| overlay.get(p).cloned();
    assert_eq!(get("data/gone.txt"), None, "a deleted file stays deleted");
    assert_eq!(get("bin/vi"), None, "a file of the base image is deleted");
    assert_eq!(get("data/old/sub"), None, "a deleted dir does not come back with the recreated parent");
    assert_eq!(get("data/old/again").map(|e| e.4), Some("back\n".into()));
    assert_eq!(get("data/keep/k"), None, "a dir replaced wholesale keeps none of its old content");
    assert_eq!(get("data/keep/new").map(|e| e.4), Some("fresh\n".into()));
    assert_eq!(get("data/keep/app.conf").map(|e| (e.2, e.3)), Some((7, 8)));
    assert_eq!(get("data/mode").map(|e| (e.1, e.4)), Some((0o600, "m\n".into())));
    assert_eq!(get("data/h1"), get("data/h2"), "hard links made in one step stay alike");
    assert_eq!(get("data/link").map(|e| (e.0, e.2, e.3, e.4)), Some(('l', 5, 6, "keep/k".into())));
    assert!(get("bin/busybox").is_some());
    assert_eq!(get("etc/hosts"), None, "the sandbox's /etc/hosts bind does not leak into the image");
    assert_eq!(get("etc/resolv.conf"), None);
}

#[test]
fn run_layers_hold_only_what_the_step_changed() {
    require_root();
    let t = TestContext::new();
    t.import_busybox();
    t.write("Dockerfile", "FROM busybox:latest\nRUN echo hi > /hi\nRUN true\n");
    for backend in ["overlay", "copy"] {
        let tag = format!("diff:{backend}");
        let out = t
            .rbuild()
            .env("RBUILD_SNAPSHOTTER", backend)
            .args(["build", "-q", "-t", &tag])
            .arg(t.ctx())
            .output()
            .unwrap();
        assert!(out.status.success(), "{backend}: {}", String::from_utf8_lossy(&out.stderr));
        let l1: Vec<String> = t.layer(&tag, 1).keys().cloned().collect();
        assert_eq!(l1, vec!["hi"], "{backend}: stubs or their parents leaked into the layer");
        let l2 = t.layer(&tag, 2);
        assert!(l2.is_empty(), "{backend}: an empty RUN still makes a layer, an empty one: {l2:?}");
        let m = t.manifest(&tag);
        assert_eq!(
            t.config(&tag)["rootfs"]["diff_ids"][2],
            "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef",
            "{backend}: the empty layer is the empty tar"
        );
        assert_eq!(m["layers"].as_array().unwrap().len(), 3);
    }
}

#[test]
fn failing_run_names_the_line_and_exit_code_and_tags_nothing() {
    require_root();
    let t = TestContext::new();
    t.import_busybox();
    t.write("Dockerfile", "FROM busybox:latest\nRUN echo ok\nRUN exit 3\n");
    let before = std::fs::read(t.root().join("oci/index.json")).unwrap();
    let out = t.rbuild().args(["build", "-t", "fails:1"]).arg(t.ctx()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Dockerfile:3:1:"), "{stderr}");
    assert!(stderr.contains("exit code: 3"), "{stderr}");
    assert!(stderr.contains("RUN exit 3"), "{stderr}");
    assert_eq!(std::fs::read(t.root().join("oci/index.json")).unwrap(), before, "no image, no tag");
}

#[test]
fn run_sees_env_args_workdir_and_user_like_docker() {
    require_root();
    let t = TestContext::new();
    t.import_busybox();
    t.write(
        "Dockerfile",
        r#"FROM busybox:latest
RUN echo 'app:x:1000:1000:App:/home/app:/bin/sh' >> /etc/passwd && echo 'app:x:1000:' >> /etc/group \
 && echo 'extra:x:2000:app' >> /etc/group
ARG VERSION=1.2
ENV MODE=prod
WORKDIR /srv/app
RUN echo "$VERSION $MODE $(pwd) $(id -u):$(id -g) $HOME" > /root-view
USER app
RUN echo "$(id -u):$(id -g) $(id -G) $HOME $PATH" > /tmp/user-view
USER 1234:5678
RUN id -u > /tmp/numeric && id -g >> /tmp/numeric
USER root
RUN echo "$0" > /default-shell
SHELL ["/bin/busybox", "sh", "-c"]
RUN echo "$0" > /custom-shell
"#,
    );
    t.build("env:1", &[]);
    let bundle = t.dir.path().join("b");
    let st = Command::new("umoci")
        .arg("unpack")
        .arg("--image")
        .arg(format!("{}/oci:env:1", t.root().display()))
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(st.status.success());
    let r = bundle.join("rootfs");
    assert_eq!(std::fs::read_to_string(r.join("root-view")).unwrap(), "1.2 prod /srv/app 0:0 /root\n");
    assert_eq!(
        std::fs::read_to_string(r.join("tmp/user-view")).unwrap(),
        "1000:1000 1000 2000 /home/app /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
    );
    assert_eq!(std::fs::read_to_string(r.join("tmp/numeric")).unwrap(), "1234\n5678\n");
    assert!(r.join("srv/app").is_dir(), "WORKDIR is created for RUN");
    assert_eq!(std::fs::read_to_string(r.join("default-shell")).unwrap(), "/bin/sh\n", "shell form runs /bin/sh -c");
    assert_eq!(std::fs::read_to_string(r.join("custom-shell")).unwrap(), "sh\n", "SHELL replaces it");
    let env = &t.config("env:1")["config"]["Env"];
    assert!(!env.to_string().contains("VERSION"), "ARG values do not persist in the image: {env}");
}

#[test]
fn run_mounts_cache_persists_and_binds_are_read_only_and_leave_no_trace() {
    require_root();
    let t = TestContext::new();
    t.import_busybox();
    t.write("src/data.txt", "from context\n");
    t.write(
        "Dockerfile",
        r#"FROM busybox:latest AS tools
RUN mkdir -p /opt/tool && echo tool-v1 > /opt/tool/version

FROM busybox:latest
RUN --mount=type=cache,target=/cache sh -c 'echo run >> /cache/log; wc -l < /cache/log > /count'
RUN --mount=type=bind,source=src,target=/mnt/src cat /mnt/src/data.txt > /copied \
 && if touch /mnt/src/x 2>/dev/null; then echo writable > /bind-mode; else echo read-only > /bind-mode; fi
RUN --mount=type=bind,from=tools,source=/opt/tool,target=/t cat /t/version > /tool-version
RUN --mount=type=tmpfs,target=/scratch echo temp > /scratch/f && test -f /scratch/f
"#,
    );
    t.build("mounts:1", &[]);
    let read = |tag: &str, path: &str| {
        let bundle = t.dir.path().join(format!("b-{}", tag.replace(':', "-")));
        if !bundle.exists() {
            let st = Command::new("umoci")
                .arg("unpack")
                .arg("--image")
                .arg(format!("{}/oci:{tag}", t.root().display()))
                .arg(&bundle)
                .output()
                .unwrap();
            assert!(st.status.success());
        }
        std::fs::read_to_string(bundle.join("rootfs").join(path)).ok()
    };
    assert_eq!(read("mounts:1", "count").as_deref(), Some("1\n"));
    assert_eq!(read("mounts:1", "copied").as_deref(), Some("from context\n"));
    assert_eq!(read("mounts:1", "bind-mode").as_deref(), Some("read-only\n"));
    assert_eq!(read("mounts:1", "tool-version").as_deref(), Some("tool-v1\n"));
    for gone in ["cache", "mnt/src/data.txt", "t/version", "scratch/f"] {
        assert_eq!(read("mounts:1", gone), None, "{gone} leaked into the image");
    }
    assert!(!t.ctx().join("src/x").exists(), "the context was not written");
    // The cache dir outlives the build: a second build (without the step cache) sees the first run's line.
    t.build("mounts:2", &["--no-cache"]);
    assert_eq!(read("mounts:2", "count").as_deref(), Some("2\n"));
}

#[test]
fn hostile_base_layers_write_nothing_outside_their_snapshot() {
    require_root();
    let t = TestContext::new();
    let victim = t.dir.path().join("escaped");
    // A layer with `../../<victim>` and a symlink parent pointing at the victim's directory.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_mode(0o777);
    b.append_link(&mut h, "evil", t.dir.path()).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_size(4);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, "evil/escaped", &b"pwnd"[..]).unwrap();
    let mut raw = b.into_inner().unwrap();
    // The tar crate refuses to write `..` names itself, so add a raw entry for it.
    let mut h = tar::Header::new_old();
    let name = format!("../../../../..{}", victim.display());
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.set_size(4);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    raw.truncate(raw.len() - 1024);
    raw.extend_from_slice(h.as_bytes());
    raw.extend_from_slice(b"pwnd");
    raw.extend_from_slice(&[0u8; 508]);
    raw.extend_from_slice(&[0u8; 1024]);
    let tar_path = t.dir.path().join("hostile.tar");
    std::fs::write(&tar_path, raw).unwrap();
    t.rbuild().arg("import").arg(&tar_path).arg("hostile:1").assert().success();
    t.write("Dockerfile", "FROM hostile:1\nRUN true\n");
    for backend in ["overlay", "copy"] {
        let out =
            t.rbuild().env("RBUILD_SNAPSHOTTER", backend).args(["build", "-t", "h:1"]).arg(t.ctx()).output().unwrap();
        assert!(!out.status.success(), "{backend}: a hostile layer must fail the build");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("Dockerfile:"), "{backend}: {stderr}");
        assert!(!victim.exists(), "{backend}: an entry escaped to {}", victim.display());
    }
}

#[test]
fn sigterm_during_a_run_step_kills_it_and_leaves_no_mounts_or_work_dirs() {
    require_root();
    let t = TestContext::new();
    t.import_busybox();
    // The marker is split with quotes so that only the command's output, not the progress line, has it.
    t.write("Dockerfile", "FROM busybox:latest\nCOPY Dockerfile /df\nRUN echo sta\"\"rted > /dev/stderr; sleep 300\n");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("rbuild"))
        .env("RBUILD_ROOT", t.root())
        .args(["build", "-t", "killed:1"])
        .arg(t.ctx())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        let n = std::io::BufRead::read_line(&mut stderr, &mut line).unwrap();
        assert!(n > 0, "the build ended before the RUN started: {seen}");
        seen.push_str(&line);
        // RUN output lines carry their step's tag (`[stage-0 3/3] started`), as BuildKit's plain output does.
        if line.trim().rsplit("] ").next() == Some("started") {
            break;
        }
    }
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success());
    let root = t.root().display().to_string();
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mountinfo.contains(&root), "mounts under the store remain:\n{mountinfo}");
    // The RUN's process must be gone. Once in a full-suite run it was still listed right after rbuild
    // exited (cause not yet found; the cgroup drain should have waited for it), so allow it a moment to
    // finish dying — a process that survives still fails the test.
    let sleeping = || {
        let ps = Command::new("ps").args(["-eo", "args"]).output().unwrap();
        String::from_utf8_lossy(&ps.stdout).lines().any(|l| l.trim() == "sleep 300")
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    while sleeping() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(!sleeping(), "the RUN's process survived");
    let tmp: Vec<_> =
        std::fs::read_dir(t.root().join("tmp")).unwrap().filter_map(Result::ok).map(|e| e.file_name()).collect();
    let left: Vec<String> = walkdir::WalkDir::new(t.root().join("tmp"))
        .min_depth(1)
        .into_iter()
        .filter_map(Result::ok)
        .map(|e| e.path().display().to_string())
        .collect();
    assert!(!tmp.iter().any(|n| n.to_string_lossy().starts_with("build-")), "work dir left behind: {left:#?}");
    assert!(!t.index().to_string().contains("killed:1"), "no tag for a killed build");
}

#[test]
fn concurrent_builds_into_one_store_both_succeed() {
    require_root();
    let t = TestContext::new();
    t.import_busybox();
    for i in 0..3 {
        let ctx = t.dir.path().join(format!("ctx{i}"));
        std::fs::create_dir_all(&ctx).unwrap();
        std::fs::write(
            ctx.join("Dockerfile"),
            format!("FROM busybox:latest\nRUN echo {i} > /n\nRUN echo shared > /s\n"),
        )
        .unwrap();
    }
    let children: Vec<_> = (0..3)
        .map(|i| {
            std::process::Command::new(assert_cmd::cargo::cargo_bin("rbuild"))
                .env("RBUILD_ROOT", t.root())
                .env("SOURCE_DATE_EPOCH", "1700000000")
                .args(["build", "-q", "-t", &format!("par:{i}")])
                .arg(t.dir.path().join(format!("ctx{i}")))
                .output()
                .unwrap()
        })
        .collect::<Vec<_>>();
    // The builds above ran one after another; these run at once, sharing the base's snapshots:
    let handles: Vec<_> = (0..3)
        .map(|i| {
            let root = t.root();
            let ctx = t.dir.path().join(format!("ctx{i}"));
            std::thread::spawn(move || {
                std::process::Command::new(assert_cmd::cargo::cargo_bin("rbuild"))
                    .env("RBUILD_ROOT", root)
                    .env("SOURCE_DATE_EPOCH", "1700000000")
                    .args(["build", "-q", "--no-cache", "-t", &format!("par2:{i}")])
                    .arg(ctx)
                    .output()
                    .unwrap()
            })
        })
        .collect();
    for out in children.into_iter().chain(handles.into_iter().map(|h| h.join().unwrap())) {
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    for i in 0..3 {
        assert_eq!(t.layer(&format!("par2:{i}"), 1)["n"].data, format!("{i}\n").as_bytes());
        assert_eq!(
            t.manifest(&format!("par:{i}"))["layers"],
            t.manifest(&format!("par2:{i}"))["layers"].clone(),
            "same inputs, same layers, whether built alone or alongside others"
        );
    }
}

#[test]
fn run_on_scratch_execs_what_the_stage_copied_and_names_what_is_missing() {
    require_root();
    let t = TestContext::new();
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
        .expect("busybox-static is required");
    std::fs::copy(busybox, t.ctx().join("busybox")).unwrap();
    for backend in ["overlay", "copy"] {
        t.write("Dockerfile", "FROM scratch\nRUN [\"/nope\"]\n");
        let out =
            t.rbuild().env("RBUILD_SNAPSHOTTER", backend).args(["build", "-t", "s:1"]).arg(t.ctx()).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{backend}: {stderr}");
        assert!(stderr.contains("Dockerfile:2:1:") && stderr.contains(r#"exec: "/nope""#), "{backend}: {stderr}");
        t.write(
            "Dockerfile",
            "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"mkdir\", \"/made\"]\n",
        );
        let out = t
            .rbuild()
            .env("RBUILD_SNAPSHOTTER", backend)
            .args(["build", "--no-cache", "-t", "s:2"])
            .arg(t.ctx())
            .output()
            .unwrap();
        assert!(out.status.success(), "{backend}: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(t.layer("s:2", 1)["made"].kind, 'd', "{backend}");
    }
}

/// Build with one backend into a fresh store (no shared step cache) and return the image's layer digests.
fn layer_digests(dockerfile: &str, backend: &str) -> Vec<String> {
    let t = TestContext::new();
    t.import_busybox();
    t.write("Dockerfile", dockerfile);
    let out = t
        .rbuild()
        .env("RBUILD_SNAPSHOTTER", backend)
        .env("SOURCE_DATE_EPOCH", "0")
        .args(["build", "-q", "-t", "repro:1"])
        .arg(t.ctx())
        .output()
        .unwrap();
    assert!(out.status.success(), "{backend}: {}", String::from_utf8_lossy(&out.stderr));
    let manifest = t.manifest("repro:1");
    manifest["layers"].as_array().unwrap().iter().map(|l| l["digest"].as_str().unwrap().to_string()).collect()
}

#[test]
fn defect11_overlay_and_copy_give_one_digest_for_a_run_that_deletes_and_writes_many_files() {
    require_root();
    let dockerfile = r#"FROM busybox:latest
RUN mkdir -p /data/a /data/b && for i in $(seq 1 600); do echo $i > /data/a/f$i; echo $i > /data/b/g$i; done \
 && echo x > /data/gone && echo y > /data/a/gone-too
RUN rm /data/gone /data/a/gone-too /bin/vi && for i in $(seq 1 1100); do echo $i > /data/n$i; done \
 && chmod 700 /data/b && echo changed > /data/a/f7
"#;
    let overlay = layer_digests(dockerfile, "overlay");
    let copy = layer_digests(dockerfile, "copy");
    assert_eq!(overlay, copy, "overlay and copy backends gave different layers for the same steps");
}

/// The diff_id of a COPY over directories the base already has (`/etc`, and `/srv/data` with its own mode
/// and owner), a file replacing a base file, a new subtree, a symlink and an empty dir copied onto an
/// existing one. The constant is what the COPY wrote through the mounted overlay before it wrote straight
/// into the upper dir: the faster path must keep the layer byte for byte, on both backends.
#[test]
fn copy_over_existing_base_dirs_keeps_its_layer_on_both_backends() {
    require_root();
    for backend in ["overlay", "copy"] {
        let t = TestContext::new();
        t.import_busybox();
        t.write("tree/etc/app.conf", "conf\n");
        t.write("tree/etc/group", "replaced\n");
        t.write("tree/srv/data/new/deep/f.txt", "deep\n");
        t.write("tree/srv/data/top.txt", "top\n");
        std::fs::create_dir_all(t.ctx().join("tree/tmp")).unwrap();
        std::os::unix::fs::symlink("../etc/app.conf", t.ctx().join("tree/srv/link")).unwrap();
        std::fs::create_dir_all(t.ctx().join("empty")).unwrap();
        t.write(
            "Dockerfile",
            "FROM busybox:latest\n\
             RUN mkdir -p /srv/data && chmod 750 /srv/data && chown 5:6 /srv/data\n\
             COPY tree/ /\n\
             COPY empty/ /etc/\n",
        );
        let out = t
            .rbuild()
            .env("RBUILD_SNAPSHOTTER", backend)
            .env("SOURCE_DATE_EPOCH", "0")
            .args(["build", "-q", "-t", "over:1"])
            .arg(t.ctx())
            .output()
            .unwrap();
        assert!(out.status.success(), "{backend}: {}", String::from_utf8_lossy(&out.stderr));
        let layer = t.layer("over:1", 2);
        let data = &layer["srv/data"];
        assert_eq!((data.mode & 0o7777, data.uid, data.gid), (0o750, 5, 6), "{backend}: /srv/data kept its attributes");
        let diff_ids = t.config("over:1")["rootfs"]["diff_ids"].clone();
        assert_eq!(
            diff_ids[2], "sha256:fdf27cfb1d4e5b91042f3438f37ec186c4ad2c8bcdd56cf767b413a525fe5262",
            "{backend}: COPY over existing dirs"
        );
        assert_eq!(
            diff_ids[3], "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef",
            "{backend}: an empty dir copied onto /etc"
        );
    }
}
