//! Rules about package managers in RUN: Debian's apt-get, Alpine's apk, and the language installers
//! (pip, npm, gem, go, yarn). RPM-based managers are in `packages_rpm`.

use super::{Emitter, Example, Rule};
use crate::dockerfile::flags::{Deferred, Mount};
use crate::dockerfile::instructions::Command as Instr;
use crate::lint::finding::Severity;
use crate::lint::model::{Model, Stage, Step};
use crate::lint::shell::{flag_matches, Command, Script, Word};

pub(super) static RULES: &[Rule] = &[
    Rule {
        code: "DL3008",
        name: "AptGetUnpinned",
        aliases: &[],
        severity: Severity::Warning,
        summary: "`apt-get install` of a package without a version (`pkg=version`).",
        rationale: "Unpinned packages make the image depend on the day it was built. Pin versions, or accept \
                    the drift knowingly and ignore the rule.",
        example: Example {
            bad: "FROM debian:12\nRUN apt-get install -y --no-install-recommends curl\n",
            bad_line: 2,
            good: "FROM debian:12\nRUN apt-get install -y --no-install-recommends curl=7.88.1-10+deb12u5 \"$EXTRA\"\n",
            config: "",
            dockerignore: "",
        },
        check: apt_get_unpinned,
    },
    Rule {
        code: "DL3009",
        name: "AptListsNotRemoved",
        aliases: &[],
        severity: Severity::Info,
        summary: "`apt-get install` in a shipped stage without removing /var/lib/apt/lists in the same RUN.",
        rationale: "The package lists are tens of megabytes that nothing in the image needs; removed in a later \
                    RUN they still sit in the earlier layer. Only the final stage (and the stages it is built \
                    FROM) are checked: a builder stage's layers are not shipped.",
        example: Example {
            bad: "FROM debian:12\nRUN apt-get update && apt-get install -y git\n",
            bad_line: 2,
            good: "FROM debian:12\nRUN apt-get update && apt-get install -y git && rm -rf /var/lib/apt/lists/*\nRUN --mount=type=cache,target=/var/lib/apt/lists apt-get install -y make\nRUN apt-get install -y gcc && apt-get dist-clean\n",
            config: "",
            dockerignore: "",
        },
        check: apt_lists_not_removed,
    },
    Rule {
        code: "DL3014",
        name: "AptGetNoYes",
        aliases: &[],
        severity: Severity::Warning,
        summary: "`apt-get install` without `-y` (`--yes`, `--assume-yes`, `-qq`).",
        rationale: "Without it apt-get asks for confirmation, reads end-of-file from the build's stdin and \
                    aborts.",
        example: Example {
            bad: "FROM debian:12\nRUN apt-get install git\n",
            bad_line: 2,
            good: "FROM debian:12\nRUN apt-get install -y git && apt-get -qq install make && apt-get install --yes gcc\n",
            config: "",
            dockerignore: "",
        },
        check: apt_get_no_yes,
    },
    Rule {
        code: "DL3015",
        name: "AptGetRecommends",
        aliases: &[],
        severity: Severity::Info,
        summary: "`apt-get install` without `--no-install-recommends`.",
        rationale: "Recommended packages are often large and rarely needed in a container; ask for what you use.",
        example: Example {
            bad: "FROM debian:12\nRUN apt-get install -y git\n",
            bad_line: 2,
            good: "FROM debian:12\nRUN apt-get install -y --no-install-recommends git\n",
            config: "",
            dockerignore: "",
        },
        check: apt_get_recommends,
    },
    Rule {
        code: "DL3018",
        name: "ApkUnpinned",
        aliases: &[],
        severity: Severity::Warning,
        summary: "`apk add` of a package without a version (`pkg=version`).",
        rationale: "Unpinned packages make the image depend on the day it was built.",
        example: Example {
            bad: "FROM alpine:3.20\nRUN apk add --no-cache curl\n",
            bad_line: 2,
            good: "FROM alpine:3.20\nRUN apk add --no-cache curl=8.9.1-r0 --virtual .deps 'bash~5.2'\n",
            config: "",
            dockerignore: "",
        },
        check: apk_unpinned,
    },
    Rule {
        code: "DL3019",
        name: "ApkNoCache",
        aliases: &[],
        severity: Severity::Info,
        summary: "`apk add` without `--no-cache`.",
        rationale: "`--no-cache` fetches the index for this command only and leaves nothing in \
                    /var/cache/apk, instead of `--update` plus cleaning up by hand.",
        example: Example {
            bad: "FROM alpine:3.20\nRUN apk add --update curl=8.9.1-r0\n",
            bad_line: 2,
            good: "FROM alpine:3.20\nRUN apk add --no-cache curl=8.9.1-r0\nRUN --mount=type=cache,target=/var/cache/apk apk add bash=5.2.26-r0\n",
            config: "",
            dockerignore: "",
        },
        check: apk_no_cache,
    },
    Rule {
        code: "DL3013",
        name: "PipUnpinned",
        aliases: &[],
        severity: Severity::Warning,
        summary: "`pip install` of a package without a version (`pkg==version`).",
        rationale: "Unpinned packages make the image depend on the day it was built; pin them or install from a \
                    requirements or constraints file.",
        example: Example {
            bad: "FROM python:3.12\nRUN pip install --no-cache-dir requests\n",
            bad_line: 2,
            good: "FROM python:3.12\nRUN pip install --no-cache-dir requests==2.32.3 'flask>=3' -r requirements.txt . && python -m pip install --no-cache-dir ./dist/app.whl\n",
            config: "",
            dockerignore: "",
        },
        check: pip_unpinned,
    },
    Rule {
        code: "DL3042",
        name: "PipCache",
        aliases: &[],
        severity: Severity::Warning,
        summary: "`pip install` without `--no-cache-dir`.",
        rationale: "pip keeps downloaded wheels in ~/.cache/pip, which then ships in the layer. Pass \
                    `--no-cache-dir`, set `PIP_NO_CACHE_DIR` in ENV, or use a cache mount.",
        example: Example {
            bad: "FROM python:3.12\nRUN pip install requests==2.32.3\n",
            bad_line: 2,
            good: "FROM python:3.12\nRUN pip install --no-cache-dir requests==2.32.3\nENV PIP_NO_CACHE_DIR=1\nRUN pip install flask==3.0.3\n",
            config: "",
            dockerignore: "",
        },
        check: pip_cache,
    },
    Rule {
        code: "DL3016",
        name: "NpmUnpinned",
        aliases: &[],
        severity: Severity::Warning,
        summary: "`npm install` of a package without a version (`pkg@version`).",
        rationale: "Unpinned packages make the image depend on the day it was built.",
        example: Example {
            bad: "FROM node:22\nRUN npm install -g typescript\n",
            bad_line: 2,
            good: "FROM node:22\nRUN npm install -g typescript@5.5.4 @scope/tool@1.2.3 && npm install && npm ci\n",
            config: "",
            dockerignore: "",
        },
        check: npm_unpinned,
    },
    Rule {
        code: "DL3028",
        name: "GemUnpinned",
        aliases: &[],
        severity: Severity::Warning,
        summary: "`gem install` of a gem without a version (`gem:version` or `-v`).",
        rationale: "Unpinned gems make the image depend on the day it was built.",
        example: Example {
            bad: "FROM ruby:3.3\nRUN gem install bundler\n",
            bad_line: 2,
            good: "FROM ruby:3.3\nRUN gem install bundler:2.5.16 && gem install rake -v 13.2.1\n",
            config: "",
            dockerignore: "",
        },
        check: gem_unpinned,
    },
    Rule {
        code: "DL3062",
        name: "GoInstallUnpinned",
        aliases: &[],
        severity: Severity::Warning,
        summary: "`go install` of a package without a version (`pkg@version`).",
        rationale: "Outside a module `go install` needs a version, and without one the result depends on the \
                    day of the build.",
        example: Example {
            bad: "FROM golang:1.22\nRUN go install golang.org/x/tools/cmd/goimports\n",
            bad_line: 2,
            good: "FROM golang:1.22\nRUN go install golang.org/x/tools/cmd/goimports@v0.24.0 && go install ./cmd/...\n",
            config: "",
            dockerignore: "",
        },
        check: go_install_unpinned,
    },
    Rule {
        code: "DL3060",
        name: "YarnCacheNotCleaned",
        aliases: &[],
        severity: Severity::Info,
        summary: "`yarn install` without `yarn cache clean` in the same RUN.",
        rationale: "Yarn's download cache ends up in the layer; clean it in the step that filled it.",
        example: Example {
            bad: "FROM node:22\nRUN yarn install\n",
            bad_line: 2,
            good: "FROM node:22\nRUN yarn install && yarn cache clean\n",
            config: "",
            dockerignore: "",
        },
        check: yarn_cache,
    },
];

/// The words after the subcommand when `c` is `name <sub>` with `sub` one of `subs`, else `None`.
pub(super) fn subcommand_args<'c>(
    c: &'c Command,
    names: &[&str],
    subs: &[&str],
    with_value: &[&str],
) -> Option<Vec<&'c Word>> {
    if !names.contains(&c.name()) {
        return None;
    }
    let ops = c.operands(with_value);
    let (first, rest) = ops.split_first()?;
    subs.contains(&first.text.as_str()).then(|| rest.to_vec())
}

/// Package words that carry no version, per `pinned`; words holding variables and local files are skipped.
pub(super) fn unpinned<'w>(packages: &[&'w Word], pinned: fn(&str) -> bool) -> Vec<&'w str> {
    packages
        .iter()
        .filter(|w| !w.has_expansion && !is_local_file(&w.text) && !pinned(&w.text))
        .map(|w| w.text.as_str())
        .collect()
}

fn is_local_file(word: &str) -> bool {
    word.starts_with('/')
        || word.starts_with('.')
        || word.contains("://")
        || [".deb", ".apk", ".rpm", ".whl", ".tar.gz", ".tgz", ".zip"].iter().any(|e| word.ends_with(e))
}

/// Report per RUN: `report` maps each command to a message, the first one in the script is used.
pub(super) fn per_run(
    model: &Model,
    out: &mut Emitter,
    mut report: impl FnMut(&Stage, &Step, &Script, &Command) -> Option<String>,
) {
    for (stage, step, script) in model.scripts() {
        if let Some(m) = script.commands.iter().find_map(|c| report(stage, step, script, c)) {
            out.at(step.line(), m);
        }
    }
}

/// True when the RUN mounts a cache (or tmpfs) over `dir`, so nothing written there lands in the layer.
pub(super) fn mounts_over(step: &Step, dir: &str) -> bool {
    let Ok(Instr::Run(run)) = &step.command else { return false };
    run.mounts.iter().any(|m| {
        let m = match m {
            Deferred::Ready(Mount::Cache(c)) => return c.target.trim_end_matches('/') == dir,
            Deferred::Ready(Mount::Tmpfs(t)) => return t.target.trim_end_matches('/') == dir,
            Deferred::Ready(_) => return false,
            Deferred::Expand(text) => text,
        };
        let mut kind_ok = false;
        let mut target_ok = false;
        for field in m.split(',') {
            match field.split_once('=') {
                Some(("type", t)) => kind_ok = t == "cache" || t == "tmpfs",
                Some(("target" | "dst" | "destination", t)) => target_ok = t.trim_end_matches('/') == dir,
                _ => {}
            }
        }
        kind_ok && target_ok
    })
}

const APT_VALUE_OPTS: &[&str] =
    &["-o", "-c", "-t", "--option", "--config-file", "--target-release", "--default-release"];

fn apt_install(c: &Command) -> Option<Vec<&Word>> {
    subcommand_args(c, &["apt-get"], &["install"], APT_VALUE_OPTS)
}

/// The value of each `-o X` / `--option=X` apt configuration item, lower-cased.
fn apt_options(c: &Command) -> Vec<String> {
    let args = c.args();
    let mut out = Vec::new();
    for (i, w) in args.iter().enumerate() {
        let t = w.text.as_str();
        if t == "-o" || t == "--option" {
            if let Some(v) = args.get(i + 1) {
                out.push(v.text.to_ascii_lowercase());
            }
        } else if let Some(v) = t.strip_prefix("--option=").or_else(|| t.strip_prefix("-o").filter(|v| !v.is_empty())) {
            out.push(v.to_ascii_lowercase());
        }
    }
    out
}

fn apt_get_unpinned(model: &Model, out: &mut Emitter) {
    per_run(model, out, |_, _, _, c| {
        let pkgs = apt_install(c)?;
        let bad = unpinned(&pkgs, |p| p.contains('='));
        (!bad.is_empty()).then(|| format!("apt-get install {}: pin versions (pkg=version)", bad.join(" ")))
    });
}

fn apt_lists_not_removed(model: &Model, out: &mut Emitter) {
    per_run(model, out, |stage, step, script, c| {
        apt_install(c)?;
        if !model.shipped(stage.index) || mounts_over(step, "/var/lib/apt/lists") {
            return None;
        }
        let removed = script.named("rm").any(|rm| rm.args().iter().any(|w| w.text.starts_with("/var/lib/apt/lists")));
        // apt 2.7's `apt-get dist-clean` removes the lists too.
        let dist_clean = script.named("apt-get").any(|a| a.subcommand(APT_VALUE_OPTS) == Some("dist-clean"));
        let cleaned = removed || dist_clean;
        (!cleaned).then(|| "apt-get install without rm -rf /var/lib/apt/lists/* in the same RUN".to_string())
    });
}

fn apt_get_no_yes(model: &Model, out: &mut Emitter) {
    per_run(model, out, |_, _, _, c| {
        apt_install(c)?;
        let quiet2 = c.args().iter().any(|w| {
            let t = w.text.as_str();
            t == "-q=2"
                || t == "--quiet=2"
                || (t.starts_with('-') && !t.starts_with("--") && t.matches('q').count() >= 2)
        });
        let assume = apt_options(c).iter().any(|o| o.starts_with("apt::get::assume-yes=") && !o.ends_with("=false"));
        let yes = c.has_flag(&["-y", "--yes", "--assume-yes"]) || quiet2 || assume;
        (!yes).then(|| "apt-get install without -y: the build cannot answer the prompt".to_string())
    });
}

fn apt_get_recommends(model: &Model, out: &mut Emitter) {
    per_run(model, out, |_, _, _, c| {
        apt_install(c)?;
        let by_option =
            apt_options(c).iter().any(|o| o == "apt::install-recommends=false" || o == "apt::install-recommends=0");
        let ok = c.has_flag(&["--no-install-recommends"]) || by_option;
        (!ok).then(|| "apt-get install without --no-install-recommends".to_string())
    });
}

const APK_VALUE_OPTS: &[&str] = &[
    "-t",
    "--virtual",
    "-X",
    "--repository",
    "-p",
    "--root",
    "--arch",
    "--cache-dir",
    "--keys-dir",
    "--repositories-file",
];

fn apk_unpinned(model: &Model, out: &mut Emitter) {
    per_run(model, out, |_, _, _, c| {
        let pkgs = subcommand_args(c, &["apk"], &["add"], APK_VALUE_OPTS)?;
        let bad = unpinned(&pkgs, |p| p.contains(['=', '~', '<', '>']));
        (!bad.is_empty()).then(|| format!("apk add {}: pin versions (pkg=version)", bad.join(" ")))
    });
}

fn apk_no_cache(model: &Model, out: &mut Emitter) {
    per_run(model, out, |_, step, _, c| {
        subcommand_args(c, &["apk"], &["add"], APK_VALUE_OPTS)?;
        let ok =
            c.has_flag(&["--no-cache"]) || mounts_over(step, "/var/cache/apk") || mounts_over(step, "/etc/apk/cache");
        (!ok).then(|| "apk add without --no-cache".to_string())
    });
}

const PIP_VALUE_OPTS: &[&str] = &[
    "-r",
    "--requirement",
    "-c",
    "--constraint",
    "-e",
    "--editable",
    "-i",
    "--index-url",
    "--extra-index-url",
    "-f",
    "--find-links",
    "-t",
    "--target",
    "--prefix",
    "--root",
    "--src",
    "--platform",
    "--python-version",
    "--implementation",
    "--abi",
    "--upgrade-strategy",
    "--progress-bar",
    "--log",
    "--proxy",
    "--retries",
    "--timeout",
    "--cache-dir",
    "--trusted-host",
    "--global-option",
    "--config-settings",
    "-C",
    "--no-binary",
    "--only-binary",
    "--exists-action",
    "--report",
];

/// `pip install ...`, `pip3 install ...` or `python3 -m pip install ...`: the words after `install`.
fn pip_install(c: &Command) -> Option<Vec<&Word>> {
    let name = c.name();
    let is_pip = name.strip_prefix("pip").is_some_and(|v| v.chars().all(|ch| ch.is_ascii_digit() || ch == '.'));
    let is_python = name.strip_prefix("python").is_some_and(|v| v.chars().all(|ch| ch.is_ascii_digit() || ch == '.'));
    let args: Vec<&Word> = if is_pip {
        c.args().iter().collect()
    } else if is_python {
        let a = c.args();
        let m = a.iter().position(|w| w.text == "-m")?;
        if a.get(m + 1)?.text != "pip" {
            return None;
        }
        a[m + 2..].iter().collect()
    } else {
        return None;
    };
    let mut rest = args.into_iter();
    let mut out = Vec::new();
    let mut seen_install = false;
    while let Some(w) = rest.next() {
        let t = w.text.as_str();
        if !seen_install {
            if t == "install" {
                seen_install = true;
            } else if !t.starts_with('-') {
                return None;
            }
            continue;
        }
        if PIP_VALUE_OPTS.contains(&t) {
            rest.next();
        } else if !t.starts_with('-') {
            out.push(w);
        }
    }
    seen_install.then_some(out)
}

fn pip_unpinned(model: &Model, out: &mut Emitter) {
    per_run(model, out, |_, _, _, c| {
        let pkgs = pip_install(c)?;
        let bad = unpinned(&pkgs, |p| p.contains(['=', '<', '>', '~', '@', '!']));
        (!bad.is_empty()).then(|| format!("pip install {}: pin versions (pkg==version)", bad.join(" ")))
    });
}

fn pip_cache(model: &Model, out: &mut Emitter) {
    per_run(model, out, |stage, step, _, c| {
        pip_install(c)?;
        let by_flag = c.args().iter().any(|w| w.text == "--no-cache-dir");
        let by_prefix = c.assignments.iter().any(|a| a.starts_with("PIP_NO_CACHE_DIR="));
        let by_env = model.lineage(stage.index).any(|s| {
            s.steps.iter().filter(|st| s.index != stage.index || st.line() < step.line()).any(
                |st| matches!(&st.command, Ok(Instr::Env(kvs)) if kvs.iter().any(|kv| kv.key == "PIP_NO_CACHE_DIR")),
            )
        });
        let ok = by_flag
            || by_prefix
            || by_env
            || mounts_over(step, "/root/.cache/pip")
            || mounts_over(step, "/root/.cache");
        (!ok).then(|| "pip install without --no-cache-dir".to_string())
    });
}

fn npm_unpinned(model: &Model, out: &mut Emitter) {
    const VALUE_OPTS: &[&str] = &["--prefix", "--registry", "--cache", "-w", "--workspace", "--tag"];
    per_run(model, out, |_, _, _, c| {
        let pkgs = subcommand_args(c, &["npm"], &["install", "i", "add", "isntall", "in"], VALUE_OPTS)?;
        let pinned = |p: &str| {
            let body = p.strip_prefix('@').unwrap_or(p);
            body.contains('@') || p.starts_with("git") || p.starts_with("github:") || p.starts_with("file:")
        };
        let bad = unpinned(&pkgs, pinned);
        (!bad.is_empty()).then(|| format!("npm install {}: pin versions (pkg@version)", bad.join(" ")))
    });
}

fn gem_unpinned(model: &Model, out: &mut Emitter) {
    const VALUE_OPTS: &[&str] = &[
        "-v",
        "--version",
        "-i",
        "--install-dir",
        "-n",
        "--bindir",
        "-s",
        "--source",
        "-P",
        "--trust-policy",
        "--platform",
    ];
    per_run(model, out, |_, _, _, c| {
        let gems = subcommand_args(c, &["gem"], &["install", "i"], VALUE_OPTS)?;
        if c.args().iter().any(|w| flag_matches(&w.text, &["-v", "--version"])) {
            return None;
        }
        let bad = unpinned(&gems, |g| g.contains(':'));
        (!bad.is_empty()).then(|| format!("gem install {}: pin versions (gem:version or -v)", bad.join(" ")))
    });
}

fn go_install_unpinned(model: &Model, out: &mut Emitter) {
    const VALUE_OPTS: &[&str] = &[
        "-ldflags",
        "-gcflags",
        "-asmflags",
        "-tags",
        "-o",
        "-mod",
        "-modfile",
        "-p",
        "-pkgdir",
        "-toolexec",
        "-overlay",
        "-buildmode",
    ];
    per_run(model, out, |_, _, _, c| {
        let pkgs = subcommand_args(c, &["go"], &["install"], VALUE_OPTS)?;
        let bad = unpinned(&pkgs, |p| p.contains('@'));
        (!bad.is_empty()).then(|| format!("go install {}: pin versions (pkg@version)", bad.join(" ")))
    });
}

fn yarn_cache(model: &Model, out: &mut Emitter) {
    per_run(model, out, |_, step, script, c| {
        subcommand_args(c, &["yarn"], &["install"], &[])?;
        let cleaned = script.named("yarn").any(|y| {
            let ops: Vec<&str> = y.operands(&[]).iter().map(|w| w.text.as_str()).collect();
            ops.starts_with(&["cache", "clean"])
        });
        let ok = cleaned || mounts_over(step, "/usr/local/share/.cache/yarn");
        (!ok).then(|| "yarn install without yarn cache clean in the same RUN".to_string())
    });
}
