//! Writing layers: a directory tree (a step's upper dir) or an existing tar stream becomes a layer blob
//! in one streaming pass: tar → sha256 (diff_id) → compressor → sha256 (digest) → store temp file. Both
//! hashes run on worker threads (the diff_id's in [`DiffIdTee`], the digest's in the store's blob writer),
//! so the thread writing the tar only reads files and feeds the compressor. A plain (uncompressed) layer
//! is hashed once: its blob is the tar, so the blob's digest is the diff_id.

use super::compress::{Compression, Compressor};
use super::whiteout;
use super::{Layer, LayerError, LayerOptions};
use crate::digest::Digest;
use crate::store::{to_oci_digest, BlobWriter, Offloaded, Store};
use oci_spec::image::DescriptorBuilder;
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::fs::{self, File, Metadata};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::Path;
use tar::{EntryType, Header};

/// The largest value a ustar numeric field holds in octal (7 digits) and the size field (11 digits);
/// beyond them the value goes into a PAX record.
const USTAR_MAX_ID: u64 = 0o7_777_777;
const USTAR_MAX_SIZE: u64 = 0o77_777_777_777;
/// Files from this size on are copied into the tar in pieces of this size (see [`append_large`]).
const COPY_BUF: usize = 1 << 20;

type TarSink = tar::Builder<DiffIdTee>;
/// Extended attributes as (name, value) pairs, sorted by name.
type Xattrs = Vec<(Vec<u8>, Vec<u8>)>;

/// Write the tree under `dir` as a layer blob and return its descriptor and diff_id. `dir` itself is the
/// layer root and gets no entry; an empty dir gives the empty tar (1024 zero bytes).
pub fn write(store: &Store, dir: &Path, opts: &LayerOptions) -> Result<Layer, LayerError> {
    finish(write_tree(dir, DiffIdTee::new(opts, store)?, opts)?, opts)
}

/// Write the tree under `dir` as a tar stream into `out` (entries sorted, as for a layer), e.g. the
/// flattened rootfs of `rbuild export`. Returns the tar builder, to be finished by the caller.
pub fn write_tree<W: Write>(dir: &Path, out: W, opts: &LayerOptions) -> Result<tar::Builder<W>, LayerError> {
    let mut tar = tar::Builder::new(out);
    let mut links: HashMap<(u64, u64), Vec<u8>> = HashMap::new();
    // Entries in the order of the names they get in the tar, so that an overlay whiteout (a char device
    // `NAME`, written as `.wh.NAME`) sorts where the copy backend's `.wh.NAME` file does: one tree, one
    // digest, whichever backend made the upper dir.
    let walk =
        walkdir::WalkDir::new(dir).follow_links(false).min_depth(1).sort_by(|a, b| tar_name(a).cmp(&tar_name(b)));
    for entry in walk {
        let entry = entry.map_err(|e| {
            let path = e.path().unwrap_or(dir).to_path_buf();
            LayerError::Io { what: "cannot walk", path, source: e.into() }
        })?;
        let path = entry.path();
        let rel = path.strip_prefix(dir).unwrap_or(path);
        let meta = fs::symlink_metadata(path).map_err(LayerError::io("cannot stat", path))?;
        append_entry(&mut tar, path, rel.as_os_str().as_bytes(), &meta, opts, &mut links)?;
    }
    Ok(tar)
}

/// Turn an uncompressed tar stream into a layer blob, keeping the tar bytes exactly as given (so the
/// diff_id is the sha256 of the input) and compressing them as `opts` says. The stream is parsed on the
/// way through so that something that is not a tar is refused; `source_date_epoch` does not apply.
pub fn ingest_tar(store: &Store, tar_stream: impl Read, opts: &LayerOptions) -> Result<Layer, LayerError> {
    let sink = DiffIdTee::new(opts, store)?;
    let mut archive = tar::Archive::new(Tee { inner: tar_stream, sink, error: None });
    for entry in archive.entries().map_err(LayerError::TarRead)? {
        let mut entry = entry.map_err(LayerError::TarRead)?;
        io::copy(&mut entry, &mut io::sink()).map_err(LayerError::TarRead)?;
    }
    let mut tee = archive.into_inner();
    // Trailing zero blocks and padding after the end-of-archive marker belong to the tar as given.
    io::copy(&mut tee, &mut io::sink()).map_err(LayerError::TarRead)?;
    if let Some(e) = tee.error {
        return Err(LayerError::TarWrite(e));
    }
    if tee.sink.count() == 0 {
        return Err(LayerError::TarRead(io::Error::new(io::ErrorKind::UnexpectedEof, "empty input")));
    }
    publish(tee.sink, opts)
}

/// The head of the layer pipeline: the uncompressed tar goes to the compressor, and its sha256 (the
/// diff_id) is computed on a worker thread; not for a plain layer, whose blob digest is the diff_id.
pub(crate) struct DiffIdTee {
    compressor: Compressor,
    hash: Option<Offloaded<Sha256>>,
    count: u64,
}

fn hash_step(h: &mut Sha256, chunk: &[u8]) -> io::Result<()> {
    h.update(chunk);
    Ok(())
}

impl DiffIdTee {
    fn new(opts: &LayerOptions, store: &Store) -> Result<DiffIdTee, LayerError> {
        let compressor = Compressor::new(opts.compression, store.blob_writer()?).map_err(LayerError::TarWrite)?;
        let hash = (opts.compression != Compression::None).then(|| Offloaded::new(Sha256::new(), hash_step));
        Ok(DiffIdTee { compressor, hash, count: 0 })
    }

    fn count(&self) -> u64 {
        self.count
    }

    /// The diff_id (`None` for a plain layer: it is the blob's digest) and the compressor, to be finished.
    fn finish(self) -> io::Result<(Option<Digest>, Compressor)> {
        let diff_id = match self.hash {
            Some(hash) => Some(Digest::from_sha256(hash.finish()?.finalize().into())),
            None => None,
        };
        Ok((diff_id, self.compressor))
    }
}

impl Write for DiffIdTee {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.compressor.write(buf)?;
        if let Some(hash) = &mut self.hash {
            hash.push(&buf[..n])?;
        }
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.compressor.flush()
    }
}

/// A reader that copies everything read into the layer pipeline.
struct Tee<R> {
    inner: R,
    sink: DiffIdTee,
    error: Option<io::Error>,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Err(e) = self.sink.write_all(&buf[..n]) {
            self.error = Some(io::Error::new(e.kind(), e.to_string()));
            return Err(e);
        }
        Ok(n)
    }
}

fn finish(tar: TarSink, opts: &LayerOptions) -> Result<Layer, LayerError> {
    let sink = tar.into_inner().map_err(LayerError::TarWrite)?;
    publish(sink, opts)
}

fn publish(sink: DiffIdTee, opts: &LayerOptions) -> Result<Layer, LayerError> {
    let (diff_id, compressor) = sink.finish().map_err(LayerError::TarWrite)?;
    let blob: BlobWriter = compressor.finish().map_err(LayerError::TarWrite)?;
    let (digest, size) = blob.commit(None)?;
    let diff_id = diff_id.unwrap_or_else(|| digest.clone());
    let descriptor = DescriptorBuilder::default()
        .media_type(opts.compression.media_type())
        .digest(to_oci_digest(&digest)?)
        .size(size)
        .build()
        .map_err(|source| crate::store::StoreError::Spec { what: "layer descriptor", source })?;
    Ok(Layer { descriptor, diff_id })
}

/// Append one walked path (with `rel` its name inside the layer).
fn append_entry<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &Path,
    rel: &[u8],
    meta: &Metadata,
    opts: &LayerOptions,
    links: &mut HashMap<(u64, u64), Vec<u8>>,
) -> Result<(), LayerError> {
    let ft = meta.file_type();
    if whiteout::is_overlay_whiteout(meta) {
        let (parent, name) = split_parent(rel);
        let mut wh = parent.to_vec();
        wh.extend_from_slice(whiteout::PREFIX.as_bytes());
        wh.extend_from_slice(name);
        let mut h = header(meta, opts);
        // The same entry the copy backend's whiteout file gives: a regular file ('0', not the '\0' of a
        // fresh header), mode 0, so both backends give one digest.
        h.set_entry_type(EntryType::Regular);
        h.set_mode(0);
        return append(tar, h, &wh, None, Vec::new(), io::empty());
    }
    if ft.is_socket() {
        // Sockets cannot be represented in a tar and mean nothing outside the process that made them.
        return Ok(());
    }
    let mut h = header(meta, opts);
    let xattrs = read_xattrs(path)?;
    if ft.is_dir() {
        h.set_entry_type(EntryType::Directory);
        let mut name = rel.to_vec();
        name.push(b'/');
        append(tar, h.clone(), &name, None, xattrs, io::empty())?;
        if whiteout::is_opaque_dir(path) {
            name.extend_from_slice(whiteout::OPAQUE.as_bytes());
            h.set_entry_type(EntryType::Regular);
            h.set_mode(0);
            append(tar, h, &name, None, Vec::new(), io::empty())?;
        }
        return Ok(());
    }
    if ft.is_symlink() {
        let target = fs::read_link(path).map_err(LayerError::io("cannot read symlink", path))?;
        h.set_entry_type(EntryType::Symlink);
        return append(tar, h, rel, Some(target.as_os_str().as_bytes()), xattrs, io::empty());
    }
    if ft.is_file() {
        if meta.nlink() > 1 {
            let key = (meta.dev(), meta.ino());
            if let Some(first) = links.get(&key) {
                h.set_entry_type(EntryType::Link);
                let first = first.clone();
                return append(tar, h, rel, Some(&first), xattrs, io::empty());
            }
            links.insert(key, rel.to_vec());
        }
        h.set_entry_type(EntryType::Regular);
        h.set_size(meta.len());
        let file = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
            .map_err(LayerError::io("cannot open", path))?;
        return append(tar, h, rel, None, xattrs, Exact { inner: file, remaining: meta.len() });
    }
    let kind = if ft.is_char_device() {
        EntryType::Char
    } else if ft.is_block_device() {
        EntryType::Block
    } else {
        EntryType::Fifo
    };
    h.set_entry_type(kind);
    if kind != EntryType::Fifo {
        let rdev = meta.rdev();
        let bad = |e| LayerError::Io { what: "cannot record device number of", path: path.to_path_buf(), source: e };
        h.set_device_major(libc::major(rdev)).map_err(bad)?;
        h.set_device_minor(libc::minor(rdev)).map_err(bad)?;
    }
    append(tar, h, rel, None, xattrs, io::empty())
}

/// The last element of the name an entry gets in the layer tar.
fn tar_name(e: &walkdir::DirEntry) -> std::borrow::Cow<'_, [u8]> {
    let name = e.file_name().as_bytes();
    if e.file_type().is_char_device() && e.metadata().is_ok_and(|m| whiteout::is_overlay_whiteout(&m)) {
        return [whiteout::PREFIX.as_bytes(), name].concat().into();
    }
    name.into()
}

/// A ustar header with the metadata every entry kind shares.
fn header(meta: &Metadata, opts: &LayerOptions) -> Header {
    let mut h = Header::new_ustar();
    h.set_mode(meta.mode() & 0o7777);
    h.set_uid(u64::from(meta.uid()));
    h.set_gid(u64::from(meta.gid()));
    h.set_mtime(clamp_mtime(meta.mtime(), opts.source_date_epoch));
    h.set_size(0);
    h
}

/// mtimes later than SOURCE_DATE_EPOCH become it; times before 1970 become 0 (ustar has no sign).
pub(crate) fn clamp_mtime(mtime: i64, source_date_epoch: Option<i64>) -> u64 {
    let t = match source_date_epoch {
        Some(epoch) if mtime > epoch => epoch,
        _ => mtime,
    };
    u64::try_from(t).unwrap_or(0)
}

/// Write PAX records when the ustar header cannot hold a value, then the header and the data.
fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    mut h: Header,
    name: &[u8],
    link: Option<&[u8]>,
    xattrs: Xattrs,
    data: impl Read,
) -> Result<(), LayerError> {
    let mut pax: Vec<(String, Vec<u8>)> = Vec::new();
    if !set_ustar_name(&mut h, name) {
        pax.push(("path".into(), name.to_vec()));
    }
    if let Some(link) = link {
        if link.len() <= 100 {
            h.set_link_name_literal(link).map_err(LayerError::TarWrite)?;
        } else {
            pax.push(("linkpath".into(), link.to_vec()));
        }
    }
    // Past these limits the tar crate falls back to GNU base-256 numbers; PAX records say the same
    // thing in the standard way.
    for (key, value, max) in [
        ("uid", h.uid().unwrap_or(0), USTAR_MAX_ID),
        ("gid", h.gid().unwrap_or(0), USTAR_MAX_ID),
        ("size", h.size().unwrap_or(0), USTAR_MAX_SIZE),
    ] {
        if value > max {
            pax.push((key.into(), value.to_string().into_bytes()));
        }
    }
    for (k, v) in xattrs {
        pax.push((format!("SCHILY.xattr.{}", String::from_utf8_lossy(&k)), v));
    }
    if !pax.is_empty() {
        tar.append_pax_extensions(pax.iter().map(|(k, v)| (k.as_str(), v.as_slice()))).map_err(LayerError::TarWrite)?;
    }
    h.set_cksum();
    if h.size().unwrap_or(0) < COPY_BUF as u64 {
        return tar.append(&h, data).map_err(LayerError::TarWrite);
    }
    append_large(tar.get_mut(), &h, data).map_err(LayerError::TarWrite)
}

/// What `tar::Builder::append` writes (header, data, zero padding to 512), but copying the data in
/// [`COPY_BUF`] pieces: the tar crate's `io::copy` moves 8 KiB per call, which for a 512 MiB file is 65,536
/// reads and as many calls into the compressor and the hash workers.
fn append_large(out: &mut impl Write, h: &Header, mut data: impl Read) -> io::Result<()> {
    out.write_all(h.as_bytes())?;
    let mut buf = vec![0u8; COPY_BUF];
    let mut len = 0u64;
    loop {
        let n = match data.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        out.write_all(&buf[..n])?;
        len += n as u64;
    }
    let pad = (512 - len % 512) % 512;
    out.write_all(&[0u8; 512][..pad as usize])
}

/// Put `name` in the ustar name (100 bytes) and prefix (155 bytes) fields; false when it does not fit
/// (the caller then writes a PAX `path` record and the header keeps a truncated name).
fn set_ustar_name(h: &mut Header, name: &[u8]) -> bool {
    let (fits, prefix, rest): (bool, &[u8], &[u8]) = if name.len() <= 100 {
        (true, &[], name)
    } else {
        // Split at a '/' so that the prefix is at most 155 bytes and the rest at most 100.
        let trimmed = name.strip_suffix(b"/").unwrap_or(name);
        match (0..trimmed.len()).rev().find(|&i| trimmed[i] == b'/' && i <= 155 && name.len() - i - 1 <= 100) {
            Some(i) => (true, &name[..i], &name[i + 1..]),
            None => (false, &[], &name[name.len().saturating_sub(100)..]),
        }
    };
    let Some(ustar) = h.as_ustar_mut() else { return false };
    ustar.name = [0; 100];
    ustar.name[..rest.len()].copy_from_slice(rest);
    ustar.prefix = [0; 155];
    ustar.prefix[..prefix.len()].copy_from_slice(prefix);
    fits
}

fn split_parent(rel: &[u8]) -> (&[u8], &[u8]) {
    match rel.iter().rposition(|&b| b == b'/') {
        Some(i) => (&rel[..=i], &rel[i + 1..]),
        None => (&[], rel),
    }
}

/// The path's xattrs, sorted, without overlayfs' own. Filesystems without xattr support have none.
fn read_xattrs(path: &Path) -> Result<Xattrs, LayerError> {
    let names = match xattr::list(path) {
        Ok(names) => names,
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTSUP) | Some(libc::EPERM)) => return Ok(Vec::new()),
        Err(e) => return Err(LayerError::Io { what: "cannot list xattrs of", path: path.to_path_buf(), source: e }),
    };
    let mut out = Vec::new();
    for name in names {
        let bytes = name.as_bytes().to_vec();
        if whiteout::is_overlay_xattr(&bytes) {
            continue;
        }
        if let Ok(Some(value)) = xattr::get(path, &name) {
            out.push((bytes, value));
        }
    }
    out.sort();
    Ok(out)
}

/// Reads exactly `remaining` bytes of a file: a file that shrinks while the layer is written would
/// otherwise corrupt the tar (the header already announced its size); one that grows is cut.
struct Exact {
    inner: File,
    remaining: u64,
}

impl Read for Exact {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            return Ok(0);
        }
        let max = buf.len().min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..max])?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank while the layer was written"));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}
