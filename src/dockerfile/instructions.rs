//! Typed instructions: one struct per instruction, built from the syntax tree with its flags parsed into
//! types (`flags`: network, security, mounts, chmod, ...) and its arguments sorted into fields, so a bad
//! flag or a broken JSON array is an error here, with its line and column, before anything runs. Words stay
//! unexpanded (expansion needs the build's ARG and ENV state, which only the planner has); a flag value
//! holding a variable is checked once expanded. Stages are formed here too: the instructions after each
//! FROM, and the global ARGs before the first one.

use super::ast::{Dockerfile, Heredoc, Instruction, Keyword, Location, Position};
use super::flags::{self, Chmod, Deferred, Mount, NetworkMode, SecurityMode};
use super::flagwords::Flags;

/// An instruction that is well-formed as syntax but not as an instruction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InstructionError {
    pub location: Location,
    /// The word at fault (a flag, the arguments), when known; else the instruction as a whole.
    pub at: Option<Position>,
    pub message: String,
}

impl InstructionError {
    /// An error about the word at `at` (a column of 0 means unknown: the instruction is meant).
    pub fn at(location: Location, at: Position, message: impl Into<String>) -> InstructionError {
        InstructionError { location, at: (at.column > 0).then_some(at), message: message.into() }
    }
}

fn err<T>(location: Location, message: impl Into<String>) -> Result<T, InstructionError> {
    Err(InstructionError { location, at: None, message: message.into() })
}

/// The command of RUN/CMD/ENTRYPOINT/HEALTHCHECK: exec form (`["a","b"]`) or shell form (one string).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandLine {
    Exec(Vec<String>),
    Shell(String),
}

impl CommandLine {
    fn from_instruction(ins: &Instruction) -> CommandLine {
        if ins.json {
            CommandLine::Exec(ins.args.clone())
        } else {
            CommandLine::Shell(ins.args.first().cloned().unwrap_or_default())
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct From {
    pub image: String,
    pub name: Option<String>,
    /// `os/arch[/variant]`, checked unless it holds a variable (`$BUILDPLATFORM`).
    pub platform: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub command: CommandLine,
    pub heredocs: Vec<Heredoc>,
    pub mounts: Vec<Deferred<Mount>>,
    pub network: Option<Deferred<NetworkMode>>,
    pub security: Option<Deferred<SecurityMode>>,
}

/// COPY and ADD share a shape; `add` tells them apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    pub add: bool,
    pub sources: Vec<String>,
    pub dest: String,
    pub heredocs: Vec<Heredoc>,
    pub from: Option<String>,
    /// `user[:group]`, resolved in the image's passwd and group files.
    pub chown: Option<Deferred<String>>,
    pub chmod: Option<Deferred<Chmod>>,
    pub link: bool,
    pub parents: bool,
    pub exclude: Vec<String>,
    /// `sha256:<hex>`.
    pub checksum: Option<Deferred<String>>,
    pub keep_git_dir: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    pub name: String,
    pub default: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Healthcheck {
    /// `None` for `HEALTHCHECK NONE`.
    pub command: Option<CommandLine>,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub start_period: Option<String>,
    pub start_interval: Option<String>,
    pub retries: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Run(Run),
    Cmd(CommandLine),
    Entrypoint(CommandLine),
    Env(Vec<KeyValue>),
    Expose(Vec<String>),
    Volume(Vec<String>),
    Copy(Copy),
    Workdir(String),
    User(String),
    Label(Vec<KeyValue>),
    Arg(Vec<ArgDecl>),
    Shell(Vec<String>),
    StopSignal(String),
    Healthcheck(Healthcheck),
    /// The trigger instruction's text, as it goes into the image config's OnBuild list.
    Onbuild(String),
    Maintainer(String),
}

impl Command {
    /// True for the instructions that make a layer.
    pub fn makes_layer(&self) -> bool {
        matches!(self, Command::Run(_) | Command::Copy(_))
    }
}

/// A typed instruction with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub command: Command,
    pub location: Location,
    /// The instruction as written (its logical line), for history and messages.
    pub original: String,
    /// Each `--flag` by name (`mount`, not `--mount=...`) with where it starts, so a step that fails
    /// because of a flag points at it; empty when not parsed from a file (ONBUILD triggers).
    pub flags: Vec<(String, Position)>,
}

impl Step {
    /// Where the `nth` (from 0) `--name` flag starts, when it was parsed from the file.
    pub fn flag_at(&self, name: &str, nth: usize) -> Option<Position> {
        self.flags.iter().filter(|(n, _)| n == name).nth(nth).map(|(_, p)| *p).filter(|p| p.line > 0)
    }
}

/// One build stage: a FROM and the steps after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    pub index: usize,
    pub from: From,
    pub location: Location,
    pub steps: Vec<Step>,
}

/// A Dockerfile turned into stages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    /// ARGs declared before the first FROM (usable in FROM lines only, unless re-declared in a stage).
    pub meta_args: Vec<(ArgDecl, Location)>,
    pub stages: Vec<Stage>,
    pub escape: char,
}

/// The flags of `ins` by name, with their positions.
fn step_flags(ins: &Instruction) -> Vec<(String, Position)> {
    let name = |f: &String| f.trim_start_matches('-').split('=').next().unwrap_or_default().to_ascii_lowercase();
    ins.flags.iter().zip(&ins.flag_positions).map(|(f, p)| (name(f), *p)).collect()
}

/// Group the syntax tree into stages and type every instruction.
pub fn lower(dockerfile: &Dockerfile) -> Result<Program, InstructionError> {
    let mut program = Program { meta_args: Vec::new(), stages: Vec::new(), escape: dockerfile.directives.escape };
    for ins in &dockerfile.instructions {
        if ins.kind == Keyword::From {
            let from = lower_from(ins)?;
            program.stages.push(Stage { index: program.stages.len(), from, location: ins.location, steps: Vec::new() });
            continue;
        }
        let command = lower_command(ins)?;
        match program.stages.last_mut() {
            Some(stage) => stage.steps.push(Step {
                command,
                location: ins.location,
                original: ins.original.clone(),
                flags: step_flags(ins),
            }),
            None => match command {
                Command::Arg(decls) => program.meta_args.extend(decls.into_iter().map(|d| (d, ins.location))),
                _ => {
                    return err(
                        ins.location,
                        format!("{} is not allowed before the first FROM; only ARG may come first", ins.kind.as_str()),
                    )
                }
            },
        }
    }
    if program.stages.is_empty() {
        let location = dockerfile.instructions.last().map(|i| i.location).unwrap_or_default();
        return err(location, "no build stage in the Dockerfile: it needs at least one FROM");
    }
    Ok(program)
}

fn lower_from(ins: &Instruction) -> Result<From, InstructionError> {
    let mut flags = Flags::parse(ins)?;
    let platform = flags.one(ins, "platform", flags::check_platform)?.map(|p| match p {
        Deferred::Ready(p) | Deferred::Expand(p) => p,
    });
    match ins.args.as_slice() {
        [image] => Ok(From { image: image.clone(), name: None, platform }),
        [image, as_word, name] if as_word.eq_ignore_ascii_case("as") => {
            Ok(From { image: image.clone(), name: Some(name.clone()), platform })
        }
        [] => err(ins.location, "FROM requires an image name: FROM <image> [AS <name>]"),
        _ => err(ins.location, "FROM requires either one or three arguments: FROM <image> [AS <name>]"),
    }
}

pub fn lower_command(ins: &Instruction) -> Result<Command, InstructionError> {
    let loc = ins.location;
    let mut flags = Flags::parse(ins)?;
    let kw = ins.kind.as_str();
    let command = match ins.kind {
        Keyword::From => unreachable_from(loc)?,
        Keyword::Run => {
            if ins.args.is_empty() && ins.heredocs.is_empty() {
                return err(loc, "RUN requires at least one argument");
            }
            check_json(ins, &ins.args)?;
            Command::Run(Run {
                command: CommandLine::from_instruction(ins),
                heredocs: ins.heredocs.clone(),
                mounts: flags.typed(ins, "mount", flags::parse_mount)?,
                network: flags.one(ins, "network", flags::parse_network)?,
                security: flags.one(ins, "security", flags::parse_security)?,
            })
        }
        Keyword::Cmd => {
            check_json(ins, &ins.args)?;
            Command::Cmd(CommandLine::from_instruction(ins))
        }
        Keyword::Entrypoint => {
            check_json(ins, &ins.args)?;
            Command::Entrypoint(CommandLine::from_instruction(ins))
        }
        Keyword::Env | Keyword::Label => {
            let pairs = key_values(ins)?;
            if ins.kind == Keyword::Env {
                Command::Env(pairs)
            } else {
                Command::Label(pairs)
            }
        }
        Keyword::Expose => {
            if ins.args.is_empty() {
                return err(loc, "EXPOSE requires at least one argument");
            }
            Command::Expose(ins.args.clone())
        }
        Keyword::Volume => {
            if ins.args.is_empty() {
                return err(loc, "VOLUME requires at least one argument");
            }
            Command::Volume(ins.args.clone())
        }
        Keyword::Copy | Keyword::Add => lower_copy(ins, &mut flags)?,
        Keyword::Workdir => Command::Workdir(one_arg(ins)?),
        Keyword::User => Command::User(one_arg(ins)?),
        Keyword::Maintainer => Command::Maintainer(one_arg(ins)?),
        Keyword::Stopsignal => Command::StopSignal(one_arg(ins)?),
        Keyword::Arg => {
            if ins.args.is_empty() {
                return err(loc, "ARG requires at least one argument");
            }
            Command::Arg(ins.args.iter().map(|a| arg_decl(a)).collect())
        }
        Keyword::Shell => {
            if !ins.json {
                return err(loc, "SHELL requires the arguments to be in JSON form, e.g. SHELL [\"/bin/sh\", \"-c\"]");
            }
            if ins.args.is_empty() {
                return err(loc, "SHELL requires at least one argument");
            }
            Command::Shell(ins.args.clone())
        }
        Keyword::Healthcheck => lower_healthcheck(ins, &mut flags)?,
        Keyword::Onbuild => lower_onbuild(ins)?,
        Keyword::Unknown => return err(loc, format!("unknown instruction: {}", ins.keyword.to_uppercase())),
    };
    if let Some((name, at)) = flags.leftover() {
        // Every accepted flag is consumed above; one left over is accepted by the grammar but unused here.
        return Err(InstructionError::at(loc, at, format!("flag --{name} is not supported on {kw}")));
    }
    Ok(command)
}

/// Shell form whose text starts like a JSON array (`["a", "b"`) is almost surely a broken exec form (a
/// shell command cannot start with `["`): an error at the bracket, with what the JSON reader expected,
/// rather than a command or a path named `["a",`.
fn check_json(ins: &Instruction, args: &[String]) -> Result<(), InstructionError> {
    if ins.json {
        return Ok(());
    }
    let text = args.join(" ");
    if !text.trim_start().starts_with("[\"") {
        return Ok(());
    }
    let Err(e) = serde_json::from_str::<Vec<String>>(text.trim()) else { return Ok(()) };
    let mut at = ins.args_position;
    if e.line() == 1 && at.column > 0 {
        at.column += e.column().saturating_sub(1);
    }
    let reason = e.to_string();
    let reason = reason.split(" at line ").next().unwrap_or(&reason);
    Err(InstructionError::at(
        ins.location,
        at,
        format!(
            "{}: the arguments start like a JSON array (exec form) but are not valid JSON ({reason}); \
             write [\"a\", \"b\"] with double quotes, commas and a closing ]",
            ins.kind.as_str()
        ),
    ))
}

fn unreachable_from(loc: Location) -> Result<Command, InstructionError> {
    err(loc, "FROM is handled by the stage splitter")
}

fn one_arg(ins: &Instruction) -> Result<String, InstructionError> {
    match ins.args.as_slice() {
        [a] if !a.trim().is_empty() => Ok(a.clone()),
        _ => err(ins.location, format!("{} requires exactly one argument", ins.kind.as_str())),
    }
}

/// ENV/LABEL arguments come as (key, value, separator) triples.
fn key_values(ins: &Instruction) -> Result<Vec<KeyValue>, InstructionError> {
    if ins.args.is_empty() {
        return err(ins.location, format!("{} requires at least one argument", ins.kind.as_str()));
    }
    if ins.args.len() % 3 != 0 {
        return err(ins.location, format!("{}: malformed key/value list", ins.kind.as_str()));
    }
    let mut out = Vec::new();
    for chunk in ins.args.chunks(3) {
        if chunk[0].is_empty() {
            return err(ins.location, format!("{} names can not be blank", ins.kind.as_str()));
        }
        out.push(KeyValue { key: chunk[0].clone(), value: chunk[1].clone() });
    }
    Ok(out)
}

fn arg_decl(word: &str) -> ArgDecl {
    match word.split_once('=') {
        Some((name, default)) => ArgDecl { name: name.to_string(), default: Some(default.to_string()) },
        None => ArgDecl { name: word.to_string(), default: None },
    }
}

fn lower_copy(ins: &Instruction, flags: &mut Flags) -> Result<Command, InstructionError> {
    let add = ins.kind == Keyword::Add;
    let kw = ins.kind.as_str();
    let mut words = ins.args.clone();
    let Some(dest) = words.pop() else {
        return err(ins.location, format!("{kw} requires at least two arguments: {kw} <src>... <dest>"));
    };
    check_json(ins, &ins.args)?;
    if words.is_empty() && ins.heredocs.is_empty() {
        return err(
            ins.location,
            format!(
                "{kw} requires at least two arguments, but only one was provided. Destination could not be determined"
            ),
        );
    }
    let copy = Copy {
        add,
        sources: words,
        dest,
        heredocs: ins.heredocs.clone(),
        from: if add { None } else { flags.string("from") },
        chown: flags.one(ins, "chown", flags::check_chown)?,
        chmod: flags.one(ins, "chmod", flags::parse_chmod)?,
        link: flags.bool("link"),
        parents: flags.bool("parents"),
        exclude: flags.list("exclude"),
        checksum: if add { flags.one(ins, "checksum", flags::check_checksum)? } else { None },
        keep_git_dir: if add { flags.bool("keep-git-dir") } else { false },
    };
    Ok(Command::Copy(copy))
}

fn lower_healthcheck(ins: &Instruction, flags: &mut Flags) -> Result<Command, InstructionError> {
    let loc = ins.location;
    let Some(kind) = ins.args.first() else {
        return err(loc, "HEALTHCHECK requires an argument: HEALTHCHECK [OPTIONS] CMD command, or HEALTHCHECK NONE");
    };
    let rest = &ins.args[1..];
    let command = match kind.to_ascii_uppercase().as_str() {
        "NONE" => {
            if !rest.is_empty() || !ins.flags.is_empty() {
                return err(loc, "HEALTHCHECK NONE takes no other arguments or options");
            }
            None
        }
        "CMD" => {
            if rest.is_empty() {
                return err(loc, "HEALTHCHECK CMD requires a command");
            }
            Some(if ins.json { CommandLine::Exec(rest.to_vec()) } else { CommandLine::Shell(rest[0].clone()) })
        }
        other => return err(loc, format!("unknown type {other:?} in HEALTHCHECK (try CMD)")),
    };
    Ok(Command::Healthcheck(Healthcheck {
        command,
        interval: flags.string("interval"),
        timeout: flags.string("timeout"),
        start_period: flags.string("start-period"),
        start_interval: flags.string("start-interval"),
        retries: flags.string("retries"),
    }))
}

fn lower_onbuild(ins: &Instruction) -> Result<Command, InstructionError> {
    let Some(sub) = ins.sub.as_deref() else {
        return err(ins.location, "ONBUILD requires an instruction to run later");
    };
    match sub.kind {
        Keyword::Onbuild => return err(ins.location, "chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
        Keyword::From | Keyword::Maintainer => {
            return err(ins.location, format!("{} isn't allowed as an ONBUILD trigger", sub.kind.as_str()))
        }
        _ => {}
    }
    // The trigger must itself be a valid instruction; it is checked now, run when a child image builds.
    lower_command(sub)?;
    let text = ins.original.trim_start();
    let trigger = text.get(ins.keyword.len()..).unwrap_or("").trim_start();
    Ok(Command::Onbuild(trigger.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dockerfile::ast::{Directives, Dockerfile};

    fn ins(kw: &str, flags: &[&str], args: &[&str], json: bool) -> Instruction {
        Instruction {
            keyword: kw.to_string(),
            kind: Keyword::from_word(kw),
            flags: flags.iter().map(|s| s.to_string()).collect(),
            args: args.iter().map(|s| s.to_string()).collect(),
            json,
            heredocs: vec![],
            sub: None,
            original: format!("{kw} {}", args.join(" ")),
            location: Location { start_line: 1, end_line: 1 },
            flag_positions: vec![],
            args_position: Position::default(),
        }
    }

    fn file(instructions: Vec<Instruction>) -> Dockerfile {
        Dockerfile { directives: Directives::default(), instructions, warnings: vec![] }
    }

    #[test]
    fn stages_split_at_from_and_meta_args_come_first() {
        let p = lower(&file(vec![
            ins("ARG", &[], &["V=1"], false),
            ins("FROM", &[], &["base:$V", "AS", "build"], false),
            ins("COPY", &["--from=x", "--chown=1:2"], &["a", "b", "/d/"], false),
            ins("from", &[], &["scratch"], false),
            ins("CMD", &[], &["a", "b"], true),
        ]))
        .unwrap();
        assert_eq!(p.meta_args.len(), 1);
        assert_eq!(p.meta_args[0].0, ArgDecl { name: "V".into(), default: Some("1".into()) });
        assert_eq!(p.stages.len(), 2);
        assert_eq!(p.stages[0].from.name.as_deref(), Some("build"));
        let Command::Copy(c) = &p.stages[0].steps[0].command else { panic!("not a copy") };
        assert_eq!((c.sources.clone(), c.dest.as_str()), (vec!["a".to_string(), "b".to_string()], "/d/"));
        assert_eq!((c.from.as_deref(), c.chown.clone()), (Some("x"), Some(Deferred::Ready("1:2".to_string()))));
        assert_eq!(p.stages[1].steps[0].command, Command::Cmd(CommandLine::Exec(vec!["a".into(), "b".into()])));
    }

    #[test]
    fn flag_errors_are_reported() {
        let bad = |f: &str| lower(&file(vec![ins("FROM", &[], &["x"], false), ins("COPY", &[f], &["a", "b"], false)]));
        assert!(bad("--nope=1").unwrap_err().message.contains("unknown flag: --nope"));
        assert!(bad("--from").unwrap_err().message.contains("missing a value"));
        assert!(bad("--link=maybe").unwrap_err().message.contains("boolean"));
        let dup = lower(&file(vec![
            ins("FROM", &[], &["x"], false),
            ins("COPY", &["--from=a", "--from=b"], &["a", "b"], false),
        ]));
        assert!(dup.unwrap_err().message.contains("duplicate flag"));
    }

    #[test]
    fn instruction_shape_errors() {
        let one = |i: Instruction| lower(&file(vec![ins("FROM", &[], &["x"], false), i])).unwrap_err().message;
        assert!(one(ins("COPY", &[], &["onlyone"], false)).contains("at least two arguments"));
        assert!(one(ins("SHELL", &[], &["sh -c"], false)).contains("JSON form"));
        assert!(one(ins("BOGUS", &[], &["x"], false)).contains("unknown instruction: BOGUS"));
        assert!(one(ins("HEALTHCHECK", &[], &["CONNECT", "x"], false)).contains("unknown type"));
        let before = lower(&file(vec![ins("RUN", &[], &["x"], false)])).unwrap_err().message;
        assert!(before.contains("before the first FROM"));
        assert!(lower(&file(vec![ins("ARG", &[], &["x"], false)])).unwrap_err().message.contains("no build stage"));
    }

    /// Lower a whole Dockerfile; the error's (line, column).
    fn error_at(text: &str) -> (usize, usize, String) {
        let e = lower(&crate::dockerfile::parse(text).unwrap()).unwrap_err();
        let at = e.at.unwrap_or_else(|| panic!("no column for {:?}", e.message));
        (at.line, at.column, e.message)
    }

    #[test]
    fn bad_flags_and_broken_json_are_errors_at_their_column() {
        let cases = [
            ("FROM x\nRUN --network=bogus true\n", (2, 5), "--network=bogus"),
            ("FROM x\nRUN --mount=type=volume,target=/v true\n", (2, 5), "unknown mount type"),
            ("FROM x\nRUN --mount=type=cache,target=/c,sharing=bogus true\n", (2, 5), "sharing=bogus"),
            ("FROM x\nCOPY --link --chmod=999 a /b\n", (2, 13), "--chmod=999"),
            ("FROM x\nRUN --security=maybe true\n", (2, 5), "security mode"),
            ("FROM x\nADD --checksum=md5:1 http://h/x /x\n", (2, 5), "sha256"),
            ("FROM x\nCOPY --chown=a:b:c a /b\n", (2, 6), "user:group"),
            ("FROM --platform=linux x\n", (1, 6), "os/arch"),
            ("FROM x\nCOPY [\"a\", \"b\"\n", (2, 14), "not valid JSON"),
            ("FROM x\nCMD [\"a\" \"b\"]\n", (2, 10), "not valid JSON"),
            ("FROM x\nRUN true\nRUN \\\n  --network=bogus true\n", (4, 3), "--network=bogus"),
            ("FROM x\nONBUILD RUN --network=bogus true\n", (2, 13), "--network=bogus"),
            ("FROM x\nCOPY --nope a /b\n", (2, 6), "unknown flag"),
        ];
        for (text, (line, column), why) in cases {
            let (l, c, message) = error_at(text);
            assert_eq!((l, c), (line, column), "{text:?}: {message}");
            assert!(message.contains(why), "{text:?}: {message}");
        }
    }

    #[test]
    fn flag_values_with_variables_wait_for_expansion_and_shell_tests_are_not_json() {
        let p = lower(&crate::dockerfile::parse("FROM x\nRUN --network=$NET [ -f x ] && true\n").unwrap()).unwrap();
        let Command::Run(r) = &p.stages[0].steps[0].command else { panic!("not a run") };
        assert_eq!(r.network, Some(Deferred::Expand("$NET".into())));
        let ok = lower(&crate::dockerfile::parse("FROM x\nRUN [ \"$A\" = \"b\" ] && true\n").unwrap());
        assert!(ok.is_ok(), "a shell test is not a broken JSON array");
    }

    #[test]
    fn healthcheck_forms() {
        let p = lower(&file(vec![
            ins("FROM", &[], &["x"], false),
            ins("HEALTHCHECK", &["--interval=5s", "--retries=3"], &["CMD", "curl -f http://x/"], false),
            ins("HEALTHCHECK", &[], &["NONE"], false),
        ]))
        .unwrap();
        let Command::Healthcheck(h) = &p.stages[0].steps[0].command else { panic!("not a healthcheck") };
        assert_eq!(h.command, Some(CommandLine::Shell("curl -f http://x/".into())));
        assert_eq!((h.interval.as_deref(), h.retries.as_deref()), (Some("5s"), Some("3")));
        let Command::Healthcheck(n) = &p.stages[0].steps[1].command else { panic!("not a healthcheck") };
        assert_eq!(n.command, None);
    }
}
