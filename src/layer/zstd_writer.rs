//! zstd's streaming compressor driven through the C library's own API (`zstd-sys`), for one parameter the
//! `zstd` crate cannot set: the pre-block splitter that zstd 1.5.7 turned on by default
//! (`ZSTD_c_blockSplitterLevel`). At level 3 it more than doubles the compressor's CPU time (0.57 vs
//! 0.23 CPU-s for 512 MiB of half text, half noise) for no gain in size (the output was 50 KB larger
//! with it on that data), and on a two-core machine the layer commit competes for those cores with the
//! two sha256 streams. With the splitter off, the library compresses as the `zstd` command line
//! (1.5.4) does. Everything else is the library's default, as `zstd::Encoder` left it: level, no
//! checksum, the content size unknown, `nbWorkers` worker threads (the output does not depend on
//! their number, for any number >= 1).

use std::ffi::CStr;
use std::io::{self, Write};
use std::ptr::NonNull;
use zstd_sys::{ZSTD_EndDirective, ZSTD_cParameter, ZSTD_inBuffer, ZSTD_outBuffer};

/// `ZSTD_c_blockSplitterLevel` (zstd.h: an experimental parameter's stable number) and its value "no
/// splitting".
const BLOCK_SPLITTER_LEVEL: ZSTD_cParameter = ZSTD_cParameter::ZSTD_c_experimentalParam20;
const NO_SPLITTING: i32 = 1;

/// A zstd frame written into `W` as bytes arrive; [`ZstdWriter::finish`] ends the frame.
pub(crate) struct ZstdWriter<W: Write> {
    cctx: NonNull<zstd_sys::ZSTD_CCtx>,
    out: Vec<u8>,
    inner: W,
}

// SAFETY: the context is owned by this value alone and used from one thread at a time (zstd contexts
// are not tied to the thread that made them; its worker threads are zstd's own).
unsafe impl<W: Write + Send> Send for ZstdWriter<W> {}

/// zstd's result code as an error, naming what failed.
fn check(code: usize) -> io::Result<usize> {
    // SAFETY: plain functions of the library on an integer; the name is a static C string.
    unsafe {
        if zstd_sys::ZSTD_isError(code) == 0 {
            return Ok(code);
        }
        let name = CStr::from_ptr(zstd_sys::ZSTD_getErrorName(code));
        Err(io::Error::other(format!("zstd: {}", name.to_string_lossy())))
    }
}

impl<W: Write> ZstdWriter<W> {
    pub(crate) fn new(inner: W, level: i32, workers: u32) -> io::Result<ZstdWriter<W>> {
        // SAFETY: a fresh context, owned by the value returned (freed in Drop).
        let cctx = NonNull::new(unsafe { zstd_sys::ZSTD_createCCtx() })
            .ok_or_else(|| io::Error::new(io::ErrorKind::OutOfMemory, "zstd: cannot make a compression context"))?;
        // SAFETY: `ZSTD_CStreamOutSize` is a constant of the library.
        let out = vec![0u8; unsafe { zstd_sys::ZSTD_CStreamOutSize() }];
        let w = ZstdWriter { cctx, out, inner };
        w.set(ZSTD_cParameter::ZSTD_c_compressionLevel, level)?;
        w.set(ZSTD_cParameter::ZSTD_c_nbWorkers, workers as i32)?;
        w.set(BLOCK_SPLITTER_LEVEL, NO_SPLITTING)?;
        Ok(w)
    }

    fn set(&self, param: ZSTD_cParameter, value: i32) -> io::Result<()> {
        // SAFETY: a live context; the library checks the parameter and its bounds.
        check(unsafe { zstd_sys::ZSTD_CCtx_setParameter(self.cctx.as_ptr(), param, value) }).map(|_| ())
    }

    /// One call of the streaming compressor with `input` (advanced past what it took), writing out what
    /// it produced; returns zstd's "bytes left to flush" hint (0: done for `flush`/`end`).
    fn step(&mut self, input: &mut ZSTD_inBuffer, directive: ZSTD_EndDirective) -> io::Result<usize> {
        let mut output = ZSTD_outBuffer { dst: self.out.as_mut_ptr().cast(), size: self.out.len(), pos: 0 };
        // SAFETY: both buffers point at live memory of the sizes given; the library only reads `input`
        // up to its size and writes `output` up to its size, advancing their `pos`.
        let left = check(unsafe { zstd_sys::ZSTD_compressStream2(self.cctx.as_ptr(), &mut output, input, directive) })?;
        self.inner.write_all(&self.out[..output.pos])?;
        Ok(left)
    }

    /// Run `directive` (flush or end) until the library has nothing more to write.
    fn drain(&mut self, directive: ZSTD_EndDirective) -> io::Result<()> {
        let mut none = ZSTD_inBuffer { src: std::ptr::null(), size: 0, pos: 0 };
        while self.step(&mut none, directive)? != 0 {}
        Ok(())
    }

    /// End the frame and hand back the writer it went into.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        self.drain(ZSTD_EndDirective::ZSTD_e_end)?;
        let me = std::mem::ManuallyDrop::new(self);
        // SAFETY: `me` is never used or dropped again: the context is freed here and `inner` and `out`
        // are moved out exactly once.
        unsafe {
            zstd_sys::ZSTD_freeCCtx(me.cctx.as_ptr());
            drop(std::ptr::read(&me.out));
            Ok(std::ptr::read(&me.inner))
        }
    }
}

impl<W: Write> Write for ZstdWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut input = ZSTD_inBuffer { src: buf.as_ptr().cast(), size: buf.len(), pos: 0 };
        // With worker threads a call may take only part of the input (a job's buffer filled up).
        while input.pos < input.size {
            self.step(&mut input, ZSTD_EndDirective::ZSTD_e_continue)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.drain(ZSTD_EndDirective::ZSTD_e_flush)?;
        self.inner.flush()
    }
}

impl<W: Write> Drop for ZstdWriter<W> {
    /// An abandoned frame: the library stops its workers and frees the context.
    fn drop(&mut self) {
        // SAFETY: the context is live (finish does not come here) and freed once.
        unsafe {
            zstd_sys::ZSTD_freeCCtx(self.cctx.as_ptr());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn sample() -> Vec<u8> {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut data = Vec::new();
        for i in 0..(3 << 20) / 8 {
            if i % 2 == 0 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                data.extend_from_slice(&x.to_le_bytes());
            } else {
                data.extend_from_slice(b"text. ab");
            }
        }
        data
    }

    #[test]
    fn frames_decode_to_the_input_whatever_the_writes_and_workers() {
        let data = sample();
        let mut outputs = Vec::new();
        for (workers, piece) in [(1, 1 << 20), (2, 4097), (3, 513)] {
            let mut w = ZstdWriter::new(Vec::new(), 3, workers).unwrap();
            for chunk in data.chunks(piece) {
                w.write_all(chunk).unwrap();
            }
            let frame = w.finish().unwrap();
            let mut back = Vec::new();
            zstd::Decoder::new(frame.as_slice()).unwrap().read_to_end(&mut back).unwrap();
            assert!(back == data, "round trip with {workers} workers, {piece}-byte writes");
            outputs.push(frame);
        }
        // The digest of a layer must not depend on the machine's cores or the tar's write sizes.
        assert!(outputs.windows(2).all(|w| w[0] == w[1]), "the same bytes for any worker count and write size");
    }

    #[test]
    fn a_refused_parameter_is_an_error_not_a_panic() {
        let w = ZstdWriter::new(Vec::new(), 3, 1).unwrap();
        let err = w.set(BLOCK_SPLITTER_LEVEL, 99).expect_err("a splitter level past the maximum is refused");
        assert!(err.to_string().starts_with("zstd: "), "{err}");
    }

    #[test]
    fn dropping_an_unfinished_frame_frees_it() {
        let mut w = ZstdWriter::new(Vec::new(), 3, 2).unwrap();
        w.write_all(&sample()).unwrap();
        drop(w);
    }
}
