//! `build -o/--output` end to end (issue 8, item 5), each output read by an independent tool: skopeo for
//! OCI archives and layouts, umoci and `rbuild export` for the flattened rootfs, a real dockerd's
//! `docker load` for docker archives (and for `rbuild save --format docker`, issue 9).

mod common;

use common::rootfs::{assert_same_files, tar_rootfs, umoci_unpack, walk_rootfs, WHITEOUT_DOCKERFILE};
use common::TestContext;
use serde_json::Value;
use std::path::Path;
use std::process::Output;

fn run(t: &TestContext, args: &[&str]) -> Output {
    t.rbuild().args(args).output().unwrap()
}

fn ok(t: &TestContext, args: &[&str]) -> Vec<u8> {
    let out = run(t, args);
    assert!(
        out.status.success(),
        "rbuild {args:?} failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `rbuild build ARGS ctx`, asserted to succeed; its stdout.
fn build(t: &TestContext, args: &[&str]) -> Vec<u8> {
    let mut all: Vec<&str> = vec!["build"];
    all.extend(args);
    let ctx = t.ctx();
    all.push(ctx.to_str().unwrap());
    ok(t, &all)
}

fn path(t: &TestContext, name: &str) -> String {
    t.dir.path().join(name).to_str().unwrap().to_string()
}

/// A scratch image of two COPY layers (no RUN: no root needed).
fn scratch() -> TestContext {
    let t = TestContext::new();
    t.write("Dockerfile", "FROM scratch\nENV A=1\nCOPY f /f\nCOPY d /d\n");
    t.write("f", "one");
    t.write("d/g", "two");
    t
}

fn manifest_digest(t: &TestContext, name: &str) -> String {
    let index = t.index();
    let entry = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == name);
    entry.unwrap_or_else(|| panic!("{name} not in {index}"))["digest"].as_str().unwrap().to_string()
}

fn skopeo_inspect(target: &str) -> Value {
    let out = std::process::Command::new("skopeo")
        .args(["inspect", target])
        .output()
        .expect("skopeo is installed (apt-get install skopeo)");
    assert!(out.status.success(), "skopeo inspect {target}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn oci_output_is_an_archive_and_a_layout_skopeo_reads() {
    let t = scratch();
    let archive = path(&t, "o.tar");
    build(&t, &["-q", "-t", "out:1", "-o", &format!("type=oci,dest={archive}")]);
    let stored = manifest_digest(&t, "out:1");
    let theirs = skopeo_inspect(&format!("oci-archive:{archive}:out:1"));
    assert!(theirs["Env"].as_array().unwrap().iter().any(|e| e == "A=1"), "{theirs}");
    // The store keeps plain tars; the archive gets them gzipped, as BuildKit writes it: a manifest of its
    // own over the store's config.
    let want = theirs["Digest"].as_str().unwrap().to_string();
    assert_ne!(want, stored);
    let files = common::read_tar(&std::fs::read(&archive).unwrap());
    let raw: Value = serde_json::from_slice(&files[&format!("blobs/sha256/{}", &want[7..])].data).unwrap();
    let local = t.manifest("out:1");
    assert_eq!(raw["config"], local["config"], "the store's config");
    for (l, plain) in raw["layers"].as_array().unwrap().iter().zip(local["layers"].as_array().unwrap()) {
        assert_eq!(plain["mediaType"], "application/vnd.oci.image.layer.v1.tar");
        assert_eq!(l["mediaType"], "application/vnd.oci.image.layer.v1.tar+gzip", "{raw}");
    }
    // tar=false: an OCI layout directory; name= names it there.
    let layout = path(&t, "layout");
    build(&t, &["-q", "-o", &format!("type=oci,dest={layout},tar=false,name=other:2")]);
    let theirs = skopeo_inspect(&format!("oci:{layout}:other:2"));
    assert_eq!(theirs["Digest"], want.as_str(), "the gzip blobs of the first output are reused");
    // A layout is never merged into a directory that has something in it: refused before building.
    let out = run(
        &t,
        &["build", "--no-cache", "-o", &format!("type=oci,dest={layout},tar=false"), t.ctx().to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is not empty") && !stderr.contains("COPY"), "{stderr}");
}

#[test]
fn image_output_names_and_tags_in_the_store() {
    let t = scratch();
    build(&t, &["-q", "-t", "a:1", "-o", "type=image,\"name=b:2,c:3\""]);
    let digest = manifest_digest(&t, "a:1");
    assert_eq!(manifest_digest(&t, "b:2"), digest);
    assert_eq!(manifest_digest(&t, "c:3"), digest);
}

#[test]
fn bad_output_values_are_usage_errors_naming_the_key() {
    let t = scratch();
    for (spec, says) in [
        ("type=zip,dest=x", "unknown type \"zip\""),
        ("type=oci,dset=x", "no key \"dset\""),
        ("type=tar,name=a", "no key \"name\""),
        ("type=image,push=maybe", "push=\"maybe\""),
        ("type=oci,tar=false", "tar=\"false\""),
        ("type=local", "needs dest=DIR"),
        ("type=oci,dest=x,junk", "\"junk\" is not KEY=VALUE"),
    ] {
        let out = run(&t, &["build", "-o", spec, t.ctx().to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{spec}: {stderr}");
        assert!(stderr.contains(says), "{spec}: {stderr}");
    }
    let out = run(&t, &["build", "--push", "-t", "x:1", "-o", "type=tar,dest=x.tar", t.ctx().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        !t.root().join("oci/index.json").exists() || t.index()["manifests"].as_array().unwrap().is_empty(),
        "nothing built"
    );
}

#[test]
fn local_and_tar_outputs_equal_export_and_umoci_unpack() {
    common::require_root();
    let t = TestContext::new();
    t.import_busybox();
    t.write("Dockerfile", WHITEOUT_DOCKERFILE);
    let tar = path(&t, "rootfs.tar");
    build(&t, &["-q", "-t", "exp:1", "-o", &format!("type=tar,dest={tar}")]);
    let exported = ok(&t, &["export", "exp:1"]);
    assert_eq!(std::fs::read(&tar).unwrap(), exported, "type=tar is what rbuild export writes");
    let theirs = umoci_unpack(&format!("{}/oci:exp:1", t.root().display()), &t.dir.path().join("bundle"));
    assert_same_files(&tar_rootfs(&exported), &theirs, "type=tar (left) vs umoci unpack (right)");
    // type=local into a directory that has files: those of the image replace theirs, the rest stay.
    let dir = t.dir.path().join("out");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("keep"), "old").unwrap();
    std::fs::write(dir.join("mine"), "stays").unwrap();
    build(&t, &["-q", "-o", dir.to_str().unwrap()]);
    assert_eq!(std::fs::read(dir.join("mine")).unwrap(), b"stays");
    std::fs::remove_file(dir.join("mine")).unwrap();
    assert_eq!(std::fs::read(dir.join("keep")).unwrap(), b"keep\n");
    assert_same_files(&walk_rootfs(&dir), &theirs, "type=local (left) vs umoci unpack (right)");
    assert!(std::fs::read_dir(t.dir.path())
        .unwrap()
        .flatten()
        .all(|e| !e.file_name().to_string_lossy().starts_with(".rbuild")));
}

#[test]
fn dash_writes_the_rootfs_tar_to_a_pipe_and_progress_to_stderr() {
    let t = scratch();
    build(&t, &["-q", "-t", "s:1"]);
    let exported = ok(&t, &["export", "s:1"]);
    // assert_cmd hands the child a pipe for stdout, as `rbuild -o - . | tar x` does.
    let out = run(&t, &["build", "-t", "s:1", "-o", "-", t.ctx().to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, exported, "stdout holds the tar and nothing else");
    assert!(String::from_utf8_lossy(&out.stderr).contains("COPY f /f"), "progress went to stderr");
    // -q prints the image ID on stdout, except when stdout is the output.
    let out = run(&t, &["build", "-q", "-o", "type=oci,dest=-", t.ctx().to_str().unwrap()]);
    assert!(out.status.success());
    let entries = common::read_tar(&out.stdout);
    assert!(entries.contains_key("index.json") && entries.contains_key("oci-layout"), "{:?}", entries.keys());
}

/// A real dockerd, started by the shared script (idempotent) and stopped again if this test started it.
struct Dockerd {
    started: bool,
}

const SOCK: &str = "unix:///var/run/docker.sock";

fn bench(script: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/bench").join(script)
}

impl Dockerd {
    fn start() -> Dockerd {
        let running = docker(&["version"]).status.success();
        if !running {
            let out = std::process::Command::new(bench("start-dockerd.sh")).output();
            let out = out.unwrap_or_else(|e| panic!("cannot run {}: {e}", bench("start-dockerd.sh").display()));
            assert!(
                out.status.success(),
                "dockerd did not start (apt-get install docker.io; scripts/deps.sh does): {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Dockerd { started: !running }
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        if self.started {
            let _ = std::process::Command::new(bench("stop-dockerd.sh")).output();
        }
    }
}

fn docker(args: &[&str]) -> Output {
    std::process::Command::new("docker")
        .args(["-H", SOCK])
        .args(args)
        .output()
        .expect("the docker client is installed (apt-get install docker.io)")
}

/// `docker load -i FILE`, then the loaded image's ID as docker reports it; the image is removed again.
fn docker_load_id(file: &str, name: &str) -> String {
    let out = docker(&["load", "-i", file]);
    assert!(out.status.success(), "docker load {file}: {}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("Loaded image: {name}")), "{out:?}");
    let out = docker(&["image", "inspect", "--format", "{{.Id}}", name]);
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let _ = docker(&["rmi", "-f", name]);
    id
}

#[test]
fn docker_output_and_save_format_docker_load_into_a_real_dockerd() {
    common::require_root();
    let _dockerd = Dockerd::start();
    let t = scratch();
    let file = path(&t, "d.tar");
    let id =
        String::from_utf8(build(&t, &["-q", "-t", "rbuild-output-test:1", "-o", &format!("type=docker,dest={file}")]))
            .unwrap();
    assert_eq!(docker_load_id(&file, "rbuild-output-test:1"), id.trim(), "docker has the same image ID");
    let saved = path(&t, "saved.tar");
    ok(&t, &["tag", "rbuild-output-test:1", "rbuild-save-test:2"]);
    ok(&t, &["save", "--format", "docker", "-o", &saved, "rbuild-save-test:2"]);
    assert_eq!(docker_load_id(&saved, "rbuild-save-test:2"), id.trim());
}
