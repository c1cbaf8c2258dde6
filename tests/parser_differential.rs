//! Differential test against BuildKit's own Go parser, through the PyPI package `dockerfile`
//! (`scripts/buildkit-oracle.py`, called once with every input).
//!
//! Inputs: every Dockerfile under `testdata/` and `../shared/conformance/`, plus a few hundred variants
//! generated deterministically from them (continuations split and joined, comments and blank lines inside
//! continuations, odd blanks, quotes, escapes, the backtick escape directive, heredocs, keyword case, CRLF,
//! exec form, ENV/LABEL/ARG forms, flags, ONBUILD). For each input the instruction, sub-instruction,
//! flags, arguments, exec-form attribute, logical line, line span and heredocs (names, fds, bodies) must
//! agree, and when the oracle fails rbuild must fail too.
//!
//! The package pins BuildKit v0.12.5 while rbuild follows today's parser (the golden `testfiles` come from
//! it); the differences are normalised where they are only about shape (`compare`), or listed in
//! `DELIBERATE` with the reason, and any disagreement not explained by one of them fails the test.

use rbuild::dockerfile::{parse, Dockerfile, Instruction, Keyword};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Disagreements we accept, each with why. `classify` decides, per input, whether one of them explains it.
const DELIBERATE: &[(&str, &str)] = &[
    (
        "json-trailing-text",
        "`CMD [\"a\"] b`: BuildKit v0.12.5 decoded only the first JSON value and ignored the rest; since \
         v0.13 the whole text must be the array (json.Unmarshal), else it is shell form. rbuild follows today's \
         BuildKit, as the golden testfiles do.",
    ),
    (
        "heredoc-blank-after-marker",
        "`RUN cat << EOF`: since v0.13 BuildKit's lexer keeps blanks after `<<` in the marker word, so this \
         opens a heredoc; v0.12.5 did not. rbuild follows today's BuildKit.",
    ),
    (
        "heredoc-dollar-forms",
        "A heredoc line with `${...}`: v0.13 added `${a#p}`, `${a%p}`, `${a/p/r}` to the shell lexer (v0.12.5 \
         failed on them and so saw no heredoc) and shares one word buffer between nested `${...}` scans. rbuild \
         follows today's lexer.",
    ),
    (
        "backtick-flag-escape",
        "Under `# escape=`` v0.12.5 still used `\\` to escape inside `--flag` words; today's BuildKit uses \
         the escape token. rbuild follows today's BuildKit.",
    ),
    (
        "non-ascii-flag",
        "BuildKit reads `--flag` words byte by byte, turning each byte of a multi-byte character into its own \
         Latin-1 character (`jöhn` → `jÃ¶hn`) and splitting at bytes 0x85/0xA0. rbuild keeps the characters.",
    ),
    (
        "blank-env-name",
        "`ENV =x` / `LABEL =x`: BuildKit's parser keeps the empty name and its next pass fails with \"ENV \
         names can not be blank\"; rbuild reports that error while parsing, with the line.",
    ),
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn python() -> PathBuf {
    match std::env::var_os("RBUILD_ORACLE_PYTHON").filter(|p| !p.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => root().join(".venv/bin/python"),
    }
}

/// The oracle's result for every input: `Ok(commands)` or `Err(message)`.
fn oracle(texts: &[String]) -> Vec<Result<Vec<Value>, String>> {
    let python = python();
    let usable = Command::new(&python)
        .args(["-c", "import dockerfile"])
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        usable,
        "the BuildKit oracle is not available: {} cannot import the `dockerfile` package.\n\
         Install it with: python3 -m venv .venv && .venv/bin/pip install dockerfile\n\
         (or point RBUILD_ORACLE_PYTHON at a python that has it)",
        python.display()
    );
    let mut child = Command::new(&python)
        .arg(root().join("scripts/buildkit-oracle.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the oracle");
    let input = serde_json::to_vec(texts).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &input));
    let output = child.wait_with_output().expect("run the oracle");
    writer.join().unwrap().expect("feed the oracle");
    assert!(output.status.success(), "the oracle failed");
    let results: Vec<Value> = serde_json::from_slice(&output.stdout).expect("oracle output is JSON");
    assert_eq!(results.len(), texts.len());
    results
        .into_iter()
        .map(|r| match r.get("ok") {
            Some(Value::Array(cmds)) => Ok(cmds.clone()),
            _ => Err(r["error"].as_str().unwrap_or_default().to_string()),
        })
        .collect()
}

/// Every file named like a Dockerfile under `dir`, recursively, sorted.
fn dockerfiles(dir: &Path, out: &mut Vec<(String, String)>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut paths: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            dockerfiles(&path, out);
        } else if path.file_name().unwrap().to_string_lossy().contains("Dockerfile") {
            if let Ok(text) = String::from_utf8(std::fs::read(&path).unwrap()) {
                out.push((path.display().to_string(), text));
            }
        }
    }
}

fn inputs() -> Vec<(String, String)> {
    let mut base = Vec::new();
    dockerfiles(&root().join("testdata"), &mut base);
    dockerfiles(&root().join("../shared/conformance"), &mut base);
    assert!(base.len() > 50, "expected the conformance and testdata Dockerfiles, found {}", base.len());
    let mut all = base.clone();
    let mut rng = Rng(0x5eed_d0c5);
    // RBUILD_DIFF_ROUNDS=n runs a deeper (still deterministic) search locally.
    let rounds = std::env::var("RBUILD_DIFF_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(7);
    for round in 0..rounds {
        for (name, text) in &base {
            let mut variant = text.clone();
            let mut ops = Vec::new();
            for _ in 0..1 + rng.below(3) {
                let op = rng.below(mutate::COUNT);
                variant = mutate::apply(op, &variant, &mut rng);
                ops.push(op.to_string());
            }
            all.push((format!("{name} #{round} ops {}", ops.join(",")), variant));
        }
    }
    all.retain(|(_, text)| !text.contains('\0'));
    all
}

/// A small deterministic generator (64-bit LCG), so every run sees the same inputs.
pub struct Rng(u64);

impl Rng {
    pub fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n.max(1)
    }
}

#[path = "parser_differential/mutate.rs"]
mod mutate;

#[test]
fn agrees_with_buildkit_parser() {
    let inputs = inputs();
    let texts: Vec<String> = inputs.iter().map(|(_, t)| t.clone()).collect();
    let results = oracle(&texts);
    let mut failures = Vec::new();
    let mut known: BTreeMap<&str, usize> = BTreeMap::new();
    for ((name, text), theirs) in inputs.iter().zip(results) {
        let ours = parse(text);
        let Err(detail) = compare(&ours, &theirs) else { continue };
        match classify(text, &ours, &theirs) {
            Some(reason) => {
                assert!(DELIBERATE.iter().any(|(id, _)| *id == reason), "undocumented reason {reason}");
                *known.entry(reason).or_default() += 1;
                if std::env::var_os("RBUILD_DIFF_VERBOSE").is_some() {
                    eprintln!("== {name} [{reason}]\n{detail}");
                }
            }
            None => failures.push(format!("== {name}\n{detail}\n--- input\n{text}")),
        }
    }
    eprintln!("{} inputs; deliberate disagreements: {known:?}", inputs.len());
    assert!(failures.is_empty(), "{} disagreements with BuildKit:\n{}", failures.len(), failures.join("\n"));
}

/// The package hands strings to Python as C strings: everything from a NUL on is lost.
fn c_string(s: &str) -> String {
    s.split('\0').next().unwrap_or_default().to_string()
}

/// The oracle's view of one of our instructions, normalised to v0.12.5's shapes.
fn expected_shape(i: &Instruction) -> Value {
    let target = i.sub.as_deref().unwrap_or(i);
    let mut value = target.args.clone();
    if target.sub.is_some() {
        value = vec![String::new()]; // the package lists the node that holds a nested ONBUILD's instruction
    }
    if matches!(target.kind, Keyword::Env | Keyword::Label) {
        // v0.12.5 had no separator node after each key/value pair.
        value = value.chunks(3).flat_map(|c| c.iter().take(2).cloned()).collect();
    }
    let value: Vec<String> = value.iter().map(|v| c_string(v)).collect();
    let heredocs: Vec<Value> = if i.sub.is_some() {
        Vec::new() // the package reads the heredocs of the sub-instruction, where BuildKit never puts them
    } else {
        i.heredocs
            .iter()
            .map(|h| serde_json::json!({"name": h.name, "file_descriptor": h.file_descriptor, "content": c_string(&h.content)}))
            .collect()
    };
    serde_json::json!({
        "cmd": i.keyword,
        "sub_cmd": i.sub.as_ref().map(|s| s.keyword.clone()).unwrap_or_default(),
        "json": target.json,
        "original": i.original.split('\n').next().unwrap_or_default(),
        "start_line": i.location.start_line,
        "end_line": i.location.end_line,
        "flags": i.flags,
        "value": value,
        "heredocs": heredocs,
    })
}

fn actual_shape(c: &Value, ours: Option<&Instruction>) -> Value {
    let mut c = c.clone();
    for key in ["cmd", "sub_cmd", "original"] {
        if c[key].is_null() {
            c[key] = Value::String(String::new());
        }
    }
    let first_line = c["original"].as_str().unwrap_or_default().split('\n').next().unwrap_or_default().to_string();
    c["original"] = Value::String(first_line);
    // rbuild strips the leading tabs of `<<-` bodies while parsing; BuildKit does it when building.
    if let (Some(ours), Some(docs)) = (ours, c["heredocs"].as_array_mut()) {
        for (doc, mine) in docs.iter_mut().zip(&ours.heredocs) {
            if mine.chomp {
                let content = doc["content"].as_str().unwrap_or_default();
                let chomped: String = content.split_inclusive('\n').map(|l| l.trim_start_matches('\t')).collect();
                doc["content"] = Value::String(chomped);
            }
        }
    }
    c
}

fn compare(
    ours: &Result<Dockerfile, rbuild::dockerfile::ParseError>,
    theirs: &Result<Vec<Value>, String>,
) -> Result<(), String> {
    match (ours, theirs) {
        (Err(_), Err(_)) => Ok(()),
        (Ok(_), Err(e)) => Err(format!("BuildKit fails ({e}), rbuild parses")),
        (Err(e), Ok(_)) => Err(format!("rbuild fails ({e}), BuildKit parses")),
        (Ok(file), Ok(cmds)) => {
            let mut diffs = Vec::new();
            if file.instructions.len() != cmds.len() {
                diffs.push(format!("{} instructions, BuildKit has {}", file.instructions.len(), cmds.len()));
            }
            for (k, (mine, theirs)) in file.instructions.iter().zip(cmds).enumerate() {
                let (want, got) = (actual_shape(theirs, Some(mine)), expected_shape(mine));
                if want != got {
                    diffs.push(format!("instruction {k}:\n  buildkit {want}\n  rbuild   {got}"));
                }
            }
            if diffs.is_empty() {
                Ok(())
            } else {
                Err(diffs.join("\n"))
            }
        }
    }
}

/// Which deliberate disagreement, if any, explains the difference on `text`.
fn classify(
    text: &str,
    ours: &Result<Dockerfile, rbuild::dockerfile::ParseError>,
    theirs: &Result<Vec<Value>, String>,
) -> Option<&'static str> {
    let joined = logical_lines(text);
    if joined.iter().any(|l| l.contains("<<") && has_v013_dollar_form(l)) {
        return Some("heredoc-dollar-forms");
    }
    if joined.iter().any(|l| {
        l.match_indices("<<").any(|(i, _)| {
            let after = l[i + 2..].trim_start_matches('-');
            after.starts_with([' ', '\t', '\r']) && !after.trim().is_empty()
        })
    }) {
        return Some("heredoc-blank-after-marker");
    }
    if let (Err(e), Ok(_)) = (ours, theirs) {
        return e.message.ends_with("names can not be blank").then_some("blank-env-name");
    }
    if let (Ok(file), Err(e)) = (ours, theirs) {
        // v0.12.5 decoded the leading array even with text after it, and so rejected its non-strings.
        let trailing = file.instructions.iter().any(|i| json_with_trailing_text(i.sub.as_deref().unwrap_or(i)));
        return (e.contains("comprised of strings only") && trailing).then_some("json-trailing-text");
    }
    let (Ok(file), Ok(cmds)) = (ours, theirs) else { return None };
    if file.instructions.len() != cmds.len() {
        return None;
    }
    // Every differing instruction must be explained by the same per-instruction reason.
    let mut reason = None;
    for (mine, theirs) in file.instructions.iter().zip(cmds) {
        if actual_shape(theirs, Some(mine)) == expected_shape(mine) {
            continue;
        }
        let this = instruction_reason(file, mine, theirs)?;
        reason = Some(this);
    }
    reason
}

/// The logical lines of `text`, roughly: lines ending in an escape joined with the next line that is not a
/// comment or blank.
fn logical_lines(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut continuing = false;
    for line in text.lines() {
        let t = line.trim();
        if continuing && (t.is_empty() || t.starts_with('#')) {
            continue;
        }
        let piece = t.trim_end_matches(['\\', '`']);
        match (continuing, out.last_mut()) {
            (true, Some(last)) => last.push_str(piece),
            _ => out.push(piece.to_string()),
        }
        continuing = t.ends_with(['\\', '`']);
    }
    out
}

/// An instruction in shell form whose text starts with a JSON array followed by more text.
fn json_with_trailing_text(i: &Instruction) -> bool {
    let line = i.original.split('\n').next().unwrap_or_default();
    let Some(at) = line.find('[') else { return false };
    let rest = &line[at..];
    let mut stream = serde_json::Deserializer::from_str(rest).into_iter::<Value>();
    !i.json && matches!(stream.next(), Some(Ok(Value::Array(_)))) && stream.byte_offset() < rest.trim_end().len()
}

/// `${name<op>...}` with an operator whose handling changed after v0.12.5 (see DELIBERATE).
fn has_v013_dollar_form(line: &str) -> bool {
    line.match_indices("${").any(|(i, _)| {
        let inner = &line[i + 2..];
        let name_len = inner.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(inner.len());
        matches!(inner[name_len..].chars().next(), Some('#' | '%' | '/' | ':' | '+' | '-' | '?'))
    })
}

fn instruction_reason(file: &Dockerfile, mine: &Instruction, theirs: &Value) -> Option<&'static str> {
    let target = mine.sub.as_deref().unwrap_or(mine);
    let first_line = mine.original.split('\n').next().unwrap_or_default();
    if theirs["json"] == Value::Bool(true) && json_with_trailing_text(target) {
        return Some("json-trailing-text");
    }
    let flagged = |f: &Vec<String>| !f.is_empty();
    if flagged(&mine.flags) || flagged(&target.flags) {
        if !first_line.is_ascii() {
            return Some("non-ascii-flag");
        }
        if file.directives.escape == '`' && (first_line.contains('\\') || first_line.contains('`')) {
            return Some("backtick-flag-escape");
        }
    }
    None
}
