//! Rootfs comparisons shared by the export and build-output tests: a tree on disk or a tar, each as
//! path → (kind, mode, uid, gid, link target, content), so "the same files" is two maps being equal.

use std::collections::BTreeMap;
use std::path::Path;

/// One file as compared: (kind, mode, uid, gid, link target, content), kinds as `read_tar` names them.
pub type FileView = (char, u32, u64, u64, Option<String>, Vec<u8>);

/// A directory tree (e.g. what `umoci unpack` laid out), path → file.
pub fn walk_rootfs(root: &Path) -> BTreeMap<String, FileView> {
    use std::os::unix::fs::MetadataExt;
    let mut out = BTreeMap::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(d) = pending.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let (kind, link, data) = if m.is_dir() {
                pending.push(p.clone());
                ('d', None, Vec::new())
            } else if m.file_type().is_symlink() {
                ('l', Some(std::fs::read_link(&p).unwrap().to_string_lossy().into_owned()), Vec::new())
            } else if m.is_file() {
                ('f', None, std::fs::read(&p).unwrap())
            } else {
                ('?', None, Vec::new())
            };
            out.insert(rel, (kind, m.mode() & 0o7777, u64::from(m.uid()), u64::from(m.gid()), link, data));
        }
    }
    out
}

/// A rootfs tar's entries, path → file; a hard link is a second name for its file, compared as the file.
pub fn tar_rootfs(data: &[u8]) -> BTreeMap<String, FileView> {
    let entries = super::read_tar(data);
    let mut out = BTreeMap::new();
    for (path, e) in &entries {
        let (kind, link, data) = match e.kind {
            'h' => ('f', None, entries[e.link.as_deref().unwrap()].data.clone()),
            k => (k, e.link.clone(), e.data.clone()),
        };
        out.insert(path.clone(), (kind, e.mode, e.uid, e.gid, link, data));
    }
    out
}

/// Assert two rootfs maps hold the same paths with the same files, naming what differs.
pub fn assert_same_files(ours: &BTreeMap<String, FileView>, theirs: &BTreeMap<String, FileView>, what: &str) {
    let only_ours: Vec<_> = ours.keys().filter(|k| !theirs.contains_key(*k)).collect();
    let only_theirs: Vec<_> = theirs.keys().filter(|k| !ours.contains_key(*k)).collect();
    assert!(
        only_ours.is_empty() && only_theirs.is_empty(),
        "{what}: only on the left: {only_ours:?}; only on the right: {only_theirs:?}"
    );
    for (k, v) in ours {
        assert_eq!(v, &theirs[k], "{what}: {k} differs");
    }
}

/// A build over busybox whose layers hold every kind of change an export must apply: a whiteout, an
/// opaque directory, a removed base file, setuid and owner bits, a hard link and a relative symlink.
pub const WHITEOUT_DOCKERFILE: &str = "FROM busybox\n\
     RUN mkdir -p /opq/old && echo x > /opq/old/f && echo gone > /gone && echo keep > /keep\n\
     RUN rm -rf /opq /gone /etc/group && mkdir /opq && echo y > /opq/new && chown 5:6 /opq/new && chmod 4755 /opq/new && ln /opq/new /opq/hard && ln -s ../keep /opq/sym\n";

/// `umoci unpack` of `image` (an `oci:LAYOUT:TAG` path, without the `oci:`) into `bundle`: its rootfs.
pub fn umoci_unpack(image: &str, bundle: &Path) -> BTreeMap<String, FileView> {
    let out = std::process::Command::new("umoci")
        .args(["unpack", "--image", image])
        .arg(bundle)
        .output()
        .expect("umoci is installed (apt-get install umoci)");
    assert!(out.status.success(), "umoci: {}", String::from_utf8_lossy(&out.stderr));
    walk_rootfs(&bundle.join("rootfs"))
}
