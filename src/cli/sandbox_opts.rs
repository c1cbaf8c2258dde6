//! The sandbox flags `rbuild build` and `rbuild run` share: `--security-opt`, `--memory`, `--cpus`,
//! `--pids-limit`, `--shm-size`, `--ulimit`, turned once into the sandbox's [`Seccomp`] and [`Limits`].

use super::UsageError;
use crate::sandbox::{Limits, Seccomp};

/// Docker refuses smaller memory limits: the runtime itself would not start.
const MIN_MEMORY: u64 = 6 * 1024 * 1024;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct SandboxOptions {
    /// Security options: seccomp=unconfined, seccomp=PROFILE.json (Docker's format), no-new-privileges
    #[arg(long = "security-opt", value_name = "OPT")]
    pub security_opt: Vec<String>,
    /// Memory limit of each command, swap included (e.g. 512m, 2g; at least 6m)
    #[arg(short = 'm', long, value_name = "SIZE")]
    pub memory: Option<String>,
    /// CPUs each command may use (e.g. 0.5, 1.5): a CFS quota of that many CPUs per 100 ms period
    #[arg(long, value_name = "CPUS")]
    pub cpus: Option<String>,
    // No `-c` (docker's short form): clap would take the `-c` of `run --entrypoint sh IMAGE -c …`.
    /// CPU weight of each command against others under contention (2-262144; 1024 is the default share)
    #[arg(long = "cpu-shares", value_name = "N")]
    pub cpu_shares: Option<u64>,
    /// CPUs each command may run on, e.g. 0-2,4 (the kernel's list syntax)
    #[arg(long = "cpuset-cpus", value_name = "LIST")]
    pub cpuset_cpus: Option<String>,
    /// Process limit of each command (default 4096; -1 for none)
    #[arg(long = "pids-limit", value_name = "N", allow_negative_numbers = true)]
    pub pids_limit: Option<i64>,
    /// Size of /dev/shm (e.g. 128m; default 64m)
    #[arg(long = "shm-size", value_name = "SIZE")]
    pub shm_size: Option<String>,
    /// A resource limit of each command: NAME=SOFT[:HARD] (nofile, nproc, core, stack, ...; -1 unlimited);
    /// repeatable
    #[arg(long = "ulimit", value_name = "NAME=SOFT[:HARD]")]
    pub ulimits: Vec<String>,
}

impl SandboxOptions {
    /// The seccomp filter and the limits these flags ask for.
    pub fn resolve(&self) -> Result<(Seccomp, Limits), UsageError> {
        let mut seccomp = Seccomp::Default;
        for opt in &self.security_opt {
            let (key, value) = opt.split_once(['=', ':']).unwrap_or((opt.as_str(), ""));
            match key {
                "seccomp" if !value.is_empty() => {
                    seccomp = Seccomp::from_option(value).map_err(|e| UsageError(e.to_string()))?;
                }
                // Always on in rbuild's sandbox.
                "no-new-privileges" if matches!(value, "" | "true") => {}
                _ => {
                    return Err(UsageError(format!(
                        "unsupported --security-opt {opt:?} (use seccomp=unconfined, seccomp=PROFILE.json or \
                         no-new-privileges)"
                    )))
                }
            }
        }
        let memory = self.memory.as_deref().map(parse_memory).transpose()?;
        let shm_size = match self.shm_size.as_deref().map(|s| parse_bytes(s, "--shm-size")).transpose()? {
            Some(0) => return Err(UsageError("--shm-size must be greater than 0".into())),
            size => size,
        };
        let ulimits = crate::sandbox::Ulimits::parse(&self.ulimits).map_err(UsageError)?;
        let pids = match self.pids_limit {
            None => None,
            Some(n) if n <= 0 => Some(0),
            Some(n) => Some(n as u64),
        };
        let nano_cpus = self.cpus.as_deref().map(parse_cpus).transpose()?.flatten();
        let cpu_shares = match self.cpu_shares {
            // docker: 0 is "the default", as if not given.
            Some(0) | None => None,
            Some(n) if !(2..=262_144).contains(&n) => {
                return Err(UsageError(format!("--cpu-shares {n}: must be between 2 and 262144")))
            }
            n => n,
        };
        let cpuset_cpus = self.cpuset_cpus.as_deref().map(parse_cpuset).transpose()?;
        Ok((seccomp, Limits { memory, pids, shm_size, ulimits, nano_cpus, cpu_shares, cpuset_cpus }))
    }
}

/// `--cpuset-cpus`: the kernel's list syntax (`0-2,4`), every CPU one this machine has online.
fn parse_cpuset(s: &str) -> Result<String, UsageError> {
    let bad = || UsageError(format!("invalid --cpuset-cpus {s:?}: expected a list such as 0-2,4"));
    let online_text = std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap_or_default();
    let online = cpu_list(online_text.trim()).unwrap_or_default();
    let wanted = cpu_list(s.trim()).ok_or_else(bad)?;
    if let Some(missing) = wanted.iter().find(|c| !online.is_empty() && !online.contains(c)) {
        return Err(UsageError(format!(
            "--cpuset-cpus {s}: CPU {missing} is not available (online: {})",
            online_text.trim()
        )));
    }
    Ok(s.trim().to_string())
}

/// The CPUs of a list such as `0-2,4`; `None` when it is not one.
fn cpu_list(s: &str) -> Option<Vec<u32>> {
    let mut cpus = Vec::new();
    for part in s.split(',') {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (a, b): (u32, u32) = (a.parse().ok()?, b.parse().ok()?);
        if a > b || b - a > 4096 {
            return None;
        }
        cpus.extend(a..=b);
    }
    Some(cpus)
}

/// `--cpus` as docker takes it: a decimal number of CPUs, in billionths (`NanoCpus`); 0 is no limit.
/// More CPUs than the machine has is refused, with docker's range.
fn parse_cpus(s: &str) -> Result<Option<u64>, UsageError> {
    let cpus: f64 = match s.trim().parse() {
        Ok(n) if f64::is_finite(n) && n >= 0.0 => n,
        _ => return Err(UsageError(format!("invalid --cpus {s:?}: expected a number of CPUs such as 0.5 or 2"))),
    };
    let nano = (cpus * 1e9).round() as u64;
    let have = std::thread::available_parallelism().map_or(1, |n| n.get());
    if nano > have as u64 * 1_000_000_000 || (nano > 0 && nano < 10_000_000) {
        return Err(UsageError(format!(
            "--cpus {s}: range of CPUs is from 0.01 to {have}.00, as there are only {have} CPUs available"
        )));
    }
    Ok((nano > 0).then_some(nano))
}

/// `--memory`: a size of at least 6m.
fn parse_memory(s: &str) -> Result<u64, UsageError> {
    let bytes = parse_bytes(s, "--memory")?;
    if bytes < MIN_MEMORY {
        return Err(UsageError(format!("--memory {s}: the minimum is 6m (6291456 bytes)")));
    }
    Ok(bytes)
}

/// Docker's `RAMInBytes`: a number with an optional binary unit (b, k, m, g, t, p; `mb`, `MiB` too).
fn parse_bytes(s: &str, flag: &str) -> Result<u64, UsageError> {
    let bad = || UsageError(format!("invalid {flag} {s:?}: expected a size such as 512m or 2g"));
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let t = t.strip_suffix('i').unwrap_or(t);
    let (digits, unit) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&t[..i], Some(c)),
        _ => (t, None),
    };
    let shift = match unit {
        None => 0,
        Some('k') => 10,
        Some('m') => 20,
        Some('g') => 30,
        Some('t') => 40,
        Some('p') => 50,
        Some(_) => return Err(bad()),
    };
    let n: f64 = digits.trim().parse().map_err(|_| bad())?;
    if !n.is_finite() || n < 0.0 {
        return Err(bad());
    }
    Ok((n * (1u64 << shift) as f64) as u64)
}

/// `--add-host HOST:IP` (or docker's `HOST=IP`) as an /etc/hosts line, and whether it named
/// `host-gateway`, which becomes `gateway` (or is an error saying why there is none).
pub(super) fn add_host_line(word: &str, gateway: Result<&str, &str>) -> Result<(String, bool), UsageError> {
    let bad = || UsageError(format!("invalid --add-host {word:?}: expected HOST:IP (IP may be host-gateway)"));
    let (host, ip) = word.split_once('=').or_else(|| word.split_once(':')).ok_or_else(bad)?;
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(bad());
    }
    let (ip, via_gateway) = match ip.trim_start_matches('[').trim_end_matches(']') {
        "host-gateway" => match gateway {
            Ok(gw) => (gw.to_string(), true),
            Err(why) => return Err(UsageError(format!("--add-host {word:?}: {why}"))),
        },
        ip => (ip.parse::<std::net::IpAddr>().map_err(|_| bad())?.to_string(), false),
    };
    Ok((format!("{ip}\t{host}"), via_gateway))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes_parse_like_docker() {
        assert_eq!(parse_memory("32m").unwrap(), 32 << 20);
        assert_eq!(parse_memory("32MB").unwrap(), 32 << 20);
        assert_eq!(parse_memory("1.5g").unwrap(), 3 << 29);
        assert_eq!(parse_memory("2GiB").unwrap(), 2 << 30);
        assert_eq!(parse_memory("7340032").unwrap(), 7 << 20);
        assert!(parse_memory("1m").unwrap_err().0.contains("minimum is 6m"));
        assert!(parse_memory("lots").is_err() && parse_memory("5x").is_err() && parse_memory("-8m").is_err());
    }

    #[test]
    fn cpus_parse_like_docker() {
        assert_eq!(parse_cpus("0.5").unwrap(), Some(500_000_000));
        assert_eq!(parse_cpus("1").unwrap(), Some(1_000_000_000));
        assert_eq!(parse_cpus("0").unwrap(), None);
        assert!(parse_cpus("lots").unwrap_err().0.contains("invalid --cpus"));
        assert!(parse_cpus("-1").is_err() && parse_cpus("0.001").is_err());
        assert!(parse_cpus("100000").unwrap_err().0.contains("range of CPUs is from 0.01 to"));
    }

    #[test]
    fn security_opts_and_pids_limits() {
        let opts = |s: &[&str], pids| SandboxOptions {
            security_opt: s.iter().map(|s| s.to_string()).collect(),
            memory: None,
            cpus: None,
            pids_limit: pids,
            ..SandboxOptions::default()
        };
        assert_eq!(opts(&["seccomp=unconfined"], None).resolve().unwrap().0, Seccomp::Unconfined);
        assert_eq!(opts(&["no-new-privileges"], Some(-1)).resolve().unwrap().1.pids, Some(0));
        assert_eq!(opts(&[], Some(100)).resolve().unwrap().1.pids, Some(100));
        assert!(opts(&["apparmor=x"], None).resolve().unwrap_err().0.contains("unsupported --security-opt"));
        let e = opts(&["seccomp=/no/such.json"], None).resolve().unwrap_err().0;
        assert!(e.contains("seccomp profile /no/such.json: cannot read it"), "{e}");
    }

    #[test]
    fn shm_size_and_ulimits() {
        let opts = |shm: &str, ulimit: &str| SandboxOptions {
            shm_size: Some(shm.into()),
            ulimits: vec![ulimit.into()],
            ..SandboxOptions::default()
        };
        let limits = opts("1m", "nofile=10:20").resolve().unwrap().1;
        assert_eq!(limits.shm_size, Some(1 << 20), "no 6m minimum as for --memory");
        assert_eq!(limits.ulimits, crate::sandbox::Ulimits::parse(&["nofile=10:20".into()]).unwrap());
        assert!(opts("0", "nofile=1").resolve().unwrap_err().0.contains("greater than 0"));
        assert!(opts("1m", "bogus=1").resolve().unwrap_err().0.contains("--ulimit"));
    }
}
