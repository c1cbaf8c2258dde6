//! The store against other local users, concurrent commands and interrupts (issue 7, defects 2, 5, 6, 7):
//! the real binary over temp stores, reading what it leaves with no rbuild code.

mod common;

use common::{require_root, TestContext};
use serde_json::Value;
use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const NOBODY: u32 = 65534;

/// Run `argv` as uid/gid 65534 with no supplementary groups (std drops them when root sets a uid).
fn as_nobody(argv: &[&str]) -> std::process::Output {
    Command::new(argv[0]).args(&argv[1..]).uid(NOBODY).gid(NOBODY).current_dir("/").output().unwrap()
}

/// A tar holding `entries` (path, mode, bytes), owned by root.
fn tar_of(entries: &[(&str, u32, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, mode, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(*mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, path, data.as_slice()).unwrap();
    }
    b.into_inner().unwrap()
}

/// Every blob a tagged image references (manifest, config, layers), read from the layout.
fn referenced_blobs(t: &TestContext, name: &str) -> Vec<String> {
    let index = t.index();
    let desc = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == name)
        .unwrap_or_else(|| panic!("{name} not in index.json: {index}"))
        .clone();
    let mut out = vec![desc["digest"].as_str().unwrap().to_string()];
    let manifest: Value = serde_json::from_slice(&t.blob(&out[0])).unwrap();
    out.push(manifest["config"]["digest"].as_str().unwrap().to_string());
    for l in manifest["layers"].as_array().unwrap() {
        out.push(l["digest"].as_str().unwrap().to_string());
    }
    out
}

fn blob_exists(t: &TestContext, digest: &str) -> bool {
    t.root().join("oci/blobs/sha256").join(digest.strip_prefix("sha256:").unwrap()).is_file()
}

fn names(t: &TestContext) -> Vec<String> {
    t.index()["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["annotations"]["org.opencontainers.image.ref.name"].as_str().map(String::from))
        .collect()
}

fn system_check(t: &TestContext) {
    let out = t.rbuild().args(["system", "check"]).output().unwrap();
    assert!(
        out.status.success(),
        "system check found problems:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn tmp_entries(t: &TestContext) -> Vec<String> {
    fs::read_dir(t.root().join("tmp"))
        .map(|d| d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default()
}

fn leases(t: &TestContext) -> Vec<String> {
    fs::read_dir(t.root().join("leases"))
        .map(|d| d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default()
}

/// Find `name` anywhere under `dir` (as root).
fn find_file(dir: &Path, name: &str) -> Option<PathBuf> {
    walkdir::WalkDir::new(dir).into_iter().flatten().find(|e| e.file_name() == name).map(|e| e.into_path())
}

#[test]
fn defect2_store_is_unreachable_for_other_users_even_in_a_world_traversable_dir() {
    require_root();
    let t = TestContext::new();
    // The temp dir is 0700; make it like /var/lib: every user may traverse it.
    fs::set_permissions(t.dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    // An image carrying a setuid-root copy of id(1): what a hostile base image would ship.
    let id = fs::read("/usr/bin/id").unwrap();
    let tar = tar_of(&[("suid/sid", 0o4755, id), ("secret", 0o644, b"token".to_vec())]);
    fs::write(t.dir.path().join("suid.tar"), tar).unwrap();
    t.rbuild().args(["import"]).arg(t.dir.path().join("suid.tar")).arg("suid:1").assert().success();
    // A COPY onto it unpacks the image's layer into snapshots/ (overlay backend).
    t.write("Dockerfile", "FROM suid:1\nCOPY f /f\n");
    t.write("f", "x");
    t.build("child:1", &[]);
    let snapshots = t.root().join("snapshots");
    let suid = find_file(&snapshots, "sid").expect("the setuid file was unpacked into a snapshot");
    assert_eq!(fs::metadata(&suid).unwrap().mode() & 0o7777, 0o4755);
    let layer = referenced_blobs(&t, "suid:1")[2].clone();
    let blob = t.root().join("oci/blobs/sha256").join(layer.strip_prefix("sha256:").unwrap());

    let ls = as_nobody(&["ls", snapshots.to_str().unwrap()]);
    assert!(!ls.status.success(), "nobody listed snapshots/: {}", String::from_utf8_lossy(&ls.stdout));
    let cat = as_nobody(&["cat", blob.to_str().unwrap()]);
    assert!(!cat.status.success(), "nobody read a layer blob");
    let exec = Command::new(&suid).uid(NOBODY).gid(NOBODY).current_dir("/").output();
    if let Ok(out) = exec {
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(!out.status.success() && !text.contains("euid=0"), "nobody ran the image's setuid binary: {text}");
    }
    let mode = fs::metadata(t.root()).unwrap().mode() & 0o7777;
    assert_eq!(mode & 0o067, 0, "store root mode {mode:o}");
}

#[test]
fn defect2_an_open_store_root_is_tightened_on_open_and_a_foreign_one_refused() {
    require_root();
    let t = TestContext::new();
    fs::create_dir(t.root()).unwrap();
    fs::set_permissions(t.root(), fs::Permissions::from_mode(0o755)).unwrap();
    t.rbuild().arg("images").assert().success();
    assert_eq!(fs::metadata(t.root()).unwrap().mode() & 0o777, 0o700, "an open root of ours is tightened");

    // A root that belongs to someone else and lets others in: refused with what to do, nothing changed.
    fs::set_permissions(t.root(), fs::Permissions::from_mode(0o755)).unwrap();
    nix::unistd::chown(&t.root(), Some(nix::unistd::Uid::from_raw(NOBODY)), None).unwrap();
    let out = t.rbuild().arg("images").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&t.root().display().to_string()) && err.contains("chmod 700"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(fs::metadata(t.root()).unwrap().mode() & 0o777, 0o755);
}

#[test]
/// Not a regression test: the private store must not break RUN as a non-root USER (overlay lowers are
/// opened with the mounter's credentials, so the 0700 root is never in a RUN step's way).
fn private_store_still_lets_a_non_root_run_step_read_the_image() {
    require_root();
    let t = TestContext::new();
    fs::set_permissions(t.dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    t.import_busybox();
    t.write(
        "Dockerfile",
        "FROM busybox:latest\nRUN echo hi > /tmp/base.txt && chmod 644 /tmp/base.txt\nUSER 65534:65534\n\
         RUN test \"$(id -u)\" = 65534 && cat /tmp/base.txt && ls /bin/sh && echo ok > /tmp/mine\n",
    );
    t.build("user:1", &[]);
    let layer = t.layer("user:1", 2);
    assert_eq!(layer["tmp/mine"].data, b"ok\n");
    assert_eq!(layer["tmp/mine"].uid, 65534);
}

/// Start a build of `tag` in the background and return once its RUN step is running.
fn build_until_run_starts(t: &TestContext, tag: &str) -> std::process::Child {
    let mut child = t
        .process()
        .args(["build", "--progress=plain", "-t", tag])
        .arg(t.ctx())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    for line in lines.by_ref() {
        if line.unwrap().contains("started") {
            break;
        }
    }
    // Keep draining so the build never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    child
}

#[test]
fn defect5_base_removed_mid_build_never_publishes_a_broken_image() {
    let t = TestContext::busybox();
    t.write("Dockerfile", "FROM busybox:latest\nRUN echo started; sleep 2\nCOPY f /f\n");
    t.write("f", "x");
    let base = referenced_blobs(&t, "busybox:latest");
    // The base was pulled or imported long ago (gc keeps blobs written since a build began anyway).
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    for d in &base {
        let path = t.root().join("oci/blobs/sha256").join(d.strip_prefix("sha256:").unwrap());
        fs::File::options().write(true).open(path).unwrap().set_modified(hour_ago).unwrap();
    }
    let mut build = build_until_run_starts(&t, "victim:1");
    // The build uses the base: removing it is refused (issue 9), -f only takes its name away, and a
    // prune keeps the now unnamed base while the build runs.
    let err = t.fails(&["rmi", "busybox:latest"], 1);
    assert!(err.contains("must force"), "{err}");
    t.rbuild().args(["rmi", "-f", "busybox:latest"]).assert().success();
    t.rbuild().arg("prune").assert().success();
    let status = build.wait().unwrap();
    if status.success() {
        for d in referenced_blobs(&t, "victim:1") {
            assert!(blob_exists(&t, &d), "victim:1 references {d}, which is gone");
        }
        // The base layer is the victim's first layer: it must have survived.
        assert!(blob_exists(&t, &base[2]));
    } else {
        assert!(!names(&t).iter().any(|n| n.contains("victim")), "a failed build left a name");
    }
    system_check(&t);
}

#[test]
fn defect6_tag_racing_prune_never_loses_a_tag_or_its_blobs() {
    require_root();
    let t = TestContext::new();
    for i in 0..20 {
        // Several unnamed (dangling) images, the one to be tagged last in the index, so that prune has
        // work to do between deciding and deleting.
        let mut last = String::new();
        for j in 0..6 {
            let tar = tar_of(&[(&format!("f{i}-{j}"), 0o644, format!("{i}-{j}").into_bytes())]);
            let path = t.dir.path().join(format!("d{i}-{j}.tar"));
            fs::write(&path, tar).unwrap();
            let out = t.rbuild().arg("import").arg(&path).output().unwrap();
            assert!(out.status.success());
            last = String::from_utf8(out.stdout).unwrap().trim().to_string();
        }
        let name = format!("keep:{i}");
        let mut prune = t.process().arg("prune").stdout(Stdio::null()).spawn().unwrap();
        let tag = t.rbuild().args(["tag", &last, &name]).output().unwrap();
        assert!(prune.wait().unwrap().success());
        if tag.status.success() {
            let full = name.clone();
            assert!(names(&t).contains(&full), "iteration {i}: `tag` succeeded but {name} is gone");
            for d in referenced_blobs(&t, &full) {
                assert!(blob_exists(&t, &d), "iteration {i}: {name} references {d}, which prune deleted");
            }
        }
    }
    system_check(&t);
}

/// A context with one large file of incompressible bytes (so writing its layer takes a while).
fn large_context(t: &TestContext, mib: usize) {
    let mut data = vec![0u8; mib << 20];
    let mut x: u64 = 0x9e3779b97f4a7c15;
    for chunk in data.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    fs::write(t.ctx().join("big"), data).unwrap();
}

/// Start `cmd`, wait until `ready` holds, SIGTERM it, and return its exit code and stderr.
fn terminate_when(mut cmd: Command, ready: impl Fn() -> bool) -> (Option<i32>, String) {
    let child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    while !ready() {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Whether a blob is being written in the store's tmp/.
fn writing_blob(t: &TestContext) -> bool {
    tmp_entries(t).iter().any(|n| n.starts_with("blob-"))
}

#[test]
fn defect7_sigterm_during_a_layer_write_exits_143_and_leaves_nothing() {
    require_root();
    let t = TestContext::new();
    large_context(&t, 192);
    t.write("Dockerfile", "FROM scratch\nCOPY big /big\n");
    let mut cmd = t.process();
    cmd.args(["build", "-t", "big:1"]).arg(t.ctx());
    let (code, err) = terminate_when(cmd, || writing_blob(&t));
    assert_eq!(code, Some(143), "{err}");
    assert_eq!(err.trim().lines().last().unwrap_or(""), "error: interrupted by SIGTERM; partial work removed", "{err}");
    assert_eq!(tmp_entries(&t), Vec::<String>::new(), "tmp/ after the interrupt");
    assert_eq!(leases(&t), Vec::<String>::new(), "leases after the interrupt");
    assert!(!names(&t).iter().any(|n| n.contains("big")));
}

#[test]
fn defect7_sigterm_during_an_import_exits_143_and_leaves_nothing() {
    require_root();
    let t = TestContext::new();
    large_context(&t, 192);
    let tar = t.dir.path().join("big.tar");
    let mut b = tar::Builder::new(fs::File::create(&tar).unwrap());
    b.append_path_with_name(t.ctx().join("big"), "big").unwrap();
    b.finish().unwrap();
    drop(b);
    t.rbuild().arg("images").assert().success();
    let mut cmd = t.process();
    cmd.arg("import").arg(&tar).arg("big:1");
    let (code, err) = terminate_when(cmd, || writing_blob(&t));
    assert_eq!(code, Some(143), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert_eq!(tmp_entries(&t), Vec::<String>::new(), "tmp/ after the interrupt");
    assert_eq!(leases(&t), Vec::<String>::new(), "leases after the interrupt");
}

/// Debris as a SIGKILLed rbuild leaves it, owned by a pid that cannot be alive (above pid_max's 2^22
/// ceiling); returns the paths planted.
fn plant_debris(t: &TestContext) -> Vec<PathBuf> {
    let dead = 9_999_999;
    let tmp = t.root().join("tmp");
    let dirs = [
        tmp.join(format!("build-{dead}-AbCdEf/upper-1/usr")),
        tmp.join(format!("run-{dead}-0123abcd/upper")),
        t.root().join(format!("snapshots/.unpack-{dead}-AAAAAA/etc")),
        t.root().join("leases"),
    ];
    for d in &dirs {
        fs::create_dir_all(d).unwrap();
    }
    let files = [
        (tmp.join(format!("blob-{dead}-XyZ123")), "partial blob"),
        (tmp.join(format!("index.json-{dead}-q1w2e3")), "{"),
        (t.root().join(format!("leases/lease-{dead}-abcdef")), "since 0\n"),
    ];
    for (f, text) in &files {
        fs::write(f, text).unwrap();
    }
    vec![
        tmp.join(format!("build-{dead}-AbCdEf")),
        tmp.join(format!("run-{dead}-0123abcd")),
        t.root().join(format!("snapshots/.unpack-{dead}-AAAAAA")),
        files[0].0.clone(),
        files[1].0.clone(),
        files[2].0.clone(),
    ]
}

#[test]
fn defect7_debris_of_dead_processes_is_removed_by_the_next_command() {
    require_root();
    let t = TestContext::new();
    t.rbuild().arg("images").assert().success();
    let planted = plant_debris(&t);
    // A temp file of a live process (this test) is not debris.
    let live = t.root().join(format!("tmp/blob-{}-LiVe01", std::process::id()));
    fs::write(&live, b"in progress").unwrap();
    t.rbuild().arg("images").assert().success();
    for p in &planted {
        assert!(!p.exists(), "{} survived the next command", p.display());
    }
    assert_eq!(tmp_entries(&t), vec![live.file_name().unwrap().to_string_lossy().into_owned()]);
    assert!(leases(&t).is_empty());
    fs::remove_file(&live).unwrap();
    system_check(&t);
}

#[test]
fn system_check_reports_debris_without_removing_it() {
    require_root();
    let t = TestContext::new();
    t.rbuild().arg("images").assert().success();
    let planted = plant_debris(&t);
    let check = t.rbuild().args(["system", "check"]).output().unwrap();
    let report = String::from_utf8_lossy(&check.stdout);
    assert_eq!(check.status.code(), Some(1), "{report}");
    for p in &planted {
        assert!(report.contains(&p.display().to_string()), "{} not reported:\n{report}", p.display());
        assert!(p.exists(), "system check is read-only");
    }
}

#[test]
fn defect7_sigterm_during_a_run_step_ends_the_whole_build_as_interrupted() {
    let t = TestContext::busybox();
    t.write("Dockerfile", "FROM busybox:latest\nRUN echo started; sleep 30\n");
    let child = build_until_run_starts(&t, "slow:1");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = child.wait_with_output().unwrap().status;
    assert_eq!(status.code(), Some(143));
    assert_eq!(tmp_entries(&t), Vec::<String>::new(), "tmp/ after the interrupt");
    assert_eq!(leases(&t), Vec::<String>::new(), "leases after the interrupt");
    assert!(!names(&t).iter().any(|n| n.contains("slow")));
}
