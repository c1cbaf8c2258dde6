//! End-to-end tests of the image commands: the real `rbuild` binary over temporary store roots, with
//! skopeo and umoci as independent readers of the OCI layout the store is.

mod common;

use common::{run_tool, tool, TestContext};
use serde_json::Value;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

/// A small rootfs tarball: a dir, an executable with setuid, a file owned by 1000:1000, a symlink and a
/// hard link, all with fixed mtimes.
fn rootfs_tar(path: &Path, gzip: bool) {
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |name: &str, kind: tar::EntryType, mode: u32, owner: u64, link: &str, data: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(owner);
        h.set_gid(owner);
        h.set_mtime(1_600_000_000);
        h.set_size(data.len() as u64);
        if !link.is_empty() {
            h.set_link_name(link).unwrap();
        }
        b.append_data(&mut h, name, data).unwrap();
    };
    add("bin/", tar::EntryType::Directory, 0o755, 0, "", b"");
    add("bin/tool", tar::EntryType::Regular, 0o4755, 0, "", b"#!/bin/sh\necho tool\n");
    add("bin/sh", tar::EntryType::Symlink, 0o777, 0, "tool", b"");
    add("bin/tool2", tar::EntryType::Link, 0o4755, 0, "bin/tool", b"");
    add("home/", tar::EntryType::Directory, 0o755, 0, "", b"");
    add("home/user/", tar::EntryType::Directory, 0o700, 1000, "", b"");
    add("home/user/notes.txt", tar::EntryType::Regular, 0o600, 1000, "", b"private\n");
    let bytes = b.into_inner().unwrap();
    if gzip {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&bytes).unwrap();
        fs::write(path, gz.finish().unwrap()).unwrap();
    } else {
        fs::write(path, bytes).unwrap();
    }
}

fn inspect(t: &TestContext, image: &str) -> Value {
    let v: Value = serde_json::from_str(&t.ok(&["inspect", image])).expect("inspect prints JSON");
    v[0].clone()
}

const CHANGES: [&str; 10] = [
    "--change",
    r#"CMD ["/bin/sh", "-c", "echo hi"]"#,
    "--change",
    "ENV GREETING=hello",
    "--change",
    "LABEL org.example.k=v",
    "--change",
    "EXPOSE 8080",
    "--change",
    "WORKDIR /home/user",
];

#[test]
fn import_then_images_inspect_tag_and_rmi() {
    let t = TestContext::new();
    let tarball = t.path("rootfs.tar.gz");
    rootfs_tar(&tarball, true);
    let mut args = vec!["import", tarball.to_str().unwrap(), "app:1.0", "--message", "first import"];
    args.extend(CHANGES);
    let id = t.ok(&args).trim().to_string();
    assert!(id.starts_with("sha256:") && id.len() == 71, "import prints the image id: {id:?}");

    let table = t.ok(&["images"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{table}");
    let header: Vec<&str> = lines[0].split("   ").map(str::trim).filter(|s| !s.is_empty()).collect();
    assert_eq!(header, vec!["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]);
    assert!(lines[1].starts_with("app "), "{table}");
    assert!(lines[1].contains(" 1.0 ") && lines[1].contains(&id[7..19]), "{table}");
    assert!(lines[1].contains(" ago "), "{table}");
    assert_eq!(t.ok(&["images", "-q"]).trim(), &id[7..19]);
    let json: Value = serde_json::from_str(t.ok(&["images", "--format", "json"]).trim()).unwrap();
    assert_eq!((json["Repository"].as_str(), json["Tag"].as_str()), (Some("app"), Some("1.0")));

    let v = inspect(&t, "app:1.0");
    assert_eq!(v["Id"], id.as_str());
    assert_eq!(v["RepoTags"], serde_json::json!(["app:1.0"]));
    assert_eq!(v["RepoDigests"], serde_json::json!([]));
    assert_eq!(v["Comment"], "first import");
    assert_eq!(v["Config"]["Cmd"], serde_json::json!(["/bin/sh", "-c", "echo hi"]));
    assert_eq!(v["Config"]["Env"], serde_json::json!(["GREETING=hello"]), "no default PATH, like docker import");
    assert_eq!(v["Config"]["Labels"]["org.example.k"], "v");
    assert_eq!(v["Config"]["ExposedPorts"], serde_json::json!({"8080/tcp": {}}));
    assert_eq!(v["Config"]["WorkingDir"], "/home/user");
    assert_eq!(v["Os"], "linux");
    assert_eq!(v["RootFS"]["Type"], "layers");
    assert_eq!(v["RootFS"]["Layers"].as_array().unwrap().len(), 1);

    // The same image by every kind of reference.
    let short = &id[7..13];
    for reference in [&id[..], &id[7..], short, v["ManifestDigest"].as_str().unwrap()] {
        assert_eq!(t.ok(&["inspect", "-f", "{{.Id}}", reference]).trim(), id, "{reference}");
    }
    // Formats.
    let diff_id = v["RootFS"]["Layers"][0].as_str().unwrap();
    assert_eq!(t.ok(&["inspect", "-f", "{{.RootFS.Layers}}", "app:1.0"]), format!("[{diff_id}]\n"));
    assert_eq!(t.ok(&["inspect", "-f", "{{.Config.Env}}", "app:1.0"]), "[GREETING=hello]\n");
    assert_eq!(t.ok(&["inspect", "--format", r#"{{index .Config.Labels "org.example.k"}}"#, "app:1.0"]), "v\n");
    let config: Value = serde_json::from_str(&t.ok(&["inspect", "-f", "{{json .Config}}", "app:1.0"])).unwrap();
    assert_eq!(config, v["Config"]);
    assert_eq!(t.ok(&["inspect", "-f", "{{range .Config.Cmd}}<{{.}}>{{end}}", "app:1.0"]), "</bin/sh><-c><echo hi>\n");

    // tag, then rmi by name removes names one at a time.
    t.ok(&["tag", "app:1.0", "127.0.0.1:5000/x/y:tag"]);
    t.ok(&["tag", short, "busybox"]);
    let tags = inspect(&t, "busybox:latest")["RepoTags"].clone();
    assert_eq!(tags, serde_json::json!(["app:1.0", "127.0.0.1:5000/x/y:tag", "busybox:latest"]));
    let err = t.fails(&["rmi", short], 1);
    assert!(err.contains("must be forced"), "{err}");
    assert_eq!(t.ok(&["rmi", "app:1.0"]), "Untagged: app:1.0\n");
    assert_eq!(t.ok(&["rmi", "docker.io/library/busybox"]), "Untagged: busybox:latest\n");
    let blobs = t.root().join("oci/blobs/sha256");
    assert_eq!(fs::read_dir(&blobs).unwrap().count(), 3, "manifest, config and layer stay while a name is left");
    assert_eq!(t.ok(&["rmi", "127.0.0.1:5000/x/y:tag"]), format!("Untagged: 127.0.0.1:5000/x/y:tag\nDeleted: {id}\n"));
    assert_eq!(fs::read_dir(&blobs).unwrap().count(), 0, "gc removed the unreferenced blobs");
    assert_eq!(t.ok(&["images", "-q"]), "");
    t.ok(&["rmi", "-f", "app:1.0"]);
}

#[test]
fn retagging_leaves_a_dangling_image_and_rmi_by_id_removes_everything() {
    let t = TestContext::new();
    let (a, b) = (t.path("a.tar"), t.path("b.tar.gz"));
    rootfs_tar(&a, false);
    rootfs_tar(&b, true);
    let first = t.ok(&["import", a.to_str().unwrap(), "app"]).trim().to_string();
    let second = t.ok(&["import", "--change", "USER 1000", b.to_str().unwrap(), "app"]).trim().to_string();
    assert_ne!(first, second);
    let table = t.ok(&["images"]);
    assert!(table.lines().any(|l| l.starts_with("<none>") && l.contains(&first[7..19])), "{table}");
    // Same tar, plain or gzipped: same diff_id.
    let layers = |id: &str| t.ok(&["inspect", "-f", "{{.RootFS.Layers}}", id]);
    assert_eq!(layers(&first), layers(&second));
    let out = t.ok(&["rmi", &first]);
    assert_eq!(out, format!("Deleted: {first}\n"));
    assert_eq!(t.ok(&["images", "-q"]).trim(), &second[7..19]);
}

#[test]
fn import_reads_stdin_and_refuses_what_is_not_a_tar() {
    let t = TestContext::new();
    let tarball = t.path("rootfs.tar");
    rootfs_tar(&tarball, false);
    let out =
        t.rbuild().args(["import", "-", "from-stdin:1"]).write_stdin(fs::read(&tarball).unwrap()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let diff_id = t.ok(&["inspect", "-f", "{{index .RootFS.Layers 0}}", "from-stdin:1"]);
    let expected = format!("sha256:{}", hex_sha256(&fs::read(&tarball).unwrap()));
    assert_eq!(diff_id.trim(), expected, "the tar is stored byte for byte");
    fs::write(t.path("junk"), b"definitely not a tarball").unwrap();
    let err = t.fails(&["import", t.path("junk").to_str().unwrap(), "junk"], 1);
    assert!(err.contains("error:"), "{err}");
    assert!(fs::read_dir(t.root().join("tmp")).unwrap().next().is_none(), "no temp file left behind");
}

fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[test]
fn errors_and_exit_codes() {
    let t = TestContext::new();
    let err = t.fails(&["inspect", "x:y"], 1);
    assert_eq!(err.trim(), format!("error: image \"x:y\" not found in store {}", t.root().display()));
    let err = t.fails(&["rmi", "x:y"], 1);
    assert!(err.contains("image \"x:y\" not found in store"), "{err}");
    let err = t.fails(&["inspect", "Upper:case"], 2);
    assert!(err.contains("must be lowercase"), "{err}");
    t.fails(&["tag", "x:y", "bad tag"], 2);
    t.fails(&["inspect", "-f", "{{.Id", "x"], 2);
    let tarball = t.path("r.tar");
    rootfs_tar(&tarball, false);
    let err = t.fails(&["import", "--change", "RUN rm -rf /", tarball.to_str().unwrap(), "x"], 2);
    assert!(err.contains("RUN"), "{err}");
    t.fails(&["import", tarball.to_str().unwrap(), "UPPER"], 2);
    t.fails(&["import", t.path("missing.tar").to_str().unwrap(), "x"], 1);
}

#[test]
fn concurrent_tag_processes_lose_no_tag() {
    let t = TestContext::new();
    let tarball = t.path("r.tar");
    rootfs_tar(&tarball, false);
    let id = t.ok(&["import", tarball.to_str().unwrap(), "base:1"]).trim().to_string();
    let children: Vec<_> = (0..12)
        .map(|i| t.process().args(["tag", "base:1", &format!("t{i}:v")]).spawn().expect("spawn rbuild"))
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let tags = inspect(&t, &id)["RepoTags"].as_array().unwrap().len();
    assert_eq!(tags, 13);
}

#[test]
fn skopeo_and_umoci_read_the_store_as_an_oci_layout() {
    common::require_root(); // umoci unpack keeps ownership only as root
    let t = TestContext::new();
    let tarball = t.path("rootfs.tar.gz");
    rootfs_tar(&tarball, true);
    let mut args = vec!["import", tarball.to_str().unwrap(), "app:1.0"];
    args.extend(CHANGES);
    t.ok(&args);
    let layout = t.root().join("oci");

    let out = run_tool(tool("skopeo").arg("inspect").arg(format!("oci:{}:app:1.0", layout.display())));
    let s: Value = serde_json::from_str(&out).expect("skopeo prints JSON");
    let v = inspect(&t, "app:1.0");
    assert_eq!(s["Digest"], v["ManifestDigest"]);
    assert_eq!(s["Env"], serde_json::json!(["GREETING=hello"]));
    assert_eq!(s["Labels"]["org.example.k"], "v");
    assert_eq!(s["Os"], "linux");
    assert_eq!(s["Architecture"], v["Architecture"]);
    assert_eq!(s["Layers"].as_array().unwrap().len(), 1);
    let out = run_tool(tool("skopeo").arg("inspect").arg("--config").arg(format!("oci:{}:app:1.0", layout.display())));
    let config: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(config["config"]["Cmd"], serde_json::json!(["/bin/sh", "-c", "echo hi"]));
    assert_eq!(config["rootfs"]["diff_ids"], v["RootFS"]["Layers"]);

    let bundle = t.path("bundle");
    run_tool(tool("umoci").arg("unpack").arg("--image").arg(format!("{}:app:1.0", layout.display())).arg(&bundle));
    let rootfs = bundle.join("rootfs");
    let meta = |rel: &str| fs::symlink_metadata(rootfs.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    assert_eq!(fs::read(rootfs.join("bin/tool")).unwrap(), b"#!/bin/sh\necho tool\n");
    assert_eq!(meta("bin/tool").permissions().mode() & 0o7777, 0o4755);
    assert_eq!(meta("bin/tool").ino(), meta("bin/tool2").ino(), "hard link kept");
    assert_eq!(fs::read_link(rootfs.join("bin/sh")).unwrap(), Path::new("tool"));
    assert_eq!((meta("home/user").uid(), meta("home/user").gid()), (1000, 1000));
    assert_eq!(meta("home/user").permissions().mode() & 0o7777, 0o700);
    assert_eq!(meta("home/user/notes.txt").permissions().mode() & 0o7777, 0o600);
    assert_eq!(meta("home/user/notes.txt").mtime(), 1_600_000_000);
    let mut names: Vec<String> = walkdir::WalkDir::new(&rootfs)
        .min_depth(1)
        .into_iter()
        .map(|e| e.unwrap().path().strip_prefix(&rootfs).unwrap().display().to_string())
        .collect();
    names.sort();
    assert_eq!(names, vec!["bin", "bin/sh", "bin/tool", "bin/tool2", "home", "home/user", "home/user/notes.txt"]);
    let runtime: Value = serde_json::from_slice(&fs::read(bundle.join("config.json")).unwrap()).unwrap();
    assert_eq!(runtime["process"]["args"], serde_json::json!(["/bin/sh", "-c", "echo hi"]));
    assert_eq!(runtime["process"]["cwd"], "/home/user");
    assert!(runtime["process"]["env"].as_array().unwrap().contains(&Value::from("GREETING=hello")));
}
