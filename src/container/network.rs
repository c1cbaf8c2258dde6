//! A container's network: its own network namespace, connected to the outside by `pasta` (Debian's
//! `passt` package; podman's default for rootless containers), and the ports it publishes (`-p`, `-P`).
//!
//! Why pasta: it is a well-kept user-mode network stack. It copies the host's outbound address and
//! routes into the namespace (`--config-net`), forwards the container's connections through ordinary
//! host sockets, and publishes a port by listening on the host (`-t`/`-u`) and splicing each
//! connection into the namespace. No interface, route or firewall rule of the host is ever created
//! or changed, so nothing of the host needs cleaning up.
//!
//! Lifecycle: [`Attached::start`] makes the namespace (a thread of this process unshares its own network
//! namespace and hands back a descriptor of it), checks that every host port is free (a clear error
//! naming the port otherwise), then runs pasta in the foreground as a child of this process (the
//! container's monitor, or the foreground `rbuild run`) with `PR_SET_PDEATHSIG`. [`Attached::spawn`]
//! returns at once: the sandbox's init starts up in the namespace meanwhile, and its command may start
//! only once [`Attached::wait_ready`] saw the namespace configured: pasta's default route announced on a
//! netlink socket in the namespace (without published ports), or pasta's pid file written (pasta writes
//! it once it also listens on the published ports), so the command never runs unconnected. [`Link::end`] SIGKILLs pasta as soon as the
//! sandbox is empty (its exit waits ~20 ms for the kernel to unregister the tap device, overlapping the
//! sandbox's cleanup); dropping [`Attached`] kills and reaps it, so no pasta outlives the run. The
//! namespace goes with its last user.
//! pasta opens the namespace through its own inherited descriptor (`/proc/self/fd/N`): it drops its
//! capabilities first, and opening another process's `/proc/PID/ns/net` would then be refused.

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::fs::File;
use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The program that connects a container's namespace.
pub const PASTA: &str = "pasta";

/// How long pasta may take to configure the namespace before we give up (it takes ~30 ms).
const PASTA_READY: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("invalid port mapping {spec:?}: {why} (expected [IP:]HOSTPORT:CONTAINERPORT[/tcp|/udp] or CONTAINERPORT)")]
    BadPort { spec: String, why: String },
    #[error(
        "cannot publish {ip}:{port}/{proto}: the host port is already in use ({source}); choose another \
         host port, or -p {container_port} for a free one"
    )]
    PortInUse { ip: IpAddr, port: u16, proto: Proto, container_port: u16, source: io::Error },
    #[error("creating the container's network namespace: {0}")]
    Namespace(io::Error),
    #[error("cannot run {PASTA} (Debian package passt), which connects the container's network: {0}; install it, or use --network host|none")]
    NoPasta(io::Error),
    #[error("{PASTA} could not connect the container's network ({status}): {log}")]
    PastaFailed { status: String, log: String },
    #[error("{PASTA} did not configure the container's network within {}s", PASTA_READY.as_secs())]
    PastaTimeout,
    #[error("{what} {}: {source}", path.display())]
    Io { what: &'static str, path: PathBuf, source: io::Error },
    #[error(transparent)]
    Bridge(#[from] super::bridge::BridgeError),
    #[error(transparent)]
    Networks(#[from] super::networks::NetworksError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl std::fmt::Display for Proto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        })
    }
}

/// One published port. `host_port` 0 means "any free port"; [`resolve_ports`] picks it when the
/// container is created (as podman does), so `ps` and `port` show the same port across restarts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMapping {
    pub host_ip: IpAddr,
    pub host_port: u16,
    pub container_port: u16,
    pub proto: Proto,
}

impl PortMapping {
    /// Docker's `-p` forms: `[IP:]HOSTPORT:CTRPORT[/proto]`, `IP::CTRPORT`, `CTRPORT[/proto]`.
    pub fn parse(spec: &str) -> Result<PortMapping, NetworkError> {
        let bad = |why: &str| NetworkError::BadPort { spec: spec.to_string(), why: why.to_string() };
        let (rest, proto) = match spec.rsplit_once('/') {
            Some((r, "tcp")) => (r, Proto::Tcp),
            Some((r, "udp")) => (r, Proto::Udp),
            Some((_, p)) => return Err(bad(&format!("unknown protocol {p:?}"))),
            None => (spec, Proto::Tcp),
        };
        let port = |s: &str, zero_ok: bool| -> Result<u16, NetworkError> {
            match s.parse::<u16>() {
                Ok(0) if !zero_ok => Err(bad("port 0 is not a port")),
                Ok(p) => Ok(p),
                Err(_) => Err(bad(&format!("{s:?} is not a port number (1-65535)"))),
            }
        };
        // An IPv6 host address is written in brackets: [::1]:8080:80.
        let (ip, rest) = match rest.strip_prefix('[') {
            Some(r) => {
                let (ip, after) = r.split_once("]:").ok_or_else(|| bad("unclosed ["))?;
                (Some(ip), after)
            }
            None => match rest.matches(':').count() {
                2 => rest.split_once(':').map(|(ip, r)| (Some(ip), r)).unwrap_or((None, rest)),
                _ => (None, rest),
            },
        };
        let host_ip = match ip {
            Some(ip) => ip.parse::<IpAddr>().map_err(|_| bad(&format!("{ip:?} is not an IP address")))?,
            None => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        };
        let (host_port, container_port) = match rest.split_once(':') {
            Some(("", c)) => (0, port(c, false)?),
            Some((h, c)) => (port(h, false)?, port(c, false)?),
            None if ip.is_some() => return Err(bad("missing the container port")),
            None => (0, port(rest, false)?),
        };
        Ok(PortMapping { host_ip, host_port, container_port, proto })
    }

    /// `0.0.0.0:18080->8080/tcp`, as `docker ps` shows it.
    pub fn display(&self) -> String {
        format!("{}->{}/{}", self.host_addr(), self.container_port, self.proto)
    }

    /// `0.0.0.0:18080`, as `docker port` shows it.
    pub fn host_addr(&self) -> String {
        SocketAddr::new(self.host_ip, self.host_port).to_string()
    }

    /// pasta's forwarding spec: `[ADDR/]HOSTPORT:CTRPORT`.
    fn pasta_spec(&self) -> String {
        if self.host_ip.is_unspecified() {
            format!("{}:{}", self.host_port, self.container_port)
        } else {
            format!("{}/{}:{}", self.host_ip, self.host_port, self.container_port)
        }
    }

    /// Bind the host side for a moment: a clear error naming the port when it is taken.
    fn check_free(&self) -> Result<u16, NetworkError> {
        let addr = SocketAddr::new(self.host_ip, self.host_port);
        let port = match self.proto {
            Proto::Tcp => TcpListener::bind(addr).and_then(|l| l.local_addr()),
            Proto::Udp => UdpSocket::bind(addr).and_then(|s| s.local_addr()),
        };
        port.map(|a| a.port()).map_err(|source| NetworkError::PortInUse {
            ip: self.host_ip,
            port: self.host_port,
            proto: self.proto,
            container_port: self.container_port,
            source,
        })
    }
}

/// Turn `-p` flags and, with `-P`, the image's EXPOSEd ports (`8080/tcp`) into mappings, giving each
/// mapping without a host port a free one.
pub fn resolve_ports(
    publish: &[String],
    exposed: &[String],
    publish_all: bool,
) -> Result<Vec<PortMapping>, NetworkError> {
    let mut ports = publish.iter().map(|p| PortMapping::parse(p)).collect::<Result<Vec<_>, _>>()?;
    if publish_all {
        for e in exposed {
            let m = PortMapping::parse(e)?;
            if !ports.iter().any(|p| p.container_port == m.container_port && p.proto == m.proto) {
                ports.push(m);
            }
        }
    }
    for p in ports.iter_mut().filter(|p| p.host_port == 0) {
        p.host_port = p.check_free()?;
    }
    Ok(ports)
}

/// How a bridge-mode container is connected: the ports pasta publishes for it, or the container whose
/// namespace it joins instead (`--network container:ID`), and the named network it is attached to.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub ports: Vec<PortMapping>,
    pub join: Option<String>,
    pub named: Option<Membership>,
    /// The container's id and name (empty for a foreground `run --rm` without `--name`): what its
    /// peers on a named network call it.
    pub container_id: String,
    pub container_name: String,
}

/// A container's place on a named network (`--network NAME`, `--network-alias`), kept in its config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    /// The network's id (its name may be taken again by another network once it is removed).
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
}

/// The name pasta gives its interface in a container that is on a named network, whose `eth0` is the
/// network's veth.
pub const PASTA_IFNAME: &str = "pasta0";

/// The namespace a container's sandbox joins, held until the sandbox is gone.
pub enum Link {
    /// Its own, connected by pasta.
    Pasta(Attached),
    /// Another running container's.
    Joined(OwnedFd),
    /// Its own with no way out (an internal network's, before it is attached).
    Bare(OwnedFd),
    /// Its own (`base`: [`Link::Pasta`] for the way out and published ports, or [`Link::Bare`] on an
    /// internal network) attached to a named network's bridge. Dropping it detaches first.
    Network { endpoint: Box<super::bridge::Endpoint>, base: Box<Link> },
}

impl Link {
    /// Wait until the namespace is connected (only a [`Link::Pasta`] from [`Attached::spawn`] may not be
    /// yet).
    pub fn wait_ready(&self) -> Result<(), NetworkError> {
        match self {
            Link::Pasta(a) => a.wait_ready(),
            Link::Network { base, .. } => base.wait_ready(),
            Link::Joined(_) | Link::Bare(_) => Ok(()),
        }
    }

    /// The sandbox in the namespace is gone: start ending pasta (reaped when the link is dropped), as its
    /// exit takes a while (the kernel unregisters its tap device). Only a namespace of its own: a named
    /// network's endpoint is detached first, when the link is dropped.
    pub fn end(&self) {
        if let Link::Pasta(a) = self {
            let _ = a.pasta.borrow_mut().kill();
        }
    }

    pub fn netns(&self) -> BorrowedFd<'_> {
        match self {
            Link::Pasta(a) => a.netns(),
            Link::Joined(fd) | Link::Bare(fd) => fd.as_fd(),
            Link::Network { base, .. } => base.netns(),
        }
    }
}

/// The network namespace of process `pid` (a running container's pid 1).
pub fn open_netns(pid: i32) -> Result<OwnedFd, NetworkError> {
    let path = PathBuf::from(format!("/proc/{pid}/ns/net"));
    File::open(&path).map(OwnedFd::from).map_err(|source| NetworkError::Io { what: "opening", path, source })
}

/// A container's network namespace with pasta attached; dropping it ends pasta.
pub struct Attached {
    netns: OwnedFd,
    /// It publishes ports: its end is waited for, so they are free again when the container is gone.
    publishes: bool,
    /// In a cell: [`Attached::wait_ready`] checks on it while the sandbox borrows the namespace.
    pasta: RefCell<Child>,
    started: Instant,
    /// The reading end of pasta's pid file, a FIFO (non-blocking), and what came through it so far: a
    /// whole line (its pid) once the namespace is configured.
    pid_fifo: RefCell<(File, Vec<u8>)>,
    /// A netlink socket in the namespace listening for IPv4 route changes, when the namespace counts as
    /// connected once pasta has added its default route (see [`Attached::spawn`]).
    routes: Option<File>,
    scratch: tempfile::TempDir,
}

impl Attached {
    /// Make a network namespace and connect it with pasta, publishing `ports`; pasta's interface is named
    /// `ifname` (else after the host's). Returns once pasta has configured it.
    pub fn start(ports: &[PortMapping], ifname: Option<&str>, map_gw: bool) -> Result<Attached, NetworkError> {
        let attached = Attached::spawn(ports, ifname, map_gw)?;
        attached.wait_ready()?;
        Ok(attached)
    }

    /// [`Attached::start`] without the wait: pasta is still configuring the namespace when this returns,
    /// and [`Attached::wait_ready`] must succeed before anything runs in it (the sandbox starts up
    /// meanwhile). With `map_gw` the gateway's address reaches the host's loopback (`--add-host
    /// NAME:host-gateway`); otherwise nothing on the host's loopback is reachable.
    pub fn spawn(ports: &[PortMapping], ifname: Option<&str>, map_gw: bool) -> Result<Attached, NetworkError> {
        for p in ports {
            p.check_free()?;
        }
        let ipv4_only = ports.iter().all(|p| p.host_ip.is_ipv4());
        // Without published ports the container only needs its namespace configured: pasta adds the
        // default route last (after the link and the address), ~10 ms before it has set up its own
        // socket pools and writes its pid file. Packets the command sends meanwhile wait in the tap
        // device's queue until pasta reads them. Published ports are only open once the pid file is
        // written, so then that is what is waited for (and for a named network's interface, and IPv6).
        let watch_routes = ports.is_empty() && ifname.is_none() && ipv4_only;
        let (netns, routes) = new_netns_watching(watch_routes)?;
        let scratch = tempfile::Builder::new().prefix("rbuild-pasta-").tempdir().map_err(|source| {
            NetworkError::Io { what: "creating a temp dir in", path: std::env::temp_dir(), source }
        })?;
        let (pid_file, log_file) = (scratch.path().join("pasta.pid"), scratch.path().join("pasta.log"));
        let log = File::create(&log_file).map_err(|source| NetworkError::Io {
            what: "creating",
            path: log_file.clone(),
            source,
        })?;
        let fd = netns.as_raw_fd();
        let mut cmd = pasta_command();
        cmd.args(["--foreground", "--quiet", "--config-net", "--runas", "0"]);
        if !map_gw {
            cmd.arg("--no-map-gw");
        }
        for (flag, proto) in [("-t", Proto::Tcp), ("-u", Proto::Udp)] {
            // One option per mapping: pasta takes a bind address once per option, not per list item.
            let specs: Vec<String> = ports.iter().filter(|p| p.proto == proto).map(PortMapping::pasta_spec).collect();
            if specs.is_empty() {
                cmd.args([flag, "none"]);
            }
            for spec in specs {
                cmd.arg(flag).arg(spec);
            }
        }
        // Nothing of the host's own namespace is forwarded into the container (pasta's default is auto).
        cmd.args(["-T", "none", "-U", "none", "--pid"]).arg(&pid_file);
        if ipv4_only {
            // Docker's default bridge is IPv4 only; skipping IPv6 setup makes pasta ready in ~35 ms, not ~55.
            cmd.arg("--ipv4-only");
        }
        if let Some(name) = ifname {
            cmd.args(["--ns-ifname", name]);
        }
        cmd.arg("--netns").arg(format!("/proc/self/fd/{fd}"));
        cmd.stdin(Stdio::null()).stdout(Stdio::from(log.try_clone().map_err(NetworkError::Namespace)?));
        cmd.stderr(Stdio::from(log));
        // SAFETY: between fork and exec only plain system calls (fcntl, prctl), nothing allocated; `fd`
        // stays open in this process until `Attached` is dropped.
        unsafe {
            cmd.pre_exec(move || {
                // pasta dies with the process that runs the container.
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) < 0 {
                    return Err(io::Error::last_os_error());
                }
                if libc::fcntl(fd, libc::F_SETFD, 0) < 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        // pasta writes its pid file once the namespace is configured. The file is a FIFO opened here
        // first, so the wait ends the moment pasta writes it (polling at 2 ms cost a millisecond on
        // average, and an inotify watch ~15 ms at its close: the kernel waits for an SRCU grace period).
        let fifo_error =
            |e: nix::errno::Errno| NetworkError::Io { what: "making", path: pid_file.clone(), source: e.into() };
        nix::unistd::mkfifo(&pid_file, nix::sys::stat::Mode::S_IRUSR | nix::sys::stat::Mode::S_IWUSR)
            .map_err(fifo_error)?;
        let flags = nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_NONBLOCK | nix::fcntl::OFlag::O_CLOEXEC;
        let fifo = nix::fcntl::open(&pid_file, flags, nix::sys::stat::Mode::empty()).map_err(fifo_error)?;
        let pid_fifo = RefCell::new((File::from(fifo), Vec::new()));
        let pasta = cmd.spawn().map_err(NetworkError::NoPasta)?;
        let publishes = !ports.is_empty();
        let pasta = RefCell::new(pasta);
        Ok(Attached { netns, publishes, pasta, started: Instant::now(), pid_fifo, routes, scratch })
    }

    /// Wait until pasta has configured the namespace (its pid file is written, or, when
    /// [`Attached::spawn`] watches routes, its default route is in), at once if it had already.
    pub fn wait_ready(&self) -> Result<(), NetworkError> {
        let log_file = self.scratch.path().join("pasta.log");
        let mut fifo = self.pid_fifo.borrow_mut();
        let (fifo, written) = &mut *fifo;
        loop {
            let mut buf = [0u8; 32];
            while let Ok(n @ 1..) = fifo.read(&mut buf) {
                written.extend_from_slice(&buf[..n]);
            }
            if written.contains(&b'\n') || self.routes.as_ref().is_some_and(default_route_added) {
                return Ok(());
            } else if let Ok(Some(status)) = self.pasta.borrow_mut().try_wait() {
                return Err(NetworkError::PastaFailed { status: status.to_string(), log: read_log(&log_file) });
            } else if self.started.elapsed() > PASTA_READY {
                return Err(NetworkError::PastaTimeout);
            } else {
                // Woken by pasta's write or a route, else every 5 ms to see whether pasta died.
                let mut fds = vec![PollFd::new(fifo.as_fd(), PollFlags::POLLIN)];
                fds.extend(self.routes.as_ref().map(|r| PollFd::new(r.as_fd(), PollFlags::POLLIN)));
                let _ = poll(&mut fds, PollTimeout::from(5u8));
            }
        }
    }

    /// The namespace, for the sandbox to join.
    pub fn netns(&self) -> BorrowedFd<'_> {
        self.netns.as_fd()
    }
}

impl Drop for Attached {
    /// SIGKILL pasta. Its exit takes 20-50 ms in the kernel (closing its tap device waits for RCU) and
    /// holds nothing the container's end waits for, unless it publishes ports: those must be free when
    /// `rm -f` or `run --rm` returns, so then it is waited for. Otherwise a thread reaps it, or, when this
    /// process ends first, init does.
    fn drop(&mut self) {
        let pasta = self.pasta.get_mut();
        let _ = pasta.kill();
        if self.publishes {
            let _ = pasta.wait();
            return;
        }
        // Dropping the `Child` leaves the process alone; only its pid is needed to reap it.
        let pid = nix::unistd::Pid::from_raw(pasta.id() as i32);
        let _ =
            std::thread::Builder::new().name("pasta-reaper".into()).spawn(move || nix::sys::wait::waitpid(pid, None));
    }
}

/// `NetworkSettings.Ports` as `docker inspect` shows it: `{"8080/tcp": [{"HostIp": "0.0.0.0", "HostPort": "18080"}]}`.
pub fn inspect_ports(ports: &[PortMapping]) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    for p in ports {
        let key = format!("{}/{}", p.container_port, p.proto);
        let entry = serde_json::json!({"HostIp": p.host_ip.to_string(), "HostPort": p.host_port.to_string()});
        if let serde_json::Value::Array(list) = map.entry(key).or_insert_with(|| serde_json::json!([])) {
            list.push(entry);
        }
    }
    serde_json::Value::Object(map)
}

/// The IPv4 address of a running container (pid `pid`) other than loopback: pasta gives the namespace
/// the host's outbound address. Read from the namespace's local routing table, `/proc/PID/net/fib_trie`.
pub fn address_of(pid: i32) -> Option<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/net/fib_trie")).ok()?;
    let mut last = None;
    for line in text.lines() {
        let line = line.trim_start_matches([' ', '|', '+', '-']).trim();
        if line.contains("/32 host LOCAL") {
            if let Some(ip) = last.filter(|ip: &Ipv4Addr| !ip.is_loopback()) {
                return Some(ip.to_string());
            }
        } else {
            last = line.parse::<Ipv4Addr>().ok();
        }
    }
    None
}

/// pasta's messages, without the syslog noise it prints when there is no syslog.
fn read_log(path: &std::path::Path) -> String {
    let mut text = String::new();
    let _ = File::open(path).and_then(|mut f| f.read_to_string(&mut text));
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with("Failed to send") && !l.trim().is_empty()).collect();
    lines.join("; ")
}

/// A new network namespace, made by a short-lived thread (unsharing a network namespace moves only the
/// calling thread, so this process's other threads stay on the host's network).
pub fn new_netns() -> Result<OwnedFd, NetworkError> {
    new_netns_watching(false).map(|(netns, _)| netns)
}

/// [`new_netns`], and with `routes` a netlink socket made in it (a socket stays in the namespace it was
/// made in) that hears of every IPv4 route added there from now on (non-blocking).
fn new_netns_watching(routes: bool) -> Result<(OwnedFd, Option<File>), NetworkError> {
    std::thread::spawn(move || -> io::Result<(OwnedFd, Option<File>)> {
        use nix::sys::socket::{bind, socket, AddressFamily, NetlinkAddr, SockFlag, SockProtocol, SockType};
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
        let netns = File::open("/proc/thread-self/ns/net").map(OwnedFd::from)?;
        if !routes {
            return Ok((netns, None));
        }
        let flags = SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK;
        let sock = socket(AddressFamily::Netlink, SockType::Raw, flags, SockProtocol::NetlinkRoute)?;
        bind(sock.as_raw_fd(), &NetlinkAddr::new(0, libc::RTMGRP_IPV4_ROUTE as u32))?;
        Ok((netns, Some(File::from(sock))))
    })
    .join()
    .unwrap_or_else(|_| Err(io::Error::other("the namespace thread panicked")))
    .map_err(NetworkError::Namespace)
}

/// Whether the netlink messages waiting on `routes` announce a default IPv4 route (read without blocking).
fn default_route_added(mut routes: &File) -> bool {
    let mut buf = vec![0u8; 16 * 1024];
    let mut added = false;
    while let Ok(n @ 1..) = routes.read(&mut buf) {
        added |= announces_default_route(&buf[..n]);
    }
    added
}

/// Whether a datagram of rtnetlink messages holds an `RTM_NEWROUTE` for an IPv4 default route
/// (`nlmsghdr`, 16 bytes, then `rtmsg`: family, destination prefix length, ...).
fn announces_default_route(mut msgs: &[u8]) -> bool {
    while msgs.len() >= 16 {
        let len = u32::from_ne_bytes([msgs[0], msgs[1], msgs[2], msgs[3]]) as usize;
        let kind = u16::from_ne_bytes([msgs[4], msgs[5]]);
        if len < 16 || len > msgs.len() {
            return false;
        }
        let body = &msgs[16..len];
        if kind == libc::RTM_NEWROUTE && body.len() >= 2 && body[0] == libc::AF_INET as u8 && body[1] == 0 {
            return true;
        }
        // Messages are 4-byte aligned.
        msgs = &msgs[len.next_multiple_of(4).min(msgs.len())..];
    }
    false
}

/// The command that runs pasta. Debian's `pasta` (a link to `passt`) checks the CPU and executes
/// `passt.avx2` beside it when it can, keeping its name (which selects pasta's mode); doing that check
/// here saves one program start on every container run.
/// The gateway of the host's IPv4 default route (`/proc/net/route`): the address pasta gives the
/// container's default route, and which it maps to the host's loopback unless told `--no-map-gw`.
pub fn host_gateway() -> Option<std::net::Ipv4Addr> {
    let table = std::fs::read_to_string("/proc/net/route").ok()?;
    default_gateway(&table)
}

/// The first default route's gateway in a `/proc/net/route` table (each address is the network-order
/// value printed as a native integer, so its native bytes are the address).
fn default_gateway(table: &str) -> Option<std::net::Ipv4Addr> {
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (dest, gw, mask) = (f.get(1)?, f.get(2)?, f.get(7)?);
        if *dest != "00000000" || *mask != "00000000" {
            return None;
        }
        let gw = u32::from_str_radix(gw, 16).ok().filter(|g| *g != 0)?;
        Some(std::net::Ipv4Addr::from(gw.to_ne_bytes()))
    })
}

fn pasta_command() -> Command {
    let avx2 = {
        #[cfg(target_arch = "x86_64")]
        {
            std::arch::is_x86_feature_detected!("avx2")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    };
    let fast = std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|d| d.join(PASTA)).find(|p| p.is_file()))
        .and_then(|p| std::fs::canonicalize(p).ok())
        .filter(|real| avx2 && real.file_name().is_some_and(|n| n == "passt"))
        .map(|real| real.with_file_name("passt.avx2"))
        .filter(|fast| fast.is_file());
    match fast {
        Some(fast) => {
            let mut cmd = Command::new(fast);
            cmd.arg0(PASTA);
            cmd
        }
        None => Command::new(PASTA),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One rtnetlink message: `nlmsghdr` then the first bytes of `rtmsg`.
    fn message(kind: u16, family: u8, dst_len: u8) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&30u32.to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&[0; 10]);
        m.extend_from_slice(&[family, dst_len, 0, 0, 254, 4, 0, 1, 0, 0, 0, 0, 0, 0]);
        m.extend_from_slice(&[0, 0]); // padding to 32
        m
    }

    #[test]
    fn the_default_gateway_is_read_from_the_route_table() {
        let table = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                     eth0\t0000A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
                     eth0\t00000000\t0100A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n";
        assert_eq!(default_gateway(table), Some(std::net::Ipv4Addr::new(192, 168, 0, 1)));
        assert_eq!(default_gateway("Iface\tDestination\n"), None);
    }

    #[test]
    fn only_an_added_ipv4_default_route_counts() {
        let inet = libc::AF_INET as u8;
        assert!(announces_default_route(&message(libc::RTM_NEWROUTE, inet, 0)));
        // A route to a subnet, a removed default route, an IPv6 one: not yet.
        assert!(!announces_default_route(&message(libc::RTM_NEWROUTE, inet, 24)));
        assert!(!announces_default_route(&message(libc::RTM_DELROUTE, inet, 0)));
        assert!(!announces_default_route(&message(libc::RTM_NEWROUTE, libc::AF_INET6 as u8, 0)));
        // Several messages in one datagram; a truncated one ends the scan without a panic.
        let mut two = message(libc::RTM_NEWROUTE, inet, 24);
        two.extend(message(libc::RTM_NEWROUTE, inet, 0));
        assert!(announces_default_route(&two));
        assert!(!announces_default_route(&two[..40]));
        assert!(!announces_default_route(&[0xff; 20]));
    }

    #[test]
    fn publish_flags_parse_like_docker() {
        let p = PortMapping::parse("18080:8080").unwrap();
        assert_eq!(p.display(), "0.0.0.0:18080->8080/tcp");
        let p = PortMapping::parse("127.0.0.1:5353:53/udp").unwrap();
        assert_eq!(p.display(), "127.0.0.1:5353->53/udp");
        assert_eq!(p.pasta_spec(), "127.0.0.1/5353:53");
        let p = PortMapping::parse("8080").unwrap();
        assert_eq!((p.host_port, p.container_port, p.proto), (0, 8080, Proto::Tcp));
        let p = PortMapping::parse("127.0.0.1::80").unwrap();
        assert_eq!((p.host_port, p.container_port), (0, 80));
        assert_eq!(PortMapping::parse("[::1]:8080:80").unwrap().display(), "[::1]:8080->80/tcp");
        for bad in ["", "x", "0", "8080/sctp", "1:2:3:4", "70000", "host:1:2"] {
            assert!(PortMapping::parse(bad).is_err(), "{bad} should be refused");
        }
    }
}
