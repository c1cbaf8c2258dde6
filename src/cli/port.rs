//! `rbuild port CONTAINER [PRIVATE_PORT[/PROTO]]`: the host addresses a container's ports are published
//! on, as `docker port` prints them. The mappings live in the container's config (`-p`, `-P`, host ports
//! resolved at create); pasta forwards them while the container runs (`crate::container::network`).

use super::{Globals, UsageError};
use crate::container::network::{PortMapping, Proto};
use crate::container::Containers;
use crate::store::Store;
use std::io::Write;
use std::process::ExitCode;

/// List port mappings or a specific mapping for the container
#[derive(Debug, clap::Args)]
pub struct PortArgs {
    /// Container: name, full id or unique id prefix
    #[arg(value_parser = super::text(), value_name = "CONTAINER")]
    pub container: String,
    /// A container port, optionally with its protocol (8080, 53/udp)
    #[arg(value_parser = super::text(), value_name = "PRIVATE_PORT[/PROTO]")]
    pub port: Option<String>,
}

pub fn run(g: &Globals, a: PortArgs) -> anyhow::Result<ExitCode> {
    let store = Store::open(&g.root)?;
    let c = Containers::new(&store).find(&a.container)?;
    // Written with `?`: a closed pipe (`rbuild port web | head -1`) ends the listing quietly.
    let mut out = std::io::stdout().lock();
    let Some(wanted) = &a.port else {
        for p in &c.config.ports {
            writeln!(out, "{}/{} -> {}", p.container_port, p.proto, p.host_addr())?;
        }
        return Ok(ExitCode::SUCCESS);
    };
    let (port, proto) = match wanted.split_once('/') {
        Some((p, "tcp")) => (p, Proto::Tcp),
        Some((p, "udp")) => (p, Proto::Udp),
        Some((_, other)) => return Err(UsageError(format!("unknown protocol {other:?} (tcp or udp)")).into()),
        None => (wanted.as_str(), Proto::Tcp),
    };
    let port: u16 = port.parse().map_err(|_| UsageError(format!("{wanted:?} is not a port number")))?;
    let found: Vec<&PortMapping> =
        c.config.ports.iter().filter(|p| p.container_port == port && p.proto == proto).collect();
    if found.is_empty() {
        // docker's wording.
        return Err(UsageError(format!("No public port '{port}/{proto}' published for {}", c.name())).into());
    }
    for p in found {
        writeln!(out, "{}", p.host_addr())?;
    }
    Ok(ExitCode::SUCCESS)
}
