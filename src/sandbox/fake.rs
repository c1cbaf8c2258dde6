//! A recording [`Sys`] for unit tests: every call is appended to a log as one readable line, nothing
//! reaches the kernel, and chosen calls can be made to fail with an errno.

use super::sys::{CapSets, Sys};
use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;
use std::path::{Path, PathBuf};

#[derive(Debug, Default)]
pub(crate) struct FakeSys {
    pub calls: Vec<String>,
    /// The first call whose log line starts with this prefix fails with the errno.
    pub fail: Option<(String, Errno)>,
    /// Capabilities the fake kernel knows (cap_last_cap + 1); all start in the bounding set.
    pub known_caps: u32,
    /// Paths are logged relative to this directory (the test's temp dir), as `<tmp>/…`.
    pub base: PathBuf,
}

impl FakeSys {
    pub(crate) fn new(base: &Path) -> FakeSys {
        FakeSys { known_caps: 41, base: base.to_path_buf(), ..FakeSys::default() }
    }

    fn show(&self, p: &Path) -> String {
        match p.strip_prefix(&self.base) {
            Ok(rel) => format!("<tmp>/{}", rel.display()),
            Err(_) => p.display().to_string(),
        }
    }

    fn record(&mut self, line: String) -> nix::Result<()> {
        let fails = matches!(&self.fail, Some((prefix, _)) if line.starts_with(prefix.as_str()));
        self.calls.push(line);
        match (fails, self.fail.take()) {
            (true, Some((_, errno))) => Err(errno),
            (_, kept) => {
                self.fail = kept;
                Ok(())
            }
        }
    }
}

impl Sys for FakeSys {
    fn unshare(&mut self, flags: CloneFlags) -> nix::Result<()> {
        self.record(format!("unshare {flags:?}"))
    }

    fn mount(
        &mut self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> nix::Result<()> {
        let source = source.map(|s| self.show(s)).unwrap_or_else(|| "-".into());
        let line =
            format!("mount {source} {} {} {flags:?} {}", self.show(target), fstype.unwrap_or("-"), data.unwrap_or("-"));
        self.record(line)
    }

    fn umount2(&mut self, target: &Path, flags: MntFlags) -> nix::Result<()> {
        let line = format!("umount2 {} {flags:?}", self.show(target));
        self.record(line)
    }

    fn pivot_root(&mut self, new_root: &Path, put_old: &Path) -> nix::Result<()> {
        let line = format!("pivot_root {} {}", self.show(new_root), self.show(put_old));
        self.record(line)
    }

    fn chdir(&mut self, dir: &Path) -> nix::Result<()> {
        let line = format!("chdir {}", self.show(dir));
        self.record(line)
    }

    fn sethostname(&mut self, name: &str) -> nix::Result<()> {
        self.record(format!("sethostname {name}"))
    }

    fn loopback_up(&mut self) -> nix::Result<()> {
        self.record("loopback_up".into())
    }

    fn setgroups(&mut self, gids: &[u32]) -> nix::Result<()> {
        self.record(format!("setgroups {gids:?}"))
    }

    fn setresgid(&mut self, gid: u32) -> nix::Result<()> {
        self.record(format!("setresgid {gid}"))
    }

    fn setresuid(&mut self, uid: u32) -> nix::Result<()> {
        self.record(format!("setresuid {uid}"))
    }

    fn bounding_has(&mut self, cap: u32) -> nix::Result<bool> {
        if cap >= self.known_caps {
            return Err(Errno::EINVAL);
        }
        Ok(!self.calls.contains(&format!("bounding_drop {cap}")))
    }

    fn bounding_drop(&mut self, cap: u32) -> nix::Result<()> {
        self.record(format!("bounding_drop {cap}"))
    }

    fn capset(&mut self, sets: CapSets) -> nix::Result<()> {
        self.record(format!("capset eff={:#x} prm={:#x} inh={:#x}", sets.effective, sets.permitted, sets.inheritable))
    }

    fn clear_ambient(&mut self) -> nix::Result<()> {
        self.record("clear_ambient".into())
    }

    fn set_no_new_privs(&mut self) -> nix::Result<()> {
        self.record("set_no_new_privs".into())
    }

    fn chown_terminal(&mut self, uid: u32) -> nix::Result<()> {
        self.record(format!("chown_terminal {uid}"))
    }

    fn setrlimit(&mut self, resource: u32, soft: u64, hard: u64) -> nix::Result<()> {
        self.record(format!("setrlimit {resource} {soft} {hard}"))
    }

    fn join_session_keyring(&mut self) -> nix::Result<()> {
        self.record("join_session_keyring".into())
    }

    fn root_after_pivot(&self, new_root: &Path) -> PathBuf {
        new_root.to_path_buf()
    }
}
