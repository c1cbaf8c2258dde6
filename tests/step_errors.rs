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
