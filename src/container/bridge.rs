//! What runs on a named network: its network namespace with a bridge, and the containers attached to it.
//!
//! The namespace is rbuild's own, never the host's (as podman's rootless networks): a short-lived
//! thread unshares a network namespace and bind-mounts `/proc/thread-self/ns/net` on
//! `/run/rbuild/netns/<network id>`, which keeps it alive after the thread is gone. It is made on the
//! first attach (again after a reboot, when `/run` is empty) and holds one bridge, `rb-<short id>`,
//! with the gateway's address. [`teardown`] (on `network rm`) unmounts it, which ends it.
//!
//! Attaching a container: a veth pair is made inside the network's namespace, one end on the bridge,
//! the other moved into the container's namespace as `eth0` with the lowest free address of the subnet.
//! Each attachment is an endpoint record, `networks/<id>.endpoints/<container id>.json`, flocked by the
//! process that runs the container for as long as it runs: a record nobody holds is a killed run's, and
//! is ignored and swept. Every attached container's `/etc/hosts` (a file the sandbox bind-mounts) lists
//! every other one by name, aliases and short id; it is rewritten in place on every attach and detach,
//! so running containers see their new peers. The veth pair goes with the container's namespace.
//!
//! The links are made with Debian's `ip` (iproute2) run inside the namespaces (`setns` before exec)
//! rather than a netlink crate: one short batch per step, the same commands a person debugging types,
//! and no async runtime (rtnetlink needs tokio). Nothing here ever runs in the host's namespace.

use super::networks::{Network, Subnet};
use crate::store::Store;
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where the namespaces of named networks are bind-mounted (as `ip netns` keeps them in /run/netns).
pub const NETNS_DIR: &str = "/run/rbuild/netns";

#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    #[error("creating the network namespace of network {name}: {source}")]
    Namespace { name: String, source: io::Error },
    #[error("cannot run `ip` (Debian package iproute2), which wires named networks: {0}; install it")]
    NoIp(io::Error),
    #[error("network {name}: `ip` failed on {script:?}: {stderr}")]
    IpFailed { name: String, script: String, stderr: String },
    #[error("network {name}: no free address left in {subnet}; remove containers from it or make a larger network")]
    Full { name: String, subnet: Subnet },
    #[error("network {0} was removed meanwhile (see rbuild network ls)")]
    Removed(String),
    #[error("{what} {}: {source}", path.display())]
    Io { what: &'static str, path: PathBuf, source: io::Error },
}

fn io_err<'p>(what: &'static str, path: &'p Path) -> impl FnOnce(io::Error) -> BridgeError + 'p {
    move |source| BridgeError::Io { what, path: path.to_path_buf(), source }
}

/// The bind mount that keeps the network's namespace.
pub fn netns_path(net: &Network) -> PathBuf {
    Path::new(NETNS_DIR).join(&net.id)
}

fn is_netns(path: &Path) -> bool {
    nix::sys::statfs::statfs(path).is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::NSFS_MAGIC)
}

/// The network's namespace, made (with its bridge) when missing. Called under the network's lock.
fn ensure(net: &Network) -> Result<File, BridgeError> {
    let path = netns_path(net);
    if !is_netns(&path) {
        create_netns(net, &path)?;
        let ns = File::open(&path).map_err(io_err("opening", &path))?;
        let br = net.bridge_name();
        let script = format!(
            "link set lo up\nlink add {br} type bridge\naddr add {}/{} dev {br}\nlink set {br} up\n",
            net.gateway, net.subnet.prefix
        );
        if let Err(e) = ip(&net.name, ns.as_fd(), None, &script) {
            drop(ns);
            let _ = unmount(&path);
            return Err(e);
        }
    }
    File::open(&path).map_err(io_err("opening", &path))
}

fn create_netns(net: &Network, path: &Path) -> Result<(), BridgeError> {
    let dir = Path::new(NETNS_DIR);
    fs::create_dir_all(dir).map_err(io_err("creating", dir))?;
    File::create(path).map_err(io_err("creating", path))?;
    let target = path.to_path_buf();
    // Unsharing moves only the calling thread: this process's other threads stay on the host's network.
    std::thread::spawn(move || -> io::Result<()> {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)?;
        let flags = nix::mount::MsFlags::MS_BIND;
        nix::mount::mount(Some("/proc/thread-self/ns/net"), &target, None::<&str>, flags, None::<&str>)?;
        Ok(())
    })
    .join()
    .unwrap_or_else(|_| Err(io::Error::other("the namespace thread panicked")))
    .map_err(|source| BridgeError::Namespace { name: net.name.clone(), source })
}

fn unmount(path: &Path) -> Result<(), BridgeError> {
    if is_netns(path) {
        nix::mount::umount2(path, nix::mount::MntFlags::MNT_DETACH)
            .map_err(|e| io_err("unmounting", path)(e.into()))?;
    }
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err("removing", path)(e)),
        _ => Ok(()),
    }
}

/// End the network's namespace (its bridge goes with it) and forget its endpoints.
pub fn teardown(store: &Store, net: &Network) -> Result<(), BridgeError> {
    unmount(&netns_path(net))?;
    let eps = Endpoints::new(store, net);
    for p in [eps.dir.clone()] {
        match fs::remove_dir_all(&p) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(io_err("removing", &p)(e)),
            _ => {}
        }
    }
    let _ = fs::remove_file(&eps.lock_path);
    Ok(())
}

/// Run `ip -batch -` with `script` inside the namespace `ns`; `pass` stays open across the exec, at
/// the same number, so the script can name it as `/proc/self/fd/N`.
fn ip(name: &str, ns: BorrowedFd, pass: Option<BorrowedFd>, script: &str) -> Result<(), BridgeError> {
    let (ns_fd, pass_fd) = (ns.as_raw_fd(), pass.map(|p| p.as_raw_fd()));
    let mut cmd = Command::new("ip");
    cmd.args(["-batch", "-"]).stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::piped());
    // SAFETY: between fork and exec only plain system calls (setns, fcntl), nothing allocated; both
    // descriptors are open in this process until `ip` has exited.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setns(ns_fd, libc::CLONE_NEWNET) < 0 {
                return Err(io::Error::last_os_error());
            }
            if let Some(fd) = pass_fd {
                if libc::fcntl(fd, libc::F_SETFD, 0) < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(BridgeError::NoIp)?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(script.as_bytes());
    }
    let out = child.wait_with_output().map_err(BridgeError::NoIp)?;
    if out.status.success() {
        return Ok(());
    }
    Err(BridgeError::IpFailed {
        name: name.to_string(),
        script: script.trim().replace('\n', "; "),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    })
}

/// Who attaches: the names its peers know it by.
#[derive(Debug, Clone)]
pub struct Member {
    pub container_id: String,
    /// Empty for a foreground `run --rm` without `--name`.
    pub name: String,
    /// `--network-alias`.
    pub aliases: Vec<String>,
    pub hostname: String,
    /// `--add-host` lines, at the end of its `/etc/hosts`.
    pub extra_hosts: Vec<String>,
}

/// One attached container: `networks/<id>.endpoints/<container id>.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EndpointRecord {
    pub container_id: String,
    pub name: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    pub hostname: String,
    pub ip: Ipv4Addr,
    /// The file the container sees as `/etc/hosts`.
    pub hosts_file: PathBuf,
    /// Its own `--add-host` lines, kept at the end of that file when it is rewritten.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_hosts: Vec<String>,
}

impl EndpointRecord {
    pub fn display_name(&self) -> String {
        if self.name.is_empty() {
            self.container_id[..12].to_string()
        } else {
            self.name.clone()
        }
    }

    /// Hostname, name, aliases and short id, each once: what resolves to this container.
    fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        let all = [self.hostname.as_str(), self.name.as_str()].into_iter();
        for n in all.chain(self.aliases.iter().map(String::as_str)).chain([&self.container_id[..12]]) {
            if !n.is_empty() && !names.contains(&n) {
                names.push(n);
            }
        }
        names
    }
}

/// `/etc/hosts` of `own`: loopback, then its own address, then every peer's, then its `--add-host` lines.
fn hosts_text(own: &EndpointRecord, all: &[EndpointRecord]) -> String {
    let mut text = crate::sandbox::DEFAULT_HOSTS.to_string();
    let others = all.iter().filter(|e| e.container_id != own.container_id);
    for e in std::iter::once(own).chain(others) {
        text.push_str(&format!("{}\t{}\n", e.ip, e.names().join(" ")));
    }
    for line in &own.extra_hosts {
        text.push_str(line);
        text.push('\n');
    }
    text
}

/// The endpoint records of one network.
pub struct Endpoints {
    dir: PathBuf,
    lock_path: PathBuf,
}

impl Endpoints {
    pub fn new(store: &Store, net: &Network) -> Endpoints {
        let base = store.networks_dir();
        Endpoints { dir: base.join(format!("{}.endpoints", net.id)), lock_path: base.join(format!("{}.lock", net.id)) }
    }

    /// The network's lock: held while its namespace is made or ended and containers attach or detach.
    pub fn lock(&self) -> Result<Flock<File>, BridgeError> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.lock_path)
            .map_err(io_err("opening", &self.lock_path))?;
        Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, e)| io_err("locking", &self.lock_path)(e.into()))
    }

    /// The containers attached now: records whose flock a live run holds. With `sweep` (under the
    /// network's lock), a killed run's record is removed.
    fn read(&self, sweep: bool) -> Result<Vec<EndpointRecord>, BridgeError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err("reading", &self.dir)(e)),
        };
        let mut live = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let Ok(file) = File::open(&path) else { continue };
            match Flock::lock(file, FlockArg::LockSharedNonblock) {
                Err((_, nix::errno::Errno::EWOULDBLOCK)) => {
                    if let Some(rec) = fs::read(&path).ok().and_then(|b| serde_json::from_slice(&b).ok()) {
                        live.push(rec);
                    }
                }
                _ if sweep => {
                    let _ = fs::remove_file(&path);
                }
                _ => {}
            }
        }
        live.sort_by_key(|e: &EndpointRecord| e.ip);
        Ok(live)
    }

    pub fn live(&self) -> Result<Vec<EndpointRecord>, BridgeError> {
        self.read(false)
    }

    /// The record of one container, held or not.
    pub fn record(&self, container_id: &str) -> Option<EndpointRecord> {
        let bytes = fs::read(self.dir.join(format!("{container_id}.json"))).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Rewrite every attached container's `/etc/hosts` in place (a bind mount follows the inode).
    fn refresh_hosts(all: &[EndpointRecord]) {
        for e in all {
            if let Ok(mut f) = OpenOptions::new().write(true).truncate(true).open(&e.hosts_file) {
                let _ = f.write_all(hosts_text(e, all).as_bytes());
            }
        }
    }
}

/// A container attached to a network, for as long as it runs; dropping it detaches the container.
pub struct Endpoint {
    endpoints: Endpoints,
    path: PathBuf,
    held: Option<Flock<File>>,
    pub record: EndpointRecord,
}

/// Attach the container whose namespace is `ctr_ns` to `net`, writing its `/etc/hosts` at `hosts_file`.
pub fn attach(
    store: &Store,
    net: &Network,
    ctr_ns: BorrowedFd,
    me: &Member,
    hosts_file: &Path,
) -> Result<Endpoint, BridgeError> {
    let endpoints = Endpoints::new(store, net);
    fs::create_dir_all(&endpoints.dir).map_err(io_err("creating", &endpoints.dir))?;
    let _lock = endpoints.lock()?;
    // `network rm` holds this lock while it checks for endpoints and ends the namespace.
    if !store.networks_dir().join(format!("{}.json", net.id)).exists() {
        return Err(BridgeError::Removed(net.name.clone()));
    }
    let ns = ensure(net)?;
    let mut all = endpoints.read(true)?;
    let taken = |ip: &Ipv4Addr| *ip == net.gateway || all.iter().any(|e| e.ip == *ip);
    let addr = (1..)
        .map_while(|n| net.subnet.host(n))
        .find(|ip| !taken(ip))
        .ok_or_else(|| BridgeError::Full { name: net.name.clone(), subnet: net.subnet })?;
    // A fresh name each time: the veth of a container that just ended may still be on its way out.
    let veth = format!(
        "rbv{}",
        &super::new_id()
            .map_err(|e| BridgeError::Namespace { name: net.name.clone(), source: io::Error::other(e.to_string()) })?
            [..8]
    );
    let fd = ctr_ns.as_raw_fd();
    let script = format!(
        "link add {veth} type veth peer name eth0 netns /proc/self/fd/{fd}\nlink set {veth} master {} up\n",
        net.bridge_name()
    );
    ip(&net.name, ns.as_fd(), Some(ctr_ns), &script)?;
    let script = format!("link set lo up\naddr add {addr}/{} dev eth0\nlink set eth0 up\n", net.subnet.prefix);
    ip(&net.name, ctr_ns, None, &script)?;
    let record = EndpointRecord {
        container_id: me.container_id.clone(),
        name: me.name.clone(),
        aliases: me.aliases.clone(),
        hostname: me.hostname.clone(),
        ip: addr,
        hosts_file: hosts_file.to_path_buf(),
        extra_hosts: me.extra_hosts.clone(),
    };
    // Written aside, flocked, then renamed: no reader ever sees an unheld record of a live container.
    let path = endpoints.dir.join(format!("{}.json", me.container_id));
    let tmp = endpoints.dir.join(format!(".tmp-{}", me.container_id));
    let bytes = serde_json::to_vec_pretty(&record).expect("endpoint records serialise");
    fs::write(&tmp, bytes).map_err(io_err("writing", &tmp))?;
    let file = File::open(&tmp).map_err(io_err("opening", &tmp))?;
    let held = Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, e)| io_err("locking", &tmp)(e.into()))?;
    fs::rename(&tmp, &path).map_err(io_err("renaming", &tmp))?;
    fs::write(hosts_file, "").map_err(io_err("writing", hosts_file))?;
    all.push(record.clone());
    Endpoints::refresh_hosts(&all);
    Ok(Endpoint { endpoints, path, held: Some(held), record })
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        let Ok(_lock) = self.endpoints.lock() else { return };
        let _ = fs::remove_file(&self.path);
        self.held.take();
        if let Ok(rest) = self.endpoints.read(true) {
            Endpoints::refresh_hosts(&rest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_list_self_first_then_peers_by_every_name() {
        let rec = |id: &str, name: &str, aliases: &[&str], ip: [u8; 4]| EndpointRecord {
            container_id: id.repeat(64 / id.len()),
            name: name.into(),
            aliases: aliases.iter().map(|a| a.to_string()).collect(),
            hostname: id.repeat(12 / id.len()),
            ip: ip.into(),
            hosts_file: PathBuf::new(),
            extra_hosts: Vec::new(),
        };
        let (a, b) = (rec("a", "server", &["web"], [10, 89, 0, 2]), rec("b", "", &[], [10, 89, 0, 3]));
        let text = hosts_text(&b, &[a.clone(), b.clone()]);
        assert!(text.starts_with("127.0.0.1\tlocalhost\n"), "{text}");
        let lines: Vec<&str> = text.lines().skip(2).collect();
        assert_eq!(lines, ["10.89.0.3\tbbbbbbbbbbbb", "10.89.0.2\taaaaaaaaaaaa server web"]);
        // Its own --add-host lines come last; a peer's are not its business.
        let a = EndpointRecord { extra_hosts: vec!["10.1.2.3\tdb.test".into()], ..a };
        let text = hosts_text(&b, &[a.clone(), b.clone()]);
        assert!(!text.contains("db.test"), "{text}");
        assert!(hosts_text(&a, &[a.clone(), b]).ends_with("\n10.1.2.3\tdb.test\n"));
    }
}
