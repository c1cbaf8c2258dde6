//! `exec`: a second command in a running container, through [`crate::sandbox::join`] (the container's
//! namespaces, cgroups, user, capabilities and seccomp filter). The container's recorded pid 1 is used
//! only while its monitor holds the lock, as `stop` and `kill` do.

use super::{Container, ContainerError};
use crate::sandbox::{self, Stdin};
use std::path::Path;

/// What `exec` runs, on top of the container's own spec.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    pub argv: Vec<String>,
    /// `-e K=V` (or `-e K`, taken from rbuild's environment): replaces the container's value of `K`.
    pub env: Vec<String>,
    /// `-w`: absolute working directory; the container's when `None`.
    pub workdir: Option<String>,
    /// `-u`: `user[:group]`; the container's when `None`.
    pub user: Option<String>,
    /// `-i`: pass rbuild's stdin.
    pub interactive: bool,
    /// `-t`: a pseudo-terminal of the container's devpts (fed from rbuild's stdin with `-i`).
    pub tty: bool,
}

/// Run `opts.argv` in the running container `c`; returns the command's exit code.
pub fn exec(c: &Container, opts: &ExecOptions) -> Result<i32, ContainerError> {
    let pid = match c.state.pid {
        Some(pid) if c.is_running() => pid,
        _ => return Err(ContainerError::ExecNotRunning { id: c.id().to_string() }),
    };
    let mut spec = c.config.spec.clone();
    spec.argv = opts.argv.clone();
    for kv in &opts.env {
        let key = kv.split('=').next().unwrap_or_default();
        spec.env.retain(|e| e.split('=').next() != Some(key));
        spec.env.push(kv.clone());
    }
    if let Some(w) = &opts.workdir {
        spec.cwd = w.clone();
    }
    if let Some(u) = &opts.user {
        spec.user = Some(u.clone());
    }
    spec.stdin = match (opts.interactive, opts.tty) {
        (input, true) => Stdin::Terminal { input },
        (true, false) => Stdin::Inherit,
        (false, false) => Stdin::Null,
    };
    let outcome = sandbox::join(&spec, pid, Path::new("/proc/self/exe"))?;
    Ok(outcome.exit_code)
}
