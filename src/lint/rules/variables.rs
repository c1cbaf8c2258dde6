//! Rules about ARG and ENV: variables used where they are not in scope, ENV pairs that read a sibling,
//! and names that suggest a secret. Expansion goes through `dockerfile::expand`, the same lexer the
//! build uses, so `${V:-x}` and escapes mean here what they mean there.

use super::{Emitter, Example, Rule};
use crate::dockerfile::expand::{Expander, Vars};
use crate::dockerfile::instructions::Command;
use crate::lint::finding::Severity;
use crate::lint::model::Model;
use std::collections::BTreeSet;

pub(super) static RULES: &[Rule] = &[
    Rule {
        code: "UndefinedVar",
        name: "UndefinedVar",
        aliases: &[],
        severity: Severity::Warning,
        summary: "An instruction uses a variable that no ARG or ENV in scope defines.",
        rationale: "The build substitutes an empty string. The usual cause is an ARG declared before FROM (or in \
                    another stage) and not declared again in this stage. Variables the base image may define are \
                    only reported when the stage starts FROM scratch or the name is an ARG declared elsewhere in the file.",
        example: Example {
            bad: "ARG VERSION=1\nFROM debian:12\nCOPY app-$VERSION.tar /srv/\n",
            bad_line: 3,
            good: "ARG VERSION=1\nFROM debian:12\nARG VERSION\nCOPY app-$VERSION.tar /srv/\nWORKDIR $HOME\n",
            config: "",
            dockerignore: "",
        },
        check: undefined_var,
    },
    Rule {
        code: "UndefinedArgInFrom",
        name: "UndefinedArgInFrom",
        aliases: &[],
        severity: Severity::Warning,
        summary: "FROM uses a variable that no ARG before the first FROM declares.",
        rationale: "Only global ARGs (and the predefined platform ARGs) are visible in FROM lines; anything else \
                    expands to an empty string and the image name comes out wrong.",
        example: Example {
            bad: "FROM debian:${DEBIAN_VERSION}\n",
            bad_line: 1,
            good: "ARG DEBIAN_VERSION=12\nFROM --platform=$BUILDPLATFORM debian:${DEBIAN_VERSION}\n",
            config: "",
            dockerignore: "",
        },
        check: undefined_arg_in_from,
    },
    Rule {
        code: "DL3044",
        name: "EnvSelfReference",
        aliases: &[],
        severity: Severity::Error,
        summary: "An ENV value refers to a variable set earlier in the same ENV instruction.",
        rationale: "All pairs of one ENV are expanded against the environment before the instruction, so the \
                    reference sees the old value (or nothing). Split the ENV in two.",
        example: Example {
            bad: "FROM debian:12\nENV APP=/srv BIN=$APP/bin\n",
            bad_line: 2,
            good: "FROM debian:12\nENV APP=/srv\nENV BIN=$APP/bin\n",
            config: "",
            dockerignore: "",
        },
        check: env_self_reference,
    },
    Rule {
        code: "DL3064",
        name: "SecretsUsedInArgOrEnv",
        aliases: &[],
        severity: Severity::Warning,
        summary: "An ARG or ENV name suggests it holds a secret (password, token, key, ...).",
        rationale: "ARG and ENV values are recorded in the image history and config for anyone who pulls the \
                    image. Pass secrets with `RUN --mount=type=secret` instead.",
        example: Example {
            bad: "FROM debian:12\nARG DB_PASSWORD\n",
            bad_line: 2,
            good: "FROM debian:12\nARG DB_HOST\nENV PUBLIC_KEY_URL=https://example.com/key.pub\n",
            config: "",
            dockerignore: "",
        },
        check: secrets_in_arg_or_env,
    },
];

/// A set of names that are defined (their value does not matter to a linter).
struct Scope<'s>(&'s BTreeSet<String>);

impl Vars for Scope<'_> {
    fn lookup(&self, name: &str) -> Option<String> {
        self.0.contains(name).then(String::new)
    }
}

/// The ARGs BuildKit defines for FROM lines without a declaration.
const PLATFORM_ARGS: &[&str] = &[
    "BUILDPLATFORM",
    "BUILDOS",
    "BUILDARCH",
    "BUILDVARIANT",
    "TARGETPLATFORM",
    "TARGETOS",
    "TARGETARCH",
    "TARGETVARIANT",
];

/// Names used in `text` that `defined` does not hold.
fn unset_in(model: &Model, text: &str, defined: &BTreeSet<String>) -> BTreeSet<String> {
    match Expander::new(model.dockerfile.directives.escape).word(text, &Scope(defined)) {
        Ok(e) => e.unset,
        Err(_) => BTreeSet::new(),
    }
}

/// The words of a typed instruction that the build expands, for the instructions that expand them.
fn expanded_words(cmd: &Command) -> Vec<&str> {
    match cmd {
        Command::Copy(c) => {
            let mut w: Vec<&str> = c.sources.iter().map(String::as_str).collect();
            w.push(&c.dest);
            w.extend(c.chown.as_ref().and_then(|d| d.unexpanded()));
            w.extend(c.chmod.as_ref().and_then(|d| d.unexpanded()));
            w
        }
        Command::Env(kvs) | Command::Label(kvs) => kvs.iter().map(|kv| kv.value.as_str()).collect(),
        Command::Expose(ps) | Command::Volume(ps) => ps.iter().map(String::as_str).collect(),
        Command::Workdir(s) | Command::User(s) | Command::StopSignal(s) => vec![s.as_str()],
        Command::Arg(decls) => decls.iter().filter_map(|d| d.default.as_deref()).collect(),
        _ => Vec::new(),
    }
}

fn undefined_var(model: &Model, out: &mut Emitter) {
    // ARG names are build-time only, so an ARG declared somewhere else cannot come from the base image; an
    // ENV name can (`ENV PATH=/x:$PATH`), so ENV declarations elsewhere do not count.
    let mut declared_anywhere: BTreeSet<String> = model.meta_args.iter().map(|a| a.name.clone()).collect();
    for (_, step) in model.steps() {
        if let Ok(Command::Arg(decls)) = &step.command {
            declared_anywhere.extend(decls.iter().map(|d| d.name.clone()));
        }
    }
    let mut env_at_end: Vec<BTreeSet<String>> = Vec::new();
    for stage in &model.stages {
        // ENV survives into stages built FROM this one; ARG does not.
        let mut env: BTreeSet<String> = stage.parent.map(|p| env_at_end[p].clone()).unwrap_or_default();
        // ENV and ARG names so far: kept up to date step by step (rebuilding it per step was quadratic,
        // 40 s for 10 000 ENV lines).
        let mut defined = env.clone();
        let from_scratch = stage.from.as_ref().is_some_and(|f| f.image.eq_ignore_ascii_case("scratch"));
        let closed = from_scratch
            || stage.parent.is_some_and(|p| {
                model
                    .lineage(p)
                    .last()
                    .is_some_and(|root| root.from.as_ref().is_some_and(|f| f.image.eq_ignore_ascii_case("scratch")))
            });
        for step in &stage.steps {
            let Ok(cmd) = &step.command else { continue };
            let mut reported = BTreeSet::new();
            for word in expanded_words(cmd) {
                for name in unset_in(model, word, &defined) {
                    // Every image, even one FROM scratch, gets a default PATH.
                    let known = name == "PATH";
                    if !known && (closed || declared_anywhere.contains(&name)) && reported.insert(name.clone()) {
                        let hint = if model.meta_args.iter().any(|a| a.name == name) {
                            format!(" (declared before FROM: add `ARG {name}` to this stage)")
                        } else {
                            String::new()
                        };
                        out.at(step.line(), format!("${name} is not defined in this stage{hint}"));
                    }
                }
            }
            match cmd {
                Command::Arg(decls) => defined.extend(decls.iter().map(|d| d.name.clone())),
                Command::Env(kvs) => {
                    env.extend(kvs.iter().map(|kv| kv.key.clone()));
                    defined.extend(kvs.iter().map(|kv| kv.key.clone()));
                }
                _ => {}
            }
        }
        env_at_end.push(env);
    }
}

fn undefined_arg_in_from(model: &Model, out: &mut Emitter) {
    let mut defined: BTreeSet<String> = model.meta_args.iter().map(|a| a.name.clone()).collect();
    defined.extend(PLATFORM_ARGS.iter().map(|s| s.to_string()));
    for stage in &model.stages {
        let Some(from) = &stage.from else { continue };
        let mut unset = unset_in(model, &from.image, &defined);
        if let Some(p) = &from.platform {
            unset.extend(unset_in(model, p, &defined));
        }
        for name in unset {
            out.at(stage.line(), format!("FROM uses ${name}, which no ARG before the first FROM declares"));
        }
    }
}

fn env_self_reference(model: &Model, out: &mut Emitter) {
    for (_, step) in model.steps() {
        let Ok(Command::Env(kvs)) = &step.command else { continue };
        let mut earlier: BTreeSet<String> = BTreeSet::new();
        for kv in kvs {
            let used = Expander::new(model.dockerfile.directives.escape)
                .word(&kv.value, &Scope(&earlier))
                .map(|e| e.used)
                .unwrap_or_default();
            if let Some(name) = used.iter().next() {
                out.at(
                    step.line(),
                    format!("{}={}: ${name} is set in this same ENV and is not visible yet", kv.key, kv.value),
                );
            }
            earlier.insert(kv.key.clone());
        }
    }
}

/// True when a variable name reads like a secret: one of its `_`/`-`/`.`-separated parts is a secret word,
/// and none says it is public.
pub(crate) fn looks_secret(name: &str) -> bool {
    const SECRET: &[&str] =
        &["apikey", "auth", "credential", "credentials", "key", "password", "passwd", "pword", "secret", "token"];
    let parts: Vec<String> = name.split(['_', '-', '.']).map(|p| p.to_ascii_lowercase()).collect();
    parts.iter().any(|p| SECRET.contains(&p.as_str())) && !parts.iter().any(|p| p == "public")
}

fn secrets_in_arg_or_env(model: &Model, out: &mut Emitter) {
    let steps = model.preamble.iter().chain(model.stages.iter().flat_map(|s| s.steps.iter()));
    for step in steps {
        let names: Vec<(&str, &str)> = match &step.command {
            Ok(Command::Arg(decls)) => decls.iter().map(|d| ("ARG", d.name.as_str())).collect(),
            Ok(Command::Env(kvs)) => kvs.iter().map(|kv| ("ENV", kv.key.as_str())).collect(),
            _ => continue,
        };
        for (kw, name) in names.into_iter().filter(|(_, n)| looks_secret(n)) {
            out.at(
                step.line(),
                format!(
                    "{kw} {name}: may hold a secret, which would be kept in the image; use RUN --mount=type=secret"
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::looks_secret;

    #[test]
    fn secret_names() {
        for n in ["DB_PASSWORD", "GITHUB_TOKEN", "aws-secret", "API_KEY", "GPG_KEY"] {
            assert!(looks_secret(n), "{n}");
        }
        for n in ["KEYRING_DIR", "PUBLIC_KEY", "TOKENIZER_MODEL", "HOST", "MONKEY"] {
            assert!(!looks_secret(n), "{n}");
        }
    }
}
