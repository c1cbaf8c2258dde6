//! Image lifecycle end to end (issue 9): no-op rebuilds, garbage collection, prune commands, system df and
//! check, driven through the real binary over temp stores.

mod common;

use common::{noise, TestContext};
use serde_json::Value;

const DOCKERFILE: &str =
    "FROM busybox\nENV A=1\nCOPY a.txt /a.txt\nRUN echo hi > /x\nCOPY b.txt /b.txt\nLABEL l=v\nCMD [\"sh\"]\n";

/// Manifests in index.json that carry no name: `<none>:<none>` images.
fn dangling(t: &TestContext) -> Vec<Value> {
    let index = t.index();
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["annotations"]["org.opencontainers.image.ref.name"].is_null())
        .cloned()
        .collect()
}

#[test]
fn defect1_fully_cached_rebuilds_give_one_image_and_no_dangling_one() {
    let t = TestContext::busybox();
    t.write("Dockerfile", DOCKERFILE);
    t.write("a.txt", "a");
    t.write("b.txt", "one");
    let first = t.build("app:1", &[]);
    let manifest = t.index_entry("app:1")["digest"].as_str().unwrap().to_string();
    for _ in 0..3 {
        assert_eq!(t.build("app:1", &[]), first, "a fully cached rebuild gives the same image ID");
        assert_eq!(t.index_entry("app:1")["digest"].as_str().unwrap().to_string(), manifest, "and the same manifest");
        assert!(dangling(&t).is_empty(), "and leaves no <none> image: {}", t.index());
    }
    let history = t.config("app:1")["history"].clone();
    t.write("b.txt", "two");
    let second = t.build("app:1", &[]);
    assert_ne!(second, first);
    assert_eq!(dangling(&t).len(), 1, "one change, one <none> image: {}", t.index());
    // The layer steps before the change kept the time of their first build (COPY a.txt, RUN), the
    // changed one has a new one.
    let now = t.config("app:1")["history"].clone();
    let n = history.as_array().unwrap().len();
    assert_eq!(now[n - 5]["created"], history[n - 5]["created"]);
    assert_eq!(now[n - 4]["created"], history[n - 4]["created"]);
    assert_ne!(now[n - 3]["created"], history[n - 3]["created"]);
    assert_eq!(t.build("app:1", &[]), second);
    assert_eq!(dangling(&t).len(), 1);
}

/// Every file (not dir) under `dir`, relative, sorted; none when it does not exist.
fn files_under(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            if e.file_type().unwrap().is_dir() {
                out.push(format!("{}/", e.path().strip_prefix(dir).unwrap().display()));
                pending.push(e.path());
            } else {
                out.push(e.path().strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn defect2_image_prune_then_system_prune_all_leave_nothing_unreferenced() {
    let t = TestContext::busybox();
    t.write("Dockerfile", DOCKERFILE);
    t.write("a.txt", "a");
    t.write("b.txt", "one");
    t.build("app:1", &[]);
    let old = t.index()["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == "app:1")
        .unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let old_config =
        serde_json::from_slice::<Value>(&t.blob(&old)).unwrap()["config"]["digest"].as_str().unwrap().to_string();
    t.write("b.txt", "two");
    t.build("app:1", &[]);
    let layers_before: Vec<Vec<u8>> = (0..t.layer_count("app:1"))
        .map(|i| t.blob(t.manifest("app:1")["layers"][i]["digest"].as_str().unwrap()))
        .collect();
    assert_eq!(dangling(&t).len(), 1);
    let out = t.ok(&["image", "prune", "-f"]);
    assert!(out.contains("1 dangling image(s) removed"), "{out}");
    assert!(dangling(&t).is_empty());
    let blobs = t.root().join("oci/blobs/sha256");
    assert!(!blobs.join(&old[7..]).exists(), "the dangling manifest is swept");
    assert!(!blobs.join(&old_config[7..]).exists(), "and its config");
    for (i, bytes) in layers_before.iter().enumerate() {
        assert_eq!(&t.blob(t.manifest("app:1")["layers"][i]["digest"].as_str().unwrap()), bytes);
    }
    assert!(!files_under(&t.root().join("snapshots")).is_empty(), "the build left snapshots");
    assert!(!files_under(&t.root().join("cache/steps")).is_empty(), "and step records");

    t.ok(&["rmi", "app:1", "busybox:latest"]);
    let out = t.ok(&["system", "prune", "-a", "-f"]);
    assert!(out.contains("reclaimed"), "{out}");
    assert_eq!(files_under(&t.root().join("snapshots")), Vec::<String>::new());
    assert_eq!(files_under(&t.root().join("cache/steps")), Vec::<String>::new());
    assert_eq!(files_under(&t.root().join("cache/images")), Vec::<String>::new());
    assert_eq!(files_under(&blobs), Vec::<String>::new(), "no image left: no blob left");
    t.ok(&["system", "check"]);
}

#[test]
fn defect2_keep_storage_drops_least_recently_used_cache_first() {
    let t = TestContext::new();
    t.write("Dockerfile", "FROM scratch\nCOPY big /big\n");
    let mut layers = Vec::new();
    for i in 0..4u64 {
        std::fs::write(t.ctx().join("big"), noise(40 << 20, i + 1)).unwrap();
        t.build(&format!("big:{i}"), &["--compression", "zstd"]);
        layers.push(t.manifest(&format!("big:{i}"))["layers"][0]["digest"].as_str().unwrap().to_string());
    }
    // Build 0 again: a cache hit makes its record the most recently used.
    std::fs::write(t.ctx().join("big"), noise(40 << 20, 1)).unwrap();
    t.build("big:0", &["--compression", "zstd"]);
    t.ok(&["rmi", "big:0", "big:1", "big:2", "big:3"]);
    let blobs = t.root().join("oci/blobs/sha256");
    assert!(layers.iter().all(|l| blobs.join(&l[7..]).exists()), "step records keep their layers after rmi");
    t.ok(&["builder", "prune", "-f", "--keep-storage", "100MB"]);
    let kept: Vec<bool> = layers.iter().map(|l| blobs.join(&l[7..]).exists()).collect();
    assert_eq!(kept, [true, false, false, true], "the two least recently used go (40 MiB each, 100 MiB kept)");
    let du: u64 = std::fs::read_dir(&blobs).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum();
    assert!(du <= 100 << 20, "build cache {du} bytes");
}

#[test]
fn defect2_builds_racing_system_prune_all_succeed_and_leave_a_clean_store() {
    let t = std::sync::Arc::new(TestContext::new());
    t.ok(&["images"]);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let pruner = {
        let (t, stop) = (t.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut runs = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                t.ok(&["system", "prune", "-a", "-f"]);
                runs += 1;
            }
            runs
        })
    };
    let builders: Vec<_> = (0..4)
        .map(|i| {
            let t = t.clone();
            std::thread::spawn(move || {
                let ctx = t.dir.path().join(format!("ctx{i}"));
                std::fs::create_dir_all(&ctx).unwrap();
                std::fs::write(ctx.join("Dockerfile"), "FROM scratch\nCOPY a /a\nCOPY b /b\nCOPY c /c\n").unwrap();
                for round in 0..3 {
                    for f in ["a", "b", "c"] {
                        std::fs::write(ctx.join(f), noise(1 << 20, (i * 10 + round) as u64 + f.len() as u64)).unwrap();
                    }
                    let out =
                        t.rbuild().args(["build", "-q", "-t", &format!("race{i}:{round}")]).arg(&ctx).output().unwrap();
                    assert!(out.status.success(), "build {i}/{round} failed: {}", String::from_utf8_lossy(&out.stderr));
                }
            })
        })
        .collect();
    for b in builders {
        b.join().unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(pruner.join().unwrap() > 0);
    // Every image still named is complete; the store is consistent.
    let index = t.index();
    for m in index["manifests"].as_array().unwrap() {
        let manifest: Value = serde_json::from_slice(&t.blob(m["digest"].as_str().unwrap())).unwrap();
        t.blob(manifest["config"]["digest"].as_str().unwrap());
        for l in manifest["layers"].as_array().unwrap() {
            t.blob(l["digest"].as_str().unwrap());
        }
    }
    t.ok(&["system", "check"]);
}

#[test]
fn defect2_automatic_gc_keeps_the_configured_storage_and_can_be_turned_off() {
    let t = TestContext::new();
    t.write("Dockerfile", "FROM scratch\nCOPY big /big\n");
    t.ok(&["images"]);
    std::fs::write(t.root().join("config.json"), r#"{"gc": {"keep-storage": "3MB"}}"#).unwrap();
    let blobs = t.root().join("oci/blobs/sha256");
    let mut layers = Vec::new();
    for i in 0..3u64 {
        std::fs::write(t.ctx().join("big"), noise(2 << 20, i + 7)).unwrap();
        t.build("auto:1", &["--compression", "zstd"]);
        layers.push(t.manifest("auto:1")["layers"][0]["digest"].as_str().unwrap()[7..].to_string());
        t.ok(&["rmi", "auto:1"]);
    }
    // After the third build, 4 MiB of cache no image uses (builds 0 and 1) exceeded 3 MiB: build 0's went.
    let kept: Vec<bool> = layers.iter().map(|l| blobs.join(l).exists()).collect();
    assert_eq!(kept, [false, true, true]);
    std::fs::write(t.root().join("config.json"), r#"{"gc": {"enabled": false, "keep-storage": "1"}}"#).unwrap();
    std::fs::write(t.ctx().join("big"), noise(2 << 20, 99)).unwrap();
    t.build("auto:2", &["--compression", "zstd"]);
    assert!(layers[1..].iter().all(|l| blobs.join(l).exists()), "gc off: nothing pruned");
    std::fs::write(t.root().join("config.json"), r#"{"gc": {"keep-storage": "lots"}}"#).unwrap();
    let out = t.rbuild().args(["build", "-t", "auto:3"]).arg(t.ctx()).output().unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("gc.keep-storage \"lots\""),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn system_df_adds_up_to_what_du_measures() {
    let t = TestContext::busybox();
    t.write("Dockerfile", DOCKERFILE);
    t.write("a.txt", "a");
    std::fs::write(t.ctx().join("b.txt"), noise(3 << 20, 5)).unwrap();
    t.build("app:1", &[]);
    std::fs::write(t.ctx().join("b.txt"), noise(3 << 20, 6)).unwrap();
    t.build("app:1", &[]);
    let rows: Vec<Value> =
        t.ok(&["system", "df", "--format", "json"]).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let reported: u64 = rows.iter().map(|r| r["SizeBytes"].as_u64().unwrap()).sum();
    let dirs: Vec<_> = ["oci/blobs", "snapshots", "cache", "containers"]
        .iter()
        .map(|d| t.root().join(d))
        .filter(|d| d.exists())
        .collect();
    let du = std::process::Command::new("du").args(["-s", "-c", "--block-size=1"]).args(&dirs).output().unwrap();
    let du = String::from_utf8(du.stdout).unwrap();
    let total: u64 = du.lines().last().unwrap().split_whitespace().next().unwrap().parse().unwrap();
    let off = reported.abs_diff(total) as f64 / total as f64;
    assert!(off < 0.01, "system df says {reported} bytes, du {total}: {rows:?}\n{du}");
    let table = t.ok(&["system", "df", "-v"]);
    for word in ["Images", "Snapshots", "Build Cache", "SHARED SIZE", "app"] {
        assert!(table.contains(word), "{table}");
    }
}

#[test]
fn system_check_repair_removes_only_what_is_provably_broken() {
    let t = TestContext::new();
    t.write("Dockerfile", "FROM scratch\nCOPY f /f\n");
    t.write("f", "app");
    t.build("app:1", &[]);
    t.write("f", "other");
    t.build("other:1", &[]);
    let blobs = t.root().join("oci/blobs/sha256");
    let other = t.index_entry("other:1")["digest"].as_str().unwrap().to_string();
    let app_layer = t.manifest("app:1")["layers"][0]["digest"].as_str().unwrap().to_string();
    std::fs::write(blobs.join(&other[7..]), b"garbage").unwrap();
    std::fs::write(blobs.join(&app_layer[7..]), b"garbage").unwrap();
    std::fs::write(blobs.join("not-a-digest"), b"someone's file").unwrap();
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let debris = t.root().join(format!("tmp/blob-{dead}-AbCd12"));
    std::fs::write(&debris, b"half a blob").unwrap();
    let before = t.rbuild().args(["system", "check"]).output().unwrap();
    assert_eq!(before.status.code(), Some(1));
    assert!(before.stdout.is_empty() || !String::from_utf8_lossy(&before.stdout).contains("removed"));
    assert!(blobs.join(&other[7..]).exists() && debris.exists(), "check alone changes nothing");

    let out = t.rbuild().args(["system", "check", "--repair"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "an incomplete image and a stray file are left: {stdout}");
    assert!(!blobs.join(&other[7..]).exists() && !blobs.join(&app_layer[7..]).exists(), "{stdout}");
    assert!(!debris.exists(), "{stdout}");
    assert!(blobs.join("not-a-digest").exists(), "a stray file is not ours to judge");
    assert!(stdout.contains(&format!("removed: index.json: other:1 pointed at manifest {other}")), "{stdout}");
    assert!(stdout.contains("step cache record names"), "the record of the corrupt layer goes: {stdout}");
    assert!(
        t.index()["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["annotations"]["org.opencontainers.image.ref.name"] == "app:1"),
        "an incomplete image keeps its name"
    );
    // After `rmi` of the incomplete image, the store is clean; the lost layer is rebuilt, not reused.
    t.ok(&["rmi", "app:1"]);
    std::fs::remove_file(blobs.join("not-a-digest")).unwrap();
    t.ok(&["system", "check"]);
    t.write("f", "app");
    t.build("app:1", &[]);
    t.ok(&["system", "check"]);
}

#[test]
fn history_shows_docker_columns_newest_first() {
    let t = TestContext::new();
    let long = "/a/very/long/path/name/that/goes/past/forty-five/characters";
    t.write("Dockerfile", &format!("FROM scratch\nENV A=1\nCOPY f /f\nLABEL a=b\nCOPY f {long}\n"));
    t.write("f", "x");
    let id = t.build("h:1", &[]);
    let table = t.ok(&["history", "h:1"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("IMAGE") && lines[0].contains("CREATED BY") && lines[0].ends_with("COMMENT"),
        "{table}"
    );
    assert_eq!(lines.len(), 5, "{table}");
    assert!(lines[1].starts_with(&id[7..19]), "the newest line carries the image ID: {table}");
    assert!(lines[1].contains("COPY f /a/very/long/path/name/that/goes/past…"), "{table}");
    assert!(lines[2].starts_with("<missing>") && lines[2].contains("LABEL a=b") && lines[2].contains("0B"), "{table}");
    assert!(lines[4].contains("ENV A=1"), "{table}");
    let full = t.ok(&["history", "--no-trunc", "--format", "{{.ID}}\\t{{.CreatedBy}}", "h:1"]);
    assert_eq!(full.lines().next().unwrap(), format!("{id}\tCOPY f {long}"));
    let json: Value =
        serde_json::from_str(t.ok(&["history", "--format", "json", "h:1"]).lines().nth(2).unwrap()).unwrap();
    assert_eq!(json["CreatedBy"], "COPY f /f");
    assert_eq!(json["Comment"], "rbuild");
    assert!(json["Size"].as_str().unwrap().ends_with('B'));
    let missing = t.rbuild().args(["history", "nope:1"]).output().unwrap();
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("image \"nope:1\" not found"));
}

#[test]
fn a_closed_pipe_ends_every_listing_quietly() {
    let t = TestContext::new();
    t.write("Dockerfile", "FROM scratch\nCOPY f /f\n");
    t.write("f", "x");
    t.build("p:1", &[]);
    for args in [
        &["history", "p:1"][..],
        &["images"],
        &["images", "-q"],
        &["images", "--format", "json"],
        &["images", "--format", "table {{.ID}}"],
        &["inspect", "p:1"],
        &["system", "df", "-v"],
    ] {
        // The reading end is closed before rbuild writes: its first write fails with EPIPE.
        let (reader, writer) = nix::unistd::pipe().unwrap();
        drop(reader);
        let out = t.process().args(args).stdout(std::process::Stdio::from(writer)).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{args:?}");
    }
}

#[test]
fn an_unknown_subcommand_says_so() {
    let t = TestContext::new();
    let err = t.fails(&["frobnicate"], 2);
    assert!(err.contains("unrecognized subcommand 'frobnicate'"), "{err}");
}

/// Four images at fixed creation times (SOURCE_DATE_EPOCH): base:1 (label tier=base), app1:1 and app2:1
/// (tier=web, app2 also tagged app2:latest), and one dangling image (web:1 rebuilt with other content).
fn listing_store(t: &TestContext) {
    t.write("f", "x");
    for (tag, epoch, tier) in
        [("base:1", 100, "base"), ("app1:1", 200, "web"), ("app2:1", 300, "web"), ("web:1", 400, "web")]
    {
        t.write("Dockerfile", &format!("FROM scratch\nLABEL tier={tier} name={tag}\nCOPY f /f\n"));
        t.build(tag, &["--build-arg", &format!("SOURCE_DATE_EPOCH={epoch}")]);
    }
    t.ok(&["tag", "app2:1", "app2:latest"]);
    t.write("f", "changed");
    t.build("web:1", &["--build-arg", "SOURCE_DATE_EPOCH=500"]);
}

#[test]
fn defect8_images_filter_dangling_reference_label_before_since() {
    let t = TestContext::new();
    listing_store(&t);
    let names = |filters: &[&str]| -> Vec<String> {
        let mut args = vec!["images", "--format", "{{.Repository}}:{{.Tag}}"];
        for f in filters {
            args.extend(["--filter", f]);
        }
        t.ok(&args).lines().map(String::from).collect()
    };
    assert_eq!(names(&[]), ["web:1", "<none>:<none>", "app2:1", "app2:latest", "app1:1", "base:1"]);
    assert_eq!(names(&["dangling=true"]), ["<none>:<none>"]);
    assert_eq!(names(&["dangling=false"]), ["web:1", "app2:1", "app2:latest", "app1:1", "base:1"]);
    // Only the matching names of an image are listed; a bare repository pattern matches every tag.
    assert_eq!(names(&["reference=app2:l*"]), ["app2:latest"]);
    assert_eq!(names(&["reference=app*"]), ["app2:1", "app2:latest", "app1:1"]);
    // The same key repeated ORs (reference) ...
    assert_eq!(names(&["reference=base", "reference=web"]), ["web:1", "base:1"]);
    // ... different keys AND.
    assert_eq!(names(&["label=tier=web", "reference=app1"]), ["app1:1"]);
    assert_eq!(names(&["label=tier=web", "dangling=false"]), ["web:1", "app2:1", "app2:latest", "app1:1"]);
    assert_eq!(names(&["label=tier"]).len(), 6);
    // Repeated labels must all match.
    assert_eq!(names(&["label=tier=web", "label=name=app1:1"]), ["app1:1"]);
    assert_eq!(names(&["before=app2:1"]), ["app1:1", "base:1"]);
    assert_eq!(names(&["since=app2:1"]), ["web:1", "<none>:<none>"]);
    assert_eq!(names(&["since=base:1", "before=web:1", "reference=app1"]), ["app1:1"]);
    // The positional REPOSITORY[:TAG] is a reference filter, as in docker.
    assert_eq!(t.ok(&["images", "-q", "app2"]).lines().count(), 2);
    assert_eq!(t.ok(&["images", "--format", "{{.Tag}}", "docker.io/library/app2:1"]), "1\n");

    for (bad, what) in
        [("dangling=maybe", "true or false"), ("colour=red", "unknown filter"), ("reference=[", "pattern")]
    {
        let err = t.fails(&["images", "--filter", bad], 2);
        assert!(err.contains(bad) && err.contains(what), "{err}");
    }
    let err = t.fails(&["images", "--filter", "before=nope:1"], 1);
    assert!(err.contains("image \"nope:1\" not found"), "{err}");
}

#[test]
fn defect8_table_format_gives_docker_headers_and_aligned_columns() {
    let t = TestContext::new();
    listing_store(&t);
    let table = t.ok(&[
        "images",
        "--filter",
        "reference=app1",
        "--format",
        r"table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedAt}}",
    ]);
    let id = &t.ok(&["images", "-q", "app1:1"])[..12];
    // Go's tabwriter with docker's settings: each column is max(10, widest cell + 3) wide.
    assert_eq!(
        table,
        format!("REPOSITORY   TAG       IMAGE ID       CREATED AT\napp1         1         {id}   1970-01-01 00:03:20 +0000 UTC\n")
    );
    // `json` is one object per line with docker's field names.
    let json = t.ok(&["images", "--format", "json", "app1:1"]);
    let row: Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(
        (row["Repository"].as_str(), row["Tag"].as_str(), row["ID"].as_str()),
        (Some("app1"), Some("1"), Some(id))
    );
    // history and system df take the same formats.
    let history = t.ok(&["history", "--format", r"table {{.CreatedBy}}\t{{.Size}}", "app1:1"]);
    assert_eq!(history.lines().next().unwrap(), "CREATED BY                   SIZE");
    let df = t.ok(&["system", "df", "--format", r"table {{.Type}}\t{{.TotalCount}}"]);
    assert_eq!(df.lines().next().unwrap(), "TYPE                 TOTAL");
    assert!(df.lines().nth(1).unwrap().starts_with("Images               5"), "{df}");
    let plain = t.ok(&["system", "df", "--format", "{{.Type}}={{.TotalCount}}"]);
    assert_eq!(plain.lines().next().unwrap(), "Images=5");
}
