//! Rules about RPM-based package managers in RUN: yum, dnf/microdnf and zypper — confirmation prompts,
//! cache cleanup and version pins.

use super::packages::{mounts_over, per_run, subcommand_args, unpinned};
use super::{Emitter, Example, Rule};
use crate::lint::finding::Severity;
use crate::lint::model::Model;
use crate::lint::shell::{Command, Script};

pub(super) static RULES: &[Rule] = &[
    Rule {
        code: "DL3030",
        name: "YumNoYes",
        aliases: &[],
        severity: Severity::Warning,
        summary: "`yum install` without `-y`.",
        rationale: "Without it yum asks for confirmation and the build aborts on end-of-file.",
        example: Example {
            bad: "FROM centos:7\nRUN yum install httpd-2.4.6 && yum clean all\n",
            bad_line: 2,
            good: "FROM centos:7\nRUN yum install -y httpd-2.4.6 && yum clean all\n",
            config: "",
            dockerignore: "",
        },
        check: yum_no_yes,
    },
    Rule {
        code: "DL3032",
        name: "YumNoClean",
        aliases: &[],
        severity: Severity::Warning,
        summary: "`yum install` without `yum clean all` in the same RUN.",
        rationale: "yum's metadata and package cache end up in the layer; clean them in the step that made them.",
        example: Example {
            bad: "FROM centos:7\nRUN yum install -y httpd-2.4.6\n",
            bad_line: 2,
            good: "FROM centos:7\nRUN yum install -y httpd-2.4.6 && yum clean all\n",
            config: "",
            dockerignore: "",
        },
        check: yum_no_clean,
    },
    Rule {
        code: "DL3033",
        name: "YumUnpinned",
        aliases: &[],
        severity: Severity::Warning,
        summary: "`yum install` of a package without a version (`pkg-version`).",
        rationale: "Unpinned packages make the image depend on the day it was built.",
        example: Example {
            bad: "FROM centos:7\nRUN yum install -y httpd && yum clean all\n",
            bad_line: 2,
            good: "FROM centos:7\nRUN yum install -y httpd-2.4.6 && yum clean all\n",
            config: "",
            dockerignore: "",
        },
        check: yum_unpinned,
    },
    Rule {
        code: "DL3038",
        name: "DnfNoYes",
        aliases: &[],
        severity: Severity::Warning,
        summary: "`dnf install` (or microdnf) without `-y`.",
        rationale: "Without it dnf asks for confirmation and the build aborts on end-of-file.",
        example: Example {
            bad: "FROM fedora:40\nRUN dnf install httpd-2.4.62 && dnf clean all\n",
            bad_line: 2,
            good: "FROM fedora:40\nRUN dnf install -y httpd-2.4.62 && dnf clean all\n",
            config: "",
            dockerignore: "",
        },
        check: dnf_no_yes,
    },
    Rule {
        code: "DL3040",
        name: "DnfNoClean",
        aliases: &[],
        severity: Severity::Warning,
        summary: "`dnf install` without `dnf clean all` in the same RUN.",
        rationale: "dnf's metadata and package cache end up in the layer; clean them in the step that made them.",
        example: Example {
            bad: "FROM fedora:40\nRUN dnf install -y httpd-2.4.62\n",
            bad_line: 2,
            good: "FROM fedora:40\nRUN dnf install -y httpd-2.4.62 && dnf clean all\nRUN microdnf install -y git-2.45.2 && microdnf clean all\n",
            config: "",
            dockerignore: "",
        },
        check: dnf_no_clean,
    },
    Rule {
        code: "DL3041",
        name: "DnfUnpinned",
        aliases: &[],
        severity: Severity::Warning,
        summary: "`dnf install` of a package without a version (`pkg-version`).",
        rationale: "Unpinned packages make the image depend on the day it was built.",
        example: Example {
            bad: "FROM fedora:40\nRUN dnf install -y httpd && dnf clean all\n",
            bad_line: 2,
            good: "FROM fedora:40\nRUN dnf install -y httpd-2.4.62 && dnf clean all\n",
            config: "",
            dockerignore: "",
        },
        check: dnf_unpinned,
    },
    Rule {
        code: "DL3034",
        name: "ZypperNonInteractive",
        aliases: &[],
        severity: Severity::Warning,
        summary: "`zypper install` (or remove, patch, ...) without `-n`/`--non-interactive`/`-y`.",
        rationale: "Without it zypper asks for confirmation and the build aborts on end-of-file.",
        example: Example {
            bad: "FROM opensuse/leap:15.6\nRUN zypper install httpd=2.4.58 && zypper clean\n",
            bad_line: 2,
            good: "FROM opensuse/leap:15.6\nRUN zypper -n install httpd=2.4.58 && zypper clean\n",
            config: "",
            dockerignore: "",
        },
        check: zypper_non_interactive,
    },
    Rule {
        code: "DL3035",
        name: "ZypperDistUpgrade",
        aliases: &[],
        severity: Severity::Warning,
        summary: "RUN calls `zypper dist-upgrade`.",
        rationale: "A distribution upgrade inside an image build swaps the base out from under you; use a newer \
                    base image instead.",
        example: Example {
            bad: "FROM opensuse/leap:15.6\nRUN zypper -n dist-upgrade\n",
            bad_line: 2,
            good: "FROM opensuse/leap:15.6\nRUN zypper -n patch && zypper clean\n",
            config: "",
            dockerignore: "",
        },
        check: zypper_dist_upgrade,
    },
    Rule {
        code: "DL3036",
        name: "ZypperNoClean",
        aliases: &[],
        severity: Severity::Warning,
        summary: "`zypper install` without `zypper clean` in the same RUN.",
        rationale: "zypper's package cache ends up in the layer; clean it in the step that filled it.",
        example: Example {
            bad: "FROM opensuse/leap:15.6\nRUN zypper -n install httpd=2.4.58\n",
            bad_line: 2,
            good: "FROM opensuse/leap:15.6\nRUN zypper -n install httpd=2.4.58 && zypper clean\n",
            config: "",
            dockerignore: "",
        },
        check: zypper_no_clean,
    },
    Rule {
        code: "DL3037",
        name: "ZypperUnpinned",
        aliases: &[],
        severity: Severity::Warning,
        summary: "`zypper install` of a package without a version (`pkg=version`).",
        rationale: "Unpinned packages make the image depend on the day it was built.",
        example: Example {
            bad: "FROM opensuse/leap:15.6\nRUN zypper -n install httpd && zypper clean\n",
            bad_line: 2,
            good: "FROM opensuse/leap:15.6\nRUN zypper -n install 'httpd>=2.4' && zypper clean\n",
            config: "",
            dockerignore: "",
        },
        check: zypper_unpinned,
    },
];

const YUM_VALUE_OPTS: &[&str] = &[
    "-c",
    "--config",
    "--installroot",
    "--releasever",
    "--enablerepo",
    "--disablerepo",
    "-x",
    "--exclude",
    "--setopt",
];
const YUM_INSTALL: &[&str] = &["install", "groupinstall", "localinstall", "reinstall"];

/// RPM versions are written `name-version[-release]`: a `-` followed by a digit after the name.
fn rpm_pinned(p: &str) -> bool {
    p.contains('=')
        || p.char_indices().any(|(i, c)| c == '-' && i > 0 && p[i + 1..].starts_with(|d: char| d.is_ascii_digit()))
}

/// True when the script runs `<tool> clean all` (any of `tools`) or removes one of the cache `dirs`.
fn cleans(script: &Script, tools: &[&str], dirs: &[&str]) -> bool {
    let by_tool = script.commands.iter().any(|c| {
        let ops: Vec<&str> = c.operands(YUM_VALUE_OPTS).iter().map(|w| w.text.as_str()).collect();
        tools.contains(&c.name()) && ops.starts_with(&["clean"])
    });
    let by_rm = script.named("rm").any(|rm| rm.args().iter().any(|w| dirs.iter().any(|d| w.text.starts_with(d))));
    by_tool || by_rm
}

fn yum_no_yes(model: &Model, out: &mut Emitter) {
    per_run(model, out, |_, _, _, c| {
        subcommand_args(c, &["yum"], YUM_INSTALL, YUM_VALUE_OPTS)?;
        (!c.has_flag(&["-y", "--assumeyes"])).then(|| "yum install without -y".to_string())
    });
}

fn yum_no_clean(model: &Model, out: &mut Emitter) {
    per_run(model, out, |_, step, script, c| {
        subcommand_args(c, &["yum"], YUM_INSTALL, YUM_VALUE_OPTS)?;
        let ok = cleans(script, &["yum"], &["/var/cache/yum"]) || mounts_over(step, "/var/cache/yum");
        (!ok).then(|| "yum install without yum clean all in the same RUN".to_string())
    });
}

fn yum_unpinned(model: &Model, out: &mut Emitter) {
    per_run(model, out, |_, _, _, c| {
        let pkgs = subcommand_args(c, &["yum"], &["install", "reinstall"], YUM_VALUE_OPTS)?;
        let bad = unpinned(&pkgs, rpm_pinned);
        (!bad.is_empty()).then(|| format!("yum install {}: pin versions (pkg-version)", bad.join(" ")))
    });
}

const DNF: &[&str] = &["dnf", "microdnf", "dnf5"];

fn dnf_no_yes(model: &Model, out: &mut Emitter) {
    per_run(model, out, |_, _, _, c| {
        subcommand_args(c, DNF, YUM_INSTALL, YUM_VALUE_OPTS)?;
        (!c.has_flag(&["-y", "--assumeyes"])).then(|| format!("{} install without -y", c.name()))
    });
}

fn dnf_no_clean(model: &Model, out: &mut Emitter) {
    per_run(model, out, |_, step, script, c| {
        subcommand_args(c, DNF, YUM_INSTALL, YUM_VALUE_OPTS)?;
        let ok = cleans(script, DNF, &["/var/cache/dnf", "/var/cache/yum"])
            || mounts_over(step, "/var/cache/dnf")
            || mounts_over(step, "/var/cache/yum");
        (!ok).then(|| format!("{} install without {} clean all in the same RUN", c.name(), c.name()))
    });
}

fn dnf_unpinned(model: &Model, out: &mut Emitter) {
    per_run(model, out, |_, _, _, c| {
        let pkgs = subcommand_args(c, DNF, &["install", "reinstall"], YUM_VALUE_OPTS)?;
        let bad = unpinned(&pkgs, rpm_pinned);
        (!bad.is_empty()).then(|| format!("{} install {}: pin versions (pkg-version)", c.name(), bad.join(" ")))
    });
}

const ZYPPER_VALUE_OPTS: &[&str] =
    &["-R", "--root", "-r", "--repo", "--from", "-t", "--type", "-D", "--reposd-dir", "-C", "--cache-dir"];
const ZYPPER_INSTALL: &[&str] = &["install", "in"];

fn zypper_sub(c: &Command) -> Option<String> {
    (c.name() == "zypper").then(|| c.subcommand(ZYPPER_VALUE_OPTS).unwrap_or("").to_string())
}

fn zypper_non_interactive(model: &Model, out: &mut Emitter) {
    const ASKS: &[&str] =
        &["install", "in", "remove", "rm", "source-install", "si", "patch", "update", "up", "dist-upgrade", "dup"];
    per_run(model, out, |_, _, _, c| {
        let sub = zypper_sub(c)?;
        let ok = c.has_flag(&["-n", "--non-interactive", "-y", "--no-confirm"]);
        (ASKS.contains(&sub.as_str()) && !ok).then(|| format!("zypper {sub} without -n (--non-interactive)"))
    });
}

fn zypper_dist_upgrade(model: &Model, out: &mut Emitter) {
    per_run(model, out, |_, _, _, c| {
        let sub = zypper_sub(c)?;
        matches!(sub.as_str(), "dist-upgrade" | "dup").then(|| format!("zypper {sub}: use a newer base image instead"))
    });
}

fn zypper_no_clean(model: &Model, out: &mut Emitter) {
    per_run(model, out, |_, step, script, c| {
        let sub = zypper_sub(c)?;
        if !ZYPPER_INSTALL.contains(&sub.as_str()) {
            return None;
        }
        let cleaned = script.named("zypper").any(|z| matches!(z.subcommand(ZYPPER_VALUE_OPTS), Some("clean" | "cc")))
            || mounts_over(step, "/var/cache/zypp");
        (!cleaned).then(|| "zypper install without zypper clean in the same RUN".to_string())
    });
}

fn zypper_unpinned(model: &Model, out: &mut Emitter) {
    per_run(model, out, |_, _, _, c| {
        let pkgs = subcommand_args(c, &["zypper"], ZYPPER_INSTALL, ZYPPER_VALUE_OPTS)?;
        let bad = unpinned(&pkgs, |p| p.contains(['=', '<', '>']));
        (!bad.is_empty()).then(|| format!("zypper install {}: pin versions (pkg=version)", bad.join(" ")))
    });
}
