//! `rbuild exec`: run a command in a running container (see `crate::container::exec`).

use super::Globals;
use crate::container::exec::{exec, ExecOptions};
use crate::container::rootfs::exit_code_of;
use crate::container::{ContainerError, Containers};
use crate::store::Store;
use std::process::ExitCode;

/// Run a command in a running container
#[derive(Debug, clap::Args)]
#[command(trailing_var_arg = true)]
pub struct ExecArgs {
    /// Keep stdin open: the command reads rbuild's stdin
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-terminal (the container's next /dev/pts/N)
    #[arg(short, long)]
    pub tty: bool,
    /// Set an environment variable (K=V, or K to take rbuild's value)
    #[arg(value_parser = super::text(), short, long = "env", value_name = "K=V")]
    pub env: Vec<String>,
    /// Read environment variables from a file (K=V or K per line, # comments); -e wins; repeatable
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_files: Vec<std::path::PathBuf>,
    /// Working directory inside the container (absolute)
    #[arg(value_parser = super::text(), short, long, value_name = "DIR")]
    pub workdir: Option<String>,
    /// Username or UID (format: name|uid[:group|gid])
    #[arg(value_parser = super::text(), short, long, value_name = "USER")]
    pub user: Option<String>,
    /// The container: name, full id or unique id prefix
    #[arg(value_parser = super::text(), value_name = "CONTAINER")]
    pub container: String,
    /// The command and its arguments
    #[arg(value_parser = super::text(), required = true, value_name = "COMMAND", allow_hyphen_values = true)]
    pub command: Vec<String>,
}

pub fn run(g: &Globals, a: ExecArgs) -> anyhow::Result<ExitCode> {
    if let Some(w) = a.workdir.as_deref().filter(|w| !w.starts_with('/')) {
        return Err(super::UsageError(format!("the working directory must be absolute, got {w:?}")).into());
    }
    let env = super::env_args::env_args(&a.env_files, &a.env)?;
    let store = Store::open(&g.root)?;
    let c = Containers::new(&store).find(&a.container)?;
    let opts =
        ExecOptions { argv: a.command, env, workdir: a.workdir, user: a.user, interactive: a.interactive, tty: a.tty };
    match exec(&c, &opts) {
        Ok(code) => Ok(ExitCode::from(code.clamp(0, 255) as u8)),
        // The command could not be run in the container: docker's 126/127 (125 for the runtime's own).
        Err(e @ ContainerError::Sandbox(_)) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(exit_code_of(&e).clamp(0, 255) as u8))
        }
        Err(e) => Err(e.into()),
    }
}
