//! Interop: images rbuild writes are read by independent OCI tools with no export step. `skopeo inspect`
//! reads the store's layout directly; `umoci unpack` turns the image into a runtime bundle whose rootfs and
//! config must be exactly what the Dockerfile asked for. Both tools are required (scripts/deps.sh installs
//! them); a missing one fails the test with the install command.

mod common;

use common::{tool, TestContext};
use serde_json::Value;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

fn example_context(t: &TestContext) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/hello");
    let status = Command::new("cp").arg("-a").arg(format!("{}/.", src.display())).arg(t.ctx()).status().unwrap();
    assert!(status.success());
}

#[test]
fn skopeo_and_umoci_read_the_example_image() {
    let t = TestContext::new();
    t.import_busybox();
    example_context(&t);
    t.build("hello:1.0", &[]);

    let out = tool("skopeo").arg("inspect").arg(format!("oci:{}/oci:hello:1.0", t.root().display())).output().unwrap();
    assert!(out.status.success(), "skopeo inspect failed: {}", String::from_utf8_lossy(&out.stderr));
    let inspect: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(inspect["Labels"]["org.opencontainers.image.title"], "hello");
    assert_eq!(inspect["Layers"].as_array().unwrap().len(), 4, "busybox + two COPY layers + one RUN layer");
    assert_eq!(inspect["Os"], "linux");

    let bundle = t.dir.path().join("bundle");
    let out = tool("umoci")
        .arg("unpack")
        .arg("--image")
        .arg(format!("{}/oci:hello:1.0", t.root().display()))
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(out.status.success(), "umoci unpack failed: {}", String::from_utf8_lossy(&out.stderr));
    let rootfs = bundle.join("rootfs");
    let script = rootfs.join("app/hello.sh");
    let meta = std::fs::metadata(&script).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o755, "COPY --chmod=755");
    assert_eq!((meta.uid(), meta.gid()), (0, 0));
    assert_eq!(std::fs::read_to_string(rootfs.join("etc/hello/app.conf")).unwrap(), "color = blue\n");
    assert!(!rootfs.join("app/NOTES.md").exists(), ".dockerignore kept NOTES.md out");
    assert!(rootfs.join("bin/busybox").is_file(), "the base layer is there");
    let status = rootfs.join("var/lib/hello/status");
    assert_eq!(std::fs::read_to_string(&status).unwrap(), "checked by RUN\n");
    assert_eq!(std::fs::metadata(&status).unwrap().uid(), 65534, "RUN's chown to nobody");
    assert_eq!(std::fs::read_link(rootfs.join("bin/sh")).unwrap().to_str(), Some("../bin/busybox"));

    let config: Value = serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
    let process = &config["process"];
    assert_eq!(process["args"], serde_json::json!(["/app/hello.sh"]));
    assert_eq!(process["cwd"], "/app");
    assert_eq!(process["user"]["uid"], 65534, "USER nobody resolved by umoci from the image's /etc/passwd");
    let env: Vec<&str> = process["env"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(env.contains(&"GREETING=Hello from rbuild"), "{env:?}");
    assert!(env.contains(&"APP_HOME=/app"), "{env:?}");
}

#[test]
fn skopeo_copies_an_image_out_of_the_store_verbatim() {
    let t = TestContext::new();
    t.write("f.txt", "hi");
    t.write("Dockerfile", "FROM scratch\nCOPY f.txt /\nCMD [\"/f.txt\"]\n");
    t.build("copyout:1", &[]);
    let dest = t.dir.path().join("copied");
    // The store's layers are plain tars; skopeo compresses those on the way to an `oci:` destination
    // unless told to keep them (which it does with every blob as written).
    let out = tool("skopeo")
        .args(["copy", "--dest-oci-accept-uncompressed-layers"])
        .arg(format!("oci:{}/oci:copyout:1", t.root().display()))
        .arg(format!("oci:{}:x", dest.display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "skopeo copy failed: {}", String::from_utf8_lossy(&out.stderr));
    // Same manifest digest on both sides: skopeo verified and kept every blob as written.
    let src_index: Value = serde_json::from_slice(&std::fs::read(t.root().join("oci/index.json")).unwrap()).unwrap();
    let dst_index: Value = serde_json::from_slice(&std::fs::read(dest.join("index.json")).unwrap()).unwrap();
    assert_eq!(src_index["manifests"][0]["digest"], dst_index["manifests"][0]["digest"]);
}

#[test]
fn layers_larger_than_one_gzip_block_unpack_with_umoci() {
    // Layers above 1 MiB are written as several gzip members (compressed in parallel); Go's gzip reader,
    // which umoci and skopeo use, must read them as one stream.
    let t = TestContext::new();
    let mut x: u32 = 12345;
    let data: Vec<u8> = (0..3_500_000)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (x >> 16) as u8
        })
        .collect();
    std::fs::write(t.ctx().join("blob.bin"), &data).unwrap();
    t.write("Dockerfile", "FROM scratch\nCOPY blob.bin /blob.bin\n");
    // gzip in the store (builds keep plain tars unless asked).
    t.build("big:1", &["--compression", "gzip"]);
    assert_eq!(t.manifest("big:1")["layers"][0]["mediaType"], "application/vnd.oci.image.layer.v1.tar+gzip");
    let bundle = t.dir.path().join("bundle");
    let out = tool("umoci")
        .arg("unpack")
        .arg("--image")
        .arg(format!("{}/oci:big:1", t.root().display()))
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(out.status.success(), "umoci unpack failed: {}", String::from_utf8_lossy(&out.stderr));
    assert!(std::fs::read(bundle.join("rootfs/blob.bin")).unwrap() == data, "content differs after umoci unpack");
}
