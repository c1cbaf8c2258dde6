//! The view of a Dockerfile that rules read: the syntax tree grouped into stages, each instruction with its
//! typed form (from `dockerfile::instructions`) when it has a valid one, and each RUN's shell text read
//! into commands when the stage's shell is a POSIX shell.
//!
//! Unlike `instructions::lower`, building the view never stops at the first bad instruction: a linter
//! must still report on the rest of the file. Instructions that do not lower are kept with their error.

use super::config::Config;
use super::shell::{parse_script, Script};
use crate::context::Matcher;
use crate::dockerfile::instructions::{self, ArgDecl, Command, CommandLine, From, InstructionError};
use crate::dockerfile::{Dockerfile, Instruction, Keyword};

/// Everything a rule may look at.
pub(crate) struct Model<'a> {
    pub dockerfile: &'a Dockerfile,
    pub config: &'a Config,
    pub dockerignore: Option<&'a Matcher>,
    /// Instructions before the first FROM (only ARG belongs there).
    pub preamble: Vec<Step<'a>>,
    /// ARGs declared before the first FROM.
    pub meta_args: Vec<ArgDecl>,
    pub stages: Vec<Stage<'a>>,
}

pub(crate) struct Stage<'a> {
    pub index: usize,
    /// The FROM instruction.
    pub ins: &'a Instruction,
    /// The typed FROM, when it is well-formed.
    pub from: Option<From>,
    /// Why the FROM is not well-formed, when it is not.
    pub from_error: Option<InstructionError>,
    /// The earlier stage this one is built FROM, if any.
    pub parent: Option<usize>,
    pub steps: Vec<Step<'a>>,
    /// The SHELL in force at the end of the stage (inherited by stages built FROM it).
    pub shell: Vec<String>,
}

pub(crate) struct Step<'a> {
    pub ins: &'a Instruction,
    pub command: Result<Command, InstructionError>,
    /// For RUN under a POSIX shell: the commands it runs.
    pub script: Option<Script>,
    /// For RUN: true when the shell in force was set with `-o pipefail`.
    pub pipefail: bool,
}

const DEFAULT_SHELL: [&str; 2] = ["/bin/sh", "-c"];

impl<'a> Model<'a> {
    pub fn build(dockerfile: &'a Dockerfile, config: &'a Config, dockerignore: Option<&'a Matcher>) -> Model<'a> {
        let mut model =
            Model { dockerfile, config, dockerignore, preamble: Vec::new(), meta_args: Vec::new(), stages: Vec::new() };
        for ins in &dockerfile.instructions {
            if ins.kind == Keyword::From {
                model.open_stage(ins);
                continue;
            }
            let command = instructions::lower_command(ins);
            match model.stages.last_mut() {
                Some(stage) => {
                    let step = Step::new(ins, command, &stage.shell);
                    if let Ok(Command::Shell(shell)) = &step.command {
                        stage.shell = shell.clone();
                    }
                    stage.steps.push(step);
                }
                None => {
                    if let Ok(Command::Arg(decls)) = &command {
                        model.meta_args.extend(decls.iter().cloned());
                    }
                    model.preamble.push(Step { ins, command, script: None, pipefail: false });
                }
            }
        }
        model
    }

    fn open_stage(&mut self, ins: &'a Instruction) {
        let (from, from_error) = match lower_from(self.dockerfile, ins) {
            Ok(f) => (Some(f), None),
            Err(e) => (None, Some(e)),
        };
        let parent = from.as_ref().and_then(|f| self.stage_named(&f.image, self.stages.len()));
        let shell = match parent {
            Some(p) => self.stages[p].shell.clone(),
            None => DEFAULT_SHELL.iter().map(|s| s.to_string()).collect(),
        };
        self.stages.push(Stage { index: self.stages.len(), ins, from, from_error, parent, steps: Vec::new(), shell });
    }

    /// The stage called `name` (case-insensitive, as BuildKit) among the stages before `before`.
    pub fn stage_named(&self, name: &str, before: usize) -> Option<usize> {
        self.stages[..before.min(self.stages.len())]
            .iter()
            .rev()
            .find(|s| s.name().is_some_and(|n| n.eq_ignore_ascii_case(name)))
            .map(|s| s.index)
    }

    /// A `--from` reference: a stage name or a stage number, among the stages before `before`.
    pub fn stage_ref(&self, reference: &str, before: usize) -> Option<usize> {
        match reference.parse::<usize>() {
            Ok(n) if n < before => Some(n),
            Ok(_) => None,
            Err(_) => self.stage_named(reference, before),
        }
    }

    /// The stage and its ancestors (the stages it is built FROM), nearest first.
    pub fn lineage(&self, index: usize) -> impl Iterator<Item = &Stage<'a>> {
        let mut next = Some(index);
        std::iter::from_fn(move || {
            let stage = self.stages.get(next?)?;
            next = stage.parent;
            Some(stage)
        })
    }

    /// Stages whose filesystem ends up in the built image: the last one and every stage it is built FROM.
    pub fn shipped(&self, index: usize) -> bool {
        self.stages.last().is_some_and(|last| self.lineage(last.index).any(|s| s.index == index))
    }

    /// Every RUN step with its commands, with the stage it belongs to.
    pub fn scripts(&self) -> impl Iterator<Item = (&Stage<'a>, &Step<'a>, &Script)> {
        self.stages.iter().flat_map(|stage| {
            stage.steps.iter().filter_map(move |step| step.script.as_ref().map(|script| (stage, step, script)))
        })
    }

    /// Every step of every stage, with its stage.
    pub fn steps(&self) -> impl Iterator<Item = (&Stage<'a>, &Step<'a>)> {
        self.stages.iter().flat_map(|stage| stage.steps.iter().map(move |step| (stage, step)))
    }
}

impl Stage<'_> {
    pub fn name(&self) -> Option<&str> {
        self.from.as_ref().and_then(|f| f.name.as_deref())
    }

    pub fn line(&self) -> usize {
        self.ins.location.start_line
    }
}

impl<'a> Step<'a> {
    fn new(ins: &'a Instruction, command: Result<Command, InstructionError>, shell: &[String]) -> Step<'a> {
        let script = match &command {
            Ok(Command::Run(run)) if is_posix_shell(shell) => Some(run_script(&run.command, &run.heredocs)),
            _ => None,
        };
        Step { ins, command, script, pipefail: sets_pipefail(shell) }
    }

    pub fn line(&self) -> usize {
        self.ins.location.start_line
    }
}

/// The typed FROM, through the same lowering the build uses (a one-instruction file).
fn lower_from(dockerfile: &Dockerfile, ins: &Instruction) -> Result<From, InstructionError> {
    let one =
        Dockerfile { directives: dockerfile.directives.clone(), instructions: vec![ins.clone()], warnings: vec![] };
    let program = instructions::lower(&one)?;
    match program.stages.into_iter().next() {
        Some(stage) => Ok(stage.from),
        None => Err(InstructionError { location: ins.location, at: None, message: "FROM did not form a stage".into() }),
    }
}

/// The commands a RUN runs: its shell text, plus the bodies of heredocs that are fed to a shell
/// (`RUN <<EOF`, `RUN bash <<EOF`); other heredocs are file contents, not commands.
fn run_script(command: &CommandLine, heredocs: &[crate::dockerfile::Heredoc]) -> super::shell::Script {
    match command {
        CommandLine::Shell(text) => {
            let mut script = parse_script(text);
            let feeds_shell = match script.commands.as_slice() {
                [] => true,
                [only] => is_shell_name(only.name()),
                _ => false,
            };
            if feeds_shell {
                for h in heredocs {
                    let body = parse_script(&h.content);
                    script.has_pipe |= body.has_pipe;
                    script.commands.extend(body.commands);
                }
            }
            script
        }
        CommandLine::Exec(words) => {
            // `["sh", "-c", "script"]` runs a script; anything else is one command with these words.
            if let [shell, flag, body, ..] = words.as_slice() {
                if is_shell_name(shell.rsplit('/').next().unwrap_or(shell))
                    && flag.starts_with('-')
                    && flag.ends_with('c')
                {
                    return parse_script(body);
                }
            }
            let words = words.iter().map(|w| super::shell::Word { text: w.clone(), has_expansion: false }).collect();
            super::shell::Script {
                commands: vec![super::shell::Command { assignments: vec![], words, piped: false }],
                has_pipe: false,
            }
        }
    }
}

fn is_shell_name(name: &str) -> bool {
    matches!(name, "sh" | "bash" | "ash" | "dash" | "zsh" | "ksh" | "mksh")
}

/// True for the shells whose scripts the shell reader understands (not PowerShell or cmd).
fn is_posix_shell(shell: &[String]) -> bool {
    shell.first().is_some_and(|s| is_shell_name(s.rsplit(['/', '\\']).next().unwrap_or(s)))
}

/// True when the SHELL words turn on pipefail: `-o pipefail`, also inside a bundle like `-euo pipefail`.
pub(crate) fn sets_pipefail(shell: &[String]) -> bool {
    shell
        .windows(2)
        .any(|w| w[0].starts_with('-') && !w[0].starts_with("--") && w[0].ends_with('o') && w[1] == "pipefail")
}
