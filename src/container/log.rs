//! A detached container's log, `ctr.log`, in docker's json-file shape: one JSON object per line,
//! `{"log":"text\n","stream":"stdout"|"stderr","time":"RFC 3339 with nanoseconds"}`. The monitor appends
//! whole lines (a line longer than 16 KiB is split, as docker does, the parts without the newline);
//! `logs` reads them back.

use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
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
    let mut reader = BufReader::with_capacity(MAX_LINE, reader);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = (&mut reader).take(MAX_LINE as u64).read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok(());
        }
        let entry =
            Entry { log: String::from_utf8_lossy(&line).into_owned(), stream: stream.into(), time: super::now() };
        let mut bytes = serde_json::to_vec(&entry).map_err(io::Error::other)?;
        bytes.push(b'\n');
        let mut file = log.lock().unwrap_or_else(|p| p.into_inner());
        file.write_all(&bytes)?;
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
}
