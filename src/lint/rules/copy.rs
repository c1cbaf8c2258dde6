//! Rules about COPY and ADD: ADD where COPY fits, destinations, `--from` references, whole-filesystem
//! copies, and sources that `.dockerignore` leaves out of the context.

use super::instructions::is_absolute;
use super::{Emitter, Example, Rule};
use crate::context::cleanpath;
use crate::dockerfile::instructions::{Command, Copy};
use crate::lint::finding::Severity;
use crate::lint::model::{Model, Stage};

pub(super) static RULES: &[Rule] = &[
    Rule {
        code: "DL3020",
        name: "AddInsteadOfCopy",
        aliases: &[],
        severity: Severity::Error,
        summary: "ADD copies plain local files or directories; COPY does that without surprises.",
        rationale: "ADD also fetches URLs and unpacks local archives, so a reader of `ADD src /dst` must check \
                    what `src` is. Keep ADD for URLs and archives and use COPY for the rest.",
        example: Example {
            bad: "FROM debian:12\nADD app/ /srv/app/\n",
            bad_line: 2,
            good: "FROM debian:12\nCOPY app/ /srv/app/\nADD rootfs.tar.gz /\nADD https://example.com/x.tgz /tmp/\n",
            config: "",
            dockerignore: "",
        },
        check: add_instead_of_copy,
    },
    Rule {
        code: "DL3021",
        name: "CopyMultipleToFile",
        aliases: &[],
        severity: Severity::Error,
        summary: "COPY or ADD with several sources has a destination that does not end in `/`.",
        rationale: "With more than one source the destination must be a directory, and Docker requires it to \
                    be written with a trailing slash.",
        example: Example {
            bad: "FROM debian:12\nCOPY a.txt b.txt /dst\n",
            bad_line: 2,
            good: "FROM debian:12\nCOPY a.txt b.txt /dst/\nCOPY a.txt /dst\n",
            config: "",
            dockerignore: "",
        },
        check: multiple_sources_to_file,
    },
    Rule {
        code: "DL3022",
        name: "CopyFromUnknownStage",
        aliases: &[],
        severity: Severity::Warning,
        summary: "COPY --from names no earlier stage.",
        rationale: "`--from` takes an earlier stage's name or number, or an image reference. A bare word that is \
                    no stage is pulled as an image from Docker Hub, which is rarely what was meant. Values with a \
                    `:` are image references and are not checked.",
        example: Example {
            bad: "FROM debian:12 AS build\nFROM debian:12\nCOPY --from=biuld /out /out\n",
            bad_line: 3,
            good: "FROM debian:12 AS build\nFROM debian:12\nCOPY --from=build /out /out\nCOPY --from=0 /a /a\nCOPY --from=nginx:1.27 /etc/nginx /etc/nginx\n",
            config: "",
            dockerignore: "",
        },
        check: copy_from_unknown,
    },
    Rule {
        code: "DL3023",
        name: "CopyFromOwnStage",
        aliases: &[],
        severity: Severity::Error,
        summary: "COPY --from names the stage it is in.",
        rationale: "A stage cannot copy from itself; the build fails with a dependency cycle.",
        example: Example {
            bad: "FROM debian:12 AS build\nCOPY --from=build /a /b\n",
            bad_line: 2,
            good: "FROM debian:12 AS build\nFROM debian:12\nCOPY --from=build /a /b\n",
            config: "",
            dockerignore: "",
        },
        check: copy_from_own_stage,
    },
    Rule {
        code: "DL3045",
        name: "CopyRelativeWithoutWorkdir",
        aliases: &[],
        severity: Severity::Warning,
        summary: "COPY to a relative destination while no WORKDIR is set in the stage.",
        rationale: "A relative destination is resolved against the base image's working directory, which the \
                    Dockerfile does not state. Set WORKDIR first or write an absolute path.",
        example: Example {
            bad: "FROM debian:12\nCOPY app.py app.py\n",
            bad_line: 2,
            good: "FROM debian:12 AS base\nWORKDIR /srv\nFROM base\nCOPY app.py app.py\n",
            config: "",
            dockerignore: "",
        },
        check: copy_relative_without_workdir,
    },
    Rule {
        code: "DL3067",
        name: "CopyWholeStage",
        aliases: &[],
        severity: Severity::Warning,
        summary: "COPY --from copies the whole root filesystem of another stage or image over `/`.",
        rationale: "Copying `/` drags every file of the other stage, package databases included, into this one; \
                    copy the paths you need.",
        example: Example {
            bad: "FROM debian:12 AS build\nFROM debian:12\nCOPY --from=build / /\n",
            bad_line: 3,
            good: "FROM debian:12 AS build\nFROM debian:12\nCOPY --from=build /out/ /usr/local/bin/\nCOPY --from=build / /opt/build/\n",
            config: "",
            dockerignore: "",
        },
        check: copy_whole_stage,
    },
    Rule {
        code: "CopyIgnoredFile",
        name: "CopyIgnoredFile",
        aliases: &[],
        severity: Severity::Warning,
        summary: "COPY or ADD names a source that `.dockerignore` excludes from the context.",
        rationale: "Excluded files are not sent to the build, so the instruction fails or silently copies less \
                    than it says. Fix the ignore file or the instruction.",
        example: Example {
            bad: "FROM debian:12\nCOPY secrets/key.pem /etc/key.pem\n",
            bad_line: 2,
            good: "FROM debian:12\nCOPY app/ /srv/app/\n",
            config: "",
            dockerignore: "secrets\n*.log\n",
        },
        check: copy_ignored_file,
    },
];

/// Every COPY/ADD of every stage, with its line.
fn copies<'m, 'a>(model: &'m Model<'a>) -> impl Iterator<Item = (&'m Stage<'a>, usize, &'m Copy)> + 'm {
    model.steps().filter_map(|(stage, step)| match &step.command {
        Ok(Command::Copy(c)) => Some((stage, step.line(), c)),
        _ => None,
    })
}

fn is_url(src: &str) -> bool {
    src.contains("://") || src.starts_with("git@")
}

fn is_archive(src: &str) -> bool {
    const EXT: &[&str] = &[
        ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz", ".tbz2", ".tar.xz", ".txz", ".tar.zst", ".tzst", ".gz", ".bz2",
        ".xz", ".zst", ".lz4",
    ];
    let lower = src.to_ascii_lowercase();
    EXT.iter().any(|e| lower.ends_with(e))
}

fn add_instead_of_copy(model: &Model, out: &mut Emitter) {
    for (_, line, c) in copies(model) {
        if !c.add {
            continue;
        }
        let plain: Vec<&str> = c
            .sources
            .iter()
            .map(String::as_str)
            .filter(|s| !is_url(s) && !is_archive(s) && !s.contains('$') && !s.starts_with("<<"))
            .collect();
        if !plain.is_empty() && plain.len() == c.sources.len() {
            out.at(line, format!("ADD {}: use COPY for local files and directories", plain.join(" ")));
        }
    }
}

fn multiple_sources_to_file(model: &Model, out: &mut Emitter) {
    for (_, line, c) in copies(model) {
        // Heredoc markers (`<<EOF`) are among the source words already.
        let count = c.sources.len();
        if count > 1 && !c.dest.ends_with('/') && !c.dest.ends_with('\\') {
            let kw = if c.add { "ADD" } else { "COPY" };
            out.at(line, format!("{kw} with {count} sources: end the destination with a slash ({}/)", c.dest));
        }
    }
}

fn copy_from_unknown(model: &Model, out: &mut Emitter) {
    for (stage, line, c) in copies(model) {
        let Some(from) = c.from.as_deref() else { continue };
        if from.contains(':')
            || from.contains('$')
            || from.contains('/')
            || from.eq_ignore_ascii_case(stage.name().unwrap_or(""))
        {
            continue;
        }
        if model.stage_ref(from, stage.index).is_none() {
            out.at(line, format!("COPY --from={from}: no earlier stage has that name or number"));
        }
    }
}

fn copy_from_own_stage(model: &Model, out: &mut Emitter) {
    for (stage, line, c) in copies(model) {
        let Some(from) = c.from.as_deref() else { continue };
        let own_name = stage.name().is_some_and(|n| n.eq_ignore_ascii_case(from));
        if own_name || from.parse::<usize>() == Ok(stage.index) {
            out.at(line, format!("COPY --from={from}: a stage cannot copy from itself"));
        }
    }
}

fn copy_relative_without_workdir(model: &Model, out: &mut Emitter) {
    for (stage, line, c) in copies(model) {
        if is_absolute(&c.dest) || c.add {
            continue;
        }
        // WORKDIR counts when it comes before this COPY in the stage, or anywhere in a stage it is built FROM.
        let before_here = stage.steps.iter().take_while(|s| s.line() < line);
        let set_here = before_here.into_iter().any(|s| matches!(s.command, Ok(Command::Workdir(_))));
        let inherited = model
            .lineage(stage.index)
            .skip(1)
            .any(|s| s.steps.iter().any(|st| matches!(st.command, Ok(Command::Workdir(_)))));
        if !set_here && !inherited {
            out.at(line, format!("COPY to {}: set WORKDIR first or use an absolute destination", c.dest));
        }
    }
}

fn copy_whole_stage(model: &Model, out: &mut Emitter) {
    for (_, line, c) in copies(model) {
        let Some(from) = c.from.as_deref() else { continue };
        // Copying a whole export stage into a directory (`/ /usr/local`) is a normal pattern; over `/` it is not.
        if cleanpath::clean(&c.dest) == "/" && c.sources.iter().any(|s| cleanpath::clean(s) == "/") {
            out.at(line, format!("COPY --from={from} /: copy the paths you need, not the whole filesystem"));
        }
    }
}

fn copy_ignored_file(model: &Model, out: &mut Emitter) {
    let Some(matcher) = model.dockerignore else { return };
    for (_, line, c) in copies(model) {
        if c.from.is_some() {
            continue;
        }
        for src in &c.sources {
            if is_url(src) || src.contains('$') || src.starts_with("<<") {
                continue;
            }
            let rel = cleanpath::clean(&format!("/{src}"));
            let rel = rel.trim_start_matches('/');
            if rel.is_empty() {
                continue;
            }
            if matcher.matches_or_parent_matches(rel).unwrap_or(false) {
                out.at(line, format!("{src} is excluded by .dockerignore and will not be in the context"));
            }
        }
    }
}
