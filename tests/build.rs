//! End-to-end builds through the real binary: COPY/ADD semantics, metadata in the config, multi-stage,
//! ARG scoping, .dockerignore, reproducibility, and clear errors that leave the store untouched.

mod common;

use common::TestContext;
use predicates::prelude::*;
use serde_json::json;

#[test]
fn scratch_build_records_every_metadata_instruction() {
    let t = TestContext::new();
    t.write(
        "Dockerfile",
        r#"FROM scratch
ENV A=1 B="two words"
ENV C=${A}-$B
LABEL version="1.0" description=demo
EXPOSE 80 53/udp 8000-8001
VOLUME /data
VOLUME ["/logs"]
WORKDIR /app
WORKDIR sub
USER 1000:1000
STOPSIGNAL SIGQUIT
SHELL ["/bin/bash", "-c"]
HEALTHCHECK --interval=5s --retries=2 CMD check
ONBUILD run echo child
MAINTAINER someone@example.com
ENTRYPOINT ["/entry"]
CMD run me
"#,
    );
    t.build("meta:1", &[]);
    let cfg = t.config("meta:1");
    let c = &cfg["config"];
    assert_eq!(
        c["Env"],
        json!([
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "A=1",
            "B=two words",
            "C=1-two words"
        ])
    );
    assert_eq!(c["Labels"], json!({"version": "1.0", "description": "demo"}));
    assert_eq!(c["ExposedPorts"], json!({"80/tcp": {}, "53/udp": {}, "8000/tcp": {}, "8001/tcp": {}}));
    assert_eq!(c["Volumes"], json!({"/data": {}, "/logs": {}}));
    assert_eq!(c["WorkingDir"], "/app/sub");
    assert_eq!(c["User"], "1000:1000");
    assert_eq!(c["StopSignal"], "SIGQUIT");
    assert_eq!(c["Shell"], json!(["/bin/bash", "-c"]));
    assert_eq!(c["Healthcheck"], json!({"Test": ["CMD-SHELL", "check"], "Interval": 5_000_000_000i64, "Retries": 2}));
    assert_eq!(c["OnBuild"], json!(["RUN echo child"]));
    assert_eq!(c["Entrypoint"], json!(["/entry"]));
    assert_eq!(c["Cmd"], json!(["/bin/bash", "-c", "run me"]), "shell form CMD is wrapped in SHELL");
    assert_eq!(cfg["author"], "someone@example.com");
    assert_eq!(t.layer_count("meta:1"), 0);
    let history = cfg["history"].as_array().unwrap();
    assert_eq!(history.len(), 16, "one history entry per instruction after FROM");
    assert!(history.iter().all(|h| h["empty_layer"] == true));
    assert_eq!(cfg["rootfs"], json!({"type": "layers", "diff_ids": []}));
}

#[test]
fn copy_files_dirs_and_globs_with_docker_destination_rules() {
    let t = TestContext::new();
    t.write("a.txt", "A");
    t.write("b.txt", "B");
    t.write("dir/x.conf", "X");
    t.write("dir/sub/y.conf", "Y");
    t.write("Dockerfile", "FROM scratch\nCOPY a.txt /file\nCOPY *.txt /globbed/\nCOPY dir /d\nCOPY a.txt dir/x.conf /multi/\nWORKDIR /w\nCOPY b.txt .\n");
    t.build("copy:1", &[]);
    assert_eq!(t.layer_count("copy:1"), 5);
    let l0 = t.layer("copy:1", 0);
    assert_eq!(l0["file"].data, b"A");
    assert_eq!((l0["file"].uid, l0["file"].gid), (0, 0));
    let l1 = t.layer("copy:1", 1);
    assert!(l1.contains_key("globbed/a.txt") && l1.contains_key("globbed/b.txt"), "{:?}", l1.keys());
    let l2 = t.layer("copy:1", 2);
    assert_eq!(l2["d/x.conf"].data, b"X", "a directory source copies its contents");
    assert_eq!(l2["d/sub/y.conf"].data, b"Y");
    assert!(!l2.contains_key("d/dir"));
    let l3 = t.layer("copy:1", 3);
    assert!(l3.contains_key("multi/a.txt") && l3.contains_key("multi/x.conf"));
    let l4 = t.layer("copy:1", 4);
    assert_eq!(l4["w/b.txt"].data, b"B", "relative destinations are under WORKDIR");
    assert_eq!(l4["w"].kind, 'd');
}

#[test]
fn copy_chown_chmod_and_modes() {
    let t = TestContext::new();
    t.import_busybox();
    let script = t.write("run.sh", "#!/bin/sh\n");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o750)).unwrap();
    t.write("Dockerfile", "FROM busybox:latest\nCOPY run.sh /keep/\nCOPY --chown=nobody:nogroup --chmod=640 run.sh /owned/\nCOPY --chown=42 run.sh /num/\n");
    t.build("own:1", &[]);
    let base_layers = 1;
    let keep = t.layer("own:1", base_layers);
    assert_eq!(keep["keep/run.sh"].mode, 0o750, "modes are kept");
    let owned = t.layer("own:1", base_layers + 1);
    assert_eq!(
        (owned["owned/run.sh"].uid, owned["owned/run.sh"].gid, owned["owned/run.sh"].mode),
        (65534, 65534, 0o640)
    );
    let num = t.layer("own:1", base_layers + 2);
    assert_eq!((num["num/run.sh"].uid, num["num/run.sh"].gid), (42, 42), "a lone uid is also the gid");
}

#[test]
fn destination_symlinks_resolve_inside_the_image() {
    let t = TestContext::new();
    t.import_busybox();
    t.write("tool", "T");
    // In the busybox image /usr/bin/env is a symlink to /bin/busybox; /bin is a real dir. Make a link dir.
    t.write("Dockerfile", "FROM busybox:latest\nCOPY tool /sbin/../opt/\n");
    t.build("dest:1", &[]);
    let l = t.layer("dest:1", 1);
    assert_eq!(l["opt/tool"].data, b"T");
}

#[test]
fn multi_stage_copy_from_and_target() {
    let t = TestContext::new();
    t.write("src.txt", "source");
    t.write("Dockerfile", "ARG SRC=build\nFROM scratch AS build\nCOPY src.txt /out/artifact\nLABEL stage=build\n\nFROM scratch AS unused\nCOPY missing-file /x\n\nFROM scratch\nCOPY --from=${SRC} /out/artifact /app/artifact\nCOPY --from=0 /out /app2\n");
    t.build("ms:1", &[]);
    assert_eq!(t.layer_count("ms:1"), 2, "only the final stage's layers, and the unused stage was never built");
    assert_eq!(t.layer("ms:1", 0)["app/artifact"].data, b"source");
    assert_eq!(t.layer("ms:1", 1)["app2/artifact"].data, b"source");
    assert!(t.config("ms:1")["config"]["Labels"].is_null());
    t.build("ms:build", &["--target", "build"]);
    assert_eq!(t.config("ms:build")["config"]["Labels"], json!({"stage": "build"}));
}

#[test]
fn args_scope_and_build_arg_overrides() {
    let t = TestContext::new();
    t.write("Dockerfile", "ARG NAME=base\nARG TAG\nFROM scratch AS base\nARG NAME\nARG LOCAL=default\nENV SEEN=${NAME}:${LOCAL}:${TAG:-unset}\n");
    t.build("args:1", &[]);
    assert_eq!(t.config("args:1")["config"]["Env"][1], "SEEN=base:default:unset");
    t.build("args:2", &["--build-arg", "NAME=over", "--build-arg", "LOCAL=given", "--build-arg", "TAG=t"]);
    assert_eq!(t.config("args:2")["config"]["Env"][1], "SEEN=over:given:unset", "TAG was not re-declared in the stage");
    let out = t.rbuild().args(["build", "-t", "args:3", "--build-arg", "NOPE=1"]).arg(t.ctx()).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("[NOPE] were not consumed"));
}

#[test]
fn dockerignore_hides_files_from_copy() {
    let t = TestContext::new();
    t.write("keep.txt", "k");
    t.write("secret.key", "s");
    t.write("logs/a.log", "l");
    t.write("logs/important.log", "i");
    t.write(".dockerignore", "*.key\nlogs\n!logs/important.log\n");
    t.write("Dockerfile", "FROM scratch\nCOPY . /ctx/\n");
    t.build("ign:1", &[]);
    let l = t.layer("ign:1", 0);
    assert!(l.contains_key("ctx/keep.txt"));
    assert!(l.contains_key("ctx/logs/important.log"));
    assert!(!l.contains_key("ctx/secret.key"));
    assert!(!l.contains_key("ctx/logs/a.log"));
    t.write("Dockerfile", "FROM scratch\nCOPY secret.key /\n");
    t.rbuild()
        .args(["build", "-t", "ign:2"])
        .arg(t.ctx())
        .assert()
        .code(1)
        .stderr(predicate::str::contains("excluded by .dockerignore"));
}

#[test]
fn source_date_epoch_gives_identical_digests() {
    let t = TestContext::new();
    t.write("f.txt", "same");
    t.write("Dockerfile", "FROM scratch\nCOPY f.txt /\nENV X=1\n");
    let a = t.build("repro:a", &["--build-arg", "SOURCE_DATE_EPOCH=1700000000"]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    // Touch the file: a new mtime must not change the digest once clamped.
    std::fs::write(t.ctx().join("f.txt"), "same").unwrap();
    let out = t
        .rbuild()
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .args(["build", "-q", "--no-cache", "-t", "repro:b"])
        .arg(t.ctx())
        .output()
        .unwrap();
    assert!(out.status.success());
    let b = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert_eq!(a, b, "image IDs differ");
    assert_eq!(t.manifest("repro:a"), t.manifest("repro:b"));
    assert_eq!(t.config("repro:a")["created"], "2023-11-14T22:13:20Z");
}

#[test]
fn add_unpacks_local_tar_archives() {
    let t = TestContext::new();
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default()));
    let mut h = tar::Header::new_gnu();
    h.set_size(5);
    h.set_mode(0o600);
    h.set_cksum();
    builder.append_data(&mut h, "inner/file.txt", &b"inner"[..]).unwrap();
    let gz = builder.into_inner().unwrap().finish().unwrap();
    std::fs::write(t.ctx().join("bundle.tar.gz"), gz).unwrap();
    t.write("Dockerfile", "FROM scratch\nADD bundle.tar.gz /opt/\nCOPY bundle.tar.gz /raw/\n");
    t.build("add:1", &[]);
    let l = t.layer("add:1", 0);
    assert_eq!(l["opt/inner/file.txt"].data, b"inner");
    assert_eq!(l["opt/inner/file.txt"].mode, 0o600);
    assert!(t.layer("add:1", 1).contains_key("raw/bundle.tar.gz"), "COPY does not unpack");
}

#[test]
fn add_unpacks_bzip2_and_xz_archives_like_docker() {
    // Made with the system's tar, bzip2 and xz (xz-utils, bzip2): independent of rbuild's own code.
    let t = TestContext::new();
    let src = t.dir.path().join("src");
    std::fs::create_dir_all(src.join("pkg")).unwrap();
    std::fs::write(src.join("pkg/data.txt"), "packed\n").unwrap();
    for (flag, name) in [("-j", "a.tar.bz2"), ("-J", "a.tar.xz")] {
        let st = std::process::Command::new("tar")
            .arg(flag)
            .arg("-cf")
            .arg(t.ctx().join(name))
            .arg("-C")
            .arg(&src)
            .arg("pkg")
            .status()
            .expect("tar is required");
        assert!(st.success(), "tar {flag} failed: install bzip2 and xz-utils");
    }
    t.write("Dockerfile", "FROM scratch\nADD a.tar.bz2 /bz/\nADD a.tar.xz /xz/\n");
    t.build("addx:1", &[]);
    assert_eq!(t.layer("addx:1", 0)["bz/pkg/data.txt"].data, b"packed\n");
    assert_eq!(t.layer("addx:1", 1)["xz/pkg/data.txt"].data, b"packed\n");
}

#[test]
fn heredoc_copy_creates_files() {
    let t = TestContext::new();
    t.write("Dockerfile", "FROM scratch\nARG WHO=world\nCOPY <<EOF /greeting.txt\nhello $WHO\nEOF\nCOPY <<'RAW' /raw.txt\nhello $WHO\nRAW\n");
    t.build("here:1", &[]);
    assert_eq!(t.layer("here:1", 0)["greeting.txt"].data, b"hello world\n");
    assert_eq!(t.layer("here:1", 1)["raw.txt"].data, b"hello $WHO\n", "a quoted delimiter disables expansion");
}

#[test]
fn symlinks_in_the_context_are_copied_as_links_and_never_followed_out() {
    let t = TestContext::new();
    t.write("dir/real.txt", "r");
    std::os::unix::fs::symlink("/etc/passwd", t.ctx().join("dir/abs-link")).unwrap();
    std::os::unix::fs::symlink("../../outside", t.ctx().join("dir/up-link")).unwrap();
    t.write("Dockerfile", "FROM scratch\nCOPY dir /d/\n");
    t.build("links:1", &[]);
    let l = t.layer("links:1", 0);
    assert_eq!(l["d/abs-link"].kind, 'l');
    assert_eq!(l["d/abs-link"].link.as_deref(), Some("/etc/passwd"));
    assert_eq!(l["d/up-link"].link.as_deref(), Some("../../outside"));
    t.write("Dockerfile", "FROM scratch\nCOPY dir/up-link /x\n");
    t.rbuild()
        .args(["build", "-t", "links:2"])
        .arg(t.ctx())
        .assert()
        .code(1)
        .stderr(predicate::str::contains("outside the build context"));
}

#[test]
fn entrypoint_resets_an_inherited_cmd_and_onbuild_triggers_run_in_children() {
    let t = TestContext::new();
    t.write("trigger.txt", "t");
    t.write("Dockerfile", "FROM scratch\nCMD [\"base-cmd\"]\nONBUILD COPY trigger.txt /from-trigger\n");
    t.build("parent:1", &[]);
    t.write("Dockerfile", "FROM parent:1\nENTRYPOINT [\"/e\"]\n");
    t.build("child:1", &[]);
    let c = t.config("child:1");
    assert!(c["config"]["Cmd"].is_null(), "CMD from the base is reset by ENTRYPOINT: {c}");
    assert!(c["config"]["OnBuild"].is_null(), "triggers are consumed");
    assert_eq!(t.layer("child:1", 0)["from-trigger"].data, b"t");
}

#[test]
fn zstd_compression_uses_the_oci_zstd_media_type() {
    let t = TestContext::new();
    t.write("f", "z");
    t.write("Dockerfile", "FROM scratch\nCOPY f /\n");
    t.build("z:1", &["--compression", "zstd"]);
    assert_eq!(t.manifest("z:1")["layers"][0]["mediaType"], "application/vnd.oci.image.layer.v1.tar+zstd");
    assert_eq!(t.layer("z:1", 0)["f"].data, b"z");
}

#[test]
fn iidfile_and_bare_invocation() {
    let t = TestContext::new();
    t.write("Dockerfile", "FROM scratch\nENV A=1\n");
    let iid = t.dir.path().join("iid");
    t.rbuild().arg("-t").arg("bare:1").arg("--iidfile").arg(&iid).arg(t.ctx()).assert().success();
    let id = std::fs::read_to_string(&iid).unwrap();
    let m = t.manifest("bare:1");
    assert_eq!(id, m["config"]["digest"].as_str().unwrap());
}

/// Every bad input fails clearly and leaves index.json byte-identical.
#[test]
fn bad_input_gives_clear_errors_and_leaves_the_store_as_it_was() {
    let t = TestContext::new();
    t.write("ok.txt", "ok");
    t.write("Dockerfile", "FROM scratch\nCOPY ok.txt /\n");
    t.build("good:1", &[]);
    let before = std::fs::read(t.root().join("oci/index.json")).unwrap();
    let cases: &[(&str, &[&str], i32, &[&str])] = &[
        ("FROM scratch\nENV\n", &[], 1, &["Dockerfile:2:1:", "ENV"]),
        (
            "FROM scratch\nCOPY missing.txt /\n",
            &[],
            1,
            &["Dockerfile:2:1:", "missing.txt", "not found in the build context", "COPY missing.txt /"],
        ),
        ("FROM scratch\nCOPY ../secret /\n", &[], 1, &["Dockerfile:2:1:", "outside the build context"]),
        // --pull=never: a missing image must not send the test to Docker Hub.
        ("FROM nosuch/image:1\n", &["--pull=never"], 1, &["Dockerfile:1:1:", "nosuch/image:1", "not found"]),
        ("FROM scratch\n", &["--build-arg", "=oops"], 2, &["malformed --build-arg"]),
        ("FROM scratch\nBOGUS x\n", &[], 1, &["Dockerfile:2:1:", "unknown instruction: BOGUS"]),
        // The column is the flag's.
        ("FROM scratch\nCOPY --nope=1 ok.txt /\n", &[], 1, &["Dockerfile:2:6:", "unknown flag"]),
        ("FROM scratch\n", &["--target", "nope"], 1, &["target stage \"nope\" could not be found"]),
    ];
    for (dockerfile, args, code, needles) in cases {
        t.write("Dockerfile", dockerfile);
        let out = t.rbuild().args(["build", "-t", "good:1"]).args(*args).arg(t.ctx()).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(*code), "{dockerfile:?}: {stderr}");
        for n in *needles {
            assert!(stderr.contains(n), "{dockerfile:?}: {n:?} not in:\n{stderr}");
        }
        assert!(stderr.lines().any(|l| l.starts_with("error: ")), "{stderr}");
        assert_eq!(std::fs::read(t.root().join("oci/index.json")).unwrap(), before, "{dockerfile:?} changed the store");
    }
}

#[test]
fn work_dirs_of_killed_builds_are_cleaned_up_by_the_next_build() {
    let t = TestContext::new();
    t.write("Dockerfile", "FROM scratch\nENV A=1\n");
    t.build("clean:1", &[]);
    // A build killed with SIGKILL leaves its work dir; pid 0x3ffffe is never a live process here.
    let stale = t.root().join("tmp/build-4194302-abc");
    std::fs::create_dir_all(stale.join("upper-1")).unwrap();
    let mine = t.root().join(format!("tmp/build-{}-keep", std::process::id()));
    std::fs::create_dir_all(&mine).unwrap();
    t.build("clean:2", &[]);
    assert!(!stale.exists(), "a dead build's work dir is removed");
    assert!(mine.exists(), "a live process's work dir is left alone");
    let leftovers: Vec<_> = std::fs::read_dir(t.root().join("tmp"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("build-") && !n.ends_with("-keep"))
        .collect();
    assert!(leftovers.is_empty(), "finished builds clean up after themselves: {leftovers:?}");
}

#[test]
fn progress_json_gives_one_event_per_line() {
    let t = TestContext::new();
    t.write("f", "x");
    t.write("Dockerfile", "FROM scratch\nCOPY f /f\nENV A=1\n");
    let out = t.rbuild().args(["build", "--progress", "json", "-t", "json:1"]).arg(t.ctx()).output().unwrap();
    assert!(out.status.success());
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect();
    let kinds: Vec<&str> = events.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["step", "done", "step", "phase", "done", "step", "done", "image"], "{events:?}");
    assert_eq!(events[2]["instruction"], "COPY f /f");
    assert_eq!(events[2]["index"], 2);
    assert_eq!(events[7]["tags"], serde_json::json!(["json:1"]));
    // A rebuild reports the COPY as cached.
    let out = t.rbuild().args(["build", "--progress", "json", "-t", "json:1"]).arg(t.ctx()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.lines().any(|l| l.contains(r#""event":"cached""#) && l.contains("COPY f /f")), "{stderr}");
}

#[test]
fn progress_on_a_terminal_is_a_live_view_and_plain_elsewhere() {
    let t = TestContext::new();
    t.write("f", "x");
    t.write("Dockerfile", "FROM scratch\nCOPY f /f\n");
    // `script` (util-linux) gives rbuild a pseudo-terminal as stderr.
    let cmd = format!(
        "RBUILD_ROOT={} {} build --no-cache -t tty:1 {}",
        t.root().display(),
        assert_cmd::cargo::cargo_bin("rbuild").display(),
        t.ctx().display()
    );
    let out = std::process::Command::new("script")
        .args(["-qfec", &cmd, "/dev/null"])
        .env_remove("CI")
        .output()
        .expect("script (util-linux) is required");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(screen.contains("\x1b[2K"), "the live view redraws its line: {screen:?}");
    assert!(screen.contains("#[stage-0 2/2] COPY f /f DONE"), "{screen:?}");
    // Not a terminal: plain lines only, no escape sequences.
    let out = t.rbuild().args(["build", "--no-cache", "-t", "tty:2"]).arg(t.ctx()).output().unwrap();
    assert!(!String::from_utf8_lossy(&out.stderr).contains('\x1b'));
}

#[test]
fn prune_removes_dangling_images_and_their_blobs_only() {
    let t = TestContext::new();
    t.write("f", "one");
    t.write("Dockerfile", "FROM scratch\nCOPY f /f\n");
    t.build("p:1", &[]);
    let old_layer = t.manifest("p:1")["layers"][0]["digest"].as_str().unwrap().to_string();
    t.write("f", "two");
    t.build("p:1", &[]);
    t.build("keep:1", &[]);
    let images = t.rbuild().arg("images").output().unwrap();
    assert!(String::from_utf8_lossy(&images.stdout).contains("<none>"), "retagging left a dangling image");
    let out = t.rbuild().arg("prune").output().unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("1 dangling image(s) removed"), "{stdout}");
    // The old layer is build cache (its step record keeps it, as BuildKit's cache keeps it through
    // `docker image prune`) until `builder prune` drops the records no image uses.
    let old_blob = t.root().join("oci/blobs/sha256").join(old_layer.trim_start_matches("sha256:"));
    assert!(old_blob.exists());
    t.rbuild().args(["builder", "prune", "-f"]).assert().success();
    assert!(!old_blob.exists());
    let images = t.rbuild().arg("images").output().unwrap();
    assert!(!String::from_utf8_lossy(&images.stdout).contains("<none>"));
    assert_eq!(t.layer("p:1", 0)["f"].data, b"two", "named images keep their blobs");
    assert_eq!(t.layer("keep:1", 0)["f"].data, b"two");
    let again = t.rbuild().arg("prune").output().unwrap();
    assert!(String::from_utf8_lossy(&again.stdout).contains("0 dangling image(s) removed, 0 blob(s) deleted"));
}

#[test]
fn copy_without_root_says_what_is_needed() {
    let t = TestContext::new();
    t.write("f", "x");
    t.write("Dockerfile", "FROM scratch\nCOPY f /f\n");
    let status = std::process::Command::new("chmod").args(["-R", "a+rwX"]).arg(t.dir.path()).status().unwrap();
    assert!(status.success());
    let rbuild = assert_cmd::cargo::cargo_bin("rbuild");
    // As root, drop to nobody with setpriv (util-linux); as anyone else, run as is.
    let mut cmd = if nix::unistd::geteuid().is_root() {
        let mut c = std::process::Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"]).arg(&rbuild);
        c
    } else {
        std::process::Command::new(&rbuild)
    };
    let out = cmd
        .env("RBUILD_ROOT", t.root())
        .env("HOME", t.dir.path())
        .args(["build", "-t", "nr:1"])
        .arg(t.ctx())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Dockerfile:2:1:") && stderr.contains("run rbuild as root"), "{stderr}");
}

/// A one-file HTTP server on 127.0.0.1 for ADD tests: answers `/tool.txt` with `body` (and a
/// Last-Modified header), anything else with 404; serves at most `requests` connections, then stops.
fn serve(body: &'static str, requests: usize) -> (u16, std::thread::JoinHandle<()>) {
    use std::io::{BufRead, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        for stream in listener.incoming().take(requests) {
            let Ok(mut stream) = stream else { continue };
            let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            reader.read_line(&mut request).unwrap();
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap() > 2 {
                line.clear();
            }
            let reply = if request.starts_with("GET /tool.txt ") {
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nLast-Modified: Tue, 14 Nov 2023 22:13:20 GMT\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
            } else {
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string()
            };
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    (port, handle)
}

#[test]
fn add_downloads_urls_with_mode_0600_and_last_modified() {
    let t = TestContext::new();
    let (port, server) = serve("tool v1\n", 4);
    let sum = format!("{:x}", <sha2::Sha256 as sha2::Digest>::digest(b"tool v1\n"));
    t.write(
        "Dockerfile",
        &format!(
            "FROM scratch\nADD http://127.0.0.1:{port}/tool.txt /opt/\nADD --checksum=sha256:{sum} http://127.0.0.1:{port}/tool.txt /named\n"
        ),
    );
    t.build("url:1", &[]);
    let l = t.layer("url:1", 0);
    let f = &l["opt/tool.txt"];
    assert_eq!((f.data.as_slice(), f.mode, f.mtime), (&b"tool v1\n"[..], 0o600, 1_700_000_000));
    assert_eq!(t.layer("url:1", 1)["named"].data, b"tool v1\n");

    t.write(
        "Dockerfile",
        &format!("FROM scratch\nADD --checksum=sha256:{} http://127.0.0.1:{port}/tool.txt /x\n", "0".repeat(64)),
    );
    let out = t.rbuild().args(["build", "-t", "url:2"]).arg(t.ctx()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("checksum mismatch") && stderr.contains("Dockerfile:2:1:"),
        "{stderr}"
    );

    t.write("Dockerfile", &format!("FROM scratch\nADD http://127.0.0.1:{port}/missing.txt /x\n"));
    let out = t.rbuild().args(["build", "-t", "url:3"]).arg(t.ctx()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("404"), "{stderr}");
    server.join().unwrap();
}
