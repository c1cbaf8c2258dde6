//! Rules about the commands a RUN runs (read by `lint::shell`, not matched with regular expressions):
//! `cd`, `sudo`, interactive tools, `wget`/`curl`, `useradd`, swapping `/bin/sh`, pipes without
//! pipefail, and RUNs that could be one.

use super::{Emitter, Example, Rule};
use crate::dockerfile::Keyword;
use crate::lint::finding::Severity;
use crate::lint::model::Model;
use crate::lint::shell::{flag_matches, Command};

pub(super) static RULES: &[Rule] = &[
    Rule {
        code: "DL3001",
        name: "PointlessCommand",
        aliases: &[],
        severity: Severity::Info,
        summary: "RUN calls an interactive or host-administration tool (ssh, vim, service, ps, top, kill, ...).",
        rationale: "A build step has no terminal, no init system and no other processes to manage; these tools \
                    do nothing useful there and usually mean a step was copied from a shell session.",
        example: Example {
            bad: "FROM debian:12\nRUN service nginx start\n",
            bad_line: 2,
            good: "FROM debian:12\nRUN nginx -t\n",
            config: "",
            dockerignore: "",
        },
        check: pointless_command,
    },
    Rule {
        code: "DL3003",
        name: "CdInRun",
        aliases: &[],
        severity: Severity::Warning,
        summary: "RUN changes directory with `cd`.",
        rationale: "The directory change lasts only for that RUN; WORKDIR states it once for every later step \
                    and for the container.",
        example: Example {
            bad: "FROM debian:12\nRUN cd /src && make\n",
            bad_line: 2,
            good: "FROM debian:12\nWORKDIR /src\nRUN make\n",
            config: "",
            dockerignore: "",
        },
        check: cd_in_run,
    },
    Rule {
        code: "DL3004",
        name: "Sudo",
        aliases: &[],
        severity: Severity::Error,
        summary: "RUN uses `sudo`.",
        rationale: "Steps already run as the configured USER; sudo needs a TTY and a sudoers file and behaves \
                    unpredictably in a build. Switch USER around the step instead (or use gosu at run time).",
        example: Example {
            bad: "FROM debian:12\nRUN sudo make install\n",
            bad_line: 2,
            good: "FROM debian:12\nUSER root\nRUN make install\n",
            config: "",
            dockerignore: "",
        },
        check: sudo,
    },
    Rule {
        code: "DL3027",
        name: "AptInScripts",
        aliases: &[],
        severity: Severity::Warning,
        summary: "RUN uses `apt`, whose command-line interface is not stable for scripts.",
        rationale: "`apt` is meant for people at a terminal and warns that its output and options may change; \
                    use `apt-get` or `apt-cache` in Dockerfiles.",
        example: Example {
            bad: "FROM debian:12\nRUN apt install -y curl\n",
            bad_line: 2,
            good: "FROM debian:12\nRUN apt-get install -y --no-install-recommends curl=7.88.1-10\n",
            config: "",
            dockerignore: "",
        },
        check: apt_in_scripts,
    },
    Rule {
        code: "DL3046",
        name: "UseraddLargeUid",
        aliases: &[],
        severity: Severity::Warning,
        summary: "`useradd` with a long UID but without `-l`/`--no-log-init`.",
        rationale: "useradd reserves space in the sparse lastlog and faillog files up to the UID; with a large \
                    UID the layer grows by gigabytes. `-l` skips those files.",
        example: Example {
            bad: "FROM debian:12\nRUN useradd -u 123456789 app\n",
            bad_line: 2,
            good: "FROM debian:12\nRUN useradd -l -u 123456789 app && useradd -u 1000 other\n",
            config: "",
            dockerignore: "",
        },
        check: useradd_large_uid,
    },
    Rule {
        code: "DL3047",
        name: "WgetProgress",
        aliases: &[],
        severity: Severity::Info,
        summary: "`wget` without `--progress`, `-q`, `-nv`, `-o` or `-a`.",
        rationale: "wget's default progress bar writes thousands of lines into non-interactive build logs. \
                    Quiet it, or use `--progress=dot:giga`.",
        example: Example {
            bad: "FROM debian:12\nRUN wget https://example.com/a.tgz\n",
            bad_line: 2,
            good: "FROM debian:12\nRUN wget -qO- https://example.com/a && wget --progress=dot:giga https://example.com/b\n",
            config: "",
            dockerignore: "",
        },
        check: wget_progress,
    },
    Rule {
        code: "DL4001",
        name: "WgetAndCurl",
        aliases: &[],
        severity: Severity::Warning,
        summary: "A stage uses both `wget` and `curl`.",
        rationale: "Two download tools mean two packages to install, patch and reason about; pick one.",
        example: Example {
            bad: "FROM debian:12\nRUN wget -q https://example.com/a\nRUN curl -fsSO https://example.com/b\n",
            bad_line: 2,
            good: "FROM debian:12\nRUN curl -fsSO https://example.com/a\nFROM debian:12\nRUN wget -q https://example.com/b\n",
            config: "",
            dockerignore: "",
        },
        check: wget_and_curl,
    },
    Rule {
        code: "DL4005",
        name: "ShellSwapWithLn",
        aliases: &[],
        severity: Severity::Warning,
        summary: "RUN replaces `/bin/sh` with `ln`.",
        rationale: "Relinking /bin/sh changes the shell for every package script in the image; the SHELL \
                    instruction changes it for the Dockerfile's own steps only.",
        example: Example {
            bad: "FROM debian:12\nRUN ln -sf /bin/bash /bin/sh\n",
            bad_line: 2,
            good: "FROM debian:12\nSHELL [\"/bin/bash\", \"-c\"]\nRUN ln -s /usr/bin/python3 /usr/local/bin/python\n",
            config: "",
            dockerignore: "",
        },
        check: ln_bin_sh,
    },
    Rule {
        code: "DL4006",
        name: "PipefailMissing",
        aliases: &[],
        severity: Severity::Warning,
        summary: "RUN has a pipe but pipefail is not set.",
        rationale: "A pipeline's status is its last command's, so `curl ... | tar x` succeeds even when the \
                    download fails. Set `SHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"]` before the RUN, or \
                    start the script with `set -o pipefail`.",
        example: Example {
            bad: "FROM debian:12\nRUN curl -fsS https://example.com/x.tgz | tar -xz\n",
            bad_line: 2,
            good: "FROM debian:12\nSHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"]\nRUN curl -fsS https://example.com/x.tgz | tar -xz\nRUN set -eux -o pipefail; a | b\n",
            config: "",
            dockerignore: "",
        },
        check: pipefail_missing,
    },
    Rule {
        code: "DL3059",
        name: "ConsecutiveRun",
        aliases: &[],
        severity: Severity::Info,
        summary: "Consecutive single-command RUN instructions (with the same flags) could be one.",
        rationale: "Each RUN makes a layer; merging neighbouring steps with `&&` saves layers and lets cleanup \
                    happen in the step that made the mess.",
        example: Example {
            bad: "FROM debian:12\nRUN make\nRUN make install\n",
            bad_line: 3,
            good: "FROM debian:12\nRUN make && make install\nRUN make test\nRUN --mount=type=cache,target=/root/.cache go build\n",
            config: "",
            dockerignore: "",
        },
        check: consecutive_run,
    },
];

/// Report once per RUN line when some command in it matches.
fn each_command(model: &Model, out: &mut Emitter, mut report: impl FnMut(&Command) -> Option<String>) {
    for (_, step, script) in model.scripts() {
        if let Some(message) = script.commands.iter().find_map(&mut report) {
            out.at(step.line(), message);
        }
    }
}

fn pointless_command(model: &Model, out: &mut Emitter) {
    const TOOLS: &[&str] = &["ssh", "vim", "shutdown", "service", "ps", "free", "top", "kill", "mount", "ifconfig"];
    each_command(model, out, |c| TOOLS.contains(&c.name()).then(|| format!("{}: pointless in a build step", c.name())));
}

fn cd_in_run(model: &Model, out: &mut Emitter) {
    each_command(model, out, |c| {
        (c.name() == "cd").then(|| {
            let dir = c.args().first().map(|w| w.text.as_str()).unwrap_or("");
            format!("cd {dir}: use WORKDIR to change directory")
        })
    });
}

fn sudo(model: &Model, out: &mut Emitter) {
    each_command(model, out, |c| {
        (c.name() == "sudo").then(|| {
            let rest: Vec<&str> = c.args().iter().map(|w| w.text.as_str()).collect();
            format!("sudo {}: steps already run as USER; drop sudo", rest.join(" "))
        })
    });
}

fn apt_in_scripts(model: &Model, out: &mut Emitter) {
    each_command(model, out, |c| {
        (c.name() == "apt").then(|| {
            let sub = c.subcommand(&["-o", "-c", "-t"]).unwrap_or("");
            format!("apt {sub}: use apt-get or apt-cache in scripts")
        })
    });
}

fn useradd_large_uid(model: &Model, out: &mut Emitter) {
    each_command(model, out, |c| {
        if c.name() != "useradd" || c.has_flag(&["-l", "--no-log-init"]) {
            return None;
        }
        let args = c.args();
        let uid = args.iter().enumerate().find_map(|(i, w)| {
            let t = w.text.as_str();
            if t == "-u" || t == "--uid" {
                args.get(i + 1).map(|v| v.text.clone())
            } else {
                t.strip_prefix("--uid=").map(String::from)
            }
        })?;
        (uid.len() > 5 && uid.chars().all(|ch| ch.is_ascii_digit()))
            .then(|| format!("useradd -u {uid}: add -l (--no-log-init) to keep the layer small"))
    });
}

/// True when a wget command line turns its progress bar off or sends it elsewhere.
fn wget_is_quiet(c: &Command) -> bool {
    c.args().iter().any(|w| {
        let t = w.text.as_str();
        if flag_matches(t, &["--progress", "--quiet", "--no-verbose", "--output-file", "--append-output", "-nv"]) {
            return true;
        }
        // Short options bundle until one that takes a value: `-qO-` is quiet, `-O-q` is not.
        match t.strip_prefix('-') {
            Some(b) if !b.starts_with('-') && !b.starts_with('n') => {
                for ch in b.chars() {
                    match ch {
                        'q' | 'o' | 'a' => return true,
                        'O' | 'P' | 't' | 'T' | 'w' | 'e' | 'i' | 'B' | 'U' | 'Y' | 'l' | 'A' | 'R' | 'D' | 'I'
                        | 'X' => return false,
                        _ => {}
                    }
                }
                false
            }
            _ => false,
        }
    })
}

fn wget_progress(model: &Model, out: &mut Emitter) {
    each_command(model, out, |c| {
        (c.name() == "wget" && !wget_is_quiet(c))
            .then(|| "wget without -q/-nv/--progress: the progress bar floods build logs".to_string())
    });
}

fn wget_and_curl(model: &Model, out: &mut Emitter) {
    for stage in &model.stages {
        let runs: Vec<_> = stage.steps.iter().filter_map(|s| s.script.as_ref().map(|sc| (s.line(), sc))).collect();
        let uses_wget = runs.iter().any(|(_, s)| s.runs("wget"));
        let uses_curl = runs.iter().any(|(_, s)| s.runs("curl"));
        if !(uses_wget && uses_curl) {
            continue;
        }
        for (line, script) in runs {
            if script.runs("wget") || script.runs("curl") {
                out.at(line, "this stage uses both wget and curl; standardise on one");
            }
        }
    }
}

fn ln_bin_sh(model: &Model, out: &mut Emitter) {
    each_command(model, out, |c| {
        let target = c.operands(&["-t", "--target-directory", "-S", "--suffix"]).last().map(|w| w.text.clone());
        (c.name() == "ln" && target.as_deref() == Some("/bin/sh"))
            .then(|| "ln ... /bin/sh: use the SHELL instruction to change the shell".to_string())
    });
}

fn pipefail_missing(model: &Model, out: &mut Emitter) {
    for (_, step, script) in model.scripts() {
        if !script.has_pipe || step.pipefail {
            continue;
        }
        // `set -o pipefail` (or `set -euxo pipefail`) before the first pipe covers the script too.
        let mut covered = false;
        for c in &script.commands {
            if c.piped {
                break;
            }
            if c.name() == "set" {
                let words: Vec<&str> = c.args().iter().map(|w| w.text.as_str()).collect();
                covered |= words.windows(2).any(|w| w[0].starts_with('-') && w[0].ends_with('o') && w[1] == "pipefail");
            }
        }
        if !covered {
            out.at(step.line(), "RUN with a pipe: set -o pipefail (SHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"]) so failures are not masked");
        }
    }
}

fn consecutive_run(model: &Model, out: &mut Emitter) {
    // Only RUNs of one command each are reported: a step that already chains commands is a deliberate unit.
    let single = |step: &crate::lint::model::Step| step.script.as_ref().is_some_and(|s| s.commands.len() == 1);
    for stage in &model.stages {
        for pair in stage.steps.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            if a.ins.kind == Keyword::Run
                && b.ins.kind == Keyword::Run
                && a.ins.flags == b.ins.flags
                && single(a)
                && single(b)
            {
                out.at(b.line(), format!("RUN right after the RUN on line {}: merge them with &&", a.line()));
            }
        }
    }
}
