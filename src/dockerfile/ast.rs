//! The syntax tree: what the grammar recognised, with the text and line span of every instruction.
//!
//! Nothing here is interpreted: flags are kept as words, arguments as the nodes BuildKit's parser would
//! produce (see `../shared/conformance/buildkit-parser/FORMAT.md`), and no variable is expanded. The typed
//! pass (`instructions`) and the planner give these words their meaning.

/// 1-based line span of an instruction: from the line its keyword is on to the last physical line it
/// consumed (continuations, comments and blank lines inside them, heredoc bodies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Location {
    pub start_line: usize,
    pub end_line: usize,
}

/// 1-based line and column (in characters) of a word in the Dockerfile, for messages that point at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// The instruction keywords Docker knows; anything else is kept as `Unknown` (BuildKit's parser does not
/// reject unknown instructions; the build does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    From,
    Run,
    Cmd,
    Entrypoint,
    Env,
    Expose,
    Volume,
    Add,
    Copy,
    Workdir,
    User,
    Label,
    Arg,
    Shell,
    Stopsignal,
    Healthcheck,
    Onbuild,
    Maintainer,
    Unknown,
}

impl Keyword {
    /// Case-insensitive lookup of an instruction keyword.
    pub fn from_word(word: &str) -> Keyword {
        match word.to_ascii_lowercase().as_str() {
            "from" => Keyword::From,
            "run" => Keyword::Run,
            "cmd" => Keyword::Cmd,
            "entrypoint" => Keyword::Entrypoint,
            "env" => Keyword::Env,
            "expose" => Keyword::Expose,
            "volume" => Keyword::Volume,
            "add" => Keyword::Add,
            "copy" => Keyword::Copy,
            "workdir" => Keyword::Workdir,
            "user" => Keyword::User,
            "label" => Keyword::Label,
            "arg" => Keyword::Arg,
            "shell" => Keyword::Shell,
            "stopsignal" => Keyword::Stopsignal,
            "healthcheck" => Keyword::Healthcheck,
            "onbuild" => Keyword::Onbuild,
            "maintainer" => Keyword::Maintainer,
            _ => Keyword::Unknown,
        }
    }

    /// The keyword in Docker's canonical upper case (`Unknown` has none).
    pub fn as_str(self) -> &'static str {
        match self {
            Keyword::From => "FROM",
            Keyword::Run => "RUN",
            Keyword::Cmd => "CMD",
            Keyword::Entrypoint => "ENTRYPOINT",
            Keyword::Env => "ENV",
            Keyword::Expose => "EXPOSE",
            Keyword::Volume => "VOLUME",
            Keyword::Add => "ADD",
            Keyword::Copy => "COPY",
            Keyword::Workdir => "WORKDIR",
            Keyword::User => "USER",
            Keyword::Label => "LABEL",
            Keyword::Arg => "ARG",
            Keyword::Shell => "SHELL",
            Keyword::Stopsignal => "STOPSIGNAL",
            Keyword::Healthcheck => "HEALTHCHECK",
            Keyword::Onbuild => "ONBUILD",
            Keyword::Maintainer => "MAINTAINER",
            Keyword::Unknown => "UNKNOWN",
        }
    }
}

/// A heredoc attached to an instruction (`RUN <<EOF`, `COPY <<a.txt <<b.txt /dst/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter word without quotes (`EOF`).
    pub name: String,
    /// The body: every line between the marker line and the terminator, each ending in `\n`.
    /// For `<<-` the leading tabs are already removed.
    pub content: String,
    /// False when any part of the delimiter was quoted (`<<"EOF"`, `<<'EOF'`): no expansion of the body.
    pub expand: bool,
    /// True for `<<-WORD` (leading tabs stripped from body lines and terminator).
    pub chomp: bool,
    /// The file descriptor prefix (`3<<EOF`), 0 when absent.
    pub file_descriptor: u32,
}

/// One instruction as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// The keyword exactly as written (`From`, `copy`, `FOO`).
    pub keyword: String,
    pub kind: Keyword,
    /// `--flag[=value]` words with quotes and escapes processed, e.g. `--from=build`.
    pub flags: Vec<String>,
    /// The argument nodes (BuildKit's `Node.Next` chain), per the rules of FORMAT.md §2.4.
    pub args: Vec<String>,
    /// True when the arguments came from a JSON (exec form) array.
    pub json: bool,
    /// Heredocs opened on this instruction's line, in order.
    pub heredocs: Vec<Heredoc>,
    /// For ONBUILD: the instruction it wraps (its own flags, args, heredocs).
    pub sub: Option<Box<Instruction>>,
    /// The instruction's text as written: its logical line (continuations joined as the parser joins
    /// them), followed by heredoc bodies and terminators if any.
    pub original: String,
    pub location: Location,
    /// Where each of `flags` starts in the file (same order); empty when not parsed from a file.
    pub flag_positions: Vec<Position>,
    /// Where the arguments start in the file (after the flags).
    pub args_position: Position,
}

/// A parser directive read from the top of the file (`# escape=\``, `# syntax=...`, `# check=...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directives {
    /// The escape token: `\\` by default, or `` ` ``.
    pub escape: char,
    pub syntax: Option<String>,
    pub check: Option<String>,
}

impl Default for Directives {
    fn default() -> Self {
        Directives { escape: '\\', syntax: None, check: None }
    }
}

/// A non-fatal finding of the parser (e.g. an empty continuation line), as BuildKit warns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub line: usize,
    pub message: String,
}

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    pub directives: Directives,
    pub instructions: Vec<Instruction>,
    pub warnings: Vec<Warning>,
}
