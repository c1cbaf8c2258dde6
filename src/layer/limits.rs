//! Bounds on what a compressed archive may expand to: ADD of a 23 MB gzip bomb must not write 5 GB.
//!
//! [`Bounded`] sits between a decompressor and its reader and counts both sides: past a free allowance
//! (16 MiB by default, so small archives never trip it) the decompressed bytes may be at most
//! `max_ratio` times the compressed bytes read so far (100:1 by default), and never more than `max_size`
//! when that is set. Crossing a bound stops the stream with an error that names the limit and how to
//! raise it, before more than one read buffer of the excess is written.
//!
//! Why 100:1 and not a looser 1000:1: gzip cannot compress better than about 1032:1, so a gzip bomb (1 GB
//! of zeros in 1 MB) stays under 1000:1 and only a lower bound catches it. Real content stays far below
//! 100:1 (source and text about 5:1, binaries 3:1, logs 20:1); what goes above it is mostly empty space,
//! such as a sparse disk image, and such a build raises the bound.
//!
//! The limits come from the environment, so a build that really needs a denser archive can say so:
//! `RBUILD_ARCHIVE_MAX_RATIO` (0 = no ratio bound) and `RBUILD_ARCHIVE_MAX_SIZE` (bytes, 0 = none).

use std::cell::Cell;
use std::io::{self, Read};
use std::rc::Rc;

/// The environment variable for the ratio bound.
pub const RATIO_VAR: &str = "RBUILD_ARCHIVE_MAX_RATIO";
/// The environment variable for the size bound.
pub const SIZE_VAR: &str = "RBUILD_ARCHIVE_MAX_SIZE";

/// How far an archive may expand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchiveLimits {
    /// Decompressed bytes allowed per compressed byte, past `free_bytes`; 0 is no bound.
    pub max_ratio: u64,
    /// Decompressed bytes allowed whatever the ratio.
    pub free_bytes: u64,
    /// Decompressed bytes allowed in all; 0 is no bound.
    pub max_size: u64,
}

impl Default for ArchiveLimits {
    fn default() -> Self {
        ArchiveLimits { max_ratio: 100, free_bytes: 16 << 20, max_size: 0 }
    }
}

/// A limit variable that is not a whole number.
#[derive(Debug, thiserror::Error)]
#[error("{var}={value:?} is not a whole number (0 means no limit)")]
pub struct LimitsError {
    pub var: &'static str,
    pub value: String,
}

impl ArchiveLimits {
    /// The defaults, overridden by `RBUILD_ARCHIVE_MAX_RATIO` / `RBUILD_ARCHIVE_MAX_SIZE` when set.
    pub fn from_env() -> Result<ArchiveLimits, LimitsError> {
        let read = |var: &'static str, default: u64| -> Result<u64, LimitsError> {
            match std::env::var_os(var) {
                None => Ok(default),
                Some(v) => {
                    let text = v.to_string_lossy();
                    text.trim().parse().map_err(|_| LimitsError { var, value: text.into_owned() })
                }
            }
        };
        let d = ArchiveLimits::default();
        Ok(ArchiveLimits {
            max_ratio: read(RATIO_VAR, d.max_ratio)?,
            free_bytes: d.free_bytes,
            max_size: read(SIZE_VAR, d.max_size)?,
        })
    }

    /// Wrap a decompressor: `decompress` gets the compressed stream (counted) and returns the plain one,
    /// which is bounded.
    pub fn bound<'a, R, F>(self, compressed: R, decompress: F) -> io::Result<Bounded<'a>>
    where
        R: Read + 'a,
        F: FnOnce(Counted<R>) -> io::Result<Box<dyn Read + 'a>>,
    {
        let count = Rc::new(Cell::new(0));
        let inner = decompress(Counted { inner: compressed, count: count.clone() })?;
        Ok(Bounded { inner, compressed: count, out: 0, limits: self })
    }

    /// The error for a stream that went past a bound, if it did.
    fn check(&self, out: u64, compressed: u64) -> Option<String> {
        if self.max_size != 0 && out > self.max_size {
            return Some(format!(
                "it expands to more than {} (the limit): if the archive is trusted, raise {SIZE_VAR} (bytes; 0 = \
                 no limit)",
                human(self.max_size)
            ));
        }
        let allowed = self.free_bytes.saturating_add(self.max_ratio.saturating_mul(compressed));
        (self.max_ratio != 0 && out > allowed).then(|| {
            format!(
                "it expands to more than {} from {} compressed, over the limit of {}:1 after the first {} (a \
                 decompression bomb?): if the archive is trusted, raise {RATIO_VAR} (0 = no limit)",
                human(out),
                human(compressed),
                self.max_ratio,
                human(self.free_bytes)
            )
        })
    }
}

fn human(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / f64::from(1u32 << 30)),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / f64::from(1u32 << 20)),
        b => format!("{b} bytes"),
    }
}

/// The compressed side: counts what the decompressor reads.
pub struct Counted<R> {
    inner: R,
    count: Rc<Cell<u64>>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

/// The decompressed side: fails once the stream goes past a bound.
pub struct Bounded<'a> {
    inner: Box<dyn Read + 'a>,
    compressed: Rc<Cell<u64>>,
    out: u64,
    limits: ArchiveLimits,
}

impl Read for Bounded<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out += n as u64;
        match self.limits.check(self.out, self.compressed.get()) {
            // InvalidData: not a transient failure, and readers pass it up unchanged.
            Some(message) => Err(io::Error::new(io::ErrorKind::InvalidData, message)),
            None => Ok(n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gzip_of_zeros(len: usize) -> Vec<u8> {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(&vec![0u8; len]).expect("in memory");
        enc.finish().expect("in memory")
    }

    fn drain(limits: ArchiveLimits, data: &[u8]) -> io::Result<u64> {
        let mut r = limits.bound(data, super::super::decompress)?;
        io::copy(&mut r, &mut io::sink())
    }

    #[test]
    fn a_dense_stream_past_the_allowance_is_stopped_with_the_way_to_raise_it() {
        let bomb = gzip_of_zeros(8 << 20);
        let limits = ArchiveLimits { max_ratio: 10, free_bytes: 1 << 20, max_size: 0 };
        let err = drain(limits, &bomb).expect_err("bounded");
        assert!(err.to_string().contains(RATIO_VAR), "{err}");
        assert_eq!(drain(ArchiveLimits { max_ratio: 0, ..limits }, &bomb).expect("unbounded"), 8 << 20);
        let free = ArchiveLimits { free_bytes: 16 << 20, ..limits };
        assert_eq!(drain(free, &bomb).expect("within the allowance"), 8 << 20);
    }

    #[test]
    fn the_size_bound_holds_whatever_the_ratio() {
        let data = vec![7u8; 4096];
        let limits = ArchiveLimits { max_ratio: 0, free_bytes: 0, max_size: 1000 };
        let err = drain(limits, &data).expect_err("too big");
        assert!(err.to_string().contains(SIZE_VAR), "{err}");
    }
}
