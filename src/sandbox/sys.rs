//! The system-call seam of the sandbox: every kernel call that changes what the sandboxed process can
//! see or do goes through [`Sys`], so the setup sequence (what is mounted where, in which order, with
//! which flags, which ids and capabilities are set) is unit-tested with a recording fake, without root.
//! [`LinuxSys`] is the real implementation; its few `unsafe` blocks are the calls nix does not wrap
//! (capabilities, the loopback ioctl).

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;
use nix::unistd::{Gid, Uid};
use std::path::{Path, PathBuf};

/// Capability sets as bit masks (bit N = capability N).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapSets {
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
}

/// The kernel calls the sandbox makes.
pub trait Sys {
    fn unshare(&mut self, flags: CloneFlags) -> nix::Result<()>;
    fn mount(
        &mut self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> nix::Result<()>;
    fn umount2(&mut self, target: &Path, flags: MntFlags) -> nix::Result<()>;
    fn pivot_root(&mut self, new_root: &Path, put_old: &Path) -> nix::Result<()>;
    fn chdir(&mut self, dir: &Path) -> nix::Result<()>;
    fn sethostname(&mut self, name: &str) -> nix::Result<()>;
    /// Bring the loopback interface of the current network namespace up.
    fn loopback_up(&mut self) -> nix::Result<()>;
    fn setgroups(&mut self, gids: &[u32]) -> nix::Result<()>;
    fn setresgid(&mut self, gid: u32) -> nix::Result<()>;
    fn setresuid(&mut self, uid: u32) -> nix::Result<()>;
    /// Whether `cap` is in the bounding set; `EINVAL` past the last capability the kernel knows.
    fn bounding_has(&mut self, cap: u32) -> nix::Result<bool>;
    fn bounding_drop(&mut self, cap: u32) -> nix::Result<()>;
    fn capset(&mut self, sets: CapSets) -> nix::Result<()>;
    fn clear_ambient(&mut self) -> nix::Result<()>;
    fn set_no_new_privs(&mut self) -> nix::Result<()>;
    /// Give the terminal on fd 0 (the pty's slave, `-t`) to `uid`, so a non-root user can reopen it by
    /// name (runc's `fixStdioPermissions`); its group stays.
    fn chown_terminal(&mut self, uid: u32) -> nix::Result<()>;
    /// `setrlimit(resource, soft, hard)` (`--ulimit`).
    fn setrlimit(&mut self, resource: u32, soft: u64, hard: u64) -> nix::Result<()>;
    /// Join a new anonymous session keyring, so no key of rbuild's session is reachable.
    fn join_session_keyring(&mut self) -> nix::Result<()>;
    /// Where the new root is reachable from this process once `pivot_root` has run: `/` for real, the
    /// mount point itself for a fake that never pivots.
    fn root_after_pivot(&self, new_root: &Path) -> PathBuf;
}

/// The real kernel.
#[derive(Debug, Default, Clone, Copy)]
pub struct LinuxSys;

/// `keyctl(2)` operation: join (or create) a session keyring.
const KEYCTL_JOIN_SESSION_KEYRING: libc::c_int = 1;

/// `_LINUX_CAPABILITY_VERSION_3`: two 32-bit words per set.
const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

impl Sys for LinuxSys {
    fn unshare(&mut self, flags: CloneFlags) -> nix::Result<()> {
        nix::sched::unshare(flags)
    }

    fn mount(
        &mut self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> nix::Result<()> {
        nix::mount::mount(source, target, fstype, flags, data)
    }

    fn umount2(&mut self, target: &Path, flags: MntFlags) -> nix::Result<()> {
        nix::mount::umount2(target, flags)
    }

    fn pivot_root(&mut self, new_root: &Path, put_old: &Path) -> nix::Result<()> {
        nix::unistd::pivot_root(new_root, put_old)
    }

    fn chdir(&mut self, dir: &Path) -> nix::Result<()> {
        nix::unistd::chdir(dir)
    }

    fn sethostname(&mut self, name: &str) -> nix::Result<()> {
        nix::unistd::sethostname(name)
    }

    fn loopback_up(&mut self) -> nix::Result<()> {
        // SAFETY: plain socket(2) call with constant arguments; the returned fd is owned below.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(Errno::last());
        }
        // SAFETY: `fd` was just returned by socket(2) and nothing else owns it.
        let sock = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        let raw = std::os::fd::AsRawFd::as_raw_fd(&sock);
        // SAFETY: ifreq is a plain C struct for which all-zero bytes are a valid value.
        let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
        for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
            *dst = *src as libc::c_char;
        }
        // SAFETY: SIOCGIFFLAGS reads the interface name from and writes the flags into `req`, which lives
        // for the whole call.
        if unsafe { libc::ioctl(raw, libc::SIOCGIFFLAGS, &mut req) } < 0 {
            return Err(Errno::last());
        }
        // SAFETY: SIOCGIFFLAGS just filled the `ifru_flags` member of the union.
        let flags = unsafe { req.ifr_ifru.ifru_flags };
        req.ifr_ifru.ifru_flags = flags | (libc::IFF_UP as libc::c_short);
        // SAFETY: SIOCSIFFLAGS reads `req` (name and flags), which lives for the whole call.
        if unsafe { libc::ioctl(raw, libc::SIOCSIFFLAGS, &req) } < 0 {
            return Err(Errno::last());
        }
        Ok(())
    }

    fn setgroups(&mut self, gids: &[u32]) -> nix::Result<()> {
        let gids: Vec<Gid> = gids.iter().map(|g| Gid::from_raw(*g)).collect();
        nix::unistd::setgroups(&gids)
    }

    fn setresgid(&mut self, gid: u32) -> nix::Result<()> {
        let g = Gid::from_raw(gid);
        nix::unistd::setresgid(g, g, g)
    }

    fn setresuid(&mut self, uid: u32) -> nix::Result<()> {
        let u = Uid::from_raw(uid);
        nix::unistd::setresuid(u, u, u)
    }

    fn bounding_has(&mut self, cap: u32) -> nix::Result<bool> {
        // SAFETY: PR_CAPBSET_READ takes the capability number by value and touches no memory.
        let r = unsafe { libc::prctl(libc::PR_CAPBSET_READ, cap as libc::c_ulong, 0, 0, 0) };
        Errno::result(r).map(|r| r == 1)
    }

    fn bounding_drop(&mut self, cap: u32) -> nix::Result<()> {
        // SAFETY: PR_CAPBSET_DROP takes the capability number by value and touches no memory.
        let r = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
        Errno::result(r).map(drop)
    }

    fn capset(&mut self, sets: CapSets) -> nix::Result<()> {
        let mut header = CapHeader { version: CAPABILITY_VERSION_3, pid: 0 };
        let word = |v: u64, i: usize| (v >> (32 * i)) as u32;
        let data: [CapData; 2] = std::array::from_fn(|i| CapData {
            effective: word(sets.effective, i),
            permitted: word(sets.permitted, i),
            inheritable: word(sets.inheritable, i),
        });
        // SAFETY: capset(2) with a version-3 header reads exactly two CapData entries, which `data` holds;
        // both live for the whole call.
        let r = unsafe { libc::syscall(libc::SYS_capset, &mut header as *mut CapHeader, data.as_ptr()) };
        Errno::result(r).map(drop)
    }

    fn clear_ambient(&mut self) -> nix::Result<()> {
        // SAFETY: PR_CAP_AMBIENT_CLEAR_ALL takes only integer arguments and touches no memory.
        let r = unsafe { libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong, 0, 0, 0) };
        // Kernels before 4.3 have no ambient set, so there is nothing to clear.
        match Errno::result(r) {
            Err(Errno::EINVAL) => Ok(()),
            other => other.map(drop),
        }
    }

    fn set_no_new_privs(&mut self) -> nix::Result<()> {
        nix::sys::prctl::set_no_new_privs()
    }

    fn chown_terminal(&mut self, uid: u32) -> nix::Result<()> {
        nix::unistd::fchown(std::io::stdin(), Some(Uid::from_raw(uid)), None)
    }

    fn setrlimit(&mut self, resource: u32, soft: u64, hard: u64) -> nix::Result<()> {
        let limit = libc::rlimit { rlim_cur: soft, rlim_max: hard };
        // SAFETY: setrlimit only reads `limit`, which lives across the call.
        Errno::result(unsafe { libc::setrlimit(resource as _, &limit) }).map(drop)
    }

    fn join_session_keyring(&mut self) -> nix::Result<()> {
        // SAFETY: KEYCTL_JOIN_SESSION_KEYRING with a NULL name creates and joins an anonymous keyring; no
        // memory is passed.
        let r =
            unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, std::ptr::null::<libc::c_char>()) };
        // A kernel without keyrings has no keyring to leak either.
        match Errno::result(r) {
            Err(Errno::ENOSYS) => Ok(()),
            other => other.map(drop),
        }
    }

    fn root_after_pivot(&self, _new_root: &Path) -> PathBuf {
        PathBuf::from("/")
    }
}
