//! `save` and `load` end to end (issue 9): round trips in both formats, skopeo reading our archives and
//! writing one we load, and hostile archives refused with the store left exactly as it was.

mod common;

use common::{run_tool, tool, TestContext};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn built() -> TestContext {
    let t = TestContext::new();
    t.write("Dockerfile", "FROM scratch\nENV A=1\nCOPY f /f\nCOPY g /dir/g\n");
    t.write("f", "one");
    t.write("g", "two");
    t.build("app:1", &[]);
    t
}

fn skopeo(args: &[&str]) {
    run_tool(tool("skopeo").args(args));
}

#[test]
fn save_then_load_keeps_image_id_and_manifest_digest_in_both_formats() {
    let t = built();
    let want = t.index_entry("app:1")["digest"].clone();
    let id = t.config("app:1");
    for format in ["docker", "oci"] {
        let archive = t.dir.path().join(format!("{format}.tar"));
        t.ok(&["save", "--format", format, "-o", archive.to_str().unwrap(), "app:1"]);
        let fresh = TestContext::new();
        let out = fresh.ok(&["load", "-i", archive.to_str().unwrap()]);
        assert!(out.contains("Loaded image: app:1"), "{out}");
        assert_eq!(fresh.index_entry("app:1")["digest"], want, "{format}: same manifest");
        assert_eq!(fresh.config("app:1"), id, "{format}: same config");
        fresh.ok(&["system", "check"]);
    }
    // Two images sharing a layer: the blob is written once.
    t.write("g", "three");
    t.build("app:2", &[]);
    let both = t.dir.path().join("both.tar");
    t.ok(&["save", "-o", both.to_str().unwrap(), "app:1", "app:2"]);
    let names = common::read_tar(&std::fs::read(&both).unwrap());
    let shared = t.manifest("app:1")["layers"][0]["digest"].as_str().unwrap()[7..].to_string();
    assert_eq!(names.keys().filter(|k| k.ends_with(&shared)).count(), 1);
    let manifest: Value = serde_json::from_slice(&names["manifest.json"].data).unwrap();
    assert_eq!(manifest.as_array().unwrap().len(), 2);
    // Standard output, compressed by the user: auto-detected.
    let out = t.rbuild().args(["save", "app:2"]).output().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &out.stdout).unwrap();
    let fresh = TestContext::new();
    fresh.rbuild().arg("load").write_stdin(gz.finish().unwrap()).assert().success();
    assert_eq!(fresh.config("app:2"), t.config("app:2"));
}

#[test]
fn skopeo_reads_our_archives_and_writes_one_we_load() {
    let t = built();
    let dir = t.dir.path();
    let docker = dir.join("d.tar");
    let oci = dir.join("o.tar");
    t.ok(&["save", "-o", docker.to_str().unwrap(), "app:1"]);
    t.ok(&["save", "--format", "oci", "-o", oci.to_str().unwrap(), "app:1"]);
    skopeo(&["inspect", &format!("docker-archive:{}", docker.display())]);
    skopeo(&["inspect", &format!("oci-archive:{}:app:1", oci.display())]);
    let theirs = dir.join("skopeo.tar");
    skopeo(&[
        "copy",
        &format!("oci-archive:{}:app:1", oci.display()),
        &format!("docker-archive:{}:copied:1", theirs.display()),
    ]);
    let fresh = TestContext::new();
    let out = fresh.ok(&["load", "-i", theirs.to_str().unwrap()]);
    assert!(out.contains("copied:1"), "{out}");
    assert_eq!(fresh.config("copied:1"), t.config("app:1"), "the same image (ID) through skopeo's docker-archive");
    assert_eq!(fresh.layer("copied:1", 1)["dir/g"].data, b"two");
    fresh.ok(&["system", "check"]);
}

/// Every file under the store with its bytes: "exactly as it was" is this map being equal.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(d) = pending.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                out.insert(p.clone(), Vec::new());
                pending.push(p);
            } else if !p.ends_with("lock") {
                out.insert(p.clone(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// A tar entry written with a raw name (the tar crate refuses `..` in names it is given).
fn raw_entry(
    out: &mut Vec<u8>,
    name: &str,
    kind: tar::EntryType,
    link: Option<&str>,
    data: &[u8],
    claimed: Option<u64>,
) {
    let mut h = tar::Header::new_gnu();
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.set_entry_type(kind);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_size(claimed.unwrap_or(data.len() as u64));
    if let Some(l) = link {
        h.as_old_mut().linkname[..l.len()].copy_from_slice(l.as_bytes());
    }
    h.set_cksum();
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
}

#[test]
fn hostile_archives_are_refused_and_leave_the_store_as_it_was() {
    let t = built();
    let good = t.dir.path().join("good.tar");
    t.ok(&["save", "-o", good.to_str().unwrap(), "app:1"]);
    let good = std::fs::read(&good).unwrap();
    let entries = common::read_tar(&good);
    let layer = t.manifest("app:1")["layers"][0]["digest"].as_str().unwrap()[7..].to_string();
    let rebuild = |skip: &str, extra: &mut dyn FnMut(&mut Vec<u8>)| {
        let mut out = Vec::new();
        for (name, e) in &entries {
            if name != skip {
                raw_entry(&mut out, name, tar::EntryType::Regular, None, &e.data, None);
            }
        }
        extra(&mut out);
        out.extend_from_slice(&[0u8; 1024]);
        out
    };
    let mut cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "dot-dot",
            rebuild("", &mut |o| raw_entry(o, "../evil", tar::EntryType::Regular, None, b"x", None)),
            "not a plain relative path",
        ),
        (
            "absolute symlink",
            rebuild("", &mut |o| raw_entry(o, "link", tar::EntryType::Symlink, Some("/etc/passwd"), b"", None)),
            "symlink pointing outside",
        ),
        ("missing blob", rebuild(&format!("blobs/sha256/{layer}"), &mut |_| {}), "not in the archive"),
        (
            "mismatching blob",
            {
                let mut a = rebuild(&format!("blobs/sha256/{layer}"), &mut |_| {});
                a.truncate(a.len() - 1024);
                let mut tail = Vec::new();
                raw_entry(
                    &mut tail,
                    &format!("blobs/sha256/{layer}"),
                    tar::EntryType::Regular,
                    None,
                    b"not the layer",
                    None,
                );
                a.extend(tail);
                a.extend_from_slice(&[0u8; 1024]);
                a
            },
            "hashes to",
        ),
        (
            "size field lies",
            {
                let mut a = Vec::new();
                raw_entry(&mut a, "blobs/sha256/huge", tar::EntryType::Regular, None, b"short", Some(10 << 30));
                a
            },
            "reading the archive",
        ),
    ];
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &good).unwrap();
    let mut gz = gz.finish().unwrap();
    gz.truncate(gz.len() / 2);
    cases.push(("truncated gzip", gz, "reading the archive"));
    let before = snapshot(&t.root());
    for (what, archive, says) in cases {
        let out = t.rbuild().arg("load").write_stdin(archive).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{what}: {stderr}");
        assert!(stderr.contains(says) && stderr.contains("nothing was loaded"), "{what}: {stderr}");
        assert_eq!(snapshot(&t.root()), before, "{what}: the store changed");
        t.ok(&["system", "check"]);
    }
    assert!(!t.dir.path().join("evil").exists());
}

#[test]
fn export_equals_umoci_unpack_file_for_file() {
    common::require_root();
    let t = TestContext::new();
    t.import_busybox();
    t.write("Dockerfile", common::rootfs::WHITEOUT_DOCKERFILE);
    t.build("exp:1", &[]);
    let tar = t.dir.path().join("rootfs.tar");
    t.ok(&["export", "exp:1", "-o", tar.to_str().unwrap()]);
    let ours = common::rootfs::tar_rootfs(&std::fs::read(&tar).unwrap());
    let theirs =
        common::rootfs::umoci_unpack(&format!("{}/oci:exp:1", t.root().display()), &t.dir.path().join("bundle"));
    assert!(
        !ours.contains_key("gone") && !ours.contains_key("etc/group") && !ours.contains_key("opq/old"),
        "whiteouts applied"
    );
    assert_eq!(ours["opq/new"].1, 0o4755);
    assert_eq!((ours["opq/new"].2, ours["opq/new"].3), (5, 6));
    common::rootfs::assert_same_files(&ours, &theirs, "export (left) vs umoci unpack (right)");
    // To standard output too.
    let out = t.rbuild().args(["export", "exp:1"]).output().unwrap();
    assert_eq!(out.stdout, std::fs::read(&tar).unwrap());
}

#[test]
fn defect7_import_applies_every_change_docker_accepts_and_refuses_the_rest() {
    let t = TestContext::new();
    let tarball = t.dir.path().join("rootfs.tar");
    let mut b = tar::Builder::new(std::fs::File::create(&tarball).unwrap());
    let mut h = tar::Header::new_gnu();
    h.set_size(2);
    h.set_mode(0o644);
    b.append_data(&mut h, "etc/hello", &b"hi"[..]).unwrap();
    b.into_inner().unwrap();
    let tarball = tarball.to_str().unwrap();
    let changes = [
        r#"CMD ["serve", "--port", "80"]"#,
        "ENTRYPOINT /bin/app",
        "ENV A=1 B=two",
        "ENV C=${A}x",
        "EXPOSE 80 53/udp",
        "HEALTHCHECK --interval=5s CMD true",
        "LABEL org.example.k=v",
        "ONBUILD RUN echo child",
        "STOPSIGNAL SIGQUIT",
        "USER app:app",
        "VOLUME /data",
        "WORKDIR /srv",
        "WORKDIR www",
    ];
    let mut args = vec!["import", "-m", "imported by the test", tarball, "imp:1"];
    for c in &changes {
        args.extend(["--change", c]);
    }
    t.ok(&args);
    let cfg = t.config("imp:1");
    let c = &cfg["config"];
    assert_eq!(c["Cmd"], serde_json::json!(["serve", "--port", "80"]));
    assert_eq!(c["Entrypoint"], serde_json::json!(["/bin/sh", "-c", "/bin/app"]));
    assert_eq!(c["Env"], serde_json::json!(["A=1", "B=two", "C=1x"]));
    assert_eq!(c["ExposedPorts"], serde_json::json!({"80/tcp": {}, "53/udp": {}}));
    assert_eq!(c["Healthcheck"]["Test"], serde_json::json!(["CMD-SHELL", "true"]));
    assert_eq!(c["Healthcheck"]["Interval"], 5_000_000_000u64);
    assert_eq!(c["Labels"], serde_json::json!({"org.example.k": "v"}));
    assert_eq!(c["OnBuild"], serde_json::json!(["RUN echo child"]));
    assert_eq!(c["StopSignal"], "SIGQUIT");
    assert_eq!(c["User"], "app:app");
    assert_eq!(c["Volumes"], serde_json::json!({"/data": {}}));
    assert_eq!(c["WorkingDir"], "/srv/www");
    // One history entry, as docker import writes: the message is its comment.
    assert_eq!(cfg["history"].as_array().unwrap().len(), 1, "{cfg}");
    assert_eq!(cfg["history"][0]["comment"], "imported by the test");
    assert_eq!(t.ok(&["history", "--format", "{{.Comment}}", "imp:1"]), "imported by the test\n");

    for bad in ["SHELL [\"/bin/bash\", \"-c\"]", "MAINTAINER me", "RUN true", "COPY a b", "ARG X=1"] {
        let err = t.fails(&["import", tarball, "bad:1", "-c", bad], 2);
        let keyword = bad.split(' ').next().unwrap();
        assert!(err.contains(&format!("{keyword} is not a valid change command")), "{bad}: {err}");
        assert!(err.contains("accepted: CMD, ENTRYPOINT"), "{err}");
    }
    for (bad, why) in [("STOPSIGNAL NOPE", "invalid signal"), ("EXPOSE x", "invalid containerPort"), ("ENV", "ENV")] {
        let err = t.fails(&["import", tarball, "bad:1", "--change", bad], 2);
        assert!(err.contains(why), "{bad}: {err}");
    }
    assert_eq!(t.ok(&["images", "-q", "bad"]), "", "no image from a refused import");
}
