//! `rbuild lint` and `rbuild build --check` driven as a user would, in temp directories: default file,
//! stdin, formats, exit statuses (0 clean, 1 findings at or above the threshold, 2 usage errors),
//! configuration discovery, `.dockerignore`, and the build stopping before it starts.

use assert_cmd::Command;
use predicates::prelude::*;
use std::path::Path;

fn rbuild(dir: &Path) -> Command {
    let mut c = Command::cargo_bin("rbuild").expect("rbuild binary");
    c.current_dir(dir).env_remove("NO_COLOR");
    c
}

fn write(dir: &Path, name: &str, text: &str) {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(p, text).expect("write");
}

#[test]
fn lints_dockerfile_in_the_current_directory_by_default() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "Dockerfile", "FROM debian:12\nRUN apt-get update && apt-get install -y --no-install-recommends curl && rm -rf /var/lib/apt/lists/*\n");
    rbuild(dir.path())
        .arg("lint")
        .assert()
        .code(1)
        .stdout("Dockerfile:2 DL3008 warning: apt-get install curl: pin versions (pkg=version)\n");
}

#[test]
fn clean_file_exits_zero_and_prints_nothing() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "Dockerfile", "FROM debian:12\nUSER 1000\nCMD [\"true\"]\n");
    rbuild(dir.path()).args(["lint", "Dockerfile"]).assert().code(0).stdout("");
}

#[test]
fn stdin_json_and_the_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let text = "FROM debian:12 AS Build\n";
    // A style finding does not reach the default threshold (info)...
    let out = rbuild(dir.path()).args(["lint", "-", "--format", "json"]).write_stdin(text).assert().code(0);
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(
        v,
        serde_json::json!([{"code": "StageNameCasing", "column": 1, "file": "-", "level": "style", "line": 1,
            "message": "stage name \"Build\" should be lower case: \"build\""}])
    );
    // ...but does reach `style`, and nothing reaches `none`.
    rbuild(dir.path()).args(["lint", "-", "--failure-threshold", "style"]).write_stdin(text).assert().code(1);
    rbuild(dir.path()).args(["lint", "-", "-t", "none"]).write_stdin("FROM debian\n").assert().code(0);
}

#[test]
fn ignore_flag_and_config_file() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "Dockerfile", "FROM debian\nRUN cd /x\n");
    rbuild(dir.path()).args(["lint", "--ignore", "DL3006", "--ignore", "CdInRun"]).assert().code(0).stdout("");
    write(dir.path(), ".hadolint.yaml", "ignored: [DL3006]\nfailure-threshold: error\n");
    rbuild(dir.path())
        .arg("lint")
        .assert()
        .code(0)
        .stdout("Dockerfile:2 DL3003 warning: cd /x: use WORKDIR to change directory\n");
    // .rbuild-lint.yaml wins over .hadolint.yaml.
    write(dir.path(), ".rbuild-lint.yaml", "ignored: [DL3003]\n");
    rbuild(dir.path()).arg("lint").assert().code(1).stdout(predicate::str::contains("DL3006"));
}

#[test]
fn usage_errors_exit_two() {
    let dir = tempfile::tempdir().unwrap();
    rbuild(dir.path())
        .args(["lint", "missing.Dockerfile"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot read"));
    write(dir.path(), "Dockerfile", "FROM debian:12\n");
    rbuild(dir.path()).args(["lint", "--format", "xml"]).assert().code(2);
    rbuild(dir.path()).args(["lint", "--failure-threshold", "loud"]).assert().code(2);
    write(dir.path(), "bad.yaml", "ignored: 3\n");
    rbuild(dir.path())
        .args(["lint", "--config", "bad.yaml"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("bad.yaml"));
}

#[test]
fn other_formats_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "app.Dockerfile", "FROM debian:latest\n");
    rbuild(dir.path()).args(["lint", "-f", "checkstyle", "app.Dockerfile"]).assert().code(1).stdout(
        predicate::str::contains("<file name=\"app.Dockerfile\">").and(predicate::str::contains("source=\"DL3007\"")),
    );
    rbuild(dir.path())
        .args(["lint", "-f", "gitlab", "app.Dockerfile"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("\"check_name\":\"DL3007\""));
}

#[test]
fn copy_ignored_file_reads_the_dockerignore_beside_the_dockerfile() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "app/Dockerfile", "FROM debian:12\nCOPY build/out.bin /usr/local/bin/\n");
    write(dir.path(), "app/.dockerignore", "build\n");
    rbuild(dir.path()).args(["lint", "app/Dockerfile"]).assert().code(1).stdout(predicate::str::contains(
        "app/Dockerfile:2 CopyIgnoredFile warning: build/out.bin is excluded by .dockerignore",
    ));
    // --context points elsewhere: that context has no .dockerignore.
    write(dir.path(), "ctx/keep", "");
    rbuild(dir.path()).args(["lint", "--context", "ctx", "app/Dockerfile"]).assert().code(0);
}

#[test]
fn build_check_stops_before_building_on_errors() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "Dockerfile", "FROM scratch\nWORKDIR relative\n");
    let root = dir.path().join("store");
    rbuild(dir.path())
        .args(["--root"])
        .arg(&root)
        .args(["build", "--check", "-t", "x:1", "."])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("DL3000 error").and(predicate::str::contains("build stopped")));
    assert!(!root.exists(), "the build must stop before opening the store");
}

#[test]
fn list_rules_prints_the_table() {
    let dir = tempfile::tempdir().unwrap();
    rbuild(dir.path())
        .args(["lint", "--list-rules"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("DL3008").and(predicate::str::contains("UndefinedArgInFrom")));
}
