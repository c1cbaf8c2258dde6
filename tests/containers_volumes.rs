//! Volumes through the real binary: `rbuild volume create|ls|rm|inspect|prune` with docker's output,
//! and `run/create -v NAME:/path` (named volumes kept in the store, shared between containers).
//! Tests that run containers need root (namespaces, mounts; CI runs as root) and fail loudly without it.

mod common;

use common::containers::busybox;
use common::{require_root, TestContext};

#[test]
fn volume_create_ls_inspect_rm_print_what_docker_prints() {
    require_root();
    let t = TestContext::new();
    assert_eq!(t.ok(&["volume", "create", "data"]), "data\n");
    // Creating an existing volume again is not an error, as with docker.
    assert_eq!(t.ok(&["volume", "create", "data"]), "data\n");
    let anon = t.ok(&["volume", "create", "-l", "k=v"]).trim().to_string();
    assert_eq!(anon.len(), 64, "an unnamed volume gets 64 hex digits: {anon}");
    let ls = t.ok(&["volume", "ls"]);
    let mut expect = [format!("local     {anon}"), "local     data".to_string()];
    expect.sort();
    assert_eq!(ls, format!("DRIVER    VOLUME NAME\n{}\n", expect.join("\n")));
    let mut q: Vec<String> = t.ok(&["volume", "ls", "-q"]).lines().map(String::from).collect();
    q.sort();
    assert_eq!(q, {
        let mut v = vec![anon.clone(), "data".to_string()];
        v.sort();
        v
    });

    let inspect: serde_json::Value = serde_json::from_str(&t.ok(&["volume", "inspect", "data", &anon])).unwrap();
    let data = &inspect[0];
    assert_eq!(data["Name"], "data");
    assert_eq!(data["Driver"], "local");
    assert_eq!(data["Scope"], "local");
    assert_eq!(data["Mountpoint"], t.root().join("volumes/data/_data").to_str().unwrap());
    assert!(t.root().join("volumes/data/_data").is_dir());
    assert!(chrono::DateTime::parse_from_rfc3339(data["CreatedAt"].as_str().unwrap()).is_ok());
    assert_eq!(inspect[1]["Labels"]["k"], "v");

    let err = t.fails(&["volume", "inspect", "nope"], 1);
    assert!(err.contains("get nope: no such volume"), "{err}");
    let err = t.fails(&["volume", "create", "bad/name"], 1);
    assert!(err.contains("includes invalid characters for a local volume name"), "{err}");

    assert_eq!(t.ok(&["volume", "rm", "data"]), "data\n");
    assert!(!t.root().join("volumes/data").exists());
    let err = t.fails(&["volume", "rm", "data"], 1);
    assert!(err.contains("no such volume"), "{err}");
    assert_eq!(t.ok(&["volume", "rm", "-f", "data"]), "");
}

#[test]
fn named_volume_data_written_by_one_container_is_seen_by_the_next() {
    let t = busybox();
    t.ok(&["run", "--rm", "-v", "shared:/data", "busybox", "sh", "-c", "echo kept > /data/f"]);
    assert_eq!(t.ok(&["volume", "ls", "-q"]), "shared\n", "-v NAME:/path creates the volume on first use");
    assert_eq!(t.ok(&["run", "--rm", "-v", "shared:/data:ro", "busybox", "cat", "/data/f"]), "kept\n");
    // A kept container sees it too, and :ro is read-only.
    let out = t.rbuild().args(["run", "-v", "shared:/data:ro", "busybox", "touch", "/data/g"]).output().unwrap();
    assert_ne!(out.status.code(), Some(0), "touch on a :ro volume must fail");
    assert!(!t.root().join("volumes/shared/_data/g").exists());
}

#[test]
fn volume_rm_of_a_volume_a_container_uses_is_refused() {
    let t = busybox();
    let id = t.ok(&["create", "--name", "user", "-v", "busy:/data", "busybox", "true"]).trim().to_string();
    let err = t.fails(&["volume", "rm", "busy"], 1);
    assert!(err.contains("remove busy: volume is in use - [user]"), "{err}");
    assert!(t.root().join("volumes/busy/_data").is_dir(), "a refused rm keeps the volume");
    // Prune (even -a) leaves it alone too.
    t.ok(&["volume", "prune", "-a", "-f"]);
    assert!(t.root().join("volumes/busy/_data").is_dir());
    t.ok(&["rm", &id]);
    assert_eq!(t.ok(&["volume", "rm", "busy"]), "busy\n");
}

#[test]
fn volume_prune_removes_unused_anonymous_volumes_and_with_all_named_ones() {
    require_root();
    let t = TestContext::new();
    t.ok(&["volume", "create", "named"]);
    let anon = t.ok(&["volume", "create"]).trim().to_string();
    std::fs::write(t.root().join(format!("volumes/{anon}/_data/f")), vec![7u8; 5000]).unwrap();
    let out = t.ok(&["volume", "prune", "-f"]);
    assert!(out.starts_with(&format!("Deleted Volumes:\n{anon}\n\nTotal reclaimed space: ")), "{out}");
    assert_eq!(t.ok(&["volume", "ls", "-q"]), "named\n");
    let out = t.ok(&["volume", "prune", "-a", "-f"]);
    assert!(out.starts_with("Deleted Volumes:\nnamed\n"), "{out}");
    assert_eq!(t.ok(&["volume", "ls", "-q"]), "");
}

fn volume_names(t: &TestContext) -> Vec<String> {
    t.ok(&["volume", "ls", "-q"]).lines().map(String::from).collect()
}

#[test]
fn image_volume_gets_an_anonymous_volume_that_rm_v_and_run_rm_remove() {
    let t = busybox();
    t.write("Dockerfile", "FROM busybox\nVOLUME /vol\n");
    t.build("withvol", &[]);
    // run --rm: the anonymous volume lives while the container does, then goes with it.
    let seen = t.ok(&["run", "--rm", "withvol", "sh", "-c", "grep ' /vol ' /proc/mounts | wc -l"]);
    assert_eq!(seen.trim(), "1", "/vol is a mount of its own in the container");
    assert!(volume_names(&t).is_empty(), "run --rm removes its anonymous volume");

    let kept = t.ok(&["create", "--name", "keeps", "withvol", "true"]).trim().to_string();
    let names = volume_names(&t);
    assert_eq!(names.len(), 1, "{names:?}");
    assert_eq!(names[0].len(), 64, "an anonymous volume has a 64-hex name: {names:?}");
    t.ok(&["rm", &kept]);
    assert_eq!(volume_names(&t), names, "rm without -v keeps anonymous volumes, as docker does");

    t.ok(&["volume", "create", "named"]);
    let c = t.ok(&["create", "-v", "named:/data", "withvol", "true"]).trim().to_string();
    let with_new: Vec<String> = volume_names(&t).into_iter().filter(|n| !names.contains(n) && n != "named").collect();
    assert_eq!(with_new.len(), 1, "{with_new:?}");
    t.ok(&["rm", "-v", &c]);
    let mut left = volume_names(&t);
    left.sort();
    let mut expect = vec![names[0].clone(), "named".to_string()];
    expect.sort();
    assert_eq!(left, expect, "rm -v removes the container's anonymous volume and keeps named ones");
}

#[test]
fn system_prune_volumes_removes_unused_anonymous_volumes() {
    let t = busybox();
    t.ok(&["volume", "create", "named"]);
    let anon = t.ok(&["volume", "create"]).trim().to_string();
    t.ok(&["create", "-v", "/used", "busybox", "true"]);
    assert_eq!(volume_names(&t).len(), 3);
    t.ok(&["system", "prune", "-f"]);
    assert_eq!(volume_names(&t).len(), 3, "without --volumes no volume is pruned");
    // The stopped container goes first, so its anonymous volume is unused by then.
    let out = t.ok(&["system", "prune", "--volumes", "-f"]);
    assert!(out.contains("Deleted Volumes:\n") && out.contains(&anon), "{out}");
    assert_eq!(volume_names(&t), ["named"]);
}

#[test]
fn a_new_volume_is_initialised_from_the_image_content_at_its_path() {
    let t = busybox();
    t.write("Dockerfile", "FROM busybox\nRUN mkdir -p /seed/sub && echo from-image > /seed/sub/f && chown 1234 /seed/sub/f\nRUN mkdir /anon && echo anon > /anon/a\nVOLUME /anon\n");
    t.build("seeded", &[]);
    t.ok(&["run", "--rm", "-v", "seeded-vol:/seed", "seeded", "sh", "-c", "echo added > /seed/g"]);
    let data = t.root().join("volumes/seeded-vol/_data");
    assert_eq!(std::fs::read_to_string(data.join("sub/f")).unwrap(), "from-image\n");
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(data.join("sub/f")).unwrap()), 1234);
    // Not empty any more: a second use keeps what the first wrote and does not copy again.
    let out = t.ok(&["run", "--rm", "-v", "seeded-vol:/seed", "seeded", "sh", "-c", "rm /seed/sub/f; cat /seed/g"]);
    assert_eq!(out, "added\n");
    assert_eq!(t.ok(&["run", "--rm", "-v", "seeded-vol:/seed", "seeded", "ls", "/seed/sub"]), "");
    // An image VOLUME's anonymous volume starts with the image's content at that path too.
    assert_eq!(t.ok(&["run", "--rm", "seeded", "cat", "/anon/a"]), "anon\n");
    // The copy backend (where overlayfs cannot be mounted) copies up the same content.
    let out = t
        .rbuild()
        .env("RBUILD_SNAPSHOTTER", "copy")
        .args(["run", "--rm", "-v", "copied:/seed", "seeded", "cat", "/seed/sub/f"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "from-image\n", "{}", String::from_utf8_lossy(&out.stderr));
    // A volume mounted where the image has nothing starts empty.
    assert_eq!(t.ok(&["run", "--rm", "-v", "fresh:/nothing", "seeded", "ls", "-A", "/nothing"]), "");
    let left: Vec<_> = std::fs::read_dir(t.root().join("tmp")).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(left.is_empty(), "the image views' scratch dirs and mount points are gone: {left:?}");
}

#[test]
fn read_only_makes_the_rootfs_read_only_but_not_volumes() {
    let t = busybox();
    let out = t.rbuild().args(["run", "--rm", "--read-only", "busybox", "touch", "/x"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "touch /x on a read-only rootfs must fail: {stderr}");
    assert!(stderr.contains("Read-only file system"), "{stderr}");
    t.ok(&["run", "--rm", "--read-only", "-v", "rw:/data", "busybox", "touch", "/data/x", "/dev/shm/y"]);
    assert!(t.root().join("volumes/rw/_data/x").exists());
    // Without the flag the same write succeeds.
    t.ok(&["run", "--rm", "busybox", "touch", "/x"]);
}

#[test]
fn mount_long_form_mounts_volumes_and_binds() {
    let t = busybox();
    let host = t.path("host");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("h"), "from-host\n").unwrap();
    let bind = format!("type=bind,source={},target=/h,readonly", host.display());
    t.ok(&["run", "--rm", "--mount", "type=volume,source=long,target=/m", "busybox", "sh", "-c", "echo v > /m/f"]);
    assert_eq!(
        t.ok(&["run", "--rm", "-v", "long:/m", "--mount", &bind, "busybox", "cat", "/m/f", "/h/h"]),
        "v\nfrom-host\n"
    );
    let out = t.rbuild().args(["run", "--rm", "--mount", &bind, "busybox", "touch", "/h/new"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "a readonly bind refuses writes");
    assert!(!host.join("new").exists());
    let err = t.fails(&["run", "--rm", "--mount", "type=bind,target=/h", "busybox", "true"], 2);
    assert!(err.contains("source is required when specifying a bind mount"), "{err}");
}

#[test]
fn mount_type_tmpfs_is_a_fresh_writable_tmpfs_even_on_a_read_only_rootfs() {
    let t = busybox();
    let out = t.ok(&[
        "run",
        "--rm",
        "--read-only",
        "--mount",
        "type=tmpfs,target=/scratch",
        "busybox",
        "sh",
        "-c",
        "touch /scratch/x && grep ' /scratch ' /proc/mounts | cut -d' ' -f3",
    ]);
    assert_eq!(out, "tmpfs\n");
    assert!(volume_names(&t).is_empty(), "a tmpfs mount makes no volume");
}
