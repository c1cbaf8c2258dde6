//! Rendering findings for people and tools: `tty` (one line per finding, coloured on a terminal), `json`
//! (hadolint's array of `{"code","column","file","level","line","message"}`), `checkstyle` XML,
//! GitLab's Code Quality JSON, and SARIF 2.1.0 (in `sarif`).

use super::finding::{Finding, Severity};
use sha2::{Digest as _, Sha256};
use std::fmt::Write as _;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Tty,
    Json,
    Sarif,
    Checkstyle,
    Gitlab,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown output format {0:?} (expected tty, json, sarif, checkstyle or gitlab)")]
pub struct FormatError(pub String);

impl FromStr for Format {
    type Err = FormatError;
    fn from_str(s: &str) -> Result<Format, FormatError> {
        match s.to_ascii_lowercase().as_str() {
            "tty" => Ok(Format::Tty),
            "json" => Ok(Format::Json),
            "sarif" => Ok(Format::Sarif),
            "checkstyle" => Ok(Format::Checkstyle),
            "gitlab" | "gitlab_codeclimate" => Ok(Format::Gitlab),
            _ => Err(FormatError(s.to_string())),
        }
    }
}

/// Render `findings` in `format`; `color` only matters for `tty`. The text ends with a newline unless empty.
pub fn render(format: Format, findings: &[Finding], color: bool) -> String {
    match format {
        Format::Tty => tty(findings, color),
        Format::Json => json_line(&serde_json::to_value(findings).unwrap_or_default()),
        Format::Sarif => json_line(&super::sarif::log(findings)),
        Format::Checkstyle => checkstyle(findings),
        Format::Gitlab => json_line(&gitlab(findings)),
    }
}

fn json_line(value: &serde_json::Value) -> String {
    let mut s = value.to_string();
    s.push('\n');
    s
}

fn tty(findings: &[Finding], color: bool) -> String {
    let mut out = String::new();
    for f in findings {
        let level = if color {
            let code = match f.level {
                Severity::Error => "1;31",
                Severity::Warning => "1;33",
                Severity::Info => "32",
                Severity::Style | Severity::Ignore => "36",
            };
            format!("\x1b[{code}m{}\x1b[0m", f.level)
        } else {
            f.level.to_string()
        };
        let _ = writeln!(out, "{}:{} {} {level}: {}", f.file, f.line, f.code, f.message);
    }
    out
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

fn checkstyle(findings: &[Finding]) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<checkstyle version=\"4.3\">\n");
    let mut files: Vec<&str> = Vec::new();
    for f in findings {
        if !files.contains(&f.file.as_str()) {
            files.push(&f.file);
        }
    }
    for file in files {
        let _ = writeln!(out, "  <file name=\"{}\">", xml_escape(file));
        for f in findings.iter().filter(|f| f.file == file) {
            let _ = writeln!(
                out,
                "    <error line=\"{}\" column=\"{}\" severity=\"{}\" message=\"{}\" source=\"{}\"/>",
                f.line,
                f.column,
                f.level,
                xml_escape(&f.message),
                xml_escape(&f.code)
            );
        }
        out.push_str("  </file>\n");
    }
    out.push_str("</checkstyle>\n");
    out
}

/// GitLab Code Quality (a Code Climate subset): the fingerprint identifies a finding across runs.
fn gitlab(findings: &[Finding]) -> serde_json::Value {
    let items: Vec<serde_json::Value> = findings
        .iter()
        .map(|f| {
            let severity = match f.level {
                Severity::Error => "critical",
                Severity::Warning => "major",
                Severity::Info => "minor",
                Severity::Style | Severity::Ignore => "info",
            };
            let fingerprint = hex::encode(Sha256::digest(format!("{}\0{}\0{}\0{}", f.file, f.line, f.code, f.message)));
            serde_json::json!({
                "type": "issue",
                "check_name": f.code,
                "description": f.message,
                "categories": ["Bug Risk"],
                "severity": severity,
                "fingerprint": fingerprint,
                "location": {"path": f.file, "lines": {"begin": f.line, "end": f.line}},
            })
        })
        .collect();
    serde_json::Value::Array(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding() -> Finding {
        Finding {
            code: "DL3008".into(),
            column: 1,
            file: "Dockerfile".into(),
            level: Severity::Warning,
            line: 7,
            message: "apt-get install <curl>: pin \"it\"".into(),
        }
    }

    #[test]
    fn tty_plain_and_coloured() {
        assert_eq!(
            render(Format::Tty, &[finding()], false),
            "Dockerfile:7 DL3008 warning: apt-get install <curl>: pin \"it\"\n"
        );
        assert!(render(Format::Tty, &[finding()], true).contains("\x1b[1;33mwarning\x1b[0m"));
        assert_eq!(render(Format::Tty, &[], false), "");
    }

    #[test]
    fn json_has_hadolints_shape() {
        let out = render(Format::Json, &[finding()], false);
        assert_eq!(
            out,
            "[{\"code\":\"DL3008\",\"column\":1,\"file\":\"Dockerfile\",\"level\":\"warning\",\"line\":7,\"message\":\"apt-get install <curl>: pin \\\"it\\\"\"}]\n"
        );
        assert_eq!(render(Format::Json, &[], false), "[]\n");
    }

    #[test]
    fn checkstyle_escapes_and_gitlab_fingerprints() {
        let xml = render(Format::Checkstyle, &[finding()], false);
        assert!(xml.contains("<file name=\"Dockerfile\">"));
        assert!(xml.contains("message=\"apt-get install &lt;curl&gt;: pin &quot;it&quot;\" source=\"DL3008\""));
        let gl: serde_json::Value = serde_json::from_str(&render(Format::Gitlab, &[finding()], false)).unwrap();
        assert_eq!(gl[0]["location"]["lines"]["begin"], 7);
        assert_eq!(gl[0]["severity"], "major");
        assert_eq!(gl[0]["fingerprint"].as_str().map(str::len), Some(64));
    }

    #[test]
    fn format_names() {
        assert_eq!("SARIF".parse::<Format>(), Ok(Format::Sarif));
        assert_eq!("gitlab_codeclimate".parse::<Format>(), Ok(Format::Gitlab));
        assert!("xml".parse::<Format>().is_err());
    }
}
