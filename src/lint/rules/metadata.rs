//! Rules about image metadata: label keys, the label schema a team configures (`label-schema`,
//! `strict-labels`), and the presence of a HEALTHCHECK.

use super::{Emitter, Example, Rule};
use crate::dockerfile::instructions::{Command, KeyValue};
use crate::lint::finding::Severity;
use crate::lint::model::Model;

pub(super) static RULES: &[Rule] = &[
    Rule {
        code: "DL3048",
        name: "InvalidLabelKey",
        aliases: &[],
        severity: Severity::Style,
        summary: "A LABEL key does not follow Docker's key format.",
        rationale: "Keys should be lower-case reverse-DNS names: start with a letter, end with a letter or digit, \
                    use only `a-z 0-9 . -`, no `..` or `--`, and stay out of the reserved `com.docker.`, \
                    `io.docker.` and `org.dockerproject.` namespaces.",
        example: Example {
            bad: "FROM debian:12\nLABEL Version=1\n",
            bad_line: 2,
            good: "FROM debian:12\nLABEL org.opencontainers.image.version=1 maintainer=me\n",
            config: "",
            dockerignore: "",
        },
        check: label_key_format,
    },
    Rule {
        code: "DL3049",
        name: "RequiredLabelMissing",
        aliases: &[],
        severity: Severity::Info,
        summary: "A label listed in the configured `label-schema` is missing from the final image.",
        rationale: "Teams use labels for ownership, provenance and licensing; the schema in the configuration \
                    says which ones every image must carry. Labels set in a stage the final one is built FROM \
                    count.",
        example: Example {
            bad: "FROM debian:12\nLABEL org.opencontainers.image.title=app\n",
            bad_line: 1,
            good: "FROM debian:12\nLABEL org.opencontainers.image.title=app owner=team-a\n",
            config: "label-schema:\n  owner: text\n",
            dockerignore: "",
        },
        check: required_label_missing,
    },
    Rule {
        code: "DL3050",
        name: "SuperfluousLabel",
        aliases: &[],
        severity: Severity::Info,
        summary: "A label is not in the configured `label-schema` while `strict-labels` is on.",
        rationale: "With strict labels the schema is the complete list; anything else is a typo or belongs in \
                    the schema.",
        example: Example {
            bad: "FROM debian:12\nLABEL owner=team-a ownr=typo\n",
            bad_line: 2,
            good: "FROM debian:12\nLABEL owner=team-a\n",
            config: "label-schema:\n  owner: text\nstrict-labels: true\n",
            dockerignore: "",
        },
        check: superfluous_label,
    },
    Rule {
        code: "DL3051",
        name: "EmptyLabel",
        aliases: &[],
        severity: Severity::Warning,
        summary: "A label from the configured `label-schema` is set to an empty value.",
        rationale: "An empty required label satisfies the letter of the schema but not its purpose.",
        example: Example {
            bad: "FROM debian:12\nLABEL owner=\"\"\n",
            bad_line: 2,
            good: "FROM debian:12\nLABEL owner=team-a\n",
            config: "label-schema:\n  owner: text\n",
            dockerignore: "",
        },
        check: empty_label,
    },
    Rule {
        code: "DL3057",
        name: "HealthcheckMissing",
        aliases: &[],
        severity: Severity::Ignore,
        summary: "The final image has no HEALTHCHECK (off unless a severity override turns it on).",
        rationale: "Without a HEALTHCHECK, Docker reports a container as running even when its service is wedged. \
                    Orchestrators often have their own probes, so the rule is off by default.",
        example: Example {
            bad: "FROM debian:12\nCMD [\"app\"]\n",
            bad_line: 1,
            good: "FROM debian:12\nHEALTHCHECK CMD [\"app\", \"--check\"]\n",
            config: "override:\n  info: [DL3057]\n",
            dockerignore: "",
        },
        check: healthcheck_missing,
    },
];

fn unquote(s: &str) -> &str {
    let s = s.trim();
    for q in ['"', '\''] {
        if let Some(inner) = s.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return inner;
        }
    }
    s
}

/// Every LABEL pair of a stage, with its line.
fn labels<'m>(model: &'m Model, stage: usize) -> Vec<(usize, &'m KeyValue)> {
    let mut out = Vec::new();
    for s in model.lineage(stage) {
        for step in &s.steps {
            if let Ok(Command::Label(kvs)) = &step.command {
                out.extend(kvs.iter().map(|kv| (step.line(), kv)));
            }
        }
    }
    out
}

fn valid_label_key(key: &str) -> bool {
    const RESERVED: &[&str] = &["com.docker.", "io.docker.", "org.dockerproject."];
    let first_ok = key.starts_with(|c: char| c.is_ascii_lowercase());
    let last_ok = key.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit());
    let chars_ok = key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-');
    first_ok
        && last_ok
        && chars_ok
        && !key.contains("..")
        && !key.contains("--")
        && !RESERVED.iter().any(|r| key.starts_with(r))
}

fn label_key_format(model: &Model, out: &mut Emitter) {
    for (_, step) in model.steps() {
        let Ok(Command::Label(kvs)) = &step.command else { continue };
        for kv in kvs {
            let key = unquote(&kv.key);
            if !key.contains('$') && !valid_label_key(key) {
                out.at(step.line(), format!("label key {key:?}: use lower-case reverse-DNS notation (a-z 0-9 . -)"));
            }
        }
    }
}

fn required_label_missing(model: &Model, out: &mut Emitter) {
    let Some(last) = model.stages.last() else { return };
    let present = labels(model, last.index);
    for name in model.config.label_schema.keys() {
        if !present.iter().any(|(_, kv)| unquote(&kv.key) == name) {
            out.at(last.line(), format!("label {name:?} required by label-schema is missing"));
        }
    }
}

fn superfluous_label(model: &Model, out: &mut Emitter) {
    if !model.config.strict_labels {
        return;
    }
    for (_, step) in model.steps() {
        let Ok(Command::Label(kvs)) = &step.command else { continue };
        for kv in kvs {
            let key = unquote(&kv.key);
            if !model.config.label_schema.contains_key(key) {
                out.at(step.line(), format!("label {key:?} is not in label-schema (strict-labels is on)"));
            }
        }
    }
}

fn empty_label(model: &Model, out: &mut Emitter) {
    for (_, step) in model.steps() {
        let Ok(Command::Label(kvs)) = &step.command else { continue };
        for kv in kvs {
            let key = unquote(&kv.key);
            if model.config.label_schema.contains_key(key) && unquote(&kv.value).is_empty() {
                out.at(step.line(), format!("label {key:?} from label-schema is empty"));
            }
        }
    }
}

fn healthcheck_missing(model: &Model, out: &mut Emitter) {
    let Some(last) = model.stages.last() else { return };
    let has =
        model.lineage(last.index).any(|s| s.steps.iter().any(|st| matches!(st.command, Ok(Command::Healthcheck(_)))));
    if !has {
        out.at(last.line(), "the final image has no HEALTHCHECK");
    }
}
