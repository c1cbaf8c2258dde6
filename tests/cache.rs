//! The step cache: unchanged steps are reused (and say CACHED), any change to what a step reads or runs
//! with runs it and everything after it again, `--no-cache` runs everything, and a record whose layer was
//! garbage-collected is a miss, not an error.

mod common;

use common::{require_root, TestContext};

/// Build and return (stderr, layer digests).
fn build(t: &TestContext, tag: &str, extra: &[&str]) -> (String, Vec<String>) {
    let out = t.rbuild().args(["build", "-t", tag]).args(extra).arg(t.ctx()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    let layers = t.manifest(tag)["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect();
    (stderr, layers)
}

fn cached_lines(stderr: &str) -> Vec<String> {
    stderr.lines().filter(|l| l.ends_with("CACHED")).map(String::from).collect()
}

#[test]
fn unchanged_steps_are_reused_and_changes_invalidate_what_follows() {
    require_root();
    let t = TestContext::new();
    t.import_busybox();
    t.write("a.txt", "a1");
    t.write("b.txt", "b1");
    t.write(
        "Dockerfile",
        "FROM busybox:latest\nARG V=1\nCOPY a.txt /a\nRUN cat /proc/sys/kernel/random/uuid > /run-a\nCOPY b.txt /b\nRUN cat /proc/sys/kernel/random/uuid > /run-b\n",
    );
    let (first, l1) = build(&t, "c:1", &[]);
    assert!(cached_lines(&first).is_empty(), "{first}");

    let (second, l2) = build(&t, "c:2", &[]);
    assert_eq!(cached_lines(&second).len(), 4, "every layer step is reused:\n{second}");
    assert_eq!(l1, l2, "same layers: the RUNs did not run again (their output is random)");

    // A new mtime alone changes nothing.
    let f = std::fs::File::options().write(true).open(t.ctx().join("b.txt")).unwrap();
    f.set_modified(std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(12345)).unwrap();
    let (_, l3) = build(&t, "c:3", &[]);
    assert_eq!(l1, l3);

    // New content in b.txt: the first two steps stay, the last two run again.
    t.write("b.txt", "b2");
    let (fourth, l4) = build(&t, "c:4", &[]);
    assert_eq!(cached_lines(&fourth).len(), 2, "{fourth}");
    assert_eq!(l4[..3], l1[..3], "base, COPY a, RUN a reused");
    assert_ne!(l4[3], l1[3]);
    assert_ne!(l4[4], l1[4], "the RUN after a changed COPY runs again");

    // A different ARG value is a different input for every later step.
    let (fifth, l5) = build(&t, "c:5", &["--build-arg", "V=2"]);
    assert!(cached_lines(&fifth).is_empty(), "{fifth}");
    assert_ne!(l5[2], l4[2]);

    // --no-cache runs everything.
    let (sixth, l6) = build(&t, "c:6", &["--no-cache"]);
    assert!(cached_lines(&sixth).is_empty(), "{sixth}");
    assert_ne!(l6[2], l4[2], "the RUN ran again");
}

#[test]
fn a_record_whose_layer_is_gone_is_a_miss() {
    require_root();
    let t = TestContext::new();
    t.import_busybox();
    t.write("Dockerfile", "FROM busybox:latest\nRUN echo x > /x\n");
    build(&t, "gone:1", &[]);
    let layer = t.manifest("gone:1")["layers"][1]["digest"].as_str().unwrap()[7..].to_string();
    t.rbuild().args(["rmi", "gone:1"]).assert().success();
    // The step record keeps its layer through rmi (it is build cache); a layer lost anyway is a miss.
    let blob = t.root().join("oci/blobs/sha256").join(layer);
    assert!(blob.exists());
    std::fs::remove_file(&blob).unwrap();
    let (stderr, layers) = build(&t, "gone:2", &[]);
    assert!(cached_lines(&stderr).is_empty(), "the layer is gone, so the step runs: {stderr}");
    assert_eq!(layers.len(), 2);
    assert_eq!(t.layer("gone:2", 1)["x"].data, b"x\n");
}

#[test]
fn copy_from_another_stage_is_keyed_by_that_stage() {
    require_root();
    let t = TestContext::new();
    t.import_busybox();
    t.write("v.txt", "1");
    t.write(
        "Dockerfile",
        "FROM busybox:latest AS gen\nCOPY v.txt /v\nRUN cp /v /out\n\nFROM scratch\nCOPY --from=gen /out /out\n",
    );
    let (_, l1) = build(&t, "st:1", &[]);
    t.write("v.txt", "2");
    let (stderr, l2) = build(&t, "st:2", &[]);
    assert_ne!(l1, l2, "a change in the source stage reaches the COPY --from: {stderr}");
    assert_eq!(t.layer("st:2", 0)["out"].data, b"2");
}

/// Each record file of `dir` by name: (inode, mtime in ns).
fn stamps(dir: &std::path::Path) -> std::collections::BTreeMap<String, (u64, i128)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| {
            let m = e.metadata().unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                (m.ino(), m.mtime() as i128 * 1_000_000_000 + m.mtime_nsec() as i128),
            )
        })
        .collect()
}

#[test]
fn a_warm_rebuild_touches_its_records_and_blobs_without_rewriting_them() {
    let t = TestContext::new();
    t.write("a.txt", "a1");
    t.write("Dockerfile", "FROM scratch\nCOPY a.txt /a\nENV K=v\nCOPY a.txt /b\n");
    build(&t, "w:1", &[]);
    let root = t.root();
    let (steps, images, blobs) = (root.join("cache/steps"), root.join("cache/images"), root.join("oci/blobs/sha256"));
    let before = [stamps(&steps), stamps(&images), stamps(&blobs)];
    std::thread::sleep(std::time::Duration::from_millis(20));
    // --debug says which snapshot backend a build chose, once it needs one: every step is cached, so this
    // build never probes for overlayfs (a mount, an unmount that syncs, five rmdirs).
    let out = t.rbuild().args(["--debug", "build", "-t", "w:1"]).arg(t.ctx()).output().unwrap();
    let second = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{second}");
    assert_eq!(cached_lines(&second).len(), 2, "{second}");
    assert!(!second.contains("snapshots:"), "a fully cached build chose a snapshot backend: {second}");
    for (dir, old) in [&steps, &images, &blobs].into_iter().zip(before) {
        let new = stamps(dir);
        assert_eq!(new.keys().collect::<Vec<_>>(), old.keys().collect::<Vec<_>>(), "{}: nothing new", dir.display());
        for (name, (ino, mtime)) in &new {
            // Same inode: not replaced by a temp file and a rename (nor, for the config and manifest, written
            // again and fsynced).
            assert_eq!(*ino, old[name].0, "{}/{name} was rewritten", dir.display());
            // Records get a later mtime: the least recently used order `builder prune --keep-storage` drops by.
            if dir != &blobs {
                assert!(*mtime > old[name].1, "{}/{name} was not touched", dir.display());
            }
        }
    }
}

#[test]
fn context_digests_are_a_table_a_damaged_one_is_no_cache_and_prune_all_drops_it() {
    require_root();
    let t = TestContext::new();
    t.write("a.txt", "a1");
    t.write("sub/b.txt", "b1");
    t.write("Dockerfile", "FROM scratch\nCOPY . /app/\n");
    let (_, l1) = build(&t, "d:1", &[]);
    let dir = t.root().join("cache/context");
    let tables = || -> Vec<String> {
        let names = std::fs::read_dir(&dir).map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()));
        names.map(|n| n.filter(|n| !n.starts_with("copy-")).collect()).unwrap_or_default()
    };
    let table = tables();
    assert!(table.len() == 1 && table[0].ends_with(".bin"), "{table:?}");
    // Torn: the next build reads the files again, computes the same key, and writes a good table.
    std::fs::write(dir.join(&table[0]), b"torn").unwrap();
    let (second, l2) = build(&t, "d:2", &[]);
    assert_eq!(l1, l2);
    assert_eq!(cached_lines(&second).len(), 1, "{second}");
    assert!(std::fs::metadata(dir.join(&table[0])).unwrap().len() > 100);
    // A changed file still changes the key.
    t.write("sub/b.txt", "b2");
    let (third, l3) = build(&t, "d:3", &[]);
    assert!(cached_lines(&third).is_empty(), "{third}");
    assert_ne!(l1, l3);
    t.ok(&["builder", "prune", "-a", "-f"]);
    assert!(tables().is_empty(), "{:?}", tables());
}
