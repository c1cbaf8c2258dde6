//! The AST dump in the exact format of BuildKit's parser golden `result` files, and the JSON form of the
//! syntax tree that `rbuild parse --format json` prints.

use super::ast::{Dockerfile, Heredoc, Instruction};
use serde_json::{json, Value};

/// `(keyword ["--flag" ...] "arg" ...)`, one line per instruction, no final newline.
pub fn dump(file: &Dockerfile) -> String {
    let lines: Vec<String> = file.instructions.iter().map(|i| format!("({})", instruction(i))).collect();
    go_trim(&lines.join("\n")).to_string()
}

fn instruction(i: &Instruction) -> String {
    let mut out = super::parse::go_lower(&i.keyword);
    if !i.flags.is_empty() {
        let flags: Vec<String> = i.flags.iter().map(|f| quote(f)).collect();
        out.push_str(&format!(" [{}]", flags.join(" ")));
    }
    for arg in &i.args {
        out.push(' ');
        out.push_str(&quote(arg));
    }
    if let Some(sub) = &i.sub {
        out.push_str(&format!(" ({})", instruction(sub)));
    }
    go_trim(&out).to_string()
}

fn go_trim(s: &str) -> &str {
    s.trim_matches(char::is_whitespace)
}

/// A Go-syntax double-quoted string, as Go's `strconv.Quote` writes it: printable characters as they are,
/// `\a \b \f \n \r \t \v \\ \"` escaped, other control and non-printable characters as `\xHH`, `\uHHHH`
/// or `\UHHHHHHHH`.
///
/// "Printable" follows Go's `unicode.IsPrint` (letters, marks, numbers, punctuation, symbols and the ASCII
/// space); without Unicode category tables at hand, code points not yet assigned count as printable.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if is_print(c) => out.push(c),
            c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// Go's `strconv.IsPrint`, approximated (see `quote`).
fn is_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    let u = c as u32;
    let format_chars = [
        (0xad, 0xad),
        (0x600, 0x605),
        (0x61c, 0x61c),
        (0x6dd, 0x6dd),
        (0x70f, 0x70f),
        (0x890, 0x891),
        (0x8e2, 0x8e2),
        (0x180e, 0x180e),
        (0x200b, 0x200f),
        (0x202a, 0x202e),
        (0x2060, 0x2064),
        (0x2066, 0x206f),
        (0xfeff, 0xfeff),
        (0xfff9, 0xfffb),
        (0x110bd, 0x110bd),
        (0x110cd, 0x110cd),
        (0x13430, 0x1343f),
        (0x1bca0, 0x1bca3),
        (0x1d173, 0x1d17a),
        (0xe0001, 0xe0001),
        (0xe0020, 0xe007f),
    ];
    let private_use = (0xe000..=0xf8ff).contains(&u) || u >= 0xf0000;
    let noncharacter = (0xfdd0..=0xfdef).contains(&u) || (u & 0xfffe) == 0xfffe;
    !(private_use || noncharacter || format_chars.iter().any(|&(lo, hi)| (lo..=hi).contains(&u)))
}

/// The syntax tree as JSON: an array of instructions.
pub fn to_json(file: &Dockerfile) -> Value {
    Value::Array(file.instructions.iter().map(instruction_json).collect())
}

fn instruction_json(i: &Instruction) -> Value {
    json!({
        "keyword": i.keyword,
        "flags": i.flags,
        "args": i.args,
        "json": i.json,
        "heredocs": i.heredocs.iter().map(heredoc_json).collect::<Vec<_>>(),
        "original": i.original,
        "start_line": i.location.start_line,
        "end_line": i.location.end_line,
        "sub": i.sub.as_deref().map(instruction_json),
    })
}

fn heredoc_json(h: &Heredoc) -> Value {
    json!({
        "name": h.name,
        "content": h.content,
        "expand": h.expand,
        "chomp": h.chomp,
        "file_descriptor": h.file_descriptor,
    })
}
