//! `top`: the processes of a running container as `ps -ef` shows them (docker runs `ps -ef` on the host
//! and keeps the container's rows): UID PID PPID C STIME TTY TIME CMD, host pids, read from `/proc` for
//! every process in the container's own cgroup and pid namespace.

use super::{Container, ContainerError};
use std::fs;
use std::path::Path;

/// docker's (ps -ef's) column titles.
pub const TITLES: [&str; 8] = ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"];

/// One row per process of the running container `c`, by pid.
pub fn top(c: &Container) -> Result<Vec<[String; 8]>, ContainerError> {
    let pid1 = match c.state.pid {
        Some(pid) if c.is_running() => pid,
        _ => return Err(ContainerError::NotRunning { name: c.config.name.clone() }),
    };
    let cgroups = crate::sandbox::sandbox_cgroups(pid1)?;
    // The hierarchy every process of the sandbox is in: pids (v1) or the v2 cgroup; else any of its own.
    let dir = cgroups
        .iter()
        .find(|(ctrls, _)| ctrls.is_empty() || ctrls.split(',').any(|x| x == "pids"))
        .or(cgroups.first())
        .map(|(_, d)| d.clone());
    let mut pids: Vec<i32> = match dir {
        Some(dir) => {
            let procs = dir.join("cgroup.procs");
            fs::read_to_string(&procs)
                .map_err(ContainerError::io("reading", &procs))?
                .lines()
                .filter_map(|l| l.trim().parse().ok())
                .collect()
        }
        // No cgroup of its own (cgroups unusable here): pid 1 alone is what can be told.
        None => vec![pid1],
    };
    pids.sort_unstable();
    let users = fs::read_to_string("/etc/passwd").unwrap_or_default();
    let clock = ProcClock::read();
    // Only the container's own processes: the sandbox's init (in the cgroup, outside the pid namespace,
    // waiting for it) is rbuild's, not the container's. A process that ended between the listing and
    // its /proc read is simply not shown.
    let ns = |pid: i32| fs::read_link(format!("/proc/{pid}/ns/pid")).ok();
    let own = ns(pid1);
    Ok(pids.into_iter().filter(|p| own.is_some() && ns(*p) == own).filter_map(|pid| row(pid, &users, &clock)).collect())
}

/// What turning clock ticks into times needs.
struct ProcClock {
    ticks: u64,
    boot: i64,
    uptime: f64,
}

impl ProcClock {
    fn read() -> ProcClock {
        let ticks = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok().flatten().unwrap_or(100).max(1) as u64;
        let stat = fs::read_to_string("/proc/stat").unwrap_or_default();
        let boot = stat.lines().find_map(|l| l.strip_prefix("btime ")?.trim().parse().ok()).unwrap_or(0);
        let uptime = fs::read_to_string("/proc/uptime")
            .ok()
            .and_then(|u| u.split_whitespace().next()?.parse().ok())
            .unwrap_or(0.0);
        ProcClock { ticks, boot, uptime }
    }
}

fn row(pid: i32, users: &str, clock: &ProcClock) -> Option<[String; 8]> {
    let proc = Path::new("/proc").join(pid.to_string());
    let stat = fs::read_to_string(proc.join("stat")).ok()?;
    // The command name may hold spaces and parentheses: the fields start after the last ')'.
    let (head, rest) = stat.rsplit_once(')')?;
    let comm = head.split_once('(')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let (ppid, tty, cpu, start) = (num(1), num(4), num(11) + num(12), num(19));
    let uid = fs::read_to_string(proc.join("status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("Uid:")?.split_whitespace().next().map(str::to_string))?;
    let user = users
        .lines()
        .find_map(|l| {
            let p: Vec<&str> = l.split(':').collect();
            (p.get(2) == Some(&uid.as_str())).then(|| p[0].to_string())
        })
        .unwrap_or(uid);
    let cmdline = fs::read(proc.join("cmdline")).unwrap_or_default();
    let cmd = if cmdline.is_empty() {
        format!("[{comm}]")
    } else {
        String::from_utf8_lossy(cmdline.strip_suffix(b"\0").unwrap_or(&cmdline)).replace('\0', " ")
    };
    let started_secs = start / clock.ticks;
    let running_for = (clock.uptime - started_secs as f64).max(0.0);
    let c = if running_for > 0.0 { ((cpu as f64 / clock.ticks as f64) / running_for * 100.0) as u64 } else { 0 };
    let stime = chrono::DateTime::from_timestamp(clock.boot + started_secs as i64, 0)
        .map(|t| {
            let local = t.with_timezone(&chrono::Local);
            if local.date_naive() == chrono::Local::now().date_naive() {
                local.format("%H:%M").to_string()
            } else {
                local.format("%b%d").to_string()
            }
        })
        .unwrap_or_else(|| "?".into());
    let tty = if tty == 0 { "?".to_string() } else { tty_name(tty) };
    let secs = cpu / clock.ticks;
    let time = match secs / 86400 {
        0 => format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60),
        d => format!("{d}-{:02}:{:02}:{:02}", secs / 3600 % 24, secs / 60 % 60, secs % 60),
    };
    Some([user, pid.to_string(), ppid.to_string(), c.to_string(), stime, tty, time, cmd])
}

/// `pts/N` for a pseudo-terminal (major 136–143), else the device number.
fn tty_name(nr: u64) -> String {
    let (major, minor) = ((nr >> 8) & 0xfff, (nr & 0xff) | ((nr >> 12) & 0xfff00));
    if (136..=143).contains(&major) {
        format!("pts/{}", (major - 136) * 256 + minor)
    } else {
        format!("{major}:{minor}")
    }
}
