//! `rbuild attach`: this terminal to a running container, and the same for `start -a`. A `-t`
//! container's terminal is served by its monitor (`crate::container::attach`): its output, stdin with
//! `-i`, window size, and detach keys. A container without one streams its new output from the log, as
//! `start -a` does; made with `-i`, this terminal's stdin goes to the command's through its monitor, and
//! its end ends the command's stdin (docker's `StdinOnce`), and SIGINT or SIGTERM this command receives is
//! sent on to the container's command (docker's `--sig-proxy`, on by default) instead of ending the attach.

use super::logs::Signals;
use super::{Globals, UsageError};
use crate::container::attach::{self, DetachKeys, Ended};
use crate::container::{Container, ContainerError, Containers};
use crate::sandbox::Stdin;
use crate::store::Store;
use std::process::ExitCode;

/// Attach this terminal to a running container (Ctrl-P Ctrl-Q detaches)
#[derive(Debug, clap::Args)]
pub struct AttachArgs {
    /// The key sequence that detaches, leaving the container running (docker's syntax)
    #[arg(value_parser = super::text(), long, default_value = attach::DEFAULT_DETACH_KEYS, value_name = "KEYS")]
    pub detach_keys: String,
    /// Do not pass this terminal's input to the container
    #[arg(long)]
    pub no_stdin: bool,
    /// Send SIGINT and SIGTERM this command receives on to a container without a terminal (with false,
    /// they only end this command)
    #[arg(long, value_name = "BOOL", default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub sig_proxy: bool,
    /// The container: name, full id or unique id prefix
    #[arg(value_parser = super::text(), value_name = "CONTAINER")]
    pub container: String,
}

pub fn run(g: &Globals, a: AttachArgs) -> anyhow::Result<ExitCode> {
    let keys = DetachKeys::parse(&a.detach_keys).map_err(|e| UsageError(e.to_string()))?;
    let store = Store::open(&g.root)?;
    let c = Containers::new(&store).find(&a.container)?;
    if !c.is_running() {
        return Err(ContainerError::NotRunning { name: c.name().to_string() }.into());
    }
    let input = !a.no_stdin;
    if matches!(c.config.spec.stdin, Stdin::Terminal { .. }) {
        let waiter = c.waiter();
        return to_terminal(c, input, &keys, waiter);
    }
    let offset = std::fs::metadata(c.log_path()).map_or(0, |m| m.len());
    let signals = if a.sig_proxy { Signals::Proxy } else { Signals::Stop };
    follow_with_input(&store, c, offset, input, signals)
}

/// Follow the log of the running container `c` without a terminal from `offset` until it ends, its
/// stdin fed from this process's with `input` when it was made with `-i`.
pub fn follow_with_input(
    store: &Store,
    c: Container,
    offset: u64,
    input: bool,
    signals: Signals,
) -> anyhow::Result<ExitCode> {
    if input && c.config.spec.stdin == Stdin::Inherit {
        // Left running when the command ends first: this process exits right after.
        let _sender = attach::send_input(&c.dir)?;
    }
    super::logs::follow_to_exit(store, c, offset, signals)
}

/// Attach to the terminal of the running `-t` container `c` (its input too with `input`, when it was made
/// with `-i`): exit 0 when detached, else the command's exit code once it has ended (`waiter`, taken
/// before, lets an `--rm` container's end wait until that code is read).
pub fn to_terminal(
    mut c: Container,
    input: bool,
    keys: &DetachKeys,
    waiter: Option<nix::fcntl::Flock<std::fs::File>>,
) -> anyhow::Result<ExitCode> {
    let input = input && c.config.spec.stdin == Stdin::Terminal { input: true };
    match attach::attach(&c.dir, input, keys)? {
        Ended::Detached => Ok(ExitCode::SUCCESS),
        Ended::Closed => {
            c.wait_stopped_holding(None, waiter)?;
            Ok(ExitCode::from(c.state.exit_code.unwrap_or(0).clamp(0, 255) as u8))
        }
    }
}
