//! The hand-over to the command: its environment (HOME from passwd when the caller set none), `argv[0]`
//! looked up in `PATH` inside the new root, signal dispositions and mask reset to what a fresh process
//! expects (rbuild, a Rust program, ignores SIGPIPE, and ignored signals survive `execve`), every
//! inherited descriptor but stdio marked close-on-exec, then `execve`.

use super::{SandboxError, DEFAULT_PATH};
use crate::rootpath::{self, Escape};
use crate::users::ResolvedUser;
use nix::errno::Errno;
use nix::sys::signal::{self, SigHandler, SigSet, SigmaskHow, Signal};
use std::ffi::CString;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// The command's environment: the caller's, plus `HOME` from passwd when it has none.
pub(crate) fn command_env(env: &[String], user: &ResolvedUser) -> Vec<String> {
    let mut out = env.to_vec();
    if !env.iter().any(|kv| kv.starts_with("HOME=")) {
        out.push(format!("HOME={}", user.home));
    }
    out
}

/// The value of `key` in a `K=V` list (the last one wins, as in a shell).
fn lookup<'e>(env: &'e [String], key: &str) -> Option<&'e str> {
    env.iter().rev().find_map(|kv| kv.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

/// Find `argv0` as `execve` will see it: a name with a `/` is used as given; a bare name is searched in
/// the env's `PATH` (or [`DEFAULT_PATH`]) inside `root`, keeping the first regular file with an execute
/// bit. Relative `PATH` entries are skipped, as Go's `exec.LookPath` (which runc uses) refuses them.
pub(crate) fn find_program(root: &Path, argv0: &str, env: &[String]) -> Result<String, SandboxError> {
    if argv0.contains('/') {
        return Ok(argv0.to_string());
    }
    let path = lookup(env, "PATH").unwrap_or(DEFAULT_PATH);
    for dir in path.split(':').filter(|d| d.starts_with('/')) {
        let candidate = format!("{}/{argv0}", dir.trim_end_matches('/'));
        let Ok(host) = rootpath::resolve_in(root, Path::new(&candidate), true, Escape::Clamp) else { continue };
        if let Ok(meta) = std::fs::metadata(&host) {
            if meta.is_file() && meta.permissions().mode() & 0o111 != 0 {
                return Ok(candidate);
            }
        }
    }
    Err(SandboxError::NotFound { argv0: argv0.to_string() })
}

/// Give the command the signal state of a fresh process: default dispositions, nothing blocked.
pub(crate) fn reset_signals() {
    for sig in Signal::iterator().filter(|s| !matches!(s, Signal::SIGKILL | Signal::SIGSTOP)) {
        // SAFETY: installing SIG_DFL runs no code of ours in signal context; this process is single-threaded.
        let _ = unsafe { signal::signal(sig, SigHandler::SigDfl) };
    }
    let _ = signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
}

/// Mark every descriptor above stderr close-on-exec, so the command inherits only stdio (the status
/// pipe, already close-on-exec, closes too and tells rbuild the command started).
pub(crate) fn close_inherited_fds() -> Result<(), SandboxError> {
    // SAFETY: close_range(2) with CLOSE_RANGE_CLOEXEC only sets flags on descriptors; it touches no memory.
    let r = unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, libc::CLOSE_RANGE_CLOEXEC) };
    if r == 0 {
        return Ok(());
    }
    // Kernels before 5.11: walk /proc/self/fd (the sandbox's own /proc, mounted already).
    let entries = std::fs::read_dir("/proc/self/fd").map_err(|source| SandboxError::Io {
        what: "listing",
        path: "/proc/self/fd".into(),
        source,
    })?;
    for fd in entries.flatten().filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok()).filter(|fd| *fd > 2) {
        // SAFETY: F_SETFD only changes the descriptor's flags; an fd closed meanwhile gives EBADF.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    Ok(())
}

/// `execve` the command. Only returns on failure.
pub(crate) fn exec(program: &str, argv: &[String], env: &[String]) -> SandboxError {
    let argv0 = argv.first().cloned().unwrap_or_default();
    let to_c = |s: &str| CString::new(s).map_err(|_| Errno::EINVAL);
    let prepared = (|| {
        let program = to_c(program)?;
        let argv = argv.iter().map(|a| to_c(a)).collect::<Result<Vec<_>, _>>()?;
        let env = env.iter().map(|e| to_c(e)).collect::<Result<Vec<_>, _>>()?;
        Ok::<_, Errno>((program, argv, env))
    })();
    let errno = match prepared {
        Ok((program, argv, env)) => match nix::unistd::execve(&program, &argv, &env) {
            Err(errno) => errno,
            Ok(never) => match never {},
        },
        Err(errno) => errno,
    };
    SandboxError::Exec { argv0, errno }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn user(home: &str) -> ResolvedUser {
        ResolvedUser { uid: 0, gid: 0, home: home.into(), groups: vec![] }
    }

    #[test]
    fn home_comes_from_passwd_only_when_env_has_none() {
        assert_eq!(command_env(&["A=1".into()], &user("/root")), vec!["A=1", "HOME=/root"]);
        assert_eq!(command_env(&["HOME=/x".into()], &user("/root")), vec!["HOME=/x"]);
    }

    fn rootfs() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("bin")).unwrap();
        std::fs::create_dir_all(t.path().join("usr/bin")).unwrap();
        std::fs::write(t.path().join("bin/busybox"), "").unwrap();
        std::fs::set_permissions(t.path().join("bin/busybox"), PermissionsExt::from_mode(0o755)).unwrap();
        symlink("../../bin/busybox", t.path().join("usr/bin/env")).unwrap();
        std::fs::write(t.path().join("usr/bin/data"), "").unwrap();
        // An absolute symlink must resolve inside the root, never on the host.
        symlink("/bin/busybox", t.path().join("usr/bin/abs")).unwrap();
        t
    }

    #[test]
    fn bare_names_are_searched_in_path_inside_the_root() {
        let t = rootfs();
        let env = vec!["PATH=/usr/bin:/bin".to_string()];
        assert_eq!(find_program(t.path(), "env", &env).unwrap(), "/usr/bin/env");
        assert_eq!(find_program(t.path(), "busybox", &env).unwrap(), "/bin/busybox");
        assert_eq!(find_program(t.path(), "abs", &env).unwrap(), "/usr/bin/abs");
        // Not executable, then absent: Docker's message.
        let err = find_program(t.path(), "data", &env).unwrap_err();
        assert_eq!(err.to_string(), "exec: \"data\": executable file not found in $PATH");
        assert_eq!(err.exec_exit_code(), Some(127));
        assert!(find_program(t.path(), "nope", &env).is_err());
    }

    #[test]
    fn default_path_applies_without_path_and_relative_entries_are_skipped() {
        let t = rootfs();
        assert_eq!(find_program(t.path(), "busybox", &[]).unwrap(), "/bin/busybox");
        let env = vec!["PATH=bin:usr/bin".to_string()];
        assert!(find_program(t.path(), "busybox", &env).is_err());
        assert_eq!(find_program(t.path(), "./x", &env).unwrap(), "./x");
    }
}
