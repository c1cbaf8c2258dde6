//! The instructions that change only the image config (ENV, CMD, ENTRYPOINT, EXPOSE, VOLUME, WORKDIR, USER,
//! LABEL, SHELL, STOPSIGNAL, HEALTHCHECK, ONBUILD, MAINTAINER): each adds an `empty_layer` history entry.
//! Word values are expanded here, with the stage's ENV over its ARGs, exactly where Docker expands.

use crate::dockerfile::expand::{Expander, Vars};
use crate::dockerfile::instructions::{Command, CommandLine, Healthcheck, KeyValue};
use crate::image::state::{ContainerConfig, HealthConfig, ImageState};
use crate::plan::Scope;

/// What expansion sees inside a stage: ENV first, then declared ARGs.
pub struct StageVars<'a> {
    pub env: &'a ContainerConfig,
    pub args: &'a Scope,
}

impl Vars for StageVars<'_> {
    fn lookup(&self, name: &str) -> Option<String> {
        self.env.env_get(name).map(String::from).or_else(|| self.args.lookup(name))
    }
}

pub type MetaResult<T> = Result<T, String>;

/// Apply one metadata instruction to `image`. `cmd_set` records whether this stage set CMD itself (an
/// ENTRYPOINT then keeps it; otherwise ENTRYPOINT resets an inherited CMD, as Docker does). Instructions
/// that are not metadata (RUN, COPY, ADD, ARG) are refused.
pub fn apply(
    image: &mut ImageState,
    cmd_set: &mut bool,
    command: &Command,
    ex: &Expander,
    args: &Scope,
) -> MetaResult<()> {
    // Words are expanded against the config as it was before the instruction, and each arm finishes
    // expanding (borrowing the config) before it changes anything. Cloning the config for the expansion
    // instead costs time in proportion to its size at every step: quadratic over 100 000 ENV lines.
    let vars = StageVars { env: &image.config, args };
    match command {
        Command::Env(pairs) => {
            for (k, v) in expand_pairs(ex, pairs, &vars)? {
                image.config.env_set(&k, &v);
            }
        }
        Command::Label(pairs) => {
            let pairs = expand_pairs(ex, pairs, &vars)?;
            image.config.labels.extend(pairs);
        }
        Command::Cmd(cmd) => {
            image.config.cmd = Some(command_argv(cmd, &image.config));
            *cmd_set = true;
        }
        Command::Entrypoint(e) => {
            image.config.entrypoint = Some(command_argv(e, &image.config));
            if !*cmd_set {
                image.config.cmd = None;
            }
        }
        Command::Expose(words) => {
            let mut expanded = Vec::new();
            for w in words {
                expanded.extend(expand_words(ex, w, &vars)?);
            }
            image.config.exposed_ports.extend(parse_ports(&expanded)?);
        }
        Command::Volume(words) => {
            let volumes = words.iter().map(|w| expand_word(ex, w, &vars)).collect::<Result<Vec<_>, _>>()?;
            if volumes.iter().any(|v| v.trim().is_empty()) {
                return Err("VOLUME specified can not be an empty string".into());
            }
            image.config.volumes.extend(volumes);
        }
        Command::Workdir(w) => {
            let w = expand_word(ex, w, &vars)?;
            image.config.working_dir = Some(join_workdir(image.config.working_dir.as_deref(), &w));
        }
        Command::User(u) => image.config.user = Some(expand_word(ex, u, &vars)?),
        Command::Shell(s) => image.config.shell = Some(s.clone()),
        Command::StopSignal(s) => {
            let s = expand_word(ex, s, &vars)?;
            check_signal(&s)?;
            image.config.stop_signal = Some(s);
        }
        Command::Healthcheck(h) => image.config.healthcheck = Some(healthcheck(h)?),
        Command::Onbuild(t) => image.config.onbuild.push(onbuild_trigger(t)),
        Command::Maintainer(m) => image.author = Some(m.clone()),
        Command::Run(_) | Command::Copy(_) | Command::Arg(_) => {
            return Err("only metadata instructions can be applied to a config".into())
        }
    }
    Ok(())
}

pub fn expand_word(ex: &Expander, word: &str, vars: &dyn Vars) -> MetaResult<String> {
    ex.word(word, vars).map(|e| e.value).map_err(|e| expansion_failed(word, &e))
}

pub fn expand_words(ex: &Expander, word: &str, vars: &dyn Vars) -> MetaResult<Vec<String>> {
    ex.words(word, vars).map_err(|e| expansion_failed(word, &e))
}

/// `WORD: what is wrong`, the word (user text, any length) in excerpt.
fn expansion_failed(word: &str, e: &crate::dockerfile::expand::ExpandError) -> String {
    use crate::dockerfile::diagnostic::{excerpt, EXCERPT_LEN};
    format!("{}: {}", excerpt(word, EXCERPT_LEN), excerpt(&e.to_string(), EXCERPT_LEN))
}

/// ENV and LABEL pairs, all expanded against the state before the instruction (as Docker does).
pub fn expand_pairs(ex: &Expander, pairs: &[KeyValue], vars: &dyn Vars) -> MetaResult<Vec<(String, String)>> {
    pairs.iter().map(|kv| Ok((expand_word(ex, &kv.key, vars)?, expand_word(ex, &kv.value, vars)?))).collect()
}

/// The argv of a CMD/ENTRYPOINT: exec form as given, shell form wrapped in SHELL (default `/bin/sh -c`).
pub fn command_argv(cmd: &CommandLine, config: &ContainerConfig) -> Vec<String> {
    match cmd {
        CommandLine::Exec(v) => v.clone(),
        CommandLine::Shell(s) => {
            let mut argv = config.shell.clone().unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()]);
            argv.push(s.clone());
            argv
        }
    }
}

/// `EXPOSE` words: `80`, `80/udp`, `8000-8002/tcp` → `80/tcp`, ... (ranges expanded, protocol lower-cased).
pub fn parse_ports(words: &[String]) -> MetaResult<Vec<String>> {
    let mut out = Vec::new();
    for w in words {
        let (ports, proto) = match w.split_once('/') {
            Some((p, proto)) => (p, proto.to_ascii_lowercase()),
            None => (w.as_str(), "tcp".to_string()),
        };
        if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
            return Err(format!("invalid proto: {proto} (expected tcp, udp or sctp)"));
        }
        let port = |s: &str| -> MetaResult<u16> { s.parse::<u16>().map_err(|_| format!("invalid containerPort: {s}")) };
        let (lo, hi) = match ports.split_once('-') {
            Some((a, b)) => (port(a)?, port(b)?),
            None => (port(ports)?, port(ports)?),
        };
        if hi < lo {
            return Err(format!("invalid port range: {ports}"));
        }
        for p in lo..=hi {
            out.push(format!("{p}/{proto}"));
        }
    }
    Ok(out)
}

/// A new WORKDIR: relative paths are joined to the current one; the result is cleaned.
pub fn join_workdir(current: Option<&str>, path: &str) -> String {
    let joined = if path.starts_with('/') { path.to_string() } else { format!("{}/{}", current.unwrap_or("/"), path) };
    let mut parts: Vec<&str> = Vec::new();
    for c in joined.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

const SIGNALS: &[&str] = &[
    "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL", "PIPE", "POLL",
    "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP", "TTIN", "TTOU", "URG", "USR1",
    "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ",
];

/// STOPSIGNAL accepts a number or a signal name with or without `SIG` (`SIGRTMIN+3` too).
pub fn check_signal(s: &str) -> MetaResult<()> {
    if s.parse::<u8>().is_ok_and(|n| n > 0 && n < 65) {
        return Ok(());
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if SIGNALS.contains(&name) || name.starts_with("RTMIN") || name.starts_with("RTMAX") {
        return Ok(());
    }
    Err(format!("invalid signal: {s}"))
}

/// A Go duration (`1m30s`, `500ms`, `2h`) in nanoseconds.
pub fn parse_duration(s: &str) -> MetaResult<i64> {
    let bad = || format!("invalid duration {s:?} (examples: 30s, 1m30s, 500ms)");
    if s == "0" {
        return Ok(0);
    }
    let mut total: f64 = 0.0;
    let mut rest = s;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(bad)?;
        if num_len == 0 {
            return Err(bad());
        }
        let value: f64 = rest[..num_len].parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        total += value * scale;
        rest = &rest[unit_len..];
    }
    Ok(total as i64)
}

pub fn healthcheck(h: &Healthcheck) -> MetaResult<HealthConfig> {
    let Some(cmd) = &h.command else {
        return Ok(HealthConfig { test: vec!["NONE".into()], ..Default::default() });
    };
    let test = match cmd {
        CommandLine::Exec(v) => std::iter::once("CMD".to_string()).chain(v.iter().cloned()).collect(),
        CommandLine::Shell(s) => vec!["CMD-SHELL".to_string(), s.clone()],
    };
    let duration = |flag: &str, v: &Option<String>| -> MetaResult<Option<i64>> {
        match v {
            None => Ok(None),
            Some(v) => {
                let d = parse_duration(v).map_err(|e| format!("--{flag}: {e}"))?;
                if d != 0 && d < 1_000_000 {
                    return Err(format!("--{flag} cannot be less than 1ms"));
                }
                Ok(Some(d))
            }
        }
    };
    let retries = match &h.retries {
        None => None,
        Some(r) => Some(
            r.parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| format!("--retries must be a whole number: {r}"))?,
        ),
    };
    Ok(HealthConfig {
        test,
        interval: duration("interval", &h.interval)?,
        timeout: duration("timeout", &h.timeout)?,
        start_period: duration("start-period", &h.start_period)?,
        start_interval: duration("start-interval", &h.start_interval)?,
        retries,
    })
}

/// An ONBUILD trigger as stored in the config: the keyword upper-cased, the rest as written.
pub fn onbuild_trigger(text: &str) -> String {
    let text = text.trim();
    match text.split_once(char::is_whitespace) {
        Some((kw, rest)) => format!("{} {}", kw.to_ascii_uppercase(), rest.trim_start()),
        None => text.to_ascii_uppercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_expand_ranges_and_default_to_tcp() {
        let w = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(parse_ports(&w(&["80", "53/UDP"])).unwrap(), vec!["80/tcp", "53/udp"]);
        assert_eq!(parse_ports(&w(&["8000-8002"])).unwrap(), vec!["8000/tcp", "8001/tcp", "8002/tcp"]);
        assert!(parse_ports(&w(&["80/icmp"])).is_err());
        assert!(parse_ports(&w(&["http"])).is_err());
        assert!(parse_ports(&w(&["9-1"])).is_err());
    }

    #[test]
    fn workdir_joins_relative_paths_and_cleans() {
        assert_eq!(join_workdir(None, "app"), "/app");
        assert_eq!(join_workdir(Some("/app"), "src/../lib/"), "/app/lib");
        assert_eq!(join_workdir(Some("/app"), "/opt"), "/opt");
        assert_eq!(join_workdir(Some("/"), ".."), "/");
    }

    #[test]
    fn durations_follow_go_syntax() {
        assert_eq!(parse_duration("30s").unwrap(), 30_000_000_000);
        assert_eq!(parse_duration("1m30s").unwrap(), 90_000_000_000);
        assert_eq!(parse_duration("500ms").unwrap(), 500_000_000);
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("3 days").is_err());
    }

    #[test]
    fn signals_by_name_or_number() {
        for ok in ["SIGTERM", "term", "9", "SIGRTMIN+3", "USR1"] {
            assert!(check_signal(ok).is_ok(), "{ok}");
        }
        for bad in ["SIGFOO", "0", "100", ""] {
            assert!(check_signal(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn shell_form_uses_the_configured_shell() {
        let mut c = ContainerConfig::default();
        assert_eq!(command_argv(&CommandLine::Shell("echo hi".into()), &c), vec!["/bin/sh", "-c", "echo hi"]);
        c.shell = Some(vec!["/bin/bash".into(), "-ec".into()]);
        assert_eq!(command_argv(&CommandLine::Shell("x".into()), &c), vec!["/bin/bash", "-ec", "x"]);
        assert_eq!(command_argv(&CommandLine::Exec(vec!["a".into()]), &c), vec!["a"]);
    }

    #[test]
    fn healthcheck_builds_docker_test_arrays() {
        let h = Healthcheck {
            command: Some(CommandLine::Shell("curl -f x".into())),
            interval: Some("5s".into()),
            timeout: None,
            start_period: None,
            start_interval: None,
            retries: Some("3".into()),
        };
        let c = healthcheck(&h).unwrap();
        assert_eq!(c.test, vec!["CMD-SHELL", "curl -f x"]);
        assert_eq!((c.interval, c.retries), (Some(5_000_000_000), Some(3)));
        let bad = Healthcheck { interval: Some("1us".into()), ..h.clone() };
        assert!(healthcheck(&bad).is_err());
        let bad = Healthcheck { retries: Some("-1".into()), ..h };
        assert!(healthcheck(&bad).is_err());
    }

    #[test]
    fn onbuild_triggers_upper_case_their_keyword() {
        assert_eq!(onbuild_trigger("run echo hi"), "RUN echo hi");
        assert_eq!(onbuild_trigger("  COPY  . /app"), "COPY . /app");
    }
}
