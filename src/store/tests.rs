//! Unit tests of the store: atomic ingest, index replacement, naming rules, concurrency, resolve, gc.

use super::*;
use crate::image::{self, ImageRef};
use std::collections::BTreeSet;
use std::io::Write;
use std::os::unix::fs::MetadataExt;

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    (dir, store)
}

fn tmp_is_empty(store: &Store) -> bool {
    fs::read_dir(store.tmp_dir()).unwrap().next().is_none()
}

fn r(s: &str) -> ImageRef {
    ImageRef::parse(s).unwrap()
}

/// Commit an image with one fake layer whose bytes are `seed`; returns the manifest digest.
fn image_with(store: &Store, seed: &str, tags: &[&str]) -> Digest {
    let (layer, size) = store.write_blob(seed.as_bytes()).unwrap();
    let desc = oci_spec::image::DescriptorBuilder::default()
        .media_type(oci_spec::image::MediaType::ImageLayer)
        .digest(to_oci_digest(&layer).unwrap())
        .size(size)
        .build()
        .unwrap();
    let config = one_layer_config(&layer, seed);
    let tags: Vec<ImageRef> = tags.iter().map(|t| r(t)).collect();
    image::commit(store, &config, &[desc], &tags).unwrap().1
}

fn one_layer_config(diff_id: &Digest, created_by: &str) -> image::ImageState {
    let mut config = image::ImageState::scratch("linux", "amd64", None);
    config.diff_ids.push(diff_id.clone());
    config.history.push(image::state::HistoryEntry {
        created: "1970-01-01T00:00:00Z".into(),
        created_by: created_by.into(),
        comment: None,
        author: None,
        empty_layer: false,
    });
    config
}

#[test]
fn open_creates_a_valid_oci_layout() {
    let (_d, store) = store();
    let layout: serde_json::Value =
        serde_json::from_slice(&fs::read(store.layout_dir().join("oci-layout")).unwrap()).unwrap();
    assert_eq!(layout["imageLayoutVersion"], "1.0.0");
    let index = index::load(&store).unwrap();
    assert_eq!(index.schema_version(), 2);
    assert!(index.manifests().is_empty());
    assert!(store.blobs_dir().is_dir());
    // Opening again keeps what is there.
    image_with(&store, "a", &["app:1"]);
    let again = Store::open(store.root()).unwrap();
    assert_eq!(again.list().unwrap().len(), 1);
}

#[test]
fn ingest_publishes_atomically_and_verifies() {
    let (_d, store) = store();
    let (d, n) = store.write_blob(b"hello").unwrap();
    assert_eq!((d.clone(), n), (Digest::of(b"hello"), 5));
    assert_eq!(store.blob_path(&d), store.layout_dir().join("blobs/sha256").join(d.hex()));
    assert_eq!(store.read_blob(&d).unwrap(), b"hello");
    assert_eq!(fs::metadata(store.blob_path(&d)).unwrap().mode() & 0o777, 0o644);
    assert!(tmp_is_empty(&store));

    // While being written, nothing is visible in blobs/.
    let mut w = store.blob_writer().unwrap();
    w.write_all(b"partial").unwrap();
    assert!(!store.has_blob(&Digest::of(b"partial")));
    assert!(!tmp_is_empty(&store));
    drop(w);
    assert!(tmp_is_empty(&store), "a dropped writer leaves nothing");
    assert!(!store.has_blob(&Digest::of(b"partial")));
}

#[test]
fn digest_or_size_mismatch_leaves_nothing() {
    let (_d, store) = store();
    let mut w = store.blob_writer().unwrap();
    w.write_all(b"actual").unwrap();
    let err = w.commit(Some(&Digest::of(b"expected"))).unwrap_err();
    assert!(matches!(&err, StoreError::DigestMismatch { actual, .. } if *actual == Digest::of(b"actual")), "{err}");
    assert!(!store.has_blob(&Digest::of(b"actual")));
    assert!(!store.has_blob(&Digest::of(b"expected")));
    assert!(tmp_is_empty(&store));

    let mut w = store.blob_writer().unwrap();
    w.write_all(b"actual").unwrap();
    let err = w.commit_expecting(Some(&Digest::of(b"actual")), Some(99)).unwrap_err();
    assert!(matches!(err, StoreError::SizeMismatch { expected: 99, actual: 6, .. }), "{err}");
    assert!(!store.has_blob(&Digest::of(b"actual")));
    assert!(tmp_is_empty(&store));
}

#[test]
fn index_is_replaced_by_rename_and_deterministic() {
    let (_d, store) = store();
    let before = fs::metadata(store.index_path()).unwrap().ino();
    let m = image_with(&store, "a", &["app:1"]);
    let after = fs::metadata(store.index_path()).unwrap().ino();
    assert_ne!(before, after, "index.json must be a new file, not edited in place");
    assert!(tmp_is_empty(&store));
    let bytes = fs::read(store.index_path()).unwrap();
    // Re-tagging to the same manifest changes nothing, not even the file.
    store.tag(&m, &r("app:1")).unwrap();
    assert_eq!(fs::metadata(store.index_path()).unwrap().ino(), after);
    assert_eq!(fs::read(store.index_path()).unwrap(), bytes);
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.contains(r#""org.opencontainers.image.ref.name":"app:1""#), "{text}");
}

#[test]
fn tags_move_and_leave_dangling_images() {
    let (_d, store) = store();
    let a = image_with(&store, "a", &["app:1", "app:latest"]);
    let b = image_with(&store, "b", &["other:1"]);
    // Moving one of two names: `a` keeps a name, nothing dangles.
    store.tag(&b, &r("app:1")).unwrap();
    assert_eq!(store.resolve("app:1").unwrap().manifest_digest, b);
    assert_eq!(store.resolve("app").unwrap().manifest_digest, a);
    // Moving its last name leaves `a` dangling, still listed without a name.
    store.tag(&b, &r("app")).unwrap();
    let list = store.list().unwrap();
    let dangling: Vec<_> = list.iter().filter(|s| s.names.is_empty()).collect();
    assert_eq!(dangling.len(), 1);
    assert_eq!(dangling[0].manifest_digest, a);
    let names_b = &list.iter().find(|s| s.manifest_digest == b).unwrap().names;
    assert_eq!(names_b, &vec!["other:1".to_string(), "app:1".to_string(), "app:latest".to_string()]);
    // Naming the dangling image again removes the unnamed entry.
    store.tag(&a, &r("back:1")).unwrap();
    let raw = index::load(&store).unwrap();
    assert_eq!(raw.manifests().iter().filter(|d| index::ref_name(d).is_none()).count(), 0);
}

#[test]
fn untag_and_remove_manifest() {
    let (_d, store) = store();
    let a = image_with(&store, "a", &["app:1", "app:2"]);
    assert_eq!(store.untag(&r("app:1")).unwrap(), Some((a.clone(), false)));
    assert_eq!(store.untag(&r("app:1")).unwrap(), None);
    assert_eq!(store.untag(&r("app:2")).unwrap(), Some((a.clone(), true)));
    assert!(store.list().unwrap().is_empty());
    let b = image_with(&store, "b", &["x:1", "y:1"]);
    assert_eq!(store.remove_manifest(&b).unwrap(), vec!["x:1".to_string(), "y:1".to_string()]);
    assert!(store.list().unwrap().is_empty());
}

#[test]
fn concurrent_tagging_from_threads_loses_no_tag() {
    let (_d, store) = store();
    let m = image_with(&store, "a", &[]);
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let store = Store::open(store.root()).unwrap();
            let m = m.clone();
            std::thread::spawn(move || {
                for i in 0..10 {
                    store.tag(&m, &r(&format!("t{t}:v{i}"))).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let names: BTreeSet<String> = store.resolve(&m.to_string()).unwrap().names.into_iter().collect();
    let want: BTreeSet<String> = (0..8).flat_map(|t| (0..10).map(move |i| format!("t{t}:v{i}"))).collect();
    assert_eq!(names, want);
    assert!(tmp_is_empty(&store));
}

#[test]
fn resolve_by_name_id_short_id_and_manifest_digest() {
    let (_d, store) = store();
    let m = image_with(&store, "a", &["app:1", "docker.io/library/busybox:latest"]);
    let image = store.resolve("app:1").unwrap();
    assert_eq!(image.manifest_digest, m);
    assert_eq!(image.names, vec!["app:1".to_string(), "busybox:latest".to_string()]);
    let id = image.config_digest.clone();
    for reference in [
        "busybox".to_string(),
        "docker.io/library/busybox".to_string(),
        id.to_string(),
        id.hex().to_string(),
        id.hex()[..4].to_string(),
        format!("sha256:{}", &id.hex()[..12]),
        m.to_string(),
        format!("app@{m}"),
    ] {
        assert_eq!(store.resolve(&reference).unwrap().manifest_digest, m, "{reference}");
    }
    let err = store.resolve("app:2").unwrap_err();
    assert_eq!(err.to_string(), format!("image \"app:2\" not found in store {}", store.root().display()));
    assert!(matches!(store.resolve("Bad:Ref"), Err(StoreError::Reference(_))));
    assert!(matches!(store.resolve("abc"), Err(StoreError::NotFound { .. })), "too short for an id");
}

#[test]
fn ambiguous_id_prefixes_are_refused() {
    let (_d, store) = store();
    // One config committed twice with differently compressed copies of its layer: two manifests, one ID.
    let config = one_layer_config(&Digest::of(b"tar"), "x");
    let mut manifests = Vec::new();
    for (bytes, media_type) in
        [(&b"gz"[..], oci_spec::image::MediaType::ImageLayerGzip), (b"zst", oci_spec::image::MediaType::ImageLayerZstd)]
    {
        let (d, n) = store.write_blob(bytes).unwrap();
        let desc = oci_spec::image::DescriptorBuilder::default()
            .media_type(media_type)
            .digest(to_oci_digest(&d).unwrap())
            .size(n)
            .build()
            .unwrap();
        manifests.push(image::commit(&store, &config, &[desc], &[]).unwrap().1);
    }
    assert_ne!(manifests[0], manifests[1]);
    let id = store.resolve(&manifests[0].to_string()).unwrap().config_digest;
    let err = store.resolve(&id.hex()[..8]).unwrap_err();
    match err {
        StoreError::Ambiguous { candidates, .. } => assert_eq!(candidates.len(), 2),
        other => panic!("expected an ambiguity, got {other}"),
    }
    // The manifest digests still name each image exactly.
    assert_eq!(store.resolve(&manifests[1].to_string()).unwrap().manifest_digest, manifests[1]);
}

#[test]
fn gc_keeps_what_the_index_reaches_and_sweeps_the_rest() {
    let (_d, store) = store();
    let a = image_with(&store, "layer-a", &["a:1"]);
    let b = image_with(&store, "layer-b", &["b:1"]);
    let (stray, _) = store.write_blob(b"stray").unwrap();
    let marked = gc::mark(&store).unwrap();
    let image_a = store.resolve("a:1").unwrap();
    for d in [&a, &b, &image_a.config_digest, &Digest::of(b"layer-a"), &Digest::of(b"layer-b")] {
        assert!(marked.contains(d), "{d} must be marked");
    }
    assert!(!marked.contains(&stray));
    let report = gc::collect(&store).unwrap();
    assert_eq!(report.removed, vec![stray.clone()]);
    assert!(!store.has_blob(&stray));
    assert!(store.has_blob(&a) && store.has_blob(&Digest::of(b"layer-a")));

    // After `a` leaves the index, its manifest, config and layer go; `b` stays whole.
    store.untag(&r("a:1")).unwrap();
    let report = gc::collect(&store).unwrap();
    assert_eq!(report.removed.len(), 3);
    assert!(!store.has_blob(&a) && !store.has_blob(&image_a.config_digest) && !store.has_blob(&Digest::of(b"layer-a")));
    assert!(store.resolve("b:1").is_ok() && store.has_blob(&Digest::of(b"layer-b")));
    // Files that are not digests are not gc's business.
    fs::write(store.blobs_dir().join("README"), b"x").unwrap();
    gc::collect(&store).unwrap();
    assert!(store.blobs_dir().join("README").exists());
}

#[test]
fn live_leases_keep_blobs_from_gc_and_dead_ones_are_cleared() {
    let (_d, store) = store();
    let (old, _) = store.write_blob(b"old base layer").unwrap();
    // Make `old` look written long before the lease.
    age(&store, &old);
    let (other_old, _) = store.write_blob(b"unrelated").unwrap();
    age(&store, &other_old);
    let mut lease = store.lease().unwrap();
    lease.protect(&old).unwrap();
    let (fresh, _) = store.write_blob(b"layer of a build in progress").unwrap();
    let report = gc::collect(&store).unwrap();
    assert_eq!(report.removed, vec![other_old], "only the unprotected old blob goes");
    assert!(store.has_blob(&old) && store.has_blob(&fresh));
    drop(lease);
    assert_eq!(fs::read_dir(store.root().join("leases")).unwrap().count(), 0, "a dropped lease is removed");
    let report = gc::collect(&store).unwrap();
    assert_eq!(report.removed.len(), 2);

    // A lease file nobody holds (its process died) protects nothing and is deleted.
    fs::write(store.root().join("leases/123-dead"), format!("since 0\n{old}\n")).unwrap();
    gc::collect(&store).unwrap();
    assert!(!store.root().join("leases/123-dead").exists());
}

/// Set a blob's mtime far into the past, as if written long before any lease.
fn age(store: &Store, d: &Digest) {
    let t = nix::sys::time::TimeSpec::new(1_000_000_000, 0);
    nix::sys::stat::utimensat(
        nix::fcntl::AT_FDCWD,
        &store.blob_path(d),
        &t,
        &t,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )
    .unwrap();
}

/// The interleaving behind the lifecycle test's "image M is incomplete: blob M is not in the store": gc has
/// read the roots and the leases, then a build publishes its manifest (by rename, without the store lock),
/// then gc sweeps. The fresh blob must survive: it is newer than the live lease.
#[test]
fn defect2_a_blob_published_while_gc_decides_is_kept_for_its_lease() {
    let (_d, store) = store();
    let (old, _) = store.write_blob(b"unreferenced and old").unwrap();
    age(&store, &old);
    let _lease = store.lease().unwrap();
    let locked = store.lock().unwrap();
    let mut marked = gc::mark(&locked).unwrap();
    let protected = lease::protected(&locked).unwrap();
    marked.extend(protected.digests);
    // A new digest: the writer publishes without waiting for the lock gc holds.
    let (fresh, _) = store.write_blob(b"manifest of a build about to be named").unwrap();
    let report = gc::sweep(&locked, &marked, protected.since).unwrap();
    assert_eq!(report.removed, vec![old], "only the old unprotected blob goes");
    assert!(store.has_blob(&fresh), "a blob written under a live lease is swept before it is named");
}

/// The same race end to end: blobs published under a live lease while gc runs in a loop all survive.
#[test]
fn defect2_blobs_written_under_a_lease_survive_a_concurrent_gc_loop() {
    let (_d, store) = store();
    let _lease = store.lease().unwrap();
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                gc::collect(&store).unwrap();
            }
        });
        let written: Vec<Digest> =
            (0..400).map(|i| store.write_blob(format!("blob {i}").as_bytes()).unwrap().0).collect();
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        let missing: Vec<&Digest> = written.iter().filter(|d| !store.has_blob(d)).collect();
        assert!(missing.is_empty(), "gc swept leased blobs: {missing:?}");
    });
}

#[test]
fn an_image_with_a_missing_blob_is_never_named() {
    let (_d, store) = store();
    let m = image_with(&store, "layer-x", &["x:1"]);
    fs::remove_file(store.blob_path(&Digest::of(b"layer-x"))).unwrap();
    match store.tag(&m, &r("x:2")) {
        Err(StoreError::Incomplete { missing, .. }) => assert_eq!(missing, Digest::of(b"layer-x")),
        other => panic!("expected Incomplete, got {other:?}"),
    }
    assert!(store.resolve("x:2").is_err());
    let mut lease = store.lease().unwrap();
    assert!(matches!(store.lock().unwrap().resolve_leased("x:1", &mut lease), Err(StoreError::Incomplete { .. })));
}

#[test]
fn remove_dangling_keeps_every_named_image() {
    let (_d, store) = store();
    let a = image_with(&store, "a", &["app:1"]);
    let b = image_with(&store, "b", &["app:1"]);
    let c = image_with(&store, "c", &[]);
    let gone = store.lock().unwrap().remove_dangling().unwrap();
    assert_eq!(gone.into_iter().collect::<BTreeSet<_>>(), BTreeSet::from([a, c]));
    assert_eq!(store.resolve("app:1").unwrap().manifest_digest, b);
}
