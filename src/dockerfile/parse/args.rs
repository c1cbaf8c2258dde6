//! One logical line → one `Instruction`: keyword, flags, and the argument nodes each instruction yields
//! (FORMAT.md §2.2–2.6). One function per argument form, as BuildKit's dispatch table has.

use super::{Grammar, Rule};
use crate::dockerfile::ast::{Instruction, Keyword, Location};
use pest::iterators::Pair;
use pest::Parser as _;

/// Go's `unicode.IsSpace` (the Unicode White_Space property, as Rust's `char::is_whitespace`).
pub(crate) fn go_space(c: char) -> bool {
    c.is_whitespace()
}

/// Go's `strings.TrimSpace`.
pub(crate) fn go_trim(s: &str) -> &str {
    s.trim_matches(go_space)
}

/// Go's `strings.ToLower`: simple (one-to-one) case mapping of every character.
pub(crate) fn go_lower(s: &str) -> String {
    s.chars()
        .map(|c| {
            let mut lower = c.to_lowercase();
            match (lower.next(), lower.next()) {
                (Some(l), None) => l,
                _ if c == '\u{130}' => 'i',
                _ => c,
            }
        })
        .collect()
}

/// Parse one logical line (continuations already joined) into an instruction. `original` and `location`
/// are left for the caller to fill in. Errors are BuildKit's messages.
pub(super) fn instruction_from_line(line: &str, escape: char) -> Result<Instruction, String> {
    let trimmed = go_trim(line);
    let mut keyword = "";
    let mut flags = Vec::new();
    let mut rest = "";
    let mut flags_done = false;
    // The `command` rule without the grammar when no word after the keyword starts with `--` (no flags):
    // the keyword runs to the first [\t\v\f\r ], the rest starts after the white space that follows.
    const GO_WS: [char; 5] = [' ', '\t', '\u{0B}', '\u{0C}', '\r'];
    let (head, tail) = trimmed.split_at(trimmed.find(GO_WS).unwrap_or(trimmed.len()));
    let after = tail.trim_start_matches(GO_WS).trim_start_matches(char::is_whitespace);
    let pairs = if after.starts_with("--") {
        let pair = parse_rule(Rule::command, trimmed, escape).ok_or("internal error: command rule failed")?;
        Some(pair.into_inner())
    } else {
        keyword = head;
        rest = after;
        None
    };
    for part in pairs.into_iter().flatten() {
        match part.as_rule() {
            Rule::keyword => keyword = part.as_str(),
            Rule::flag if !flags_done => {
                let word = flag_text(part.clone());
                if word == "--" {
                    // `--` ends the flags; the rest starts right after it.
                    flags_done = true;
                    rest = &trimmed[part.as_span().end()..];
                } else {
                    flags.push(word);
                }
            }
            Rule::rest if !flags_done => rest = part.as_str(),
            _ => {}
        }
    }
    let rest = go_trim(rest);
    let lower = go_lower(keyword);
    let kind = Keyword::from_word(&lower);
    let mut out = Instruction {
        keyword: keyword.to_string(),
        kind,
        flags,
        args: Vec::new(),
        json: false,
        heredocs: Vec::new(),
        sub: None,
        original: String::new(),
        location: Location::default(),
        flag_positions: Vec::new(),
        args_position: Default::default(),
    };
    match kind {
        Keyword::Run | Keyword::Cmd | Keyword::Entrypoint | Keyword::Shell => maybe_json(rest, &mut out)?,
        Keyword::Add | Keyword::Copy | Keyword::Volume => maybe_json_list(rest, &mut out)?,
        Keyword::From | Keyword::Expose => out.args = whitespace_list(rest),
        Keyword::Maintainer | Keyword::User | Keyword::Workdir | Keyword::Stopsignal => {
            out.args = string(rest);
        }
        Keyword::Arg => out.args = words(rest, escape),
        Keyword::Env => out.args = name_values(rest, "ENV", escape)?,
        Keyword::Label => out.args = name_values(rest, "LABEL", escape)?,
        Keyword::Healthcheck => health(rest, &mut out)?,
        Keyword::Onbuild => {
            if !rest.is_empty() {
                let mut sub = instruction_from_line(rest, escape)?;
                sub.original = rest.to_string();
                out.sub = Some(Box::new(sub));
            }
        }
        // Unknown instructions are kept; BuildKit gives them one empty argument node.
        Keyword::Unknown => out.args = vec![String::new()],
    }
    Ok(out)
}

/// Run one grammar rule with the escape token seeded on the stack.
fn parse_rule(rule: Rule, text: &str, escape: char) -> Option<Pair<'_, Rule>> {
    // Rules that read `esc` need the stack seeded; every argument rule is reached through a wrapper that
    // pushes the escape token first.
    let seeded = match (rule, escape) {
        (Rule::command, '`') => Rule::command_backtick,
        (Rule::command, _) => Rule::command_backslash,
        (Rule::words, '`') => Rule::words_backtick,
        (Rule::words, _) => Rule::words_backslash,
        (other, _) => other,
    };
    Grammar::parse(seeded, text).ok()?.next()
}

/// The text of a `--flag` word: quotes removed, escapes resolved.
fn flag_text(pair: Pair<'_, Rule>) -> String {
    let mut out = String::from("--");
    for part in pair.into_inner() {
        match part.as_rule() {
            Rule::flag_text | Rule::flag_qtext => out.push_str(part.as_str()),
            Rule::flag_escaped => out.extend(part.as_str().chars().skip(1)),
            Rule::flag_quoted => out.push_str(&flag_text(part)[2..]),
            _ => {}
        }
    }
    out
}

/// RUN, CMD, ENTRYPOINT, SHELL: a JSON array of strings, else the whole rest as one string.
fn maybe_json(rest: &str, out: &mut Instruction) -> Result<(), String> {
    if rest.is_empty() {
        return Ok(());
    }
    match json_strings(rest)? {
        Some(list) => {
            out.args = list;
            out.json = true;
        }
        None => out.args = vec![rest.to_string()],
    }
    Ok(())
}

/// ADD, COPY, VOLUME: a JSON array of strings, else the rest split at white space.
fn maybe_json_list(rest: &str, out: &mut Instruction) -> Result<(), String> {
    match json_strings(rest)? {
        Some(list) => {
            out.args = list;
            out.json = true;
        }
        None => out.args = whitespace_list(rest),
    }
    Ok(())
}

/// MAINTAINER, USER, WORKDIR, STOPSIGNAL: the rest verbatim.
fn string(rest: &str) -> Vec<String> {
    if rest.is_empty() {
        Vec::new()
    } else {
        vec![rest.to_string()]
    }
}

/// FROM, EXPOSE (and the shell form of ADD/COPY/VOLUME): split at runs of `[\t\v\f\r ]`.
fn whitespace_list(rest: &str) -> Vec<String> {
    if rest.is_empty() {
        return Vec::new();
    }
    match Grammar::parse(Rule::ws_list, rest) {
        Ok(pairs) => pairs.filter(|p| p.as_rule() == Rule::ws_item).map(|p| p.as_str().to_string()).collect(),
        Err(_) => vec![rest.to_string()],
    }
}

/// ARG: shell-ish words, verbatim (quotes kept; a trailing escape token dropped).
pub(super) fn words(rest: &str, escape: char) -> Vec<String> {
    // Without quotes or the escape token, the `words` rule is a split at white space (`WHITE_SPACE` is
    // Unicode White_Space, as `char::is_whitespace`); the grammar is only needed for the rest.
    if !rest.contains(['"', '\'', escape]) {
        return rest.split(char::is_whitespace).filter(|w| !w.is_empty()).map(String::from).collect();
    }
    let rule = if escape == '`' { Rule::words_backtick } else { Rule::words_backslash };
    let Ok(pairs) = Grammar::parse(rule, rest) else { return vec![rest.to_string()] };
    let mut out = Vec::new();
    for word in pairs.filter(|p| p.as_rule() == Rule::word) {
        let mut text = word.as_str();
        let parts = word.into_inner().flatten();
        let quoted = parts.clone().any(|p| matches!(p.as_rule(), Rule::word_dquoted | Rule::word_squoted));
        if parts.into_iter().any(|p| p.as_rule() == Rule::word_esc_end) {
            text = &text[..text.len() - escape.len_utf8()];
        }
        if quoted || !text.is_empty() {
            out.push(text.to_string());
        }
    }
    out
}

/// ENV and LABEL: `name value` (legacy: key, value, "") or `k=v ...` (key, value, "=" per pair).
fn name_values(rest: &str, key: &str, escape: char) -> Result<Vec<String>, String> {
    let words = words(rest, escape);
    let Some(first) = words.first() else { return Ok(Vec::new()) };
    if !first.contains('=') {
        let pairs = Grammar::parse(Rule::kv_legacy, rest).map_err(|_| format!("{key} must have two arguments"))?;
        let mut parts = pairs.filter(|p| matches!(p.as_rule(), Rule::kv_key | Rule::kv_value));
        let (Some(name), Some(value)) = (parts.next(), parts.next()) else {
            return Err(format!("{key} must have two arguments"));
        };
        return Ok(vec![name.as_str().to_string(), value.as_str().to_string(), String::new()]);
    }
    let mut out = Vec::with_capacity(words.len() * 3);
    for word in words {
        let Some((name, value)) = word.split_once('=') else {
            return Err(format!(
                "Syntax error - can't find = in {}. Must be of the form: name=value",
                crate::dockerfile::dump::quote(&word)
            ));
        };
        if name.is_empty() {
            // BuildKit's parser lets this through and its next pass rejects it with this message.
            return Err(format!("{key} names can not be blank"));
        }
        out.extend([name.to_string(), value.to_string(), "=".to_string()]);
    }
    Ok(out)
}

/// HEALTHCHECK: the first word (CMD, NONE, ...), then the rest like CMD.
fn health(rest: &str, out: &mut Instruction) -> Result<(), String> {
    let sep = rest.find(go_space).unwrap_or(rest.len());
    if sep == 0 {
        return Ok(());
    }
    let cmd = rest[sep..].trim_start_matches(go_space);
    maybe_json(cmd, out)?;
    out.args.insert(0, rest[..sep].to_string());
    Ok(())
}

/// `Some(strings)` if `rest` is a JSON array of strings, `None` if it is not JSON (shell form), an error if
/// it is a JSON array holding something else. As Go's `json.Unmarshal` into `[]any`: a number too large
/// for a float64 fails the decoding (so falls back to the shell form) rather than the string check.
fn json_strings(rest: &str) -> Result<Option<Vec<String>>, String> {
    if !rest.starts_with('[') || nesting_depth(rest) > MAX_JSON_DEPTH {
        return Ok(None);
    }
    let Some(array) = Grammar::parse(Rule::json_document, rest).ok().and_then(|mut p| p.next()) else {
        return Ok(None);
    };
    if array.clone().into_inner().flatten().any(|p| p.as_rule() == Rule::json_number && overflows(p.as_str())) {
        return Ok(None);
    }
    let mut out = Vec::new();
    for element in array.into_inner() {
        if element.as_rule() != Rule::json_string {
            return Err("when using JSON array syntax, arrays must be comprised of strings only".into());
        }
        out.push(json_unquote(element));
    }
    Ok(Some(out))
}

/// Beyond this nesting the array cannot be a list of strings anyway; Go would still reject it as "not
/// strings only", but deep recursion is not worth it: treated as not JSON (see docs/parser.md).
const MAX_JSON_DEPTH: usize = 256;

fn nesting_depth(s: &str) -> usize {
    let (mut depth, mut max, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for c in s.chars() {
        match (in_string, escaped, c) {
            (true, true, _) => escaped = false,
            (true, false, '\\') => escaped = true,
            (true, false, '"') => in_string = false,
            (false, _, '"') => in_string = true,
            (false, _, '[' | '{') => {
                depth += 1;
                max = max.max(depth);
            }
            (false, _, ']' | '}') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

fn overflows(number: &str) -> bool {
    number.parse::<f64>().map_or(true, f64::is_infinite)
}

/// Decode a `json_string` pair as Go does (lone surrogates become U+FFFD).
fn json_unquote(pair: Pair<'_, Rule>) -> String {
    let mut out = String::new();
    let parts: Vec<Pair<'_, Rule>> = pair.into_inner().collect();
    let mut i = 0;
    while i < parts.len() {
        let text = parts[i].as_str();
        i += 1;
        if parts[i - 1].as_rule() == Rule::json_plain {
            out.push_str(text);
            continue;
        }
        match text.as_bytes()[1] {
            b'b' => out.push('\u{8}'),
            b'f' => out.push('\u{c}'),
            b'n' => out.push('\n'),
            b'r' => out.push('\r'),
            b't' => out.push('\t'),
            b'u' => {
                let unit = u32::from_str_radix(&text[2..], 16).unwrap_or(0xfffd);
                if (0xd800..0xdc00).contains(&unit) {
                    let low = parts.get(i).map(|p| p.as_str()).filter(|t| t.starts_with("\\u"));
                    let low = low.and_then(|t| u32::from_str_radix(&t[2..], 16).ok());
                    if let Some(low @ 0xdc00..0xe000) = low {
                        out.push(
                            char::from_u32(0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00)).unwrap_or('\u{fffd}'),
                        );
                        i += 1;
                        continue;
                    }
                }
                out.push(char::from_u32(unit).unwrap_or('\u{fffd}'));
            }
            other => out.push(other as char),
        }
    }
    out
}
