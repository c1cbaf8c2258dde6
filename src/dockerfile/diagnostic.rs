//! A message about a place in a Dockerfile, rendered the way every rbuild error about a Dockerfile looks:
//!
//! ```text
//! Dockerfile:12:1: COPY requires at least two arguments
//!    12 | COPY onlyone
//! ```

use std::fmt;

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
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            return write!(f, "{}: {}", self.file, self.message);
        }
        write!(f, "{}:{}:{}: {}", self.file, self.line, self.column, self.message)?;
        if !self.source_line.is_empty() {
            write!(f, "\n {:>5} | {}", self.line, self.source_line)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_file_line_column_and_the_line() {
        let d = Diagnostic::at_line("Dockerfile", "FROM x\n  COPY a\n", 2, "COPY requires at least two arguments");
        assert_eq!(d.column, 3);
        assert_eq!(d.to_string(), "Dockerfile:2:3: COPY requires at least two arguments\n     2 |   COPY a");
    }
}
