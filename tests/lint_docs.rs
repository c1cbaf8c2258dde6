//! `docs/lint/` is generated from the rule declarations: this test fails when a page is missing, stale, or
//! left over from a rule that no longer exists. `RBUILD_WRITE_LINT_DOCS=1 cargo test --test lint_docs`
//! rewrites the pages (and then passes).

use rbuild::lint::{docs, rules};
use std::collections::BTreeMap;
use std::path::Path;

#[test]
fn docs_match_the_rule_declarations() {
    let dir = Path::new("docs/lint");
    let mut expected: BTreeMap<String, String> = BTreeMap::new();
    expected.insert("README.md".into(), docs::index());
    for rule in rules::all() {
        expected.insert(format!("{}.md", rule.code), docs::page(rule));
    }
    if std::env::var_os("RBUILD_WRITE_LINT_DOCS").is_some() {
        std::fs::create_dir_all(dir).expect("create docs/lint");
        for entry in std::fs::read_dir(dir).expect("read docs/lint").flatten() {
            std::fs::remove_file(entry.path()).expect("remove an old page");
        }
        for (name, text) in &expected {
            std::fs::write(dir.join(name), text).expect("write a page");
        }
    }
    let mut problems = Vec::new();
    for (name, text) in &expected {
        match std::fs::read_to_string(dir.join(name)) {
            Ok(on_disk) if &on_disk == text => {}
            Ok(_) => problems.push(format!("{name} is stale")),
            Err(_) => problems.push(format!("{name} is missing")),
        }
    }
    for entry in std::fs::read_dir(dir).expect("docs/lint exists").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !expected.contains_key(&name) {
            problems.push(format!("{name} belongs to no rule"));
        }
    }
    assert!(
        problems.is_empty(),
        "docs/lint is out of date ({}); regenerate with RBUILD_WRITE_LINT_DOCS=1 cargo test --test lint_docs",
        problems.join(", ")
    );
}
