//! Unit tests of the setup sequence against the recording fake: what is mounted where, in which order,
//! with which flags; which ids and capabilities are set; which stubs are reported. No root needed.

use super::fake::FakeSys;
use super::parent::namespace_flags;
use super::setup::{default_cap_mask, granted_caps, overlay_options, Setup, DEFAULT_CAPS};
use super::wire::{read_messages, EtcFile, InitSpec, Message, WireError};
use super::*;
use nix::sched::CloneFlags;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

struct Fixture {
    tmp: tempfile::TempDir,
}

impl Fixture {
    /// A temp dir with `rootfs/` (the mount point, standing in for the image: the fake mounts nothing)
    /// holding /etc/passwd, /etc/group and /proc, plus the scratch `/etc` files.
    fn new() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("rootfs");
        fs::create_dir_all(root.join("etc")).unwrap();
        fs::create_dir_all(root.join("proc")).unwrap();
        fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n")
            .unwrap();
        fs::write(root.join("etc/group"), "root:x:0:\napp:x:1001:\nwheel:x:10:app\n").unwrap();
        for f in ["hosts", "resolv.conf", "hostname"] {
            fs::write(tmp.path().join(f), "").unwrap();
        }
        Fixture { tmp }
    }

    fn path(&self, rel: &str) -> std::path::PathBuf {
        self.tmp.path().join(rel)
    }

    fn spec(&self, rootfs: Rootfs) -> InitSpec {
        InitSpec {
            run: RunSpec {
                rootfs,
                argv: vec!["sh".into()],
                env: vec![],
                cwd: "/work/dir".into(),
                user: None,
                network: Network::Host,
                hostname: "box".into(),
                binds: vec![],
                tmpfs: vec![],
                stdin: Stdin::Null,
                seccomp: Default::default(),
                limits: Default::default(),
                readonly_rootfs: false,
                hosts_file: None,
                resolution: Default::default(),
            },
            mountpoint: self.path("rootfs"),
            etc_files: ["hosts", "resolv.conf", "hostname"]
                .iter()
                .map(|n| EtcFile { target: format!("/etc/{n}"), source: self.path(n) })
                .collect(),
            foreground: false,
            console: None,
            terminal: None,
            seccomp: None,
        }
    }

    fn overlay(&self) -> Rootfs {
        Rootfs::Overlay {
            lowers: vec![self.path("snapshots/top"), self.path("snapshots/base")],
            upper: self.path("upper"),
            work: self.path("work"),
        }
    }
}

/// Run the three setup steps; the fake's log and the stubs.
fn run_setup(spec: &InitSpec, sys: &mut FakeSys) -> (Result<(), SandboxError>, Vec<String>) {
    let mut setup = Setup::new(sys, spec);
    let result = setup.prepare_root().and_then(|()| {
        let root = setup.enter_root()?;
        setup.become_user(&root).map(drop)
    });
    (result, setup.stubs().to_vec())
}

fn mounts(calls: &[String]) -> Vec<&str> {
    calls.iter().filter(|c| c.starts_with("mount ")).map(String::as_str).collect()
}

#[test]
fn overlay_rootfs_setup_mounts_everything_in_order_then_pivots() {
    let fx = Fixture::new();
    let spec = fx.spec(fx.overlay());
    let mut sys = FakeSys::new(fx.tmp.path());
    let (result, _) = run_setup(&spec, &mut sys);
    result.unwrap();
    let nosuid_nodev_noexec = "MsFlags(MS_NOSUID | MS_NODEV | MS_NOEXEC)";
    let expected_prefix = [
        "mount - / - MsFlags(MS_REC | MS_PRIVATE) -".to_string(),
        "chdir <tmp>/snapshots".to_string(),
        format!(
            "mount overlay <tmp>/rootfs overlay MsFlags(MS_NODEV) lowerdir=top:base,upperdir={},workdir={}",
            fx.path("upper").display(),
            fx.path("work").display()
        ),
        format!("mount proc <tmp>/rootfs/proc proc {nosuid_nodev_noexec} -"),
        "mount tmpfs <tmp>/rootfs/dev tmpfs MsFlags(MS_NOSUID | MS_STRICTATIME) mode=755,size=65536k".to_string(),
    ];
    assert_eq!(sys.calls[..5], expected_prefix[..], "{:#?}", sys.calls);
    let m = mounts(&sys.calls);
    for dev in DEVICES_FOR_TEST {
        assert!(
            m.contains(&format!("mount /dev/{dev} <tmp>/rootfs/dev/{dev} - MsFlags(MS_BIND) -").as_str()),
            "{m:#?}"
        );
    }
    let pts =
        "mount devpts <tmp>/rootfs/dev/pts devpts MsFlags(MS_NOSUID | MS_NOEXEC) newinstance,ptmxmode=0666,mode=0620";
    let shm = format!("mount shm <tmp>/rootfs/dev/shm tmpfs {nosuid_nodev_noexec} mode=1777,size=65536k");
    let sys_ro = "mount sysfs <tmp>/rootfs/sys sysfs MsFlags(MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC) -";
    let hosts = "mount <tmp>/hosts <tmp>/rootfs/etc/hosts - MsFlags(MS_BIND) -".to_string();
    let pos = |needle: &str| m.iter().position(|c| *c == needle).unwrap_or_else(|| panic!("{needle} not in {m:#?}"));
    assert!(pos(pts) < pos(&shm) && pos(&shm) < pos(sys_ro) && pos(sys_ro) < pos(&hosts));
    assert_eq!(fs::read_link(fx.path("rootfs/dev/ptmx")).unwrap(), Path::new("pts/ptmx"));
    assert_eq!(fs::metadata(fx.path("rootfs/dev/shm")).unwrap().permissions().mode() & 0o7777, 0o1777);
    // After the mounts: pivot into the new root, detach the old one, then the identity.
    let after: Vec<&str> =
        sys.calls.iter().skip_while(|c| !c.starts_with("chdir <tmp>/rootfs")).map(String::as_str).collect();
    assert_eq!(
        after[..6],
        [
            "chdir <tmp>/rootfs",
            "pivot_root . .",
            "umount2 . MntFlags(MNT_DETACH)",
            "chdir /",
            "sethostname box",
            "bounding_drop 2"
        ]
    );
    let tail: Vec<&str> = after.iter().copied().filter(|c| !c.starts_with("bounding_drop")).collect();
    assert_eq!(
        tail[5..],
        [
            "setgroups []",
            "setresgid 0",
            "setresuid 0",
            // Docker's a80425fb without CAP_MKNOD (27) and, on the host network, CAP_NET_RAW (13).
            "capset eff=0xa00405fb prm=0xa00405fb inh=0x0",
            "clear_ambient",
            "set_no_new_privs",
            "join_session_keyring",
            "chdir /work/dir",
        ]
    );
    assert!(!sys.calls.iter().any(|c| c.starts_with("loopback_up")));
}

const DEVICES_FOR_TEST: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];

#[test]
fn defect1_defect4_the_bounding_set_is_dockers_defaults_without_mknod_and_net_raw_on_the_host_network() {
    let fx = Fixture::new();
    let spec = fx.spec(fx.overlay());
    let mut sys = FakeSys::new(fx.tmp.path());
    run_setup(&spec, &mut sys).0.unwrap();
    let dropped: Vec<u32> =
        sys.calls.iter().filter_map(|c| c.strip_prefix("bounding_drop ")).map(|n| n.parse().unwrap()).collect();
    let kept: Vec<u32> = (0..41).filter(|c| !dropped.contains(c)).collect();
    let docker: Vec<u32> = DEFAULT_CAPS.iter().map(|(n, _)| *n).filter(|n| ![13, 27].contains(n)).collect();
    assert_eq!(kept, docker);
    assert_eq!(default_cap_mask(), 0xa804_25fb);
    assert_eq!(granted_caps(Network::Host), 0xa004_05fb);
    assert_eq!(granted_caps(Network::None), 0xa004_25fb);
    // The bounding set is narrowed while still root, before the ids change.
    let last_drop = sys.calls.iter().rposition(|c| c.starts_with("bounding_drop")).unwrap();
    let setresuid = sys.calls.iter().position(|c| c.starts_with("setresuid")).unwrap();
    assert!(last_drop < setresuid);
}

#[test]
fn a_named_user_gets_its_ids_groups_and_no_capabilities() {
    let fx = Fixture::new();
    let mut spec = fx.spec(fx.overlay());
    spec.run.user = Some("app".into());
    let mut sys = FakeSys::new(fx.tmp.path());
    run_setup(&spec, &mut sys).0.unwrap();
    let ids: Vec<&str> = sys
        .calls
        .iter()
        .filter(|c| c.starts_with("set") || c.starts_with("capset"))
        .map(String::as_str)
        .filter(|c| !c.starts_with("sethostname"))
        .collect();
    assert_eq!(
        ids,
        ["setgroups [10]", "setresgid 1001", "setresuid 1000", "capset eff=0x0 prm=0x0 inh=0x0", "set_no_new_privs"]
    );
}

#[test]
fn an_unknown_user_is_a_setup_error_naming_it() {
    let fx = Fixture::new();
    let mut spec = fx.spec(fx.overlay());
    spec.run.user = Some("ghost".into());
    let mut sys = FakeSys::new(fx.tmp.path());
    let err = run_setup(&spec, &mut sys).0.unwrap_err();
    assert_eq!(err.to_string(), "sandbox: unable to find user ghost: no matching entries in passwd file");
    assert!(!sys.calls.iter().any(|c| c.starts_with("setresuid")));
}

#[test]
fn a_directory_rootfs_is_bind_mounted_and_none_network_brings_lo_up() {
    let fx = Fixture::new();
    let mut spec = fx.spec(Rootfs::Dir(fx.path("copy")));
    spec.run.network = Network::None;
    let mut sys = FakeSys::new(fx.tmp.path());
    run_setup(&spec, &mut sys).0.unwrap();
    assert_eq!(sys.calls[1], "mount <tmp>/copy <tmp>/rootfs - MsFlags(MS_BIND | MS_REC) -");
    assert_eq!(sys.calls[2], "mount - <tmp>/rootfs - MsFlags(MS_NODEV | MS_REMOUNT | MS_BIND) -");
    assert_eq!(sys.calls[3], "loopback_up");
    // In its own empty network namespace the root keeps CAP_NET_RAW (ping on lo), as in Docker.
    assert!(sys.calls.iter().any(|c| c == "capset eff=0xa00425fb prm=0xa00425fb inh=0x0"), "{:#?}", sys.calls);
    assert!(namespace_flags(Network::None).contains(CloneFlags::CLONE_NEWNET));
    assert!(!namespace_flags(Network::Host).contains(CloneFlags::CLONE_NEWNET));
    // A container's own namespace: new unless the caller hands one in (run_in_netns), never the host's.
    assert!(namespace_flags(Network::Bridge).contains(CloneFlags::CLONE_NEWNET));
    assert_eq!(granted_caps(Network::Bridge), granted_caps(Network::None));
    let all = CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWIPC | CloneFlags::CLONE_NEWPID;
    assert_eq!(namespace_flags(Network::Host), all);
}

#[test]
fn missing_mount_points_become_reported_stubs_but_pseudo_fs_contents_do_not() {
    let fx = Fixture::new();
    let mut spec = fx.spec(fx.overlay());
    fs::create_dir_all(fx.path("cache")).unwrap();
    fs::write(fx.path("secret"), "x").unwrap();
    spec.run.binds = vec![
        Bind { source: fx.path("cache"), target: "/root/.cache/go".into(), readonly: false },
        Bind { source: fx.path("secret"), target: "/run/secrets/token".into(), readonly: true },
    ];
    let mut sys = FakeSys::new(fx.tmp.path());
    let (result, stubs) = run_setup(&spec, &mut sys);
    result.unwrap();
    // /proc and /etc exist in the image; /dev/null and friends live on the sandbox's tmpfs.
    assert_eq!(
        stubs,
        [
            "/dev",
            "/sys",
            "/etc/hosts",
            "/etc/resolv.conf",
            "/etc/hostname",
            "/root",
            "/root/.cache",
            "/root/.cache/go",
            "/run",
            "/run/secrets",
            "/run/secrets/token"
        ]
    );
    assert!(fx.path("rootfs/root/.cache/go").is_dir());
    assert!(fx.path("rootfs/run/secrets/token").is_file());
    let m = mounts(&sys.calls);
    let token = "<tmp>/rootfs/run/secrets/token";
    assert!(m.contains(&format!("mount <tmp>/secret {token} - MsFlags(MS_BIND | MS_REC) -").as_str()));
    let ro = "MsFlags(MS_RDONLY | MS_NOSUID | MS_NODEV | MS_REMOUNT | MS_BIND)";
    assert!(m.contains(&format!("mount - {token} - {ro} -").as_str()), "{m:#?}");
    let rw = "MsFlags(MS_NOSUID | MS_NODEV | MS_REMOUNT | MS_BIND)";
    assert!(m.contains(&format!("mount - <tmp>/rootfs/root/.cache/go - {rw} -").as_str()), "{m:#?}");
    // The working directory is created (0755) but is content, not a stub.
    assert_eq!(fs::metadata(fx.path("rootfs/work/dir")).unwrap().permissions().mode() & 0o777, 0o755);
    assert!(!stubs.iter().any(|s| s.starts_with("/work")));
}

#[test]
fn mount_points_behind_absolute_symlinks_stay_inside_the_rootfs() {
    let fx = Fixture::new();
    let outside = fx.path("host-etc");
    fs::remove_dir_all(fx.path("rootfs/etc")).unwrap();
    // A hostile image: /etc points at a host path. The stub must land in rootfs/<that path>.
    symlink(&outside, fx.path("rootfs/etc")).unwrap();
    let spec = fx.spec(fx.overlay());
    let mut sys = FakeSys::new(fx.tmp.path());
    let (_, stubs) = run_setup(&spec, &mut sys);
    assert!(!outside.exists(), "a stub was created on the host through the image's symlink");
    let inside = fx.path("rootfs").join(outside.strip_prefix("/").unwrap()).join("hosts");
    assert!(inside.is_file());
    assert!(stubs.contains(&format!("{}/hosts", outside.display())), "{stubs:?}");
}

#[test]
fn a_mount_point_resolving_to_the_root_is_refused() {
    let fx = Fixture::new();
    fs::remove_dir(fx.path("rootfs/proc")).unwrap();
    symlink("/", fx.path("rootfs/proc")).unwrap();
    let spec = fx.spec(fx.overlay());
    let mut sys = FakeSys::new(fx.tmp.path());
    let err = run_setup(&spec, &mut sys).0.unwrap_err();
    assert_eq!(err.to_string(), "sandbox: /proc resolves to the root of the rootfs");
}

#[test]
fn a_failing_mount_names_the_step_and_stops_the_setup() {
    let fx = Fixture::new();
    let spec = fx.spec(fx.overlay());
    let mut sys = FakeSys::new(fx.tmp.path());
    sys.fail = Some(("mount proc".into(), nix::errno::Errno::EPERM));
    let (result, stubs) = run_setup(&spec, &mut sys);
    let err = result.unwrap_err();
    assert_eq!(err.to_string(), "sandbox: mounting /proc: EPERM: Operation not permitted");
    assert!(stubs.is_empty());
    assert!(!sys.calls.iter().any(|c| c.starts_with("pivot_root")));
    // The failure crosses the status pipe intact.
    let line = serde_json::to_string(&Message::Failed(WireError::from(&err))).unwrap();
    let (_, failure) = read_messages(&line).unwrap();
    assert_eq!(SandboxError::from(failure.unwrap()).to_string(), err.to_string());
}

#[test]
fn overlay_options_stay_short_with_many_layers() {
    let base = Path::new("/var/lib/rbuild/snapshots");
    let lowers: Vec<_> = (0..60).map(|i| base.join(format!("{i:064x}"))).collect();
    let (parent, options) =
        overlay_options(&lowers, Path::new("/var/lib/rbuild/tmp/u"), Path::new("/var/lib/rbuild/tmp/w"));
    assert_eq!(parent, base);
    assert!(options.starts_with(&format!("lowerdir={:064x}:{:064x}:", 0, 1)));
    assert!(options.len() < 4096, "{} bytes", options.len());
    let (_, escaped) = overlay_options(&[base.join("a,b:c")], Path::new("/u"), Path::new("/w"));
    assert_eq!(escaped, "lowerdir=a\\,b\\:c,upperdir=/u,workdir=/w");
    let (parent, names) = overlay_options(&[base.join("x/1"), base.join("y/2")], Path::new("/u"), Path::new("/w"));
    assert_eq!((parent.as_path(), names.as_str()), (base, "lowerdir=x/1:y/2,upperdir=/u,workdir=/w"));
}

#[test]
fn exec_failures_map_to_dockers_exit_codes() {
    assert_eq!(SandboxError::NotFound { argv0: "x".into() }.exec_exit_code(), Some(127));
    let missing = SandboxError::Exec { argv0: "/x".into(), errno: nix::errno::Errno::ENOENT };
    assert_eq!(missing.exec_exit_code(), Some(127));
    let denied = SandboxError::Exec { argv0: "/x".into(), errno: nix::errno::Errno::EACCES };
    assert_eq!(denied.exec_exit_code(), Some(126));
    assert_eq!(SandboxError::EmptyCommand.exec_exit_code(), None);
}
