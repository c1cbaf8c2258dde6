//! A failing step reaches the caller typed (the leaf module's error, not a string) and is rendered once as
//! `Dockerfile:L:C: ...` with the line and a caret. These drive the library's `engine::build` directly,
//! so they match the typed variant, not the text.

mod common;

use common::{require_root, TestContext};
use rbuild::engine::{self, images::PullPolicy, progress::Mode, BuildError, BuildRequest, StepError};
use rbuild::store::Store;

fn request(t: &TestContext, dockerfile: &str) -> BuildRequest {
    t.write("Dockerfile", dockerfile);
    BuildRequest {
        context_dir: t.ctx(),
        dockerfile: t.ctx().join("Dockerfile"),
        dockerfile_text: dockerfile.to_string(),
        tags: vec![],
        build_args: Default::default(),
        secrets: Default::default(),
        ssh: Default::default(),
        target: None,
        platform: None,
        build_contexts: Default::default(),
        labels: Default::default(),
        compression: rbuild::layer::Compression::Gzip,
        source_date_epoch: None,
        network: rbuild::sandbox::Network::None,
        extra_hosts: vec![],
        seccomp: Default::default(),
        limits: Default::default(),
        no_cache: true,
        no_cache_filter: vec![],
        squash: false,
        annotations: Default::default(),
        progress: Mode::Plain,
        quiet: true,
        debug: false,
        pull: PullPolicy::Never,
        registry: Default::default(),
        cache_to: vec![],
        cache_from: vec![],
        jobs: 2,
        sandbox_init: Some(assert_cmd::cargo::cargo_bin("rbuild")),
    }
}

/// Build and return the step failure: its typed cause and how the user reads it.
fn step_failure(t: &TestContext, dockerfile: &str) -> (StepError, String) {
    let store = Store::open(&t.root()).unwrap();
    match engine::build(&store, &request(t, dockerfile)) {
        Err(BuildError::Step { diagnostic, source }) => (source, diagnostic.to_string()),
        Err(other) => panic!("not a step failure: {other:?}"),
        Ok(_) => panic!("the build succeeded"),
    }
}

#[test]
fn defect_a_failing_copy_is_a_typed_copy_error_at_its_line() {
    let t = TestContext::new();
    let (err, shown) = step_failure(&t, "FROM scratch\n  COPY missing.txt /x\n");
    assert!(matches!(err, StepError::Copy(_)), "{err:?}");
    assert!(shown.starts_with(&format!("{}:2:3: COPY: ", t.ctx().join("Dockerfile").display())), "{shown}");
    assert!(shown.ends_with("     2 |   COPY missing.txt /x\n       |   ^"), "the line and a caret under it:\n{shown}");
}

#[test]
fn defect_a_failing_run_is_a_typed_exit_error_and_a_sandbox_failure_a_sandbox_error() {
    require_root();
    let t = TestContext::new();
    t.import_busybox();
    let (err, shown) = step_failure(&t, "FROM busybox:latest\nRUN exit 3\n");
    assert!(matches!(err, StepError::Exit { code: 3, .. }), "{err:?}");
    assert!(shown.contains("Dockerfile:2:1: process [\"/bin/sh\",\"-c\",\"exit 3\"]"), "{shown}");
    let (err, shown) = step_failure(&t, "FROM busybox:latest\nUSER nobody-here\nRUN true\n");
    assert!(matches!(err, StepError::Sandbox(_)), "{err:?}");
    assert!(shown.contains("Dockerfile:3:1: RUN: "), "{shown}");
}

/// Makes a directory immutable (even for root) while alive.
struct Immutable(std::path::PathBuf);

impl Immutable {
    fn new(dir: std::path::PathBuf) -> Immutable {
        let ok = std::process::Command::new("chattr").arg("+i").arg(&dir).status().unwrap().success();
        assert!(
            ok,
            "chattr +i {} failed: this test needs root and a filesystem with the immutable flag",
            dir.display()
        );
        Immutable(dir)
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr").arg("-i").arg(&self.0).status();
    }
}

#[test]
fn defect_a_failing_layer_write_keeps_the_store_error_in_its_chain() {
    require_root();
    let t = TestContext::new();
    t.write("a.txt", "a");
    let blobs = t.root().join("oci/blobs/sha256");
    Store::open(&t.root()).unwrap();
    std::fs::create_dir_all(&blobs).unwrap();
    let _frozen = Immutable::new(blobs);
    let (err, shown) = step_failure(&t, "FROM scratch\nCOPY a.txt /a.txt\n");
    assert!(
        matches!(err, StepError::Layer(rbuild::layer::LayerError::Store(rbuild::store::StoreError::Io { .. }))),
        "the layer writer's store error, kept typed: {err:?}"
    );
    assert!(shown.contains("Dockerfile:2:1: writing the layer: "), "{shown}");
}

#[test]
fn defect_a_failing_mount_points_at_its_flag_not_the_instruction() {
    let t = TestContext::new();
    let (err, shown) = step_failure(&t, "FROM scratch\nRUN --mount=type=bind,source=missing,target=/m true\n");
    assert!(matches!(err, StepError::Instruction(_)), "{err:?}");
    assert!(shown.contains("Dockerfile:2:5: RUN --mount: source \"missing\" not found"), "{shown}");
    assert!(shown.ends_with("       |     ^"), "the caret under --mount:\n{shown}");
    // The second of two flags, on a continuation line: the caret is under that one.
    let df = "FROM scratch\nRUN --mount=type=tmpfs,target=/t \\\n    --mount=type=bind,source=gone,target=/m true\n";
    let (_, shown) = step_failure(&t, df);
    assert!(shown.contains("Dockerfile:3:5: RUN --mount: source \"gone\" not found"), "{shown}");
    assert!(shown.contains("     3 |     --mount=type=bind"), "the flag's own line:\n{shown}");
    assert!(!shown.contains(":0:"), "{shown}");
}

#[test]
fn defect_a_failing_copy_flag_points_at_that_flag() {
    let t = TestContext::new();
    t.write("a.txt", "a");
    let (err, shown) = step_failure(&t, "FROM scratch\nCOPY --chmod=644 --chown=nobody-here a.txt /a\n");
    assert!(matches!(err, StepError::Instruction(_)), "{err:?}");
    assert!(shown.contains("Dockerfile:2:18: COPY: --chown=nobody-here: "), "{shown}");
    assert!(shown.ends_with(&format!("       | {}^", " ".repeat(17))), "the caret under --chown:\n{shown}");
}

/// Set in the child that runs a test in a private mount namespace of its own (see `in_child`).
const CHILD: &str = "STEP_ERRORS_CHILD";

/// Run test `name` of this binary again, alone, in a mount namespace of its own with the overlay
/// snapshotter (overlay mounts must reach no other test); true in that child, where the test's body runs.
fn in_child(name: &str) -> bool {
    if std::env::var_os(CHILD).is_some() {
        return true;
    }
    let out = common::tool("unshare")
        .args(["--mount", "--propagation", "private"])
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env("RBUILD_SNAPSHOTTER", "overlay")
        .output()
        .unwrap();
    let (stdout, stderr) = (common::text(&out.stdout), common::text(&out.stderr));
    assert!(out.status.success() && stdout.contains("1 passed"), "the child failed:\n{stdout}\n{stderr}");
    false
}

#[test]
fn defect_a_failing_store_write_is_a_typed_snapshot_error_at_its_line() {
    require_root();
    if !in_child("defect_a_failing_store_write_is_a_typed_snapshot_error_at_its_line") {
        return;
    }
    let t = TestContext::busybox();
    // The base image's layer is unpacked into the store's snapshots/ when the RUN step prepares its
    // rootfs: that write is refused.
    let snapshots = t.root().join("snapshots");
    std::fs::create_dir_all(&snapshots).unwrap();
    let _frozen = Immutable::new(snapshots);
    let (err, shown) = step_failure(&t, "FROM busybox:latest\nRUN true\n");
    assert!(
        matches!(
            err,
            StepError::Snapshot(rbuild::snapshot::SnapshotError::Store(rbuild::store::StoreError::Io { .. }))
        ),
        "the store's error, kept typed: {err:?}"
    );
    assert!(shown.contains("Dockerfile:2:1: "), "{shown}");
    assert!(shown.contains("     2 | RUN true"), "{shown}");
}
