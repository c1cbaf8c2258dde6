//! `rbuild build` flags beyond the Dockerfile itself, each against docker's documented result: the
//! Dockerfile or the whole context on stdin. Runs as root, busybox base.

mod common;

use common::TestContext;
use std::process::Stdio;

/// `rbuild build ARGS` with `stdin` as standard input; asserts success.
fn build_stdin(t: &TestContext, args: &[&str], stdin: Stdio) -> String {
    let out = t.process().arg("build").args(args).stdin(stdin).output().unwrap();
    assert!(out.status.success(), "rbuild build {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn file(path: &std::path::Path) -> Stdio {
    Stdio::from(std::fs::File::open(path).unwrap())
}

#[test]
fn dockerfile_from_stdin_with_the_context_from_the_path() {
    let t = TestContext::busybox();
    t.write("f", "from the context\n");
    std::fs::write(t.path("Dockerfile.stdin"), "FROM busybox\nCOPY f /copied\n").unwrap();
    build_stdin(&t, &["-q", "-t", "stdin:f", "-f", "-", "ctx"], file(&t.path("Dockerfile.stdin")));
    assert_eq!(t.layer("stdin:f", 1)["copied"].data, b"from the context\n");
}

#[test]
fn tar_context_on_stdin_plain_and_compressed_honours_dockerignore_and_dash_f() {
    let t = TestContext::busybox();
    t.write("Dockerfile", "FROM busybox\nCOPY . /ctx/\n");
    t.write("docker/alt.Dockerfile", "FROM busybox\nCOPY app/ /alt/\n");
    t.write("app/main.sh", "echo hi\n");
    t.write("secret.key", "not for the image\n");
    t.write(".dockerignore", "*.key\n");
    let tar = t.path("ctx.tar");
    common::run_tool(common::tool("tar").arg("-cf").arg(&tar).arg("-C").arg(t.ctx()).arg("."));
    for (tool, ext) in [("gzip", "gz"), ("bzip2", "bz2"), ("xz", "xz")] {
        let packed = t.path(&format!("ctx.tar.{ext}"));
        let out = common::tool(tool).arg("-c").arg(&tar).output().unwrap();
        assert!(out.status.success(), "{tool}");
        std::fs::write(&packed, out.stdout).unwrap();
    }
    for (name, archive) in [("plain", "ctx.tar"), ("gz", "ctx.tar.gz"), ("bz2", "ctx.tar.bz2"), ("xz", "ctx.tar.xz")] {
        let tag = format!("tarctx:{name}");
        build_stdin(&t, &["-q", "-t", &tag, "-"], file(&t.path(archive)));
        let layer = t.layer(&tag, 1);
        assert_eq!(layer["ctx/app/main.sh"].data, b"echo hi\n", "{name}");
        assert!(!layer.contains_key("ctx/secret.key"), "{name}: .dockerignore not applied: {:?}", layer.keys());
    }
    // -f names a Dockerfile inside the archive.
    build_stdin(&t, &["-q", "-t", "tarctx:alt", "-f", "docker/alt.Dockerfile", "-"], file(&tar));
    assert_eq!(t.layer("tarctx:alt", 1)["alt/main.sh"].data, b"echo hi\n");
}

#[test]
fn dockerfile_alone_on_stdin_builds_with_an_empty_context() {
    let t = TestContext::busybox();
    t.write("f", "in the cwd's context, not the build's\n");
    std::fs::write(t.path("Dockerfile.only"), "FROM busybox\nRUN echo stdin-ok > /ok\nCOPY . /ctx/\n").unwrap();
    build_stdin(&t, &["-q", "-t", "dfonly:1", "-"], file(&t.path("Dockerfile.only")));
    assert_eq!(t.layer("dfonly:1", 1)["ok"].data, b"stdin-ok\n");
    let copied = t.layer("dfonly:1", 2);
    assert!(copied.keys().all(|k| k.trim_end_matches('/') == "ctx"), "context not empty: {:?}", copied.keys());
    // Both from stdin is a usage error.
    let out = t.process().args(["build", "-f", "-", "-"]).stdin(Stdio::null()).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn build_context_dir_wins_over_a_stage_for_copy_from_and_mount_from() {
    let t = TestContext::busybox();
    let extra = t.path("extra");
    std::fs::create_dir_all(&extra).unwrap();
    std::fs::write(extra.join("f"), "from the named dir\n").unwrap();
    std::fs::write(extra.join("hidden"), "ignored\n").unwrap();
    std::fs::write(extra.join(".dockerignore"), "hidden\n").unwrap();
    // A stage called `extra` exists too: the named context takes precedence (and the stage, which would
    // fail, is not built).
    t.write(
        "Dockerfile",
        "FROM busybox AS extra\nRUN exit 7\n\
         FROM busybox\nCOPY --from=extra / /copied/\n\
         RUN --mount=from=extra,target=/m cat /m/f > /mounted\n",
    );
    let arg = format!("extra={}", extra.display());
    t.build("named:dir", &["--build-context", &arg]);
    let copied = t.layer("named:dir", 1);
    assert_eq!(copied["copied/f"].data, b"from the named dir\n");
    assert!(!copied.contains_key("copied/hidden"), "its .dockerignore applies: {:?}", copied.keys());
    assert_eq!(t.layer("named:dir", 2)["mounted"].data, b"from the named dir\n");
    // The key follows the dir's content: a change reruns the COPY.
    std::fs::write(extra.join("f"), "changed\n").unwrap();
    t.build("named:dir2", &["--build-context", &arg]);
    assert_eq!(t.layer("named:dir2", 1)["copied/f"].data, b"changed\n");
}

#[test]
fn build_context_docker_image_replaces_a_from_name_and_a_stage() {
    let t = TestContext::busybox();
    // `base` is neither an image in the store nor a shell-bearing stage: only the context makes it busybox.
    t.write("Dockerfile", "FROM scratch AS base\nFROM base\nRUN echo ran > /ran\n");
    t.build("named:img", &["--build-context", "base=docker-image://busybox"]);
    assert_eq!(t.layer("named:img", 1)["ran"].data, b"ran\n");
    t.write("Dockerfile", "FROM scratch\nCOPY --from=tools /bin/busybox /bb\n");
    t.build("named:copy", &["--build-context", "tools=docker-image://busybox:latest"]);
    assert!(t.layer("named:copy", 0).contains_key("bb"));
    let err = t.fails(&["build", "--build-context", "x=oci-layout://somewhere", "ctx"], 2);
    assert!(err.contains("oci-layout") && err.contains("docker-image://"), "{err}");
}

#[test]
fn add_host_shm_size_and_ulimit_apply_to_run_steps_and_stay_out_of_the_layer() {
    let t = TestContext::busybox();
    t.write(
        "Dockerfile",
        "FROM busybox\n\
         RUN cat /etc/hosts > /hosts && df -k /dev/shm | tail -n 1 > /shm \
         && ulimit -n > /nofile-soft && ulimit -Hn > /nofile-hard\n",
    );
    let extra = ["--add-host", "db.local:10.1.2.3", "--add-host", "gw:host-gateway", "--shm-size", "128m"];
    t.build("flags:run", &[&extra[..], &["--ulimit", "nofile=1024:2048"]].concat());
    let layer = t.layer("flags:run", 1);
    let hosts = String::from_utf8_lossy(&layer["hosts"].data).to_string();
    assert!(hosts.contains("10.1.2.3\tdb.local\n") && hosts.contains("127.0.0.1\tgw\n"), "{hosts}");
    assert!(hosts.contains("localhost"), "the usual lines stay: {hosts}");
    let shm = String::from_utf8_lossy(&layer["shm"].data).to_string();
    assert_eq!(shm.split_whitespace().nth(1), Some("131072"), "df /dev/shm: {shm}");
    assert_eq!((&layer["nofile-soft"].data[..], &layer["nofile-hard"].data[..]), (&b"1024\n"[..], &b"2048\n"[..]));
    assert!(!layer.keys().any(|k| k.starts_with("etc")), "/etc/hosts leaked into the layer: {:?}", layer.keys());
    // Without the flags the step sees the defaults (64m of shm) and is not the cached one.
    t.build("flags:plain", &[]);
    let shm = String::from_utf8_lossy(&t.layer("flags:plain", 1)["shm"].data).to_string();
    assert_eq!(shm.split_whitespace().nth(1), Some("65536"), "{shm}");
}

#[test]
fn no_cache_filter_reruns_only_the_named_stage() {
    let t = TestContext::busybox();
    t.write(
        "Dockerfile",
        "FROM busybox AS gen\nRUN cat /proc/sys/kernel/random/uuid > /id\n\
         FROM busybox\nRUN cat /proc/sys/kernel/random/uuid > /own\nCOPY --from=gen /id /id\n",
    );
    t.build("ncf:1", &[]);
    t.build("ncf:2", &["--no-cache-filter", "gen"]);
    let (own1, own2) = (t.layer("ncf:1", 1)["own"].data.clone(), t.layer("ncf:2", 1)["own"].data.clone());
    assert_eq!(own1, own2, "the unfiltered stage's RUN came from the cache");
    let (id1, id2) = (t.layer("ncf:1", 2)["id"].data.clone(), t.layer("ncf:2", 2)["id"].data.clone());
    assert_ne!(id1, id2, "stage gen's RUN ran again");
}

#[test]
fn metadata_file_and_annotations_as_buildx_writes_them() {
    let t = TestContext::busybox();
    t.write("Dockerfile", "FROM busybox\nRUN echo x > /x\n");
    let meta = t.path("meta.json");
    t.build(
        "meta:1",
        &[
            "--metadata-file",
            meta.to_str().unwrap(),
            "--annotation",
            "org.opencontainers.image.title=demo",
            "--annotation",
            "manifest:com.example.team=build",
        ],
    );
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
    let entry = t.index_entry("meta:1");
    let manifest_digest = entry["digest"].as_str().unwrap();
    assert_eq!(json["containerimage.digest"], manifest_digest);
    assert_eq!(json["containerimage.descriptor"]["digest"], manifest_digest);
    assert_eq!(json["containerimage.descriptor"]["size"], entry["size"]);
    assert_eq!(json["containerimage.config.digest"], t.manifest("meta:1")["config"]["digest"]);
    assert!(json["image.name"].as_str().unwrap().ends_with("meta:1"), "{json}");
    let annotations = &t.manifest("meta:1")["annotations"];
    assert_eq!(annotations["org.opencontainers.image.title"], "demo");
    assert_eq!(annotations["com.example.team"], "build");
    let err = t.fails(&["build", "--annotation", "index:a=b", "ctx"], 2);
    assert!(err.contains("image index"), "{err}");
}

#[test]
fn squash_merges_the_new_layers_into_one_on_top_of_the_base_and_keeps_history() {
    let t = TestContext::busybox();
    t.write(
        "Dockerfile",
        "FROM busybox\n\
         RUN mkdir /app && echo a > /app/a && echo gone > /app/gone\n\
         ENV X=1\n\
         RUN rm /app/gone && echo b > /app/b && echo a2 > /app/a\n\
         RUN rm /bin/true\n",
    );
    t.build("sq:no", &[]);
    t.build("sq:yes", &["--squash"]);
    assert_eq!((t.layer_count("sq:no"), t.layer_count("sq:yes")), (4, 2), "busybox's one layer + one squashed");
    assert_eq!(t.manifest("sq:yes")["layers"][0], t.manifest("sq:no")["layers"][0], "the base layer is kept");
    let layer = t.layer("sq:yes", 1);
    assert_eq!((&layer["app/a"].data[..], &layer["app/b"].data[..]), (&b"a2\n"[..], &b"b\n"[..]));
    // Made and deleted within the build: no file, no whiteout. Deleted from the base: a whiteout.
    assert!(!layer.keys().any(|k| k.contains("gone")), "{:?}", layer.keys());
    assert!(layer.contains_key("bin/.wh.true"), "{:?}", layer.keys());
    // History: every step kept, the squashed ones as empty layers, plus the merge entry.
    let config = t.config("sq:yes");
    let history = config["history"].as_array().unwrap();
    let plain = t.config("sq:no")["history"].as_array().unwrap().len();
    assert_eq!(history.len(), plain + 1);
    let non_empty = history.iter().filter(|h| h["empty_layer"] != true).count();
    assert_eq!(non_empty, 2, "{history:?}");
    assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), 2);
    // A cached rebuild gives the very same squashed image.
    t.build("sq:again", &["--squash"]);
    assert_eq!(t.index_entry("sq:again")["digest"], t.index_entry("sq:yes")["digest"]);
    // The squashed image runs: its files are what the unsquashed one has.
    t.write("Dockerfile", "FROM sq:yes\nRUN cat /app/a /app/b > /seen && test ! -e /app/gone && test ! -e /bin/true\n");
    t.build("sq:use", &[]);
    assert_eq!(t.layer("sq:use", 2)["seen"].data, b"a2\nb\n");
}

#[test]
fn shm_size_and_ulimit_reach_rbuild_run_too() {
    let t = TestContext::busybox();
    let out = t.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--shm-size",
        "32m",
        "--ulimit",
        "nofile=100:200",
        "busybox",
        "sh",
        "-c",
        "df -k /dev/shm | tail -n 1; ulimit -n; ulimit -Hn",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.first().and_then(|l| l.split_whitespace().nth(1)), Some("32768"), "{out}");
    assert_eq!(&lines[1..], ["100", "200"], "{out}");
}
