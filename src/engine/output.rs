//! Build outputs (`build -o/--output`, in buildx's syntax): where the built image goes besides the store.
//!
//! The image is always committed to the store first (tagged with the `-t` names, untagged without
//! them), as `podman build` does: every output below is written *from* the store by the writers that
//! `save` and `export` use; `-o type=oci|docker` first gzips the layers the store keeps as plain tars
//! (`layer::distributable`, once per layer), so its archive is `rbuild save --format oci` of the image
//! as it would be pushed. Files are published atomically: an archive is written to a temp file beside its
//! destination and renamed; a layout directory is filled beside its destination and renamed; a local
//! rootfs is unpacked beside its destination and then moved in, replacing what is there (as BuildKit's
//! local exporter overwrites), so a failed build or export never leaves half an archive under the name.

use crate::archive::{self, ArchiveError, Format};
use crate::digest::Digest;
use crate::layer::{self, Compression};
use crate::reference::ImageRef;
use crate::store::{Image, Store, StoreError};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Where a tar-shaped output goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dest {
    Stdout,
    File(PathBuf),
}

/// One build output, parsed and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// The store only (the default); `push`: also to each name's registry (`type=registry`).
    Image { names: Vec<ImageRef>, push: bool },
    /// An OCI image layout: a tar archive, or (`tar=false`) a directory.
    Oci { dest: Dest, tar: bool, names: Vec<ImageRef> },
    /// A docker-archive that `docker load` reads.
    Docker { dest: Dest, names: Vec<ImageRef> },
    /// The final stage's flattened rootfs as one tar (what `rbuild export` writes).
    Tar { dest: Dest },
    /// The final stage's flattened rootfs as files in a directory.
    Local { dir: PathBuf },
}

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("-o {spec:?}: {field:?} is not KEY=VALUE (e.g. type=oci,dest=out.tar)")]
    Malformed { spec: String, field: String },
    #[error("-o {spec:?}: unknown type {value:?} (types: image, registry, oci, docker, tar, local)")]
    UnknownType { spec: String, value: String },
    #[error("-o {spec:?}: type={kind} has no key {key:?} (its keys: {known})")]
    UnknownKey { spec: String, kind: &'static str, key: String, known: &'static str },
    #[error("-o {spec:?}: {key}={value:?}: {why}")]
    BadValue { spec: String, key: &'static str, value: String, why: String },
    #[error("-o {spec:?}: type= is required (image, registry, oci, docker, tar, local)")]
    MissingType { spec: String },
    #[error("-o {spec:?}: type={kind} needs dest=DIR")]
    MissingDest { spec: String, kind: &'static str },
    #[error("output directory {}: {why}", path.display())]
    Destination { path: PathBuf, why: &'static str },
    #[error("{what} {}: {source}", path.display())]
    Io { what: &'static str, path: PathBuf, source: io::Error },
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Layer(#[from] crate::layer::LayerError),
}

/// Split on commas outside double quotes, as buildx reads `-o` (a CSV record): `"name=a,b"` is one field.
fn fields(spec: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    for c in spec.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(String::new()),
            c => out.last_mut().expect("never empty").push(c),
        }
    }
    out
}

impl Output {
    /// Parse an `-o` value: `-` (a rootfs tar on stdout), a bare path (`type=local,dest=PATH`), or
    /// `type=TYPE,KEY=VALUE,…`.
    pub fn parse(spec: &str) -> Result<Output, OutputError> {
        if spec == "-" {
            return Ok(Output::Tar { dest: Dest::Stdout });
        }
        if !spec.contains('=') {
            return Ok(Output::Local { dir: PathBuf::from(spec) });
        }
        let mut kind = None;
        let mut pairs = Vec::new();
        for field in fields(spec) {
            let Some((k, v)) = field.split_once('=') else {
                return Err(OutputError::Malformed { spec: spec.into(), field });
            };
            match k.trim() {
                "type" => kind = Some(v.to_string()),
                k => pairs.push((k.to_string(), v.to_string())),
            }
        }
        // As buildx: with keys, the type must be named.
        let Some(kind) = kind else { return Err(OutputError::MissingType { spec: spec.into() }) };
        let (kind, known): (&'static str, &'static str) = match kind.as_str() {
            "image" => ("image", "name, push"),
            "registry" => ("registry", "name, push"),
            "oci" => ("oci", "dest, name, tar"),
            "docker" => ("docker", "dest, name"),
            "tar" => ("tar", "dest"),
            "local" => ("local", "dest"),
            _ => return Err(OutputError::UnknownType { spec: spec.into(), value: kind }),
        };
        let mut dest = None;
        let mut names = Vec::new();
        let mut push = kind == "registry";
        let mut tar = true;
        for (key, value) in pairs {
            let bad = |key: &'static str, why: String| OutputError::BadValue {
                spec: spec.into(),
                key,
                value: value.clone(),
                why,
            };
            match key.as_str() {
                "dest" if known.contains("dest") => {
                    if value.is_empty() {
                        return Err(bad("dest", "empty: give a path, or - for standard output".into()));
                    }
                    dest = Some(value.clone());
                }
                "name" if known.contains("name") => {
                    for n in value.split(',').filter(|n| !n.is_empty()) {
                        names.push(ImageRef::parse(n).map_err(|e| bad("name", e.to_string()))?);
                    }
                }
                "push" if known.contains("push") => push = parse_bool(&value).ok_or_else(|| bad("push", bool_why()))?,
                "tar" if known.contains("tar") => tar = parse_bool(&value).ok_or_else(|| bad("tar", bool_why()))?,
                _ => return Err(OutputError::UnknownKey { spec: spec.into(), kind, key, known }),
            }
        }
        let to_dest = |d: Option<String>| match d.as_deref() {
            None | Some("-") => Dest::Stdout,
            Some(p) => Dest::File(PathBuf::from(p)),
        };
        Ok(match kind {
            "image" | "registry" => Output::Image { names, push },
            "oci" if !tar => match dest {
                Some(d) if d != "-" => Output::Oci { dest: Dest::File(d.into()), tar, names },
                _ => {
                    return Err(OutputError::BadValue {
                        spec: spec.into(),
                        key: "tar",
                        value: "false".into(),
                        why: "an OCI layout directory needs dest=DIR (not standard output)".into(),
                    })
                }
            },
            "oci" => Output::Oci { dest: to_dest(dest), tar, names },
            "docker" => Output::Docker { dest: to_dest(dest), names },
            "tar" => Output::Tar { dest: to_dest(dest) },
            // As buildx: a local output to `-` is the same files as a tar on standard output.
            _ => match dest.as_deref() {
                None => return Err(OutputError::MissingDest { spec: spec.into(), kind }),
                Some("-") => Output::Tar { dest: Dest::Stdout },
                Some(d) => Output::Local { dir: d.into() },
            },
        })
    }

    /// Refuse a destination that cannot be written, before anything is built.
    pub fn preflight(&self) -> Result<(), OutputError> {
        match self {
            Output::Oci { dest: Dest::File(dir), tar: false, .. } => layout_target(dir).map(|_| ()),
            Output::Local { dir } => local_target(dir),
            _ => Ok(()),
        }
    }

    /// Whether the output is written to standard output (so nothing else may be).
    pub fn to_stdout(&self) -> bool {
        matches!(
            self,
            Output::Oci { dest: Dest::Stdout, .. }
                | Output::Docker { dest: Dest::Stdout, .. }
                | Output::Tar { dest: Dest::Stdout }
        )
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "true" | "1" | "True" | "TRUE" | "t" => Some(true),
        "false" | "0" | "False" | "FALSE" | "f" => Some(false),
        _ => None,
    }
}

fn bool_why() -> String {
    "expected true or false".into()
}

/// Write the built image (`manifest`, already in the store) to `output`; `tags` name it in archives
/// that have no `name=` of their own. `Image` outputs need nothing here (pushing is the caller's).
pub fn deliver(store: &Store, output: &Output, manifest: &Digest, tags: &[ImageRef]) -> Result<(), OutputError> {
    if let Output::Image { .. } = output {
        return Ok(());
    }
    // Leased: the image must survive a concurrent `prune` while it is written out. (One pruned between
    // its commit and here is reported as not found: `system prune -a` during a build asks for that.)
    let mut lease = store.lease()?;
    let image = store.lock()?.resolve_leased(&manifest.to_string(), &mut lease)?;
    // Archives and layouts get gzip layers, as BuildKit writes them: a plain-tar layer is compressed
    // once, and the next output or push reuses the blob.
    let image = match output {
        Output::Oci { .. } | Output::Docker { .. } => {
            layer::distributable(store, &mut lease, &image, Compression::Gzip)?
        }
        _ => image,
    };
    let named = |names: &[ImageRef]| {
        let names = if names.is_empty() { tags } else { names };
        vec![(image.clone(), names.iter().map(ImageRef::tagged_name).collect::<Vec<_>>())]
    };
    match output {
        Output::Image { .. } => Ok(()),
        Output::Oci { dest: Dest::File(dir), tar: false, names } => layout_dir(store, &named(names), dir),
        Output::Oci { dest, names, .. } => {
            write_tar(dest, |w| archive::save(store, &named(names), Format::Oci, w).map_err(Into::into))
        }
        Output::Docker { dest, names } => {
            write_tar(dest, |w| archive::save(store, &named(names), Format::Docker, w).map_err(Into::into))
        }
        Output::Tar { dest } => write_tar(dest, |w| archive::export(store, &image, w).map_err(Into::into)),
        Output::Local { dir } => local(store, &image, dir),
    }
}

/// A tar stream to standard output, or to a temp file beside `path` renamed over it once complete.
fn write_tar(dest: &Dest, write: impl FnOnce(&mut dyn Write) -> Result<(), OutputError>) -> Result<(), OutputError> {
    let path = match dest {
        Dest::Stdout => {
            let mut out = io::BufWriter::new(io::stdout().lock());
            write(&mut out)?;
            return out.flush().map_err(|source| OutputError::Io { what: "cannot write", path: "-".into(), source });
        }
        Dest::File(path) => path,
    };
    let io_err = |what| move |source| OutputError::Io { what, path: path.clone(), source };
    let mut tmp = tempfile::NamedTempFile::new_in(parent(path)).map_err(io_err("cannot write beside"))?;
    {
        let mut w = io::BufWriter::new(tmp.as_file_mut());
        write(&mut w)?;
        w.flush().map_err(io_err("cannot write"))?;
    }
    tmp.as_file().sync_all().map_err(io_err("cannot write"))?;
    tmp.persist(path).map_err(|e| io_err("cannot write")(e.error))?;
    Ok(())
}

/// The directory a destination lives in (`.` for a bare file name).
fn parent(path: &Path) -> &Path {
    path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// An OCI layout directory at `dir`, which must be absent or empty: merging into another layout's
/// index.json would silently drop or shadow its images.
fn layout_dir(store: &Store, images: &[(Image, Vec<String>)], dir: &Path) -> Result<(), OutputError> {
    let io_err = |what| move |source| OutputError::Io { what, path: dir.to_path_buf(), source };
    if layout_target(dir)? {
        std::fs::remove_dir(dir).map_err(io_err("cannot replace"))?;
    }
    let tmp = tempfile::Builder::new()
        .prefix(".rbuild-output-")
        .tempdir_in(parent(dir))
        .map_err(io_err("cannot write beside"))?;
    archive::save_dir(store, images, Format::Oci, tmp.path())?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).map_err(io_err("cannot write"))?;
    std::fs::rename(tmp.path(), dir).map_err(io_err("cannot create"))?;
    // Renamed away: nothing left for the guard to remove.
    let _ = tmp.keep();
    Ok(())
}

/// Whether the layout's destination exists (as an empty directory); an error when it cannot be one.
fn layout_target(dir: &Path) -> Result<bool, OutputError> {
    match std::fs::read_dir(dir).map(|mut entries| entries.next().is_none()) {
        Ok(true) => Ok(true),
        Ok(false) => Err(OutputError::Destination {
            path: dir.into(),
            why: "is not empty: an OCI layout needs an empty or new directory (remove it or name another)",
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) if e.kind() == io::ErrorKind::NotADirectory => {
            Err(OutputError::Destination { path: dir.into(), why: "exists and is not a directory" })
        }
        Err(source) => Err(OutputError::Io { what: "cannot read", path: dir.into(), source }),
    }
}

/// A local output's destination must be a directory or nothing yet.
fn local_target(dir: &Path) -> Result<(), OutputError> {
    match std::fs::symlink_metadata(dir) {
        Ok(m) if !m.is_dir() => {
            Err(OutputError::Destination { path: dir.into(), why: "exists and is not a directory" })
        }
        _ => Ok(()),
    }
}

/// The image's rootfs unpacked beside `dir`, then moved into it: what is there with the same names is
/// replaced, everything else in `dir` is kept (BuildKit's local exporter behaves the same).
fn local(store: &Store, image: &Image, dir: &Path) -> Result<(), OutputError> {
    let io_err = |what| move |source| OutputError::Io { what, path: dir.to_path_buf(), source };
    local_target(dir)?;
    std::fs::create_dir_all(dir).map_err(io_err("cannot create"))?;
    let dir = std::fs::canonicalize(dir).map_err(io_err("cannot resolve"))?;
    let beside = dir.parent().unwrap_or(&dir);
    let tmp = tempfile::Builder::new()
        .prefix(".rbuild-output-")
        .tempdir_in(beside)
        .map_err(|source| OutputError::Io { what: "cannot write in", path: beside.into(), source })?;
    archive::flatten(store, image, tmp.path())?;
    crate::fsops::merge_into(tmp.path(), &dir).map_err(|source| OutputError::Io {
        what: "cannot move the rootfs into",
        path: dir.clone(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Output {
        Output::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn err(s: &str) -> String {
        Output::parse(s).expect_err(s).to_string()
    }

    #[test]
    fn shorthands_are_buildx_ones() {
        assert_eq!(parse("-"), Output::Tar { dest: Dest::Stdout });
        assert_eq!(parse("out/dir"), Output::Local { dir: "out/dir".into() });
        assert_eq!(parse("type=local,dest=-"), Output::Tar { dest: Dest::Stdout });
        assert_eq!(parse("type=registry"), Output::Image { names: vec![], push: true });
        assert_eq!(parse("type=image,push=true"), Output::Image { names: vec![], push: true });
    }

    #[test]
    fn every_type_with_its_keys() {
        assert_eq!(
            parse("type=oci,dest=a.tar"),
            Output::Oci { dest: Dest::File("a.tar".into()), tar: true, names: vec![] }
        );
        assert_eq!(
            parse("type=oci,dest=lay,tar=false"),
            Output::Oci { dest: Dest::File("lay".into()), tar: false, names: vec![] }
        );
        assert_eq!(parse("type=docker"), Output::Docker { dest: Dest::Stdout, names: vec![] });
        assert_eq!(parse("type=tar,dest=-"), Output::Tar { dest: Dest::Stdout });
        assert_eq!(parse("type=local,dest=d"), Output::Local { dir: "d".into() });
        let Output::Image { names, push: false } = parse("type=image,\"name=a:1,b:2\"") else { panic!() };
        assert_eq!(names.iter().map(ImageRef::tagged_name).collect::<Vec<_>>(), ["a:1", "b:2"]);
    }

    #[test]
    fn bad_values_name_the_key() {
        assert!(err("type=zip,dest=x").contains("unknown type \"zip\""));
        assert!(err("type=oci,dset=x").contains("no key \"dset\""));
        assert!(err("type=tar,name=a").contains("no key \"name\""));
        assert!(err("type=image,push=maybe").contains("push=\"maybe\""));
        assert!(err("type=oci,tar=false").contains("tar="));
        assert!(err("type=local").contains("needs dest=DIR"));
        assert!(err("type=oci,dest=x,junk").contains("\"junk\" is not KEY=VALUE"));
        assert!(err("type=image,name=UPPER:1").contains("name=\"UPPER:1\""));
        assert!(err("dest=x.tar").contains("type= is required"));
    }
}
