//! A message about a place in a Dockerfile, rendered the way every rbuild error about a Dockerfile looks:
//!
//! ```text
//! Dockerfile:12:1: COPY requires at least two arguments
//!    12 | COPY onlyone
//!       | ^
//! ```
//!
//! The caret stands under the column (tabs before it are kept, so it lines up in a terminal).

use std::borrow::Cow;
use std::fmt;

use super::ast::Position;

/// How much of a piece of user text (a line, a word, an expression) a message shows.
pub const EXCERPT_LEN: usize = 240;

/// `text` as a message shows it: whole when short; otherwise its start and end around a note of how much
/// was left out, so a 60 KB expression never fills a terminal (or a CI log) and the end, where the
/// mistake usually is, stays visible.
pub fn excerpt(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    let floor = |mut i: usize| {
        while !text.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let head = floor(max * 2 / 3);
    let tail = floor(text.len() - max / 3);
    Cow::Owned(format!("{}[... {} bytes ...]{}", &text[..head], tail - head, &text[tail..]))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Diagnostic {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
    /// The physical line shown under the message (empty to show none).
    pub source_line: String,
}

impl Diagnostic {
    /// A diagnostic at `line` of `text`, pointing at the line's first non-blank character.
    pub fn at_line(file: &str, text: &str, line: usize, message: impl Into<String>) -> Diagnostic {
        let source_line = text.lines().nth(line.saturating_sub(1)).unwrap_or("").to_string();
        let column = source_line.len() - source_line.trim_start().len() + 1;
        Diagnostic { file: file.to_string(), line, column, message: message.into(), source_line }
    }

    /// A diagnostic pointing at `at` (a word that may sit on a continuation line of its instruction).
    pub fn at(file: &str, text: &str, at: Position, message: impl Into<String>) -> Diagnostic {
        Diagnostic { column: at.column, ..Diagnostic::at_line(file, text, at.line, message) }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            return write!(f, "{}: {}", self.file, self.message);
        }
        // The message may quote user text; the line is user text: both are shown in excerpt.
        write!(f, "{}:{}:{}: {}", self.file, self.line, self.column, excerpt(&self.message, 4 * EXCERPT_LEN))?;
        if !self.source_line.is_empty() {
            let shown = excerpt(&self.source_line, EXCERPT_LEN);
            write!(f, "\n {:>5} | {shown}", self.line)?;
            // Only under a line shown whole: in an excerpt the column would point elsewhere.
            if matches!(shown, Cow::Borrowed(_)) && self.column >= 1 && self.column <= shown.chars().count() + 1 {
                let pad: String =
                    shown.chars().take(self.column - 1).map(|c| if c == '\t' { '\t' } else { ' ' }).collect();
                write!(f, "\n       | {pad}^")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_user_text_is_shown_in_excerpt_with_its_end() {
        let long = format!("{}END", "é".repeat(5000));
        let shown = excerpt(&long, 100);
        assert!(shown.len() < 140 && shown.ends_with("END") && shown.contains("bytes ...]"), "{shown}");
        assert_eq!(excerpt("short", 100), "short");
    }

    #[test]
    fn renders_file_line_column_and_the_line() {
        let d = Diagnostic::at_line("Dockerfile", "FROM x\n  COPY a\n", 2, "COPY requires at least two arguments");
        assert_eq!(d.column, 3);
        assert_eq!(
            d.to_string(),
            "Dockerfile:2:3: COPY requires at least two arguments\n     2 |   COPY a\n       |   ^"
        );
        let tab = Diagnostic { column: 7, ..Diagnostic::at_line("Dockerfile", "\tRUN --x\n", 1, "bad flag") };
        assert!(tab.to_string().ends_with("\n       | \t     ^"), "{tab}");
    }
}
