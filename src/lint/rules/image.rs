//! Rules about FROM lines and stages: base image tags, registries, platforms, stage names.

use super::{pulled_image, Emitter, Example, Rule};
use crate::lint::finding::Severity;
use crate::lint::model::Model;

pub(super) static RULES: &[Rule] = &[
    Rule {
        code: "DL3006",
        name: "UntaggedImage",
        aliases: &[],
        severity: Severity::Warning,
        summary: "FROM names an image without a tag or digest.",
        rationale: "Without a tag the build takes whatever `latest` points to on the day it runs, so two builds \
                    of the same Dockerfile can differ. Name a release tag, or pin a digest.",
        example: Example {
            bad: "FROM debian\nRUN true\n",
            bad_line: 1,
            good: "ARG VERSION=12.5\nFROM debian:${VERSION}\nFROM debian@sha256:4c6b4d4ff7e0e0c0dcd42c04ad8cd0d4d8b84e0efc38e7e1f3cb4ee8a1e7f7c5 AS pinned\nFROM pinned\n",
            config: "",
            dockerignore: "",
        },
        check: untagged_image,
    },
    Rule {
        code: "DL3007",
        name: "LatestTag",
        aliases: &[],
        severity: Severity::Warning,
        summary: "FROM names an image by its `latest` tag.",
        rationale: "`latest` moves: the image you tested is not the one the next build gets. Pin the release \
                    you mean.",
        example: Example {
            bad: "FROM alpine:latest\n",
            bad_line: 1,
            good: "FROM alpine:3.20\n",
            config: "",
            dockerignore: "",
        },
        check: latest_tag,
    },
    Rule {
        code: "DL3026",
        name: "UntrustedRegistry",
        aliases: &[],
        severity: Severity::Error,
        summary: "FROM pulls from a registry that is not in the configured `trustedRegistries`.",
        rationale: "Teams that mirror or vet base images list their registries in the configuration; an image \
                    from anywhere else bypasses that review. The rule is silent when no registry is configured.",
        example: Example {
            bad: "FROM quay.io/team/app:1.0\n",
            bad_line: 1,
            good: "FROM registry.example.com/base:1.0\nFROM debian:12\n",
            config: "trustedRegistries:\n  - registry.example.com\n  - docker.io\n",
            dockerignore: "",
        },
        check: untrusted_registry,
    },
    Rule {
        code: "DL3029",
        name: "FromPlatformFlagConstDisallowed",
        aliases: &[],
        severity: Severity::Warning,
        summary: "FROM --platform is set to a constant platform.",
        rationale: "A fixed platform makes the Dockerfile build the wrong architecture on other machines and \
                    defeats multi-platform builds. Use `$BUILDPLATFORM`/`$TARGETPLATFORM` or drop the flag.",
        example: Example {
            bad: "FROM --platform=linux/amd64 debian:12\n",
            bad_line: 1,
            good: "FROM --platform=$BUILDPLATFORM golang:1.22 AS build\nFROM debian:12\n",
            config: "",
            dockerignore: "",
        },
        check: platform_constant,
    },
    Rule {
        code: "DL3065",
        name: "RedundantTargetPlatform",
        aliases: &[],
        severity: Severity::Warning,
        summary: "FROM --platform=$TARGETPLATFORM says what is already the default.",
        rationale: "Every stage is built for the target platform unless told otherwise; the flag adds noise and \
                    suggests the stage is special when it is not.",
        example: Example {
            bad: "FROM --platform=$TARGETPLATFORM debian:12\n",
            bad_line: 1,
            good: "FROM debian:12\n",
            config: "",
            dockerignore: "",
        },
        check: redundant_target_platform,
    },
    Rule {
        code: "DL3024",
        name: "DuplicateStageName",
        aliases: &[],
        severity: Severity::Error,
        summary: "Two stages have the same name.",
        rationale: "Stage names are compared without regard to case and must be unique; BuildKit refuses the \
                    file, and a reader cannot tell which stage `--from=name` means.",
        example: Example {
            bad: "FROM debian:12 AS build\nFROM alpine:3.20 AS Build\n",
            bad_line: 2,
            good: "FROM debian:12 AS build\nFROM alpine:3.20 AS test\n",
            config: "",
            dockerignore: "",
        },
        check: duplicate_stage_name,
    },
    Rule {
        code: "DL3063",
        name: "ReservedStageName",
        aliases: &[],
        severity: Severity::Warning,
        summary: "A stage is named `scratch` or `context`, words that already mean something in FROM and COPY.",
        rationale: "`FROM scratch` means the empty image and `context` names the build context; a stage with \
                    either name is shadowed or shadows them.",
        example: Example {
            bad: "FROM debian:12 AS scratch\n",
            bad_line: 1,
            good: "FROM debian:12 AS base\n",
            config: "",
            dockerignore: "",
        },
        check: reserved_stage_name,
    },
    Rule {
        code: "StageNameCasing",
        name: "StageNameCasing",
        aliases: &[],
        severity: Severity::Style,
        summary: "A stage name has upper-case letters.",
        rationale: "Stage names are matched without regard to case; writing them in lower case everywhere keeps \
                    `FROM`, `COPY --from` and `--target` consistent.",
        example: Example {
            bad: "FROM debian:12 AS Builder\n",
            bad_line: 1,
            good: "FROM debian:12 AS builder\n",
            config: "",
            dockerignore: "",
        },
        check: stage_name_casing,
    },
    Rule {
        code: "FromAsCasing",
        name: "FromAsCasing",
        aliases: &[],
        severity: Severity::Style,
        summary: "The `AS` in a FROM line is not written in the same case as `FROM`.",
        rationale: "`FROM x as y` mixes conventions; keep the keyword and `AS` in the same case.",
        example: Example {
            bad: "FROM debian:12 as build\n",
            bad_line: 1,
            good: "FROM debian:12 AS build\nfrom debian:12 as other\n",
            config: "",
            dockerignore: "",
        },
        check: from_as_casing,
    },
];

fn untagged_image(model: &Model, out: &mut Emitter) {
    for stage in &model.stages {
        let Some(from) = &stage.from else { continue };
        if let Some(image) = pulled_image(model, stage.index, &from.image) {
            if image.explicit_tag().is_none() && image.digest().is_none() {
                out.at(
                    stage.line(),
                    format!("FROM {}: name a tag (e.g. {}:<version>) or a digest", from.image, from.image),
                );
            }
        }
    }
}

fn latest_tag(model: &Model, out: &mut Emitter) {
    for stage in &model.stages {
        let Some(from) = &stage.from else { continue };
        if let Some(image) = pulled_image(model, stage.index, &from.image) {
            if image.explicit_tag() == Some("latest") && image.digest().is_none() {
                out.at(stage.line(), format!("FROM {}: `latest` moves; pin a release tag", from.image));
            }
        }
    }
}

fn untrusted_registry(model: &Model, out: &mut Emitter) {
    let trusted = &model.config.trusted_registries;
    if trusted.is_empty() {
        return;
    }
    for stage in &model.stages {
        let Some(from) = &stage.from else { continue };
        let Some(image) = pulled_image(model, stage.index, &from.image) else { continue };
        let domain = image.domain();
        if !trusted.iter().any(|t| registry_matches(t, domain)) {
            out.at(stage.line(), format!("FROM {}: registry {domain} is not in trustedRegistries", from.image));
        }
    }
}

/// A trusted-registry entry matches its host exactly, Docker Hub's aliases, or `*.suffix` patterns.
fn registry_matches(entry: &str, domain: &str) -> bool {
    let hub = |d: &str| matches!(d, "docker.io" | "index.docker.io" | "registry-1.docker.io" | "hub.docker.com");
    match entry.strip_prefix("*.") {
        Some(suffix) => domain.ends_with(&format!(".{suffix}")),
        None => entry == "*" || entry.eq_ignore_ascii_case(domain) || (hub(entry) && hub(domain)),
    }
}

fn platform_constant(model: &Model, out: &mut Emitter) {
    for stage in &model.stages {
        if let Some(platform) = stage.from.as_ref().and_then(|f| f.platform.as_deref()) {
            if !platform.contains('$') {
                out.at(
                    stage.line(),
                    format!("FROM --platform={platform}: a fixed platform breaks other architectures"),
                );
            }
        }
    }
}

fn redundant_target_platform(model: &Model, out: &mut Emitter) {
    for stage in &model.stages {
        if let Some(platform) = stage.from.as_ref().and_then(|f| f.platform.as_deref()) {
            if matches!(platform, "$TARGETPLATFORM" | "${TARGETPLATFORM}") {
                out.at(stage.line(), format!("FROM --platform={platform} is the default; drop the flag"));
            }
        }
    }
}

fn duplicate_stage_name(model: &Model, out: &mut Emitter) {
    for stage in &model.stages {
        let Some(name) = stage.name() else { continue };
        if let Some(first) = model.stage_named(name, stage.index) {
            let line = model.stages[first].line();
            out.at(stage.line(), format!("stage name {name:?} is already used on line {line}"));
        }
    }
}

fn reserved_stage_name(model: &Model, out: &mut Emitter) {
    for stage in &model.stages {
        if let Some(name) =
            stage.name().filter(|n| n.eq_ignore_ascii_case("scratch") || n.eq_ignore_ascii_case("context"))
        {
            out.at(stage.line(), format!("stage name {name:?} is a reserved word"));
        }
    }
}

fn stage_name_casing(model: &Model, out: &mut Emitter) {
    for stage in &model.stages {
        if let Some(name) = stage.name().filter(|n| n.chars().any(|c| c.is_ascii_uppercase())) {
            out.at(stage.line(), format!("stage name {name:?} should be lower case: {:?}", name.to_ascii_lowercase()));
        }
    }
}

fn from_as_casing(model: &Model, out: &mut Emitter) {
    for stage in &model.stages {
        let (Some(as_word), keyword) = (stage.ins.args.get(1), &stage.ins.keyword) else { continue };
        let upper = |s: &str| s.chars().all(|c| !c.is_ascii_lowercase());
        let lower = |s: &str| s.chars().all(|c| !c.is_ascii_uppercase());
        if (upper(keyword) && !upper(as_word)) || (lower(keyword) && !lower(as_word)) {
            out.at(stage.line(), format!("'{as_word}' does not match the case of '{keyword}'"));
        }
    }
}
