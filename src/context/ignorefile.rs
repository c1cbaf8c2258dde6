//! The .dockerignore file: finding it, reading it with `grammar/dockerignore.pest`, and turning its
//! patterns into a [`Matcher`] whose errors point at the file and line they come from.
//!
//! Reading follows moby/patternmatcher's `ignorefile.ReadAll`: the grammar drops comments and blank lines
//! and splits off the `!`; each pattern is then cleaned like Go's `filepath.Clean` and one leading `/` is
//! removed (`/a/b` and `a/b` are the same rule). A bare `!` is kept here; the matcher rejects it.

use super::cleanpath;
use super::matcher::Matcher;
use super::pattern::PatternError;
use pest::Parser;
use std::path::{Path, PathBuf};

#[derive(pest_derive::Parser)]
#[grammar = "grammar/dockerignore.pest"]
struct IgnoreGrammar;

/// Why an ignore file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum IgnoreFileError {
    #[error("cannot read {}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}: not valid UTF-8", path.display())]
    NotUtf8 { path: PathBuf },
    #[error("{file}: cannot be read as an ignore file: {error}")]
    Grammar { file: String, error: Box<pest::error::Error<Rule>> },
    #[error("{file}:{line}: {error}")]
    Pattern { file: String, line: usize, error: PatternError },
}

/// One pattern line of an ignore file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoreEntry {
    /// 1-based line number in the file.
    pub line: usize,
    /// The pattern as upstream's reader returns it (`!` kept for exceptions, cleaned, no leading `/`).
    pub pattern: String,
}

/// The patterns of one .dockerignore file (or none, when there is no file).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IgnoreFile {
    source: Option<PathBuf>,
    entries: Vec<IgnoreEntry>,
}

/// The ignore file Docker/BuildKit use for a build: `<Dockerfile>.dockerignore` beside the Dockerfile
/// (e.g. `build/app.Dockerfile.dockerignore`) wins over `<context>/.dockerignore`. `None` when neither
/// exists.
pub fn find_ignore_file(context: &Path, dockerfile: &Path) -> Option<PathBuf> {
    let specific = dockerfile.file_name().map(|name| {
        let mut name = name.to_os_string();
        name.push(".dockerignore");
        dockerfile.with_file_name(name)
    });
    specific.into_iter().chain([context.join(".dockerignore")]).find(|p| p.is_file())
}

impl IgnoreFile {
    /// Parse ignore-file text (no file behind it; errors name it `.dockerignore`).
    pub fn parse(text: &str) -> Result<IgnoreFile, IgnoreFileError> {
        Self::parse_from(text, None)
    }

    /// Read and parse an ignore file.
    pub fn read(path: &Path) -> Result<IgnoreFile, IgnoreFileError> {
        let bytes = std::fs::read(path).map_err(|source| IgnoreFileError::Read { path: path.to_path_buf(), source })?;
        let text = String::from_utf8(bytes).map_err(|_| IgnoreFileError::NotUtf8 { path: path.to_path_buf() })?;
        Self::parse_from(&text, Some(path.to_path_buf()))
    }

    /// The ignore file of a build (see [`find_ignore_file`]), or an empty one when there is none.
    pub fn load(context: &Path, dockerfile: &Path) -> Result<IgnoreFile, IgnoreFileError> {
        match find_ignore_file(context, dockerfile) {
            Some(path) => Self::read(&path),
            None => Ok(IgnoreFile::default()),
        }
    }

    fn parse_from(text: &str, source: Option<PathBuf>) -> Result<IgnoreFile, IgnoreFileError> {
        let mut file = IgnoreFile { source, entries: Vec::new() };
        let parsed = IgnoreGrammar::parse(Rule::file, text)
            .map_err(|e| IgnoreFileError::Grammar { file: file.name(), error: Box::new(e) })?;
        for pair in parsed.flatten().filter(|p| p.as_rule() == Rule::rule) {
            let line = pair.line_col().0;
            let mut exception = false;
            let mut pattern = "";
            for part in pair.into_inner() {
                match part.as_rule() {
                    Rule::exception => exception = true,
                    Rule::pattern => pattern = part.as_str(),
                    _ => {}
                }
            }
            file.entries.push(IgnoreEntry { line, pattern: normalize(pattern, exception) });
        }
        Ok(file)
    }

    /// The file the patterns came from, if any.
    pub fn source(&self) -> Option<&Path> {
        self.source.as_deref()
    }

    pub fn entries(&self) -> &[IgnoreEntry] {
        &self.entries
    }

    /// The patterns in file order, as upstream's `ReadAll` returns them.
    pub fn patterns(&self) -> Vec<&str> {
        self.entries.iter().map(|e| e.pattern.as_str()).collect()
    }

    /// Compile the patterns; a bad one is reported with this file's name and its line.
    pub fn matcher(&self) -> Result<Matcher, IgnoreFileError> {
        Matcher::new(self.patterns()).map_err(|e| self.locate(e))
    }

    /// Attach file and line to a pattern error raised by this file's matcher (some are only raised while
    /// matching, e.g. during a walk).
    pub fn locate(&self, err: PatternError) -> IgnoreFileError {
        let line = self.entries.get(err.index()).map_or(0, |e| e.line);
        IgnoreFileError::Pattern { file: self.name(), line, error: err }
    }

    fn name(&self) -> String {
        self.source.as_ref().map_or_else(|| ".dockerignore".to_string(), |p| p.display().to_string())
    }
}

/// Upstream's per-line normalisation after trimming: clean, drop one leading `/`, put the `!` back.
fn normalize(pattern: &str, exception: bool) -> String {
    let mut out = String::new();
    if exception {
        out.push('!');
    }
    if !pattern.is_empty() {
        let cleaned = cleanpath::clean(pattern);
        out.push_str(match cleaned.strip_prefix('/') {
            Some(rest) if !rest.is_empty() => rest,
            _ => &cleaned,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patterns(text: &str) -> Vec<String> {
        IgnoreFile::parse(text).expect("any text is an ignore file").patterns().into_iter().map(String::from).collect()
    }

    #[test]
    fn comments_blank_lines_and_trimming() {
        assert_eq!(patterns("# c\n\n  a  \n\t\n #not-a-comment\n"), ["a", "#not-a-comment"]);
    }

    #[test]
    fn exceptions_keep_their_bang_and_lose_inner_space() {
        assert_eq!(patterns("! /x/y\n!\n! \n!!z"), ["!x/y", "!", "!", "!!z"]);
    }

    #[test]
    fn bom_and_crlf() {
        assert_eq!(patterns("\u{FEFF}# comment\r\na\r\n/b/\r\n"), ["a", "b"]);
        assert_eq!(patterns("\u{FEFF}a"), ["a"]);
        // A BOM is only special at the very start.
        assert_eq!(patterns("a\n\u{FEFF}b"), ["a", "\u{FEFF}b"]);
    }

    #[test]
    fn cleaning_and_leading_slash() {
        assert_eq!(patterns("./a/../b//c/\n/\n//x\n/.."), ["b/c", "/", "x", "/"]);
    }

    #[test]
    fn line_numbers_count_every_line() {
        let file = IgnoreFile::parse("# one\n\nthree\r\n  four").expect("parses");
        let lines: Vec<usize> = file.entries().iter().map(|e| e.line).collect();
        assert_eq!(lines, [3, 4]);
    }

    #[test]
    fn bad_pattern_error_names_file_and_line() {
        let file = IgnoreFile::parse("ok\n\n[\n").expect("parses");
        let err = file.matcher().expect_err("`[` is a bad pattern");
        assert!(matches!(err, IgnoreFileError::Pattern { line: 3, .. }), "{err}");
        assert!(err.to_string().starts_with(".dockerignore:3: bad pattern"), "{err}");
    }

    #[test]
    fn dockerfile_specific_ignore_file_wins() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ctx = dir.path();
        std::fs::create_dir(ctx.join("build")).expect("mkdir");
        let dockerfile = ctx.join("build/app.Dockerfile");
        assert_eq!(find_ignore_file(ctx, &dockerfile), None);
        std::fs::write(ctx.join(".dockerignore"), "a").expect("write");
        assert_eq!(find_ignore_file(ctx, &dockerfile), Some(ctx.join(".dockerignore")));
        std::fs::write(ctx.join("build/app.Dockerfile.dockerignore"), "b").expect("write");
        assert_eq!(find_ignore_file(ctx, &dockerfile), Some(ctx.join("build/app.Dockerfile.dockerignore")));
        assert_eq!(IgnoreFile::load(ctx, &dockerfile).expect("reads").patterns(), ["b"]);
    }
}
