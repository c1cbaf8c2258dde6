//! Container tools through the real binary on a busybox image: `exec` (the container's namespaces,
//! cgroup, user and exit code), `cp` both ways (paths resolved inside the container's root), `diff`,
//! `export`, `commit`, `top`, `pause`/`unpause`. These need root (namespaces, mounts; CI runs as root)
//! and fail loudly without it.

mod common;

use common::containers::*;

use common::TestContext;

#[test]
fn exec_enters_the_containers_pid_namespace_and_files() {
    let t = busybox();
    ok(&t, &["run", "-d", "--name", "c1", "busybox", "sh", "-c", "echo inside > /marker; exec sleep 1000"]);
    common::wait_until("the marker is written", || rb(&t, &["exec", "c1", "cat", "/marker"]).status.success());
    assert_eq!(ok(&t, &["exec", "c1", "cat", "/marker"]), "inside\n");
    // pid 1 is the container's command, and exec's own process is in the same pid namespace.
    let ps = ok(&t, &["exec", "c1", "ps", "-o", "pid,args"]);
    let pid1 = ps.lines().find(|l| l.split_whitespace().next() == Some("1")).unwrap_or_default();
    assert!(pid1.contains("sleep 1000"), "pid 1 is not the container's command:\n{ps}");
    // The uts namespace too: the hostname is the container's short id.
    let id = ok(&t, &["ps", "-q", "--no-trunc", "--filter", "name=c1"]);
    assert_eq!(ok(&t, &["exec", "c1", "hostname"]).trim(), &id.trim()[..12]);
}

#[test]
fn exec_passes_env_workdir_user_stdin_and_the_exit_code() {
    let t = busybox();
    ok(&t, &["run", "-d", "--name", "c1", "busybox", "sleep", "1000"]);
    let out = ok(&t, &["exec", "-e", "A=B", "-w", "/tmp", "-u", "nobody", "c1", "sh", "-c", "echo $A; pwd; id -u"]);
    assert_eq!(out, "B\n/tmp\n65534\n");
    let out = t.rbuild().args(["exec", "-i", "c1", "cat"]).write_stdin("from stdin\n").output().unwrap();
    assert_eq!(text(&out.stdout), "from stdin\n");
    assert_eq!(rb(&t, &["exec", "c1", "sh", "-c", "exit 7"]).status.code(), Some(7));
    fails(&t, &["exec", "c1", "no-such-cmd"], 127, "executable file not found");
}

#[test]
fn exec_lands_in_the_containers_cgroup() {
    let t = busybox();
    ok(&t, &["run", "-d", "--name", "c1", "busybox", "sleep", "1000"]);
    let mine = ok(&t, &["exec", "c1", "cat", "/proc/self/cgroup"]);
    let theirs = ok(&t, &["exec", "c1", "cat", "/proc/1/cgroup"]);
    assert_eq!(mine, theirs, "exec's process is not in the container's cgroups");
    assert!(theirs.contains("rbuild-"), "the container's cgroup is rbuild's own sandbox cgroup:\n{theirs}");
}

#[test]
fn exec_into_a_stopped_container_is_refused_as_docker_does() {
    let t = busybox();
    ok(&t, &["create", "--name", "c1", "busybox", "sleep", "1000"]);
    fails(&t, &["exec", "c1", "true"], 1, "is not running");
    fails(&t, &["exec", "nope", "true"], 1, "No such container: nope");
}

/// A container with `/d/f`, an absolute and a relative symlink pointing out of it, and a host file.
fn with_links(t: &Store) {
    ok(
        t,
        &[
            "run",
            "-d",
            "--name",
            "c1",
            "busybox",
            "sh",
            "-c",
            "mkdir -p /d; echo secret > /d/f; ln -s /etc/hostname /d/abs; ln -s ../../../../../etc /d/rel; \
             touch /ready; exec sleep 1000",
        ],
    );
    common::wait_until("the container's files exist", || {
        rb(t, &["exec", "c1", "test", "-e", "/ready"]).status.success()
    });
}

#[test]
fn cp_out_of_a_container_resolves_symlinks_and_dotdot_inside_it() {
    let t = busybox();
    with_links(&t);
    let out = t.path("out");
    ok(&t, &["cp", "c1:/d", out.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(out.join("f")).unwrap(), "secret\n");
    // Links are copied as links, not followed.
    assert_eq!(std::fs::read_link(out.join("abs")).unwrap(), std::path::Path::new("/etc/hostname"));
    // `..` stops at the container's root, and an escaping relative link lands inside it: the container's
    // passwd (busybox's), never the host's.
    let container_passwd = ok(&t, &["exec", "c1", "cat", "/etc/passwd"]);
    for src in ["c1:/../../../../etc/passwd", "c1:/d/rel/passwd", "c1:/d/abs/../passwd"] {
        let dest = t.path("pw");
        ok(&t, &["cp", src, dest.to_str().unwrap()]);
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), container_passwd, "{src}");
        std::fs::remove_file(&dest).unwrap();
    }
    // `-`: a tar on stdout, rooted at the copied name.
    let tar = rb(&t, &["cp", "c1:/d", "-"]);
    let entries = common::read_tar(&tar.stdout);
    assert!(entries.contains_key("d/f"), "{:?}", entries.keys());
    fails(
        &t,
        &["cp", "c1:/no/such", t.path("x").to_str().unwrap()],
        1,
        "Could not find the file /no/such in container c1",
    );
}

#[test]
fn cp_into_a_container_never_writes_to_the_host_through_its_links() {
    let t = busybox();
    with_links(&t);
    let marker = format!("rbuild-cp-test-{}", std::process::id());
    let src = t.path(&marker);
    std::fs::write(&src, "from host\n").unwrap();
    ok(&t, &["cp", src.to_str().unwrap(), "c1:/d/rel/"]);
    ok(&t, &["cp", src.to_str().unwrap(), "c1:/../../../tmp/dotdot"]);
    assert_eq!(ok(&t, &["exec", "c1", "cat", &format!("/etc/{marker}")]), "from host\n");
    assert_eq!(ok(&t, &["exec", "c1", "cat", "/tmp/dotdot"]), "from host\n");
    assert!(!std::path::Path::new("/etc").join(&marker).exists(), "cp wrote through the link to the host");
    // An absolute link at the destination is followed inside the container (as docker does), never to
    // the host's file of that name.
    let host_hostname = std::fs::read_to_string("/etc/hostname").ok();
    ok(&t, &["cp", src.to_str().unwrap(), "c1:/d/abs"]);
    assert_eq!(ok(&t, &["exec", "c1", "cat", "/etc/hostname"]), "from host\n");
    assert_eq!(std::fs::read_to_string("/etc/hostname").ok(), host_hostname);
    // `-`: a tar on stdin extracted into a directory.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(3);
    h.set_mode(0o644);
    b.append_data(&mut h, "t.txt", &b"tar"[..]).unwrap();
    let data = b.into_inner().unwrap();
    t.rbuild().args(["cp", "-", "c1:/tmp"]).write_stdin(data).assert().success();
    assert_eq!(ok(&t, &["exec", "c1", "cat", "/tmp/t.txt"]), "tar");
}

#[test]
fn cp_works_on_a_stopped_container_and_writes_into_its_layer() {
    let t = busybox();
    with_links(&t);
    ok(&t, &["stop", "-t", "0", "c1"]);
    let out = t.path("f");
    ok(&t, &["cp", "c1:/d/f", out.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "secret\n");
    std::fs::write(&out, "written while stopped\n").unwrap();
    ok(&t, &["cp", out.to_str().unwrap(), "c1:/d/rel/stopped"]);
    ok(&t, &["start", "c1"]);
    common::wait_until("restarted", || rb(&t, &["exec", "c1", "true"]).status.success());
    assert_eq!(ok(&t, &["exec", "c1", "cat", "/etc/stopped"]), "written while stopped\n");
    // Nothing of the helper's mount stays.
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains("rbuild-view-"), "a view mount was left:\n{mounts}");
}

/// A stopped container `c1` that added `/f` and `/newdir`, deleted `/bin/ls` and changed `/etc/passwd`.
fn changed(t: &Store) {
    ok(
        t,
        &[
            "run",
            "--name",
            "c1",
            "busybox",
            "sh",
            "-c",
            "echo x > /f; rm /bin/ls; mkdir /newdir; echo y >> /etc/passwd",
        ],
    );
}

#[test]
fn diff_lists_added_changed_and_deleted_paths_as_docker() {
    let t = busybox();
    changed(&t);
    let out = ok(&t, &["diff", "c1"]);
    assert_eq!(out, "C /bin\nD /bin/ls\nC /etc\nC /etc/passwd\nA /f\nA /newdir\n");
}

/// `umoci unpack` of `image` from the store; the rootfs path.
fn umoci_unpack(t: &TestContext, image: &str, name: &str) -> std::path::PathBuf {
    let bundle = t.path(name);
    let out = std::process::Command::new("umoci")
        .arg("unpack")
        .arg("--image")
        .arg(format!("{}/oci:{image}", t.root().display()))
        .arg(&bundle)
        .output()
        .expect("umoci is required: apt-get install -y umoci");
    assert!(out.status.success(), "umoci unpack: {}", text(&out.stderr));
    bundle.join("rootfs")
}

#[test]
fn commit_makes_one_layer_with_the_changes_and_deletions_and_applies_changes() {
    let t = busybox();
    changed(&t);
    let base_layers = t.layer_count("busybox:latest");
    let id = ok(&t, &["commit", "--change", "CMD [\"cat\",\"/f\"]", "-m", "my message", "-a", "me", "c1", "mine:0.1"]);
    assert!(id.starts_with("sha256:"), "{id}");
    assert_eq!(t.layer_count("mine:0.1"), base_layers + 1);
    assert_eq!(ok(&t, &["run", "--rm", "mine:0.1"]), "x\n");
    let config = t.config("mine:0.1");
    assert_eq!(config["author"], "me");
    let history = config["history"].as_array().unwrap();
    assert_eq!(history.last().unwrap()["comment"], "my message");
    let rootfs = umoci_unpack(&t, "mine:0.1", "bundle");
    assert_eq!(std::fs::read_to_string(rootfs.join("f")).unwrap(), "x\n");
    assert!(rootfs.join("newdir").is_dir());
    assert!(!rootfs.join("bin/ls").exists(), "the deletion was not committed");
    assert!(rootfs.join("bin/busybox").exists());
    assert!(std::fs::read_to_string(rootfs.join("etc/passwd")).unwrap().ends_with("y\n"));
    // A bad --change is a clear error and makes no image.
    let out = rb(&t, &["commit", "--change", "RUN true", "c1", "bad:1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("not a valid change command"), "{}", text(&out.stderr));
    assert!(!ok(&t, &["images"]).contains("bad"));
}

#[test]
fn commit_takes_the_containers_cmd_entrypoint_env_workdir_and_user_unless_changed() {
    let t = busybox();
    let flags = ["-e", "FOO=bar", "-w", "/tmp", "-u", "nobody", "--entrypoint", "sh"];
    ok(&t, &[&["run", "--name", "c2"][..], &flags, &["busybox", "-c", "echo hi"]].concat());
    ok(&t, &["commit", "c2", "img:2"]);
    let config = &t.config("img:2")["config"];
    assert_eq!(config["Entrypoint"], serde_json::json!(["sh"]));
    assert_eq!(config["Cmd"], serde_json::json!(["-c", "echo hi"]));
    assert_eq!((config["WorkingDir"].as_str(), config["User"].as_str()), (Some("/tmp"), Some("nobody")));
    let env: Vec<&str> = config["Env"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(env.contains(&"FOO=bar") && env.iter().any(|e| e.starts_with("PATH=")), "{env:?}");
    assert!(!env.iter().any(|e| e.starts_with("HOSTNAME=")), "the container's hostname is not the image's: {env:?}");
    assert_eq!(ok(&t, &["run", "--rm", "img:2"]), "hi\n");
    // --change comes last and wins; a container that kept the image's command commits it unchanged.
    ok(&t, &["commit", "--change", "CMD [\"-c\", \"echo changed\"]", "c2", "img:3"]);
    assert_eq!(ok(&t, &["run", "--rm", "img:3"]), "changed\n");
    ok(&t, &["run", "--name", "c3", "busybox", "true"]);
    ok(&t, &["commit", "c3", "img:4"]);
    assert_eq!(t.config("img:4")["config"]["Cmd"], serde_json::json!(["true"]));
    assert!(t.config("img:4")["config"]["Entrypoint"].is_null());
}

#[test]
fn export_of_a_container_equals_umoci_unpack_of_its_commit() {
    let t = busybox();
    changed(&t);
    ok(&t, &["commit", "c1", "mine:0.1"]);
    let rootfs = umoci_unpack(&t, "mine:0.1", "bundle");
    let tar = t.path("export.tar");
    ok(&t, &["export", "c1", "-o", tar.to_str().unwrap()]);
    let exported = common::read_tar(&std::fs::read(&tar).unwrap());
    // Names alike (read_tar drops a directory's trailing `/`), and the contents of what changed.
    let mut unpacked = std::collections::BTreeSet::new();
    for e in walkdir::WalkDir::new(&rootfs).min_depth(1) {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(&rootfs).unwrap().to_string_lossy().into_owned();
        unpacked.insert(rel);
    }
    let names: std::collections::BTreeSet<String> = exported.keys().cloned().collect();
    assert_eq!(names, unpacked);
    assert_eq!(exported["f"].data, b"x\n");
}

#[test]
fn commit_of_a_container_whose_image_is_gone_is_a_clear_error() {
    let t = busybox();
    changed(&t);
    // Whatever took the image's blobs (rmi leaves them to the container; here they are simply gone).
    let config: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            std::fs::read_dir(t.root().join("containers")).unwrap().next().unwrap().unwrap().path().join("config.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let manifest = config["manifest"].as_str().unwrap().strip_prefix("sha256:").unwrap().to_string();
    std::fs::remove_file(t.root().join("oci/blobs/sha256").join(manifest)).unwrap();
    fails(&t, &["commit", "c1", "mine:0.1"], 1, "its image busybox is no longer complete in the store");
}

/// The counter a ticking container writes to `/cnt`.
fn counter(t: &TestContext) -> String {
    ok(t, &["exec", "c1", "cat", "/cnt"])
}

#[test]
fn pause_freezes_every_process_and_unpause_thaws_them() {
    let t = busybox();
    ok(
        &t,
        &[
            "run",
            "-d",
            "--name",
            "c1",
            "busybox",
            "sh",
            "-c",
            "i=0; while true; do i=$((i+1)); echo $i > /cnt; usleep 20000; done",
        ],
    );
    common::wait_until("the counter runs", || rb(&t, &["exec", "c1", "cat", "/cnt"]).status.success());
    assert_eq!(ok(&t, &["pause", "c1"]), "c1\n");
    assert!(ok(&t, &["ps", "--filter", "name=c1", "--format", "{{.Status}}"]).contains("(Paused)"));
    let inspect: serde_json::Value = serde_json::from_str(&ok(&t, &["container", "inspect", "c1"])).unwrap();
    assert_eq!(inspect[0]["State"]["Paused"], true);
    fails(&t, &["pause", "c1"], 1, "Container c1 is already paused");
    // Frozen: the counter does not move (cp reads the files without entering the frozen container).
    let read = || String::from_utf8(rb(&t, &["cp", "c1:/cnt", "-"]).stdout).unwrap();
    let frozen = read();
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(read(), frozen, "the container kept running while paused");
    assert_eq!(ok(&t, &["unpause", "c1"]), "c1\n");
    fails(&t, &["unpause", "c1"], 1, "Container c1 is not paused");
    let before = counter(&t);
    common::wait_until("the counter moves again", || counter(&t) != before);
    // A paused container is thawed by the signals that end it: rm -f does not hang on it.
    ok(&t, &["pause", "c1"]);
    ok(&t, &["rm", "-f", "c1"]);
    assert_eq!(ok(&t, &["ps", "-a", "-q"]), "");
}

#[test]
fn pause_of_a_container_that_is_not_running_is_refused() {
    let t = busybox();
    ok(&t, &["create", "--name", "c1", "busybox", "true"]);
    fails(&t, &["pause", "c1"], 1, "Container c1 is not running");
    fails(&t, &["unpause", "c1"], 1, "Container c1 is not paused");
}

#[test]
fn commit_of_a_running_container_pauses_it_and_leaves_it_running() {
    let t = busybox();
    ok(&t, &["run", "-d", "--name", "c1", "busybox", "sh", "-c", "echo live > /live; exec sleep 1000"]);
    common::wait_until("the file exists", || rb(&t, &["exec", "c1", "test", "-e", "/live"]).status.success());
    ok(&t, &["commit", "--change", "CMD [\"cat\",\"/live\"]", "c1", "live:1"]);
    assert_eq!(ok(&t, &["run", "--rm", "live:1"]), "live\n");
    let status = ok(&t, &["ps", "--filter", "name=c1", "--format", "{{.Status}}"]);
    assert!(status.starts_with("Up") && !status.contains("Paused"), "{status}");
}

#[test]
fn top_lists_the_containers_processes_like_ps_ef() {
    let t = busybox();
    ok(&t, &["run", "-d", "--name", "c1", "busybox", "sh", "-c", "sleep 1001 & exec sleep 1002"]);
    common::wait_until("both sleeps run", || ok(&t, &["top", "c1"]).contains("sleep 1001"));
    let out = ok(&t, &["top", "c1"]);
    let mut lines = out.lines();
    let titles: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(titles, ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]);
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows.len(), 2, "only the container's processes:\n{out}");
    let parent = rows.iter().find(|r| r[7..] == ["sleep", "1002"]).expect(&out);
    let child = rows.iter().find(|r| r[7..] == ["sleep", "1001"]).expect(&out);
    assert_eq!(parent[0], "root");
    // Host pids: the background sleep's parent is the container's pid 1.
    assert_eq!(child[2], parent[1]);
    ok(&t, &["stop", "-t", "0", "c1"]);
    fails(&t, &["top", "c1"], 1, "Container c1 is not running");
}

#[test]
fn cp_export_and_volume_copy_up_work_on_an_image_with_more_layers_than_the_mount_options_hold() {
    let t = busybox();
    // 70 layers: their snapshot dirs' names alone are ~4,700 bytes, over the page overlayfs reads its
    // options from; the views reach them through short links.
    let mut dockerfile = String::from("FROM busybox:latest\nRUN mkdir /data && echo volume > /data/v\nVOLUME /data\n");
    for i in 0..70 {
        dockerfile.push_str(&format!("RUN echo layer{i} > /f{i}\n"));
    }
    t.write("Dockerfile", &dockerfile);
    t.build("tall:1", &[]);
    ok(&t, &["create", "--name", "tall", "tall:1", "true"]);
    // cp out of a container that is not running: its overlay mounted by the helper.
    let dest = t.path("out");
    std::fs::create_dir_all(&dest).unwrap();
    ok(&t, &["cp", "tall:/f69", dest.to_str().unwrap()]);
    ok(&t, &["cp", "tall:/f0", dest.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(dest.join("f69")).unwrap(), "layer69\n");
    assert_eq!(std::fs::read_to_string(dest.join("f0")).unwrap(), "layer0\n");
    // export: the files alone, every layer's.
    let tar = t.path("tall.tar");
    ok(&t, &["export", "tall", "-o", tar.to_str().unwrap()]);
    let entries = common::read_tar(&std::fs::read(&tar).unwrap());
    assert!((0..70).all(|i| entries.contains_key(&format!("f{i}"))), "export lacks layer files");
    // The image's VOLUME is initialised from the image's files (a view of the image alone).
    assert_eq!(ok(&t, &["run", "--rm", "tall:1", "cat", "/data/v", "/f42"]), "volume\nlayer42\n");
    ok(&t, &["rm", "tall"]);
}

#[test]
fn env_file_sets_variables_for_run_and_exec_and_e_wins() {
    let t = busybox();
    let env = t.path("app.env");
    std::fs::write(&env, "# settings\nGREETING=hello from the file\nMODE=file\nPATH_EXTRA=\"quoted\"\n").unwrap();
    let path = env.to_str().unwrap();
    let show = "echo \"$GREETING|$MODE|$PATH_EXTRA\"";
    let out = ok(&t, &["run", "--rm", "--env-file", path, "-e", "MODE=flag", "busybox", "sh", "-c", show]);
    assert_eq!(out, "hello from the file|flag|\"quoted\"\n");
    ok(&t, &["run", "-d", "--name", "envy", "busybox", "sleep", "60"]);
    let out = ok(&t, &["exec", "--env-file", path, "envy", "sh", "-c", show]);
    assert_eq!(out, "hello from the file|file|\"quoted\"\n");
    // A bad line is a usage error naming the file and line, and nothing runs.
    std::fs::write(&env, "OK=1\nNOT OK=2\n").unwrap();
    fails(&t, &["exec", "--env-file", path, "envy", "true"], 2, &format!("--env-file {path}:2: variable name"));
    fails(&t, &["run", "--rm", "--env-file", path, "busybox", "true"], 125, &format!("--env-file {path}:2:"));
    ok(&t, &["rm", "-f", "envy"]);
}

#[test]
fn words_after_the_image_belong_to_the_command_even_when_they_look_like_rbuild_flags() {
    let t = busybox();
    // -l, -e, -c, -d, -v and --rm are all rbuild flags before the image; after it they are the command's,
    // the first word after the image too.
    assert_eq!(ok(&t, &["run", "--rm", "--entrypoint", "echo", "busybox", "-l", "-e"]), "-l -e\n");
    let out =
        ok(&t, &["run", "--rm", "--entrypoint", "printf", "busybox", "%s,", "-e", "-l", "-c", "-d", "-v", "--rm"]);
    assert_eq!(out, "-e,-l,-c,-d,-v,--rm,");
    ok(&t, &["create", "--name", "wordy", "--entrypoint", "echo", "busybox", "--name", "-t"]);
    assert_eq!(ok(&t, &["start", "-a", "wordy"]), "--name -t\n");
    ok(&t, &["rm", "wordy"]);
    // And the image is still required.
    let out = rb(&t, &["run", "--rm"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("<IMAGE [COMMAND [ARG...]]>"), "{}", text(&out.stderr));
}
