//! `rbuild lint --format sarif` must be valid SARIF 2.1.0: its output over the real-world Dockerfiles and a
//! file with findings at every severity is validated against the OASIS schema shipped in
//! `testdata/sarif-2.1.0.json`, with the Python `jsonschema` package from `.venv` (installed by
//! `scripts/test.sh`). The test fails, saying so, when that validator is missing.

use std::path::{Path, PathBuf};
use std::process::Command;

fn python() -> PathBuf {
    let p = std::env::var_os("RBUILD_ORACLE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"));
    let ok = Command::new(&p).args(["-c", "import jsonschema"]).output().is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "SARIF validation needs Python with the `jsonschema` package at {}: run scripts/test.sh, or \
         `python3 -m venv .venv && .venv/bin/pip install jsonschema`, or set RBUILD_ORACLE_PYTHON",
        p.display()
    );
    p
}

const VALIDATE: &str = r#"
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
log = json.load(open(sys.argv[2]))
errors = sorted(jsonschema.Draft4Validator(schema).iter_errors(log), key=lambda e: list(e.path))
for e in errors[:10]:
    print("/".join(map(str, e.path)), e.message)
sys.exit(1 if errors else 0)
"#;

#[test]
fn sarif_output_validates_against_the_sarif_2_1_0_schema() {
    let dir = tempfile::tempdir().expect("temp dir");
    let every_level = dir.path().join("Dockerfile");
    // error (DL3000), warning (DL3006), info (DL3015), style (StageNameCasing), and a quote and a `<` in a message.
    std::fs::write(
        &every_level,
        "FROM debian AS Build\nWORKDIR app\nRUN apt-get install -y \"x<y\" && rm -rf /var/lib/apt/lists/*\n",
    )
    .expect("write Dockerfile");
    let mut files = vec![every_level];
    for entry in std::fs::read_dir("../shared/conformance/real-world").expect("../shared beside the checkout").flatten()
    {
        let p = entry.path().join("Dockerfile");
        if p.is_file() {
            files.push(p);
        }
    }
    let out = Command::new(env!("CARGO_BIN_EXE_rbuild"))
        .args(["lint", "--format", "sarif", "--failure-threshold", "none"])
        .args(&files)
        .output()
        .expect("run rbuild lint");
    assert!(out.status.success(), "rbuild lint failed: {}", String::from_utf8_lossy(&out.stderr));
    let log: serde_json::Value = serde_json::from_slice(&out.stdout).expect("SARIF output is JSON");
    let levels: Vec<&str> =
        log["runs"][0]["results"].as_array().expect("results").iter().filter_map(|r| r["level"].as_str()).collect();
    for level in ["error", "warning", "note"] {
        assert!(levels.contains(&level), "no result at level {level}");
    }
    let sarif = dir.path().join("out.sarif");
    std::fs::write(&sarif, &out.stdout).expect("write SARIF");
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/sarif-2.1.0.json");
    let check =
        Command::new(python()).args(["-c", VALIDATE]).arg(&schema).arg(&sarif).output().expect("run the validator");
    assert!(
        check.status.success(),
        "SARIF output does not validate against {}:\n{}{}",
        schema.display(),
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
}
