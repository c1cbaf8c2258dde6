//! Seccomp for the sandbox: Docker's JSON profile format, parsed once at the edge ([`Profile::parse`],
//! errors name the file and what is wrong), resolved on rbuild's side into a [`Filter`] for this machine
//! (architecture, the capabilities the sandbox's root holds, the kernel version — Docker's `includes` /
//! `excludes`), compiled to BPF by libseccomp on rbuild's side ([`super::bpf`], cached in the store) and
//! loaded by the sandbox child as the very last step before `execve`, after `no_new_privs`.
//!
//! The default profile is `src/sandbox/seccomp-default.json`, written to be equivalent to Docker's: an
//! allowlist with EPERM for the rest (so `keyctl`, `add_key`, `request_key`, `unshare`, `mount`, `setns`,
//! `bpf`... fail), `clone` without namespace flags, `clone3` answered ENOSYS, `socket` without AF_VSOCK.
//! Semantics follow runc's: unknown syscall names are skipped (a profile outlives kernels), a rule whose
//! action is the default action is dropped, and the conditions of one rule are ANDed unless two name the
//! same argument, in which case each becomes a rule of its own (ORed).

use super::SandboxError;
use libseccomp::{ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::str::FromStr;

/// The default profile, in Docker's format.
pub const DEFAULT_PROFILE: &str = include_str!("seccomp-default.json");

/// Which seccomp filter a sandbox gets (`--security-opt seccomp=...`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Seccomp {
    /// `src/sandbox/seccomp-default.json`.
    #[default]
    Default,
    /// No filter at all (`seccomp=unconfined`).
    Unconfined,
    /// A profile the user named, already parsed.
    Profile(Box<Profile>),
}

impl Seccomp {
    /// The value of `--security-opt seccomp=VALUE`: `unconfined`, or the path of a JSON profile.
    pub fn from_option(value: &str) -> Result<Seccomp, SandboxError> {
        if value == "unconfined" {
            return Ok(Seccomp::Unconfined);
        }
        let path = Path::new(value);
        let text = std::fs::read_to_string(path).map_err(|e| SandboxError::BadProfile {
            file: value.to_string(),
            problem: format!("cannot read it: {e}"),
        })?;
        Profile::parse(&text, value).map(|p| Seccomp::Profile(Box::new(p)))
    }
}

/// Docker's seccomp profile (the fields rbuild honours; others such as `listenerPath` are refused by
/// their action, `SCMP_ACT_NOTIFY`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    pub default_action: Action,
    #[serde(default)]
    pub default_errno_ret: Option<u32>,
    #[serde(default)]
    pub architectures: Option<Vec<String>>,
    #[serde(default)]
    pub arch_map: Option<Vec<ArchMap>>,
    #[serde(default)]
    pub syscalls: Option<Vec<SyscallRule>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchMap {
    pub architecture: String,
    #[serde(default)]
    pub sub_architectures: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyscallRule {
    #[serde(default)]
    pub names: Option<Vec<String>>,
    /// The older single-name form.
    #[serde(default)]
    pub name: Option<String>,
    pub action: Action,
    #[serde(default)]
    pub errno_ret: Option<u32>,
    #[serde(default)]
    pub args: Option<Vec<Arg>>,
    #[serde(default)]
    pub includes: Option<Condition>,
    #[serde(default)]
    pub excludes: Option<Condition>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Arg {
    pub index: u32,
    pub value: u64,
    #[serde(default)]
    pub value_two: u64,
    pub op: Op,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(default)]
    pub caps: Option<Vec<String>>,
    #[serde(default)]
    pub arches: Option<Vec<String>>,
    #[serde(default)]
    pub min_kernel: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    #[serde(rename = "SCMP_ACT_KILL", alias = "SCMP_ACT_KILL_THREAD")]
    KillThread,
    #[serde(rename = "SCMP_ACT_KILL_PROCESS")]
    KillProcess,
    #[serde(rename = "SCMP_ACT_TRAP")]
    Trap,
    #[serde(rename = "SCMP_ACT_ERRNO")]
    Errno,
    #[serde(rename = "SCMP_ACT_TRACE")]
    Trace,
    #[serde(rename = "SCMP_ACT_ALLOW")]
    Allow,
    #[serde(rename = "SCMP_ACT_LOG")]
    Log,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    #[serde(rename = "SCMP_CMP_NE")]
    Ne,
    #[serde(rename = "SCMP_CMP_LT")]
    Lt,
    #[serde(rename = "SCMP_CMP_LE")]
    Le,
    #[serde(rename = "SCMP_CMP_EQ")]
    Eq,
    #[serde(rename = "SCMP_CMP_GE")]
    Ge,
    #[serde(rename = "SCMP_CMP_GT")]
    Gt,
    #[serde(rename = "SCMP_CMP_MASKED_EQ")]
    MaskedEq,
}

/// EPERM, Docker's errno when a profile names none.
const EPERM: u32 = 1;

impl Profile {
    /// Parse and check a profile; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Profile, SandboxError> {
        let bad = |problem: String| SandboxError::BadProfile { file: file.to_string(), problem };
        let profile: Profile = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        let maps = profile.arch_map.iter().flatten();
        let arches = profile
            .architectures
            .iter()
            .flatten()
            .chain(maps.flat_map(|m| std::iter::once(&m.architecture).chain(m.sub_architectures.iter().flatten())));
        for arch in arches {
            ScmpArch::from_str(arch)
                .map_err(|_| bad(format!("unknown architecture {arch:?} (use SCMP_ARCH_X86_64 ...)")))?;
        }
        for (i, rule) in profile.syscalls.iter().flatten().enumerate() {
            if rule.names.as_ref().is_none_or(|n| n.is_empty()) && rule.name.is_none() {
                return Err(bad(format!("syscalls[{i}] names no syscall (\"names\": [...])")));
            }
            if let Some(arg) = rule.args.iter().flatten().find(|a| a.index > 5) {
                return Err(bad(format!("syscalls[{i}]: argument index {} is out of range 0..=5", arg.index)));
            }
            for c in [&rule.includes, &rule.excludes].into_iter().flatten() {
                if let Some(k) = &c.min_kernel {
                    parse_kernel(k).ok_or_else(|| bad(format!("syscalls[{i}]: minKernel {k:?} is not MAJOR.MINOR")))?;
                }
            }
        }
        Ok(profile)
    }

    /// The filter this profile means on this machine, for a sandbox whose root holds `caps`.
    pub(crate) fn resolve(&self, caps: &[&str]) -> Filter {
        let native = native_arch();
        self.resolve_for(native.0, native.1, caps, kernel_version())
    }

    /// [`Profile::resolve`] for a given machine: `scmp_arch` (`SCMP_ARCH_X86_64`), `go_arch` (`amd64`, the
    /// names `includes.arches` uses) and the kernel version.
    pub(crate) fn resolve_for(&self, scmp_arch: &str, go_arch: &str, caps: &[&str], kernel: (u32, u32)) -> Filter {
        let default = resolve_action(self.default_action, self.default_errno_ret);
        let mut arches: Vec<String> = self.architectures.clone().unwrap_or_default();
        for m in self.arch_map.iter().flatten().filter(|m| m.architecture == scmp_arch) {
            arches.push(m.architecture.clone());
            arches.extend(m.sub_architectures.iter().flatten().cloned());
        }
        let mut rules = Vec::new();
        for rule in self.syscalls.iter().flatten() {
            if !applies(rule, go_arch, caps, kernel) {
                continue;
            }
            // As runc: a rule's errno is its own errnoRet or EPERM; defaultErrnoRet is the default action's.
            let action = resolve_action(rule.action, rule.errno_ret);
            if action == default {
                continue;
            }
            let names = rule.names.iter().flatten().chain(rule.name.iter());
            let args = rule.args.clone().unwrap_or_default();
            let repeated = args.iter().enumerate().any(|(i, a)| args[..i].iter().any(|b| b.index == a.index));
            let groups: Vec<Vec<Arg>> = if repeated { args.iter().map(|a| vec![*a]).collect() } else { vec![args] };
            for name in names {
                for conds in &groups {
                    rules.push(Rule { name: name.clone(), action, conds: conds.clone() });
                }
            }
        }
        Filter { default, arches, rules }
    }
}

/// Docker's `includes`/`excludes`: every included cap held, the arch listed, the kernel new enough; no
/// excluded cap held, the arch not excluded, the kernel older than an excluded minimum.
fn applies(rule: &SyscallRule, arch: &str, caps: &[&str], kernel: (u32, u32)) -> bool {
    let has_arch = |list: &Option<Vec<String>>| list.iter().flatten().any(|a| a == arch);
    let at_least = |k: &Option<String>| k.as_deref().and_then(parse_kernel).is_some_and(|min| kernel >= min);
    if let Some(ex) = &rule.excludes {
        if ex.caps.iter().flatten().any(|c| caps.contains(&c.as_str()))
            || has_arch(&ex.arches)
            || at_least(&ex.min_kernel)
        {
            return false;
        }
    }
    if let Some(inc) = &rule.includes {
        if !inc.caps.iter().flatten().all(|c| caps.contains(&c.as_str()))
            || (inc.arches.as_ref().is_some_and(|a| !a.is_empty()) && !has_arch(&inc.arches))
            || (inc.min_kernel.is_some() && !at_least(&inc.min_kernel))
        {
            return false;
        }
    }
    true
}

fn resolve_action(action: Action, errno_ret: Option<u32>) -> Resolved {
    match action {
        Action::KillThread => Resolved::KillThread,
        Action::KillProcess => Resolved::KillProcess,
        Action::Trap => Resolved::Trap,
        Action::Errno => Resolved::Errno(errno_ret.unwrap_or(EPERM)),
        Action::Trace => Resolved::Trace(errno_ret.unwrap_or(EPERM)),
        Action::Allow => Resolved::Allow,
        Action::Log => Resolved::Log,
    }
}

/// A profile resolved for one sandbox on this machine: what the child loads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Filter {
    pub default: Resolved,
    /// Extra architectures (`SCMP_ARCH_*`) besides the native one.
    pub arches: Vec<String>,
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Resolved {
    KillThread,
    KillProcess,
    Trap,
    Errno(u32),
    Trace(u32),
    Allow,
    Log,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Rule {
    pub name: String,
    pub action: Resolved,
    /// ANDed.
    pub conds: Vec<Arg>,
}

impl Resolved {
    fn scmp(self) -> ScmpAction {
        match self {
            Resolved::KillThread => ScmpAction::KillThread,
            Resolved::KillProcess => ScmpAction::KillProcess,
            Resolved::Trap => ScmpAction::Trap,
            Resolved::Errno(e) => ScmpAction::Errno(e as i32),
            Resolved::Trace(e) => ScmpAction::Trace(e as u16),
            Resolved::Allow => ScmpAction::Allow,
            Resolved::Log => ScmpAction::Log,
        }
    }
}

impl Filter {
    /// libseccomp's context for the filter, from which [`super::bpf`] exports the program.
    pub(crate) fn context(&self) -> Result<ScmpFilterContext, SandboxError> {
        let fail = |what: String| {
            move |e: libseccomp::error::SeccompError| SandboxError::Seccomp { what, reason: e.to_string() }
        };
        let mut ctx = ScmpFilterContext::new(self.default.scmp()).map_err(fail("creating the filter".into()))?;
        for arch in &self.arches {
            let Ok(arch) = ScmpArch::from_str(arch) else { continue };
            if !ctx.is_arch_present(arch).unwrap_or(false) {
                ctx.add_arch(arch).map_err(fail(format!("adding architecture {arch:?}")))?;
            }
        }
        for rule in &self.rules {
            // A name this libseccomp does not know is a syscall this kernel cannot run either.
            let Ok(syscall) = ScmpSyscall::from_name(&rule.name) else { continue };
            let conds: Vec<ScmpArgCompare> = rule.conds.iter().map(compare).collect();
            let added = if conds.is_empty() {
                ctx.add_rule(rule.action.scmp(), syscall)
            } else {
                ctx.add_rule_conditional(rule.action.scmp(), syscall, &conds)
            };
            added.map_err(fail(format!("adding the rule for {}", rule.name)))?;
        }
        Ok(ctx)
    }
}

fn compare(a: &Arg) -> ScmpArgCompare {
    let (op, datum) = match a.op {
        Op::Ne => (ScmpCompareOp::NotEqual, a.value),
        Op::Lt => (ScmpCompareOp::Less, a.value),
        Op::Le => (ScmpCompareOp::LessOrEqual, a.value),
        Op::Eq => (ScmpCompareOp::Equal, a.value),
        Op::Ge => (ScmpCompareOp::GreaterEqual, a.value),
        Op::Gt => (ScmpCompareOp::Greater, a.value),
        // Docker's value is the mask, valueTwo what the masked argument must equal.
        Op::MaskedEq => (ScmpCompareOp::MaskedEqual(a.value), a.value_two),
    };
    ScmpArgCompare::new(a.index, op, datum)
}

fn parse_kernel(s: &str) -> Option<(u32, u32)> {
    let mut parts = s.split(['.', '-']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().map(|m| m.parse().ok()).unwrap_or(Some(0))?;
    Some((major, minor))
}

fn kernel_version() -> (u32, u32) {
    nix::sys::utsname::uname().ok().and_then(|u| u.release().to_str().and_then(parse_kernel)).unwrap_or((0, 0))
}

/// This machine's architecture in libseccomp's and in Go's (Docker's `includes.arches`) spelling.
fn native_arch() -> (&'static str, &'static str) {
    match std::env::consts::ARCH {
        "x86_64" => ("SCMP_ARCH_X86_64", "amd64"),
        "x86" => ("SCMP_ARCH_X86", "386"),
        "aarch64" => ("SCMP_ARCH_AARCH64", "arm64"),
        "arm" => ("SCMP_ARCH_ARM", "arm"),
        "riscv64" => ("SCMP_ARCH_RISCV64", "riscv64"),
        "s390x" => ("SCMP_ARCH_S390X", "s390x"),
        "powerpc64" => ("SCMP_ARCH_PPC64LE", "ppc64le"),
        "loongarch64" => ("SCMP_ARCH_LOONGARCH64", "loong64"),
        other => (other, other),
    }
}

/// Docker's default profile resolved for a root with a few capabilities, for other modules' tests.
#[cfg(test)]
pub(crate) fn default_filter_for_tests() -> Filter {
    Profile::parse(DEFAULT_PROFILE, "default").unwrap().resolve(&["CAP_CHOWN", "CAP_SETUID", "CAP_SYS_CHROOT"])
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT_CAPS: &[&str] = &["CAP_CHOWN", "CAP_SETUID", "CAP_SYS_CHROOT"];

    fn default_filter(caps: &[&str]) -> Filter {
        let p = Profile::parse(DEFAULT_PROFILE, "default").unwrap();
        p.resolve_for("SCMP_ARCH_X86_64", "amd64", caps, (6, 1))
    }

    fn rules<'f>(f: &'f Filter, name: &str) -> Vec<&'f Rule> {
        f.rules.iter().filter(|r| r.name == name).collect()
    }

    #[test]
    fn the_default_profile_denies_keyrings_namespaces_and_mounts_with_eperm() {
        let f = default_filter(DEFAULT_CAPS);
        assert_eq!(f.default, Resolved::Errno(1));
        assert_eq!(f.arches, ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]);
        for denied in ["keyctl", "add_key", "request_key", "unshare", "setns", "mount", "bpf", "perf_event_open"] {
            assert!(rules(&f, denied).is_empty(), "{denied} must fall to the default action");
        }
        for allowed in ["read", "execve", "mknod", "arch_prctl", "chroot", "ptrace"] {
            assert_eq!(rules(&f, allowed).len(), 1, "{allowed}");
            assert_eq!(rules(&f, allowed)[0].action, Resolved::Allow);
        }
        // s390 and arm-only rules do not apply on amd64.
        assert!(rules(&f, "s390_runtime_instr").is_empty() && rules(&f, "set_tls").is_empty());
    }

    #[test]
    fn clone_is_allowed_only_without_namespace_flags_and_clone3_is_enosys() {
        let f = default_filter(DEFAULT_CAPS);
        let clone = rules(&f, "clone");
        assert_eq!(clone.len(), 1);
        assert_eq!(clone[0].conds, [Arg { index: 0, value: 0x7E02_0000, value_two: 0, op: Op::MaskedEq }]);
        assert_eq!(rules(&f, "clone3")[0].action, Resolved::Errno(38));
        // With CAP_SYS_ADMIN (never granted by rbuild) Docker allows both outright.
        let admin = default_filter(&["CAP_SYS_ADMIN"]);
        assert_eq!(rules(&admin, "clone").len(), 1);
        assert!(rules(&admin, "clone")[0].conds.is_empty());
        assert_eq!(rules(&admin, "clone3")[0].action, Resolved::Allow);
        assert_eq!(rules(&admin, "unshare").len(), 1);
    }

    #[test]
    fn min_kernel_and_repeated_argument_indexes_follow_runc() {
        let p = Profile::parse(DEFAULT_PROFILE, "default").unwrap();
        let old = p.resolve_for("SCMP_ARCH_X86_64", "amd64", &[], (4, 4));
        assert!(rules(&old, "ptrace").is_empty());
        let text = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["personality"],"action":"SCMP_ACT_ERRNO",
            "errnoRet":22,"args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"},{"index":0,"value":2,"op":"SCMP_CMP_EQ"}]},
            {"name":"kill","action":"SCMP_ACT_ALLOW"}]}"#;
        let f = Profile::parse(text, "p.json").unwrap().resolve_for("SCMP_ARCH_X86_64", "amd64", &[], (6, 1));
        assert_eq!(f.rules.len(), 2, "two ORed rules; the allow rule equals the default and is dropped");
        assert!(f.rules.iter().all(|r| r.action == Resolved::Errno(22) && r.conds.len() == 1));
    }

    #[test]
    fn a_bad_profile_names_the_file_and_the_problem() {
        let e = Profile::parse(r#"{"defaultAction":"SCMP_ACT_NOPE"}"#, "/tmp/p.json").unwrap_err().to_string();
        assert!(e.contains("/tmp/p.json") && e.contains("unknown variant `SCMP_ACT_NOPE`"), "{e}");
        let e = Profile::parse(r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_Z80"]}"#, "p")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown architecture \"SCMP_ARCH_Z80\""), "{e}");
        let e = Profile::parse(r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"action":"SCMP_ACT_ALLOW"}]}"#, "p")
            .unwrap_err()
            .to_string();
        assert!(e.contains("syscalls[0] names no syscall"), "{e}");
        let e = Seccomp::from_option("/definitely/missing.json").unwrap_err().to_string();
        assert!(e.contains("/definitely/missing.json") && e.contains("cannot read it"), "{e}");
        assert_eq!(Seccomp::from_option("unconfined").unwrap(), Seccomp::Unconfined);
    }
}
