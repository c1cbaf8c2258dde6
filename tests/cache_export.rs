//! The exportable build cache end to end: the real `rbuild` and Debian's `docker-registry` on 127.0.0.1.
//! The CI fleet scenario — store A builds and exports its cache, a fresh store B in another directory
//! builds the same context with only `--cache-from` — through a registry and through an OCI layout dir;
//! mode=min against mode=max; exported cache mounts; a tampered cache; a missing one.

mod common;
#[path = "registry/mod.rs"]
mod reg;

use common::{require_root, TestContext};
use reg::{busybox_source, out, rb, Registry};
use std::collections::BTreeSet;
use std::path::Path;

/// A registry holding busybox as `lib/bb:1`: the base both stores pull, so their base digests agree.
fn registry_with_base() -> Registry {
    let src = TestContext::new();
    let registry = Registry::start(reg::Options::default());
    registry.skopeo_copy(&busybox_source(&src), "lib/bb:1", &[]);
    registry
}

/// Two stages: the final one copies from `builder`, whose RUN output the final image needs only as a file.
fn dockerfile(registry: &Registry) -> String {
    format!(
        "FROM {r}/lib/bb:1 AS builder\n\
         RUN echo built > /b.txt; echo builder > /builder-only\n\
         FROM {r}/lib/bb:1\n\
         COPY a.txt /\n\
         RUN --mount=type=cache,id=apt,target=/var/cache/apt echo warm > /var/cache/apt/pkg; echo run > /r.txt\n\
         COPY --from=builder /b.txt /\n\
         RUN cat /b.txt /a.txt > /both.txt\n\
         ENV X=1\n",
        r = registry.host
    )
}

fn context(t: &TestContext, registry: &Registry) {
    t.write("Dockerfile", &dockerfile(registry));
    t.write("a.txt", "a\n");
}

/// `rbuild build --progress=plain -t app:1 ctx EXTRA…`: (exit code, stderr, manifest digest).
fn build(t: &TestContext, extra: &[&str]) -> (i32, String, String) {
    let digestfile = t.dir.path().join("digest");
    let _ = std::fs::remove_file(&digestfile);
    let mut c = rb(t);
    c.args(["build", "--progress=plain", "-t", "app:1", "--digestfile"]).arg(&digestfile).args(extra).arg(t.ctx());
    let (code, _, stderr) = out(c);
    (code, stderr, std::fs::read_to_string(&digestfile).unwrap_or_default())
}

fn build_ok(t: &TestContext, extra: &[&str]) -> (String, String) {
    let (code, stderr, digest) = build(t, extra);
    assert_eq!(code, 0, "build failed: {stderr}");
    (stderr, digest)
}

/// The end line of every step whose instruction starts with `RUN`: `… CACHED` or `… DONE 0.12s`.
fn run_lines(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.contains("] RUN ") && (l.ends_with(" CACHED") || l.contains(" DONE "))).collect()
}

fn blob_names(root: &Path) -> BTreeSet<String> {
    std::fs::read_dir(root.join("oci/blobs/sha256"))
        .map(|d| d.flatten().map(|e| format!("sha256:{}", e.file_name().to_string_lossy())).collect())
        .unwrap_or_default()
}

fn step_keys(root: &Path) -> BTreeSet<String> {
    std::fs::read_dir(root.join("cache/steps"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// The layer digests of `app:1` in a store.
fn layers(t: &TestContext) -> BTreeSet<String> {
    t.manifest("app:1")["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn step_cache_keys_are_equal_for_two_stores_and_contexts_in_different_dirs() {
    require_root();
    let registry = registry_with_base();
    let (a, b) = (TestContext::new(), TestContext::new());
    context(&a, &registry);
    context(&b, &registry);
    // Other mtimes and inodes for the same bytes: neither may reach a key.
    let f = std::fs::File::options().write(true).open(b.ctx().join("a.txt")).unwrap();
    f.set_modified(std::time::SystemTime::UNIX_EPOCH).unwrap();
    build_ok(&a, &[]);
    build_ok(&b, &[]);
    let keys = step_keys(&a.root());
    assert_eq!(keys.len(), 5, "one record per layer step: {keys:?}");
    assert_eq!(keys, step_keys(&b.root()), "the same inputs must give the same keys in any store");
}

/// Export from A with `cache_to`, then build on a fresh B with `cache_from`.
fn fleet(cache_to: &str, cache_from: &str) -> (Registry, TestContext, TestContext, String, String) {
    require_root();
    let registry = registry_with_base();
    let a = TestContext::new();
    context(&a, &registry);
    let cache_to =
        cache_to.replace("REG", &registry.host).replace("DIR", &a.dir.path().join("cache").to_string_lossy());
    let (_, digest_a) = build_ok(&a, &["--cache-to", &cache_to]);
    let b = TestContext::new();
    context(&b, &registry);
    let cache_from =
        cache_from.replace("REG", &registry.host).replace("DIR", &a.dir.path().join("cache").to_string_lossy());
    let (stderr, digest_b) = build_ok(&b, &["--cache-from", &cache_from]);
    assert_eq!(digest_a, digest_b, "B must rebuild the very same image (manifest digest)\n{stderr}");
    (registry, a, b, stderr, digest_b)
}

#[test]
fn ci_fleet_registry_cache_max_rebuilds_on_a_fresh_store_without_running_anything() {
    let (registry, a, b, stderr, _) = fleet("type=registry,ref=REG/cache/app:ci,mode=max", "REG/cache/app:ci");
    // The artifact is an ordinary OCI manifest to other clients.
    let raw = registry.skopeo_inspect("cache/app:ci", &["--raw"]);
    assert_eq!(raw["config"]["mediaType"], "application/vnd.rbuild.cache.config.v1+json", "{raw}");
    let runs = run_lines(&stderr);
    assert_eq!(runs.len(), 3, "{stderr}");
    assert!(runs.iter().all(|l| l.ends_with(" CACHED")), "every RUN must be CACHED on B:\n{stderr}");
    assert!(stderr.contains("COPY a.txt / CACHED"), "{stderr}");
    // Lazy: B fetched the final image's layers and nothing else of the cache (not the builder's RUN layer).
    let recorded = recorded_layers(&a.root());
    let final_layers: BTreeSet<String> = layers(&b).intersection(&recorded).cloned().collect();
    assert_eq!((recorded.len(), final_layers.len()), (5, 4), "{recorded:?}");
    let fetched: BTreeSet<String> = blob_names(&b.root()).intersection(&recorded).cloned().collect();
    assert_eq!(fetched, final_layers, "B must fetch exactly the final image's layers");
    // What B fetched is B's own cache from now on; a record whose blob B never fetched is not kept
    // (it would name a blob the store does not have).
    assert_eq!(recorded_layers(&b.root()), final_layers);
}

/// The layer digests of every step-cache record in a store.
fn recorded_layers(root: &Path) -> BTreeSet<String> {
    std::fs::read_dir(root.join("cache/steps"))
        .unwrap()
        .flatten()
        .map(|e| {
            let v: serde_json::Value = serde_json::from_slice(&std::fs::read(e.path()).unwrap()).unwrap();
            v["descriptor"]["digest"].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn ci_fleet_local_cache_rebuilds_on_a_fresh_store_without_running_anything() {
    let (_registry, a, _b, stderr, _) = fleet("type=local,dest=DIR,mode=max", "type=local,src=DIR");
    // A valid OCI layout: skopeo reads the artifact's manifest from it.
    let o = std::process::Command::new("skopeo")
        .args(["inspect", "--raw"])
        .arg(format!("oci:{}:latest", a.dir.path().join("cache").display()))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let raw: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(raw["config"]["mediaType"], "application/vnd.rbuild.cache.config.v1+json", "{raw}");
    let runs = run_lines(&stderr);
    assert_eq!(runs.len(), 3, "{stderr}");
    assert!(runs.iter().all(|l| l.ends_with(" CACHED")), "every RUN must be CACHED on B:\n{stderr}");
}

#[test]
fn cache_mode_min_exports_only_the_final_stage_and_max_every_stage() {
    let (_registry, _a, _b, stderr, _) = fleet("type=registry,ref=REG/cache/app:min", "REG/cache/app:min");
    let runs = run_lines(&stderr);
    let builder: Vec<_> = runs.iter().filter(|l| l.contains("[builder ")).collect();
    let last: Vec<_> = runs.iter().filter(|l| !l.contains("[builder ")).collect();
    assert_eq!((builder.len(), last.len()), (1, 2), "{stderr}");
    assert!(builder[0].contains(" DONE "), "mode=min has no record of the builder stage's RUN:\n{stderr}");
    assert!(last.iter().all(|l| l.ends_with(" CACHED")), "the final stage's RUNs are in mode=min:\n{stderr}");
}

#[test]
fn exported_cache_mount_warmed_on_a_is_present_on_fresh_b() {
    require_root();
    let registry = registry_with_base();
    let a = TestContext::new();
    context(&a, &registry);
    let to = format!("type=registry,ref={}/cache/app:mounts,mode=max,mounts=apt;unused", registry.host);
    let (stderr, _) = build_ok(&a, &["--cache-to", &to]);
    assert!(stderr.contains("no cache mount \"unused\""), "an id never used is a warning: {stderr}");
    // B runs a step A never ran (a cache miss) that reads the package cache: it finds A's files there.
    let b = TestContext::new();
    b.write(
        "Dockerfile",
        &format!(
            "FROM {}/lib/bb:1\nRUN --mount=type=cache,id=apt,target=/var/cache/apt cp /var/cache/apt/pkg /seen\n",
            registry.host
        ),
    );
    build_ok(&b, &["--cache-from", &format!("{}/cache/app:mounts", registry.host)]);
    let layer = b.layer("app:1", 1);
    assert_eq!(layer["seen"].data, b"warm\n", "the cache mount must come warm from A");
}

#[test]
fn a_tampered_cache_blob_is_a_digest_error_and_no_image() {
    require_root();
    let registry = registry_with_base();
    let a = TestContext::new();
    context(&a, &registry);
    build_ok(&a, &["--cache-to", &format!("type=registry,ref={}/cache/app:t,mode=max", registry.host)]);
    // The layer of `RUN cat … > /both.txt`: the last one of the image.
    let last =
        a.manifest("app:1")["layers"].as_array().unwrap().last().unwrap()["digest"].as_str().unwrap().to_string();
    let data = registry.blob_data(&last);
    let mut bytes = std::fs::read(&data).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0xff;
    std::fs::write(&data, bytes).unwrap();
    let b = TestContext::new();
    context(&b, &registry);
    let (code, stderr, _) = build(&b, &["--cache-from", &format!("{}/cache/app:t", registry.host)]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains(&last) && stderr.contains("does not match its digest"), "{stderr}");
    assert!(!blob_names(&b.root()).contains(&last), "the tampered bytes must not be in the store");
    let index = std::fs::read_to_string(b.root().join("oci/index.json")).unwrap_or_default();
    assert!(!index.contains("app:1"), "no image from a tampered cache: {index}");
}

#[test]
fn a_tampered_local_cache_blob_is_a_digest_error() {
    require_root();
    let registry = registry_with_base();
    let a = TestContext::new();
    context(&a, &registry);
    let dir = a.dir.path().join("cache");
    build_ok(&a, &["--cache-to", &format!("type=local,dest={},mode=max", dir.display())]);
    let last =
        a.manifest("app:1")["layers"].as_array().unwrap().last().unwrap()["digest"].as_str().unwrap().to_string();
    let path = dir.join("blobs/sha256").join(last.strip_prefix("sha256:").unwrap());
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[0] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    let b = TestContext::new();
    context(&b, &registry);
    let (code, stderr, _) = build(&b, &["--cache-from", &format!("type=local,src={}", dir.display())]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("does not match its digest"), "{stderr}");
    assert!(!blob_names(&b.root()).contains(&last));
}

#[test]
fn a_missing_cache_is_a_warning_and_the_build_runs() {
    require_root();
    let registry = registry_with_base();
    let b = TestContext::new();
    context(&b, &registry);
    let (stderr, _) = build_ok(&b, &["--cache-from", &format!("{}/cache/none:x", registry.host)]);
    assert!(stderr.contains("warning: cache") && stderr.contains("not found"), "{stderr}");
    assert!(run_lines(&stderr).iter().all(|l| l.contains(" DONE ")), "{stderr}");
}

#[test]
fn a_malformed_cache_option_is_a_usage_error() {
    let t = TestContext::new();
    t.write("Dockerfile", "FROM scratch\n");
    for (flag, value, says) in [
        ("--cache-to", "type=s3,ref=x", "unsupported type \"s3\""),
        ("--cache-to", "type=local", "type=local takes dest=DIR"),
        ("--cache-to", "ref=localhost:5000/c:1,mode=medium", "mode is min or max"),
        ("--cache-from", "type=local,dest=/x", "unknown option \"dest\""),
    ] {
        let mut c = rb(&t);
        c.args(["build", flag, value]).arg(t.ctx());
        let (code, _, stderr) = out(c);
        assert_eq!(code, 2, "{flag} {value}: {stderr}");
        assert!(stderr.contains(&format!("invalid {flag}")) && stderr.contains(says), "{stderr}");
    }
}

#[test]
fn a_changed_last_step_runs_on_layers_fetched_from_the_imported_cache() {
    require_root();
    let registry = registry_with_base();
    let a = TestContext::new();
    context(&a, &registry);
    build_ok(&a, &["--cache-to", &format!("type=registry,ref={}/cache/app:partial,mode=max", registry.host)]);
    let b = TestContext::new();
    context(&b, &registry);
    let changed =
        dockerfile(&registry).replace("RUN cat /b.txt /a.txt > /both.txt", "RUN cat /b.txt /a.txt /r.txt > /all.txt");
    b.write("Dockerfile", &changed);
    let (stderr, _) = build_ok(&b, &["--cache-from", &format!("{}/cache/app:partial", registry.host)]);
    let runs = run_lines(&stderr);
    assert_eq!(runs.iter().filter(|l| l.ends_with(" CACHED")).count(), 2, "{stderr}");
    assert!(runs.iter().any(|l| l.contains("RUN cat /b.txt /a.txt /r.txt") && l.contains(" DONE ")), "{stderr}");
    // It read files that only the imported layers hold.
    let n = b.layer_count("app:1");
    assert_eq!(b.layer("app:1", n - 1)["all.txt"].data, b"built\na\nrun\n");
}
