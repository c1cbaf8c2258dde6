//! Layer compression: the writer side picks gzip, zstd or none and gives the media type; the reader side
//! sniffs the magic bytes so any layer (or any tarball handed to import/ADD) is read whatever its
//! declared type.

use super::pgzip::ParallelGzEncoder;
use super::zstd_writer::ZstdWriter;
use crate::store::BlobWriter;
use oci_spec::image::MediaType;
use std::io::{self, Cursor, Read, Write};

/// Layer compression.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Compression {
    #[default]
    Gzip,
    Zstd,
    /// Plain tar (`application/vnd.oci.image.layer.v1.tar`).
    None,
}

impl Compression {
    pub fn media_type(self) -> MediaType {
        match self {
            Compression::Gzip => MediaType::ImageLayerGzip,
            Compression::Zstd => MediaType::ImageLayerZstd,
            Compression::None => MediaType::ImageLayer,
        }
    }
}

/// zstd's default level, as containerd and BuildKit use.
const ZSTD_LEVEL: i32 = 3;
/// gzip at deflate level 1: on incompressible data level 6 runs at a fifth of level 1's speed for no
/// gain, and on text it saves a few percent; the default compression of every layer should not cost
/// more than the RUN that made it (docs/layers.md has the figures). Part of the digest: changing it
/// changes every gzip layer's digest.
const GZIP_LEVEL: u32 = 1;

/// The compressing stage of the layer pipeline, writing into a blob.
pub(crate) enum Compressor {
    Gzip(ParallelGzEncoder<BlobWriter>),
    Zstd(ZstdWriter<BlobWriter>),
    None(BlobWriter),
}

impl Compressor {
    pub(crate) fn new(c: Compression, blob: BlobWriter) -> io::Result<Compressor> {
        Ok(match c {
            Compression::Gzip => Compressor::Gzip(ParallelGzEncoder::new(blob, flate2::Compression::new(GZIP_LEVEL))),
            Compression::Zstd => {
                // zstd's output is the same for any number of workers >= 1 (not for 0), so the digest
                // does not depend on the machine's core count.
                let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).clamp(1, 16);
                Compressor::Zstd(ZstdWriter::new(blob, ZSTD_LEVEL, workers as u32)?)
            }
            Compression::None => Compressor::None(blob),
        })
    }

    pub(crate) fn finish(self) -> io::Result<BlobWriter> {
        match self {
            Compressor::Gzip(e) => e.finish(),
            Compressor::Zstd(e) => e.finish(),
            Compressor::None(b) => Ok(b),
        }
    }
}

impl Write for Compressor {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Compressor::Gzip(e) => e.write(buf),
            Compressor::Zstd(e) => e.write(buf),
            Compressor::None(b) => b.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Compressor::Gzip(e) => e.flush(),
            Compressor::Zstd(e) => e.flush(),
            Compressor::None(b) => b.flush(),
        }
    }
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
const BZIP2_MAGIC: [u8; 3] = *b"BZh";
/// The first four of xz's six magic bytes (`FD 37 7A 58 5A 00`): enough, with the decoder checking the rest.
const XZ_MAGIC: [u8; 4] = [0xfd, 0x37, 0x7a, 0x58];

/// Whether the file at `path` is a tar archive, plain or compressed (a ustar header once decompressed):
/// what ADD unpacks and what `rbuild build -` takes as a context rather than a Dockerfile.
pub fn is_tar_archive(path: &std::path::Path) -> io::Result<bool> {
    let mut head = Vec::with_capacity(512);
    decompress(io::BufReader::new(std::fs::File::open(path)?))?.take(512).read_to_end(&mut head)?;
    Ok(head.len() >= 262 && &head[257..262] == b"ustar")
}

/// Wrap `reader` in the decompressor its first bytes call for (gzip, zstd, or none).
pub fn decompress<'a, R: Read + 'a>(mut reader: R) -> io::Result<Box<dyn Read + 'a>> {
    let mut magic = [0u8; 4];
    let mut n = 0;
    while n < magic.len() {
        match reader.read(&mut magic[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let head = magic[..n].to_vec();
    let whole = Cursor::new(head.clone()).chain(reader);
    Ok(if head.starts_with(&GZIP_MAGIC) {
        Box::new(flate2::read::MultiGzDecoder::new(whole))
    } else if head.starts_with(&ZSTD_MAGIC) {
        Box::new(zstd::Decoder::new(whole)?)
    } else if head.starts_with(&BZIP2_MAGIC) {
        // Layers are never bzip2 or xz, but ADD unpacks such archives, as Docker does.
        Box::new(bzip2::read::MultiBzDecoder::new(whole))
    } else if head.starts_with(&XZ_MAGIC) {
        Box::new(lzma_rust2::XzReader::new(whole, true))
    } else {
        Box::new(whole)
    })
}
