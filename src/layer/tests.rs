//! Unit tests of layer writing and extraction, including whiteouts, compression, reproducibility and
//! hostile archives built byte by byte.

use super::*;
use crate::store::Store;
use nix::sys::stat::{mknod, utimensat, Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;
use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::Path;
use tar::EntryType;

const EMPTY_TAR_DIFF_ID: &str = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef";

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    (dir, store)
}

fn require_root(what: &str) {
    assert!(nix::unistd::geteuid().is_root(), "this test needs root ({what}); CI runs as root — run it with sudo");
}

fn set_mtime(p: &Path, secs: i64) {
    let t = TimeSpec::new(secs, 0);
    utimensat(nix::fcntl::AT_FDCWD, p, &t, &t, UtimensatFlags::NoFollowSymlink).unwrap();
}

fn blob(store: &Store, layer: &Layer) -> Vec<u8> {
    store.read_blob(&crate::store::from_oci_digest(layer.descriptor.digest()).unwrap()).unwrap()
}

/// (name, type, mode, uid, mtime, link target, size, pax keys) of one tar entry.
type EntryRow = (String, EntryType, u32, u64, u64, String, u64, Vec<String>);

/// Every entry of a layer, in order.
fn entries(store: &Store, layer: &Layer) -> Vec<EntryRow> {
    let bytes = blob(store, layer);
    let mut archive = tar::Archive::new(decompress(&bytes[..]).unwrap());
    let mut out = Vec::new();
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        let pax: Vec<String> = e
            .pax_extensions()
            .unwrap()
            .map(|p| p.map(|x| x.unwrap().key().unwrap().to_string()).collect())
            .unwrap_or_default();
        let h = e.header();
        out.push((
            String::from_utf8_lossy(&e.path_bytes()).into_owned(),
            h.entry_type(),
            h.mode().unwrap(),
            h.uid().unwrap(),
            h.mtime().unwrap(),
            e.link_name_bytes().map(|l| String::from_utf8_lossy(&l).into_owned()).unwrap_or_default(),
            h.size().unwrap(),
            pax,
        ));
    }
    out
}

/// A small tree with every common kind of entry, all mtimes set to `mtime`.
fn sample_tree(root: &Path, mtime: i64) {
    fs::create_dir_all(root.join("etc/conf.d")).unwrap();
    fs::write(root.join("etc/hosts"), b"127.0.0.1 localhost\n").unwrap();
    fs::set_permissions(root.join("etc/hosts"), fs::Permissions::from_mode(0o640)).unwrap();
    fs::write(root.join("run.sh"), b"#!/bin/sh\necho hi\n").unwrap();
    fs::set_permissions(root.join("run.sh"), fs::Permissions::from_mode(0o4755)).unwrap();
    fs::hard_link(root.join("run.sh"), root.join("etc/run-again.sh")).unwrap();
    symlink("../run.sh", root.join("etc/link")).unwrap();
    let long_dir = root.join("d".repeat(90)).join("e".repeat(90));
    fs::create_dir_all(&long_dir).unwrap();
    fs::write(long_dir.join("f".repeat(120)), b"long").unwrap();
    nix::unistd::mkfifo(&root.join("fifo"), Mode::from_bits_truncate(0o600)).unwrap();
    let mut all: Vec<_> = walkdir::WalkDir::new(root).into_iter().map(|e| e.unwrap().into_path()).collect();
    all.reverse();
    for p in all {
        set_mtime(&p, mtime);
    }
}

#[test]
fn empty_dir_gives_the_empty_tar() {
    let (d, store) = store();
    let empty = d.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let opts = LayerOptions { compression: Compression::None, source_date_epoch: None };
    let layer = write(&store, &empty, &opts).unwrap();
    assert_eq!(layer.diff_id.to_string(), EMPTY_TAR_DIFF_ID);
    assert_eq!(blob(&store, &layer), vec![0u8; 1024]);
    let gz = write(&store, &empty, &LayerOptions::default()).unwrap();
    assert_eq!(gz.diff_id.to_string(), EMPTY_TAR_DIFF_ID);
    assert_eq!(gz.descriptor.media_type(), &oci_spec::image::MediaType::ImageLayerGzip);
    assert_eq!(gz.descriptor.size(), blob(&store, &gz).len() as u64);
}

#[test]
fn entries_are_sorted_and_keep_metadata() {
    let (d, store) = store();
    let root = d.path().join("tree");
    sample_tree(&root, 1_600_000_000);
    let layer = write(&store, &root, &LayerOptions::default()).unwrap();
    let list = entries(&store, &layer);
    let names: Vec<&str> = list.iter().map(|e| e.0.as_str()).collect();
    let long = format!("{}/{}/{}", "d".repeat(90), "e".repeat(90), "f".repeat(120));
    assert_eq!(
        names,
        vec![
            &format!("{}/", "d".repeat(90)),
            &format!("{}/{}/", "d".repeat(90), "e".repeat(90)),
            long.as_str(),
            "etc/",
            "etc/conf.d/",
            "etc/hosts",
            "etc/link",
            "etc/run-again.sh",
            "fifo",
            "run.sh",
        ]
    );
    let by_name: BTreeMap<&str, _> = list.iter().map(|e| (e.0.as_str(), e)).collect();
    let hosts = by_name["etc/hosts"];
    assert_eq!((hosts.1, hosts.2, hosts.4, hosts.6), (EntryType::Regular, 0o640, 1_600_000_000, 20));
    assert_eq!(by_name["etc/link"].1, EntryType::Symlink);
    assert_eq!(by_name["etc/link"].5, "../run.sh");
    // The walk meets etc/run-again.sh first, so it carries the data and run.sh links to it.
    assert_eq!(by_name["etc/run-again.sh"].1, EntryType::Regular);
    assert_eq!(by_name["etc/run-again.sh"].2, 0o4755);
    assert_eq!((by_name["run.sh"].1, by_name["run.sh"].5.as_str()), (EntryType::Link, "etc/run-again.sh"));
    assert_eq!(by_name["fifo"].1, EntryType::Fifo);
    assert_eq!(by_name[long.as_str()].7, vec!["path".to_string()], "names over 255 bytes need a PAX path");
    assert!(by_name["etc/"].7.is_empty(), "short names need no PAX record");
    let uid = fs::metadata(&root).unwrap().uid() as u64;
    assert!(list.iter().all(|e| e.3 == uid));
}

#[test]
fn writing_is_deterministic_and_source_date_epoch_clamps() {
    let (d, store) = store();
    let (a, b) = (d.path().join("a"), d.path().join("b"));
    sample_tree(&a, 1_600_000_000);
    sample_tree(&b, 1_600_000_000);
    let opts = LayerOptions::default();
    let la = write(&store, &a, &opts).unwrap();
    assert_eq!(la, write(&store, &a, &opts).unwrap(), "same tree, same layer");
    assert_eq!(la, write(&store, &b, &opts).unwrap(), "an identical copy gives the same digest");

    // Different mtimes after the epoch clamp to it: same digest again.
    set_mtime(&b.join("etc/hosts"), 1_700_000_000);
    assert_ne!(la.descriptor.digest(), write(&store, &b, &opts).unwrap().descriptor.digest());
    let clamp = LayerOptions { source_date_epoch: Some(1_000_000_000), ..opts };
    let ca = write(&store, &a, &clamp).unwrap();
    assert_eq!(ca, write(&store, &b, &clamp).unwrap());
    assert!(entries(&store, &ca).iter().all(|e| e.4 == 1_000_000_000));
    // Older mtimes are kept.
    set_mtime(&a.join("etc/hosts"), 100);
    let kept = write(&store, &a, &clamp).unwrap();
    let hosts = entries(&store, &kept).into_iter().find(|e| e.0 == "etc/hosts").unwrap();
    assert_eq!(hosts.4, 100);
}

#[test]
fn xattrs_are_written_but_overlay_ones_are_not() {
    let (d, store) = store();
    let root = d.path().join("tree");
    fs::create_dir_all(&root).unwrap();
    fs::write(root.join("f"), b"x").unwrap();
    xattr::set(root.join("f"), "user.note", b"hello").expect("the test filesystem must support user xattrs");
    xattr::set(root.join("f"), "user.overlay.origin", b"x").unwrap();
    let layer = write(&store, &root, &LayerOptions::default()).unwrap();
    let f = entries(&store, &layer).into_iter().find(|e| e.0 == "f").unwrap();
    assert_eq!(f.7, vec!["SCHILY.xattr.user.note".to_string()]);
    let out = d.path().join("out");
    fs::create_dir(&out).unwrap();
    extract(&store, &layer.descriptor, &out).unwrap();
    assert_eq!(xattr::get(out.join("f"), "user.note").unwrap().as_deref(), Some(&b"hello"[..]));
}

#[test]
fn overlay_whiteouts_become_oci_whiteouts() {
    require_root("mknod of a 0/0 whiteout device and trusted.* xattrs");
    let (d, store) = store();
    let upper = d.path().join("upper");
    fs::create_dir_all(upper.join("opaque/keep")).unwrap();
    fs::create_dir_all(upper.join("user-opaque")).unwrap();
    mknod(&upper.join("gone"), SFlag::S_IFCHR, Mode::empty(), 0).unwrap();
    xattr::set(upper.join("opaque"), "trusted.overlay.opaque", b"y").unwrap();
    xattr::set(upper.join("user-opaque"), "user.overlay.opaque", b"y").unwrap();
    let layer = write(&store, &upper, &LayerOptions::default()).unwrap();
    let list = entries(&store, &layer);
    let names: Vec<&str> = list.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(
        names,
        vec![".wh.gone", "opaque/", "opaque/.wh..wh..opq", "opaque/keep/", "user-opaque/", "user-opaque/.wh..wh..opq"]
    );
    assert!(list.iter().all(|e| e.7.iter().all(|k| !k.contains("overlay"))), "overlay xattrs leaked: {list:?}");
    assert_eq!(list[0].1, EntryType::Regular);
}

#[test]
fn zstd_layers_round_trip() {
    let (d, store) = store();
    let root = d.path().join("tree");
    sample_tree(&root, 1_600_000_000);
    let opts = LayerOptions { compression: Compression::Zstd, source_date_epoch: None };
    let layer = write(&store, &root, &opts).unwrap();
    assert_eq!(layer.descriptor.media_type().to_string(), "application/vnd.oci.image.layer.v1.tar+zstd");
    assert_eq!(&blob(&store, &layer)[..4], &[0x28, 0xb5, 0x2f, 0xfd]);
    let gz = write(&store, &root, &LayerOptions::default()).unwrap();
    assert_eq!(layer.diff_id, gz.diff_id, "the same tar under either compression");
    let out = d.path().join("out");
    fs::create_dir(&out).unwrap();
    extract(&store, &layer.descriptor, &out).unwrap();
    assert_eq!(fs::read(out.join("etc/hosts")).unwrap(), b"127.0.0.1 localhost\n");
}

#[test]
fn extraction_restores_the_tree() {
    let (d, store) = store();
    let root = d.path().join("tree");
    sample_tree(&root, 1_600_000_000);
    let layer = write(&store, &root, &LayerOptions::default()).unwrap();
    let out = d.path().join("out");
    fs::create_dir(&out).unwrap();
    extract(&store, &layer.descriptor, &out).unwrap();
    for rel in ["etc", "etc/conf.d", "etc/hosts", "etc/link", "run.sh", "etc/run-again.sh", "fifo"] {
        let (a, b) = (fs::symlink_metadata(root.join(rel)).unwrap(), fs::symlink_metadata(out.join(rel)).unwrap());
        assert_eq!(a.mode(), b.mode(), "{rel} mode");
        assert_eq!(a.mtime(), b.mtime(), "{rel} mtime");
        assert_eq!((a.uid(), a.gid()), (b.uid(), b.gid()), "{rel} owner");
    }
    assert_eq!(fs::read_link(out.join("etc/link")).unwrap(), Path::new("../run.sh"));
    let (x, y) = (fs::metadata(out.join("run.sh")).unwrap(), fs::metadata(out.join("etc/run-again.sh")).unwrap());
    assert_eq!(x.ino(), y.ino(), "hard links stay linked");
    let long = out.join("d".repeat(90)).join("e".repeat(90)).join("f".repeat(120));
    assert_eq!(fs::read(long).unwrap(), b"long");
}

// ---- hostile and hand-built tars ----

/// Append a raw entry, bypassing every check the tar crate's builder makes.
fn raw(buf: &mut Vec<u8>, name: &str, kind: EntryType, link: &str, data: &[u8]) {
    let mut h = tar::Header::new_old();
    let old = h.as_old_mut();
    old.name[..name.len()].copy_from_slice(name.as_bytes());
    old.linkname[..link.len()].copy_from_slice(link.as_bytes());
    h.set_entry_type(kind);
    h.set_size(data.len() as u64);
    h.set_mode(if kind == EntryType::Directory { 0o755 } else { 0o644 });
    h.set_mtime(0);
    h.set_cksum();
    buf.extend_from_slice(h.as_bytes());
    buf.extend_from_slice(data);
    buf.resize(buf.len().div_ceil(512) * 512, 0);
}

fn end(mut buf: Vec<u8>) -> Vec<u8> {
    buf.extend_from_slice(&[0; 1024]);
    buf
}

/// A target dir inside a sandbox dir, plus an "outside" dir beside it that must stay untouched.
fn sandbox() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let (target, outside) = (d.path().join("target"), d.path().join("outside"));
    fs::create_dir(&target).unwrap();
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("secret"), b"do not touch").unwrap();
    (d, target, outside)
}

fn untouched(outside: &Path) {
    let names: Vec<_> = fs::read_dir(outside).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("secret")], "something was written outside the target");
    assert_eq!(fs::read(outside.join("secret")).unwrap(), b"do not touch");
    assert!(!fs::symlink_metadata(outside.join("secret")).unwrap().file_type().is_symlink());
}

#[test]
fn dotdot_and_absolute_names_are_refused_by_name() {
    let (_d, target, outside) = sandbox();
    let mut t = Vec::new();
    raw(&mut t, "../outside/evil", EntryType::Regular, "", b"x");
    let err = extract_tar(&end(t)[..], &target).unwrap_err();
    assert!(err.to_string().contains("../outside/evil") && err.to_string().contains(".."), "{err}");
    let mut t = Vec::new();
    raw(&mut t, "a/../../evil", EntryType::Regular, "", b"x");
    assert!(matches!(extract_tar(&end(t)[..], &target), Err(LayerError::UnsafeEntry { .. })));
    let mut t = Vec::new();
    let abs = format!("{}/evil", outside.display());
    raw(&mut t, &abs, EntryType::Regular, "", b"x");
    let err = extract_tar(&end(t)[..], &target).unwrap_err();
    assert!(err.to_string().contains("absolute"), "{err}");
    untouched(&outside);
}

#[test]
fn symlinked_parents_never_lead_outside() {
    let (_d, target, outside) = sandbox();
    let mut t = Vec::new();
    raw(&mut t, "abs", EntryType::Symlink, outside.to_str().unwrap(), b"");
    raw(&mut t, "abs/pwned", EntryType::Regular, "", b"x");
    raw(&mut t, "rel", EntryType::Symlink, "../../../../../../../../..", b"");
    raw(&mut t, "rel/pwned2", EntryType::Regular, "", b"y");
    raw(&mut t, "sec", EntryType::Symlink, &format!("{}/secret", outside.display()), b"");
    raw(&mut t, "sec", EntryType::Regular, "", b"replaced the link, not its target");
    extract_tar(&end(t)[..], &target).unwrap();
    untouched(&outside);
    // The writes landed inside, where the links point when the target is the root.
    assert_eq!(fs::read(target.join(outside.strip_prefix("/").unwrap()).join("pwned")).unwrap(), b"x");
    assert_eq!(fs::read(target.join("pwned2")).unwrap(), b"y");
    assert_eq!(fs::read(target.join("sec")).unwrap(), b"replaced the link, not its target");
}

/// Found by fuzzing (fuzz/fuzz_targets/tar_extract.rs): directory modes are applied after the last entry,
/// and a later entry that replaced the directory (or a parent of it) by a symlink made that chmod follow
/// the link out of the target — `d/` then `d -> /etc` chmodded the host's `/etc`.
#[test]
fn fuzz_dir_mode_is_never_applied_through_a_later_symlink() {
    let (_d, target, outside) = sandbox();
    fs::set_permissions(&outside, fs::Permissions::from_mode(0o750)).unwrap();
    fs::set_permissions(outside.join("secret"), fs::Permissions::from_mode(0o600)).unwrap();
    fs::create_dir(outside.join("sub")).unwrap();
    fs::set_permissions(outside.join("sub"), fs::Permissions::from_mode(0o700)).unwrap();
    let mode = |p: &Path| fs::metadata(p).unwrap().mode() & 0o7777;
    let mut t = Vec::new();
    // The directory itself replaced by a symlink: relative, absolute, and to a file.
    raw(&mut t, "rel/", EntryType::Directory, "", b"");
    raw(&mut t, "rel", EntryType::Symlink, "../outside", b"");
    raw(&mut t, "abs/", EntryType::Directory, "", b"");
    raw(&mut t, "abs", EntryType::Symlink, outside.to_str().unwrap(), b"");
    raw(&mut t, "file/", EntryType::Directory, "", b"");
    raw(&mut t, "file", EntryType::Symlink, &format!("{}/secret", outside.display()), b"");
    // A parent replaced: `par/sub` would be chmodded through `par`.
    raw(&mut t, "par/", EntryType::Directory, "", b"");
    raw(&mut t, "par/sub/", EntryType::Directory, "", b"");
    raw(&mut t, "par", EntryType::Symlink, outside.to_str().unwrap(), b"");
    // A directory that stays gets its mode as before.
    raw(&mut t, "kept/", EntryType::Directory, "", b"");
    extract_tar(&end(t)[..], &target).unwrap();
    fs::remove_dir_all(target.join("par")).ok();
    fs::remove_file(target.join("par")).ok();
    assert_eq!(mode(&outside), 0o750, "the outside dir's mode was changed through a symlink");
    assert_eq!(mode(&outside.join("secret")), 0o600, "a file outside was chmodded through a symlink");
    assert_eq!(mode(&outside.join("sub")), 0o700, "a dir outside was chmodded through a symlinked parent");
    assert_eq!(mode(&target.join("kept")), 0o755);
    fs::remove_dir(outside.join("sub")).unwrap();
    untouched(&outside);
}

#[test]
fn hard_links_to_outside_are_refused() {
    let (_d, target, outside) = sandbox();
    let mut t = Vec::new();
    raw(&mut t, "h", EntryType::Link, "../outside/secret", b"");
    let err = extract_tar(&end(t)[..], &target).unwrap_err();
    assert!(matches!(&err, LayerError::BadLink { entry, .. } if entry == "h"), "{err}");
    let mut t = Vec::new();
    raw(&mut t, "h", EntryType::Link, &format!("{}/secret", outside.display()), b"");
    assert!(matches!(extract_tar(&end(t)[..], &target), Err(LayerError::BadLink { .. })));
    // Through a symlink: resolved inside the target, where there is no such file.
    let mut t = Vec::new();
    raw(&mut t, "out", EntryType::Symlink, outside.to_str().unwrap(), b"");
    raw(&mut t, "h", EntryType::Link, "out/secret", b"");
    let err = extract_tar(&end(t)[..], &target).unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
    assert!(!target.join("h").exists());
    untouched(&outside);
    // A link inside works.
    let mut t = Vec::new();
    raw(&mut t, "a", EntryType::Regular, "", b"data");
    raw(&mut t, "b", EntryType::Link, "a", b"");
    extract_tar(&end(t)[..], &target).unwrap();
    assert_eq!(fs::read(target.join("b")).unwrap(), b"data");
}

#[test]
fn whiteouts_remove_lower_content() {
    let (_d, target, _outside) = sandbox();
    fs::create_dir_all(target.join("dir/sub")).unwrap();
    fs::write(target.join("dir/old"), b"lower").unwrap();
    fs::write(target.join("dir/sub/deep"), b"lower").unwrap();
    fs::write(target.join("gone"), b"lower").unwrap();
    fs::create_dir_all(target.join("gonedir/x")).unwrap();
    fs::write(target.join("kept"), b"lower").unwrap();
    let mut t = Vec::new();
    raw(&mut t, ".wh.gone", EntryType::Regular, "", b"");
    raw(&mut t, ".wh.gonedir", EntryType::Regular, "", b"");
    raw(&mut t, ".wh.never-existed", EntryType::Regular, "", b"");
    raw(&mut t, "dir/", EntryType::Directory, "", b"");
    raw(&mut t, "dir/-first", EntryType::Regular, "", b"upper, before the opaque marker");
    raw(&mut t, "dir/.wh..wh..opq", EntryType::Regular, "", b"");
    raw(&mut t, "dir/new", EntryType::Regular, "", b"upper");
    extract_tar(&end(t)[..], &target).unwrap();
    assert!(!target.join("gone").exists() && !target.join("gonedir").exists());
    assert!(target.join("kept").exists());
    let mut left: Vec<String> =
        fs::read_dir(target.join("dir")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    left.sort();
    assert_eq!(left, vec!["-first".to_string(), "new".to_string()]);
    assert!(!target.join(".wh.gone").exists() && !target.join("dir/.wh..wh..opq").exists());
}

#[test]
fn garbage_and_unknown_media_types_are_errors() {
    let (_d, target, _outside) = sandbox();
    assert!(extract_tar(&b"this is not a tar archive, not even close to 512 bytes"[..], &target).is_err());
    let (_d2, store) = store();
    let (d, n) = store.write_blob(b"{}").unwrap();
    let desc = oci_spec::image::DescriptorBuilder::default()
        .media_type(oci_spec::image::MediaType::ImageConfig)
        .digest(crate::store::to_oci_digest(&d).unwrap())
        .size(n)
        .build()
        .unwrap();
    assert!(matches!(extract(&store, &desc, &target), Err(LayerError::MediaType(_))));
}

#[test]
fn ingest_keeps_the_tar_bytes_and_refuses_non_tars() {
    let (d, store) = store();
    let mut t = Vec::new();
    raw(&mut t, "z-unsorted", EntryType::Regular, "", b"1");
    raw(&mut t, "a", EntryType::Regular, "", b"2");
    let t = end(t);
    let layer = ingest_tar(&store, &t[..], &LayerOptions::default()).unwrap();
    assert_eq!(layer.diff_id, crate::digest::Digest::of(&t));
    let mut back = Vec::new();
    decompress(&blob(&store, &layer)[..]).unwrap().read_to_end(&mut back).unwrap();
    assert_eq!(back, t);
    assert!(ingest_tar(&store, &b"garbage"[..], &LayerOptions::default()).is_err());
    assert!(ingest_tar(&store, &b""[..], &LayerOptions::default()).is_err());
    let leftovers = fs::read_dir(d.path().join("store/tmp")).unwrap().count();
    assert_eq!(leftovers, 0, "failed ingests leave no temp files");
}
