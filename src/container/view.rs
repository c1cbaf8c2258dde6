//! A container's whole filesystem as one host path, for `cp`, `export` and `top`-free readers: the
//! running container's own root through `/proc/<pid 1>/root` (the kernel walks it in the container's
//! mount namespace, with its mounts), or, for a container that is not running, its overlay mounted by a
//! small helper process in a mount namespace of its own ([`SUBCOMMAND`]) and reached through
//! `/proc/<helper>/root/<mount point>`. The helper holds the mount until the view is dropped (its stdin
//! closes), and its namespace — with the mount — dies with it, so nothing stays mounted on the host, even
//! when rbuild is killed. A copy-backend container's `rootfs/` is used as it is.
//!
//! A view of a stopped container holds the container's lock, so it cannot be started (and its upper dir
//! mounted a second time) meanwhile. Paths inside a view are resolved with [`crate::rootpath`], so `..`
//! and symlinks stay inside the container.

use super::{Container, ContainerError};
use crate::digest::Digest;
use crate::sandbox::Rootfs;
use crate::store::{Image, Store};
use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};

/// The hidden subcommand of the rbuild binary that holds a stopped container's overlay mounted.
pub const SUBCOMMAND: &str = "__container-mount";

/// A container's filesystem, reachable at [`RootView::path`] while this lives.
pub struct RootView {
    path: PathBuf,
    helper: Option<Child>,
    _mountpoint: Option<tempfile::TempDir>,
    /// The empty upper and work dirs of an image's view (see [`RootView::image_files`]).
    _scratch: Option<tempfile::TempDir>,
    /// Short links to the lower dirs when their own paths do not fit in the mount options.
    _links: Option<tempfile::TempDir>,
    _lock: Option<nix::fcntl::Flock<std::fs::File>>,
}

impl RootView {
    /// The container's `/` on the host.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Open the filesystem of `c`.
    pub fn open(store: &Store, c: &Container) -> Result<RootView, ContainerError> {
        if let Some(pid) = c.state.pid.filter(|_| c.is_running()) {
            let view = RootView::bare(PathBuf::from(format!("/proc/{pid}/root")));
            return Ok(view);
        }
        let Some(lock) = c.hold()? else {
            // It was started meanwhile: look again.
            let c = Container::load(&c.dir)?;
            return match c.state.pid.filter(|_| c.is_running()) {
                Some(pid) => Ok(RootView::bare(PathBuf::from(format!("/proc/{pid}/root")))),
                None => Err(ContainerError::AlreadyRunning { name: c.config.name.clone() }),
            };
        };
        let mut view = match &c.config.spec.rootfs {
            Rootfs::Dir(dir) => RootView::bare(dir.clone()),
            Rootfs::Overlay { .. } => mount_overlay(store, c, false)?,
        };
        view._lock = Some(lock);
        Ok(view)
    }

    /// The container's files alone (no `/proc`, `/dev`, `/sys` or bind mounts), read-only, whether it
    /// runs or not: what `export` writes.
    pub fn files(store: &Store, c: &Container) -> Result<RootView, ContainerError> {
        match &c.config.spec.rootfs {
            Rootfs::Dir(dir) => Ok(RootView::bare(dir.clone())),
            Rootfs::Overlay { .. } => mount_overlay(store, c, true),
        }
    }

    /// An image's files alone, read-only: what a new volume is initialised with (docker's copy-up).
    pub fn image_files(store: &Store, image: &Image) -> Result<RootView, ContainerError> {
        // Named after this process, so the debris sweep removes it should rbuild be killed meanwhile.
        let scratch = store.temp_dir("image-view")?;
        // With the copy backend (no overlayfs here) the image is extracted into the scratch dir instead.
        let (lowers, upper) = match super::rootfs::prepare(store, image, scratch.path())? {
            Rootfs::Overlay { lowers, upper, .. } => (lowers, upper),
            Rootfs::Dir(dir) => {
                let mut view = RootView::bare(dir);
                view._scratch = Some(scratch);
                return Ok(view);
            }
        };
        // The empty upper dir as the top lower: a mount of lower dirs only needs two of them.
        let all: Vec<PathBuf> = std::iter::once(upper.clone()).chain(lowers.iter().cloned()).collect();
        let options = Options::fit(store, &all, None)?;
        let mut view = spawn_helper(store, options, lowers.len(), "image")?;
        view._scratch = Some(scratch);
        Ok(view)
    }

    fn bare(path: PathBuf) -> RootView {
        RootView { path, helper: None, _mountpoint: None, _scratch: None, _links: None, _lock: None }
    }
}

impl Drop for RootView {
    fn drop(&mut self) {
        if let Some(mut helper) = self.helper.take() {
            // Closing its stdin tells the helper to exit; its namespace and the mount go with it.
            drop(helper.stdin.take());
            let _ = helper.wait();
        }
    }
}

/// The image of `c`, or the error saying it was removed.
pub fn image_of(store: &Store, c: &Container) -> Result<Image, ContainerError> {
    let (name, reference) = (c.config.name.clone(), c.config.image.clone());
    let gone = |source| ContainerError::ImageGone { name: name.clone(), image: reference.clone(), source };
    let manifest = Digest::parse(&c.config.manifest)
        .map_err(|_| gone(crate::store::StoreError::UnsupportedDigest(c.config.manifest.clone())))?;
    store.load_image(&manifest, Vec::new()).map_err(gone)
}

/// Mount the container's overlay (lower dirs looked up again, as a start does) in a helper; with
/// `frozen`, its upper dir becomes the top-most of read-only lowers instead, so a running container's
/// files are seen as they are without mounting its upper dir a second time (and without its `/proc`,
/// `/dev`, `/sys` and bind mounts, which `export` must not descend into).
fn mount_overlay(store: &Store, c: &Container, frozen: bool) -> Result<RootView, ContainerError> {
    let image = image_of(store, c)?;
    let (lowers, upper, work) = match super::rootfs::overlay(store, &image, &c.dir)? {
        Rootfs::Overlay { lowers, upper, work } => (lowers, upper, work),
        Rootfs::Dir(dir) => return Ok(RootView::bare(dir)),
    };
    let options = if frozen {
        let all: Vec<PathBuf> = std::iter::once(upper).chain(lowers.iter().cloned()).collect();
        Options::fit(store, &all, None)?
    } else {
        Options::fit(store, &lowers, Some((&upper, &work)))?
    };
    spawn_helper(store, options, lowers.len(), &c.config.name)
}

/// Overlay mount options (relative to `parent`), with the links they name when the lower dirs' own
/// paths would not fit in them (kept as long as the view, though the kernel needs them only to mount).
struct Options {
    parent: PathBuf,
    text: String,
    links: Option<tempfile::TempDir>,
}

impl Options {
    /// Options for `lowers` (top-most first) and a writable `(upper, work)`, or, without, for a
    /// read-only mount of the lowers alone.
    fn fit(store: &Store, lowers: &[PathBuf], upper: Option<(&Path, &Path)>) -> Result<Options, ContainerError> {
        let make = |lowers: &[PathBuf]| {
            let (up, work) = upper.unwrap_or((Path::new("/"), Path::new("/")));
            let (parent, text) = crate::sandbox::overlay_options(lowers, up, work);
            let text = match upper {
                Some(_) => text,
                None => text.split(",upperdir=").next().unwrap_or_default().to_string(),
            };
            (parent, text)
        };
        let (parent, text) = make(lowers);
        if text.len() <= crate::sandbox::MAX_OVERLAY_OPTIONS {
            return Ok(Options { parent, text, links: None });
        }
        // Named after this process, so the debris sweep removes it should rbuild be killed meanwhile.
        let links = store.temp_dir("view-lowers")?;
        let linked = crate::sandbox::link_lowers(lowers, links.path())
            .map_err(ContainerError::io("linking lower dirs in", links.path()))?;
        let (parent, text) = make(&linked);
        Ok(Options { parent, text, links: Some(links) })
    }
}

/// Start the helper that mounts an overlay in a namespace of its own; `name` and `layers` say what in
/// an error.
fn spawn_helper(store: &Store, options: Options, layers: usize, name: &str) -> Result<RootView, ContainerError> {
    if options.text.len() > crate::sandbox::MAX_OVERLAY_OPTIONS {
        return Err(ContainerError::TooManyLayers { name: name.to_string(), count: layers });
    }
    let tmp = tempfile::Builder::new()
        .prefix("rbuild-view-")
        .tempdir_in(store.root().join("tmp"))
        .map_err(ContainerError::io("creating a mount point in", &store.root().join("tmp")))?;
    let mut helper = Command::new("/proc/self/exe")
        .arg(SUBCOMMAND)
        .arg(&options.parent)
        .arg(&options.text)
        .arg(tmp.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(ContainerError::MonitorSpawn)?;
    let mut line = String::new();
    let _ = BufReader::new(helper.stdout.take().expect("piped")).read_line(&mut line);
    if line.trim() != "ready" {
        drop(helper.stdin.take());
        let _ = helper.wait();
        return Err(ContainerError::ViewMount { name: name.to_string() });
    }
    let path =
        PathBuf::from(format!("/proc/{}/root", helper.id())).join(tmp.path().strip_prefix("/").unwrap_or(tmp.path()));
    Ok(RootView {
        path,
        helper: Some(helper),
        _mountpoint: Some(tmp),
        _scratch: None,
        _links: options.links,
        _lock: None,
    })
}

/// The helper: a mount namespace of its own, the overlay (options relative to `parent`) on
/// `mountpoint`, "ready" on stdout, then wait for stdin to close.
pub fn mount_main(parent: &Path, options: &str, mountpoint: &Path) -> ExitCode {
    let result = (|| -> nix::Result<()> {
        unshare(CloneFlags::CLONE_NEWNS)?;
        // Nothing mounted here may propagate back to the host's namespace.
        mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>)?;
        nix::unistd::chdir(parent)?;
        mount(Some("overlay"), mountpoint, Some("overlay"), MsFlags::empty(), Some(options))?;
        nix::unistd::chdir("/")
    })();
    if let Err(errno) = result {
        eprintln!("error: mounting the container's filesystem: {errno}");
        return ExitCode::from(1);
    }
    let mut out = std::io::stdout();
    let _ = out.write_all(b"ready\n").and_then(|_| out.flush());
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    ExitCode::SUCCESS
}
