//! `rbuild push --format oci|docker` (issue 8, item 4): the manifest converted to docker v2 schema 2 (or
//! back to OCI) over the same blobs, read back by skopeo and pulled again; zstd layers cannot be v2s2.
//! Also `build -o type=registry` and `-o type=image,push=true` (issue 8, item 5).

mod common;
#[path = "registry/mod.rs"]
mod reg;

use common::TestContext;
use reg::{image_id, ok, out, rb, Options, Registry};

const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

fn scratch(t: &TestContext, tag: &str, extra: &[&str]) {
    t.write("Dockerfile", "FROM scratch\nCOPY a.txt /\nENV K=v\n");
    t.write("a.txt", "alpha");
    t.build(tag, extra);
}

fn push(t: &TestContext, args: &[&str]) -> (i32, String, String) {
    let mut c = rb(t);
    c.arg("push").args(args);
    out(c)
}

#[test]
fn push_format_docker_writes_v2s2_that_pulls_back_as_the_same_image() {
    let registry = Registry::start(Options::default());
    let t = TestContext::new();
    // gzip in the store, so the pushed layer is the stored blob (plain layers are compressed on push).
    scratch(&t, "app:1", &["--compression", "gzip"]);
    let dest = format!("{}/team/app:v2s2", registry.host);
    let (code, stdout, stderr) = push(&t, &["--format", "docker", "app:1", &dest]);
    assert_eq!(code, 0, "{stderr}");
    let raw = registry.skopeo_inspect("team/app:v2s2", &["--raw"]);
    assert_eq!(raw["mediaType"], DOCKER_MANIFEST, "{raw}");
    assert_eq!(raw["config"]["mediaType"], "application/vnd.docker.container.image.v1+json");
    assert_eq!(raw["layers"][0]["mediaType"], "application/vnd.docker.image.rootfs.diff.tar.gzip");
    let stored = t.manifest("app:1");
    assert_eq!(raw["layers"][0]["digest"], stored["layers"][0]["digest"], "same layer blob");
    let inspected = registry.skopeo_inspect("team/app:v2s2", &[]);
    assert_eq!(stdout.trim(), inspected["Digest"].as_str().unwrap(), "the printed digest is the registry's");

    let fresh = TestContext::new();
    let mut c = rb(&fresh);
    c.args(["pull", &dest]);
    ok(c);
    assert_eq!(fresh.manifest(&dest)["mediaType"], DOCKER_MANIFEST);
    assert_eq!(image_id(&fresh, &dest), image_id(&t, "app:1"), "the same image ID through v2s2");

    // And back: a stored v2s2 image pushed as OCI.
    let oci = format!("{}/team/app:oci", registry.host);
    let (code, _, stderr) = push(&fresh, &["--format", "oci", &dest, &oci]);
    assert_eq!(code, 0, "{stderr}");
    let raw = registry.skopeo_inspect("team/app:oci", &["--raw"]);
    assert_eq!(raw["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    assert_eq!(raw["layers"][0]["mediaType"], "application/vnd.oci.image.layer.v1.tar+gzip");
}

#[test]
fn push_format_docker_of_zstd_layers_is_a_clear_error_and_pushes_nothing() {
    let registry = Registry::start(Options::default());
    let t = TestContext::new();
    scratch(&t, "z:1", &["--compression", "zstd"]);
    let dest = format!("{}/team/z:1", registry.host);
    let (code, _, stderr) = push(&t, &["--format", "docker", "z:1", &dest]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("zstd") && stderr.contains("--format oci"), "{stderr}");
    assert!(!registry.dir.path().join("data/docker/registry/v2/repositories/team/z").exists(), "nothing was pushed");
    // As OCI it goes.
    let (code, _, stderr) = push(&t, &["--format", "oci", "z:1", &dest]);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn output_type_registry_and_image_push_true_push_every_name() {
    let registry = Registry::start(Options::default());
    let t = TestContext::new();
    t.write("Dockerfile", "FROM scratch\nCOPY a.txt /\n");
    t.write("a.txt", "alpha");
    let first = format!("{}/out/reg:1", registry.host);
    let second = format!("{}/out/img:2", registry.host);
    for (args, pushed) in [
        (vec!["-t", first.as_str(), "-o", "type=registry"], &first),
        (vec!["-o", &format!("type=image,name={second},push=true")], &second),
    ] {
        let mut c = rb(&t);
        c.arg("build").args(&args).arg(t.ctx());
        let (code, _, stderr) = out(c);
        assert_eq!(code, 0, "{args:?}: {stderr}");
        let repo_tag = pushed.split_once('/').unwrap().1;
        // The store's image (its config; the layers are gzipped on the way, so the manifest is new).
        let config = registry.skopeo_inspect(repo_tag, &["--config", "--raw"]);
        assert_eq!(config, t.config(pushed), "{args:?}: the store's image was pushed");
    }
}
