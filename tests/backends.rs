//! One suite, both snapshot backends: the same Dockerfile built with overlay snapshots and with the copy
//! backend must give the same image tree, and `umoci unpack` (an independent implementation of layer
//! application and whiteouts) must turn it into exactly the expected files. Needs root, as RUN does; run
//! as another user it fails saying so.

mod common;

use common::TestContext;
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

fn require_root() {
    assert!(nix::unistd::geteuid().is_root(), "these tests run RUN steps in a sandbox and need root (CI runs as root)");
}

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
    let env = &t.config("env:1")["config"]["Env"];
    assert!(!env.to_string().contains("VERSION"), "ARG values do not persist in the image: {env}");
}
