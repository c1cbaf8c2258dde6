//! How names resolve inside a sandbox: the `/etc/resolv.conf` it gets and the extra `/etc/hosts` lines
//! (`--add-host`, `--dns`, `--dns-search`, `--dns-option`), as Docker makes them.
//!
//! With the host's network the host's `resolv.conf` is used as it is. A sandbox with a network namespace
//! of its own cannot reach the host's loopback, so, as Docker does, a host using systemd-resolved's stub
//! (`nameserver 127.0.0.53`) is read through the upstream list resolved keeps in
//! `/run/systemd/resolve/resolv.conf`, loopback and IPv6 nameservers are dropped (the container's network
//! is IPv4 only), and when none is left Docker's fallback (8.8.8.8, 8.8.4.4) is written, with a comment
//! saying so. `--dns`, `--dns-search` and `--dns-option` replace the host's nameservers, search list and
//! options respectively; `--dns-search .` empties the search list.

use super::Network;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// The host's resolver configuration.
const HOST_RESOLV: &str = "/etc/resolv.conf";
/// systemd-resolved's list of the upstream servers its stub forwards to.
const RESOLVED_UPSTREAM: &str = "/run/systemd/resolve/resolv.conf";
/// Docker's nameservers when the host has none a container can reach.
const FALLBACK_NAMESERVERS: [&str; 2] = ["8.8.8.8", "8.8.4.4"];

/// Name resolution flags of a sandbox; empty: the host's, filtered as the module says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolution {
    /// `/etc/hosts` lines (`IP\tNAME`) added after the sandbox's own (`--add-host`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_hosts: Vec<String>,
    /// `--dns`: nameservers replacing the host's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nameservers: Vec<IpAddr>,
    /// `--dns-search`: the search list replacing the host's (`.` alone: none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub search: Vec<String>,
    /// `--dns-option`: `options` replacing the host's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
    /// An `--add-host` line names `host-gateway` on a container's own network: the gateway's address is
    /// mapped to the host's loopback (pasta without `--no-map-gw`), so the name reaches the host's
    /// services, as Docker's host-gateway does.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub host_gateway: bool,
}

impl Resolution {
    pub fn is_empty(&self) -> bool {
        *self == Resolution::default()
    }

    /// `/etc/hosts` as `base` with the extra lines appended.
    pub fn hosts(&self, mut base: String) -> String {
        if !base.is_empty() && !base.ends_with('\n') {
            base.push('\n');
        }
        for line in &self.extra_hosts {
            base.push_str(line);
            base.push('\n');
        }
        base
    }

    /// The `/etc/resolv.conf` of a sandbox on `network`, from the host's files.
    pub fn resolv_conf(&self, network: Network) -> String {
        let host = std::fs::read_to_string(HOST_RESOLV).unwrap_or_default();
        let own_netns = network != Network::Host;
        let upstream =
            (own_netns && only_resolved_stub(&host)).then(|| std::fs::read_to_string(RESOLVED_UPSTREAM).ok()).flatten();
        self.resolv_text(upstream.as_deref().unwrap_or(&host), own_netns)
    }

    /// [`Resolution::resolv_conf`] from the host's text: nameservers filtered for a sandbox with its own
    /// network namespace, the flags replacing their lines, every other line kept.
    fn resolv_text(&self, host: &str, own_netns: bool) -> String {
        let (mut nameservers, mut search, mut options, mut other) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for line in host.lines() {
            let mut words = line.split_whitespace();
            match words.next() {
                Some("nameserver") => nameservers.extend(words.next().map(str::to_string)),
                // The last `search` or `domain` line wins, as in the resolver.
                Some("search") | Some("domain") => search = words.map(str::to_string).collect(),
                Some("options") => options.extend(words.map(str::to_string)),
                _ => other.push(line.to_string()),
            }
        }
        let mut text = String::new();
        for line in other.iter().filter(|l| !l.trim().is_empty()) {
            text.push_str(line);
            text.push('\n');
        }
        if !self.nameservers.is_empty() {
            nameservers = self.nameservers.iter().map(IpAddr::to_string).collect();
        } else if own_netns {
            let had = !nameservers.is_empty();
            nameservers.retain(|n| n.parse::<IpAddr>().is_ok_and(|ip| ip.is_ipv4() && !ip.is_loopback()));
            if nameservers.is_empty() {
                if had {
                    text.push_str(
                        "# rbuild: the host's nameservers are not reachable from the container's network \
                         (loopback or IPv6); Docker's defaults are used (set others with --dns)\n",
                    );
                }
                nameservers = FALLBACK_NAMESERVERS.map(str::to_string).to_vec();
            }
        }
        if !self.search.is_empty() {
            search = self.search.iter().filter(|s| *s != ".").cloned().collect();
        }
        if !self.options.is_empty() {
            options = self.options.clone();
        }
        for n in &nameservers {
            text.push_str(&format!("nameserver {n}\n"));
        }
        if !search.is_empty() {
            text.push_str(&format!("search {}\n", search.join(" ")));
        }
        if !options.is_empty() {
            text.push_str(&format!("options {}\n", options.join(" ")));
        }
        text
    }
}

/// The host's resolv.conf names systemd-resolved's stub and no other nameserver.
fn only_resolved_stub(host: &str) -> bool {
    let mut servers = host.lines().filter_map(|l| l.strip_prefix("nameserver")).map(str::trim).peekable();
    servers.peek().is_some() && servers.all(|s| s == "127.0.0.53")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(nameservers: &[&str], search: &[&str], options: &[&str]) -> Resolution {
        Resolution {
            extra_hosts: Vec::new(),
            nameservers: nameservers.iter().map(|n| n.parse().unwrap()).collect(),
            search: search.iter().map(|s| s.to_string()).collect(),
            options: options.iter().map(|s| s.to_string()).collect(),
            host_gateway: false,
        }
    }

    #[test]
    fn the_host_network_keeps_the_hosts_file_as_it_is() {
        let host = "# resolved\nnameserver 127.0.0.53\nsearch lan\noptions edns0 trust-ad\n";
        let text = Resolution::default().resolv_text(host, false);
        assert_eq!(text, "# resolved\nnameserver 127.0.0.53\nsearch lan\noptions edns0 trust-ad\n");
    }

    #[test]
    fn a_container_network_drops_loopback_and_ipv6_nameservers() {
        let host = "nameserver 127.0.0.1\nnameserver 10.0.0.2\nnameserver ::1\nnameserver fd00::1\nsearch a b\n";
        assert_eq!(Resolution::default().resolv_text(host, true), "nameserver 10.0.0.2\nsearch a b\n");
    }

    #[test]
    fn with_only_loopback_nameservers_the_fallback_is_written_and_said() {
        let text = Resolution::default().resolv_text("nameserver 127.0.0.53\noptions edns0\n", true);
        assert!(text.starts_with("# rbuild: the host's nameservers are not reachable"), "{text}");
        assert!(text.ends_with("nameserver 8.8.8.8\nnameserver 8.8.4.4\noptions edns0\n"), "{text}");
        // A host with no nameserver at all: the fallback too, without the comment.
        assert_eq!(Resolution::default().resolv_text("", true), "nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    }

    #[test]
    fn the_flags_replace_their_lines_in_every_network() {
        let host = "nameserver 10.0.0.2\nsearch lan\noptions edns0\n";
        let r = flags(&["10.9.8.7", "fd00::53"], &["example.test", "corp.test"], &["ndots:2"]);
        let want = "nameserver 10.9.8.7\nnameserver fd00::53\nsearch example.test corp.test\noptions ndots:2\n";
        assert_eq!(r.resolv_text(host, true), want);
        assert_eq!(r.resolv_text(host, false), want);
        // `--dns-search .` empties the search list; the other lines stay the host's.
        assert_eq!(flags(&[], &["."], &[]).resolv_text(host, true), "nameserver 10.0.0.2\noptions edns0\n");
    }

    #[test]
    fn only_resolveds_stub_sends_the_reader_to_the_upstream_list() {
        assert!(only_resolved_stub("# x\nnameserver 127.0.0.53\noptions edns0\n"));
        assert!(!only_resolved_stub("nameserver 127.0.0.53\nnameserver 10.0.0.2\n"));
        assert!(!only_resolved_stub("nameserver 127.0.0.1\n"));
        assert!(!only_resolved_stub(""));
    }

    #[test]
    fn extra_hosts_come_after_the_sandboxs_own_lines() {
        let r = Resolution { extra_hosts: vec!["10.1.2.3\tdb.test".into()], ..Resolution::default() };
        assert_eq!(r.hosts("127.0.0.1\tlocalhost".into()), "127.0.0.1\tlocalhost\n10.1.2.3\tdb.test\n");
        assert_eq!(Resolution::default().hosts("a\n".into()), "a\n");
    }
}
