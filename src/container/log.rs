//! A detached container's log, `ctr.log`, in docker's json-file shape: one JSON object per line,
//! `{"log":"text\n","stream":"stdout"|"stderr","time":"RFC 3339 with nanoseconds"}`. The monitor appends
//! whole lines (a line longer than 16 KiB is split, as docker does, the parts without the newline);
//! `logs` reads them back.

use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex};

/// Docker's json-file driver splits longer lines.
const MAX_LINE: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub log: String,
    pub stream: String,
    pub time: String,
}

/// Copy `reader` line by line into `log` as entries of `stream` until it ends. The file is shared by
/// the stdout and stderr copiers; each entry is one `write` under the mutex, so lines never interleave.
pub fn copy_stream(reader: impl Read, stream: &'static str, log: Arc<Mutex<File>>) -> io::Result<()> {
    tee_stream(reader, stream, log, io::sink())
}

/// [`copy_stream`], also passing every byte on to `out` as it comes (not a line at a time: a prompt
/// without a newline shows at once). A failing `out` (a closed terminal) is ignored: the command goes on
/// and its log stays whole.
pub fn tee_stream(
    mut reader: impl Read,
    stream: &'static str,
    log: Arc<Mutex<File>>,
    mut out: impl Write,
) -> io::Result<()> {
    let mut lines = Lines { stream, log, line: Vec::with_capacity(MAX_LINE) };
    let mut buf = vec![0u8; 64 * 1024];
    let mut out_ok = true;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return lines.emit(),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        out_ok = out_ok && out.write_all(&buf[..n]).and_then(|_| out.flush()).is_ok();
        lines.push(&buf[..n])?;
    }
}

/// A stream cut into the log's entries: whole lines, a longer line in `MAX_LINE` parts.
struct Lines {
    stream: &'static str,
    log: Arc<Mutex<File>>,
    line: Vec<u8>,
}

impl Lines {
    fn push(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let room = &data[..data.len().min(MAX_LINE - self.line.len())];
            let take = room.iter().position(|&b| b == b'\n').map_or(room.len(), |i| i + 1);
            self.line.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.line.ends_with(b"\n") || self.line.len() == MAX_LINE {
                self.emit()?;
            }
        }
        Ok(())
    }

    /// Write what is gathered (nothing when empty) as one entry.
    fn emit(&mut self) -> io::Result<()> {
        if self.line.is_empty() {
            return Ok(());
        }
        let entry = Entry {
            log: String::from_utf8_lossy(&self.line).into_owned(),
            stream: self.stream.into(),
            time: super::now(),
        };
        self.line.clear();
        let mut bytes = serde_json::to_vec(&entry).map_err(io::Error::other)?;
        bytes.push(b'\n');
        let mut file = self.log.lock().unwrap_or_else(|p| p.into_inner());
        file.write_all(&bytes)
    }
}

/// The container's log, opened for appending (made if missing), shared by the threads writing into it.
pub fn open(path: &std::path::Path) -> io::Result<Arc<Mutex<File>>> {
    let file = File::options().create(true).append(true).open(path)?;
    Ok(Arc::new(Mutex::new(file)))
}

/// This process's stdout (and stderr) redirected into a container's log while it runs the container: fds
/// 1 and 2 become pipes (which the sandbox's init passes on to the command, or which the sandbox's
/// terminal relay writes to) read by threads that write into the log by line and, with `pass_on`, to the
/// saved fds as bytes come. The monitor logs only (its own fds are `/dev/null` and `monitor.log`); a
/// foreground `run --name C IMAGE` passes the output on too, so that `logs C` shows that run as docker's
/// does. [`Teed::finish`] puts the fds back.
pub struct Teed {
    saved: Vec<std::os::fd::OwnedFd>,
    copiers: Vec<std::thread::JoinHandle<io::Result<()>>>,
}

impl Teed {
    /// Redirect stdout, and stderr too with `stderr` (a terminal's output all comes on stdout).
    pub fn start(log: Arc<Mutex<File>>, stderr: bool, pass_on: bool) -> io::Result<Teed> {
        use std::os::fd::AsFd;
        let mut saved = vec![nix::unistd::dup(io::stdout().as_fd())?];
        if stderr {
            saved.push(nix::unistd::dup(io::stderr().as_fd())?);
        }
        let mut copiers = Vec::new();
        let mut ends = Vec::new();
        for (saved, stream) in saved.iter().zip(["stdout", "stderr"]) {
            let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
            let out: Box<dyn Write + Send> =
                if pass_on { Box::new(File::from(saved.try_clone()?)) } else { Box::new(io::sink()) };
            let log = log.clone();
            copiers.push(std::thread::spawn(move || tee_stream(File::from(read), stream, log, out)));
            ends.push(write);
        }
        let teed = Teed { saved, copiers };
        nix::unistd::dup2_stdout(&ends[0])?;
        if let Some(end) = ends.get(1) {
            nix::unistd::dup2_stderr(end)?;
        }
        Ok(teed)
    }

    /// Put stdout and stderr back and wait until the copiers have written everything the command wrote
    /// (its processes are gone: the pipes' other ends closed with them).
    pub fn finish(mut self) -> io::Result<()> {
        self.restore()?;
        let mut result = Ok(());
        for copier in self.copiers.drain(..) {
            let copied = copier.join().unwrap_or_else(|_| Err(io::Error::other("the log copier panicked")));
            result = result.and(copied);
        }
        result
    }

    fn restore(&self) -> io::Result<()> {
        nix::unistd::dup2_stdout(&self.saved[0])?;
        if let Some(err) = self.saved.get(1) {
            nix::unistd::dup2_stderr(err)?;
        }
        Ok(())
    }
}

impl Drop for Teed {
    /// An error on the way out: the fds go back (the copiers end with the command's output).
    fn drop(&mut self) {
        let _ = self.restore();
    }
}

/// Parse one line of the log; a torn or foreign line is skipped.
pub fn parse(line: &str) -> Option<Entry> {
    serde_json::from_str(line).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_become_json_file_entries_and_long_lines_are_split() {
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("ctr.log");
        let file = Arc::new(Mutex::new(File::create(&path).unwrap()));
        let long = "x".repeat(MAX_LINE + 10);
        let input = format!("hello\n{long}\nno newline");
        copy_stream(input.as_bytes(), "stderr", file).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let entries: Vec<Entry> = text.lines().map(|l| parse(l).unwrap()).collect();
        assert_eq!(entries.len(), 4, "{text}");
        assert_eq!(entries[0].log, "hello\n");
        assert_eq!(entries[0].stream, "stderr");
        assert_eq!(entries[1].log.len(), MAX_LINE);
        assert_eq!(entries[2].log, "xxxxxxxxxx\n");
        assert_eq!(entries[3].log, "no newline");
        assert!(chrono::DateTime::parse_from_rfc3339(&entries[0].time).is_ok());
    }

    /// A reader that hands out its bytes in the given pieces, as a pipe does.
    struct Pieces(Vec<Vec<u8>>);

    impl Read for Pieces {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Ok(0);
            }
            let piece = self.0.remove(0);
            buf[..piece.len()].copy_from_slice(&piece);
            Ok(piece.len())
        }
    }

    #[test]
    fn a_tee_passes_bytes_on_as_they_come_and_logs_whole_lines() {
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("ctr.log");
        let file = Arc::new(Mutex::new(File::create(&path).unwrap()));
        let exact = "y".repeat(MAX_LINE - 1);
        let pieces =
            vec![b"name? ".to_vec(), b"bob\nsec".to_vec(), b"ond\n".to_vec(), format!("{exact}\nend").into_bytes()];
        let mut out = Vec::new();
        tee_stream(Pieces(pieces), "stdout", file, &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), format!("name? bob\nsecond\n{exact}\nend"));
        let text = std::fs::read_to_string(&path).unwrap();
        let logged: Vec<String> = text.lines().map(|l| parse(l).unwrap().log).collect();
        assert_eq!(logged, ["name? bob\n".to_string(), "second\n".into(), format!("{exact}\n"), "end".into()]);
    }
}
