//! Typed instruction flags checked when the Dockerfile is read: every bad flag value and a broken JSON
//! array is reported with its line and column by `build` (before any step runs) and by `lint`.

mod common;

use common::TestContext;
use serde_json::Value;

/// (the bad instruction, the column of the word at fault, a piece of the message)
const BAD: &[(&str, usize, &str)] = &[
    ("RUN --network=bogus true", 5, "--network=bogus"),
    ("RUN --mount=type=volume,target=/v true", 5, "unknown mount type"),
    ("RUN --mount=type=cache,target=/c,sharing=bogus true", 5, "sharing=bogus"),
    ("COPY --chmod=999 a /b", 6, "--chmod=999"),
    ("COPY [\"a\", \"b\"", 14, "not valid JSON"),
];

fn dockerfile(bad: &str) -> String {
    // A step that would run (and show a progress line) comes first: nothing may run.
    format!("FROM scratch\nCOPY a /a\n{bad}\n")
}

#[test]
fn defect_bad_flags_fail_the_build_with_line_and_column_before_any_step_runs() {
    for (bad, column, why) in BAD {
        let t = TestContext::new();
        t.write("a", "x");
        t.write("Dockerfile", &dockerfile(bad));
        let out = t.rbuild().args(["build", "--progress=plain", "-t", "x:1"]).arg(t.ctx()).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{bad}: {stderr}");
        assert!(stderr.contains(&format!("Dockerfile:3:{column}: ")), "{bad}: want line 3 column {column}:\n{stderr}");
        assert!(stderr.contains(why), "{bad}: {stderr}");
        assert!(stderr.contains(&format!("3 | {bad}")), "the line is shown: {stderr}");
        assert!(!stderr.contains("#["), "{bad}: a step ran before the error:\n{stderr}");
    }
}

#[test]
fn defect_bad_flags_pass_lint_no_more() {
    for (bad, column, why) in BAD {
        let t = TestContext::new();
        t.write("Dockerfile", &dockerfile(bad));
        let out = t.rbuild().args(["lint", "--format", "json"]).arg(t.ctx().join("Dockerfile")).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{bad}: {}", String::from_utf8_lossy(&out.stdout));
        let findings: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
        let hit = findings.iter().find(|f| f["code"] == "DL1000").unwrap_or_else(|| panic!("{bad}: {findings:?}"));
        assert_eq!((hit["line"].as_u64(), hit["column"].as_u64()), (Some(3), Some(*column as u64)), "{bad}");
        assert!(hit["message"].as_str().unwrap().contains(why), "{bad}: {hit}");
    }
}

#[test]
fn build_check_reports_a_bad_flag_and_builds_nothing() {
    let t = TestContext::new();
    t.write("a", "x");
    t.write("Dockerfile", &dockerfile("RUN --network=bogus true"));
    let out = t.rbuild().args(["build", "--check", "-t", "x:1"]).arg(t.ctx()).output().unwrap();
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("DL1000") && all.contains("--network=bogus"), "{all}");
    assert!(!all.contains("#["), "{all}");
}

#[test]
fn a_flag_value_with_a_variable_is_checked_after_expansion() {
    let t = TestContext::new();
    t.write("a", "x");
    t.write("Dockerfile", "FROM scratch\nARG MODE=999\nCOPY --chmod=$MODE a /b\n");
    let out = t.rbuild().args(["build", "--progress=plain", "-t", "x:1"]).arg(t.ctx()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("Dockerfile:3") && stderr.contains("--chmod=$MODE"), "{stderr}");
    t.rbuild().args(["build", "-q", "--build-arg", "MODE=u=rw,go=r", "-t", "x:1"]).arg(t.ctx()).assert().success();
    assert_eq!(t.layer("x:1", 0)["b"].mode & 0o7777, 0o644, "a symbolic --chmod applies to the file");
}
