//! COPY and ADD: select sources (the build context after .dockerignore, another stage's rootfs, or an
//! image's), and write them into the step's upper dir at a destination resolved inside the image rootfs.
//!
//! Rules kept here, as `docker build` has them: sources never leave their root (`COPY ../x` is refused for
//! the context; symlinks are followed only inside it and copied as links inside directories); a directory
//! source copies its contents; several sources need a destination ending in `/`; a destination that is an
//! existing directory receives the source by name; missing parents are created; files are owned by 0:0 unless
//! `--chown`; modes and mtimes are kept unless `--chmod`. ADD also unpacks local tar archives, and copies the
//! trees of URLs and git checkouts its step fetched (`fetch`, `git`).

use super::reuse::Reuse;
use crate::dockerfile::flags::Chmod;
use crate::fsops::{self, Attrs};
use crate::rootpath::{self, Escape, RootPathError};
use globset::{GlobBuilder, GlobMatcher};
use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("forbidden path outside the build context: {0}")]
    OutsideContext(String),
    #[error("{source_path:?}: not found in {root}{hint}")]
    NotFound { source_path: String, root: String, hint: &'static str },
    #[error("{pattern:?}: no files in {root} match")]
    NoMatch { pattern: String, root: String },
    #[error("invalid source pattern {pattern:?}: {message}")]
    BadPattern { pattern: String, message: String },
    #[error("when copying more than one source, the destination must be a directory and end with a /: {0:?}")]
    DestNotDir(String),
    #[error("cannot copy to {0:?}: a non-directory is in the way")]
    NotADirectory(String),
    #[error("cannot overwrite directory {0:?} with a non-directory")]
    OverwriteDir(String),
    #[error("copied files belong to root (or --chown's user), and only root can set that: run rbuild as root (rootless builds are not supported yet)")]
    NeedsRoot,
    #[error("ADD from a URL ({0}) is not supported: use http://, https:// or a git repository")]
    Remote(String),
    #[error("{path}: {source}")]
    Resolve { path: String, source: RootPathError },
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
    /// Copying a file failed, reading the source or writing the target (on a full disk, say): both named.
    #[error("copying {from} to {to}: {source}")]
    Copy { from: String, to: String, source: io::Error },
    #[error("unpacking archive {path}: {message}")]
    Archive { path: String, message: String },
    #[error(transparent)]
    Interrupted(#[from] crate::interrupt::Interrupted),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> CopyError + '_ {
    move |source| CopyError::Io { path: path.display().to_string(), source }
}

/// Where sources are read from.
pub struct SourceRoot<'a> {
    pub dir: &'a Path,
    /// For the build context: the relative paths the context walk kept after .dockerignore. `None` for an
    /// image or stage rootfs, where everything is visible.
    pub included: Option<&'a BTreeSet<PathBuf>>,
    /// How messages name the root: `the build context`, `stage "build"`.
    pub what: String,
}

impl SourceRoot<'_> {
    fn is_context(&self) -> bool {
        self.included.is_some()
    }

    /// Whether a path (relative to the root) may be read.
    fn visible(&self, rel: &Path) -> bool {
        match self.included {
            None => true,
            Some(set) => rel.as_os_str().is_empty() || set.contains(rel),
        }
    }
}

/// One COPY/ADD with every word expanded.
pub struct CopySpec {
    pub sources: Vec<String>,
    /// Heredoc sources (`COPY <<EOF /dst`): name and (expanded) content.
    pub heredocs: Vec<(String, String)>,
    pub dest: String,
    pub workdir: String,
    pub owner: (u32, u32),
    pub chmod: Option<Chmod>,
    pub add: bool,
    /// `--parents`: each source keeps its path (after a `/./` pivot, if any) under the destination.
    pub parents: bool,
    pub exclude: Vec<String>,
    /// mtime for entries the step creates (heredoc files, new parent dirs).
    pub now: (i64, i64),
    /// ADD's URL sources, already downloaded.
    pub downloads: Vec<super::fetch::Download>,
    /// ADD's git sources, checked out: (the source as written, the tree to copy).
    pub git_trees: Vec<(String, PathBuf)>,
}

enum Item {
    Heredoc {
        name: String,
        content: String,
    },
    Url {
        path: PathBuf,
        name: String,
        mtime: Option<i64>,
    },
    /// A git checkout: its contents go into the destination, as a directory source's do.
    GitTree(PathBuf),
    /// `rel`: the resolved (symlink-free) path in the source root; `name`: the source's own name; `kept`:
    /// with `--parents`, the path it gets under the destination.
    Entry {
        rel: PathBuf,
        name: OsString,
        kept: Option<PathBuf>,
    },
}

fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

fn glob(pattern: &str) -> Result<GlobMatcher, CopyError> {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| CopyError::BadPattern { pattern: pattern.to_string(), message: e.to_string() })
}

/// Run one COPY/ADD, writing into `upper`, with destinations resolved inside `rootfs`; context files go
/// through `reuse` when given (a link to the previous result where provably the same, `super::reuse`).
pub fn run(
    spec: &CopySpec,
    src: &SourceRoot,
    rootfs: &Path,
    upper: &Path,
    reuse: Option<&Reuse>,
) -> Result<(), CopyError> {
    if !nix::unistd::geteuid().is_root() {
        return Err(CopyError::NeedsRoot);
    }
    let excludes = spec.exclude.iter().map(|p| glob(p)).collect::<Result<Vec<_>, _>>()?;
    let items = collect_sources(spec, src, &excludes)?;
    let dest_path = if spec.dest.starts_with('/') {
        spec.dest.clone()
    } else {
        format!("{}/{}", spec.workdir.trim_end_matches('/'), spec.dest)
    };
    let dir_hint = spec.dest.ends_with('/') || spec.dest.ends_with("/.") || spec.dest == "." || spec.dest == "..";
    let dest = rootpath::resolve(rootfs, Path::new(&dest_path), true, Escape::Clamp)
        .map_err(|source| CopyError::Resolve { path: dest_path.clone(), source })?;
    let writer = Writer { rootfs, upper, spec, copier: Default::default(), copied_up: Default::default(), reuse };
    let dest_is_dir = dir_hint || writer.is_dir(&dest);
    let dest_is_dir = dest_is_dir || spec.parents;
    let many = items.len() > 1 || spec.sources.iter().any(|s| has_glob(s));
    if items.len() > 1 && !dest_is_dir {
        return Err(CopyError::DestNotDir(spec.dest.clone()));
    }
    for item in items {
        crate::interrupt::check()?;
        match item {
            Item::Heredoc { name, content } => {
                let target = if dest_is_dir || many { dest.join(&name) } else { dest.clone() };
                writer.write_bytes(&target, content.as_bytes())?;
            }
            Item::Url { path, name, mtime } => {
                let target = if dest_is_dir || many { dest.join(&name) } else { dest.clone() };
                writer.write_download(&path, &target, mtime)?;
            }
            Item::GitTree(tree) => {
                let meta = fs::symlink_metadata(&tree).map_err(io_err(&tree))?;
                writer.ensure_dir(&dest, Some(&meta))?;
                let root = SourceRoot { dir: &tree, included: None, what: "the git checkout".into() };
                writer.copy_tree(&root, Path::new(""), &tree, &dest, &excludes)?;
            }
            Item::Entry { rel, name, kept } => {
                let path = src.dir.join(&rel);
                let meta = fs::symlink_metadata(&path).map_err(io_err(&path))?;
                if meta.is_dir() {
                    let dest = kept.map_or_else(|| dest.clone(), |k| dest.join(k));
                    writer.ensure_dir(&dest, Some(&meta))?;
                    writer.copy_tree(src, &rel, &path, &dest, &excludes)?;
                } else if spec.add && meta.is_file() && is_archive(&path)? {
                    let dest = match kept {
                        Some(k) => dest.join(k.parent().unwrap_or(Path::new(""))),
                        None => dest.clone(),
                    };
                    writer.ensure_dir(&dest, None)?;
                    writer.unpack(&path, &dest)?;
                } else {
                    let target = match kept {
                        Some(k) => dest.join(k),
                        None if dest_is_dir || many => dest.join(&name),
                        None => dest.clone(),
                    };
                    writer.copy_entry(&path, &meta, &target, false)?;
                }
            }
        }
    }
    writer.drop_untouched_copies()
}

fn collect_sources(spec: &CopySpec, src: &SourceRoot, excludes: &[GlobMatcher]) -> Result<Vec<Item>, CopyError> {
    let mut items = Vec::new();
    for source in &spec.sources {
        if let Some(name) = source.strip_prefix("<<") {
            let name = name.trim_start_matches('-').trim_matches(|c| c == '"' || c == '\'');
            if let Some((n, content)) = spec.heredocs.iter().find(|(n, _)| n == name) {
                items.push(Item::Heredoc { name: n.clone(), content: content.clone() });
                continue;
            }
        }
        if spec.add {
            if let Some((_, tree)) = spec.git_trees.iter().find(|(s, _)| s == source) {
                items.push(Item::GitTree(tree.clone()));
                continue;
            }
            if let Some(d) = spec.downloads.iter().find(|d| &d.url == source) {
                items.push(Item::Url { path: d.path.clone(), name: d.name.clone(), mtime: d.mtime });
                continue;
            }
            if source.contains("://") {
                return Err(CopyError::Remote(super::git::redact(source)));
            }
        }
        let clean = |text: &str| match rootpath::clean(Path::new(text)) {
            Some(c) => Ok(c),
            None if src.is_context() => Err(CopyError::OutsideContext(source.clone())),
            None => Ok(rootpath::clamp(Path::new(text))),
        };
        let cleaned = clean(&unpivot(source))?;
        // With --parents, the components before a `/./` pivot are dropped from the kept path (rsync -R).
        let dropped = match (spec.parents, pivot(source)) {
            (false, _) => None,
            (true, None) => Some(0),
            (true, Some(at)) => Some(clean(&source[..at])?.components().count()),
        };
        let kept = |rel: &Path| dropped.map(|n| rel.components().skip(n).collect::<PathBuf>());
        // The source is Dockerfile text (UTF-8); the names it matches may be any bytes.
        let cleaned_text = cleaned.to_string_lossy().into_owned();
        if has_glob(&cleaned_text) {
            let matches = glob_matches(src, &cleaned_text)?;
            if matches.is_empty() {
                return Err(CopyError::NoMatch { pattern: source.clone(), root: src.what.clone() });
            }
            // `--exclude` drops matches too (`COPY --exclude=*.txt hom* /dst/`), as in BuildKit.
            for m in matches.into_iter().filter(|m| !excludes.iter().any(|g| g.is_match(m))) {
                items.push(resolve_entry(src, &m, source, kept(&m))?);
            }
        } else {
            items.push(resolve_entry(src, &cleaned, source, kept(&cleaned))?);
        }
    }
    Ok(items)
}

/// Where a source's `--parents` pivot (`src/./app`) is: the byte index of its `/./`.
fn pivot(source: &str) -> Option<usize> {
    source.find("/./")
}

/// The source path without its pivot mark.
pub fn unpivot(source: &str) -> String {
    match pivot(source) {
        Some(at) => format!("{}/{}", &source[..at], &source[at + 3..]),
        None => source.to_string(),
    }
}

fn resolve_entry(src: &SourceRoot, rel: &Path, source: &str, kept: Option<PathBuf>) -> Result<Item, CopyError> {
    let escape = if src.is_context() { Escape::Refuse } else { Escape::Clamp };
    let resolved = rootpath::resolve(src.dir, rel, true, escape).map_err(|e| match e {
        RootPathError::Escapes => CopyError::OutsideContext(source.to_string()),
        e => CopyError::Resolve { path: source.to_string(), source: e },
    })?;
    let exists = fs::symlink_metadata(src.dir.join(&resolved)).is_ok();
    if !exists || !src.visible(&resolved) {
        let hint = if exists { " (excluded by .dockerignore)" } else { "" };
        return Err(CopyError::NotFound { source_path: source.to_string(), root: src.what.clone(), hint });
    }
    // The destination name is the source's own name, not its symlink target's.
    let name = rel.file_name().map(OsString::from).unwrap_or_default();
    Ok(Item::Entry { rel: resolved, name, kept })
}

fn glob_matches(src: &SourceRoot, pattern: &str) -> Result<Vec<PathBuf>, CopyError> {
    let matcher = glob(pattern)?;
    let mut out: Vec<PathBuf> = match src.included {
        Some(set) => set.iter().filter(|p| matcher.is_match(p)).cloned().collect(),
        None => {
            // `**` crosses directories; anything else matches at the pattern's own depth.
            let depth = if pattern.contains("**") { usize::MAX } else { pattern.split('/').count() };
            let mut v = Vec::new();
            for e in walkdir::WalkDir::new(src.dir).min_depth(1).max_depth(depth).follow_links(false) {
                let e = e.map_err(|e| CopyError::Io {
                    path: src.dir.display().to_string(),
                    source: io::Error::other(e.to_string()),
                })?;
                let rel = e.path().strip_prefix(src.dir).unwrap_or(e.path()).to_path_buf();
                if matcher.is_match(&rel) {
                    v.push(rel);
                }
            }
            v
        }
    };
    out.sort();
    Ok(out)
}

/// Magic numbers of the archive formats ADD unpacks (after decompression, a tar header).
fn is_archive(path: &Path) -> Result<bool, CopyError> {
    crate::layer::is_tar_archive(path).map_err(io_err(path))
}

/// Writes into `upper`, reading `rootfs` for what exists: either both the mounted overlay, or (see
/// `Active::mount_beside`) the bare upper dir beside a read-only view of the layers below. The second does
/// overlay's copy-up itself, so both give the same upper dir.
struct Writer<'a> {
    rootfs: &'a Path,
    upper: &'a Path,
    spec: &'a CopySpec,
    copier: fsops::FileCopier,
    /// Existing dirs of the image made in the upper dir (copied up) that no write has touched yet: overlay
    /// copies a dir up only when something is written in it, so those still empty at the end go again.
    copied_up: std::cell::RefCell<BTreeSet<PathBuf>>,
    reuse: Option<&'a Reuse<'a>>,
}

impl Writer<'_> {
    fn is_dir(&self, rel: &Path) -> bool {
        [self.upper, self.rootfs].iter().any(|root| fs::symlink_metadata(root.join(rel)).is_ok_and(|m| m.is_dir()))
    }

    fn new_dir_attrs(&self) -> Attrs {
        Attrs { uid: self.spec.owner.0, gid: self.spec.owner.1, mode: 0o755, mtime: self.spec.now }
    }

    /// Make `comps` a directory in the upper dir, with its parents. Existing image dirs keep their attributes;
    /// new ones take `source`'s mode and mtime (when copying a directory) or 0755.
    fn ensure_dir(&self, rel: &Path, source: Option<&fs::Metadata>) -> Result<(), CopyError> {
        let count = rel.components().count();
        let mut prefix = PathBuf::new();
        for (i, c) in rel.components().enumerate() {
            prefix.push(c);
            let up = self.upper.join(&prefix);
            if fs::symlink_metadata(&up).is_ok_and(|m| m.is_dir()) {
                continue;
            }
            let lower = self.rootfs.join(&prefix);
            let mut copy_up = false;
            let attrs = match fs::symlink_metadata(&lower) {
                Ok(m) if m.is_dir() => {
                    copy_up = true;
                    Attrs::of(&m)
                }
                Ok(_) => return Err(CopyError::NotADirectory(rootpath::display(&prefix))),
                Err(_) if i + 1 == count => match source {
                    Some(m) => Attrs { uid: self.spec.owner.0, gid: self.spec.owner.1, ..self.mode_of(m) },
                    None => self.new_dir_attrs(),
                },
                Err(_) => self.new_dir_attrs(),
            };
            fsops::remove_any(&up).map_err(io_err(&up))?;
            fs::create_dir(&up).map_err(io_err(&up))?;
            if copy_up {
                copy_xattrs(&lower, &up).map_err(io_err(&up))?;
                self.copied_up.borrow_mut().insert(prefix.clone());
            }
            fsops::apply(&up, &attrs, false).map_err(io_err(&up))?;
        }
        Ok(())
    }

    /// Remove the copied-up dirs nothing was written in, deepest first (a parent empties once its child
    /// goes), so the layer holds what overlay's own copy-up would have put there.
    fn drop_untouched_copies(&self) -> Result<(), CopyError> {
        for rel in self.copied_up.borrow().iter().rev() {
            let up = self.upper.join(rel);
            match fs::remove_dir(&up) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(nix::libc::ENOTEMPTY) => {}
                Err(e) => return Err(CopyError::Io { path: up.display().to_string(), source: e }),
            }
        }
        Ok(())
    }

    /// Source attributes with COPY's ownership and `--chmod` applied.
    fn mode_of(&self, meta: &fs::Metadata) -> Attrs {
        let mut a = Attrs::of(meta);
        a.uid = self.spec.owner.0;
        a.gid = self.spec.owner.1;
        if let Some(m) = &self.spec.chmod {
            a.mode = m.apply(a.mode, meta.is_dir());
        }
        a
    }

    /// `parent_ready`: the caller made the target's parent dir already (a tree walk visits a dir first).
    fn prepare_target(&self, target: &Path, parent_ready: bool) -> Result<PathBuf, CopyError> {
        match target.parent() {
            Some(parent) if !parent_ready => self.ensure_dir(parent, None)?,
            _ => {}
        }
        if fs::symlink_metadata(self.rootfs.join(target)).is_ok_and(|m| m.is_dir()) {
            return Err(CopyError::OverwriteDir(rootpath::display(target)));
        }
        let up = self.upper.join(target);
        fsops::remove_any(&up).map_err(io_err(&up))?;
        if let Some(r) = self.reuse {
            r.forget(target);
        }
        Ok(up)
    }

    fn write_bytes(&self, target: &Path, content: &[u8]) -> Result<(), CopyError> {
        let up = self.prepare_target(target, false)?;
        fs::write(&up, content).map_err(io_err(&up))?;
        let attrs = Attrs {
            uid: self.spec.owner.0,
            gid: self.spec.owner.1,
            mode: self.spec.chmod.as_ref().map_or(0o644, |m| m.apply(0o644, false)),
            mtime: self.spec.now,
        };
        fsops::apply(&up, &attrs, false).map_err(io_err(&up))
    }

    /// A downloaded file: mode 0600 (or `--chmod`), mtime from `Last-Modified` when the server sent one.
    fn write_download(&self, from: &Path, target: &Path, mtime: Option<i64>) -> Result<(), CopyError> {
        let up = self.prepare_target(target, false)?;
        fs::copy(from, &up).map_err(io_err(&up))?;
        let attrs = Attrs {
            uid: self.spec.owner.0,
            gid: self.spec.owner.1,
            mode: self.spec.chmod.as_ref().map_or(0o600, |m| m.apply(0o600, false)),
            mtime: mtime.map(|t| (t, 0)).unwrap_or(self.spec.now),
        };
        fsops::apply(&up, &attrs, false).map_err(io_err(&up))
    }

    /// Copy one non-directory entry (file or symlink; other kinds are recreated as empty files' absence:
    /// sockets and devices in a context are skipped, as BuildKit's context transfer skips them).
    fn copy_entry(&self, path: &Path, meta: &fs::Metadata, target: &Path, parent_ready: bool) -> Result<(), CopyError> {
        let ft = meta.file_type();
        if !(ft.is_file() || ft.is_symlink()) {
            return Ok(());
        }
        let up = self.prepare_target(target, parent_ready)?;
        if ft.is_symlink() {
            let link = fs::read_link(path).map_err(io_err(path))?;
            std::os::unix::fs::symlink(&link, &up).map_err(io_err(&up))?;
            let mut a = self.mode_of(meta);
            a.mode = 0o777;
            fsops::apply(&up, &a, true).map_err(io_err(&up))
        } else {
            let attrs = self.mode_of(meta);
            let copied = match self.reuse {
                Some(r) => r.copy(&self.copier, path, meta, target, &up, &attrs),
                None => self.copier.copy(path, meta.len(), &up, &attrs),
            };
            copied.map_err(|source| CopyError::Copy {
                from: path.display().to_string(),
                to: up.display().to_string(),
                source,
            })
        }
    }

    /// Copy the contents of directory `dir` (at `rel` in the source root) into `dest`.
    fn copy_tree(
        &self,
        src: &SourceRoot,
        rel: &Path,
        dir: &Path,
        dest: &Path,
        excludes: &[GlobMatcher],
    ) -> Result<(), CopyError> {
        let walker = walkdir::WalkDir::new(dir).min_depth(1).follow_links(false).sort_by_file_name();
        let mut it = walker.into_iter();
        while let Some(entry) = it.next() {
            crate::interrupt::check()?;
            let entry = entry.map_err(|e| CopyError::Io {
                path: dir.display().to_string(),
                source: e.into_io_error().unwrap_or_else(|| io::Error::other("walk failed")),
            })?;
            let sub = entry.path().strip_prefix(dir).unwrap_or(entry.path());
            let excluded = excludes.iter().any(|g| g.is_match(sub));
            if !src.visible(&rel.join(sub)) || excluded {
                if entry.file_type().is_dir() {
                    it.skip_current_dir();
                }
                continue;
            }
            let target = dest.join(sub);
            let meta = entry.path().symlink_metadata().map_err(io_err(entry.path()))?;
            if meta.is_dir() {
                self.ensure_dir(&target, Some(&meta))?;
                // Children are written after the dir; its mtime is restored below once they are in.
            } else {
                self.copy_entry(entry.path(), &meta, &target, true)?;
            }
        }
        // Writing children changed directory mtimes: put the sources' back, deepest first.
        let mut dirs: Vec<_> = walkdir::WalkDir::new(dir)
            .follow_links(false)
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_dir())
            .collect();
        dirs.sort_by_key(|e| std::cmp::Reverse(e.depth()));
        for e in dirs {
            let sub = e.path().strip_prefix(dir).unwrap_or(e.path());
            let mut up = self.upper.join(dest);
            if !sub.as_os_str().is_empty() {
                up.push(sub);
            } else if fs::symlink_metadata(self.rootfs.join(dest)).is_ok() {
                continue; // an existing image dir keeps its own attributes
            }
            if let Ok(m) = e.metadata() {
                self.copied_up.borrow_mut().remove(&dest.join(sub));
                if up.exists() {
                    fsops::set_mtime(&up, (m.mtime(), m.mtime_nsec())).map_err(io_err(&up))?;
                }
            }
        }
        Ok(())
    }

    fn unpack(&self, archive: &Path, dest: &Path) -> Result<(), CopyError> {
        let target = self.upper.join(dest);
        let failed = |message: String| CopyError::Archive { path: archive.display().to_string(), message };
        let limits = crate::layer::ArchiveLimits::from_env().map_err(|e| failed(e.to_string()))?;
        let file = fs::File::open(archive).map_err(io_err(archive))?;
        crate::layer::extract_tar_within(io::BufReader::new(file), &target, limits).map_err(|e| failed(e.to_string()))
    }
}

/// The xattrs overlay's copy-up keeps (all but overlay's own `trusted.overlay.*`).
fn copy_xattrs(from: &Path, to: &Path) -> io::Result<()> {
    for name in xattr::list(from)? {
        if name.as_encoded_bytes().starts_with(b"trusted.overlay.") {
            continue;
        }
        if let Some(value) = xattr::get(from, &name)? {
            xattr::set(to, &name, &value)?;
        }
    }
    Ok(())
}
