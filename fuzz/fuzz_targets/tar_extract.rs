//! Tar extraction (plain, gzip or zstd, sniffed) of arbitrary bytes: errors are fine; a panic, or any
//! change outside the target directory, is a bug.
//!
//! Each input is extracted inside a fresh jail directory that the process `chroot`s into for the
//! extraction alone (we run as root): the target is `/target`, beside it lie a decoy file and a decoy
//! directory. An escape — through `..`, an absolute or relative symlink, a hard link, a chmod or chown
//! through a symlink — can then only land in the jail, where it is seen: after each input the jail must
//! hold exactly `target`, `decoy` and `decoy-dir`, unchanged. The host is never at risk: even an escape
//! stays in the jail, and the jail lives on a tmpfs-like scratch dir that is removed afterwards.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::ffi::CString;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::sync::OnceLock;

const DECOY_TEXT: &[u8] = b"must not change\n";

struct Host {
    /// The real root and the working directory, to leave the jail by (fchdir + chroot(".")).
    root: fs::File,
    cwd: fs::File,
    /// Where each input's jail is made.
    scratch: tempfile::TempDir,
}

static HOST: OnceLock<Host> = OnceLock::new();

fn host() -> &'static Host {
    HOST.get_or_init(|| {
        assert!(nix_is_root(), "tar_extract needs root (it chroots into a jail per input)");
        let base = if Path::new("/dev/shm").is_dir() { "/dev/shm" } else { "/tmp" };
        // libFuzzer ends with exit(), which drops no static: remove the scratch dir from an atexit
        // handler. After a crash it stays, holding the jail of the input that crashed.
        // SAFETY: atexit only records the pointer of `remove_scratch`, an `extern "C" fn()` that takes
        // nothing and cannot unwind into C (a panic there aborts).
        unsafe { libc::atexit(remove_scratch) };
        Host {
            root: fs::File::open("/").expect("open /"),
            cwd: fs::File::open(".").expect("open the working directory"),
            scratch: tempfile::Builder::new().prefix("rbuild-fuzz-tar.").tempdir_in(base).expect("scratch dir"),
        }
    })
}

extern "C" fn remove_scratch() {
    if let Some(host) = HOST.get() {
        let _ = fs::remove_dir_all(host.scratch.path());
    }
}

fn nix_is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn chroot(path: &str) {
    let c = CString::new(path).unwrap();
    // SAFETY: `c` is a valid NUL-terminated string that outlives the call.
    assert_eq!(unsafe { libc::chroot(c.as_ptr()) }, 0, "chroot {path}: {}", std::io::Error::last_os_error());
}

fn fchdir(dir: &fs::File) {
    // SAFETY: the fd is open for the lifetime of `dir`.
    assert_eq!(unsafe { libc::fchdir(dir.as_raw_fd()) }, 0, "fchdir: {}", std::io::Error::last_os_error());
}

/// What must not change outside the target: (name, mode, uid, gid, mtime, size).
fn outside(jail: &Path) -> Vec<(String, u32, u32, u32, i64, u64)> {
    let mut out = Vec::new();
    let stat = |name: String, m: fs::Metadata| (name, m.mode(), m.uid(), m.gid(), m.mtime(), m.len());
    out.push(stat(".".into(), fs::symlink_metadata(jail).expect("stat the jail")));
    let mut names: Vec<_> = fs::read_dir(jail).expect("list the jail").map(|e| e.unwrap().file_name()).collect();
    names.sort();
    for name in names {
        let name = name.to_string_lossy().into_owned();
        let m = fs::symlink_metadata(jail.join(&name)).expect("stat a jail entry");
        if name == "target" {
            assert!(m.is_dir() && !m.file_type().is_symlink(), "the target directory was replaced");
            continue;
        }
        out.push(stat(name, m));
    }
    for dir in ["decoy-dir"] {
        for e in fs::read_dir(jail.join(dir)).map(|d| d.collect::<Vec<_>>()).unwrap_or_default() {
            let e = e.unwrap();
            out.push(stat(format!("{dir}/{}", e.file_name().to_string_lossy()), e.metadata().unwrap()));
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let host = host();
    let jail = tempfile::tempdir_in(host.scratch.path()).expect("jail dir");
    let j = jail.path();
    fs::create_dir(j.join("target")).unwrap();
    fs::write(j.join("decoy"), DECOY_TEXT).unwrap();
    fs::set_permissions(j.join("decoy"), fs::Permissions::from_mode(0o640)).unwrap();
    fs::create_dir(j.join("decoy-dir")).unwrap();
    fs::write(j.join("decoy-dir/file"), DECOY_TEXT).unwrap();
    let before = outside(j);

    // The working directory stays outside the jail (chroot does not move it): libFuzzer writes the
    // reproducer of a panic or timeout relative to it while the jail is still in force.
    chroot(j.to_str().expect("UTF-8 scratch path"));
    let result = rbuild::layer::extract_tar(data, Path::new("/target"));
    fchdir(&host.root);
    chroot(".");
    fchdir(&host.cwd);
    let _ = result;

    assert_eq!(outside(j), before, "extraction changed something outside its target");
    assert_eq!(fs::read(j.join("decoy")).unwrap(), DECOY_TEXT, "the decoy file was written");
    assert_eq!(fs::read(j.join("decoy-dir/file")).unwrap(), DECOY_TEXT, "the decoy dir's file was written");
    // Make everything removable (the tar may have left directories without write permission).
    make_writable(&j.join("target"));
    drop(jail);
});

fn make_writable(dir: &Path) {
    let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                make_writable(&e.path());
            }
        }
    }
}
