//! SARIF 2.1.0 output, the format code-scanning services ingest: one run whose tool lists the rules that
//! fired (with their summaries and default levels) and one result per finding. SARIF knows the levels
//! `error`, `warning` and `note`; info and style findings are notes, and the rule's own severity is kept
//! in the result's `properties`.

use super::finding::{Finding, Severity};
use super::rules;
use serde_json::{json, Value};

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info | Severity::Style | Severity::Ignore => "note",
    }
}

/// The SARIF log for `findings`.
pub fn log(findings: &[Finding]) -> Value {
    let mut ids: Vec<&str> = Vec::new();
    for f in findings {
        if !ids.contains(&f.code.as_str()) {
            ids.push(&f.code);
        }
    }
    let descriptors: Vec<Value> = ids.iter().map(|id| descriptor(id)).collect();
    let results: Vec<Value> = findings
        .iter()
        .map(|f| {
            let index = ids.iter().position(|i| *i == f.code).unwrap_or(0);
            let mut location = json!({"physicalLocation": {"artifactLocation": {"uri": uri(&f.file)}}});
            if f.line >= 1 {
                location["physicalLocation"]["region"] = json!({"startLine": f.line, "startColumn": f.column.max(1)});
            }
            json!({
                "ruleId": f.code,
                "ruleIndex": index,
                "level": level(f.level),
                "message": {"text": f.message},
                "locations": [location],
                "properties": {"severity": f.level.as_str()},
            })
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "rbuild lint",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": descriptors,
            }},
            "results": results,
            "columnKind": "unicodeCodePoints",
        }],
    })
}

fn descriptor(id: &str) -> Value {
    match rules::find(id) {
        Some(rule) => json!({
            "id": rule.code,
            "name": rule.name,
            "shortDescription": {"text": rule.summary},
            "fullDescription": {"text": rule.rationale},
            "help": {"text": format!("{} See docs/lint/{}.md.", rule.rationale, rule.code)},
            "defaultConfiguration": {"level": level(rule.severity), "enabled": rule.severity != Severity::Ignore},
            "properties": {"tags": ["dockerfile"]},
        }),
        None => json!({"id": id}),
    }
}

/// A file name as a relative URI reference: forward slashes, and the characters SARIF viewers trip on
/// percent-encoded.
fn uri(file: &str) -> String {
    let mut out = String::new();
    for b in file.replace('\\', "/").bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' | b':' | b'@' | b'+' | b'=' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_point_at_rules_and_lines() {
        let f = Finding {
            code: "DL3007".into(),
            column: 1,
            file: "dir with space/Dockerfile".into(),
            level: Severity::Info,
            line: 3,
            message: "m".into(),
        };
        let log = log(&[f]);
        let run = &log["runs"][0];
        assert_eq!(run["tool"]["driver"]["rules"][0]["id"], "DL3007");
        assert_eq!(run["results"][0]["ruleIndex"], 0);
        assert_eq!(run["results"][0]["level"], "note");
        let loc = &run["results"][0]["locations"][0]["physicalLocation"];
        assert_eq!(loc["artifactLocation"]["uri"], "dir%20with%20space/Dockerfile");
        assert_eq!(loc["region"]["startLine"], 3);
    }
}
