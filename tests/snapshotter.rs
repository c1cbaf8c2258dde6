//! The snapshotter conformance suite: every case runs against both backends (overlay and copy) through
//! the one seam, `snapshot::Snapshotter`, and checks the layer each commits (its tar entries) and the
//! snapshot that follows (a view of the new chain). Both backends must give the same layer (same diff_id)
//! for the same change; the one documented exception is a directory replaced wholesale, which overlay
//! records as opaque and the copy backend as whiteouts of what it held — the same tree once applied.
//!
//! `harness = false`: overlay mounts happen in rbuild's private mount namespace, which a process can
//! only enter while it has one thread, so `main` enters it before running the cases one by one.

mod common;

use rbuild::digest::Digest;
use rbuild::layer::{self, Compression, LayerOptions};
use rbuild::sandbox::Rootfs;
use rbuild::snapshot::overlay::{self, OverlayMount};
use rbuild::snapshot::{Active, Backend, Parent, Snapshotter};
use rbuild::store::Store;
use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

const BACKENDS: [Backend; 2] = [Backend::Overlay, Backend::Copy];

/// A store holding one base layer, as the parent of every case.
struct Fixture {
    _dir: tempfile::TempDir,
    work: PathBuf,
    store: Store,
    layers: Vec<oci_spec::image::Descriptor>,
    diff_ids: Vec<Digest>,
}

fn opts() -> LayerOptions {
    // Uncompressed, mtimes clamped: the tar bytes decide the diff_id, and the test reads the blob as is.
    LayerOptions { compression: Compression::None, source_date_epoch: Some(0) }
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        let base = dir.path().join("base");
        for d in ["gone_dir", "opq", "sub"] {
            fs::create_dir_all(base.join(d)).unwrap();
        }
        for (f, body) in [
            ("keep.txt", "k"),
            ("mod.txt", "old"),
            ("gone.txt", "g"),
            ("gone_dir/x", "x"),
            ("opq/a", "a"),
            ("opq/b", "b"),
            ("own.txt", "o"),
            ("sub/s", "s"),
        ] {
            fs::write(base.join(f), body).unwrap();
        }
        std::os::unix::fs::symlink("keep.txt", base.join("link")).unwrap();
        let l = layer::write(&store, &base, &opts()).unwrap();
        let work = dir.path().join("work");
        fs::create_dir(&work).unwrap();
        Fixture { work, store, layers: vec![l.descriptor], diff_ids: vec![l.diff_id], _dir: dir }
    }

    fn parent(&self) -> Parent<'_> {
        Parent { layers: &self.layers, diff_ids: &self.diff_ids }
    }

    fn at(&self, name: &str) -> PathBuf {
        let p = self.work.join(name);
        fs::create_dir_all(&p).unwrap();
        p
    }

    /// Prepare a snapshot on the base, let `change` write it as a command would (the sandbox's view of
    /// `Active::rootfs`), commit it; the layer's entries and diff_id, and a view of the new chain.
    fn command(&self, b: Backend, change: impl Fn(&Path)) -> Committed {
        let s = Snapshotter::new(&self.store, b);
        let mut active = s.prepare(self.parent(), None, &self.at(&format!("{b:?}-cmd"))).unwrap();
        active.track_changes().unwrap();
        {
            let target = self.at(&format!("{b:?}-merged"));
            let (root, _mount) = mounted(&active, &target);
            change(&root);
        }
        self.commit(&s, active, b)
    }

    /// The same through rbuild's own writes (`Active::mount`, as COPY does).
    fn rbuild_writes(&self, b: Backend, change: impl Fn(&Path, &Path)) -> Committed {
        let s = Snapshotter::new(&self.store, b);
        let active = s.prepare(self.parent(), None, &self.at(&format!("{b:?}-copy"))).unwrap();
        {
            let w = active.mount().unwrap();
            change(&w.root, &w.upper);
        }
        self.commit(&s, active, b)
    }

    fn commit(&self, s: &Snapshotter<'_>, mut active: Active, b: Backend) -> Committed {
        let l = layer::write(&self.store, active.changes().unwrap(), &opts()).unwrap();
        let tar = self.store.read_blob(&rbuild::store::from_oci_digest(l.descriptor.digest()).unwrap()).unwrap();
        let flat = s.commit(active, &l.diff_id).unwrap();
        let layers = [self.layers.clone(), vec![l.descriptor]].concat();
        let diff_ids = [self.diff_ids.clone(), vec![l.diff_id.clone()]].concat();
        let at = self.at(&format!("{b:?}-view"));
        let view = s.view(Parent { layers: &layers, diff_ids: &diff_ids }, flat.as_ref(), &at).unwrap();
        Committed { entries: entries(&tar), diff_id: l.diff_id, tree: tree(view.path()) }
    }
}

/// What a sandbox does with `Active::rootfs`: mount an overlay (kept while the guard lives) or use the dir.
fn mounted(active: &Active, target: &Path) -> (PathBuf, Option<OverlayMount>) {
    match active.rootfs() {
        Rootfs::Dir(d) => (d, None),
        Rootfs::Overlay { lowers, upper, work } => {
            let empty = target.with_extension("empty");
            let m = OverlayMount::mount(&lowers, Some((&upper, &work)), target, &empty).unwrap();
            (target.to_path_buf(), Some(m))
        }
    }
}

struct Committed {
    entries: Vec<String>,
    diff_id: Digest,
    /// The next snapshot's files: `path type mode uid:gid [content|target]`.
    tree: Vec<String>,
}

/// A layer tar's entries: `path type mode uid:gid [link] [xattrs]`.
fn entries(tar: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut archive = tar::Archive::new(tar);
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        let h = e.header().clone();
        let mut xattrs = Vec::new();
        if let Some(exts) = e.pax_extensions().unwrap() {
            for x in exts {
                let x = x.unwrap();
                if x.key().unwrap_or("").starts_with("SCHILY.xattr.") {
                    xattrs.push(format!("{}={}", x.key().unwrap(), String::from_utf8_lossy(x.value_bytes())));
                }
            }
        }
        let link = e.link_name().unwrap().map(|l| format!(" -> {}", l.display())).unwrap_or_default();
        let kind = match h.entry_type() {
            tar::EntryType::Directory => "dir",
            tar::EntryType::Symlink => "symlink",
            tar::EntryType::Link => "hardlink",
            _ => "file",
        };
        let path = e.path().unwrap().display().to_string();
        let mut body = String::new();
        e.read_to_string(&mut body).unwrap();
        out.push(format!(
            "{} {kind} {:o} {}:{}{link}{}{}",
            path.trim_end_matches('/'),
            h.mode().unwrap() & 0o7777,
            h.uid().unwrap(),
            h.gid().unwrap(),
            if body.is_empty() { String::new() } else { format!(" {body:?}") },
            if xattrs.is_empty() { String::new() } else { format!(" {}", xattrs.join(",")) },
        ));
    }
    out
}

fn tree(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in walkdir::WalkDir::new(root).min_depth(1).sort_by_file_name() {
        let e = e.unwrap();
        let m = e.path().symlink_metadata().unwrap();
        let rel = e.path().strip_prefix(root).unwrap().display().to_string();
        let what = if m.file_type().is_symlink() {
            format!("-> {}", fs::read_link(e.path()).unwrap().display())
        } else if m.is_file() {
            format!("{:?}", fs::read_to_string(e.path()).unwrap())
        } else {
            "dir".into()
        };
        use std::os::unix::fs::MetadataExt;
        out.push(format!("{rel} {:o} {}:{} {what}", m.mode() & 0o7777, m.uid(), m.gid()));
    }
    out
}

fn has(list: &[String], prefix: &str) -> bool {
    list.iter().any(|e| e.starts_with(prefix))
}

/// Both backends commit the same layer for `change`, and it holds what `check` asks for.
fn same_layer(change: impl Fn(&Path), check: impl Fn(&Committed)) {
    let f = Fixture::new();
    let [o, c] = BACKENDS.map(|b| f.command(b, &change));
    check(&o);
    check(&c);
    assert_eq!(o.entries, c.entries, "overlay and copy layers differ");
    assert_eq!(o.diff_id, c.diff_id);
    assert_eq!(o.tree, c.tree, "the snapshots after the commit differ");
}

fn add() {
    same_layer(
        |r| {
            fs::write(r.join("new.txt"), "n").unwrap();
            fs::create_dir(r.join("sub/deeper")).unwrap();
            fs::write(r.join("sub/deeper/f"), "f").unwrap();
        },
        |c| {
            assert!(has(&c.entries, "new.txt file 644 0:0 \"n\""), "{:#?}", c.entries);
            assert!(has(&c.entries, "sub/deeper/f file"), "{:#?}", c.entries);
            assert!(has(&c.tree, "sub/deeper/f 644 0:0 \"f\""), "{:#?}", c.tree);
            assert!(has(&c.tree, "keep.txt"), "the base's files stay: {:#?}", c.tree);
        },
    );
}

fn modify() {
    same_layer(
        |r| fs::write(r.join("mod.txt"), "new").unwrap(),
        |c| {
            assert_eq!(c.entries, vec!["mod.txt file 644 0:0 \"new\""]);
            assert!(has(&c.tree, "mod.txt 644 0:0 \"new\""), "{:#?}", c.tree);
        },
    );
}

fn delete_is_a_whiteout() {
    same_layer(
        |r| {
            fs::remove_file(r.join("gone.txt")).unwrap();
            fs::remove_dir_all(r.join("gone_dir")).unwrap();
        },
        |c| {
            assert_eq!(c.entries, vec![".wh.gone.txt file 0 0:0", ".wh.gone_dir file 0 0:0"]);
            assert!(!has(&c.tree, "gone"), "{:#?}", c.tree);
        },
    );
}

fn symlink() {
    same_layer(
        |r| {
            std::os::unix::fs::symlink("mod.txt", r.join("newlink")).unwrap();
            fs::remove_file(r.join("link")).unwrap();
            std::os::unix::fs::symlink("sub/s", r.join("link")).unwrap();
        },
        |c| {
            assert!(has(&c.entries, "link symlink 777 0:0 -> sub/s"), "{:#?}", c.entries);
            assert!(has(&c.entries, "newlink symlink 777 0:0 -> mod.txt"), "{:#?}", c.entries);
            assert!(has(&c.tree, "link 777 0:0 -> sub/s"), "{:#?}", c.tree);
        },
    );
}

fn hardlink() {
    same_layer(
        |r| {
            fs::write(r.join("h1"), "h").unwrap();
            fs::hard_link(r.join("h1"), r.join("h2")).unwrap();
        },
        |c| {
            assert_eq!(c.entries, vec!["h1 file 644 0:0 \"h\"", "h2 hardlink 644 0:0 -> h1"]);
        },
    );
}

fn xattr() {
    same_layer(
        |r| {
            fs::write(r.join("x.txt"), "x").unwrap();
            xattr::set(r.join("x.txt"), "user.rbuild.test", b"v").unwrap();
        },
        |c| assert!(has(&c.entries, "x.txt file 644 0:0 \"x\" SCHILY.xattr.user.rbuild.test=v"), "{:#?}", c.entries),
    );
}

fn mode_and_owner_change() {
    same_layer(
        |r| {
            fs::set_permissions(r.join("own.txt"), fs::Permissions::from_mode(0o600)).unwrap();
            std::os::unix::fs::chown(r.join("own.txt"), Some(1000), Some(1001)).unwrap();
        },
        |c| {
            assert_eq!(c.entries, vec!["own.txt file 600 1000:1001 \"o\""]);
            assert!(has(&c.tree, "own.txt 600 1000:1001"), "{:#?}", c.tree);
        },
    );
}

/// A directory removed and made again: overlay marks it opaque, the copy backend whites out what it
/// held; applied, both give the new directory alone.
fn opaque_dir() {
    let f = Fixture::new();
    let replace = |r: &Path| {
        fs::remove_dir_all(r.join("opq")).unwrap();
        fs::create_dir(r.join("opq")).unwrap();
        fs::write(r.join("opq/c"), "c").unwrap();
    };
    let [o, c] = BACKENDS.map(|b| f.command(b, replace));
    assert!(has(&o.entries, "opq/.wh..wh..opq file"), "overlay: {:#?}", o.entries);
    assert!(has(&c.entries, "opq/.wh.a file") && has(&c.entries, "opq/.wh.b file"), "copy: {:#?}", c.entries);
    for t in [&o.tree, &c.tree] {
        let opq: Vec<&String> = t.iter().filter(|e| e.starts_with("opq/")).collect();
        assert_eq!(opq, vec!["opq/c 644 0:0 \"c\""], "{t:#?}");
    }
    assert_eq!(o.tree, c.tree);
}

/// rbuild's own writes (COPY) through `Active::mount` give one layer on both backends.
fn rbuild_writes() {
    let f = Fixture::new();
    let [o, c] = BACKENDS.map(|b| {
        f.rbuild_writes(b, |root, upper| {
            assert!(root.join("keep.txt").is_file(), "the base is readable where rbuild writes");
            fs::create_dir_all(upper.join("sub")).unwrap();
            fs::write(upper.join("sub/copied"), "c").unwrap();
        })
    });
    assert!(has(&o.entries, "sub/copied file 644 0:0 \"c\""), "{:#?}", o.entries);
    assert_eq!((o.entries, o.diff_id), (c.entries, c.diff_id));
    assert_eq!(o.tree, c.tree);
}

fn view_is_read_only() {
    let f = Fixture::new();
    for b in BACKENDS {
        let s = Snapshotter::new(&f.store, b);
        let view = s.view(f.parent(), None, &f.at(&format!("{b:?}-ro"))).unwrap();
        assert_eq!(fs::read_to_string(view.path().join("keep.txt")).unwrap(), "k", "{b:?}");
        let err = fs::write(view.path().join("keep.txt"), "w").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(nix::libc::EROFS), "{b:?}: {err}");
        assert!(fs::create_dir(view.path().join("new")).is_err(), "{b:?}");
    }
}

/// An active snapshot dropped without commit (containerd's Remove) leaves nothing: not its dirs, not a
/// snapshot, not a mount.
fn remove_leaves_nothing() {
    let f = Fixture::new();
    for b in BACKENDS {
        let s = Snapshotter::new(&f.store, b);
        let at = f.at(&format!("{b:?}-rm"));
        // The base's snapshot is made by the first prepare; count what is published after it.
        drop(s.prepare(f.parent(), None, &at).unwrap());
        let snapshots = || fs::read_dir(f.store.snapshots_dir()).map(|d| d.count()).unwrap_or(0);
        let published = snapshots();
        let mut active = s.prepare(f.parent(), None, &at).unwrap();
        active.track_changes().unwrap();
        {
            let (root, _m) = mounted(&active, &f.at(&format!("{b:?}-rm-merged")));
            fs::write(root.join("scratch"), "x").unwrap();
            fs::remove_file(root.join("keep.txt")).unwrap();
        }
        {
            let w = active.mount().unwrap();
            fs::write(w.upper.join("copied"), "c").unwrap();
        }
        active.changes().unwrap();
        drop(active);
        let left: Vec<_> = fs::read_dir(&at).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert!(left.is_empty(), "{b:?}: left behind {left:?}");
        assert_eq!(snapshots(), published, "{b:?}: a removed snapshot was published");
        let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(!mounts.contains(at.to_str().unwrap()), "{b:?}: still mounted:\n{mounts}");
    }
}

fn main() {
    common::require_root();
    overlay::enter_private_mount_namespace().expect("entering a private mount namespace (needs root)");
    let cases: [(&str, fn()); 11] = [
        ("add", add),
        ("modify", modify),
        ("delete_is_a_whiteout", delete_is_a_whiteout),
        ("opaque_dir", opaque_dir),
        ("symlink", symlink),
        ("hardlink", hardlink),
        ("xattr", xattr),
        ("mode_and_owner_change", mode_and_owner_change),
        ("rbuild_writes", rbuild_writes),
        ("view_is_read_only", view_is_read_only),
        ("remove_leaves_nothing", remove_leaves_nothing),
    ];
    let filter: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let mut failed = Vec::new();
    for (name, case) in cases {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        match std::panic::catch_unwind(case) {
            Ok(()) => println!("test {name} ... ok"),
            Err(_) => {
                println!("test {name} ... FAILED");
                failed.push(name);
            }
        }
    }
    if !failed.is_empty() {
        eprintln!("failed: {failed:?}");
        std::process::exit(1);
    }
}
