//! The parser-directive pre-pass: `# syntax=`, `# escape=`, `# check=` at the very top of the file.
//!
//! BuildKit looks for directives on each line until the first line that is not one (an instruction, an empty
//! line, a plain comment, or a comment naming an unknown directive); after that a `# escape=` is just a
//! comment. The escape token must be known before any instruction is read, which is why this runs first.

use super::{Grammar, ParseError, Rule, Source};
use crate::dockerfile::ast::Directives;
use pest::Parser as _;

/// Read the directives at the top of `src`.
pub(super) fn read(src: &Source<'_>) -> Result<Directives, ParseError> {
    let mut out = Directives::default();
    let mut seen: Vec<String> = Vec::new();
    for (index, &start) in src.line_starts.iter().enumerate() {
        let raw = src.line_text(start);
        let line = raw.trim_end_matches(['\r', '\n']).trim_start_matches(super::args::go_space);
        let Some((name, value)) = directive(line) else { break };
        if !matches!(name.as_str(), "syntax" | "escape" | "check") {
            break;
        }
        let column = raw.len() - raw.trim_start_matches(super::args::go_space).len() + 1;
        if seen.contains(&name) {
            return Err(src.error(index + 1, column, format!("only one {name} parser directive can be used")));
        }
        match name.as_str() {
            "escape" => {
                out.escape = match value.as_str() {
                    "\\" => '\\',
                    "`" => '`',
                    _ => {
                        let message = format!("invalid escape token '{value}' does not match ` or \\");
                        return Err(src.error(index + 1, column, message));
                    }
                }
            }
            "syntax" => out.syntax = Some(value),
            _ => out.check = Some(value),
        }
        seen.push(name);
    }
    Ok(out)
}

/// `(lower-cased name, value)` if `line` has the shape of a directive.
fn directive(line: &str) -> Option<(String, String)> {
    let pair = Grammar::parse(Rule::directive, line).ok()?.next()?;
    let mut name = None;
    let mut value = None;
    for part in pair.into_inner() {
        match part.as_rule() {
            Rule::directive_name => name = Some(part.as_str().to_ascii_lowercase()),
            Rule::directive_value | Rule::directive_value_blank => value = Some(part.as_str().to_string()),
            _ => {}
        }
    }
    Some((name?, value?))
}
