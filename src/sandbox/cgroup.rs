//! One cgroup per sandbox, owned by rbuild's side: created before the init runs anything (the init's pid
//! is written into it while the init still waits for its spec, so every process of the sandbox is born
//! inside), limited (processes, memory, CPU time, and on cgroup v1 the devices it may open), emptied and waited for
//! when the sandbox ends, then removed.
//!
//! Why a cgroup and not only the pid namespace: a pid namespace dies with its pid 1, but the kernel kills
//! the other processes asynchronously; `cgroup.procs` is the one place that says when the last of them is
//! gone, and it also catches a sandbox whose init was killed before it could wait. So [`Cgroup::drain`]
//! SIGKILLs whatever is left and polls until the cgroup is empty: when [`super::run`] returns, no process
//! of the sandbox exists.
//!
//! Layout: cgroup v1 (a `pids`, `memory`, `cpu` and `devices` hierarchy each, under `/sys/fs/cgroup/<name>/`) or
//! the unified v2 hierarchy at `/sys/fs/cgroup` (`pids.max`, `memory.max`, `cpu.max`; v2 filters devices with a BPF
//! program, which rbuild does not load: there `nodev` mounts and the missing CAP_MKNOD stand alone). The
//! sandbox's cgroup is a child of rbuild's own, named `rbuild-<pid>-<n>`, so a delegated subtree works;
//! leftovers of a killed rbuild (an empty directory whose pid is dead) are removed by the next one.
//! A missing controller is a warning for the default pids limit and an error for a limit the user asked
//! for (see [`Limits`]).

use super::SandboxError;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use std::fs;
use std::io::{self, ErrorKind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The pids limit every sandbox gets unless told otherwise: a fork bomb stops there. Podman's default is
/// 2048 and Docker's unlimited; builds (parallel make, test suites) fork more than services, hence 4096.
pub const DEFAULT_PIDS_LIMIT: u64 = 4096;

/// How long [`Cgroup::drain`] waits for killed processes to be gone (a process stuck in the kernel, e.g.
/// on a dead NFS server, cannot die sooner); past it the run fails naming what is left.
const DRAIN_LIMIT: Duration = Duration::from_secs(60);

const CGROUP_ROOT: &str = "/sys/fs/cgroup";
const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

/// Resource limits of one sandbox; `None` means the default (pids) or no limit (memory).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Bytes of memory (swap included: the sandbox gets no swap beyond it), `--memory`.
    pub memory: Option<u64>,
    /// Processes and threads, `--pids-limit`; [`DEFAULT_PIDS_LIMIT`] when `None`, none when `Some(0)`.
    pub pids: Option<u64>,
    /// Bytes of the sandbox's `/dev/shm` tmpfs (`--shm-size`; 64 MiB, Docker's default, when `None`).
    #[serde(default)]
    pub shm_size: Option<u64>,
    /// `setrlimit` limits of the command (`--ulimit`).
    #[serde(default)]
    pub ulimits: super::Ulimits,
    /// CPU time in billionths of a CPU (`--cpus`, docker's `NanoCpus`): a CFS quota per [`CPU_PERIOD_US`].
    #[serde(default)]
    pub nano_cpus: Option<u64>,
    /// Relative CPU weight under contention (`--cpu-shares`, 2-262144; docker's default 1024), v1's
    /// `cpu.shares`, v2's `cpu.weight` by the OCI runtimes' conversion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_shares: Option<u64>,
    /// The CPUs the command may run on (`--cpuset-cpus`, e.g. `0-2,4`), as the kernel's list syntax.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpuset_cpus: Option<String>,
}

/// v2's `cpu.weight` (1-10000) for v1 `cpu.shares` (2-262144), as runc and crun convert it.
fn cpu_weight(shares: u64) -> u64 {
    1 + (shares.clamp(2, 262_144) - 2) * 9999 / 262_142
}

/// The CFS period a `--cpus` quota is given in (docker's: 100 ms).
pub const CPU_PERIOD_US: u64 = 100_000;

/// The quota of `nano_cpus` per [`CPU_PERIOD_US`], in µs (the kernel's minimum is 1000).
fn cpu_quota_us(nano_cpus: u64) -> u64 {
    (nano_cpus * CPU_PERIOD_US / 1_000_000_000).max(1000)
}

/// Device numbers the sandbox's `/dev` holds (Docker's default device cgroup rules): null, zero, full,
/// random, urandom, tty, console, ptmx and the pseudo-terminals of its own devpts.
const ALLOWED_DEVICES: &[&str] = &[
    "c 1:3 rwm",
    "c 1:5 rwm",
    "c 1:7 rwm",
    "c 1:8 rwm",
    "c 1:9 rwm",
    "c 5:0 rwm",
    "c 5:1 rwm",
    "c 5:2 rwm",
    "c 136:* rwm",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V1,
    V2,
}

/// The cgroup of one running sandbox; removed (once empty) when dropped.
#[derive(Debug)]
pub(crate) struct Cgroup {
    version: Version,
    /// The directories the init joins: one per v1 hierarchy, or the one v2 cgroup.
    dirs: Vec<PathBuf>,
    /// Whose `cgroup.procs` lists every process of the sandbox.
    members: PathBuf,
    /// The memory cgroup, when a memory limit was set (to tell an OOM kill).
    memory: Option<PathBuf>,
}

/// One warning per rbuild process is enough.
static WARNED: AtomicBool = AtomicBool::new(false);
static SERIAL: AtomicU32 = AtomicU32::new(0);

impl Cgroup {
    /// Create the sandbox's cgroup with `limits`; `console` is the host terminal bound at `/dev/console`
    /// (its device number is allowed too). `None` when no usable controller exists and no limit was asked
    /// for (a warning was printed).
    pub(crate) fn create(limits: &Limits, console: Option<&Path>) -> Result<Option<Cgroup>, SandboxError> {
        Self::create_in(Path::new(CGROUP_ROOT), limits, console)
    }

    /// [`Cgroup::create`] with the cgroup filesystems under `root` (a test's fake tree).
    fn create_in(root: &Path, limits: &Limits, console: Option<&Path>) -> Result<Option<Cgroup>, SandboxError> {
        let name = format!("rbuild-{}-{}", std::process::id(), SERIAL.fetch_add(1, Ordering::Relaxed));
        let made = if is_cgroup2(root) {
            Self::create_v2(root, &name, limits)
        } else {
            Self::create_v1(root, &name, limits, console)
        };
        match made {
            Ok(cg) => Ok(Some(cg)),
            Err(Missing { controller, why }) => {
                // Any explicit limit fails the run, even one whose own controller exists: a cgroup with
                // only part of what the user asked for is not what they asked for.
                let explicit: Vec<String> =
                    ["pids", "memory", "cpu", "cpuset"].iter().filter_map(|c| asked(limits, c)).collect();
                if !explicit.is_empty() {
                    return Err(SandboxError::NoController { controller, limit: explicit.join(" "), why });
                }
                if !WARNED.swap(true, Ordering::Relaxed) {
                    eprintln!(
                        "warning: sandbox: no usable {controller} cgroup controller ({why}); commands run without \
                         the default limit of {DEFAULT_PIDS_LIMIT} processes and processes they leave behind are \
                         not waited for"
                    );
                }
                Ok(None)
            }
        }
    }

    fn create_v1(root: &Path, name: &str, limits: &Limits, console: Option<&Path>) -> Result<Cgroup, Missing> {
        let pids = Self::v1_dir(root, "pids", name)?;
        let mut cg = Cgroup { version: Version::V1, dirs: vec![pids.clone()], members: pids.clone(), memory: None };
        fs::write(pids.join("pids.max"), pids_max(limits)).map_err(|e| Missing::io("pids", e))?;
        // The device filter is defence in depth (nodev and no CAP_MKNOD come first): warn-free when absent.
        if let Ok(devices) = Self::v1_dir(root, "devices", name) {
            cg.dirs.push(devices.clone());
            fs::write(devices.join("devices.deny"), "a").map_err(|e| Missing::io("devices", e))?;
            let console_rule = console.and_then(device_rule);
            for rule in ALLOWED_DEVICES.iter().copied().chain(console_rule.as_deref()) {
                fs::write(devices.join("devices.allow"), rule).map_err(|e| Missing::io("devices", e))?;
            }
        }
        // A freezer of its own, so `rbuild pause` can freeze exactly this sandbox: optional, as devices.
        if let Ok(freezer) = Self::v1_dir(root, "freezer", name) {
            cg.dirs.push(freezer);
        }
        if let Some(bytes) = limits.memory {
            let memory = Self::v1_dir(root, "memory", name)?;
            cg.dirs.push(memory.clone());
            fs::write(memory.join("memory.limit_in_bytes"), bytes.to_string()).map_err(|e| Missing::io("memory", e))?;
            // Without swap accounting the file is absent; with it, no swap beyond the limit.
            let memsw = memory.join("memory.memsw.limit_in_bytes");
            if memsw.exists() {
                fs::write(&memsw, bytes.to_string()).map_err(|e| Missing::io("memory", e))?;
            }
            cg.memory = Some(memory);
        }
        if limits.nano_cpus.is_some() || limits.cpu_shares.is_some() {
            let cpu = Self::v1_dir(root, "cpu", name)?;
            cg.dirs.push(cpu.clone());
            if let Some(nano) = limits.nano_cpus {
                fs::write(cpu.join("cpu.cfs_period_us"), CPU_PERIOD_US.to_string())
                    .map_err(|e| Missing::io("cpu", e))?;
                fs::write(cpu.join("cpu.cfs_quota_us"), cpu_quota_us(nano).to_string())
                    .map_err(|e| Missing::io("cpu", e))?;
            }
            if let Some(shares) = limits.cpu_shares {
                fs::write(cpu.join("cpu.shares"), shares.to_string()).map_err(|e| Missing::io("cpu", e))?;
            }
        }
        if let Some(cpus) = &limits.cpuset_cpus {
            let cpuset = Self::v1_dir(root, "cpuset", name)?;
            cg.dirs.push(cpuset.clone());
            // A new v1 cpuset starts with no CPUs and no memory nodes: both must be set before a task
            // may join; the memory nodes are the parent's.
            let parent = cpuset.parent().unwrap_or(root);
            let mems = fs::read_to_string(parent.join("cpuset.mems")).map_err(|e| Missing::io("cpuset", e))?;
            fs::write(cpuset.join("cpuset.mems"), mems.trim()).map_err(|e| Missing::io("cpuset", e))?;
            fs::write(cpuset.join("cpuset.cpus"), cpus).map_err(|e| Missing::io("cpuset", e))?;
        }
        Ok(cg)
    }

    /// `<mount>/<rbuild's own cgroup>/<name>` in the v1 hierarchy of `controller`, created.
    fn v1_dir(root: &Path, controller: &'static str, name: &str) -> Result<PathBuf, Missing> {
        let mount = root.join(controller);
        if !mount.join("cgroup.procs").exists() {
            return Err(Missing { controller, why: format!("{} is not mounted", mount.display()) });
        }
        let parent = own_cgroup(&mount, |ctrls| ctrls.split(',').any(|c| c == controller));
        make(&parent, name).map_err(|e| Missing::io(controller, e))
    }

    fn create_v2(root: &Path, name: &str, limits: &Limits) -> Result<Cgroup, Missing> {
        let mut wanted = vec!["pids"];
        if limits.memory.is_some() {
            wanted.push("memory");
        }
        if limits.nano_cpus.is_some() || limits.cpu_shares.is_some() {
            wanted.push("cpu");
        }
        if limits.cpuset_cpus.is_some() {
            wanted.push("cpuset");
        }
        let parent = v2_parent(root, &wanted)?;
        let dir = make(&parent, name).map_err(|e| Missing::io("pids", e))?;
        let cg = Cgroup {
            version: Version::V2,
            dirs: vec![dir.clone()],
            members: dir.clone(),
            memory: limits.memory.map(|_| dir.clone()),
        };
        fs::write(dir.join("pids.max"), pids_max(limits)).map_err(|e| Missing::io("pids", e))?;
        if let Some(bytes) = limits.memory {
            fs::write(dir.join("memory.max"), bytes.to_string()).map_err(|e| Missing::io("memory", e))?;
            let swap = dir.join("memory.swap.max");
            if swap.exists() {
                fs::write(&swap, "0").map_err(|e| Missing::io("memory", e))?;
            }
        }
        if let Some(nano) = limits.nano_cpus {
            let max = format!("{} {CPU_PERIOD_US}", cpu_quota_us(nano));
            fs::write(dir.join("cpu.max"), max).map_err(|e| Missing::io("cpu", e))?;
        }
        if let Some(shares) = limits.cpu_shares {
            fs::write(dir.join("cpu.weight"), cpu_weight(shares).to_string()).map_err(|e| Missing::io("cpu", e))?;
        }
        if let Some(cpus) = &limits.cpuset_cpus {
            fs::write(dir.join("cpuset.cpus"), cpus).map_err(|e| Missing::io("cpuset", e))?;
        }
        Ok(cg)
    }

    /// Move `pid` (pid 1 of the sandbox, before its command starts) into the cgroup.
    /// A process that is gone already (a sandbox whose setup failed ends without waiting) is no error:
    /// nothing of it is left to limit.
    pub(crate) fn add(&self, pid: i32) -> Result<(), SandboxError> {
        for dir in &self.dirs {
            let procs = dir.join("cgroup.procs");
            match fs::write(&procs, pid.to_string()) {
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => return Ok(()),
                r => r.map_err(|source| SandboxError::Cgroup { path: procs.clone(), source })?,
            }
        }
        Ok(())
    }

    /// SIGKILL every process still in the cgroup and wait until none is left.
    pub(crate) fn drain(&self) -> Result<(), SandboxError> {
        let started = Instant::now();
        let procs = self.members.join("cgroup.procs");
        loop {
            let text = match fs::read_to_string(&procs) {
                Ok(t) => t,
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
                Err(source) => return Err(SandboxError::Cgroup { path: procs, source }),
            };
            let pids: Vec<i32> = text.lines().filter_map(|l| l.trim().parse().ok()).collect();
            if pids.is_empty() {
                return Ok(());
            }
            if started.elapsed() > DRAIN_LIMIT {
                return Err(SandboxError::Lingering { count: pids.len(), cgroup: self.members.clone() });
            }
            for pid in pids {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Whether the kernel's OOM killer killed a process of this sandbox (only known with a memory limit).
    pub(crate) fn oom_killed(&self) -> bool {
        let Some(dir) = &self.memory else { return false };
        let file = match self.version {
            Version::V1 => "memory.oom_control",
            Version::V2 => "memory.events",
        };
        let text = fs::read_to_string(dir.join(file)).unwrap_or_default();
        text.lines()
            .filter_map(|l| l.strip_prefix("oom_kill "))
            .any(|n| n.trim().parse::<u64>().map(|n| n > 0).unwrap_or(false))
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        if self.drain().is_err() {
            return;
        }
        for dir in &self.dirs {
            // An exiting process may hold the cgroup for a moment after it left cgroup.procs.
            for _ in 0..100 {
                match fs::remove_dir(dir) {
                    Err(e) if e.raw_os_error() == Some(libc::EBUSY) => std::thread::sleep(Duration::from_millis(5)),
                    _ => break,
                }
            }
        }
    }
}

/// Why a controller cannot be used.
struct Missing {
    controller: &'static str,
    why: String,
}

impl Missing {
    fn io(controller: &'static str, e: io::Error) -> Missing {
        Missing { controller, why: e.to_string() }
    }
}

/// The limit the user asked for explicitly that needs `controller`, as shown in the error.
fn asked(limits: &Limits, controller: &str) -> Option<String> {
    match controller {
        "pids" => limits.pids.filter(|n| *n > 0).map(|n| format!("--pids-limit {n}")),
        "memory" => limits.memory.map(|n| format!("--memory {n}")),
        "cpu" => {
            let quota = limits.nano_cpus.map(|n| format!("--cpus {}", n as f64 / 1e9));
            let shares = limits.cpu_shares.map(|n| format!("--cpu-shares {n}"));
            Some(quota.into_iter().chain(shares).collect::<Vec<_>>().join(" ")).filter(|s| !s.is_empty())
        }
        "cpuset" => limits.cpuset_cpus.as_ref().map(|c| format!("--cpuset-cpus {c}")),
        _ => None,
    }
}

/// Where a v2 sandbox cgroup goes: rbuild's own cgroup, with `wanted` enabled in its
/// `cgroup.subtree_control`. The kernel refuses that while the cgroup holds processes itself (rbuild,
/// the shell that started it: the "no internal processes" rule), so then its parent, where the sandbox
/// becomes a sibling of rbuild's cgroup (systemd enables pids and memory on slices; the root cgroup is
/// exempt from the rule).
fn v2_parent(root: &Path, wanted: &[&'static str]) -> Result<PathBuf, Missing> {
    let own = own_cgroup(root, |ctrls| ctrls.is_empty());
    let parent = own.parent().filter(|p| p.starts_with(root)).map(Path::to_path_buf);
    let mut first = None;
    for candidate in std::iter::once(own).chain(parent) {
        match enable_v2(&candidate, wanted) {
            Ok(()) => return Ok(candidate),
            Err(e) => {
                first.get_or_insert(e);
            }
        }
    }
    Err(first.unwrap_or(Missing { controller: "pids", why: "no cgroup to use".into() }))
}

fn enable_v2(dir: &Path, wanted: &[&'static str]) -> Result<(), Missing> {
    let control = dir.join("cgroup.subtree_control");
    let enabled = fs::read_to_string(&control).map_err(|e| Missing::io(wanted[0], e))?;
    for controller in wanted {
        if !enabled.split_whitespace().any(|c| c == *controller) {
            fs::write(&control, format!("+{controller}")).map_err(|e| Missing::io(controller, e))?;
        }
    }
    Ok(())
}

/// The `pids.max` value: the default, the user's, or `max` for `--pids-limit -1` (stored as 0).
fn pids_max(limits: &Limits) -> String {
    match limits.pids {
        None => DEFAULT_PIDS_LIMIT.to_string(),
        Some(0) => "max".to_string(),
        Some(n) => n.to_string(),
    }
}

fn is_cgroup2(path: &Path) -> bool {
    nix::sys::statfs::statfs(path).map(|s| s.filesystem_type().0 == CGROUP2_SUPER_MAGIC).unwrap_or(false)
}

/// rbuild's own cgroup in the hierarchy mounted at `mount` (from `/proc/self/cgroup`, the line whose
/// controller list `matches`); the mount itself when that path is not visible there (a container that
/// sees only its own subtree).
fn own_cgroup(mount: &Path, matches: impl Fn(&str) -> bool) -> PathBuf {
    let text = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let own = text.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
        matches(ctrls).then(|| path.trim_start_matches('/').to_string())
    });
    match own.map(|p| mount.join(p)) {
        Some(dir) if dir.is_dir() => dir,
        _ => mount.to_path_buf(),
    }
}

/// Create `parent/name`, first removing empty leftovers of rbuild processes that are gone.
fn make(parent: &Path, name: &str) -> io::Result<PathBuf> {
    if let Ok(entries) = fs::read_dir(parent) {
        for entry in entries.flatten() {
            let file = entry.file_name();
            let Some(pid) =
                file.to_str().and_then(|n| n.strip_prefix("rbuild-")?.split('-').next()?.parse::<u32>().ok())
            else {
                continue;
            };
            if !Path::new("/proc").join(pid.to_string()).exists() {
                // rmdir only succeeds on an empty cgroup: a live sandbox of another rbuild is never touched.
                let _ = fs::remove_dir(entry.path());
            }
        }
    }
    let dir = parent.join(name);
    fs::create_dir(&dir)?;
    Ok(dir)
}

/// `c MAJOR:MINOR rwm` for a character device (the host terminal given to `rbuild run -t`).
fn device_rule(path: &Path) -> Option<String> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let meta = fs::metadata(path).ok()?;
    if !meta.file_type().is_char_device() {
        return None;
    }
    let rdev = meta.rdev();
    Some(format!("c {}:{} rwm", libc::major(rdev), libc::minor(rdev)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_explicit_limits_make_a_missing_controller_an_error() {
        let limits = Limits { memory: Some(1 << 25), ..Limits::default() };
        assert_eq!(asked(&limits, "memory").as_deref(), Some("--memory 33554432"));
        assert_eq!(asked(&limits, "pids"), None);
        assert_eq!(asked(&Limits { pids: Some(10), ..Limits::default() }, "pids").as_deref(), Some("--pids-limit 10"));
    }

    /// A fake cgroup v1 tree with the given controllers (plain directories and files).
    fn fake_v1(controllers: &[&str]) -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        for c in controllers {
            fs::create_dir_all(t.path().join(c)).unwrap();
            fs::write(t.path().join(c).join("cgroup.procs"), "").unwrap();
        }
        t
    }

    #[test]
    fn defect12_limits_land_in_the_v1_files_and_the_device_filter_allows_only_dev() {
        let t = fake_v1(&["pids", "memory", "devices", "cpu"]);
        let limits = Limits { memory: Some(32 << 20), nano_cpus: Some(1_500_000_000), ..Limits::default() };
        let cg = Cgroup::create_in(t.path(), &limits, None).unwrap().unwrap();
        let pids = &cg.dirs[0];
        assert!(pids.starts_with(t.path().join("pids")));
        assert_eq!(fs::read_to_string(pids.join("pids.max")).unwrap(), "4096");
        let memory = cg.memory.clone().unwrap();
        assert_eq!(fs::read_to_string(memory.join("memory.limit_in_bytes")).unwrap(), "33554432");
        let cpu = cg.dirs.iter().find(|d| d.starts_with(t.path().join("cpu"))).unwrap();
        assert_eq!(fs::read_to_string(cpu.join("cpu.cfs_quota_us")).unwrap(), "150000");
        assert_eq!(fs::read_to_string(cpu.join("cpu.cfs_period_us")).unwrap(), "100000");
        let devices = cg.dirs.iter().find(|d| d.starts_with(t.path().join("devices"))).unwrap();
        assert_eq!(fs::read_to_string(devices.join("devices.deny")).unwrap(), "a");
        // A plain file keeps the last write: the last rule of Docker's set.
        assert_eq!(fs::read_to_string(devices.join("devices.allow")).unwrap(), "c 136:* rwm");
        // Unlimited is `max`.
        let cg = Cgroup::create_in(t.path(), &Limits { pids: Some(0), ..Limits::default() }, None).unwrap().unwrap();
        assert_eq!(fs::read_to_string(cg.dirs[0].join("pids.max")).unwrap(), "max");
    }

    #[test]
    fn defect12_a_missing_controller_warns_for_defaults_and_fails_explicit_limits() {
        let t = fake_v1(&["pids"]);
        // No memory controller: the default pids limit still works...
        assert!(Cgroup::create_in(t.path(), &Limits::default(), None).unwrap().is_some());
        // ... but --memory cannot be honoured.
        let err =
            Cgroup::create_in(t.path(), &Limits { memory: Some(64 << 20), ..Limits::default() }, None).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("--memory 67108864 needs the memory cgroup controller"), "{text}");
        // No pids controller at all: a warning and no cgroup for the default, an error for --pids-limit.
        let t = fake_v1(&[]);
        assert!(Cgroup::create_in(t.path(), &Limits::default(), None).unwrap().is_none());
        let err = Cgroup::create_in(t.path(), &Limits { pids: Some(100), ..Limits::default() }, None).unwrap_err();
        assert!(err.to_string().contains("--pids-limit 100 needs the pids cgroup controller"), "{err}");
        let t = fake_v1(&["pids"]);
        let err = Cgroup::create_in(t.path(), &Limits { nano_cpus: Some(500_000_000), ..Limits::default() }, None);
        assert!(err.unwrap_err().to_string().contains("--cpus 0.5 needs the cpu cgroup controller"));
    }

    #[test]
    fn cpu_shares_and_cpuset_land_in_the_v1_files_and_are_converted_for_v2() {
        let t = fake_v1(&["pids", "cpu", "cpuset"]);
        fs::write(t.path().join("cpuset").join("cpuset.mems"), "0\n").unwrap();
        let limits = Limits { cpu_shares: Some(512), cpuset_cpus: Some("0-1".into()), ..Limits::default() };
        let cg = Cgroup::create_in(t.path(), &limits, None).unwrap().unwrap();
        let dir = |c: &str| cg.dirs.iter().find(|d| d.starts_with(t.path().join(c))).unwrap().clone();
        assert_eq!(fs::read_to_string(dir("cpu").join("cpu.shares")).unwrap(), "512");
        assert!(!dir("cpu").join("cpu.cfs_quota_us").exists(), "no quota was asked for");
        assert_eq!(fs::read_to_string(dir("cpuset").join("cpuset.cpus")).unwrap(), "0-1");
        assert_eq!(fs::read_to_string(dir("cpuset").join("cpuset.mems")).unwrap(), "0");
        // No cpuset controller: an explicit --cpuset-cpus is an error naming it.
        let t = fake_v1(&["pids"]);
        let err = Cgroup::create_in(t.path(), &limits, None).unwrap_err().to_string();
        assert!(err.contains("--cpuset-cpus 0-1"), "{err}");
        // runc's conversion: the ends map to the ends, docker's default 1024 to 39.
        assert_eq!((cpu_weight(2), cpu_weight(262_144), cpu_weight(1024)), (1, 10_000, 39));
    }

    #[test]
    fn leftovers_of_dead_processes_are_removed_and_live_ones_kept() {
        let t = tempfile::tempdir().unwrap();
        // pid_max is at most 2^22, so this pid is never alive.
        fs::create_dir(t.path().join("rbuild-99999999-0")).unwrap();
        let live = format!("rbuild-{}-7", std::process::id());
        fs::create_dir(t.path().join(&live)).unwrap();
        fs::create_dir(t.path().join("other")).unwrap();
        let made = make(t.path(), "rbuild-1-1").unwrap();
        assert!(made.is_dir());
        assert!(!t.path().join("rbuild-99999999-0").exists());
        assert!(t.path().join(&live).exists() && t.path().join("other").exists());
    }
}
