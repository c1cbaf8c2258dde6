//! Suppressions written in the Dockerfile itself:
//!
//! - `# rbuild ignore=DL3008,DL3009` (or `# hadolint ignore=...`) in the comment lines right above an
//!   instruction silences those rules for that instruction;
//! - `# rbuild global ignore=...` (or `# hadolint global ignore=...`) anywhere silences them for the file;
//! - BuildKit's `# check=skip=A,B` parser directive (`skip=all` too) silences them for the file, and its
//!   `error=true` raises every remaining finding to an error, as BuildKit fails the build on any check.
//!
//! Comments are not in the syntax tree, so pragmas are read from the physical lines, anchored at the
//! instructions' start lines from the tree.

use super::rules::Rule;
use crate::dockerfile::Dockerfile;
use std::collections::BTreeMap;

#[derive(Debug, Default)]
pub(crate) struct Pragmas {
    /// Instruction start line → codes silenced for it.
    local: BTreeMap<usize, Vec<String>>,
    global: Vec<String>,
    skip_all: bool,
    /// `# check=error=true`.
    pub errors: bool,
}

impl Pragmas {
    pub fn read(text: &str, dockerfile: &Dockerfile, honour_inline: bool) -> Pragmas {
        let lines: Vec<&str> = text.lines().collect();
        let mut p = Pragmas::default();
        if let Some(check) = &dockerfile.directives.check {
            p.read_check_directive(check);
        }
        if !honour_inline {
            return p;
        }
        for line in &lines {
            if let Some(codes) = pragma(line, true) {
                p.global.extend(codes);
            }
        }
        for ins in &dockerfile.instructions {
            let start = ins.location.start_line;
            // Walk up through the comment lines directly above the instruction.
            let mut n = start.saturating_sub(1);
            while n >= 1 {
                let Some(line) = lines.get(n - 1) else { break };
                if !line.trim_start().starts_with('#') {
                    break;
                }
                if let Some(codes) = pragma(line, false) {
                    p.local.entry(start).or_default().extend(codes);
                }
                n -= 1;
            }
        }
        p
    }

    fn read_check_directive(&mut self, value: &str) {
        for part in value.split(';') {
            match part.trim().split_once('=') {
                Some((k, v)) if k.trim().eq_ignore_ascii_case("skip") => {
                    for code in v.split(',').map(str::trim).filter(|c| !c.is_empty()) {
                        if code.eq_ignore_ascii_case("all") {
                            self.skip_all = true;
                        } else {
                            self.global.push(code.to_string());
                        }
                    }
                }
                Some((k, v)) if k.trim().eq_ignore_ascii_case("error") => {
                    self.errors = v.trim().eq_ignore_ascii_case("true");
                }
                _ => {}
            }
        }
    }

    /// True when `rule` is silenced for the instruction starting on `line`.
    pub fn silences(&self, rule: &Rule, line: usize) -> bool {
        self.skip_all
            || self.global.iter().any(|c| rule.answers_to(c))
            || self.local.get(&line).is_some_and(|codes| codes.iter().any(|c| rule.answers_to(c)))
    }
}

/// The codes of an ignore pragma on this comment line: `# hadolint ignore=A,B` / `# rbuild ignore=A,B`, or with
/// `global` after the tool name when `global` is asked for.
fn pragma(line: &str, global: bool) -> Option<Vec<String>> {
    let body = line.trim_start().strip_prefix('#')?.trim_start();
    let rest = body.strip_prefix("hadolint").or_else(|| body.strip_prefix("rbuild"))?;
    if !rest.starts_with(char::is_whitespace) {
        return None;
    }
    let mut rest = rest.trim_start();
    match rest.strip_prefix("global") {
        Some(r) if global => rest = r.trim_start(),
        Some(_) => return None,
        None if global => return None,
        None => {}
    }
    let list = rest.strip_prefix("ignore")?.trim_start().strip_prefix('=')?.trim_start();
    let list = list.split_whitespace().next().unwrap_or("");
    Some(list.split(',').map(str::trim).filter(|c| !c.is_empty()).map(String::from).collect())
}

#[cfg(test)]
mod tests {
    use super::pragma;

    #[test]
    fn pragma_forms() {
        assert_eq!(pragma("# hadolint ignore=DL3008,DL3009", false), Some(vec!["DL3008".into(), "DL3009".into()]));
        assert_eq!(pragma("  #rbuild ignore = DL3003 trailing words", false), Some(vec!["DL3003".into()]));
        assert_eq!(pragma("# hadolint global ignore=DL3006", true), Some(vec!["DL3006".into()]));
        assert_eq!(pragma("# hadolint global ignore=DL3006", false), None);
        assert_eq!(pragma("# hadolint ignore=DL3006", true), None);
        assert_eq!(pragma("# hadolintignore=DL3006", false), None);
        assert_eq!(pragma("# just a comment", false), None);
    }
}
