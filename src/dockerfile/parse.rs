//! Text → syntax tree, driven by `grammar/dockerfile.pest`, with BuildKit's parser as the reference for
//! every rule (see `docs/parser.md` and `../shared/conformance/buildkit-parser/FORMAT.md`).
//!
//! The driver walks the file item by item: a directive pre-pass settles the escape token, then each call of
//! the grammar's `item_*` rule consumes one comment line, one empty line or one instruction with its
//! continuation lines. An instruction's joined logical line goes through `command` and an argument rule
//! (`args`); heredoc bodies are consumed right after it (`heredoc`). The parser never expands variables and
//! never decides whether an instruction makes sense: that is the typed pass's job.

mod args;
mod directives;
mod heredoc;
mod shell;
#[cfg(test)]
mod tests;

pub(crate) use args::go_lower;

use super::ast::{Dockerfile, Instruction, Location, Warning};
use pest::Parser as _;

/// The pest parser generated from `grammar/dockerfile.pest`.
#[derive(pest_derive::Parser)]
#[grammar = "../grammar/dockerfile.pest"]
pub(crate) struct Grammar;

/// A Dockerfile syntax error, pointing at a line (1-based) and column (1-based).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub column: usize,
    pub message: String,
    /// The offending physical line, for showing under the message.
    pub source_line: String,
}

/// The longest physical line BuildKit's line scanner accepts (64 KiB buffer, newline included).
const MAX_LINE_LEN: usize = 64 * 1024 - 1;

/// Parse a whole Dockerfile.
pub fn parse(text: &str) -> Result<Dockerfile, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let src = Source::new(text);
    let directives = directives::read(&src)?;
    // BuildKit's scanner stops at an over-long line as if the file ended there, then reports it (unless an
    // earlier error, or the lack of any instruction, is reported first).
    let too_long = src.line_starts.iter().position(|&start| src.line_text(start).len() > MAX_LINE_LEN);
    let end = too_long.map_or(text.len(), |i| src.line_starts[i]);
    let mut driver =
        Driver { src: &src, end, escape: directives.escape, pos: 0, out: Vec::new(), warnings: Vec::new() };
    while driver.pos < end {
        driver.item()?;
    }
    if driver.out.is_empty() {
        let line = src.line_of(end.saturating_sub(1)).max(1);
        return Err(src.error(line, 1, "file with no instructions".into()));
    }
    if let Some(i) = too_long {
        let message = format!("dockerfile line greater than max allowed size of {MAX_LINE_LEN}");
        return Err(src.error(i + 1, 1, message));
    }
    Ok(Dockerfile { directives, instructions: driver.out, warnings: driver.warnings })
}

/// The text with its line table.
pub(crate) struct Source<'a> {
    pub text: &'a str,
    /// Byte offset of the start of every physical line.
    pub line_starts: Vec<usize>,
}

impl<'a> Source<'a> {
    fn new(text: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1).filter(|&i| i < text.len()));
        if text.is_empty() {
            line_starts.clear();
        }
        Source { text, line_starts }
    }

    /// 1-based line number of the byte at `offset`.
    fn line_of(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&s| s <= offset).max(1)
    }

    /// The physical line starting at `start`, without its newline.
    fn line_text(&self, start: usize) -> &'a str {
        let rest = &self.text[start..];
        &rest[..rest.find('\n').unwrap_or(rest.len())]
    }

    /// (line, column), both 1-based, of the byte at `offset`.
    fn position(&self, offset: usize) -> (usize, usize) {
        let line = self.line_of(offset);
        let start = self.line_starts.get(line - 1).copied().unwrap_or(0);
        let column = self.text[start..offset.min(self.text.len()).max(start)].chars().count() + 1;
        (line, column)
    }

    fn error(&self, line: usize, column: usize, message: String) -> ParseError {
        let source_line = match self.line_starts.get(line.wrapping_sub(1)) {
            Some(&start) => self.line_text(start).trim_end_matches('\r').to_string(),
            None => String::new(),
        };
        ParseError { line, column, message, source_line }
    }

    fn error_at(&self, offset: usize, message: String) -> ParseError {
        let (line, column) = self.position(offset);
        self.error(line, column, message)
    }
}

/// A logical line: the pieces of physical lines it was joined from, for mapping offsets back.
#[derive(Debug, Default)]
pub(crate) struct LogicalLine {
    pub text: String,
    /// (offset in `text`, offset in the source) of every piece.
    pub pieces: Vec<(usize, usize)>,
}

impl LogicalLine {
    /// The source offset of byte `offset` of the logical line.
    pub fn source_offset(&self, offset: usize) -> usize {
        let i = self.pieces.partition_point(|&(at, _)| at <= offset).saturating_sub(1);
        self.pieces.get(i).map_or(0, |&(at, src)| src + (offset - at))
    }
}

/// What the `item` rule gives for the most common line, found without running the grammar (which is
/// most of the parse time of a long Dockerfile): a single physical line holding neither the escape token
/// nor a CR, and that is not blank or a comment, is one instruction whose only piece runs from its first
/// non-white-space character to the end of the line. Returns that piece's start and the length consumed
/// (newline included); `None` sends the line through the grammar.
fn plain_instruction(text: &str, escape: char) -> Option<(usize, usize)> {
    let line_len = text.find('\n').unwrap_or(text.len());
    let line = &text[..line_len];
    if line.contains([escape, '\r']) {
        return None;
    }
    // The grammar's `line_space` is Unicode White_Space, as `char::is_whitespace`.
    let trimmed = line.trim_start();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return None;
    }
    let consumed = if line_len < text.len() { line_len + 1 } else { line_len };
    Some((line_len - trimmed.len(), consumed))
}

struct Driver<'s, 'a> {
    src: &'s Source<'a>,
    /// Where the readable text ends (an over-long line cuts it short).
    end: usize,
    escape: char,
    pos: usize,
    out: Vec<Instruction>,
    warnings: Vec<Warning>,
}

impl Driver<'_, '_> {
    /// Find where the instruction's flags and arguments start (searching the logical line from `from`,
    /// its keyword), so that messages about a flag or the arguments point at their column.
    fn locate_words(&self, line: &LogicalLine, from: usize, ins: &mut Instruction) {
        let text = &line.text;
        let position = |at: usize| {
            let (line, column) = self.src.position(line.source_offset(at));
            crate::dockerfile::ast::Position { line, column }
        };
        let word_end = |at: usize| text[at..].find(char::is_whitespace).map_or(text.len(), |i| at + i);
        let mut at = word_end(from);
        for flag in &ins.flags {
            let name = flag.split('=').next().unwrap_or(flag);
            match text.get(at..).and_then(|t| t.find(name)) {
                Some(i) => {
                    ins.flag_positions.push(position(at + i));
                    at = word_end(at + i);
                }
                None => ins.flag_positions.push(position(at)),
            }
        }
        let args = text.get(at..).map_or(at, |t| at + (t.len() - t.trim_start().len()));
        ins.args_position = position(args.min(text.len()));
        if let Some(sub) = ins.sub.as_deref_mut() {
            // ONBUILD's instruction starts with its own keyword, right where ONBUILD's arguments do.
            self.locate_words(line, args, sub);
        }
    }

    /// Consume one comment line, empty line, or instruction (with its heredoc bodies).
    fn item(&mut self) -> Result<(), ParseError> {
        let base = self.pos;
        let text = &self.src.text[base..self.end];
        let mut line = LogicalLine::default();
        let mut empty_continuation = false;
        if let Some((piece_start, consumed)) = plain_instruction(text, self.escape) {
            line.pieces.push((0, base + piece_start));
            line.text.push_str(text[piece_start..consumed].trim_end_matches('\n'));
            self.pos = base + consumed;
        } else {
            let rule = if self.escape == '`' { Rule::item_backtick } else { Rule::item_backslash };
            let pair = Grammar::parse(rule, text)
                .ok()
                .and_then(|mut pairs| pairs.next())
                .ok_or_else(|| self.src.error_at(self.pos, "internal error: no grammar rule matched".into()))?;
            self.pos = base + pair.as_span().end();
            if pair.as_rule() != Rule::instruction {
                return Ok(());
            }
            for part in pair.into_inner() {
                match part.as_rule() {
                    Rule::piece => {
                        line.pieces.push((line.text.len(), base + part.as_span().start()));
                        line.text.push_str(part.as_str());
                    }
                    Rule::empty_line => empty_continuation = true,
                    _ => {}
                }
            }
        }
        // The instruction starts where the item does (its leading white space included).
        let start_offset = base;
        let start_line = self.src.line_of(start_offset);
        let mut end_line = self.src.line_of(self.pos.saturating_sub(1).max(start_offset));
        if empty_continuation {
            let message = format!("Empty continuation line found in: {}", line.text);
            self.warnings.push(Warning { line: end_line, message });
        }

        let keyword_offset = line.source_offset(line.text.len() - line.text.trim_start_matches(args::go_space).len());
        let mut instruction = args::instruction_from_line(&line.text, self.escape)
            .map_err(|message| self.src.error_at(keyword_offset, message))?;

        let mut original = line.text.clone();
        if heredoc::allowed(&instruction) && line.text.contains("<<") {
            let markers = heredoc::markers(&line.text).map_err(|message| self.src.error_at(keyword_offset, message))?;
            let body_start = self.pos;
            let mut docs = Vec::new();
            for marker in markers {
                let (doc, next) = heredoc::body(&self.src.text[..self.end], self.pos, &marker).map_err(|()| {
                    let at = line.source_offset(marker.offset);
                    let (marker_line, column) = self.src.position(at);
                    let message = format!("unterminated heredoc {} started on line {marker_line}", marker.word);
                    self.src.error(marker_line, column, message)
                })?;
                docs.push(doc);
                self.pos = next;
            }
            if !docs.is_empty() {
                end_line = self.src.line_of(self.pos - 1);
                original.push('\n');
                original.push_str(&self.src.text[body_start..self.pos]);
                match instruction.sub.as_deref_mut() {
                    Some(sub) => {
                        sub.heredocs = docs;
                        sub.original.push('\n');
                        sub.original.push_str(&self.src.text[body_start..self.pos]);
                    }
                    None => instruction.heredocs = docs,
                }
            }
        }

        let keyword_in_line = line.text.len() - line.text.trim_start_matches(args::go_space).len();
        self.locate_words(&line, keyword_in_line, &mut instruction);
        let location = Location { start_line, end_line };
        instruction.original = original;
        instruction.location = location;
        if let Some(sub) = instruction.sub.as_deref_mut() {
            sub.location = location;
        }
        self.out.push(instruction);
        Ok(())
    }
}
