//! Registry end-to-end tests: the real `rbuild` against Debian's `docker-registry` on 127.0.0.1, with
//! skopeo as the independent client that puts images in and reads rbuild's pushes back. Pull, push,
//! platforms and broken transfers here; authentication in `registry_auth.rs`.

mod common;
#[path = "registry/mod.rs"]
mod reg;

use common::TestContext;
use reg::{busybox_source, image_id, ok, out, rb, sha, store_state, Options, Registry};
use serde_json::{json, Value};
use std::path::PathBuf;

#[test]
fn skopeo_pushed_oci_and_v2s2_images_pull_byte_for_byte_and_serve_as_from() {
    let src = TestContext::new();
    let registry = Registry::start(Options::default());
    let source = busybox_source(&src);
    registry.skopeo_copy(&source, "lib/bb:oci", &[]);
    registry.skopeo_copy(&source, "lib/bb:v2s2", &["--format", "v2s2"]);

    let t = TestContext::new();
    for tag in ["oci", "v2s2"] {
        let name = format!("{}/lib/bb:{tag}", registry.host);
        let mut c = rb(&t);
        c.args(["pull", &name]);
        let stdout = ok(c);
        assert_eq!(stdout.trim(), name);
        // The manifest is stored as the registry serves it: same digest, same media type.
        let raw = registry.skopeo_inspect(&format!("lib/bb:{tag}"), &["--raw"]);
        let m = t.manifest(&name);
        assert_eq!(m, raw, "{tag}: stored manifest differs from the registry's");
        let want = if tag == "v2s2" {
            "application/vnd.docker.distribution.manifest.v2+json"
        } else {
            "application/vnd.oci.image.manifest.v1+json"
        };
        assert_eq!(m["mediaType"], want);
        let entry = t.index()["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["annotations"]["org.opencontainers.image.ref.name"] == name.as_str())
            .unwrap()
            .clone();
        let inspected = registry.skopeo_inspect(&format!("lib/bb:{tag}"), &[]);
        assert_eq!(entry["digest"], inspected["Digest"], "{tag}: manifest digest differs from skopeo's");
        assert_eq!(entry["mediaType"], want);
    }
    // Same config, same image ID, whichever format carried it.
    let id = image_id(&src, "busybox:latest");
    assert_eq!(image_id(&t, &format!("{}/lib/bb:oci", registry.host)), id);
    assert_eq!(image_id(&t, &format!("{}/lib/bb:v2s2", registry.host)), id);

    // A pulled v2s2 image is an ordinary base: its layer is reused under a COPY layer.
    t.write("hello.txt", "hi");
    t.write("Dockerfile", &format!("FROM {}/lib/bb:v2s2\nCOPY hello.txt /\n", registry.host));
    t.build("app:1", &["--pull=never"]);
    let base = t.manifest(&format!("{}/lib/bb:v2s2", registry.host));
    let app = t.manifest("app:1");
    assert_eq!(app["layers"][0]["digest"], base["layers"][0]["digest"]);
    assert!(t.layer("app:1", 1).contains_key("hello.txt"));
}

#[test]
fn from_and_copy_from_pull_missing_images_and_pull_never_refuses() {
    let src = TestContext::new();
    let registry = Registry::start(Options::default());
    registry.skopeo_copy(&busybox_source(&src), "base/bb:1", &[]);
    let name = format!("{}/base/bb:1", registry.host);

    let t = TestContext::new();
    t.write("Dockerfile", &format!("FROM {name}\nENV X=1\n"));
    let (code, _, stderr) = out({
        let mut c = rb(&t);
        c.args(["build", "--pull=never", "-t", "x:1"]).arg(t.ctx());
        c
    });
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("Dockerfile:1") && stderr.contains("rbuild pull"), "{stderr}");

    // Default --pull=missing: FROM pulls.
    let mut c = rb(&t);
    c.args(["build", "-t", "x:1"]).arg(t.ctx());
    ok(c);
    assert_eq!(t.manifest("x:1")["layers"], t.manifest(&name)["layers"]);

    // COPY --from an image in a registry (fresh store: pulled on demand).
    let u = TestContext::new();
    u.write("Dockerfile", &format!("FROM scratch\nCOPY --from={name} /bin/busybox /bb\n"));
    let mut c = rb(&u);
    c.args(["build", "-t", "y:1"]).arg(u.ctx());
    ok(c);
    assert!(u.layer("y:1", 0).contains_key("bb"));
}

/// A tiny one-layer arm64 image written by hand (no emulation, no internet), and an OCI layout holding
/// it and busybox under one index, for `skopeo copy --all`.
fn two_platform_layout(src: &TestContext) -> PathBuf {
    src.import_busybox();
    let dir = src.dir.path().join("multi");
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| -> (String, u64) {
        let d = sha(bytes);
        std::fs::write(blobs.join(&d[7..]), bytes).unwrap();
        (d, bytes.len() as u64)
    };
    let amd = src.manifest("busybox:latest");
    for d in std::iter::once(&amd["config"]).chain(amd["layers"].as_array().unwrap()) {
        put(&src.blob(d["digest"].as_str().unwrap()));
    }
    let (amd_digest, amd_size) = put(&serde_json::to_vec(&amd).unwrap());

    let mut tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(6);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_cksum();
    tar.append_data(&mut h, "arch", &b"arm64\n"[..]).unwrap();
    let tar = tar.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &tar).unwrap();
    let (layer, layer_size) = put(&gz.finish().unwrap());
    let config = json!({"architecture": "arm64", "variant": "v8", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [sha(&tar)]}});
    let (config, config_size) = put(&serde_json::to_vec(&config).unwrap());
    let arm = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer, "size": layer_size}]});
    let (arm_digest, arm_size) = put(&serde_json::to_vec(&arm).unwrap());
    let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
        {"mediaType": amd["mediaType"], "digest": amd_digest, "size": amd_size,
         "platform": {"os": "linux", "architecture": "amd64"}},
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": arm_digest, "size": arm_size,
         "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}}]});
    let (index_digest, index_size) = put(&serde_json::to_vec(&index).unwrap());
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let top = json!({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json",
        "digest": index_digest, "size": index_size, "annotations": {"org.opencontainers.image.ref.name": "multi"}}]});
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&top).unwrap()).unwrap();
    dir
}

#[test]
fn a_two_platform_index_is_selected_by_platform_and_a_missing_platform_lists_the_others() {
    let src = TestContext::new();
    let registry = Registry::start(Options::default());
    let layout = two_platform_layout(&src);
    registry.skopeo_copy(&format!("oci:{}:multi", layout.display()), "multi:1", &["--all"]);
    let name = format!("{}/multi:1", registry.host);

    let t = TestContext::new();
    let mut c = rb(&t);
    c.args(["pull", "--platform", "linux/arm64", &name]);
    ok(c);
    assert_eq!(t.config(&name)["architecture"], "arm64");
    assert_eq!(t.layer(&name, 0)["arch"].data, b"arm64\n");

    let u = TestContext::new();
    let mut c = rb(&u);
    c.args(["pull", &name]);
    ok(c);
    assert_eq!(image_id(&u, &name), image_id(&src, "busybox:latest"), "the host (amd64) entry by default");
    // FROM --platform picks the entry too.
    let v = TestContext::new();
    v.write("Dockerfile", &format!("FROM --platform=linux/arm64 {name}\nLABEL a=b\n"));
    let mut c = rb(&v);
    c.args(["build", "-t", "armlabel:1"]).arg(v.ctx());
    ok(c);
    assert_eq!(v.config("armlabel:1")["architecture"], "arm64");
    // RUN in an arm64 stage on this amd64 host with no binfmt_misc handler (an empty one, through the
    // test-only override): refused at the RUN line, not built as amd64 (tests/platforms.rs emulates).
    v.write("Dockerfile", &format!("FROM --platform=linux/arm64 {name}\nRUN true\n"));
    let binfmt = v.dir.path().join("binfmt");
    std::fs::create_dir_all(&binfmt).unwrap();
    std::fs::write(binfmt.join("status"), "enabled\n").unwrap();
    let before = store_state(&v.root());
    let (code, _, stderr) = out({
        let mut c = rb(&v);
        c.env("RBUILD_BINFMT_DIR", &binfmt).args(["build", "-t", "armrun:1"]).arg(v.ctx());
        c
    });
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("Dockerfile:2") && stderr.contains("linux/arm64") && stderr.contains("emulation"),
        "{stderr}"
    );
    assert_eq!(store_state(&v.root()), before);

    let w = TestContext::new();
    let mut c = rb(&w);
    c.arg("images");
    ok(c);
    let before = store_state(&w.root());
    let (code, _, stderr) = out({
        let mut c = rb(&w);
        c.args(["pull", "--platform", "linux/s390x", &name]);
        c
    });
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("linux/s390x") && stderr.contains("linux/amd64, linux/arm64/v8"), "{stderr}");
    assert_eq!(store_state(&w.root()), before);
}

/// Pull `reference` into a store holding one built image: the pull must fail (exit 1) and leave the store
/// exactly as it was. The store and the error text, for the caller's further checks.
fn failing_pull(reference: &str) -> (TestContext, String) {
    let t = TestContext::new();
    t.write("Dockerfile", "FROM scratch\nENV A=1\n");
    t.build("keep:1", &[]);
    let before = store_state(&t.root());
    let (code, _, stderr) = out({
        let mut c = rb(&t);
        c.args(["pull", reference]);
        c
    });
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(store_state(&t.root()), before, "a failed pull of {reference} changed the store");
    (t, stderr)
}

#[test]
fn a_tampered_blob_fails_with_a_digest_error_and_leaves_the_store_unchanged() {
    let src = TestContext::new();
    let registry = Registry::start(Options::default());
    registry.skopeo_copy(&busybox_source(&src), "t/bb:1", &[]);
    let layer = src.manifest("busybox:latest")["layers"][0]["digest"].as_str().unwrap().to_string();
    let data = registry.blob_data(&layer);
    let mut bytes = std::fs::read(&data).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&data, &bytes).unwrap();

    let (t, stderr) = failing_pull(&format!("{}/t/bb:1", registry.host));
    assert!(stderr.contains("digest mismatch") && stderr.contains(&layer), "{stderr}");
    let tmp: Vec<_> = std::fs::read_dir(t.root().join("tmp")).unwrap().flatten().collect();
    assert!(tmp.iter().all(|e| !e.file_name().to_string_lossy().starts_with("blob-")), "temp blob left: {tmp:?}");
}

#[test]
fn unknown_tags_and_a_registry_that_is_down_are_clear_errors() {
    let registry = Registry::start(Options::default());
    let t = TestContext::new();
    let (code, _, stderr) = out({
        let mut c = rb(&t);
        c.args(["pull", &format!("{}/nope/nothing:1", registry.host)]);
        c
    });
    assert_eq!(code, 1);
    assert!(stderr.contains("not found") && stderr.contains("nope/nothing:1"), "{stderr}");
    let host = registry.host.clone();
    drop(registry);
    let (code, _, stderr) = out({
        let mut c = rb(&t);
        c.args(["pull", &format!("{host}/x:1")]);
        c
    });
    assert_eq!(code, 1);
    assert!(stderr.contains(&format!("cannot reach registry {host}")), "{stderr}");
}

#[test]
fn build_push_gzips_plain_layers_once_then_pull_on_a_fresh_store_gives_the_pushed_digest_and_image_id() {
    let registry = Registry::start(Options::default());
    let t = TestContext::new();
    t.write("a.txt", "alpha");
    t.write("b/c.txt", "gamma");
    t.write(
        "Dockerfile",
        "FROM scratch\nCOPY a.txt /\nCOPY b /b\nENV GREETING=hello\nLABEL org.example=yes\nCMD [\"/a.txt\"]\n",
    );
    let name = format!("{}/team/app:1", registry.host);
    let digestfile = t.dir.path().join("digest");
    let mut c = rb(&t);
    c.args(["build", "--push", "-t", &name, "--digestfile"]).arg(&digestfile).arg(t.ctx());
    let (code, _, stderr) = out(c);
    assert_eq!(code, 0, "{stderr}");
    let pushed = std::fs::read_to_string(&digestfile).unwrap();
    // The store keeps plain tars (digest == diff_id), a valid OCI layout skopeo reads as it is; the
    // registry gets them gzipped, in a manifest of its own over the same config.
    let local = t.manifest(&name);
    let diff_ids = t.config(&name)["rootfs"]["diff_ids"].clone();
    for (i, l) in local["layers"].as_array().unwrap().iter().enumerate() {
        assert_eq!(l["mediaType"], "application/vnd.oci.image.layer.v1.tar", "{local}");
        assert_eq!(l["digest"], diff_ids[i], "a plain layer's digest is its diff_id");
    }
    let local_digest = t.index()["manifests"][0]["digest"].as_str().unwrap().to_string();
    let o = std::process::Command::new("skopeo")
        .args(["inspect", &format!("oci:{}/oci:{name}", t.root().display())])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let sk_local: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(sk_local["Digest"], local_digest.as_str(), "skopeo reads the store's layout");
    assert_ne!(pushed, local_digest, "the pushed manifest lists the gzip blobs");
    let raw = registry.skopeo_inspect("team/app:1", &["--raw"]);
    for l in raw["layers"].as_array().unwrap() {
        assert_eq!(l["mediaType"], "application/vnd.oci.image.layer.v1.tar+gzip", "{raw}");
        let blob = std::fs::read(t.root().join("oci/blobs/sha256").join(&l["digest"].as_str().unwrap()[7..]))
            .expect("the gzip variant is kept in the store");
        assert_eq!(&blob[..2], &[0x1f, 0x8b], "gzip");
    }

    let sk = registry.skopeo_inspect("team/app:1", &[]);
    assert_eq!(sk["Digest"], pushed.as_str());
    let ours: Value = serde_json::from_str(&ok({
        let mut c = rb(&t);
        c.args(["inspect", &name]);
        c
    }))
    .unwrap();
    let ours = &ours[0];
    for k in ["Architecture", "Os"] {
        assert_eq!(sk[k], ours[k], "{k}");
    }
    // Same instant; Go trims trailing zeros of the fraction, so compare times, not strings.
    let time = |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
    assert_eq!(time(&sk["Created"]), time(&ours["Created"]));
    assert_eq!(sk["Labels"], ours["Config"]["Labels"]);
    assert_eq!(sk["Env"], ours["Config"]["Env"]);
    let sk_config = registry.skopeo_inspect("team/app:1", &["--config", "--raw"]);
    assert_eq!(sha(&serde_json::to_vec(&sk_config).unwrap()).len(), 71);
    assert_eq!(sk_config, t.config(&name), "the registry holds the store's config");

    // Fresh store: pull gives the same manifest digest and image ID.
    let u = TestContext::new();
    let mut c = rb(&u);
    c.args(["pull", "--progress=json", &name]);
    let (code, _, stderr) = out(c);
    assert_eq!(code, 0, "{stderr}");
    let events: Vec<Value> = stderr.lines().map(|l| serde_json::from_str(l).expect("a JSON event per line")).collect();
    let downloaded = events.iter().filter(|e| e["event"] == "layer" && e["state"] == "downloaded").count();
    assert_eq!(downloaded, 2, "{stderr}");
    assert_eq!(u.index()["manifests"][0]["digest"].as_str().unwrap(), pushed);
    assert_eq!(image_id(&u, &name), image_id(&t, &name));

    // `rbuild push` again: the gzip blobs are the ones recorded by the first push (nothing is compressed
    // again, no blob is added to the store), every blob is already there, the digest is the same.
    let blobs = |t: &TestContext| {
        let mut v: Vec<_> =
            std::fs::read_dir(t.root().join("oci/blobs/sha256")).unwrap().flatten().map(|e| e.file_name()).collect();
        v.sort();
        v
    };
    let before = blobs(&t);
    // The registry logs each HEAD of a blob it lacks (which an upload follows): none this time.
    let uploads = || registry.log().matches("err.code=\"blob unknown\"").count();
    let uploaded = uploads();
    assert!(uploaded >= 3, "two layers and a config went up: {}", registry.log());
    let mut c = rb(&t);
    c.args(["push", &name]);
    let (code, stdout, stderr) = out(c);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.trim(), pushed);
    assert!(stderr.contains("already exists") && !stderr.contains("pushing"), "{stderr}");
    assert_eq!(blobs(&t), before, "the second push made no new blob");
    assert_eq!(uploads(), uploaded, "the second push found every blob there");

    // Another repository of the same registry: blobs are mounted, not sent.
    let other = format!("{}/other/app:2", registry.host);
    let mut c = rb(&t);
    c.args(["push", &name, &other]);
    let (code, stdout, stderr) = out(c);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.trim(), pushed);
    assert!(stderr.contains("mounted from team/app") && !stderr.contains("pushing"), "{stderr}");
    // skopeo reads the mounted copy back in full.
    let dir = t.dir.path().join("copy");
    let o = std::process::Command::new("skopeo")
        .args(["copy", "-q", "--src-tls-verify=false", &format!("docker://{other}")])
        .arg(format!("oci:{}:x", dir.display()))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// A layer of `size` incompressible bytes, so transfers are long enough to break.
fn big_layer_image(t: &TestContext, name: &str, size: usize) {
    let mut data = vec![0u8; size];
    let mut x: u64 = 0x9e3779b97f4a7c15;
    for b in data.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    std::fs::write(t.ctx().join("blob.bin"), data).unwrap();
    t.write("Dockerfile", "FROM scratch\nCOPY blob.bin /\n");
    t.build(name, &[]);
}

#[test]
fn a_truncated_download_fails_after_retries_and_leaves_the_store_unchanged() {
    let registry = Registry::start(Options::default());
    let src = TestContext::new();
    big_layer_image(&src, "big:1", 3 << 20);
    let mut c = rb(&src);
    c.args(["push", "big:1", &format!("{}/big:1", registry.host)]);
    ok(c);

    let proxy = reg::proxy::FaultProxy::start(&registry.host, reg::proxy::Fault::TruncateBlobGets);
    let (_store, stderr) = failing_pull(&format!("{}/big:1", proxy.host));
    assert!(stderr.contains(&proxy.host), "{stderr}");
    let blob_gets = proxy.log.lock().unwrap().iter().filter(|l| l.starts_with("GET") && l.contains("/blobs/")).count();
    assert!(blob_gets >= 2, "the broken download was not retried: {:?}", proxy.log.lock().unwrap());
}

#[test]
fn a_push_cut_off_mid_upload_resumes_or_restarts_cleanly_and_the_registry_gets_the_whole_image() {
    let registry = Registry::start(Options::default());
    let t = TestContext::new();
    big_layer_image(&t, "big:1", 4 << 20);
    let proxy = reg::proxy::FaultProxy::start(&registry.host, reg::proxy::Fault::CutFirstPatchAfter(1 << 20));
    let name = format!("{}/resume/big:1", proxy.host);
    let mut c = rb(&t);
    c.args(["push", "big:1", &name]);
    let (code, stdout, stderr) = out(c);
    assert_eq!(code, 0, "{stderr}\n{:?}", proxy.log.lock().unwrap());
    let patches: Vec<String> = proxy.log.lock().unwrap().iter().filter(|l| l.starts_with("PATCH")).cloned().collect();
    assert!(patches.len() >= 2, "{patches:?}");
    // The registry holds exactly the image: skopeo copies it out in full and the digest is the store's.
    let sk = registry.skopeo_inspect("resume/big:1", &[]);
    assert_eq!(sk["Digest"].as_str().unwrap(), stdout.trim());
    let dir = t.dir.path().join("out");
    let o = std::process::Command::new("skopeo")
        .args(["copy", "-q", "--src-tls-verify=false", &format!("docker://{}/resume/big:1", registry.host)])
        .arg(format!("oci:{}:x", dir.display()))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn a_pulled_v2s2_image_lists_runs_and_is_removed_like_a_built_one() {
    common::require_root();
    let src = TestContext::new();
    let registry = Registry::start(Options::default());
    registry.skopeo_copy(&busybox_source(&src), "run/bb:1", &["--format", "v2s2"]);
    let name = format!("{}/run/bb:1", registry.host);
    let t = TestContext::new();
    let mut c = rb(&t);
    c.args(["pull", "-q", &name]);
    let id = ok(c);
    assert_eq!(id.trim(), image_id(&src, "busybox:latest"));
    let mut c = rb(&t);
    c.arg("images");
    let listing = ok(c);
    assert!(listing.contains(&format!("{}/run/bb", registry.host)) && listing.contains(&id.trim()[7..19]), "{listing}");
    let mut c = rb(&t);
    c.args(["run", "--rm", &name, "/bin/busybox", "echo", "from-a-registry"]);
    assert_eq!(ok(c).trim(), "from-a-registry");
    let mut c = rb(&t);
    c.args(["rmi", &name]);
    ok(c);
    let mut c = rb(&t);
    c.arg("prune");
    ok(c);
    let (_, blobs) = store_state(&t.root());
    assert!(blobs.is_empty(), "blobs left after rmi and prune: {blobs:?}");
}

#[test]
fn a_multi_platform_image_is_pushed_as_its_index_and_each_platform_pulls_back() {
    let registry = Registry::start(Options::default());
    let t = TestContext::new();
    t.write("f", "same bytes\n");
    t.write("Dockerfile", "FROM scratch\nARG TARGETARCH\nCOPY f /f\nLABEL arch=$TARGETARCH\n");
    let name = format!("{}/multi:1", registry.host);
    let mut c = rb(&t);
    c.args(["build", "-q", "--platform", "linux/amd64,linux/arm64", "-t", &name]).arg(t.ctx());
    let index_digest = ok(c).trim().to_string();
    let mut c = rb(&t);
    c.args(["push", &name]);
    let pushed = ok(c).trim().to_string();
    // The store keeps plain-tar layers; the pushed index names gzip copies of them, made once: a second
    // push sends the very same index.
    assert_ne!(pushed, index_digest, "the pushed index names compressed layers");
    let mut c = rb(&t);
    c.args(["push", &name]);
    assert_eq!(ok(c).trim(), pushed, "a second push sends the same index");

    let raw = registry.skopeo_inspect("multi:1", &["--raw"]);
    assert_eq!(raw["mediaType"], "application/vnd.oci.image.index.v1+json", "{raw}");
    let archs: Vec<&str> =
        raw["manifests"].as_array().unwrap().iter().map(|m| m["platform"]["architecture"].as_str().unwrap()).collect();
    assert_eq!(archs, ["amd64", "arm64"]);
    for arch in ["amd64", "arm64"] {
        let u = TestContext::new();
        let mut c = rb(&u);
        c.args(["pull", "--platform", &format!("linux/{arch}"), &name]);
        ok(c);
        let config = u.config(&name);
        assert_eq!(
            (config["architecture"].as_str(), config["config"]["Labels"]["arch"].as_str()),
            (Some(arch), Some(arch))
        );
    }
}
