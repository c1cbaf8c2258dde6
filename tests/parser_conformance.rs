//! BuildKit's own parser golden data (`../shared/conformance/buildkit-parser`) and real-world Dockerfiles
//! (`../shared/conformance/real-world`), read in place. Every mismatching case is reported by name.

use rbuild::dockerfile::{dump::dump, parse};
use std::path::{Path, PathBuf};

fn conformance() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance")
}

/// The case directories under `dir`, sorted; fails loudly if the data is missing.
fn cases(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("conformance data missing at {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no cases under {}", dir.display());
    out
}

fn read(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    String::from_utf8(bytes).unwrap_or_else(|e| panic!("{}: not UTF-8: {e}", path.display()))
}

fn name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

#[test]
fn buildkit_testfiles_dump_byte_identical() {
    let mut failures = Vec::new();
    let all = cases(&conformance().join("buildkit-parser/testfiles"));
    for case in &all {
        let expected = read(&case.join("result"));
        match parse(&read(&case.join("Dockerfile"))) {
            Ok(file) => {
                let got = dump(&file) + "\n";
                if got != expected {
                    failures.push(format!("{}:\n--- expected\n{expected}--- got\n{got}", name(case)));
                }
            }
            Err(e) => failures.push(format!("{}: parse error {e}", name(case))),
        }
    }
    assert!(failures.is_empty(), "{} of {} cases differ:\n{}", failures.len(), all.len(), failures.join("\n"));
}

#[test]
fn buildkit_negative_testfiles_fail_with_a_line() {
    let mut failures = Vec::new();
    for case in cases(&conformance().join("buildkit-parser/testfiles-negative")) {
        match parse(&read(&case.join("Dockerfile"))) {
            Ok(file) => failures.push(format!("{}: parsed into {} instructions", name(&case), file.instructions.len())),
            Err(e) if e.line == 0 || e.message.is_empty() => failures.push(format!("{}: bad error {e:?}", name(&case))),
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn buildkit_line_numbers() {
    let dir = conformance().join("buildkit-parser/testfile-line");
    let expected: serde_json::Value = serde_json::from_str(&read(&dir.join("expected.json"))).unwrap();
    let file = parse(&read(&dir.join("Dockerfile"))).unwrap();
    let got: Vec<[usize; 2]> = file.instructions.iter().map(|i| [i.location.start_line, i.location.end_line]).collect();
    let want: Vec<[usize; 2]> = serde_json::from_value(expected["children"].clone()).unwrap();
    assert_eq!(got, want);
    let root = &expected["root"];
    assert_eq!(got.first().map(|s| s[0]), root["start_line"].as_u64().map(|n| n as usize));
    assert_eq!(got.last().map(|s| s[1]), root["end_line"].as_u64().map(|n| n as usize));
}

#[test]
fn real_world_dockerfiles_parse() {
    let mut failures = Vec::new();
    let all = cases(&conformance().join("real-world"));
    for case in &all {
        match parse(&read(&case.join("Dockerfile"))) {
            Ok(file) if file.instructions.iter().any(|i| i.kind == rbuild::dockerfile::Keyword::From) => {}
            Ok(_) => failures.push(format!("{}: no FROM found", name(case))),
            Err(e) => failures.push(format!("{}: {e}", name(case))),
        }
    }
    assert!(failures.is_empty(), "{} of {} files fail:\n{}", failures.len(), all.len(), failures.join("\n"));
}

// The real binary: `rbuild parse` prints the dump (or JSON) and reports errors with file, line and column.

fn rbuild_parse(args: &[&str], stdin: &str) -> assert_cmd::assert::Assert {
    assert_cmd::Command::cargo_bin("rbuild").unwrap().arg("parse").args(args).write_stdin(stdin).assert()
}

#[test]
fn cli_parse_prints_the_buildkit_dump() {
    let case = conformance().join("buildkit-parser/testfiles/flags");
    let expected = read(&case.join("result"));
    let assert = rbuild_parse(&[case.join("Dockerfile").to_str().unwrap()], "").success();
    assert_eq!(String::from_utf8_lossy(&assert.get_output().stdout), expected);
}

#[test]
fn cli_parse_json_from_stdin() {
    let assert = rbuild_parse(&["--format", "json", "-"], "FROM a\nONBUILD RUN <<-EOF\n\tx\n\tEOF\n").success();
    let out: serde_json::Value = serde_json::from_slice(&assert.get_output().stdout).unwrap();
    let sub = &out[1]["sub"];
    assert_eq!(out[1]["keyword"], "ONBUILD");
    assert_eq!((out[1]["start_line"].as_u64(), out[1]["end_line"].as_u64()), (Some(2), Some(4)));
    assert_eq!(sub["keyword"], "RUN");
    assert_eq!(sub["heredocs"][0]["content"], "x\n");
    assert_eq!(sub["heredocs"][0]["chomp"], true);
}

#[test]
fn cli_parse_error_points_at_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("Dockerfile");
    std::fs::write(&path, "FROM a\nENV PATH\n").unwrap();
    let assert =
        assert_cmd::Command::cargo_bin("rbuild").unwrap().current_dir(dir.path()).arg("parse").assert().code(1);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(stderr.contains("Dockerfile:2:1: ENV must have two arguments\n  ENV PATH"), "{stderr}");
}
