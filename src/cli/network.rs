//! `rbuild network create|ls|rm|inspect|prune`: docker's network commands over the store's named
//! networks (`crate::container::networks`), with docker's output.

use super::format::{Format, Headers};
use super::{prune_opts, Globals, UsageError};
use crate::container::networks::{self, CreateRequest, Networks, NetworksError, Subnet, RESERVED};
use crate::store::Store;
use serde::Serialize;
use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum NetworkCommand {
    /// Create a network: a bridge in a network namespace of its own
    Create(CreateArgs),
    /// List networks
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Remove networks no running container is attached to
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Show networks as docker-style JSON
    Inspect(InspectArgs),
    /// Remove every network no container uses
    Prune(PruneArgs),
    /// Put a stopped container on a network (it attaches when it starts)
    Connect(ConnectArgs),
    /// Take a stopped container off a network (back on the default bridge)
    Disconnect(DisconnectArgs),
}

#[derive(Debug, clap::Args)]
pub struct ConnectArgs {
    /// Another name the container's peers reach it by
    #[arg(value_parser = super::text(), long = "alias", value_name = "ALIAS")]
    pub aliases: Vec<String>,
    #[arg(value_parser = super::text(), value_name = "NETWORK")]
    pub network: String,
    #[arg(value_parser = super::text(), value_name = "CONTAINER")]
    pub container: String,
}

#[derive(Debug, clap::Args)]
pub struct DisconnectArgs {
    #[arg(value_parser = super::text(), value_name = "NETWORK")]
    pub network: String,
    #[arg(value_parser = super::text(), value_name = "CONTAINER")]
    pub container: String,
}

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// The IPv4 subnet, CIDR (default: the first free 10.89.N.0/24)
    #[arg(value_parser = super::text(), long, value_name = "CIDR")]
    pub subnet: Option<String>,
    /// The gateway, the bridge's own address (default: the subnet's first address)
    #[arg(value_parser = super::text(), long, value_name = "IP")]
    pub gateway: Option<String>,
    /// No way out: only the network's containers reach each other
    #[arg(long)]
    pub internal: bool,
    /// Only `bridge` is supported
    #[arg(value_parser = super::text(), short = 'd', long, default_value = "bridge", value_name = "DRIVER")]
    pub driver: String,
    #[arg(value_parser = super::text(), value_name = "NAME")]
    pub name: String,
}

#[derive(Debug, clap::Args)]
pub struct LsArgs {
    /// Only show network ids
    #[arg(short, long)]
    pub quiet: bool,
    /// Show full ids
    #[arg(long)]
    pub no_trunc: bool,
    /// table (default), table TEMPLATE, json, or a Go template over .ID .Name .Driver .Scope
    #[arg(value_parser = super::text(), long, value_name = "FORMAT")]
    pub format: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct RmArgs {
    /// Do not fail on a network that does not exist
    #[arg(short, long)]
    pub force: bool,
    #[arg(value_parser = super::text(), required = true, value_name = "NETWORK")]
    pub networks: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    #[arg(value_parser = super::text(), required = true, value_name = "NETWORK")]
    pub networks: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
}

/// One `network ls` row; the JSON names are the template's fields.
#[derive(Serialize)]
struct Row {
    #[serde(rename = "ID")]
    id: String,
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Driver")]
    driver: String,
    #[serde(rename = "Scope")]
    scope: &'static str,
}

const DEFAULT_TABLE: &str = r"table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}";
const HEADERS: Headers = &[("ID", "NETWORK ID")];

pub fn run(g: &Globals, c: NetworkCommand) -> anyhow::Result<ExitCode> {
    let store = Store::open(&g.root)?;
    let nets = Networks::new(&store);
    match c {
        NetworkCommand::Create(a) => {
            if a.driver != "bridge" {
                return Err(UsageError(format!("network driver {:?} is not supported: use bridge", a.driver)).into());
            }
            let subnet = a.subnet.as_deref().map(Subnet::parse).transpose()?;
            let gateway = match a.gateway.as_deref() {
                Some(gw) => {
                    Some(gw.parse().map_err(|_| UsageError(format!("invalid gateway {gw:?}: not an IPv4 address")))?)
                }
                None => None,
            };
            if gateway.is_some() && subnet.is_none() {
                return Err(UsageError("--gateway needs --subnet".into()).into());
            }
            let net = nets.create(&CreateRequest { name: a.name, subnet, gateway, internal: a.internal })?;
            println!("{}", net.id);
        }
        NetworkCommand::Ls(a) => {
            let short = |id: &str| if a.no_trunc { id.to_string() } else { id[..12].to_string() };
            let mut rows: Vec<Row> = RESERVED
                .iter()
                .map(|(name, driver)| Row {
                    id: short(&networks::reserved_id(name)),
                    name: name.to_string(),
                    driver: driver.to_string(),
                    scope: "local",
                })
                .collect();
            rows.extend(nets.list()?.into_iter().map(|n| Row {
                id: short(&n.id),
                name: n.name,
                driver: "bridge".into(),
                scope: "local",
            }));
            rows.sort_by(|a, b| a.name.cmp(&b.name));
            let format = Format::parse(if a.quiet { Some("{{.ID}}") } else { a.format.as_deref() }, DEFAULT_TABLE)?;
            format.write(&mut std::io::stdout().lock(), &rows, HEADERS)?;
        }
        NetworkCommand::Rm(a) => {
            let mut failed = false;
            for name in &a.networks {
                match nets.remove(name) {
                    Ok(_) => println!("{name}"),
                    Err(NetworksError::NotFound(_)) if a.force => {}
                    Err(e) => {
                        eprintln!("error: {e}");
                        failed = true;
                    }
                }
            }
            return Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS });
        }
        NetworkCommand::Inspect(a) => {
            return super::inspect::inspect_each(&a.networks, |name| match RESERVED.iter().find(|(n, _)| *n == name) {
                Some((n, driver)) => Ok(networks::inspect_reserved(n, driver)),
                None => nets.get(name).and_then(|n| nets.inspect(&n)),
            });
        }
        NetworkCommand::Connect(a) => nets.connect(&a.network, &a.container, a.aliases)?,
        NetworkCommand::Disconnect(a) => nets.disconnect(&a.network, &a.container)?,
        NetworkCommand::Prune(a) => {
            if !prune_opts::confirm(a.force, "This will remove all custom networks not used by at least one container.")
            {
                return Ok(ExitCode::SUCCESS);
            }
            print_pruned(&nets.prune()?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// docker's prune report of networks: the names, when there are any.
pub(super) fn print_pruned(removed: &[String]) {
    if !removed.is_empty() {
        println!("Deleted Networks:");
        for name in removed {
            println!("{name}");
        }
    }
}
