//! The sandbox through its library API (`rbuild::sandbox::run_with_init`, with the built rbuild binary as
//! the init), on rootfs shapes `rbuild run` does not exercise by itself: an overlay of many lower dirs
//! with long paths, writes and deletes landing in the upper dir, reported mount-point stubs, a plain
//! directory rootfs, and setup failures reported by name. These need root and fail loudly without it.

mod common;

use common::{busybox_rootfs, require_root};
use rbuild::sandbox::{run_with_init, Bind, Network, Rootfs, RunSpec, SandboxError, Stdin};
use std::path::{Path, PathBuf};

fn init() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_rbuild"))
}

/// The busybox rootfs unpacked into `dir`.
fn unpack_busybox(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    rbuild::layer::extract_tar(std::fs::File::open(busybox_rootfs()).unwrap(), dir).unwrap();
}

fn spec(rootfs: Rootfs, script: &str) -> RunSpec {
    RunSpec {
        rootfs,
        argv: vec!["/bin/sh".into(), "-c".into(), script.into()],
        env: vec!["PATH=/bin:/usr/bin".into()],
        cwd: "/".into(),
        user: None,
        network: Network::None,
        hostname: "sandbox-test".into(),
        binds: vec![],
        tmpfs: vec![],
        stdin: Stdin::Null,
        seccomp: Default::default(),
        limits: Default::default(),
        readonly_rootfs: false,
        hosts_file: None,
        resolution: Default::default(),
    }
}

#[test]
fn overlay_writes_and_deletes_land_in_the_upper_and_stubs_are_reported() {
    require_root();
    let t = tempfile::tempdir().unwrap();
    let base = t.path().join("snapshots/base");
    unpack_busybox(&base);
    let (upper, work) = (t.path().join("upper"), t.path().join("work"));
    std::fs::create_dir_all(&upper).unwrap();
    std::fs::create_dir_all(&work).unwrap();
    let rootfs = Rootfs::Overlay { lowers: vec![base.clone()], upper: upper.clone(), work };
    let script = "echo new > /created && rm /etc/group && test -s /etc/hosts && cat /etc/hostname > /seen-hostname";
    let out = run_with_init(&spec(rootfs, script), init()).unwrap();
    assert_eq!(out.exit_code, 0);
    assert_eq!(std::fs::read_to_string(upper.join("created")).unwrap(), "new\n");
    assert_eq!(std::fs::read_to_string(upper.join("seen-hostname")).unwrap(), "sandbox-test\n");
    // The deletion is an overlay whiteout (a 0/0 character device) in the upper; the lower is untouched.
    let wh = std::fs::symlink_metadata(upper.join("etc/group")).unwrap();
    assert!(std::os::unix::fs::FileTypeExt::is_char_device(&wh.file_type()));
    assert!(base.join("etc/group").is_file());
    // busybox has /etc but none of the three files: their stubs are in the upper and reported.
    assert_eq!(out.created_stubs, ["/etc/hosts", "/etc/resolv.conf", "/etc/hostname"]);
    for stub in &out.created_stubs {
        let p = upper.join(stub.trim_start_matches('/'));
        assert_eq!(std::fs::metadata(&p).unwrap().len(), 0, "{stub} is not an empty stub");
    }
}

/// An overlay of `count` lowers named like snapshots (64 hex digits) under a long path: the busybox
/// rootfs at the bottom, then one dir per layer adding `/layers/NN` and overriding `/top`. Checks that
/// every layer is visible and the top-most wins.
fn many_lowers(count: usize) {
    require_root();
    let t = tempfile::tempdir().unwrap();
    let snapshots = t.path().join("a-rather-long-directory-name-for-the-store/snapshots");
    let mut lowers: Vec<PathBuf> = Vec::new();
    // Bottom first here; overlay wants top-most first.
    unpack_busybox(&snapshots.join(format!("{:064x}", 0)));
    lowers.push(snapshots.join(format!("{:064x}", 0)));
    for i in 1..count {
        let dir = snapshots.join(format!("{i:064x}"));
        std::fs::create_dir_all(dir.join("layers")).unwrap();
        std::fs::write(dir.join(format!("layers/{i:03}")), "").unwrap();
        std::fs::write(dir.join("top"), format!("{i}\n")).unwrap();
        lowers.push(dir);
    }
    lowers.reverse();
    let (upper, work) = (t.path().join("upper"), t.path().join("work"));
    std::fs::create_dir_all(&upper).unwrap();
    std::fs::create_dir_all(&work).unwrap();
    let rootfs = Rootfs::Overlay { lowers, upper: upper.clone(), work };
    let out = run_with_init(&spec(rootfs, "ls /layers | wc -l > /count; cat /top >> /count"), init()).unwrap();
    assert_eq!(out.exit_code, 0);
    let last = (count - 1).to_string();
    let seen = std::fs::read_to_string(upper.join("count")).unwrap();
    assert_eq!(seen.split_whitespace().collect::<Vec<_>>(), [last.as_str(), last.as_str()]);
}

#[test]
fn forty_five_lowers_with_long_paths_mount_in_order() {
    many_lowers(45);
}

#[test]
fn a_hundred_and_fifty_lowers_overflowing_a_page_still_mount() {
    many_lowers(150);
}

#[test]
fn a_plain_directory_rootfs_and_binds_work() {
    require_root();
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("rootfs");
    unpack_busybox(&root);
    let shared = t.path().join("shared");
    std::fs::create_dir_all(&shared).unwrap();
    let mut s = spec(Rootfs::Dir(root.clone()), "echo hi > /cache/file; echo $HOME > /home-was; exit 7");
    s.binds = vec![Bind { source: shared.clone(), target: "/cache".into(), readonly: false }];
    let out = run_with_init(&s, init()).unwrap();
    assert_eq!(out.exit_code, 7);
    assert_eq!(std::fs::read_to_string(shared.join("file")).unwrap(), "hi\n");
    assert_eq!(std::fs::read_to_string(root.join("home-was")).unwrap(), "/root\n");
    assert!(out.created_stubs.contains(&"/cache".to_string()), "{:?}", out.created_stubs);
}

#[test]
fn setup_failures_come_back_by_name() {
    require_root();
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("rootfs");
    unpack_busybox(&root);
    let mut s = spec(Rootfs::Dir(root.clone()), "true");
    s.binds = vec![Bind { source: t.path().join("missing"), target: "/x".into(), readonly: false }];
    let err = run_with_init(&s, init()).unwrap_err();
    assert!(
        err.to_string().starts_with(&format!("sandbox: reading bind source {}/missing: ", t.path().display())),
        "{err}"
    );
    let mut s = spec(Rootfs::Dir(root.clone()), "true");
    s.user = Some("ghost".into());
    assert!(matches!(run_with_init(&s, init()), Err(SandboxError::User(_))));
    let mut s = spec(Rootfs::Dir(root.clone()), "true");
    s.argv = vec!["missing-tool".into()];
    let err = run_with_init(&s, init()).unwrap_err();
    assert_eq!(err.to_string(), "exec: \"missing-tool\": executable file not found in $PATH");
    let mut s = spec(Rootfs::Dir(root), "true");
    s.argv.clear();
    assert!(matches!(run_with_init(&s, init()), Err(SandboxError::EmptyCommand)));
}
