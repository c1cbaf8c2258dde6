//! .dockerignore conformance: the upstream test tables in `../shared/conformance/dockerignore/` (read in
//! place), plus an end-to-end run of `rbuild context ls` over `testdata/context/`.
//!
//! Every table row is checked; each test collects all failing rows and reports them in one assertion.

use rbuild::context::{walk_filtered, Entry, Filter, IgnoreFile, MatchKind, Matcher, PatternError};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn conformance_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance/dockerignore");
    assert!(dir.is_dir(), "conformance data missing: {} must exist (../shared beside the checkout)", dir.display());
    dir
}

fn load(name: &str) -> Vec<Value> {
    let path = conformance_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let doc: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()));
    doc["cases"].as_array().unwrap_or_else(|| panic!("{}: no `cases` array", path.display())).clone()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect()).unwrap_or_default()
}

fn str_of<'a>(case: &'a Value, key: &str) -> &'a str {
    case[key].as_str().unwrap_or("")
}

fn report(what: &str, total: usize, failures: &[String]) {
    assert!(failures.is_empty(), "{} of {total} {what} failed:\n{}", failures.len(), failures.join("\n"));
}

/// The outcome of `MatchesOrParentMatches` for one row: excluded or not, or an error (at construction or
/// at match time).
fn evaluate(patterns: &[String], path: &str) -> Result<bool, PatternError> {
    Matcher::new(patterns)?.excluded(path)
}

#[test]
fn patternmatcher_cases() {
    let cases = load("cases.json");
    assert_eq!(cases.len(), 151, "cases.json should hold 151 rows");
    let mut failures = Vec::new();
    let mut checked = 0;
    for (i, case) in cases.iter().enumerate() {
        // `platform: unix` rows apply here; no row is Windows-only today, but one would not apply.
        let platform = str_of(case, "platform");
        if !platform.is_empty() && platform != "unix" {
            failures.push(format!("#{i}: unknown platform {platform:?} (update this test)"));
            continue;
        }
        checked += 1;
        let patterns = strings(&case["patterns"]);
        let path = str_of(case, "path");
        let label = format!("#{i} ({}) patterns {patterns:?} path {path:?}", str_of(case, "source"));
        let got = evaluate(&patterns, path);
        match (case.get("error").and_then(Value::as_str), got) {
            (Some(want), Ok(excluded)) => {
                failures.push(format!("{label}: expected error {want:?}, got excluded={excluded}"))
            }
            (Some(_), Err(_)) => {
                // A match-time error must come back on every call, not only the first.
                if let Ok(matcher) = Matcher::new(&patterns) {
                    if matcher.excluded(path).is_ok() {
                        failures.push(format!("{label}: error not raised again on a repeated call"));
                    }
                }
            }
            (None, Err(e)) => failures.push(format!("{label}: unexpected error: {e}")),
            (None, Ok(excluded)) => {
                let want = case["excluded"].as_bool().unwrap_or(false);
                if excluded != want {
                    failures.push(format!("{label}: expected excluded={want}, got {excluded}"));
                }
            }
        }
    }
    assert_eq!(checked, cases.len(), "every row applies on unix");
    report("pattern cases", cases.len(), &failures);
}

#[test]
fn ignorefile_cases() {
    let cases = load("ignorefile_cases.json");
    assert!(!cases.is_empty(), "ignorefile_cases.json has no rows");
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let want = strings(&case["expected"]);
        let got: Vec<String> = match case["input"].as_str() {
            Some(text) => match IgnoreFile::parse(text) {
                Ok(file) => file.patterns().into_iter().map(String::from).collect(),
                Err(e) => {
                    failures.push(format!("#{i}: unexpected error: {e}"));
                    continue;
                }
            },
            // No ignore file at all: a context without one yields no patterns.
            None => {
                let dir = tempfile::tempdir().expect("tempdir");
                match IgnoreFile::load(dir.path(), &dir.path().join("Dockerfile")) {
                    Ok(file) => file.patterns().into_iter().map(String::from).collect(),
                    Err(e) => {
                        failures.push(format!("#{i}: unexpected error: {e}"));
                        continue;
                    }
                }
            }
        };
        if got != want {
            failures.push(format!("#{i}: input {:?}: expected {want:?}, got {got:?}", case["input"]));
        }
    }
    report("ignore-file cases", cases.len(), &failures);
}

#[test]
fn compile_cases() {
    let cases = load("compile_cases.json");
    assert!(!cases.is_empty(), "compile_cases.json has no rows");
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let pattern = str_of(case, "pattern");
        let matcher = match Matcher::new([pattern]) {
            Ok(m) => m,
            Err(e) => {
                failures.push(format!("#{i} {pattern:?}: unexpected error: {e}"));
                continue;
            }
        };
        let Some(compiled) = matcher.patterns().first() else {
            failures.push(format!("#{i} {pattern:?}: no pattern compiled"));
            continue;
        };
        let kind = match compiled.kind() {
            MatchKind::Exact => "exactMatch",
            MatchKind::Prefix => "prefixMatch",
            MatchKind::Suffix => "suffixMatch",
            MatchKind::Regex => "regexpMatch",
        };
        let want_kind = str_of(case, "match_type");
        let want_regex = case["regexp_unix"].as_str();
        if kind != want_kind || compiled.go_regex() != want_regex {
            failures.push(format!(
                "#{i} {pattern:?}: expected {want_kind} {want_regex:?}, got {kind} {:?}",
                compiled.go_regex()
            ));
        }
    }
    report("compile cases", cases.len(), &failures);
}

fn build_tree(root: &Path, tree: &[String]) -> Result<(), String> {
    for item in tree {
        let (kind, rel) = item.split_once(' ').ok_or_else(|| format!("bad tree item {item:?}"))?;
        let path = root.join(rel);
        let made = match kind {
            "dir" => std::fs::create_dir_all(&path),
            "file" => path
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| std::fs::write(&path, rel.as_bytes())),
            _ => return Err(format!("unknown tree item kind in {item:?}")),
        };
        made.map_err(|e| format!("creating {item:?}: {e}"))?;
    }
    Ok(())
}

fn filter_of(include: &[String], exclude: &[String]) -> Result<Filter, PatternError> {
    let include = if include.is_empty() { None } else { Some(Matcher::new(include)?) };
    let exclude = if exclude.is_empty() { None } else { Some(Matcher::new(exclude)?) };
    Ok(Filter::new(include, exclude))
}

fn listing(entries: &[Entry]) -> Vec<String> {
    entries.iter().map(|e| format!("{} {}", e.kind.as_str(), e.path.display())).collect()
}

/// The walk output for one case: one filter, or several stacked (the first list is the inner filter).
fn walk_case(root: &Path, case: &Value) -> Result<(Filter, Vec<Entry>), String> {
    let fail = |e: &dyn std::fmt::Display| e.to_string();
    if let Some(stack) = case["stacked_excludes"].as_array() {
        let filters: Vec<Filter> =
            stack.iter().map(|ex| filter_of(&[], &strings(ex))).collect::<Result<_, _>>().map_err(|e| fail(&e))?;
        let (inner, outer) = filters.split_first().ok_or("empty stacked_excludes")?;
        let mut entries = walk_filtered(root, inner).map_err(|e| fail(&e))?;
        for filter in outer {
            entries = filter.apply(&entries).map_err(|e| fail(&e))?;
        }
        // `open` is not given for stacked cases; the innermost filter is returned for completeness.
        return Ok((inner.clone(), entries));
    }
    let filter = filter_of(&strings(&case["include"]), &strings(&case["exclude"])).map_err(|e| fail(&e))?;
    let entries = walk_filtered(root, &filter).map_err(|e| fail(&e))?;
    Ok((filter, entries))
}

#[test]
fn walk_cases() {
    let cases = load("walk_cases.json");
    assert!(!cases.is_empty(), "walk_cases.json has no rows");
    let mut failures = Vec::new();
    let mut assertions = 0;
    for (i, case) in cases.iter().enumerate() {
        let label = format!("#{i} ({})", str_of(case, "name"));
        let dir = tempfile::tempdir().expect("tempdir");
        if let Err(e) = build_tree(dir.path(), &strings(&case["tree"])) {
            failures.push(format!("{label}: {e}"));
            continue;
        }
        let (filter, entries) = match walk_case(dir.path(), case) {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{label}: unexpected error: {e}"));
                continue;
            }
        };
        if case.get("expected").is_some() {
            assertions += 1;
            let want = strings(&case["expected"]);
            let got = listing(&entries);
            if got != want {
                failures.push(format!("{label}: expected {want:?}\n    got {got:?}"));
            }
        }
        if let Some(open) = case["open"].as_object() {
            for (path, want) in open {
                assertions += 1;
                let got = match filter.admits(path) {
                    Ok(true) if dir.path().join(path).exists() => "ok",
                    Ok(_) => "not-exist",
                    Err(e) => {
                        failures.push(format!("{label}: open {path:?}: unexpected error: {e}"));
                        continue;
                    }
                };
                if Some(got) != want.as_str() {
                    failures.push(format!("{label}: open {path:?}: expected {want}, got {got}"));
                }
            }
        }
    }
    assert!(assertions >= cases.len(), "every walk case must assert something ({assertions} checks)");
    report("walk cases", cases.len(), &failures);
}

/// The fixture: a context whose Dockerfile lives in `docker/` with its own ignore file.
fn fixture() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/context/custom-ignore");
    assert!(dir.is_dir(), "fixture missing: {}", dir.display());
    dir
}

fn rbuild() -> assert_cmd::Command {
    assert_cmd::Command::new(env!("CARGO_BIN_EXE_rbuild"))
}

fn stdout_lines(output: &std::process::Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stdout).lines().map(String::from).collect()
}

#[test]
fn context_ls_uses_the_dockerfile_specific_ignore_file() {
    let out = rbuild().current_dir(fixture()).args(["context", "ls", "-f", "docker/app.Dockerfile", "."]).assert();
    let out = out.success().get_output().clone();
    // docker/app.Dockerfile.dockerignore (CRLF, spaced lines) drops secret* and build/ except keep.txt;
    // the context's own .dockerignore (*.md) is not used, so README.md stays.
    assert_eq!(
        stdout_lines(&out),
        [
            ".dockerignore",
            "README.md",
            "build/keep.txt",
            "docker/app.Dockerfile",
            "docker/app.Dockerfile.dockerignore",
            "main-link",
            "src/main.go",
        ]
    );
}

#[test]
fn context_ls_falls_back_to_the_context_ignore_file() {
    let root = fixture();
    let out = rbuild().args(["context", "ls", "--dirs"]).arg(&root).assert().success().get_output().clone();
    // No DIR/Dockerfile.dockerignore, so DIR/.dockerignore (*.md) applies; --dirs lists directories too.
    assert_eq!(
        stdout_lines(&out),
        [
            ".dockerignore",
            "build/",
            "build/keep.txt",
            "build/out.bin",
            "docker/",
            "docker/app.Dockerfile",
            "docker/app.Dockerfile.dockerignore",
            "main-link",
            "secret.key",
            "src/",
            "src/main.go",
        ]
    );
}

#[test]
fn context_ls_reports_a_bad_pattern_with_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("a"), "a").expect("write");
    std::fs::write(dir.path().join("app.Dockerfile.dockerignore"), "# ok\n*.log\n\n[z-a]\n").expect("write");
    let out = rbuild()
        .args(["context", "ls", "-f"])
        .arg(dir.path().join("app.Dockerfile"))
        .arg(dir.path())
        .assert()
        .code(1)
        .get_output()
        .clone();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let want = format!("{}:4: bad pattern \"[z-a]\"", dir.path().join("app.Dockerfile.dockerignore").display());
    assert!(stderr.contains(&want), "stderr should contain {want:?}, got:\n{stderr}");
    assert!(out.stdout.is_empty(), "nothing listed on error");
}
