//! Containers without a daemon, end to end through the real binary on a busybox image: `run -d` under a
//! monitor, `ps`, `logs [-f]`, `stop` (STOPSIGNAL then SIGKILL), `start`, `restart`, `kill`, `wait`,
//! `rm [-f]`, `rename`, `container prune`, `inspect`, docker's errors, a monitor killed with SIGKILL, and
//! 20 containers started and removed leaving nothing behind. These need root (namespaces, mounts; CI
//! runs as root) and fail loudly without it.

mod common;

use common::containers::*;

use common::{pids_with, wait_until, TestContext};
use serde_json::Value;
use std::process::Output;
use std::time::{Duration, Instant};

/// `run -d ARGS`: the full id it prints.
fn run_d(t: &TestContext, args: &[&str]) -> String {
    let id = ok(t, &[&["run", "-d"], args].concat()).trim().to_string();
    assert_eq!(id.len(), 64, "run -d prints the full id: {id:?}");
    id
}

fn state(t: &TestContext, id: &str) -> Value {
    serde_json::from_slice(&std::fs::read(t.root().join("containers").join(id).join("state.json")).unwrap()).unwrap()
}

/// The STATUS column of `ps -a` for container `name`.
fn status(t: &TestContext, name: &str) -> String {
    ok(t, &["ps", "-a", "--filter", &format!("name={name}"), "--format", "{{.Status}}"]).trim().to_string()
}

/// Wait (up to 10 s) until `logs NAME` prints `stdout`; the output of the last `logs`.
fn wait_for_log(t: &TestContext, name: &str, stdout: &str) -> Output {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = rb(t, &["logs", name]);
        if text(&out.stdout) == stdout || Instant::now() > deadline {
            return out;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn assert_no_mounts_under(t: &TestContext) {
    let root = t.root().to_string_lossy().into_owned();
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mountinfo.contains(&root), "mounts under the store remain:\n{mountinfo}");
}

#[test]
fn run_d_is_up_in_ps_and_its_output_is_in_logs() {
    let t = busybox();
    let id = run_d(&t, &["--name", "web", "busybox", "sh", "-c", "echo out; echo err >&2; exec sleep 1000"]);
    let ps = ok(&t, &["ps"]);
    let header = ps.lines().next().unwrap();
    for col in ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"] {
        assert!(header.contains(col), "{ps}");
    }
    let line = ps.lines().find(|l| l.ends_with("web")).unwrap_or_else(|| panic!("web not in ps:\n{ps}"));
    assert!(line.starts_with(&id[..12]) && line.contains("busybox") && line.contains("Up "), "{ps}");
    assert!(status(&t, "web").starts_with("Up "));
    // The output lands in the log a moment after the start.
    wait_for_log(&t, "web", "out\n");
    let out = rb(&t, &["logs", "web"]);
    assert_eq!((text(&out.stdout), text(&out.stderr)), ("out\n".into(), "err\n".into()));
    // docker's json-file lines.
    let log = std::fs::read_to_string(t.root().join("containers").join(&id).join("ctr.log")).unwrap();
    let first: Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    assert!(first["log"].as_str().unwrap().ends_with('\n') && first["time"].as_str().unwrap().ends_with('Z'));
    assert!(["stdout", "stderr"].contains(&first["stream"].as_str().unwrap()));
    // The last line may be stdout's or stderr's: each goes to its own stream.
    let last = rb(&t, &["logs", "-t", "--tail", "1", &id[..8]]);
    let stamped = text(&last.stdout) + &text(&last.stderr);
    assert_eq!(stamped.lines().count(), 1, "{stamped}");
    assert!(stamped.starts_with("20") && stamped.contains("Z "), "{stamped}");
    // The full id, a unique prefix and the name are the same container.
    let inspect: Value = serde_json::from_str(&ok(&t, &["inspect", &id[..6]])).unwrap();
    assert_eq!(inspect[0]["Id"], id.as_str());
    assert_eq!(inspect[0]["Name"], "/web");
    assert_eq!(inspect[0]["State"]["Running"], true);
    assert!(inspect[0]["State"]["Pid"].as_i64().unwrap() > 0);
    ok(&t, &["rm", "-f", "web"]);
}

#[test]
fn logs_f_follows_until_the_container_exits() {
    let t = busybox();
    run_d(&t, &["--name", "ticker", "busybox", "sh", "-c", "echo one; sleep 1; echo two; sleep 1; echo three"]);
    let out = rb(&t, &["logs", "-f", "ticker"]);
    assert!(out.status.success());
    // -f saw the lines written after it started and returned once the container ended.
    assert_eq!(text(&out.stdout), "one\ntwo\nthree\n");
    assert_eq!(status(&t, "ticker").split(')').next().unwrap(), "Exited (0");
    assert_eq!(ok(&t, &["wait", "ticker"]), "0\n");
}

#[test]
fn logs_since_and_until_keep_the_lines_of_that_time_span_and_f_until_stops_there() {
    let t = busybox();
    run_d(&t, &["--name", "spans", "busybox", "sh", "-c", "echo one; sleep 1; echo two; sleep 1; echo three"]);
    assert_eq!(ok(&t, &["wait", "spans"]), "0\n");
    // Each line's own time (RFC 3339, nanoseconds) as the bounds: both ends are inclusive.
    let stamped = ok(&t, &["logs", "-t", "spans"]);
    let times: Vec<&str> = stamped.lines().map(|l| l.split_once(' ').unwrap().0).collect();
    assert_eq!(times.len(), 3, "{stamped}");
    assert_eq!(ok(&t, &["logs", "--since", times[1], "spans"]), "two\nthree\n");
    assert_eq!(ok(&t, &["logs", "--until", times[1], "spans"]), "one\ntwo\n");
    assert_eq!(ok(&t, &["logs", "--since", times[1], "--until", times[1], "spans"]), "two\n");
    assert_eq!(ok(&t, &["logs", "--until", "1h", "spans"]), "", "an hour ago nothing was written");
    fails(&t, &["logs", "--until", "soon", "spans"], 2, "--until \"soon\": want RFC 3339");

    // -f with --until a moment ahead: it follows a container that goes on, and stops at that time.
    run_d(&t, &["--name", "forever", "busybox", "sh", "-c", "while :; do echo tick; sleep 0.2; done"]);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let start = Instant::now();
    let out = rb(&t, &["logs", "-f", "--until", &(now + 2).to_string(), "forever"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(start.elapsed() < Duration::from_secs(10), "logs -f --until went on for {:?}", start.elapsed());
    assert!(text(&out.stdout).starts_with("tick\n"), "{}", text(&out.stdout));
    assert!(status(&t, "forever").starts_with("Up"), "the container stopped with the follower");
    ok(&t, &["rm", "-f", "forever"]);
}

#[test]
fn stop_is_quick_for_a_term_handler_and_kills_a_term_ignorer_after_the_timeout() {
    let t = busybox();
    run_d(&t, &["--name", "polite", "busybox", "sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done"]);
    // pid 1 ignores signals it has no handler for, so a bare sleep ignores TERM (as under docker).
    run_d(&t, &["--name", "stubborn", "busybox", "sleep", "1000"]);
    let start = Instant::now();
    assert_eq!(ok(&t, &["stop", "-t", "30", "polite"]), "polite\n");
    let polite = start.elapsed();
    assert!(polite < Duration::from_secs(30), "stop waited the whole timeout for a TERM handler: {polite:?}");
    assert!(status(&t, "polite").starts_with("Exited (0)"), "{}", status(&t, "polite"));
    let start = Instant::now();
    ok(&t, &["stop", "-t", "1", "stubborn"]);
    assert!(start.elapsed() >= Duration::from_secs(1), "SIGKILL came before the timeout");
    assert!(status(&t, "stubborn").starts_with("Exited (137)"), "{}", status(&t, "stubborn"));
    // Stopping a stopped container is no error (docker's behaviour).
    ok(&t, &["stop", "stubborn"]);
}

#[test]
fn start_brings_a_stopped_container_back_and_restart_and_kill_work() {
    let t = busybox();
    let id = run_d(&t, &["--name", "again", "busybox", "sh", "-c", "echo run; exec sleep 1000"]);
    // Each run's line is in the log before the next request (so none is killed before it echoes).
    wait_for_log(&t, "again", "run\n");
    ok(&t, &["stop", "-t", "0", "again"]);
    assert!(status(&t, "again").starts_with("Exited (137)"));
    let first_pid = state(&t, &id)["pid"].clone();
    assert_eq!(ok(&t, &["start", "again"]), "again\n");
    assert!(status(&t, "again").starts_with("Up "), "{}", status(&t, "again"));
    assert_ne!(state(&t, &id)["pid"], first_pid);
    wait_for_log(&t, "again", "run\nrun\n");
    let pid = state(&t, &id)["pid"].as_i64().unwrap();
    assert_eq!(ok(&t, &["restart", "-t", "0", "again"]), "again\n");
    assert_ne!(state(&t, &id)["pid"].as_i64().unwrap(), pid, "restart ran a new process");
    wait_for_log(&t, "again", "run\nrun\nrun\n");
    assert_eq!(ok(&t, &["kill", "-s", "KILL", "again"]), "again\n");
    assert_eq!(ok(&t, &["wait", "again"]), "137\n");
    // The log holds every run's output.
    assert_eq!(text(&rb(&t, &["logs", "again"]).stdout), "run\nrun\nrun\n");
    // start -a follows this run's output and exits with its code.
    ok(&t, &["create", "--name", "attached", "busybox", "sh", "-c", "echo hi; exit 3"]);
    assert_eq!(status(&t, "attached"), "Created");
    let out = rb(&t, &["start", "-a", "attached"]);
    assert_eq!((out.status.code(), text(&out.stdout)), (Some(3), "hi\n".to_string()), "{}", text(&out.stderr));
}

#[test]
fn bad_requests_fail_with_dockers_words() {
    let t = busybox();
    run_d(&t, &["--name", "busy", "busybox", "sleep", "1000"]);
    fails(
        &t,
        &["run", "-d", "--name", "busy", "busybox", "true"],
        125,
        "The container name \"/busy\" is already in use",
    );
    fails(&t, &["create", "--name", "busy", "busybox", "true"], 1, "is already in use by container");
    fails(&t, &["create", "--name", "bad name", "busybox", "true"], 1, "Invalid container name (bad name)");
    fails(&t, &["rm", "nosuch"], 1, "No such container: nosuch");
    fails(&t, &["logs", "nosuch"], 1, "No such container: nosuch");
    fails(&t, &["stop", "nosuch"], 1, "No such container: nosuch");
    fails(&t, &["rm", "busy"], 1, "container is running: stop the container before removing or force remove");
    fails(&t, &["start", "busy"], 1, "container busy is already running");
    ok(&t, &["create", "--name", "idle", "busybox", "true"]);
    fails(&t, &["kill", "idle"], 1, "Container idle is not running");
    fails(&t, &["rename", "idle", "busy"], 1, "is already in use");
    ok(&t, &["rename", "idle", "lazy"]);
    assert_eq!(status(&t, "lazy"), "Created");
    // A command that cannot be executed: docker's message and exit code, the container stays Created.
    fails(&t, &["run", "-d", "--name", "broken", "busybox", "nosuchcmd"], 127, "executable file not found");
    assert_eq!(status(&t, "broken"), "Created");
    // Still running after all that.
    assert!(status(&t, "busy").starts_with("Up "));
    ok(&t, &["rm", "-f", "busy"]);
}

#[test]
fn foreground_run_records_the_container_and_prune_removes_stopped_ones() {
    let t = busybox();
    let out = rb(&t, &["run", "--name", "fg", "busybox", "sh", "-c", "echo hi; exit 3"]);
    assert_eq!((out.status.code(), text(&out.stdout)), (Some(3), "hi\n".to_string()));
    assert!(status(&t, "fg").starts_with("Exited (3)"), "{}", status(&t, "fg"));
    let inspect: Value = serde_json::from_str(&ok(&t, &["container", "inspect", "fg"])).unwrap();
    assert_eq!(inspect[0]["State"]["ExitCode"], 3);
    assert_eq!(inspect[0]["State"]["Status"], "exited");
    assert_eq!(inspect[0]["Config"]["Cmd"], serde_json::json!(["sh", "-c", "echo hi; exit 3"]));
    // ps without -a lists running containers only; -q ids; a table format gets its header.
    run_d(&t, &["--name", "up", "busybox", "sleep", "1000"]);
    assert_eq!(ok(&t, &["ps", "--format", "{{.Names}}"]), "up\n");
    assert_eq!(ok(&t, &["ps", "-a", "-q"]).lines().count(), 2);
    assert_eq!(ok(&t, &["ps", "-a", "-n", "1", "--format", "{{.Names}}"]), "up\n");
    let table = ok(&t, &["ps", "--format", r"table {{.Names}}\t{{.Status}}"]);
    assert!(table.starts_with("NAMES     STATUS\nup        Up "), "{table}");
    assert_eq!(ok(&t, &["ps", "-a", "--filter", "status=exited", "--format", "{{.Names}}"]), "fg\n");
    assert_eq!(ok(&t, &["ps", "-a", "--filter", "ancestor=busybox", "-q"]).lines().count(), 2);
    let pruned = ok(&t, &["container", "prune", "-f"]);
    assert!(pruned.starts_with("Deleted Containers:\n") && pruned.contains("Total reclaimed space:"), "{pruned}");
    assert_eq!(ok(&t, &["ps", "-a", "--format", "{{.Names}}"]), "up\n");
    ok(&t, &["rm", "-f", "up"]);
}

#[test]
fn system_prune_removes_stopped_containers_and_then_their_images_but_not_a_running_ones() {
    let t = busybox();
    ok(&t, &["tag", "busybox", "only-stopped:1"]);
    rb(&t, &["run", "--name", "done", "only-stopped:1", "true"]);
    ok(&t, &["rmi", "only-stopped:1"]);
    run_d(&t, &["--name", "up", "busybox", "sleep", "1000"]);
    let out = ok(&t, &["system", "prune", "-a", "-f"]);
    assert!(out.contains("1 container(s) removed"), "{out}");
    assert_eq!(ok(&t, &["ps", "-a", "--format", "{{.Names}}"]), "up\n");
    // The running container's image stays, and it still runs.
    assert!(status(&t, "up").starts_with("Up"), "{}", status(&t, "up"));
    assert!(ok(&t, &["images", "-q"]).lines().count() >= 1);
    ok(&t, &["rm", "-f", "up"]);
}

#[test]
fn defect_a_sigkilled_monitor_leaves_an_exited_container_and_nothing_running() {
    let t = busybox();
    let marker = format!("RBUILD_TEST_MONITOR={}", std::process::id());
    let id = run_d(&t, &["-e", &marker, "--name", "orphan", "busybox", "sleep", "1000"]);
    let monitor = state(&t, &id)["monitor_pid"].as_i64().unwrap() as i32;
    assert_eq!(pids_with(&marker).len(), 1, "the command runs");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(monitor), nix::sys::signal::Signal::SIGKILL).unwrap();
    // The command dies with its monitor (the kernel does that part: give it a moment).
    let deadline = Instant::now() + Duration::from_secs(10);
    while !pids_with(&marker).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(pids_with(&marker), Vec::<i32>::new(), "the command outlived its monitor");
    assert!(status(&t, "orphan").starts_with("Exited (255)"), "{}", status(&t, "orphan"));
    let inspect: Value = serde_json::from_str(&ok(&t, &["inspect", "orphan"])).unwrap();
    assert!(inspect[0]["State"]["Error"].as_str().unwrap().contains("monitor was killed"));
    assert_no_mounts_under(&t);
    // It can be started again and removed.
    ok(&t, &["start", "orphan"]);
    assert!(status(&t, "orphan").starts_with("Up "));
    ok(&t, &["rm", "-f", "orphan"]);
    assert_eq!(pids_with(&marker), Vec::<i32>::new());
}

#[test]
fn twenty_containers_run_d_and_rm_f_leave_nothing_behind() {
    let t = busybox();
    let marker = format!("RBUILD_TEST_LOOP={}", std::process::id());
    let (mut monitors, mut namespaces) = (Vec::new(), Vec::new());
    for i in 0..20 {
        let name = format!("loop{i}");
        let id = run_d(&t, &["-e", &marker, "--name", &name, "busybox", "sleep", "1000"]);
        monitors.push(state(&t, &id)["monitor_pid"].as_i64().unwrap());
        namespaces.push(netns_of(&state(&t, &id)["pid"].to_string()).expect("the container runs"));
        assert_eq!(ok(&t, &["rm", "-f", &name]), format!("{name}\n"));
    }
    assert_eq!(pids_with(&marker), Vec::<i32>::new(), "processes of removed containers remain");
    // Nothing (no pasta either) keeps a container's network namespace alive.
    for ns in &namespaces {
        assert_eq!(processes_in(ns), Vec::<String>::new(), "{ns} is still in use");
    }
    assert_no_mounts_under(&t);
    let left: Vec<_> = std::fs::read_dir(t.root().join("containers")).unwrap().flatten().map(|e| e.path()).collect();
    assert!(left.is_empty(), "container dirs remain: {left:?}");
    assert_eq!(ok(&t, &["ps", "-a", "-q"]), "");
    // Each monitor drained and removed its sandbox's cgroup before it exited.
    for m in monitors {
        let cgroups = std::process::Command::new("find")
            .args(["/sys/fs/cgroup", "-maxdepth", "6", "-name", &format!("rbuild-{m}-*")])
            .output()
            .unwrap();
        assert_eq!(text(&cgroups.stdout), "", "cgroups of monitor {m} remain");
    }
}

#[test]
fn a_cli_killed_during_run_d_leaves_a_container_that_is_created_or_up_and_removable() {
    let t = busybox();
    let marker = format!("RBUILD_TEST_CLI_KILL={}", std::process::id());
    for (i, delay) in [0u64, 20, 60, 150].into_iter().enumerate() {
        let name = format!("cut{i}");
        let mut cli = std::process::Command::new(env!("CARGO_BIN_EXE_rbuild"))
            .env("RBUILD_ROOT", t.root())
            .args(["run", "-d", "-e", &marker, "--name", &name, "busybox", "sleep", "1000"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        let _ = cli.kill();
        let _ = cli.wait();
        // Killing the CLI never kills a detached container: whatever it got to, the container is
        // consistent (not recorded yet, created, or running under its monitor) once its monitor settled.
        std::thread::sleep(Duration::from_millis(300));
        let s = status(&t, &name);
        assert!(s.is_empty() || s == "Created" || s.starts_with("Up "), "{name}: {s:?}");
    }
    for i in 0..4 {
        let _ = rb(&t, &["rm", "-f", &format!("cut{i}")]);
    }
    assert_eq!(pids_with(&marker), Vec::<i32>::new());
    assert_no_mounts_under(&t);
    assert_eq!(ok(&t, &["ps", "-a", "-q"]), "");
}

#[test]
fn run_d_rm_removes_the_container_when_its_command_ends() {
    let t = busybox();
    let id = run_d(&t, &["--rm", "--name", "brief", "busybox", "sleep", "0.3"]);
    let dir = t.root().join("containers").join(&id);
    let deadline = Instant::now() + Duration::from_secs(10);
    while dir.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!dir.exists(), "the --rm container is still there");
    assert_eq!(status(&t, "brief"), "");
    // Stopping one removes it too.
    run_d(&t, &["--rm", "--name", "brief2", "busybox", "sleep", "1000"]);
    assert_eq!(ok(&t, &["stop", "-t", "0", "brief2"]), "brief2\n");
    assert_eq!(ok(&t, &["ps", "-a", "-q"]), "");
}

/// The `run` lines a restarting container has logged so far.
fn runs(t: &TestContext, name: &str) -> usize {
    text(&rb(t, &["logs", name]).stdout).lines().filter(|l| *l == "run").count()
}

#[test]
fn restart_on_failure_2_runs_a_failing_command_three_times_then_it_is_exited_1() {
    let t = busybox();
    run_d(&t, &["--name", "rs", "--restart", "on-failure:2", "busybox", "sh", "-c", "echo run; exit 1"]);
    // `wait` waits for the runner to give up, not for the first end.
    assert_eq!(ok(&t, &["wait", "rs"]), "1\n");
    assert_eq!(runs(&t, "rs"), 3);
    assert!(status(&t, "rs").starts_with("Exited (1) "), "{}", status(&t, "rs"));
    let inspect: Value = serde_json::from_str(&ok(&t, &["inspect", "rs"])).unwrap();
    assert_eq!(inspect[0]["RestartCount"], 2);
    assert_eq!(inspect[0]["State"]["Restarting"], false);
    assert_eq!(
        inspect[0]["HostConfig"]["RestartPolicy"],
        serde_json::json!({"Name": "on-failure", "MaximumRetryCount": 2})
    );
    // A command that succeeds is not restarted by on-failure.
    run_d(&t, &["--name", "ok", "--restart", "on-failure", "busybox", "sh", "-c", "echo run"]);
    assert_eq!(ok(&t, &["wait", "ok"]), "0\n");
    assert_eq!(runs(&t, "ok"), 1);
    fails(
        &t,
        &["run", "--rm", "--restart", "always", "busybox", "true"],
        125,
        "Conflicting options: --restart and --rm",
    );
    fails(&t, &["create", "--restart", "sometimes", "busybox"], 2, "invalid restart policy \"sometimes\"");
}

#[test]
fn restart_always_restarts_after_exit_0_until_stop() {
    let t = busybox();
    run_d(&t, &["--name", "al", "--restart", "always", "busybox", "sh", "-c", "echo run"]);
    common::wait_until("three runs", || runs(&t, "al") >= 3);
    let count: u64 = ok(&t, &["inspect", "--format", "{{.RestartCount}}", "al"]).trim().parse().unwrap();
    assert!(count >= 2, "RestartCount {count}");
    ok(&t, &["stop", "al"]);
    assert!(status(&t, "al").starts_with("Exited (0) "), "{}", status(&t, "al"));
    // Stopped for good: no monitor holds it, and no further run comes.
    let after_stop = runs(&t, "al");
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(runs(&t, "al"), after_stop);
    assert_eq!(state(&t, ok(&t, &["inspect", "--format", "{{.Id}}", "al"]).trim())["status"], "exited");
    // A start by hand runs it under its policy again, counting from 0.
    ok(&t, &["start", "al"]);
    common::wait_until("a run after start", || runs(&t, "al") > after_stop);
    ok(&t, &["rm", "-f", "al"]);
    assert_no_mounts_under(&t);
}

/// The file `name` of the cgroup of `pid` that holds `controller` (cgroup v1), or of its v2 cgroup.
fn cgroup_file(pid: &str, controller: &str, v1_name: &str, v2_name: &str) -> String {
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    for line in cgroups.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
        let (dir, file) = if controllers.split(',').any(|c| c == controller) {
            (format!("/sys/fs/cgroup/{controller}{path}"), v1_name)
        } else if controllers.is_empty() && std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
            (format!("/sys/fs/cgroup{path}"), v2_name)
        } else {
            continue;
        };
        return std::fs::read_to_string(format!("{dir}/{file}")).unwrap().trim().to_string();
    }
    panic!("no {controller} cgroup for {pid}:\n{cgroups}");
}

#[test]
fn memory_cpus_and_pids_limits_are_applied_and_shown_by_inspect() {
    let t = busybox();
    let flags = ["--memory", "64m", "--cpus", "0.5", "--pids-limit", "50"];
    run_d(&t, &[&["--name", "lim"][..], &flags, &["busybox", "sleep", "1000"]].concat());
    let inspect: Value = serde_json::from_str(&ok(&t, &["inspect", "lim"])).unwrap();
    let host = &inspect[0]["HostConfig"];
    assert_eq!((host["Memory"].as_u64(), host["NanoCpus"].as_u64()), (Some(64 << 20), Some(500_000_000)));
    assert_eq!(host["PidsLimit"], 50);
    let pid = inspect[0]["State"]["Pid"].to_string();
    assert_eq!(cgroup_file(&pid, "memory", "memory.limit_in_bytes", "memory.max"), (64u64 << 20).to_string());
    assert_eq!(cgroup_file(&pid, "pids", "pids.max", "pids.max"), "50");
    let quota = cgroup_file(&pid, "cpu", "cpu.cfs_quota_us", "cpu.max");
    assert!(quota == "50000" || quota == "50000 100000", "cpu quota {quota}");
    if !quota.contains(' ') {
        assert_eq!(cgroup_file(&pid, "cpu", "cpu.cfs_period_us", "cpu.max"), "100000");
    }
    // The limit holds: a 51st process cannot be forked.
    let out =
        rb(&t, &["exec", "lim", "sh", "-c", "for i in $(seq 60); do sleep 1000 </dev/null >/dev/null 2>&1 & done"]);
    assert!(text(&out.stderr).contains("can't fork"), "{}", text(&out.stderr));
    fails(&t, &["run", "--rm", "--cpus", "lots", "busybox", "true"], 125, "invalid --cpus \"lots\"");
}

#[test]
fn cpu_shares_and_cpuset_cpus_are_applied_shown_by_inspect_and_checked() {
    let t = busybox();
    // The cpuset bounds what the command may run on: busybox's nproc counts its affinity.
    assert_eq!(ok(&t, &["run", "--rm", "--cpuset-cpus", "0", "busybox", "nproc"]), "1\n");
    run_d(&t, &["--name", "weighted", "--cpu-shares", "512", "--cpuset-cpus", "0", "busybox", "sleep", "1000"]);
    let inspect: Value = serde_json::from_str(&ok(&t, &["inspect", "weighted"])).unwrap();
    let host = &inspect[0]["HostConfig"];
    assert_eq!((host["CpuShares"].as_u64(), host["CpusetCpus"].as_str()), (Some(512), Some("0")), "{host}");
    let pid = inspect[0]["State"]["Pid"].to_string();
    // v2 has weights, not shares: 512 shares is weight 20 by the runtimes' conversion.
    let weight = cgroup_file(&pid, "cpu", "cpu.shares", "cpu.weight");
    assert!(weight == "512" || weight == "20", "cpu weight {weight}");
    assert_eq!(cgroup_file(&pid, "cpuset", "cpuset.cpus", "cpuset.cpus"), "0");
    ok(&t, &["rm", "-f", "weighted"]);
    fails(
        &t,
        &["run", "--rm", "--cpu-shares", "1", "busybox", "true"],
        125,
        "--cpu-shares 1: must be between 2 and 262144",
    );
    fails(&t, &["run", "--rm", "--cpuset-cpus", "0-4096", "busybox", "true"], 125, "is not available (online:");
    fails(&t, &["run", "--rm", "--cpuset-cpus", "one", "busybox", "true"], 125, "invalid --cpuset-cpus \"one\"");
}

/// `rbuild ARGS` with `input` on its stdin (then its end), within 20 s.
fn with_input(t: &TestContext, args: &[&str], input: &str) -> Output {
    use std::io::Write;
    let mut child = t
        .process()
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    output_within(child, Duration::from_secs(20), &format!("rbuild {args:?} ending after its input ended"))
}

/// The output of `child` once it exits, failing the test if that takes longer than `limit`.
fn output_within(mut child: std::process::Child, limit: Duration, what: &str) -> Output {
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn stdin_of_a_container_made_with_i_but_no_t_is_fed_by_attach_and_start_a_i() {
    let t = busybox();
    // `run -d -i`: the command's stdin stays open (it waits for input) until a client ends it.
    let script = "while read l; do echo got:$l; done; echo eof";
    run_d(&t, &["-i", "--name", "reader", "busybox", "sh", "-c", script]);
    std::thread::sleep(Duration::from_millis(300));
    assert!(status(&t, "reader").starts_with("Up "), "{}", status(&t, "reader"));
    let out = with_input(&t, &["attach", "reader"], "hello\nworld\n");
    assert_eq!(text(&out.stdout), "got:hello\ngot:world\neof\n", "{}", text(&out.stderr));
    assert_eq!(out.status.code(), Some(0));
    assert!(status(&t, "reader").starts_with("Exited (0)"), "{}", status(&t, "reader"));
    assert_eq!(text(&wait_for_log(&t, "reader", "got:hello\ngot:world\neof\n").stdout), "got:hello\ngot:world\neof\n");
    // `create -i` + `start -a -i`: the input goes in, the exit code comes back.
    ok(&t, &["create", "-i", "--name", "once", "busybox", "sh", "-c", "read l; echo read:$l; exit 3"]);
    let out = with_input(&t, &["start", "-a", "-i", "once"], "one\n");
    assert_eq!(text(&out.stdout), "read:one\n", "{}", text(&out.stderr));
    assert_eq!(out.status.code(), Some(3));
    // `attach --no-stdin` leaves the input alone: the container keeps waiting for it.
    run_d(&t, &["-i", "--name", "waits", "busybox", "sh", "-c", "read l; echo late:$l"]);
    let mut follower =
        t.process().args(["attach", "--no-stdin", "waits"]).stdout(std::process::Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert!(follower.try_wait().unwrap().is_none(), "attach --no-stdin ended the container's input");
    assert!(status(&t, "waits").starts_with("Up "), "{}", status(&t, "waits"));
    let _ = with_input(&t, &["attach", "waits"], "now\n");
    let out = follower.wait_with_output().unwrap();
    assert_eq!(text(&out.stdout), "late:now\n");
    ok(&t, &["rm", "-f", "reader", "once", "waits"]);
    assert_no_mounts_under(&t);
}

/// Start `rbuild ARGS` (following a container's output), let it settle, send it SIGINT; its output.
fn interrupted(t: &TestContext, args: &[&str]) -> Output {
    let child = t.process().args(args).stdout(std::process::Stdio::piped()).spawn().unwrap();
    // Following: the client polls the log every 50 ms; a signal before it installed its handler would
    // kill it outright, which the exit code would show.
    std::thread::sleep(Duration::from_millis(500));
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGINT).unwrap();
    output_within(child, Duration::from_secs(10), &format!("rbuild {args:?} ending after SIGINT"))
}

#[test]
fn attach_without_a_terminal_sends_sigint_on_to_the_command_unless_sig_proxy_is_false() {
    let t = busybox();
    let script = "trap 'echo got-int; exit 3' INT; echo ready; while :; do sleep 0.1; done";
    run_d(&t, &["--network", "none", "--name", "proxied", "busybox", "sh", "-c", script]);
    wait_for_log(&t, "proxied", "ready\n");
    // docker's --sig-proxy (on by default): the command gets the signal, attach ends with its code.
    let out = interrupted(&t, &["attach", "proxied"]);
    assert_eq!(text(&out.stdout), "got-int\n");
    assert_eq!(out.status.code(), Some(3));
    assert!(status(&t, "proxied").starts_with("Exited (3)"), "{}", status(&t, "proxied"));
    // --sig-proxy=false: the signal ends attach alone (130, the shell's code for SIGINT), as it ends
    // `logs -f`; the container goes on.
    run_d(&t, &["--network", "none", "--name", "kept", "busybox", "sh", "-c", script]);
    wait_for_log(&t, "kept", "ready\n");
    for args in [&["attach", "--sig-proxy=false", "kept"][..], &["logs", "-f", "kept"]] {
        let out = interrupted(&t, args);
        assert_eq!(out.status.code(), Some(130), "{args:?}: {}", text(&out.stdout));
        assert!(status(&t, "kept").starts_with("Up "), "{args:?}: {}", status(&t, "kept"));
    }
    ok(&t, &["rm", "-f", "proxied", "kept"]);
    assert_no_mounts_under(&t);
}

#[test]
fn logs_of_a_container_run_in_the_foreground_hold_that_runs_output() {
    let t = busybox();
    let script = "echo out; echo err >&2; printf partial";
    let run = rb(&t, &["run", "--network", "none", "--name", "fg", "busybox", "sh", "-c", script]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    // The caller still gets the output, as it comes (the last line has no newline).
    assert_eq!(text(&run.stdout), "out\npartial");
    assert!(text(&run.stderr).starts_with("err\n"), "{}", text(&run.stderr));
    // And `logs` has it, by stream, as docker's json-file log keeps a foreground run's output.
    let logs = rb(&t, &["logs", "fg"]);
    assert_eq!(text(&logs.stdout), "out\npartial");
    assert_eq!(text(&logs.stderr), "err\n");
    // rbuild's own line after the run is not the container's.
    let id = ok(&t, &["inspect", "--format", "{{.Id}}", "fg"]).trim().to_string();
    let log = std::fs::read_to_string(t.root().join("containers").join(&id).join("ctr.log")).unwrap();
    assert!(!log.contains("kept in"), "{log}");
    ok(&t, &["rm", "fg"]);
}

#[test]
fn an_rm_containers_exit_code_reaches_start_a_and_wait_before_it_is_removed() {
    let t = busybox();
    // `start -a` of an `--rm` container that ends at once: its output and its code, then it is gone.
    ok(&t, &["create", "--rm", "--network", "none", "--name", "quick", "busybox", "sh", "-c", "echo bye; exit 3"]);
    let out = rb(&t, &["start", "-a", "quick"]);
    assert_eq!(text(&out.stdout), "bye\n", "{}", text(&out.stderr));
    assert_eq!(out.status.code(), Some(3));
    // `wait` of a running `--rm` container prints the code, and the end does not sit out the grace
    // period it allows its waiters.
    run_d(&t, &["--rm", "--network", "none", "--name", "later", "busybox", "sh", "-c", "sleep 0.5; exit 4"]);
    let began = Instant::now();
    assert_eq!(ok(&t, &["wait", "later"]).trim(), "4");
    assert!(began.elapsed() < Duration::from_secs(4), "wait took {:?}", began.elapsed());
    wait_until("both --rm containers to be removed", || ok(&t, &["ps", "-a", "-q"]).trim().is_empty());
    assert_no_mounts_under(&t);
}
