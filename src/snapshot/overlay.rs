//! overlayfs mounts made by rbuild itself (for COPY/ADD into a stage and for reading another stage's
//! files). They live in rbuild's own private mount namespace, entered once at start-up, so the host never
//! sees them and the kernel removes them when rbuild exits, however it exits.

use super::{Backend, SnapshotError};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// overlayfs' own limit on lower layers.
pub const MAX_LOWERS: usize = 500;

static PRIVATE_NS: AtomicBool = AtomicBool::new(false);

/// Move this process into a new mount namespace whose mounts do not propagate back to the host. Must run
/// while the process is single-threaded (the CLI calls it first thing). Needs CAP_SYS_ADMIN.
pub fn enter_private_mount_namespace() -> Result<(), nix::Error> {
    if PRIVATE_NS.load(Ordering::SeqCst) {
        return Ok(());
    }
    unshare(CloneFlags::CLONE_NEWNS)?;
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>)?;
    PRIVATE_NS.store(true, Ordering::SeqCst);
    Ok(())
}

/// The backend for this process: `RBUILD_SNAPSHOTTER=overlay|copy` forces one; otherwise overlay when a test
/// mount under `scratch` works in our private namespace, else copy. `why` says why copy was chosen.
pub fn detect(scratch: &Path) -> (Backend, Option<String>) {
    match forced() {
        Some(Backend::Copy) => return (Backend::Copy, Some("RBUILD_SNAPSHOTTER=copy".into())),
        Some(Backend::Overlay) => return (Backend::Overlay, None),
        None => {}
    }
    if !PRIVATE_NS.load(Ordering::SeqCst) {
        return (Backend::Copy, Some("no private mount namespace (rbuild needs root for overlay mounts)".into()));
    }
    match probe(scratch) {
        Ok(()) => (Backend::Overlay, None),
        Err(e) => (Backend::Copy, Some(format!("overlayfs cannot be mounted here: {e}"))),
    }
}

/// Whether this process is in its own private mount namespace, where its mounts reach no one else.
pub fn in_private_namespace() -> bool {
    PRIVATE_NS.load(Ordering::SeqCst)
}

/// The backend `RBUILD_SNAPSHOTTER=overlay|copy` asks for, if any.
pub fn forced() -> Option<Backend> {
    match std::env::var("RBUILD_SNAPSHOTTER").ok().as_deref() {
        Some("copy") => Some(Backend::Copy),
        Some("overlay") => Some(Backend::Overlay),
        _ => None,
    }
}

fn probe(scratch: &Path) -> Result<(), String> {
    let dir = tempfile::Builder::new().prefix("ovl-probe-").tempdir_in(scratch).map_err(|e| e.to_string())?;
    let p = |n: &str| dir.path().join(n);
    for d in ["lower", "upper", "work", "merged"] {
        std::fs::create_dir(p(d)).map_err(|e| e.to_string())?;
    }
    // `volatile` (Linux 5.10+): the unmount of a writable overlay otherwise syncs the whole upper
    // filesystem, which cost a warm no-op build 50-300 ms on a busy disk; the probe's data is thrown
    // away. Kernels without the option get the plain mount.
    let opts =
        format!("lowerdir={},upperdir={},workdir={}", p("lower").display(), p("upper").display(), p("work").display());
    let plain = |o: &str| mount(Some("overlay"), &p("merged"), Some("overlay"), MsFlags::empty(), Some(o));
    plain(&format!("{opts},volatile")).or_else(|_| plain(&opts)).map_err(|e| e.to_string())?;
    let written = std::fs::write(p("merged").join("probe"), b"x").map_err(|e| e.to_string());
    let _ = umount2(&p("merged"), MntFlags::MNT_DETACH);
    written?;
    if !p("upper").join("probe").is_file() {
        return Err("a write through the overlay did not reach the upper dir".into());
    }
    Ok(())
}

/// A mounted overlay; unmounted on drop.
pub struct OverlayMount {
    target: PathBuf,
    links: Option<tempfile::TempDir>,
}

impl OverlayMount {
    /// Mount `lowers` (top-most first) with an optional writable `(upper, work)` at `target`. Lower dirs are
    /// named through short symlinks so that many layers fit in the mount options. With no upper dir
    /// overlayfs needs two lowers; `empty` (created if needed) pads the stack when there are fewer.
    pub fn mount(
        lowers: &[PathBuf],
        upper: Option<(&Path, &Path)>,
        target: &Path,
        empty: &Path,
    ) -> Result<OverlayMount, SnapshotError> {
        if lowers.len() > MAX_LOWERS {
            return Err(SnapshotError::TooManyLayers(lowers.len()));
        }
        let io = |what, path: &Path| {
            let path = path.to_path_buf();
            move |source| SnapshotError::Io { what, path, source }
        };
        let mut stack: Vec<PathBuf> = lowers.to_vec();
        let needed = if upper.is_some() { 1 } else { 2 };
        while stack.len() < needed {
            std::fs::create_dir_all(empty).map_err(io("creating", empty))?;
            stack.push(empty.to_path_buf());
        }
        let parent = target.parent().unwrap_or(Path::new("/"));
        let links =
            tempfile::Builder::new().prefix(".l").tempdir_in(parent).map_err(io("creating links in", parent))?;
        let names: Vec<String> = crate::sandbox::link_lowers(&stack, links.path())
            .map_err(io("linking lower dirs in", links.path()))?
            .iter()
            .map(|link| link.display().to_string())
            .collect();
        let mut opts = format!("lowerdir={}", names.join(":"));
        if let Some((u, w)) = upper {
            opts.push_str(&format!(",upperdir={},workdir={}", u.display(), w.display()));
        }
        let flags = if upper.is_some() { MsFlags::empty() } else { MsFlags::MS_RDONLY };
        mount(Some("overlay"), target, Some("overlay"), flags, Some(opts.as_str()))
            .map_err(|source| SnapshotError::Mount { target: target.to_path_buf(), source })?;
        Ok(OverlayMount { target: target.to_path_buf(), links: Some(links) })
    }

    pub fn path(&self) -> &Path {
        &self.target
    }
}

impl Drop for OverlayMount {
    fn drop(&mut self) {
        let _ = umount2(&self.target, MntFlags::MNT_DETACH);
        drop(self.links.take());
    }
}

/// A read-only bind mount (a copy-backend view); unmounted on drop.
pub struct ReadOnlyBind {
    target: PathBuf,
}

impl ReadOnlyBind {
    /// Bind `source` at `target`, then make the bind read-only (a bind mount takes no flags of its own
    /// until remounted).
    pub fn mount(source: &Path, target: &Path) -> Result<ReadOnlyBind, SnapshotError> {
        let failed = |source| SnapshotError::Mount { target: target.to_path_buf(), source };
        mount(Some(source), target, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>).map_err(failed)?;
        let bind = ReadOnlyBind { target: target.to_path_buf() };
        let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
        mount(None::<&str>, target, None::<&str>, flags, None::<&str>).map_err(failed)?;
        Ok(bind)
    }
}

impl Drop for ReadOnlyBind {
    fn drop(&mut self) {
        let _ = umount2(&self.target, MntFlags::MNT_DETACH);
    }
}
