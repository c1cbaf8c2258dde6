//! Container networking end to end through the real binary on a busybox image: each container in a
//! network namespace of its own connected by pasta (`--network bridge`, the default), `-p`/`-P` published
//! ports answering on the host's loopback, `ps` PORTS, `port`, `inspect` NetworkSettings, a taken host port
//! refused with nothing left running, `--network none` with only `lo`, the container's hostname resolving
//! inside it, and the host's links and routes untouched. These need root (namespaces, pasta; CI runs as
//! root) and fail loudly without it.

mod common;

use common::containers::*;

use common::{pids_with, wait_until, TestContext};
use serde_json::Value;
use std::net::TcpListener;

/// busybox httpd serving the container's /etc on port 8080, in the background.
fn serve(t: &TestContext, extra: &[&str]) -> String {
    let mut args = vec!["run", "-d"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["busybox", "busybox", "httpd", "-f", "-p", "8080", "-h", "/etc"]);
    ok(t, &args).trim().to_string()
}

fn host_net() -> (String, String) {
    let run = |args: &[&str]| text(&std::process::Command::new("ip").args(args).output().unwrap().stdout);
    (run(&["-o", "link"]), run(&["route"]))
}

#[test]
fn published_port_answers_on_the_host_and_ps_port_inspect_show_it() {
    let t = busybox();
    let port = free_port();
    let id = serve(&t, &["--name", "web", "-p", &format!("{port}:8080")]);
    // The page is the container's /etc/hostname: its short id.
    assert_eq!(http_get(port, "/hostname").trim(), &id[..12]);
    let ps = ok(&t, &["ps"]);
    assert!(ps.contains(&format!("0.0.0.0:{port}->8080/tcp")), "{ps}");
    assert_eq!(ok(&t, &["port", "web"]).trim(), format!("8080/tcp -> 0.0.0.0:{port}"));
    assert_eq!(ok(&t, &["port", "web", "8080"]).trim(), format!("0.0.0.0:{port}"));
    let inspect: Value = serde_json::from_str(&ok(&t, &["inspect", "web"])).unwrap();
    let net = &inspect[0]["NetworkSettings"];
    assert_eq!(net["Ports"]["8080/tcp"][0]["HostPort"], port.to_string(), "{net}");
    assert_eq!(net["Ports"]["8080/tcp"][0]["HostIp"], "0.0.0.0", "{net}");
    assert!(!net["IPAddress"].as_str().unwrap_or_default().is_empty(), "{net}");
    assert_eq!(inspect[0]["HostConfig"]["NetworkMode"], "bridge");
    ok(&t, &["rm", "-f", "web"]);
    assert!(TcpListener::bind(("0.0.0.0", port)).is_ok(), "port {port} still taken after rm -f");
}

#[test]
fn publish_without_host_port_gets_a_random_one_shown_by_port_and_ps() {
    let t = busybox();
    serve(&t, &["--name", "rnd", "-p", "8080"]);
    let addr = ok(&t, &["port", "rnd", "8080"]);
    let port: u16 = addr.trim().strip_prefix("0.0.0.0:").unwrap().parse().unwrap();
    assert!(port > 0);
    assert!(ok(&t, &["ps"]).contains(&format!("0.0.0.0:{port}->8080/tcp")));
    assert!(!http_get(port, "/hostname").trim().is_empty());
    let err = rb(&t, &["port", "rnd", "9999"]);
    assert!(!err.status.success());
    assert!(text(&err.stderr).contains("No public port '9999/tcp'"), "{}", text(&err.stderr));
}

#[test]
fn publish_all_publishes_every_exposed_port() {
    let t = busybox();
    t.write("Dockerfile", "FROM busybox\nEXPOSE 8080\n");
    t.build("exposing:1", &[]);
    ok(&t, &["run", "-d", "--name", "all", "-P", "exposing:1", "busybox", "httpd", "-f", "-p", "8080", "-h", "/etc"]);
    let addr = ok(&t, &["port", "all", "8080/tcp"]);
    let port: u16 = addr.trim().rsplit(':').next().unwrap().parse().unwrap();
    assert!(!http_get(port, "/hostname").trim().is_empty());
}

#[test]
fn container_has_its_own_netns_and_the_host_links_and_routes_stay_identical() {
    let t = busybox();
    let before = host_net();
    let host_ns = std::fs::read_link("/proc/self/ns/net").unwrap();
    serve(&t, &["--name", "ns", "-p", &format!("{}:8080", free_port())]);
    let inspect: Value = serde_json::from_str(&ok(&t, &["inspect", "ns"])).unwrap();
    let pid = inspect[0]["State"]["Pid"].as_i64().unwrap();
    let ctr_ns = std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
    assert_ne!(ctr_ns, host_ns, "the container shares the host's network namespace");
    // pasta copied the host's outbound address and default route into the namespace.
    let routes = ok(&t, &["run", "--rm", "busybox", "ip", "route"]);
    assert!(routes.contains("default via"), "{routes}");
    assert_eq!(host_net(), before, "while a container runs");
    ok(&t, &["rm", "-f", "ns"]);
    assert_eq!(host_net(), before, "after rm -f");
}

#[test]
fn defect_taken_host_port_is_refused_naming_the_port_and_leaves_nothing_running() {
    let t = busybox();
    let taken = TcpListener::bind("0.0.0.0:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let marker = format!("RBUILD_NET_TEST={port}");
    let out = t
        .rbuild()
        .env("RBUILD_NET_TEST", port.to_string())
        .args(["run", "-d", "--name", "clash", "-p", &format!("{port}:8080"), "busybox", "sleep", "60"])
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{stderr}");
    assert!(stderr.contains(&format!("0.0.0.0:{port}/tcp")) && stderr.contains("already in use"), "{stderr}");
    // Nothing of it runs: no monitor, no pasta, no command; the container is not Up.
    wait_until("the refused container's processes to end", || pids_with(&marker).is_empty());
    let ps = ok(&t, &["ps", "-q"]);
    assert!(ps.trim().is_empty(), "{ps}");
}

#[test]
fn network_none_has_only_lo_and_bridge_has_lo_and_one_interface() {
    let t = busybox();
    let none = ok(&t, &["run", "--rm", "--network", "none", "busybox", "ip", "-o", "link"]);
    let names: Vec<&str> = none.lines().filter_map(|l| l.split(':').nth(1)).map(str::trim).collect();
    assert_eq!(names, ["lo"], "{none}");
    let bridge = ok(&t, &["run", "--rm", "busybox", "ip", "-o", "link"]);
    assert_eq!(bridge.lines().count(), 2, "{bridge}");
    assert!(bridge.contains("lo:") && bridge.contains("UP"), "{bridge}");
}

#[test]
fn the_container_hostname_resolves_inside_it() {
    let t = busybox();
    let out = ok(
        &t,
        &[
            "run",
            "--rm",
            "--hostname",
            "webhost",
            "busybox",
            "sh",
            "-c",
            "busybox httpd -p 8080 -h /etc && wget -q -O- http://webhost:8080/hostname",
        ],
    );
    assert_eq!(out.trim(), "webhost");
}

#[test]
fn defect_monitor_killed_with_sigkill_takes_pasta_and_the_published_port_with_it() {
    let t = busybox();
    let port = free_port();
    let id = serve(&t, &["--name", "orphan", "-p", &format!("{port}:8080")]);
    http_get(port, "/hostname");
    let state: Value =
        serde_json::from_slice(&std::fs::read(t.root().join("containers").join(&id).join("state.json")).unwrap())
            .unwrap();
    let monitor = state["monitor_pid"].as_i64().unwrap() as i32;
    let pasta_of_monitor = || {
        std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
            let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
            // "pid (comm) state ppid ...": pasta (it runs as passt.avx2 on x86) whose parent is the monitor.
            let after = stat.rsplit_once(") ").map(|(_, a)| a.to_string()).unwrap_or_default();
            let is_pasta = stat.contains("(pasta") || stat.contains("(passt");
            is_pasta && after.split(' ').nth(1) == Some(monitor.to_string().as_str())
        })
    };
    assert!(pasta_of_monitor(), "no pasta under the monitor {monitor}");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(monitor), nix::sys::signal::Signal::SIGKILL).unwrap();
    wait_until("pasta to die with its monitor", || !pasta_of_monitor());
    wait_until("the published port to be free", || TcpListener::bind(("0.0.0.0", port)).is_ok());
    assert!(ok(&t, &["ps", "-a"]).contains("Exited (255)"));
}

#[test]
fn network_container_joins_a_running_containers_namespace() {
    let t = busybox();
    let id = serve(&t, &["--name", "srv"]);
    // Its loopback is srv's: srv's httpd answers on 127.0.0.1:8080 there.
    let page = ok(
        &t,
        &[
            "run",
            "--rm",
            "--network",
            "container:srv",
            "busybox",
            "wget",
            "-q",
            "-O-",
            "http://127.0.0.1:8080/hostname",
        ],
    );
    assert_eq!(page.trim(), &id[..12]);
    ok(&t, &["create", "--name", "joiner", "--network", "container:srv", "busybox", "sleep", "60"]);
    let inspect: Value = serde_json::from_str(&ok(&t, &["inspect", "joiner"])).unwrap();
    assert_eq!(inspect[0]["HostConfig"]["NetworkMode"], format!("container:{id}"));
    ok(&t, &["stop", "-t", "1", "srv"]);
    let out = rb(&t, &["start", "joiner"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("srv is not running"), "{}", text(&out.stderr));
    let out = rb(&t, &["run", "--rm", "--network", "container:srv", "-p", "80", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("-p/-P need --network bridge"), "{}", text(&out.stderr));
    let out = rb(&t, &["run", "--rm", "--network", "appnet", "busybox", "true"]);
    assert!(text(&out.stderr).contains("network appnet not found"), "{}", text(&out.stderr));
}

#[test]
fn add_host_and_dns_flags_write_the_containers_hosts_and_resolv_conf_and_survive_create_start() {
    let t = busybox();
    let flags = [
        "--add-host",
        "db.test:10.9.8.7",
        "--add-host",
        "cache.test=10.9.8.8",
        "--dns",
        "10.0.0.53",
        "--dns",
        "10.0.0.54",
        "--dns-search",
        "example.test",
        "--dns-opt",
        "ndots:2",
    ];
    let want_resolv = "nameserver 10.0.0.53\nnameserver 10.0.0.54\nsearch example.test\noptions ndots:2\n";
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(&flags);
    args.extend_from_slice(&["busybox", "sh", "-c", "cat /etc/resolv.conf; echo ---; cat /etc/hosts"]);
    let out = ok(&t, &args);
    let (resolv, hosts) = out.split_once("---\n").unwrap();
    assert_eq!(resolv, want_resolv);
    assert!(hosts.starts_with("127.0.0.1\tlocalhost\n"), "{hosts}");
    assert!(hosts.ends_with("10.9.8.7\tdb.test\n10.9.8.8\tcache.test\n"), "{hosts}");

    // Kept in the container's config: a later start writes the same files, inspect shows docker's shapes.
    let mut args = vec!["create", "--name", "resolving"];
    args.extend_from_slice(&flags);
    args.extend_from_slice(&["busybox", "sh", "-c", "cat /etc/resolv.conf; tail -2 /etc/hosts"]);
    ok(&t, &args);
    let out = ok(&t, &["start", "-a", "resolving"]);
    assert_eq!(out, format!("{want_resolv}10.9.8.7\tdb.test\n10.9.8.8\tcache.test\n"));
    let inspect: Value = serde_json::from_str(&ok(&t, &["inspect", "resolving"])).unwrap();
    let host = &inspect[0]["HostConfig"];
    assert_eq!(host["ExtraHosts"], serde_json::json!(["db.test:10.9.8.7", "cache.test:10.9.8.8"]), "{host}");
    assert_eq!(host["Dns"], serde_json::json!(["10.0.0.53", "10.0.0.54"]), "{host}");
    assert_eq!(host["DnsSearch"], serde_json::json!(["example.test"]), "{host}");
    assert_eq!(host["DnsOptions"], serde_json::json!(["ndots:2"]), "{host}");
}

#[test]
fn without_dns_flags_a_container_gets_the_hosts_reachable_nameservers_and_host_network_the_file_itself() {
    let t = busybox();
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let nameservers = |text: &str| -> Vec<String> {
        text.lines().filter_map(|l| l.strip_prefix("nameserver ")).map(|n| n.trim().to_string()).collect()
    };
    let reachable: Vec<String> = nameservers(&host)
        .into_iter()
        .filter(|n| n.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_ipv4() && !ip.is_loopback()))
        .collect();
    let inside = ok(&t, &["run", "--rm", "busybox", "cat", "/etc/resolv.conf"]);
    if reachable.is_empty() {
        // Only loopback (a resolver stub) or IPv6 nameservers on this host: docker's fallback.
        assert_eq!(nameservers(&inside), ["8.8.8.8", "8.8.4.4"], "{inside}");
    } else {
        assert_eq!(nameservers(&inside), reachable, "host:\n{host}\ncontainer:\n{inside}");
    }
    assert_eq!(ok(&t, &["run", "--rm", "--network", "host", "busybox", "cat", "/etc/resolv.conf"]), host);
}

/// One HTTP response with `body` to every connection on 127.0.0.1, on a thread; the port.
fn loopback_server(body: &'static str) -> u16 {
    use std::io::{Read, Write};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut buf = [0u8; 1024];
            let _ = conn.read(&mut buf);
            let reply = format!("HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len());
            let _ = conn.write_all(reply.as_bytes());
        }
    });
    port
}

#[test]
fn host_gateway_reaches_a_service_on_the_hosts_loopback_and_without_it_nothing_does() {
    let t = busybox();
    let port = loopback_server("hello from the host's loopback");
    let url = format!("http://host.test:{port}/");
    let out = ok(&t, &["run", "--rm", "--add-host", "host.test:host-gateway", "busybox", "wget", "-q", "-O-", &url]);
    assert_eq!(out, "hello from the host's loopback");
    // The name's address: the container's default gateway, mapped to the host's loopback for it alone.
    let hosts = ok(&t, &["run", "--rm", "--add-host", "host.test:host-gateway", "busybox", "tail", "-1", "/etc/hosts"]);
    let gateway = hosts.split_whitespace().next().unwrap().to_string();
    let route = ok(&t, &["run", "--rm", "busybox", "ip", "route"]);
    assert!(route.contains(&format!("default via {gateway} ")), "{hosts} vs {route}");
    // Without the flag the gateway's address does not lead to the host's loopback.
    let direct = format!("http://{gateway}:{port}/");
    // (In `sh`, not as pid 1: the namespace's init ignores the SIGTERM `timeout` sends.)
    let probe = format!("timeout 5 wget -q -O- {direct}; echo \" exit=$?\"");
    let out = ok(&t, &["run", "--rm", "busybox", "sh", "-c", &probe]);
    assert!(
        !out.contains("hello") && !out.ends_with(" exit=0\n"),
        "reached the host's loopback without host-gateway: {out}"
    );
    // With the host's network, host-gateway is the host's loopback.
    let out = ok(
        &t,
        &["run", "--rm", "--network", "host", "--add-host", "h:host-gateway", "busybox", "tail", "-1", "/etc/hosts"],
    );
    assert_eq!(out, "127.0.0.1\th\n");
}

#[test]
fn name_resolution_flags_that_cannot_apply_are_refused_before_anything_runs() {
    let t = busybox();
    fails(
        &t,
        &["run", "--rm", "--network", "none", "--add-host", "h:host-gateway", "busybox", "true"],
        125,
        "host-gateway needs --network bridge",
    );
    ok(&t, &["run", "-d", "--name", "base", "busybox", "sleep", "60"]);
    fails(
        &t,
        &["run", "--rm", "--network", "container:base", "--dns", "10.0.0.53", "busybox", "true"],
        125,
        "Conflicting options",
    );
    fails(&t, &["run", "--rm", "--add-host", "nocolon", "busybox", "true"], 125, "invalid --add-host \"nocolon\"");
    fails(
        &t,
        &["run", "--rm", "--dns", "not-an-ip", "busybox", "true"],
        2,
        "invalid value 'not-an-ip' for '--dns <IP>'",
    );
    ok(&t, &["rm", "-f", "base"]);
    assert_eq!(ok(&t, &["ps", "-a", "-q"]).trim(), "", "a refused run left a container behind");
}
