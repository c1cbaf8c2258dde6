//! Documentation generated from the rule declarations: one page per rule (`docs/lint/<CODE>.md`) and an
//! index (`docs/lint/README.md`). The pages are checked in; a test fails when they drift from the
//! declarations, and `RBUILD_WRITE_LINT_DOCS=1 cargo test --test lint_docs` rewrites them.

use super::finding::Severity;
use super::rules::{self, Rule};
use std::fmt::Write as _;

/// The page for one rule.
pub fn page(rule: &Rule) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# {}: {}\n", rule.code, rule.name);
    let _ = writeln!(s, "{}\n", rule.summary);
    let _ = writeln!(s, "| | |\n|---|---|");
    let _ = writeln!(s, "| Code | `{}` |", rule.code);
    let _ = writeln!(s, "| Name | `{}` |", rule.name);
    if !rule.aliases.is_empty() {
        let aliases: Vec<String> = rule.aliases.iter().map(|a| format!("`{a}`")).collect();
        let _ = writeln!(s, "| Also answers to | {} |", aliases.join(", "));
    }
    let severity = match rule.severity {
        Severity::Ignore => "ignore (off until a severity override turns it on)".to_string(),
        l => l.to_string(),
    };
    let _ = writeln!(s, "| Default severity | {severity} |\n");
    let _ = writeln!(s, "## Why\n\n{}\n", rule.rationale);
    let ex = &rule.example;
    if !ex.config.is_empty() {
        let _ = writeln!(s, "## Configuration used by the examples\n\n```yaml\n{}```\n", ex.config);
    }
    if !ex.dockerignore.is_empty() {
        let _ = writeln!(s, "## `.dockerignore` used by the examples\n\n```\n{}```\n", ex.dockerignore);
    }
    let _ = writeln!(s, "## Triggers it (reported on line {})\n\n```dockerfile\n{}```\n", ex.bad_line, ex.bad);
    let _ = writeln!(s, "## Does not trigger it\n\n```dockerfile\n{}```\n", ex.good);
    let _ = writeln!(
        s,
        "## Silencing it\n\nPut `# rbuild ignore={code}` (or `# hadolint ignore={code}`) on the line above the \
         instruction, add `{code}` to `ignored:` in `.rbuild-lint.yaml`, pass `--ignore {code}`, or use \
         BuildKit's `# check=skip={code}` directive at the top of the file.",
        code = rule.code
    );
    s
}

/// The index of all rules.
pub fn index() -> String {
    let mut s = String::from(
        "# `rbuild lint` rules\n\nGenerated from the rule declarations in `src/lint/rules/`; do not edit by hand.\n\n\
         | Code | Name | Severity | Checks |\n|---|---|---|---|\n",
    );
    for r in rules::all() {
        let _ = writeln!(
            s,
            "| [{}]({}.md) | {} | {} | {} |",
            r.code,
            r.code,
            r.name,
            r.severity,
            r.summary.replace('|', "\\|")
        );
    }
    s
}
