//! Ending containers: `stop` (STOPSIGNAL, then SIGKILL after the timeout), `kill` and `wait`. Requests
//! are signals to the command's pid 1, sent only while its monitor is alive (see `crate::container`).

use super::Globals;
use crate::container::{parse_signal, ContainerError, Containers, Status};
use crate::store::Store;
use nix::sys::signal::Signal;
use std::process::ExitCode;
use std::time::Duration;

/// Docker's default stop timeout, in seconds.
pub const DEFAULT_STOP_TIMEOUT: u64 = 10;

/// Stop running containers: the image's STOPSIGNAL (default SIGTERM), then SIGKILL after the timeout
#[derive(Debug, clap::Args)]
pub struct StopArgs {
    /// Seconds to wait for the stop signal to end the command before SIGKILL
    #[arg(short = 't', long = "time", value_name = "SECONDS", default_value_t = DEFAULT_STOP_TIMEOUT)]
    pub time: u64,
    /// Containers: name, full id or unique id prefix
    #[arg(value_parser = super::text(), required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// Send a signal (default SIGKILL) to running containers
#[derive(Debug, clap::Args)]
pub struct KillArgs {
    /// Signal to send: a name (TERM, SIGHUP) or a number
    #[arg(value_parser = super::text(), short = 's', long = "signal", default_value = "KILL")]
    pub signal: String,
    #[arg(value_parser = super::text(), required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// Wait until containers stop, then print their exit codes
#[derive(Debug, clap::Args)]
pub struct WaitArgs {
    #[arg(value_parser = super::text(), required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// Run `each` for every container named; errors are printed and make the exit code 1 (as docker's
/// commands on several containers do).
pub(super) fn for_each(queries: &[String], mut each: impl FnMut(&str) -> anyhow::Result<()>) -> ExitCode {
    let mut failed = false;
    for q in queries {
        if let Err(e) = each(q) {
            eprintln!("error: {e:#}");
            failed = true;
        }
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

pub fn stop(g: &Globals, a: StopArgs) -> anyhow::Result<ExitCode> {
    let store = Store::open(&g.root)?;
    Ok(for_each(&a.containers, |q| {
        stop_one(&store, q, a.time)?;
        println!("{q}");
        Ok(())
    }))
}

/// Stop one container (a stopped one is left as it is, like docker).
pub fn stop_one(store: &Store, query: &str, timeout: u64) -> anyhow::Result<()> {
    let mut c = Containers::new(store).find(query)?;
    // A restarting one has no command to signal: `signal` only asks its runner not to start it again.
    let restarting = c.state.status == Status::Restarting && c.monitor_alive();
    if !c.is_running() && !restarting {
        return Ok(());
    }
    let signal = match c.config.stop_signal.as_deref() {
        Some(s) => parse_signal(s)?,
        None => Signal::SIGTERM,
    };
    ignore_not_running(c.signal(signal))?;
    if !c.wait_stopped(Some(Duration::from_secs(timeout)))? {
        ignore_not_running(c.signal(Signal::SIGKILL))?;
        c.wait_stopped(None)?;
    }
    Ok(())
}

/// It ended between the check and the signal: that is what was asked.
fn ignore_not_running(r: Result<(), ContainerError>) -> Result<(), ContainerError> {
    match r {
        Err(ContainerError::NotRunning { .. }) => Ok(()),
        other => other,
    }
}

pub fn kill(g: &Globals, a: KillArgs) -> anyhow::Result<ExitCode> {
    let signal = parse_signal(&a.signal).map_err(|e| super::UsageError(e.to_string()))?;
    let store = Store::open(&g.root)?;
    Ok(for_each(&a.containers, |q| {
        let c = Containers::new(&store).find(q)?;
        c.signal(signal).map_err(|e| anyhow::anyhow!("Cannot kill container: {q}: {e}"))?;
        println!("{q}");
        Ok(())
    }))
}

pub fn wait(g: &Globals, a: WaitArgs) -> anyhow::Result<ExitCode> {
    let store = Store::open(&g.root)?;
    Ok(for_each(&a.containers, |q| {
        let mut c = Containers::new(&store).find(q)?;
        c.wait_stopped(None)?;
        if !c.dir.exists() && c.state.status != Status::Exited {
            anyhow::bail!("container {q} was removed when it exited (--rm); its exit code went with it");
        }
        let code = match c.state.status {
            Status::Exited => c.state.exit_code.unwrap_or(0),
            _ => 0,
        };
        println!("{code}");
        Ok(())
    }))
}
