//! The stage graph end to end: independent stages build at once (bounded by `--jobs`), progress lines name
//! their stage, unneeded stages are skipped, and cycles are plan errors reported before anything runs.

mod common;

use common::{require_root, TestContext};
use std::time::{Duration, Instant};

const TWO_SLEEPERS: &str = "FROM busybox:latest AS left\nRUN sleep 2 && echo left > /left\n\
                            FROM busybox:latest AS right\nRUN sleep 2 && echo right > /right\n\
                            FROM busybox:latest\nCOPY --from=left /left /\nCOPY --from=right /right /\n";

fn timed_build(t: &TestContext, jobs: &str) -> (Duration, String) {
    let started = Instant::now();
    let out = t
        .rbuild()
        .args(["build", "--no-cache", "--progress=plain", "-t", "two:1", "--jobs", jobs])
        .arg(t.ctx())
        .output()
        .unwrap();
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "build failed:\n{stderr}");
    (took, stderr)
}

fn sleeper_setup() -> TestContext {
    require_root();
    let t = TestContext::new();
    t.import_busybox();
    t.write("Dockerfile", TWO_SLEEPERS);
    // Unpack busybox's snapshot once, so the timed builds measure the stages.
    t.write("warm/Dockerfile", "FROM busybox:latest\nRUN true\n");
    t.rbuild().args(["build", "-q", "-t", "warm:1"]).arg(t.ctx().join("warm")).assert().success();
    t
}

#[test]
fn independent_stages_run_at_once_and_progress_shows_both_running() {
    let t = sleeper_setup();
    let (took, stderr) = timed_build(&t, "2");
    assert!(took < Duration::from_millis(3500), "two 2 s stages took {took:?}:\n{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    let start = |stage: &str| {
        lines.iter().position(|l| l.starts_with(&format!("#[{stage} 2/2] RUN sleep 2")) && !l.contains(" DONE "))
    };
    let first_done = lines.iter().position(|l| l.contains("] RUN sleep 2") && l.contains(" DONE "));
    let (left, right, done) = (start("left"), start("right"), first_done);
    assert!(left.is_some() && right.is_some() && done.is_some(), "missing step lines:\n{stderr}");
    assert!(left < done && right < done, "both RUN steps must start before either ends:\n{stderr}");
    let files = t.layer("two:1", t.layer_count("two:1") - 1);
    assert!(files.contains_key("right"), "the final stage has both stages' files");
}

#[test]
fn jobs_1_builds_one_stage_at_a_time() {
    let t = sleeper_setup();
    let (took, stderr) = timed_build(&t, "1");
    assert!(took > Duration::from_secs(4), "with --jobs 1 two 2 s stages took only {took:?}:\n{stderr}");
}

#[test]
fn a_stage_cycle_is_a_plan_error_with_lines_before_anything_runs() {
    let t = TestContext::new();
    t.write("Dockerfile", "FROM a AS b\nRUN echo never\nFROM b AS a\nRUN echo never\n");
    let out = t.rbuild().args(["build", "--progress=plain", "-t", "x:1"]).arg(t.ctx()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("Dockerfile:1"), "the error points at the first FROM:\n{stderr}");
    assert!(stderr.contains("circular dependency"), "{stderr}");
    assert!(stderr.contains("(line 3)"), "the error names the other line too:\n{stderr}");
    assert!(!stderr.contains("#["), "no step may start before the plan is checked:\n{stderr}");
}

#[test]
fn copy_from_a_missing_stage_index_is_a_plan_error() {
    let t = TestContext::new();
    t.write("Dockerfile", "FROM scratch\nCOPY --from=2 /x /x\n");
    let out = t.rbuild().args(["build", "--progress=plain", "-t", "x:1"]).arg(t.ctx()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("Dockerfile:2") && stderr.contains("no stage 2"), "{stderr}");
    assert!(!stderr.contains("#["), "{stderr}");
}

#[test]
fn an_unknown_from_name_is_still_an_image_reference() {
    let t = TestContext::new();
    t.write("Dockerfile", "FROM scratch\nCOPY --from=nosuchimage /x /x\n");
    let out =
        t.rbuild().args(["build", "--pull=never", "--progress=plain", "-t", "x:1"]).arg(t.ctx()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("Dockerfile:2"), "{stderr}");
    assert!(stderr.contains("no stage of that name") && stderr.contains("rbuild pull nosuchimage"), "{stderr}");
}

#[test]
fn stages_the_target_does_not_need_are_skipped_and_each_stage_builds_once() {
    require_root();
    let t = TestContext::new();
    t.import_busybox();
    t.write(
        "Dockerfile",
        "FROM busybox:latest AS broken\nRUN false\n\
         FROM busybox:latest AS shared\nRUN echo once >> /count\n\
         FROM shared AS one\nFROM shared AS two\n\
         FROM busybox:latest\nCOPY --from=one /count /one\nCOPY --from=two /count /two\n",
    );
    let out = t.rbuild().args(["build", "--progress=plain", "-t", "x:1"]).arg(t.ctx()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("[broken"), "an unneeded stage ran:\n{stderr}");
    assert_eq!(stderr.matches("#[shared 2/2] RUN echo once >> /count DONE").count(), 1, "{stderr}");
    let layer = t.layer("x:1", t.layer_count("x:1") - 1);
    assert_eq!(layer["two"].data, b"once\n");
}

#[test]
fn defect_a_failing_stage_stops_the_stages_running_beside_it() {
    let t = sleeper_setup();
    t.write(
        "Dockerfile",
        "FROM busybox:latest AS slow\nRUN sleep 30 && touch /done\n\
         FROM busybox:latest AS broken\nRUN sleep 1 && false\n\
         FROM busybox:latest\nCOPY --from=slow /done /\nCOPY --from=broken /bin/busybox /x\n",
    );
    let out = t.rbuild().args(["build", "--progress=plain", "--jobs", "2", "-t", "x:1"]).arg(t.ctx()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("Dockerfile:4:1: process") && stderr.contains("exit code: 1"), "{stderr}");
    assert!(!stderr.contains("RUN sleep 30 && touch /done DONE"), "the other stage ran to its end:\n{stderr}");
}
