//! Named networks (`rbuild network create|ls|rm|inspect|prune`): the records the store keeps for them.
//!
//! A network is `<root>/networks/<id>.json` (name, IPv4 subnet and gateway, `internal`, creation time),
//! written atomically under the store lock, so two creates never take the same name or subnet. A subnet
//! not given is the first free `10.89.N.0/24`, as podman picks them. `bridge`, `host` and `none` are
//! docker's pre-defined networks: listed, never created or removed here.
//!
//! What runs on a network (its namespace, bridge and the containers attached to it) is `super::bridge`'s;
//! this module only asks it which containers are attached (a network with running containers is not
//! removed) and to tear the namespace down when the network goes.

use super::bridge;
use crate::store::{Store, StoreError};
use serde::{Deserialize, Serialize};
use std::fs;
use std::io;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// docker's pre-defined networks and their drivers, as `network ls` shows them.
pub const RESERVED: [(&str, &str); 3] = [("bridge", "bridge"), ("host", "host"), ("none", "null")];

#[derive(Debug, thiserror::Error)]
pub enum NetworksError {
    #[error("invalid network name {0:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")]
    InvalidName(String),
    #[error("network with name {0} already exists (see rbuild network ls)")]
    NameInUse(String),
    #[error("{0} is a pre-defined network and cannot be created or removed")]
    Reserved(String),
    #[error("network {0} not found (see rbuild network ls; create it with: rbuild network create {0})")]
    NotFound(String),
    #[error(
        "error while removing network {name}: it has active endpoints ({}); stop or remove those containers first",
        containers.join(", ")
    )]
    InUse { name: String, containers: Vec<String> },
    #[error("invalid subnet {spec:?}: {why} (expected an IPv4 CIDR such as 10.89.0.0/24)")]
    BadSubnet { spec: String, why: String },
    #[error("invalid gateway {gateway}: {why}")]
    BadGateway { gateway: Ipv4Addr, why: String },
    #[error("subnet {subnet} overlaps with network {other} ({other_subnet}): choose another --subnet")]
    SubnetInUse { subnet: Subnet, other: String, other_subnet: Subnet },
    #[error("no free subnet left in 10.89.0.0/16: remove unused networks (rbuild network prune) or give --subnet")]
    NoFreeSubnet,
    #[error(
        "container {container} is running: rbuild connects and disconnects stopped containers only (stop it, \
         then {verb}, then start it)"
    )]
    Running { container: String, verb: &'static str },
    #[error("container {container} uses --network {mode}: only a container on the default bridge or a named network joins one")]
    NotBridge { container: String, mode: String },
    #[error("container {container} is already on network {network} (one named network per container for now)")]
    AlreadyConnected { container: String, network: String },
    #[error("container {container} is not connected to network {network}")]
    NotConnected { container: String, network: String },
    #[error("{what} {}: {source}", path.display())]
    Io { what: &'static str, path: PathBuf, source: io::Error },
    #[error("malformed {}: {source}", path.display())]
    Json { path: PathBuf, source: serde_json::Error },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Bridge(#[from] bridge::BridgeError),
    #[error(transparent)]
    Container(#[from] Box<super::ContainerError>),
}

fn io_err<'p>(what: &'static str, path: &'p Path) -> impl FnOnce(io::Error) -> NetworksError + 'p {
    move |source| NetworksError::Io { what, path: path.to_path_buf(), source }
}

/// An IPv4 subnet, `10.89.0.0/24` (host bits zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Subnet {
    pub base: Ipv4Addr,
    pub prefix: u8,
}

impl Subnet {
    pub fn parse(spec: &str) -> Result<Subnet, NetworksError> {
        let bad = |why: &str| NetworksError::BadSubnet { spec: spec.to_string(), why: why.to_string() };
        let (ip, prefix) = spec.split_once('/').ok_or_else(|| bad("no /PREFIX"))?;
        let ip: Ipv4Addr = ip.parse().map_err(|_| bad("not an IPv4 address"))?;
        let prefix: u8 = prefix.parse().map_err(|_| bad("the prefix is not a number"))?;
        if !(8..=30).contains(&prefix) {
            return Err(bad("the prefix must be 8 to 30"));
        }
        let subnet = Subnet { base: Ipv4Addr::from(u32::from(ip) & mask(prefix)), prefix };
        if subnet.base != ip {
            return Err(bad(&format!("host bits are set; it should be {subnet}")));
        }
        Ok(subnet)
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.prefix) == u32::from(self.base)
    }

    pub fn overlaps(&self, other: &Subnet) -> bool {
        self.contains(other.base) || other.contains(self.base)
    }

    /// Host number `n` (1 is the first address after the subnet's own); `None` past the last host.
    pub fn host(&self, n: u32) -> Option<Ipv4Addr> {
        let size = 1u32 << (32 - self.prefix);
        (n >= 1 && n < size - 1).then(|| Ipv4Addr::from(u32::from(self.base) + n))
    }

    /// Whether `ip` is a host of this subnet (not its own address or its broadcast).
    pub fn is_host(&self, ip: Ipv4Addr) -> bool {
        self.contains(ip) && self.host(u32::from(ip) - u32::from(self.base)) == Some(ip)
    }
}

fn mask(prefix: u8) -> u32 {
    u32::MAX << (32 - prefix)
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix)
    }
}

impl TryFrom<String> for Subnet {
    type Error = String;
    fn try_from(s: String) -> Result<Subnet, String> {
        Subnet::parse(&s).map_err(|e| e.to_string())
    }
}

impl From<Subnet> for String {
    fn from(s: Subnet) -> String {
        s.to_string()
    }
}

/// `networks/<id>.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Network {
    /// 64 hex digits.
    pub id: String,
    pub name: String,
    /// RFC 3339, UTC.
    pub created: String,
    pub subnet: Subnet,
    pub gateway: Ipv4Addr,
    /// `--internal`: no way out (no pasta), only the network's own containers.
    #[serde(default)]
    pub internal: bool,
}

impl Network {
    /// The bridge inside the network's namespace: `rb-` and the short id (15 bytes, the kernel's limit).
    pub fn bridge_name(&self) -> String {
        format!("rb-{}", &self.id[..12])
    }
}

/// What `network create` asks for.
#[derive(Debug, Clone, Default)]
pub struct CreateRequest {
    pub name: String,
    pub subnet: Option<Subnet>,
    pub gateway: Option<Ipv4Addr>,
    pub internal: bool,
}

/// docker's network names: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// A stable id for a pre-defined network (docker's are random per daemon; ours must not change).
pub fn reserved_id(name: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(format!("rbuild network {name}")))
}

/// The named networks of one store.
pub struct Networks<'a> {
    store: &'a Store,
}

impl<'a> Networks<'a> {
    pub fn new(store: &'a Store) -> Networks<'a> {
        Networks { store }
    }

    pub fn store(&self) -> &Store {
        self.store
    }

    fn path(&self, id: &str) -> PathBuf {
        self.store.networks_dir().join(format!("{id}.json"))
    }

    /// Every named network, sorted by name.
    pub fn list(&self) -> Result<Vec<Network>, NetworksError> {
        let dir = self.store.networks_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err("reading", &dir)(e)),
        };
        let mut all = Vec::new();
        for entry in entries {
            let path = entry.map_err(io_err("reading", &dir))?.path();
            if path.extension().is_some_and(|e| e == "json") {
                let bytes = fs::read(&path).map_err(io_err("reading", &path))?;
                all.push(serde_json::from_slice(&bytes).map_err(|source| NetworksError::Json { path, source })?);
            }
        }
        all.sort_by(|a: &Network, b: &Network| a.name.cmp(&b.name));
        Ok(all)
    }

    /// A network by name, full id or unique id prefix.
    pub fn get(&self, query: &str) -> Result<Network, NetworksError> {
        let all = self.list()?;
        if let Some(n) = all.iter().find(|n| n.name == query || n.id == query) {
            return Ok(n.clone());
        }
        let mut by_prefix = all.into_iter().filter(|n| !query.is_empty() && n.id.starts_with(query));
        match (by_prefix.next(), by_prefix.next()) {
            (Some(n), None) => Ok(n),
            _ => Err(NetworksError::NotFound(query.to_string())),
        }
    }

    pub fn create(&self, req: &CreateRequest) -> Result<Network, NetworksError> {
        if RESERVED.iter().any(|(n, _)| *n == req.name) {
            return Err(NetworksError::Reserved(req.name.clone()));
        }
        if !is_valid_name(&req.name) {
            return Err(NetworksError::InvalidName(req.name.clone()));
        }
        let _lock = self.store.lock()?;
        let existing = self.list()?;
        if existing.iter().any(|n| n.name == req.name) {
            return Err(NetworksError::NameInUse(req.name.clone()));
        }
        let subnet = match req.subnet {
            Some(s) => {
                if let Some(other) = existing.iter().find(|n| n.subnet.overlaps(&s)) {
                    return Err(NetworksError::SubnetInUse {
                        subnet: s,
                        other: other.name.clone(),
                        other_subnet: other.subnet,
                    });
                }
                s
            }
            None => (0..=255u8)
                .map(|n| Subnet { base: Ipv4Addr::new(10, 89, n, 0), prefix: 24 })
                .find(|s| !existing.iter().any(|n| n.subnet.overlaps(s)))
                .ok_or(NetworksError::NoFreeSubnet)?,
        };
        let gateway = match req.gateway {
            Some(g) if !subnet.is_host(g) => {
                return Err(NetworksError::BadGateway { gateway: g, why: format!("not a host address of {subnet}") })
            }
            Some(g) => g,
            None => subnet.host(1).expect("a /30 or larger subnet has a first host"),
        };
        let id = super::new_id().map_err(Box::new)?;
        let net =
            Network { id, name: req.name.clone(), created: super::now(), subnet, gateway, internal: req.internal };
        let dir = self.store.networks_dir();
        fs::create_dir_all(&dir).map_err(io_err("creating", &dir))?;
        super::write_atomic(&self.path(&net.id), &super::pretty(&net)).map_err(Box::new)?;
        Ok(net)
    }

    /// Remove a network no running container is attached to, and its namespace; its name.
    pub fn remove(&self, query: &str) -> Result<String, NetworksError> {
        if RESERVED.iter().any(|(n, _)| *n == query) {
            return Err(NetworksError::Reserved(query.to_string()));
        }
        let _lock = self.store.lock()?;
        let net = self.get(query)?;
        let endpoints = bridge::Endpoints::new(self.store, &net);
        // No container attaches while this holds: none can slip in between the check and the teardown.
        let _net_lock = endpoints.lock()?;
        let attached = endpoints.live()?;
        if !attached.is_empty() {
            let containers = attached.into_iter().map(|e| e.display_name()).collect();
            return Err(NetworksError::InUse { name: net.name, containers });
        }
        bridge::teardown(self.store, &net)?;
        let path = self.path(&net.id);
        fs::remove_file(&path).map_err(io_err("removing", &path))?;
        Ok(net.name)
    }

    /// Remove every network no container (running or not) names; their names.
    pub fn prune(&self) -> Result<Vec<String>, NetworksError> {
        let containers = super::Containers::new(self.store).list().map_err(Box::new)?;
        let mut removed = Vec::new();
        for net in self.list()? {
            let used = containers.iter().any(|c| c.config.network.as_ref().is_some_and(|m| m.id == net.id));
            if used {
                continue;
            }
            match self.remove(&net.id) {
                Ok(name) => removed.push(name),
                Err(NetworksError::InUse { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(removed)
    }

    /// `network connect`: put a container that is not running on `net`, known to its peers also by
    /// `aliases`; it attaches at its next start (its own link there, as `run --network` gives).
    pub fn connect(&self, net: &str, container: &str, aliases: Vec<String>) -> Result<(), NetworksError> {
        let net = self.get(net)?;
        self.edit_stopped(container, "connect", |c| {
            let name = c.config.name.clone();
            if c.config.spec.network != crate::sandbox::Network::Bridge || c.config.network_container.is_some() {
                let mode = match (&c.config.network_container, c.config.spec.network) {
                    (Some(id), _) => format!("container:{id}"),
                    (None, n) => format!("{n:?}").to_lowercase(),
                };
                return Err(NetworksError::NotBridge { container: name, mode });
            }
            if let Some(m) = &c.config.network {
                return Err(NetworksError::AlreadyConnected { container: name, network: m.name.clone() });
            }
            c.config.network = Some(super::network::Membership { id: net.id.clone(), name: net.name.clone(), aliases });
            Ok(())
        })
    }

    /// `network disconnect`: take a container that is not running off `net`; it is back on the default
    /// bridge at its next start.
    pub fn disconnect(&self, net: &str, container: &str) -> Result<(), NetworksError> {
        let net = self.get(net)?;
        self.edit_stopped(container, "disconnect", |c| match &c.config.network {
            Some(m) if m.id == net.id => {
                c.config.network = None;
                Ok(())
            }
            _ => Err(NetworksError::NotConnected { container: c.config.name.clone(), network: net.name.clone() }),
        })
    }

    /// Change the config of a container that is not running, holding its lock so no start interleaves.
    fn edit_stopped(
        &self,
        query: &str,
        verb: &'static str,
        edit: impl FnOnce(&mut super::Container) -> Result<(), NetworksError>,
    ) -> Result<(), NetworksError> {
        let mut c = super::Containers::new(self.store).find(query).map_err(Box::new)?;
        let Some(_held) = c.hold().map_err(Box::new)? else {
            return Err(NetworksError::Running { container: c.config.name.clone(), verb });
        };
        edit(&mut c)?;
        c.save_config().map_err(Box::new)?;
        Ok(())
    }

    /// docker's `network inspect` object of a named network.
    pub fn inspect(&self, net: &Network) -> Result<serde_json::Value, NetworksError> {
        let mut containers = serde_json::Map::new();
        for e in bridge::Endpoints::new(self.store, net).live()? {
            containers.insert(
                e.container_id.clone(),
                serde_json::json!({
                    "Name": e.name,
                    "EndpointID": "",
                    "MacAddress": "",
                    "IPv4Address": format!("{}/{}", e.ip, net.subnet.prefix),
                    "IPv6Address": "",
                }),
            );
        }
        Ok(serde_json::json!({
            "Name": net.name,
            "Id": net.id,
            "Created": net.created,
            "Scope": "local",
            "Driver": "bridge",
            "EnableIPv6": false,
            "IPAM": {"Driver": "default", "Options": {}, "Config": [{"Subnet": net.subnet.to_string(), "Gateway": net.gateway.to_string()}]},
            "Internal": net.internal,
            "Attachable": false,
            "Ingress": false,
            "ConfigFrom": {"Network": ""},
            "ConfigOnly": false,
            "Containers": containers,
            "Options": {"com.docker.network.bridge.name": net.bridge_name()},
            "Labels": {},
        }))
    }
}

/// A container's `NetworkSettings.Networks` entry for its named network, as docker's `inspect` shows it
/// (the address only while it runs), and that address.
pub fn container_settings(
    store: &Store,
    m: &super::network::Membership,
    container_id: &str,
    running: bool,
) -> (Option<Ipv4Addr>, serde_json::Value) {
    let net = Networks::new(store).get(&m.id).ok();
    let ip = net
        .as_ref()
        .filter(|_| running)
        .and_then(|n| bridge::Endpoints::new(store, n).record(container_id))
        .map(|e| e.ip);
    let entry = serde_json::json!({
        "NetworkID": m.id,
        "Aliases": m.aliases,
        "IPAddress": ip.map(|i| i.to_string()).unwrap_or_default(),
        "IPPrefixLen": if ip.is_some() { net.as_ref().map_or(0, |n| n.subnet.prefix) } else { 0 },
        "Gateway": net.as_ref().filter(|_| ip.is_some()).map(|n| n.gateway.to_string()).unwrap_or_default(),
    });
    (ip, serde_json::json!({ m.name.clone(): entry }))
}

/// docker's `network inspect` object of a pre-defined network.
pub fn inspect_reserved(name: &str, driver: &str) -> serde_json::Value {
    serde_json::json!({
        "Name": name,
        "Id": reserved_id(name),
        "Scope": "local",
        "Driver": driver,
        "EnableIPv6": false,
        "IPAM": {"Driver": "default", "Options": null, "Config": []},
        "Internal": false,
        "Containers": {},
        "Options": {},
        "Labels": {},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_parse_and_compare() {
        let s = Subnet::parse("10.89.3.0/24").unwrap();
        assert_eq!(s.to_string(), "10.89.3.0/24");
        assert_eq!(s.host(1), Some(Ipv4Addr::new(10, 89, 3, 1)));
        assert_eq!(s.host(254), Some(Ipv4Addr::new(10, 89, 3, 254)));
        assert_eq!(s.host(255), None);
        assert!(s.is_host(Ipv4Addr::new(10, 89, 3, 7)));
        assert!(!s.is_host(Ipv4Addr::new(10, 89, 3, 255)) && !s.is_host(Ipv4Addr::new(10, 89, 4, 1)));
        assert!(s.overlaps(&Subnet::parse("10.89.0.0/16").unwrap()));
        assert!(!s.overlaps(&Subnet::parse("10.89.4.0/24").unwrap()));
        for bad in ["10.89.3.1/24", "10.89.3.0", "x/24", "10.0.0.0/31", "10.0.0.0/4"] {
            assert!(Subnet::parse(bad).is_err(), "{bad} should be refused");
        }
        assert!(is_valid_name("appnet") && is_valid_name("a") && !is_valid_name("-x") && !is_valid_name("a b"));
    }
}
