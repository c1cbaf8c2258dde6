//! The setup sequence the sandbox's pid 1 runs before `execve`, written against [`Sys`] so a recording
//! fake can check it: make every mount private, mount the rootfs, `/proc`, a minimal `/dev`, a read-only
//! `/sys`, the `/etc` files and the caller's binds, `pivot_root` into the rootfs and detach the old root,
//! set the hostname, create the working directory, resolve USER from the image, narrow the bounding set,
//! switch ids, keep Docker's default capabilities (root only), set `no_new_privs`, `chdir`.
//!
//! Every mount point is resolved inside the rootfs (`rootpath`, chroot semantics), so an image whose
//! `/proc` or `/etc/hosts` is a symlink to an absolute path never makes us mount over or create a host
//! path. Mount points missing in the image are created and recorded as stubs for the caller to remove.

use super::sys::{CapSets, Sys};
use super::wire::InitSpec;
use super::{Network, Rootfs, SandboxError};
use crate::rootpath::{self, Escape};
use crate::users::{self, ResolvedUser};
use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags};
use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::fs::{symlink, DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Docker's default capability set (moby `oci/caps/defaults.go`), by capability number.
pub(crate) const DEFAULT_CAPS: &[(u32, &str)] = &[
    (0, "CAP_CHOWN"),
    (1, "CAP_DAC_OVERRIDE"),
    (3, "CAP_FOWNER"),
    (4, "CAP_FSETID"),
    (5, "CAP_KILL"),
    (6, "CAP_SETGID"),
    (7, "CAP_SETUID"),
    (8, "CAP_SETPCAP"),
    (10, "CAP_NET_BIND_SERVICE"),
    (13, "CAP_NET_RAW"),
    (18, "CAP_SYS_CHROOT"),
    (27, "CAP_MKNOD"),
    (29, "CAP_AUDIT_WRITE"),
    (31, "CAP_SETFCAP"),
];

/// Docker's default set as a mask (Docker's `CapBnd: 00000000a80425fb`).
pub(crate) fn default_cap_mask() -> u64 {
    DEFAULT_CAPS.iter().fold(0, |m, (n, _)| m | (1u64 << n))
}

const CAP_NET_RAW: u32 = 13;
const CAP_MKNOD: u32 = 27;

/// The capabilities a sandbox's root keeps: Docker's defaults without CAP_MKNOD (as podman: a device node
/// made in a build is never needed, and one that reaches a host disk is the worst a build can do) and,
/// when the sandbox shares the host's network, without CAP_NET_RAW (a raw or packet socket there sees
/// and forges every host connection; podman drops it always, Docker keeps it in its isolated network).
pub fn granted_caps(network: Network) -> u64 {
    let mut mask = default_cap_mask() & !(1u64 << CAP_MKNOD);
    if network == Network::Host {
        mask &= !(1u64 << CAP_NET_RAW);
    }
    mask
}

/// The names of the capabilities in `mask` (`CAP_CHOWN`, ...), for the seccomp profile's conditions.
pub(crate) fn cap_names(mask: u64) -> Vec<&'static str> {
    DEFAULT_CAPS.iter().filter(|(n, _)| mask & (1u64 << n) != 0).map(|(_, name)| *name).collect()
}

/// Device nodes bind-mounted from the host into the sandbox's `/dev`.
pub(crate) const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];

/// `/proc` entries made read-only, and those hidden behind `/dev/null`, as Docker does.
const PROC_READONLY: &[&str] = &["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];
const PROC_MASKED: &[&str] =
    &["/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug"];

/// Mount points below these live on filesystems the sandbox mounts itself, never on the rootfs.
const PSEUDO_FS: &[&str] = &["/proc", "/dev", "/sys"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dir,
    File,
}

/// The setup of one sandbox: the seam, the spec, and the stubs created so far.
pub(crate) struct Setup<'a, S: Sys> {
    sys: &'a mut S,
    spec: &'a InitSpec,
    stubs: Vec<String>,
}

impl<'a, S: Sys> Setup<'a, S> {
    pub(crate) fn new(sys: &'a mut S, spec: &'a InitSpec) -> Setup<'a, S> {
        Setup { sys, spec, stubs: Vec::new() }
    }

    /// Mount-point stubs created in the rootfs so far (container paths, parents first).
    pub(crate) fn stubs(&self) -> &[String] {
        &self.stubs
    }

    fn mount(
        &mut self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
        step: impl FnOnce() -> String,
    ) -> Result<(), SandboxError> {
        self.sys.mount(source, target, fstype, flags, data).map_err(|errno| SandboxError::Setup { step: step(), errno })
    }

    /// Everything up to `pivot_root`: the mounts of the new root, seen from the host's root.
    pub(crate) fn prepare_root(&mut self) -> Result<(), SandboxError> {
        let root = self.spec.mountpoint.clone();
        let private = MsFlags::MS_REC | MsFlags::MS_PRIVATE;
        // Without this, mounts below would propagate back into the host's (usually shared) mounts.
        self.mount(None, Path::new("/"), None, private, None, || "making mounts private".into())?;
        self.mount_rootfs(&root)?;
        if self.spec.run.network != Network::Host {
            self.sys.loopback_up().map_err(SandboxError::setup("bringing up lo"))?;
        }
        self.mount_proc(&root)?;
        self.mount_dev(&root)?;
        self.mount_sys(&root)?;
        self.mount_etc_files(&root)?;
        self.mount_binds(&root)?;
        if self.spec.run.readonly_rootfs {
            // Last, once every stub is made: only the root's own mount turns read-only, not those on it.
            let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_NODEV | MsFlags::MS_RDONLY;
            self.mount(None, &root, None, flags, None, || "making the rootfs read-only".into())?;
        }
        Ok(())
    }

    fn mount_rootfs(&mut self, root: &Path) -> Result<(), SandboxError> {
        match &self.spec.run.rootfs {
            Rootfs::Overlay { lowers, upper, work } => {
                let (parent, options) = overlay_options(lowers, upper, work);
                // Relative lowerdir names keep the option string under a page even with 40+ layers.
                self.sys.chdir(&parent).map_err(SandboxError::setup(format!("entering {}", parent.display())))?;
                let data = Some(options.as_str());
                // nodev: a device node that comes with an image (or a layer) opens nothing.
                self.sys
                    .mount(Some(Path::new("overlay")), root, Some("overlay"), MsFlags::MS_NODEV, data)
                    .map_err(|errno| SandboxError::OverlayMount { errno })
            }
            Rootfs::Dir(dir) => {
                let step = || format!("bind-mounting the rootfs {} on {}", dir.display(), root.display());
                self.mount(Some(dir), root, None, MsFlags::MS_BIND | MsFlags::MS_REC, None, step)?;
                // A bind takes its flags from a remount; nodev as for the overlay.
                let nodev = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_NODEV;
                self.mount(None, root, None, nodev, None, || "making the rootfs nodev".into())
            }
        }
    }

    fn mount_proc(&mut self, root: &Path) -> Result<(), SandboxError> {
        let proc = self.stub(root, "/proc", Kind::Dir)?;
        let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        self.mount(Some(Path::new("proc")), &proc, Some("proc"), flags, None, || "mounting /proc".into())
    }

    /// Harden `/proc` once `/dev/null` exists to mask with; entries this kernel lacks are skipped.
    fn restrict_proc(&mut self, root: &Path) -> Result<(), SandboxError> {
        for path in PROC_READONLY {
            let host = root.join(&path[1..]);
            if fs::symlink_metadata(&host).is_err() {
                continue;
            }
            let step = || format!("making {path} read-only");
            self.mount(Some(&host), &host, None, MsFlags::MS_BIND | MsFlags::MS_REC, None, step)?;
            let ro = MsFlags::MS_BIND
                | MsFlags::MS_REMOUNT
                | MsFlags::MS_RDONLY
                | MsFlags::MS_NOSUID
                | MsFlags::MS_NODEV
                | MsFlags::MS_NOEXEC;
            self.mount(None, &host, None, ro, None, step)?;
        }
        let null = root.join("dev/null");
        for path in PROC_MASKED {
            let host = root.join(&path[1..]);
            if fs::symlink_metadata(&host).map(|m| m.is_file()).unwrap_or(false) {
                self.mount(Some(&null), &host, None, MsFlags::MS_BIND, None, || format!("masking {path}"))?;
            }
        }
        Ok(())
    }

    fn mount_dev(&mut self, root: &Path) -> Result<(), SandboxError> {
        let dev = self.stub(root, "/dev", Kind::Dir)?;
        let tmpfs = Some(Path::new("tmpfs"));
        let flags = MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME;
        self.mount(tmpfs, &dev, Some("tmpfs"), flags, Some("mode=755,size=65536k"), || "mounting /dev".into())?;
        for name in DEVICES {
            let node = dev.join(name);
            create_file(&node)?;
            let host = Path::new("/dev").join(name);
            self.mount(Some(&host), &node, None, MsFlags::MS_BIND, None, || format!("bind-mounting /dev/{name}"))?;
        }
        if let Some(console) = &self.spec.console {
            let node = dev.join("console");
            create_file(&node)?;
            let step = || format!("bind-mounting the terminal {} on /dev/console", console.display());
            self.mount(Some(console), &node, None, MsFlags::MS_BIND, None, step)?;
        }
        let pts = dev.join("pts");
        create_dir(&pts, 0o755)?;
        let flags = MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC;
        let data = Some("newinstance,ptmxmode=0666,mode=0620");
        self.mount(Some(Path::new("devpts")), &pts, Some("devpts"), flags, data, || "mounting /dev/pts".into())?;
        make_symlink("pts/ptmx", &dev.join("ptmx"))?;
        let shm = dev.join("shm");
        create_dir(&shm, 0o1777)?;
        let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        let data = format!("mode=1777,size={}k", self.spec.run.limits.shm_size.map_or(65536, |b| b.div_ceil(1024)));
        self.mount(Some(Path::new("shm")), &shm, Some("tmpfs"), flags, Some(&data), || "mounting /dev/shm".into())?;
        for (name, target) in [
            ("fd", "/proc/self/fd"),
            ("stdin", "/proc/self/fd/0"),
            ("stdout", "/proc/self/fd/1"),
            ("stderr", "/proc/self/fd/2"),
        ] {
            make_symlink(target, &dev.join(name))?;
        }
        self.restrict_proc(root)
    }

    fn mount_sys(&mut self, root: &Path) -> Result<(), SandboxError> {
        let sys = self.stub(root, "/sys", Kind::Dir)?;
        let flags = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        self.mount(Some(Path::new("sysfs")), &sys, Some("sysfs"), flags, None, || "mounting /sys".into())
    }

    fn mount_etc_files(&mut self, root: &Path) -> Result<(), SandboxError> {
        for file in &self.spec.etc_files {
            let target = self.stub(root, &file.target, Kind::File)?;
            let step = || format!("bind-mounting {}", file.target);
            self.mount(Some(&file.source), &target, None, MsFlags::MS_BIND, None, step)?;
            let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_NODEV | MsFlags::MS_NOSUID;
            self.mount(None, &target, None, flags, None, || format!("making {} nodev", file.target))?;
        }
        Ok(())
    }

    fn mount_binds(&mut self, root: &Path) -> Result<(), SandboxError> {
        for bind in &self.spec.run.binds {
            let meta = fs::metadata(&bind.source).map_err(io_error("reading bind source", &bind.source))?;
            let kind = if meta.is_dir() { Kind::Dir } else { Kind::File };
            let target = self.stub(root, &bind.target, kind)?;
            let step = || format!("bind-mounting {} on {}", bind.source.display(), bind.target);
            self.mount(Some(&bind.source), &target, None, MsFlags::MS_BIND | MsFlags::MS_REC, None, step)?;
            // A bind or cache mount never opens a device node, nor honours a setuid bit (as BuildKit's).
            let mut flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_NODEV | MsFlags::MS_NOSUID;
            if bind.readonly {
                flags |= MsFlags::MS_RDONLY;
            }
            self.mount(None, &target, None, flags, None, || format!("making {} nodev, nosuid", bind.target))?;
        }
        for t in &self.spec.run.tmpfs {
            let target = self.stub(root, &t.target, Kind::Dir)?;
            let data = match t.size {
                Some(size) => format!("mode=1777,size={size}"),
                None => "mode=1777".to_string(),
            };
            let mut flags = MsFlags::MS_NODEV | MsFlags::MS_NOSUID;
            if t.noexec {
                flags |= MsFlags::MS_NOEXEC;
            }
            let step = || format!("mounting a tmpfs on {}", t.target);
            self.mount(Some(Path::new("tmpfs")), &target, Some("tmpfs"), flags, Some(&data), step)?;
        }
        Ok(())
    }

    /// `pivot_root` into the prepared root, detach the old one, set the hostname. Returns where the new
    /// root is reachable from now on.
    pub(crate) fn enter_root(&mut self) -> Result<PathBuf, SandboxError> {
        let root = self.spec.mountpoint.clone();
        self.sys.chdir(&root).map_err(SandboxError::setup(format!("entering {}", root.display())))?;
        // pivot_root(".", ".") stacks the old root on top of the new one, so no directory for it is needed
        // in the image; detaching "." then leaves only the new root.
        self.sys.pivot_root(Path::new("."), Path::new(".")).map_err(SandboxError::setup("pivot_root"))?;
        self.sys
            .umount2(Path::new("."), MntFlags::MNT_DETACH)
            .map_err(SandboxError::setup("detaching the old root"))?;
        self.sys.chdir(Path::new("/")).map_err(SandboxError::setup("entering /"))?;
        self.sys.sethostname(&self.spec.run.hostname).map_err(SandboxError::setup("setting the hostname"))?;
        Ok(self.sys.root_after_pivot(&root))
    }

    /// Working directory, user, capabilities, `no_new_privs`, `chdir`: the last steps before `execve`.
    /// Returns the resolved user (its home completes the env).
    pub(crate) fn become_user(&mut self, root: &Path) -> Result<ResolvedUser, SandboxError> {
        let cwd = self.spec.run.cwd.clone();
        let cwd_host = resolve_in(root, &cwd)?;
        fs::DirBuilder::new().recursive(true).mode(0o755).create(&cwd_host).map_err(io_error("creating", &cwd_host))?;
        let spec = self.spec.run.user.as_deref().filter(|u| !u.is_empty()).unwrap_or("0");
        let user = users::resolve(root, spec, false).map_err(|e| SandboxError::User(e.to_string()))?;
        // While CAP_SYS_RESOURCE is still ours: raising a hard limit needs it.
        for (name, resource, soft, hard) in self.spec.run.limits.ulimits.set() {
            self.sys
                .setrlimit(resource, soft, hard)
                .map_err(SandboxError::setup(format!("setting --ulimit {name}")))?;
        }
        self.narrow_bounding_set()?;
        if self.spec.terminal.is_some() && user.uid != 0 {
            // While we may still chown: the user's own terminal, as with runc.
            self.sys.chown_terminal(user.uid).map_err(SandboxError::setup("giving the terminal to the user"))?;
        }
        self.sys.setgroups(&user.groups).map_err(SandboxError::setup("setting supplementary groups"))?;
        self.sys.setresgid(user.gid).map_err(SandboxError::setup(format!("setting gid {}", user.gid)))?;
        self.sys.setresuid(user.uid).map_err(SandboxError::setup(format!("setting uid {}", user.uid)))?;
        // Root keeps Docker's defaults; any other user already lost every capability in setresuid.
        let caps = if user.uid == 0 { granted_caps(self.spec.run.network) } else { 0 };
        let sets = CapSets { effective: caps, permitted: caps, inheritable: 0 };
        self.sys.capset(sets).map_err(SandboxError::setup("setting capabilities"))?;
        self.sys.clear_ambient().map_err(SandboxError::setup("clearing ambient capabilities"))?;
        self.sys.set_no_new_privs().map_err(SandboxError::setup("setting no_new_privs"))?;
        // Before seccomp, which denies keyctl: even unconfined, the caller's session keys stay out of reach.
        self.sys.join_session_keyring().map_err(SandboxError::setup("joining a new session keyring"))?;
        self.sys
            .chdir(Path::new(&cwd))
            .map_err(SandboxError::setup(format!("changing to the working directory {cwd}")))?;
        Ok(user)
    }

    fn narrow_bounding_set(&mut self) -> Result<(), SandboxError> {
        let keep = granted_caps(self.spec.run.network);
        for cap in 0..64u32 {
            match self.sys.bounding_has(cap) {
                Ok(true) if keep & (1 << cap) == 0 => {
                    self.sys.bounding_drop(cap).map_err(SandboxError::setup(format!("dropping capability {cap}")))?
                }
                Ok(_) => {}
                // Past the last capability this kernel knows.
                Err(Errno::EINVAL) => break,
                Err(errno) => return Err(SandboxError::Setup { step: "reading the bounding set".into(), errno }),
            }
        }
        Ok(())
    }

    /// Resolve a container path inside the rootfs and create what is missing (parents as 0755
    /// directories, the last as `kind`), recording created paths unless they are on a pseudo filesystem.
    fn stub(&mut self, root: &Path, path: &str, kind: Kind) -> Result<PathBuf, SandboxError> {
        let comps = rootpath::resolve(root, Path::new(path), true, Escape::Clamp).map_err(|e| SandboxError::Setup {
            step: format!("resolving {path} in the rootfs: {e}"),
            errno: Errno::ELOOP,
        })?;
        if comps.as_os_str().is_empty() {
            return Err(SandboxError::MountOnRoot { mount_point: path.to_string() });
        }
        let comps: Vec<_> = comps.components().collect();
        let mut host = root.to_path_buf();
        for (i, comp) in comps.iter().enumerate() {
            host.push(comp);
            match fs::symlink_metadata(&host) {
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_error("inspecting", &host)(e)),
            }
            let last = i + 1 == comps.len();
            if last && kind == Kind::File {
                create_file(&host)?;
            } else {
                create_dir(&host, 0o755)?;
            }
            let container = format!("/{}", comps[..=i].iter().collect::<PathBuf>().display());
            if !PSEUDO_FS.iter().any(|p| container.starts_with(&format!("{p}/"))) {
                self.stubs.push(container);
            }
        }
        Ok(host)
    }
}

/// The overlay options and the directory they are relative to: lower dirs named relative to their
/// common parent (top-most first), upper and work dirs absolute. `\`, `,` and `:` are escaped.
pub fn overlay_options(lowers: &[PathBuf], upper: &Path, work: &Path) -> (PathBuf, String) {
    let parent = common_parent(lowers);
    let names: Vec<String> = lowers
        .iter()
        .map(|l| {
            let rel = l.strip_prefix(&parent).unwrap_or(l);
            let rel = if rel.as_os_str().is_empty() { Path::new(".") } else { rel };
            escape_overlay(&rel.to_string_lossy())
        })
        .collect();
    let options = format!(
        "lowerdir={},upperdir={},workdir={}",
        names.join(":"),
        escape_overlay(&upper.to_string_lossy()),
        escape_overlay(&work.to_string_lossy())
    );
    (parent, options)
}

/// Overlay mount options are read from one page.
pub const MAX_OVERLAY_OPTIONS: usize = 4000;

/// A short symlink `<dir>/<n>` (in `dir`, which must exist) to each lower dir, in order: lower dirs
/// named through them fit in the mount options by the hundred where their own paths fit by the few dozen
/// (Docker's overlay2 does the same). The kernel resolves the links when it mounts.
pub fn link_lowers(lowers: &[PathBuf], dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    lowers
        .iter()
        .enumerate()
        .map(|(i, lower)| {
            let link = dir.join(i.to_string());
            std::os::unix::fs::symlink(lower, &link)?;
            Ok(link)
        })
        .collect()
}

fn escape_overlay(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | ',' | ':') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The deepest directory containing every lower dir (a lone lower's parent).
fn common_parent(lowers: &[PathBuf]) -> PathBuf {
    let mut common: Option<Vec<OsString>> = None;
    for l in lowers {
        let parent = l.parent().unwrap_or(Path::new("/"));
        let comps: Vec<OsString> = parent.components().map(|c| c.as_os_str().to_os_string()).collect();
        common = Some(match common {
            None => comps,
            Some(c) => c.iter().zip(&comps).take_while(|(a, b)| a == b).map(|(a, _)| a.clone()).collect(),
        });
    }
    let comps = common.unwrap_or_default();
    if comps.is_empty() {
        PathBuf::from("/")
    } else {
        comps.iter().collect()
    }
}

fn resolve_in(root: &Path, path: &str) -> Result<PathBuf, SandboxError> {
    rootpath::resolve_in(root, Path::new(path), true, Escape::Clamp)
        .map_err(|e| SandboxError::Setup { step: format!("resolving {path} in the rootfs: {e}"), errno: Errno::ELOOP })
}

fn io_error<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> SandboxError + 'a {
    move |source| SandboxError::Io { what, path: path.to_path_buf(), source }
}

fn create_file(path: &Path) -> Result<(), SandboxError> {
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o644)
        .open(path)
        .map(drop)
        .map_err(io_error("creating", path))
}

fn create_dir(path: &Path, mode: u32) -> Result<(), SandboxError> {
    match fs::DirBuilder::new().mode(mode).create(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(io_error("creating", path)(e)),
    }?;
    // The umask narrowed the mode (1777 for /dev/shm must stay 1777).
    fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(mode)).map_err(io_error("chmod", path))
}

fn make_symlink(target: &str, link: &Path) -> Result<(), SandboxError> {
    match symlink(target, link) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(io_error("creating", link)(e)),
        _ => Ok(()),
    }
}
