//! Platforms end to end: `FROM --platform` and `build --platform` choose the base image's platform and the
//! automatic TARGET*/BUILD* args, the image config records the target platform, and RUN on another
//! architecture runs under qemu-user through binfmt_misc (scripts/deps.sh registers Debian's handlers),
//! or fails at its line naming the platform and what to install.

mod common;

use common::TestContext;

/// The host's architecture in OCI naming (what BUILDARCH must say).
fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// A store with the host's busybox (busybox:latest) and Debian's arm64 busybox (bb-arm64:latest).
fn two_platforms() -> TestContext {
    let t = TestContext::busybox();
    assert_ne!(host_arch(), "arm64", "these tests emulate arm64 and need a host of another architecture");
    t.import_arm64_busybox("bb-arm64:latest");
    t
}

fn file_in_layer(t: &TestContext, name: &str, n: usize, path: &str) -> String {
    let layer = t.layer(name, n);
    let entry = layer.get(path).unwrap_or_else(|| panic!("{path} not in layer {n} of {name}: {:?}", layer.keys()));
    String::from_utf8(entry.data.clone()).unwrap()
}

#[test]
fn import_platform_and_from_platform_pick_and_record_the_platform() {
    let t = two_platforms();
    assert_eq!(t.config("bb-arm64:latest")["architecture"], "arm64");
    t.write("Dockerfile", "FROM --platform=linux/arm64 bb-arm64\nLABEL x=1\n");
    t.build("out:1", &["--pull=never"]);
    let config = t.config("out:1");
    assert_eq!((config["os"].as_str(), config["architecture"].as_str()), (Some("linux"), Some("arm64")));
    assert_eq!(config["variant"], "v8");
}

#[test]
fn a_stored_image_of_another_platform_is_refused_under_pull_never() {
    let t = two_platforms();
    t.write("Dockerfile", "FROM --platform=linux/arm64 busybox\nLABEL x=1\n");
    let err = t.fails(&["build", "--pull=never", "-t", "x:1", t.ctx().to_str().unwrap()], 1);
    assert!(err.contains("Dockerfile:1"), "{err}");
    assert!(err.contains(&format!("busybox is linux/{}", host_arch())), "{err}");
    assert!(err.contains("not the linux/arm64 asked for"), "{err}");
    assert!(err.contains("rbuild pull --platform linux/arm64 busybox"), "{err}");
}

#[test]
fn platform_args_follow_build_platform_and_buildplatform_stages_run_natively() {
    let t = two_platforms();
    t.write(
        "Dockerfile",
        "ARG BUILDPLATFORM\n\
         FROM --platform=$BUILDPLATFORM busybox AS tools\n\
         ARG TARGETPLATFORM\nARG TARGETOS\nARG TARGETARCH\nARG TARGETVARIANT\nARG BUILDPLATFORM\nARG BUILDARCH\n\
         RUN echo \"$TARGETPLATFORM $TARGETOS $TARGETARCH [$TARGETVARIANT] $BUILDPLATFORM $BUILDARCH $(uname -m)\" > /args\n\
         FROM scratch\nCOPY --from=tools /args /args\n",
    );
    t.build("args:1", &["--pull=never", "--platform", "linux/arm64"]);
    let host = host_arch();
    let native = std::env::consts::ARCH;
    assert_eq!(
        file_in_layer(&t, "args:1", 0, "args"),
        format!("linux/arm64 linux arm64 [] linux/{host} {host} {native}\n")
    );
    // The target stage starts from scratch for the target platform.
    assert_eq!(t.config("args:1")["architecture"], "arm64");
}

#[test]
fn run_on_an_arm64_base_runs_under_emulation() {
    let t = two_platforms();
    let handler = std::path::Path::new("/proc/sys/fs/binfmt_misc/qemu-aarch64");
    assert!(handler.exists(), "no qemu-aarch64 binfmt_misc handler: run scripts/deps.sh (qemu-user-static)");
    t.write("Dockerfile", "FROM bb-arm64\nRUN uname -m > /machine\n");
    t.build("emu:1", &["--pull=never", "--platform", "linux/arm64"]);
    assert_eq!(file_in_layer(&t, "emu:1", 1, "machine"), "aarch64\n");
    assert_eq!(t.config("emu:1")["architecture"], "arm64");
}

#[test]
fn run_without_a_handler_names_the_line_the_platform_and_what_to_install() {
    let t = two_platforms();
    // An empty binfmt_misc (mounted, enabled, nothing registered), through the test-only override.
    let binfmt = t.path("binfmt");
    std::fs::create_dir_all(&binfmt).unwrap();
    std::fs::write(binfmt.join("status"), "enabled\n").unwrap();
    std::fs::write(binfmt.join("register"), "").unwrap();
    t.write("Dockerfile", "FROM bb-arm64\nLABEL a=b\nRUN uname -m\n");
    let out = t
        .rbuild()
        .env("RBUILD_BINFMT_DIR", &binfmt)
        .args(["build", "--pull=never", "-t", "x:1"])
        .arg(t.ctx())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("Dockerfile:3:1: RUN for linux/arm64 on this"), "{err}");
    assert!(err.contains("apt-get install qemu-user-static binfmt-support"), "{err}");
    assert!(err.contains("mount -t binfmt_misc"), "{err}");
    // Without the override the same build runs (the host has the handler).
    t.build("x:1", &["--pull=never"]);
}

/// The file `path` in the last layer of the image whose manifest is `manifest`.
fn file_in_manifest(t: &TestContext, manifest: &str, path: &str) -> String {
    let m: serde_json::Value = serde_json::from_slice(&t.blob(manifest)).unwrap();
    let layers = m["layers"].as_array().unwrap();
    let entries = t.layer_entries(layers.last().unwrap());
    String::from_utf8(entries.get(path).unwrap_or_else(|| panic!("{path} not in {manifest}")).data.clone()).unwrap()
}

#[test]
fn a_two_platform_build_tags_an_index_and_each_run_saw_its_own_machine() {
    let t = two_platforms();
    let host = host_arch();
    t.ok(&["tag", "busybox:latest", &format!("bb-{host}")]);
    t.write(
        "Dockerfile",
        "ARG TARGETARCH\nFROM bb-$TARGETARCH\nARG TARGETPLATFORM\nRUN echo \"$TARGETPLATFORM $(uname -m)\" > /m\n",
    );
    let platforms = format!("linux/{host},linux/arm64");
    t.build("multi:1", &["--pull=never", "--platform", &platforms]);

    let entry = t.index_entry("multi:1");
    assert_eq!(entry["mediaType"], "application/vnd.oci.image.index.v1+json");
    let index: serde_json::Value = serde_json::from_slice(&t.blob(entry["digest"].as_str().unwrap())).unwrap();
    let manifests = index["manifests"].as_array().unwrap();
    let platforms: Vec<(&str, &str)> = manifests
        .iter()
        .map(|m| (m["platform"]["os"].as_str().unwrap(), m["platform"]["architecture"].as_str().unwrap()))
        .collect();
    assert_eq!(platforms, [("linux", host), ("linux", "arm64")]);
    assert_eq!(manifests[1]["platform"]["variant"], "v8");
    let seen: Vec<String> =
        manifests.iter().map(|m| file_in_manifest(&t, m["digest"].as_str().unwrap(), "m")).collect();
    assert_eq!(seen, [format!("linux/{host} {}\n", std::env::consts::ARCH), "linux/arm64 aarch64\n".to_string()]);
    for m in manifests {
        let manifest: serde_json::Value = serde_json::from_slice(&t.blob(m["digest"].as_str().unwrap())).unwrap();
        let config: serde_json::Value =
            serde_json::from_slice(&t.blob(manifest["config"]["digest"].as_str().unwrap())).unwrap();
        assert_eq!(config["architecture"], m["platform"]["architecture"]);
    }

    // The store is an OCI layout: skopeo reads the tagged index as it is.
    let raw = common::run_tool(
        common::tool("skopeo").args(["inspect", "--raw"]).arg(format!("oci:{}/oci:multi:1", t.root().display())),
    );
    assert!(raw.contains("application/vnd.oci.image.index.v1+json") && raw.contains("arm64"), "{raw}");
    // A new name names the index too, not only the host's image.
    t.ok(&["tag", "multi:1", "again:1"]);
    assert_eq!(t.index_entry("again:1")["digest"], entry["digest"]);
    // `save` writes the whole index; skopeo reads it back from the archive.
    let archive = t.path("multi.tar");
    t.ok(&["save", "--format", "oci", "multi:1", "-o", archive.to_str().unwrap()]);
    let raw = common::run_tool(
        common::tool("skopeo").args(["inspect", "--raw"]).arg(format!("oci-archive:{}:multi:1", archive.display())),
    );
    assert!(raw.contains("application/vnd.oci.image.index.v1+json") && raw.contains("arm64"), "{raw}");
    // ... and `load` takes it back whole, in docker's format too (whose index.json names the index).
    let docker_archive = t.path("multi-docker.tar");
    t.ok(&["save", "multi:1", "-o", docker_archive.to_str().unwrap()]);
    for file in [&archive, &docker_archive] {
        let u = TestContext::new();
        u.ok(&["load", "-i", file.to_str().unwrap()]);
        assert_eq!(u.index_entry("multi:1")["digest"], entry["digest"], "{}", file.display());
        assert_eq!(u.index_entry("multi:1")["mediaType"], "application/vnd.oci.image.index.v1+json");
        u.ok(&["system", "check"]);
    }
    // The name stands for the host's image in listings, and for the asked platform's in FROM.
    assert!(t.ok(&["images"]).contains("multi"));
    t.write("Dockerfile", "FROM multi:1\nRUN cp /m /seen\n");
    t.build("seen:1", &["--pull=never", "--platform", "linux/arm64"]);
    assert_eq!(file_in_layer(&t, "seen:1", 2, "seen"), "linux/arm64 aarch64\n");
}
