//! Heredocs: which instructions may have them, the markers on the line (`<<EOF`, `<<-EOF`, `<<"EOF"`,
//! `3<<EOF`, several per line), and the bodies that follow the instruction, consumed in marker order.
//!
//! The markers are BuildKit's: the logical line is split into shell words (`shell`), and each word that
//! matches the grammar's `heredoc_marker` opens a heredoc. If the line cannot be split (an unterminated
//! quote, a malformed `${`), BuildKit sees no heredoc at all, and neither do we. Bodies go through the
//! grammar's `heredoc_plain` / `heredoc_chomp_body`, which keep the delimiter on pest's stack.

use super::shell::{self, Mode};
use super::{Grammar, Rule};
use crate::dockerfile::ast::{Heredoc, Instruction, Keyword};
use pest::Parser as _;

/// A marker found on the logical line.
#[derive(Debug)]
pub(super) struct Marker {
    pub heredoc: Heredoc,
    /// The word as written on the line (`<<-"EOF"`), for messages.
    pub word: String,
    /// Byte offset of the word in the logical line (best effort, for messages).
    pub offset: usize,
}

/// RUN, COPY and ADD in shell form may have heredocs, also under ONBUILD.
pub(super) fn allowed(instruction: &Instruction) -> bool {
    let target = match (instruction.kind, instruction.sub.as_deref()) {
        (Keyword::Onbuild, Some(sub)) => sub,
        _ => instruction,
    };
    matches!(target.kind, Keyword::Run | Keyword::Copy | Keyword::Add) && !target.json
}

/// The heredocs opened on `line`, in order.
pub(super) fn markers(line: &str) -> Result<Vec<Marker>, String> {
    let raw = Mode { raw_quotes: true, raw_escapes: true };
    let Ok(words) = shell::words(line, raw) else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    let mut search_from = 0;
    for word in words {
        let Some(heredoc) = marker(&word)? else { continue };
        let offset = line[search_from..].find(word.as_str()).map_or(search_from, |i| search_from + i);
        search_from = (offset + word.len()).min(line.len());
        out.push(Marker { heredoc, word, offset });
    }
    Ok(out)
}

/// The heredoc a shell word opens, if it is a marker.
fn marker(word: &str) -> Result<Option<Heredoc>, String> {
    let Some(pair) = Grammar::parse(Rule::heredoc_marker, word).ok().and_then(|mut p| p.next()) else {
        return Ok(None);
    };
    let (mut fd, mut chomp, mut rest) = ("", false, "");
    for part in pair.into_inner() {
        match part.as_rule() {
            Rule::heredoc_fd => fd = part.as_str(),
            Rule::heredoc_chomp => chomp = true,
            Rule::heredoc_word => rest = part.as_str(),
            _ => {}
        }
    }
    if rest.is_empty() {
        return Ok(None);
    }
    let words = shell::words(rest, Mode { raw_quotes: false, raw_escapes: false })?;
    let [name] = words.as_slice() else { return Ok(None) };
    let raw_words = shell::words(rest, Mode { raw_quotes: true, raw_escapes: false })?;
    let [raw_name] = raw_words.as_slice() else {
        return Err(format!("internal lexing of heredoc produced inconsistent results: {rest}"));
    };
    // Quotes that disappear when quotes are processed mean some part of the word was quoted.
    let quotes = |s: &str| s.chars().filter(|&c| c == '\'' || c == '"').count();
    Ok(Some(Heredoc {
        name: name.clone(),
        content: String::new(),
        expand: quotes(name) == quotes(raw_name),
        chomp,
        // BuildKit ignores an fd that does not fit (ParseUint's error is dropped).
        file_descriptor: fd.parse().unwrap_or(0),
    }))
}

/// Consume the body and terminator of `marker` from `text[pos..]`. Returns the heredoc with its content
/// and the offset after the terminator line, or `Err(())` if the file ends first.
pub(super) fn body(text: &str, pos: usize, marker: &Marker) -> Result<(Heredoc, usize), ()> {
    let mut heredoc = marker.heredoc.clone();
    // A terminator line is compared after its trailing CRs are dropped, so a name ending in CR never matches.
    if heredoc.name.ends_with('\r') {
        return Err(());
    }
    // Most bodies are short: try a line-aligned window first so that a file with many heredocs is not copied
    // once per heredoc. A terminator found in complete lines is the one the whole text would give.
    let rest = &text[pos..];
    let window = match rest.get(..WINDOW).and_then(|w| w.rfind('\n')) {
        Some(end) => &rest[..=end],
        None => rest,
    };
    let found = body_in(window, &mut heredoc).or_else(|()| match window.len() < rest.len() {
        true => body_in(rest, &mut heredoc),
        false => Err(()),
    })?;
    Ok((heredoc, pos + found))
}

const WINDOW: usize = 64 * 1024;

/// Run the body rule on `text`; fills in the content and returns the bytes consumed.
fn body_in(text: &str, heredoc: &mut Heredoc) -> Result<usize, ()> {
    // The grammar reads the delimiter from the line just before the body and pushes it.
    let input = format!("{}\n{text}", heredoc.name);
    let rule = if heredoc.chomp { Rule::heredoc_chomp_body } else { Rule::heredoc_plain };
    let pair = Grammar::parse(rule, &input).map_err(|_| ())?.next().ok_or(())?;
    let lines = if heredoc.chomp { Rule::heredoc_text } else { Rule::heredoc_line };
    heredoc.content = pair.clone().into_inner().filter(|p| p.as_rule() == lines).map(|p| p.as_str()).collect();
    Ok(pair.as_span().end() - heredoc.name.len() - 1)
}
