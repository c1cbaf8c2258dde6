//! Rules about single instructions and their order: WORKDIR, USER, EXPOSE, CMD/ENTRYPOINT/HEALTHCHECK,
//! MAINTAINER, ONBUILD, keyword casing, the ENV/LABEL form, and what may come before FROM.

use super::{Emitter, Example, Rule};
use crate::dockerfile::instructions::{Command, CommandLine};
use crate::dockerfile::Keyword;
use crate::lint::finding::Severity;
use crate::lint::model::{Model, Stage};

pub(super) static RULES: &[Rule] = &[
    Rule {
        code: "DL1000",
        name: "InvalidDockerfile",
        aliases: &[],
        severity: Severity::Error,
        summary: "The Dockerfile does not parse, or an instruction is malformed.",
        rationale: "A build would stop here. The message says what the parser or the instruction expected. A \
                    file that does not parse at all gets this one finding and no other, and it cannot be \
                    silenced.",
        example: Example {
            bad: "FROM debian:12\nCOPY onlyone\n",
            bad_line: 2,
            good: "FROM debian:12\nCOPY a.txt /a.txt\n",
            config: "",
            dockerignore: "",
        },
        check: invalid_instruction,
    },
    Rule {
        code: "DL3000",
        name: "WorkdirRelativePath",
        aliases: &[],
        severity: Severity::Error,
        summary: "WORKDIR is a relative path.",
        rationale: "A relative WORKDIR is resolved against whatever directory the base image left, which can \
                    change under you. Write the absolute path.",
        example: Example {
            bad: "FROM debian:12\nWORKDIR app\n",
            bad_line: 2,
            good: "FROM debian:12\nWORKDIR /app\nWORKDIR $HOME/src\n",
            config: "",
            dockerignore: "",
        },
        check: workdir_relative,
    },
    Rule {
        code: "DL3002",
        name: "LastUserRoot",
        aliases: &[],
        severity: Severity::Warning,
        summary: "The last USER of the final stage is root.",
        rationale: "Containers started from the image run as root, so a compromise of the process is a \
                    compromise of root in the container. Switch to an unprivileged user at the end.",
        example: Example {
            bad: "FROM debian:12\nUSER app\nUSER root\n",
            bad_line: 3,
            good: "FROM debian:12\nUSER root\nRUN true\nUSER 1000\n",
            config: "",
            dockerignore: "",
        },
        check: last_user_root,
    },
    Rule {
        code: "DL3011",
        name: "ExposeInvalidPort",
        aliases: &[],
        severity: Severity::Error,
        summary: "EXPOSE names a port outside 0-65535.",
        rationale: "TCP and UDP ports are 16-bit numbers; anything larger is a typo.",
        example: Example {
            bad: "FROM debian:12\nEXPOSE 80 80000\n",
            bad_line: 2,
            good: "FROM debian:12\nEXPOSE 80 443/tcp 8000-8010 $PORT\n",
            config: "",
            dockerignore: "",
        },
        check: expose_port_range,
    },
    Rule {
        code: "ExposeProtoCasing",
        name: "ExposeProtoCasing",
        aliases: &[],
        severity: Severity::Warning,
        summary: "EXPOSE names its protocol in upper case (`80/TCP`).",
        rationale: "The protocol is stored as written in the image config; tools compare it in lower case.",
        example: Example {
            bad: "FROM debian:12\nEXPOSE 53/UDP\n",
            bad_line: 2,
            good: "FROM debian:12\nEXPOSE 53/udp\n",
            config: "",
            dockerignore: "",
        },
        check: expose_proto_casing,
    },
    Rule {
        code: "DL3012",
        name: "MultipleHealthcheck",
        aliases: &["MultipleInstructionsDisallowed"],
        severity: Severity::Error,
        summary: "A stage has more than one HEALTHCHECK.",
        rationale: "Only the last HEALTHCHECK takes effect; the others are dead text that misleads readers.",
        example: Example {
            bad: "FROM debian:12\nHEALTHCHECK CMD [\"true\"]\nHEALTHCHECK NONE\n",
            bad_line: 3,
            good: "FROM debian:12\nHEALTHCHECK CMD [\"true\"]\nFROM debian:12\nHEALTHCHECK NONE\n",
            config: "",
            dockerignore: "",
        },
        check: multiple_healthcheck,
    },
    Rule {
        code: "DL4003",
        name: "MultipleCmd",
        aliases: &["MultipleInstructionsDisallowed"],
        severity: Severity::Warning,
        summary: "A stage has more than one CMD.",
        rationale: "Only the last CMD takes effect; the earlier ones are dead text that misleads readers.",
        example: Example {
            bad: "FROM debian:12\nCMD [\"a\"]\nCMD [\"b\"]\n",
            bad_line: 3,
            good: "FROM debian:12 AS one\nCMD [\"a\"]\nFROM debian:12\nCMD [\"b\"]\n",
            config: "",
            dockerignore: "",
        },
        check: multiple_cmd,
    },
    Rule {
        code: "DL4004",
        name: "MultipleEntrypoint",
        aliases: &["MultipleInstructionsDisallowed"],
        severity: Severity::Error,
        summary: "A stage has more than one ENTRYPOINT.",
        rationale: "Only the last ENTRYPOINT takes effect; the earlier ones are dead text that misleads readers.",
        example: Example {
            bad: "FROM debian:12\nENTRYPOINT [\"a\"]\nENTRYPOINT [\"b\"]\n",
            bad_line: 3,
            good: "FROM debian:12\nENTRYPOINT [\"a\"]\nCMD [\"b\"]\n",
            config: "",
            dockerignore: "",
        },
        check: multiple_entrypoint,
    },
    Rule {
        code: "DL3025",
        name: "JSONArgsRecommended",
        aliases: &[],
        severity: Severity::Warning,
        summary: "CMD or ENTRYPOINT is in shell form.",
        rationale: "The shell form runs the command under `/bin/sh -c`, so the shell is PID 1 and the program \
                    never receives SIGTERM from `docker stop`. Use the JSON form: `CMD [\"prog\", \"arg\"]`.",
        example: Example {
            bad: "FROM debian:12\nCMD nginx -g 'daemon off;'\n",
            bad_line: 2,
            good: "FROM debian:12\nCMD [\"nginx\", \"-g\", \"daemon off;\"]\n",
            config: "",
            dockerignore: "",
        },
        check: json_args_recommended,
    },
    Rule {
        code: "DL4000",
        name: "MaintainerDeprecated",
        aliases: &[],
        severity: Severity::Error,
        summary: "MAINTAINER is deprecated.",
        rationale: "Docker deprecated MAINTAINER; the author belongs in a label such as \
                    `org.opencontainers.image.authors`.",
        example: Example {
            bad: "FROM debian:12\nMAINTAINER Jane <jane@example.com>\n",
            bad_line: 2,
            good: "FROM debian:12\nLABEL org.opencontainers.image.authors=\"jane@example.com\"\n",
            config: "",
            dockerignore: "",
        },
        check: maintainer,
    },
    Rule {
        code: "DL3043",
        name: "OnbuildTriggerDisallowed",
        aliases: &[],
        severity: Severity::Error,
        summary: "ONBUILD wraps ONBUILD, FROM or MAINTAINER.",
        rationale: "Docker refuses these triggers; a child image built FROM this one would fail.",
        example: Example {
            bad: "FROM debian:12\nONBUILD FROM alpine:3.20\n",
            bad_line: 2,
            good: "FROM debian:12\nONBUILD RUN make\n",
            config: "",
            dockerignore: "",
        },
        check: onbuild_trigger,
    },
    Rule {
        code: "DL3061",
        name: "InvalidInstructionOrder",
        aliases: &[],
        severity: Severity::Error,
        summary: "An instruction other than ARG comes before the first FROM.",
        rationale: "Only ARG (and comments and parser directives) may precede the first FROM; the build rejects \
                    anything else.",
        example: Example {
            bad: "LABEL a=b\nFROM debian:12\n",
            bad_line: 1,
            good: "ARG TAG=12\nFROM debian:${TAG}\n",
            config: "",
            dockerignore: "",
        },
        check: instruction_order,
    },
    Rule {
        code: "DL3066",
        name: "NonNumericUser",
        aliases: &[],
        severity: Severity::Info,
        summary: "USER names a user by name rather than by numeric ID.",
        rationale: "A name must resolve through the image's /etc/passwd, and orchestrators that enforce \
                    non-root (runAsNonRoot) can only verify a numeric UID. Prefer `USER 1000:1000`.",
        example: Example {
            bad: "FROM debian:12\nUSER app\n",
            bad_line: 2,
            good: "FROM debian:12\nARG UID=1000\nUSER 1000:1000\nUSER $UID\n",
            config: "",
            dockerignore: "",
        },
        check: non_numeric_user,
    },
    Rule {
        code: "ConsistentInstructionCasing",
        name: "ConsistentInstructionCasing",
        aliases: &[],
        severity: Severity::Style,
        summary: "Instruction keywords are not all written in the same case.",
        rationale: "Most of the file uses one case for keywords; the odd ones out (and mixed-case keywords such \
                    as `Run`) make the file harder to scan.",
        example: Example {
            bad: "FROM debian:12\nrun true\nRUN false\n",
            bad_line: 2,
            good: "from debian:12\nrun true\n",
            config: "",
            dockerignore: "",
        },
        check: consistent_casing,
    },
    Rule {
        code: "LegacyKeyValueFormat",
        name: "LegacyKeyValueFormat",
        aliases: &[],
        severity: Severity::Style,
        summary: "ENV or LABEL uses the legacy `KEY value` form.",
        rationale: "The space-separated form sets one variable whose value is the rest of the line, which is \
                    easy to misread; `KEY=value` is unambiguous and allows several pairs.",
        example: Example {
            bad: "FROM debian:12\nENV LANG C.UTF-8\n",
            bad_line: 2,
            good: "FROM debian:12\nENV LANG=C.UTF-8\n",
            config: "",
            dockerignore: "",
        },
        check: legacy_key_value,
    },
    Rule {
        code: "NoEmptyContinuation",
        name: "NoEmptyContinuation",
        aliases: &[],
        severity: Severity::Warning,
        summary: "An empty line sits inside a line continuation.",
        rationale: "BuildKit accepts it for now but has deprecated it; an empty line in the middle of a RUN is \
                    usually a forgotten `\\`.",
        example: Example {
            bad: "FROM debian:12\nRUN echo a \\\n\n    b\n",
            bad_line: 4,
            good: "FROM debian:12\nRUN echo a \\\n    b\n",
            config: "",
            dockerignore: "",
        },
        check: empty_continuation,
    },
];

fn commands<'m, 'a>(stage: &'m Stage<'a>) -> impl Iterator<Item = (usize, &'m Command)> + 'm {
    stage.steps.iter().filter_map(|s| s.command.as_ref().ok().map(|c| (s.line(), c)))
}

fn invalid_instruction(model: &Model, out: &mut Emitter) {
    for stage in &model.stages {
        if let Some(e) = &stage.from_error {
            out.at_error(stage.line(), e);
        }
    }
    for step in model.preamble.iter().chain(model.stages.iter().flat_map(|s| s.steps.iter())) {
        let Err(e) = &step.command else { continue };
        // A forbidden ONBUILD trigger has its own rule (DL3043).
        let bad_trigger = step
            .ins
            .sub
            .as_deref()
            .is_some_and(|s| matches!(s.kind, Keyword::Onbuild | Keyword::From | Keyword::Maintainer));
        if !bad_trigger {
            out.at_error(step.line(), e);
        }
    }
}

fn workdir_relative(model: &Model, out: &mut Emitter) {
    for stage in &model.stages {
        for (line, cmd) in commands(stage) {
            if let Command::Workdir(dir) = cmd {
                if !is_absolute(dir) {
                    out.at(line, format!("WORKDIR {dir}: use an absolute path"));
                }
            }
        }
    }
}

/// Absolute for a linter: starts with `/`, a variable (its value is unknown), or a Windows drive.
pub(crate) fn is_absolute(path: &str) -> bool {
    let p = path.trim_matches(|c| c == '"' || c == '\'');
    let b = p.as_bytes();
    p.starts_with('/')
        || p.starts_with('$')
        || p.starts_with('\\')
        || (b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':')
}

fn last_user_root(model: &Model, out: &mut Emitter) {
    let Some(last) = model.stages.last() else { return };
    let last_user =
        commands(last).filter_map(|(line, c)| if let Command::User(u) = c { Some((line, u)) } else { None }).last();
    if let Some((line, user)) = last_user {
        let name = user.split(':').next().unwrap_or(user);
        if name == "root" || name == "0" {
            out.at(line, format!("USER {user}: the image will run as root; end with an unprivileged user"));
        }
    }
}

fn expose_port_range(model: &Model, out: &mut Emitter) {
    for stage in &model.stages {
        for (line, cmd) in commands(stage) {
            let Command::Expose(ports) = cmd else { continue };
            for spec in ports {
                let range = spec.split('/').next().unwrap_or(spec);
                if range.contains('$') {
                    continue;
                }
                let bad = range.split('-').any(|p| p.parse::<u64>().map_or(true, |n| n > 65535));
                if bad {
                    out.at(line, format!("EXPOSE {spec}: ports range from 0 to 65535"));
                }
            }
        }
    }
}

fn expose_proto_casing(model: &Model, out: &mut Emitter) {
    for stage in &model.stages {
        for (line, cmd) in commands(stage) {
            let Command::Expose(ports) = cmd else { continue };
            for spec in ports {
                if let Some((_, proto)) = spec.split_once('/') {
                    if proto.chars().any(|c| c.is_ascii_uppercase()) {
                        out.at(
                            line,
                            format!("EXPOSE {spec}: write the protocol in lower case ({})", proto.to_ascii_lowercase()),
                        );
                    }
                }
            }
        }
    }
}

/// Report every instruction of `kind` after the first one in the same stage.
fn repeated(model: &Model, out: &mut Emitter, matches: fn(&Command) -> bool, what: &str) {
    for stage in &model.stages {
        let mut first: Option<usize> = None;
        for (line, cmd) in commands(stage) {
            if !matches(cmd) {
                continue;
            }
            match first {
                None => first = Some(line),
                Some(f) => out.at(
                    line,
                    format!("another {what} in this stage (first on line {f}); only the last one takes effect"),
                ),
            }
        }
    }
}

fn multiple_healthcheck(model: &Model, out: &mut Emitter) {
    repeated(model, out, |c| matches!(c, Command::Healthcheck(_)), "HEALTHCHECK");
}

fn multiple_cmd(model: &Model, out: &mut Emitter) {
    repeated(model, out, |c| matches!(c, Command::Cmd(_)), "CMD");
}

fn multiple_entrypoint(model: &Model, out: &mut Emitter) {
    repeated(model, out, |c| matches!(c, Command::Entrypoint(_)), "ENTRYPOINT");
}

fn json_args_recommended(model: &Model, out: &mut Emitter) {
    for stage in &model.stages {
        for (line, cmd) in commands(stage) {
            let (kw, text) = match cmd {
                Command::Cmd(CommandLine::Shell(t)) => ("CMD", t),
                Command::Entrypoint(CommandLine::Shell(t)) => ("ENTRYPOINT", t),
                _ => continue,
            };
            out.at(line, format!("{kw} {text}: use the JSON form so signals reach the process"));
        }
    }
}

fn maintainer(model: &Model, out: &mut Emitter) {
    for (_, step) in model.steps() {
        if step.ins.kind == Keyword::Maintainer {
            out.at(
                step.line(),
                format!("MAINTAINER {}: use LABEL org.opencontainers.image.authors", step.ins.args.join(" ")),
            );
        }
    }
}

fn onbuild_trigger(model: &Model, out: &mut Emitter) {
    for step in model.preamble.iter().chain(model.stages.iter().flat_map(|s| s.steps.iter())) {
        if let Some(sub) = step.ins.sub.as_deref() {
            if matches!(sub.kind, Keyword::Onbuild | Keyword::From | Keyword::Maintainer) {
                out.at(step.line(), format!("ONBUILD {}: not allowed as a trigger", sub.keyword.to_ascii_uppercase()));
            }
        }
    }
}

fn instruction_order(model: &Model, out: &mut Emitter) {
    for step in &model.preamble {
        if step.ins.kind != Keyword::Arg {
            out.at(
                step.line(),
                format!("{} before the first FROM: only ARG may come first", step.ins.keyword.to_ascii_uppercase()),
            );
        }
    }
}

fn non_numeric_user(model: &Model, out: &mut Emitter) {
    for stage in &model.stages {
        for (line, cmd) in commands(stage) {
            let Command::User(user) = cmd else { continue };
            let name = user.split(':').next().unwrap_or(user);
            if !name.contains('$') && !name.chars().all(|c| c.is_ascii_digit()) {
                out.at(line, format!("USER {user}: a name may not resolve; prefer a numeric UID"));
            }
        }
    }
}

fn consistent_casing(model: &Model, out: &mut Emitter) {
    let all: Vec<_> = model.dockerfile.instructions.iter().filter(|i| i.kind != Keyword::Unknown).collect();
    let upper = all.iter().filter(|i| i.keyword == i.keyword.to_ascii_uppercase()).count();
    let lower = all.iter().filter(|i| i.keyword == i.keyword.to_ascii_lowercase()).count();
    let want_upper = upper >= lower;
    for ins in all {
        let ok = if want_upper {
            ins.keyword == ins.keyword.to_ascii_uppercase()
        } else {
            ins.keyword == ins.keyword.to_ascii_lowercase()
        };
        if !ok {
            let expected = if want_upper { ins.keyword.to_ascii_uppercase() } else { ins.keyword.to_ascii_lowercase() };
            out.at(
                ins.location.start_line,
                format!("'{}' should be written '{expected}' like the rest of the file", ins.keyword),
            );
        }
    }
}

fn legacy_key_value(model: &Model, out: &mut Emitter) {
    for (_, step) in model.steps() {
        let ins = step.ins;
        if !matches!(ins.kind, Keyword::Env | Keyword::Label) {
            continue;
        }
        // ENV/LABEL arguments come as (key, value, separator) triples; the legacy form has an empty separator.
        for triple in ins.args.chunks(3) {
            if let [key, value, sep] = triple {
                if sep.is_empty() {
                    let kw = ins.keyword.to_ascii_uppercase();
                    out.at(ins.location.start_line, format!("{kw} {key} {value}: write {kw} {key}={value}"));
                }
            }
        }
    }
}

fn empty_continuation(model: &Model, out: &mut Emitter) {
    for w in &model.dockerfile.warnings {
        if w.message.to_ascii_lowercase().contains("empty continuation") {
            out.at(w.line, w.message.clone());
        }
    }
}
