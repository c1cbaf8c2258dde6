//! Named networks end to end through the real binary on a busybox image: `network create|ls|inspect|rm|
//! prune` with docker's output shapes and errors; two containers on one network reaching each other by
//! name and by `--network-alias`; a running container's `/etc/hosts` following its peers; `--internal`;
//! the host's links and routes untouched, and nothing (process, endpoint, namespace mount) left after
//! `rm -f` and `network rm`. These need root (namespaces, veth pairs, pasta; CI runs as root) and fail
//! loudly without it.

mod common;

use common::containers::*;
use common::{pids_with, wait_until};
use serde_json::Value;

fn host_net() -> (String, String) {
    let run = |args: &[&str]| text(&std::process::Command::new("ip").args(args).output().unwrap().stdout);
    (run(&["-o", "link"]), run(&["route"]))
}

fn inspect(t: &Store, name: &str) -> Value {
    let v: Value = serde_json::from_str(&ok(t, &["network", "inspect", name])).unwrap();
    v[0].clone()
}

/// Lines of this process's mount table that name `what`.
fn mounts_naming(what: &str) -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(what))
        .map(String::from)
        .collect()
}

#[test]
fn network_create_ls_inspect_rm_prune_like_docker() {
    let t = busybox();
    let id = ok(&t, &["network", "create", "appnet"]).trim().to_string();
    assert_eq!(id.len(), 64, "{id}");
    assert!(t.root().join("networks").join(format!("{id}.json")).is_file());
    let second = ok(&t, &["network", "create", "--internal", "backend"]).trim().to_string();
    ok(&t, &["network", "create", "--subnet", "172.30.5.0/24", "--gateway", "172.30.5.9", "custom"]);

    let ls = ok(&t, &["network", "ls"]);
    let lines: Vec<Vec<&str>> = ls.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(lines[0], ["NETWORK", "ID", "NAME", "DRIVER", "SCOPE"], "{ls}");
    let names: Vec<(&str, &str)> = lines[1..].iter().map(|l| (l[1], l[2])).collect();
    assert_eq!(
        names,
        [
            ("appnet", "bridge"),
            ("backend", "bridge"),
            ("bridge", "bridge"),
            ("custom", "bridge"),
            ("host", "host"),
            ("none", "null")
        ],
        "{ls}"
    );
    assert!(lines[1][0] == &id[..12], "{ls}");
    assert!(ok(&t, &["network", "ls", "-q"]).lines().any(|l| l == &second[..12]));
    assert_eq!(ok(&t, &["network", "ls", "--format", "{{.Name}}"]).lines().count(), 6);

    let app = inspect(&t, "appnet");
    assert_eq!(
        (app["Name"].as_str(), app["Id"].as_str(), app["Driver"].as_str()),
        (Some("appnet"), Some(&*id), Some("bridge"))
    );
    assert_eq!(app["IPAM"]["Config"][0]["Subnet"], "10.89.0.0/24", "{app}");
    assert_eq!(app["IPAM"]["Config"][0]["Gateway"], "10.89.0.1", "{app}");
    assert_eq!(app["Containers"], serde_json::json!({}));
    // Default subnets never collide with another rbuild network.
    let backend = inspect(&t, &second[..12]);
    assert_eq!(backend["IPAM"]["Config"][0]["Subnet"], "10.89.1.0/24", "{backend}");
    assert_eq!(backend["Internal"], true);
    let custom = inspect(&t, "custom");
    assert_eq!(custom["IPAM"]["Config"][0]["Gateway"], "172.30.5.9", "{custom}");
    assert_eq!(inspect(&t, "none")["Driver"], "null");

    fails(&t, &["network", "create", "appnet"], 1, "network with name appnet already exists");
    fails(&t, &["network", "create", "--subnet", "10.89.0.0/16", "wide"], 1, "overlaps with network appnet");
    fails(&t, &["network", "create", "--subnet", "10.1.2.3/24", "odd"], 1, "it should be 10.1.2.0/24");
    fails(&t, &["network", "create", "bridge"], 1, "bridge is a pre-defined network");
    fails(&t, &["network", "rm", "host"], 1, "pre-defined network");
    fails(&t, &["network", "rm", "nosuch"], 1, "network nosuch not found");
    fails(&t, &["network", "inspect", "nosuch"], 1, "network nosuch not found");
    fails(&t, &["run", "--rm", "--network", "nosuch", "busybox", "true"], 125, "network nosuch not found");

    assert_eq!(ok(&t, &["network", "rm", "appnet"]).trim(), "appnet");
    assert!(!t.root().join("networks").join(format!("{id}.json")).exists());
    // A network a container names is kept by prune; the others go.
    ok(&t, &["create", "--name", "user", "--network", "custom", "busybox", "true"]);
    let pruned = ok(&t, &["network", "prune", "-f"]);
    assert!(pruned.contains("backend") && !pruned.contains("custom"), "{pruned}");
    let left: Vec<String> = ok(&t, &["network", "ls", "--format", "{{.Name}}"]).lines().map(String::from).collect();
    assert_eq!(left, ["bridge", "custom", "host", "none"]);
    // rm takes a network only stopped containers name (docker's rule); they then fail to start.
    ok(&t, &["network", "rm", "custom"]);
    fails(&t, &["start", "user"], 1, "network custom not found");
}

#[test]
fn containers_on_a_network_reach_each_other_by_name_and_alias_and_leave_nothing_behind() {
    let t = busybox();
    let before = host_net();
    let net_id = ok(&t, &["network", "create", "appnet"]).trim().to_string();
    let marker = format!("RBUILD_NETWORKS_TEST={net_id}");
    let server = t
        .rbuild()
        .env("RBUILD_NETWORKS_TEST", &net_id)
        .args(["run", "-d", "--name", "server", "--network", "appnet", "--network-alias", "web"])
        .args(["busybox", "httpd", "-f", "-p", "80", "-h", "/etc"])
        .output()
        .unwrap();
    assert!(server.status.success(), "{}", text(&server.stderr));
    let id = text(&server.stdout).trim().to_string();
    for host in ["server", "web"] {
        let page = ok(
            &t,
            &["run", "--rm", "--network", "appnet", "busybox", "wget", "-qO-", &format!("http://{host}/hostname")],
        );
        assert_eq!(page.trim(), &id[..12], "by {host}");
    }
    let net = inspect(&t, "appnet");
    assert_eq!(net["Containers"][&id]["Name"], "server", "{net}");
    assert_eq!(net["Containers"][&id]["IPv4Address"], "10.89.0.2/24", "{net}");
    let ctr: Value = serde_json::from_str(&ok(&t, &["inspect", "server"])).unwrap();
    assert_eq!(ctr[0]["HostConfig"]["NetworkMode"], "appnet");
    let settings = &ctr[0]["NetworkSettings"];
    assert_eq!(settings["IPAddress"], "10.89.0.2", "{settings}");
    assert_eq!(settings["Networks"]["appnet"]["Aliases"], serde_json::json!(["web"]), "{settings}");
    assert_eq!(settings["Networks"]["appnet"]["Gateway"], "10.89.0.1", "{settings}");
    fails(&t, &["network", "rm", "appnet"], 1, "has active endpoints (server)");
    let netns = format!("/run/rbuild/netns/{net_id}");
    assert_eq!(mounts_naming(&netns).len(), 1, "the network's namespace is one bind mount");
    assert_eq!(host_net(), before, "while the containers run");

    ok(&t, &["rm", "-f", "server"]);
    wait_until("the server's processes (monitor, pasta, httpd) to end", || pids_with(&marker).is_empty());
    let endpoints = t.root().join("networks").join(format!("{net_id}.endpoints"));
    assert_eq!(std::fs::read_dir(&endpoints).unwrap().count(), 0, "an endpoint record outlived rm -f");
    assert_eq!(inspect(&t, "appnet")["Containers"], serde_json::json!({}));
    // The server's veth went with its namespace: the network's namespace holds only lo and the bridge.
    let links_in_network = || {
        let out = std::process::Command::new("nsenter")
            .arg(format!("--net={netns}"))
            .args(["ip", "-o", "link"])
            .output()
            .unwrap();
        text(&out.stdout).lines().filter_map(|l| l.split(':').nth(1)).map(|n| n.trim().to_string()).collect::<Vec<_>>()
    };
    wait_until("the server's veth to go", || links_in_network().len() == 2);
    assert_eq!(links_in_network(), ["lo".to_string(), format!("rb-{}", &net_id[..12])]);
    ok(&t, &["network", "rm", "appnet"]);
    assert!(mounts_naming(&net_id).is_empty(), "{:?}", mounts_naming(&net_id));
    assert!(!std::path::Path::new(&netns).exists());
    assert!(!endpoints.exists());
    assert_eq!(host_net(), before, "after rm -f and network rm");
}

#[test]
fn system_prune_removes_networks_no_container_uses() {
    let t = busybox();
    ok(&t, &["network", "create", "idle"]);
    ok(&t, &["network", "create", "busy"]);
    ok(&t, &["network", "create", "leftover"]);
    ok(&t, &["run", "-d", "--name", "up", "--network", "busy", "busybox", "sleep", "60"]);
    ok(&t, &["create", "--name", "stopped", "--network", "leftover", "busybox", "true"]);
    let out = ok(&t, &["system", "prune", "-f"]);
    assert!(out.contains("Deleted Networks:\nidle\nleftover\n"), "{out}");
    let left: Vec<String> = ok(&t, &["network", "ls", "--format", "{{.Name}}"]).lines().map(String::from).collect();
    assert_eq!(left, ["bridge", "busy", "host", "none"]);
}

#[test]
fn connect_and_disconnect_move_a_stopped_container_on_and_off_a_network() {
    let t = busybox();
    ok(&t, &["network", "create", "appnet"]);
    ok(&t, &["create", "--name", "c1", "busybox", "sleep", "60"]);
    ok(&t, &["network", "connect", "--alias", "cc", "appnet", "c1"]);
    fails(&t, &["network", "connect", "appnet", "c1"], 1, "already on network appnet");
    ok(&t, &["start", "c1"]);
    ok(&t, &["run", "--rm", "--network", "appnet", "busybox", "ping", "-c", "1", "-W", "5", "cc"]);
    let ctr: Value = serde_json::from_str(&ok(&t, &["inspect", "c1"])).unwrap();
    assert_eq!(ctr[0]["HostConfig"]["NetworkMode"], "appnet");
    fails(&t, &["network", "disconnect", "appnet", "c1"], 1, "container c1 is running");
    ok(&t, &["stop", "-t", "1", "c1"]);
    ok(&t, &["network", "disconnect", "appnet", "c1"]);
    fails(&t, &["network", "disconnect", "appnet", "c1"], 1, "container c1 is not connected to network appnet");
    let ctr: Value = serde_json::from_str(&ok(&t, &["inspect", "c1"])).unwrap();
    assert_eq!(ctr[0]["HostConfig"]["NetworkMode"], "bridge");
    ok(&t, &["create", "--name", "onhost", "--network", "host", "busybox", "true"]);
    fails(&t, &["network", "connect", "appnet", "onhost"], 1, "uses --network host");
}

#[test]
fn a_running_container_sees_peers_come_and_go_in_its_hosts_file_and_keeps_its_add_host_lines() {
    let t = busybox();
    ok(&t, &["network", "create", "appnet"]);
    let first = ["run", "-d", "--name", "first", "--network", "appnet", "--add-host", "ext.test:10.9.8.7"];
    ok(&t, &[&first[..], &["busybox", "sleep", "60"]].concat());
    let hosts = || ok(&t, &["exec", "first", "cat", "/etc/hosts"]);
    let own = hosts();
    assert!(own.contains("127.0.0.1\tlocalhost"), "{own}");
    assert!(own.lines().any(|l| l.starts_with("10.89.0.2\t") && l.contains("first")), "{own}");
    ok(&t, &["run", "-d", "--name", "late", "--network", "appnet", "--network-alias", "db", "busybox", "sleep", "60"]);
    let seen = hosts();
    assert!(seen.lines().any(|l| l.starts_with("10.89.0.3\t") && l.contains(" late db")), "{seen}");
    // The file was rewritten for the peer; the container's own --add-host line stays, last.
    assert!(own.ends_with("10.9.8.7\text.test\n") && seen.ends_with("10.9.8.7\text.test\n"), "{own}\n{seen}");
    // And the peer is reachable at that address from the running container.
    ok(&t, &["exec", "first", "ping", "-c", "1", "-W", "5", "db"]);
    ok(&t, &["rm", "-f", "late"]);
    let after = hosts();
    assert!(!after.contains("late"), "{after}");
}

#[test]
fn an_internal_network_has_no_way_out_and_publishes_nothing() {
    let t = busybox();
    ok(&t, &["network", "create", "--internal", "--subnet", "10.77.0.0/24", "quiet"]);
    let links = ok(&t, &["run", "--rm", "--network", "quiet", "busybox", "ip", "-o", "link"]);
    let names: Vec<&str> = links.lines().filter_map(|l| l.split(':').nth(1)).map(str::trim).collect();
    assert_eq!(names.len(), 2, "{links}");
    assert!(names[0] == "lo" && names[1].starts_with("eth0"), "{links}");
    let routes = ok(&t, &["run", "--rm", "--network", "quiet", "busybox", "ip", "route"]);
    assert_eq!(routes.trim(), "10.77.0.0/24 dev eth0 scope link  src 10.77.0.2", "{routes}");
    fails(&t, &["run", "--rm", "--network", "quiet", "-p", "80", "busybox", "true"], 125, "network quiet is internal");
    fails(&t, &["run", "--rm", "--network-alias", "x", "busybox", "true"], 125, "--network-alias is only for");
}

#[test]
fn the_hostname_resolves_in_every_network_mode() {
    let t = busybox();
    ok(&t, &["network", "create", "appnet"]);
    for mode in ["none", "host", "bridge", "appnet"] {
        let hosts =
            ok(&t, &["run", "--rm", "--network", mode, "--hostname", "webhost", "busybox", "cat", "/etc/hosts"]);
        assert!(hosts.contains("localhost"), "{mode}: {hosts}");
        let line = hosts.lines().find(|l| l.split_whitespace().skip(1).any(|n| n == "webhost"));
        assert!(line.is_some(), "{mode}: the hostname is not in /etc/hosts: {hosts}");
    }
}
