//! Typed instructions: one struct per instruction, built from the syntax tree with its flags checked and its
//! arguments sorted into fields, but every word still unexpanded (expansion needs the build's ARG and ENV
//! state, which only the planner has). Stages are formed here too: the instructions after each FROM, and the
//! global ARGs before the first one.

use super::ast::{Dockerfile, Heredoc, Instruction, Keyword, Location};
use std::collections::BTreeMap;

/// An instruction that is well-formed as syntax but not as an instruction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InstructionError {
    pub location: Location,
    pub message: String,
}

fn err<T>(location: Location, message: impl Into<String>) -> Result<T, InstructionError> {
    Err(InstructionError { location, message: message.into() })
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
    pub platform: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub command: CommandLine,
    pub heredocs: Vec<Heredoc>,
    pub mounts: Vec<String>,
    pub network: Option<String>,
    pub security: Option<String>,
}

/// COPY and ADD share a shape; `add` tells them apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    pub add: bool,
    pub sources: Vec<String>,
    pub dest: String,
    pub heredocs: Vec<Heredoc>,
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub parents: bool,
    pub exclude: Vec<String>,
    pub checksum: Option<String>,
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

/// Flags an instruction accepts: `(name, takes a value, may repeat)`.
fn allowed_flags(kind: Keyword) -> &'static [(&'static str, bool, bool)] {
    match kind {
        Keyword::From => &[("platform", true, false)],
        Keyword::Run => &[("mount", true, true), ("network", true, false), ("security", true, false)],
        Keyword::Copy => &[
            ("from", true, false),
            ("chown", true, false),
            ("chmod", true, false),
            ("link", false, false),
            ("parents", false, false),
            ("exclude", true, true),
        ],
        Keyword::Add => &[
            ("chown", true, false),
            ("chmod", true, false),
            ("link", false, false),
            ("checksum", true, false),
            ("keep-git-dir", false, false),
            ("exclude", true, true),
        ],
        Keyword::Healthcheck => &[
            ("interval", true, false),
            ("timeout", true, false),
            ("start-period", true, false),
            ("start-interval", true, false),
            ("retries", true, false),
        ],
        _ => &[],
    }
}

/// Parsed `--flag` words of one instruction.
#[derive(Debug, Default)]
struct Flags {
    values: BTreeMap<String, Vec<String>>,
}

impl Flags {
    fn parse(ins: &Instruction) -> Result<Flags, InstructionError> {
        let allowed = allowed_flags(ins.kind);
        let mut flags = Flags::default();
        for word in &ins.flags {
            let body = word.strip_prefix("--").unwrap_or(word);
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            let Some(&(_, takes_value, repeats)) = allowed.iter().find(|(n, _, _)| *n == name) else {
                return err(ins.location, format!("unknown flag: --{name} on {}", ins.kind.as_str()));
            };
            let value = match (takes_value, value) {
                (true, Some(v)) => v.to_string(),
                (true, None) => return err(ins.location, format!("missing a value on flag: --{name}")),
                (false, None) => "true".to_string(),
                (false, Some(v)) if v == "true" || v == "false" => v.to_string(),
                (false, Some(v)) => {
                    return err(ins.location, format!("expecting boolean value for flag --{name}, not: {v}"))
                }
            };
            let entry = flags.values.entry(name.to_string()).or_default();
            if !entry.is_empty() && !repeats {
                return err(ins.location, format!("duplicate flag specified: --{name}"));
            }
            entry.push(value);
        }
        Ok(flags)
    }

    fn string(&mut self, name: &str) -> Option<String> {
        self.values.remove(name).and_then(|mut v| v.pop())
    }

    fn bool(&mut self, name: &str) -> bool {
        self.string(name).is_some_and(|v| v == "true")
    }

    fn list(&mut self, name: &str) -> Vec<String> {
        self.values.remove(name).unwrap_or_default()
    }
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
            Some(stage) => stage.steps.push(Step { command, location: ins.location, original: ins.original.clone() }),
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
    let platform = flags.string("platform");
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
            Command::Run(Run {
                command: CommandLine::from_instruction(ins),
                heredocs: ins.heredocs.clone(),
                mounts: flags.list("mount"),
                network: flags.string("network"),
                security: flags.string("security"),
            })
        }
        Keyword::Cmd => Command::Cmd(CommandLine::from_instruction(ins)),
        Keyword::Entrypoint => Command::Entrypoint(CommandLine::from_instruction(ins)),
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
    if let Some(name) = flags.values.keys().next() {
        // Every accepted flag is consumed above; one left over is accepted by the grammar but unused here.
        return err(loc, format!("flag --{name} is not supported on {kw}"));
    }
    Ok(command)
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
        chown: flags.string("chown"),
        chmod: flags.string("chmod"),
        link: flags.bool("link"),
        parents: if add { false } else { flags.bool("parents") },
        exclude: flags.list("exclude"),
        checksum: if add { flags.string("checksum") } else { None },
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
        assert_eq!((c.from.as_deref(), c.chown.as_deref()), (Some("x"), Some("1:2")));
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
