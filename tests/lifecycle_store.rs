//! Image lifecycle under bad conditions (issue 9, "bad input"): removing images that a running
//! container or build uses, a store on a full disk, and `system check` of snapshots.

mod common;

use common::{noise, pids_with, require_root, wait_until, TestContext};
use std::process::Stdio;

#[test]
fn defect9_rmi_and_prune_of_an_image_a_running_container_uses_are_refused() {
    let t = TestContext::busybox();
    let id = t.ok(&["images", "-q", "--no-trunc", "busybox"]).trim().to_string();
    let marker = format!("RBUILD_TEST_INUSE={}", std::process::id());
    let mut child = t
        .process()
        .args(["run", "--rm", "-e", &marker, "busybox", "sleep", "100"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("the container to run", || !pids_with(&marker).is_empty());

    let err = t.fails(&["rmi", "busybox"], 1);
    assert!(err.contains("unable to remove repository reference \"busybox:latest\" (must force)"), "{err}");
    assert!(err.contains("running build or container"), "{err}");
    for args in [&["rmi", &id][..], &["rmi", "-f", &id]] {
        let err = t.fails(args, 1);
        assert!(err.contains(&format!("unable to delete {} (cannot be forced)", &id[7..19])), "{err}");
    }
    // -f of the last name untags it; the image stays, dangling, while the container runs.
    let out = t.ok(&["rmi", "-f", "busybox"]);
    assert_eq!(out.trim(), "Untagged: busybox:latest");
    let dangling = || t.ok(&["images", "-q", "--no-trunc", "--filter", "dangling=true"]);
    assert_eq!(dangling().trim(), id);
    for prune in [&["image", "prune", "-f"][..], &["image", "prune", "-a", "-f"], &["system", "prune", "-a", "-f"]] {
        t.ok(prune);
        assert_eq!(dangling().trim(), id, "{prune:?} removed an image in use");
    }
    t.ok(&["system", "check"]);

    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    child.wait().unwrap();
    // Once the container has ended, the dangling image is pruned as any other.
    t.ok(&["image", "prune", "-f"]);
    assert_eq!(dangling(), "");
    t.ok(&["system", "check"]);
}

/// A tmpfs mounted on the test's store root, unmounted when dropped (also when the test fails).
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(path: std::path::PathBuf, size: &str) -> SmallDisk {
        std::fs::create_dir_all(&path).unwrap();
        nix::mount::mount(
            Some("tmpfs"),
            &path,
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            Some(format!("size={size},mode=0700").as_str()),
        )
        .expect("mounting a tmpfs for the store (needs root)");
        SmallDisk(path)
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

#[test]
fn defect9_a_full_disk_fails_with_the_path_and_leaves_the_store_consistent() {
    require_root();
    let t = TestContext::new();
    let _disk = SmallDisk::mount(t.root(), "24m");
    t.write("Dockerfile", "FROM scratch\nCOPY small /small\n");
    t.write("small", "earlier image");
    let id = t.build("small:1", &[]);
    // 40 MB overflows the disk while COPY writes the file; 14 MB fits there, then overflows while
    // the layer blob (incompressible) is written next to it.
    for (size, stage) in [(40_000_000, "copying"), (14_000_000, "writing the layer")] {
        std::fs::write(t.ctx().join("big"), noise(size, 1)).unwrap();
        t.write("Dockerfile", "FROM scratch\nCOPY big /big\n");
        let out = t.rbuild().args(["build", "-q", "-t", "big:1"]).arg(t.ctx()).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.to_lowercase().contains("no space left on device"), "{err}");
        assert!(err.contains(stage) && err.contains(&t.root().display().to_string()), "names the path: {err}");
        assert!(err.contains("Dockerfile:2"), "{err}");
        let check = t.ok(&["system", "check"]);
        assert!(check.contains("0 problem(s)"), "{check}");
        assert_eq!(t.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]), "small:1\n");
        assert_eq!(t.ok(&["images", "-q", "--no-trunc", "small:1"]).trim(), id);
        assert_eq!(t.layer("small:1", 0)["small"].data, b"earlier image");
    }
}

#[test]
fn defect9_system_check_compares_snapshots_with_their_layers_and_repair_removes_a_broken_one() {
    let t = TestContext::busybox();
    t.write("Dockerfile", "FROM busybox\nRUN mkdir /d && echo made > /d/f && rm /bin/vi && chmod 700 /d\nCOPY a /a\n");
    t.write("a", "a");
    t.build("snap:1", &[]);
    // Snapshots unpacked from a layer (busybox) and adopted from a build's upper dir (RUN, COPY) agree
    // with their layers, whiteouts and all.
    let snapshots = t.root().join("snapshots");
    let count = std::fs::read_dir(&snapshots).unwrap().count();
    assert_eq!(count, 3, "busybox, RUN and COPY snapshots");
    let check = t.ok(&["system", "check"]);
    assert!(check.contains("0 problem(s)"), "{check}");

    // Corrupt the RUN step's snapshot: the file it wrote gets other bytes (of the same length).
    let run_snapshot = std::fs::read_dir(&snapshots)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.join("d/f").exists())
        .expect("the RUN step's snapshot");
    std::fs::write(run_snapshot.join("d/f"), "MADE\n").unwrap();
    let out = t.rbuild().args(["system", "check"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains(&format!("{}: snapshot of layer", run_snapshot.display())), "{stdout}");
    assert!(stdout.contains("d/f has other content"), "{stdout}");
    assert!(stdout.contains("1 problem(s)"), "{stdout}");

    let repaired = t.ok(&["system", "check", "--repair"]);
    assert!(repaired.contains(&format!("removed: {}", run_snapshot.display())), "{repaired}");
    assert!(repaired.contains("0 problem(s)"), "{repaired}");
    assert!(!run_snapshot.exists());
    // Only the broken one went, and the next user unpacks it again from the layer.
    assert_eq!(std::fs::read_dir(&snapshots).unwrap().count(), 2);
    let out = t.ok(&["run", "--rm", "snap:1", "cat", "/d/f", "/a"]);
    assert_eq!(out, "made\na");
    assert!(run_snapshot.join("d/f").exists());
    assert_eq!(std::fs::read_to_string(run_snapshot.join("d/f")).unwrap(), "made\n");
    assert!(t.ok(&["system", "check"]).contains("0 problem(s)"));
}
