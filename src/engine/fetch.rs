//! `ADD <url>`: download a file over HTTP(S) into the build's work dir, hashing it as it streams, so the
//! step cache keys on its content and `--checksum` can be verified. The file is stored as-is (a remote
//! archive is not unpacked, as in Docker), with mode 0600 and the server's `Last-Modified` as mtime.

use crate::digest::{Digest, HashingWriter};
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{url}: {source}")]
    Http { url: String, source: Box<ureq::Error> },
    #[error("{url}: the server answered {status}")]
    Status { url: String, status: String },
    #[error("{url}: {source}")]
    Io { url: String, source: io::Error },
    #[error("{url}: checksum mismatch: expected {expected}, got {actual}")]
    Checksum { url: String, expected: String, actual: Digest },
    #[error("invalid --checksum {0:?}: expected sha256:<64 hex digits>")]
    BadChecksum(String),
}

/// A downloaded URL.
#[derive(Debug, Clone)]
pub struct Download {
    pub url: String,
    pub path: PathBuf,
    /// The name the file gets when the destination is a directory: the URL path's last segment.
    pub name: String,
    pub digest: Digest,
    /// `Last-Modified`, in seconds since the epoch.
    pub mtime: Option<i64>,
}

pub fn is_url(source: &str) -> bool {
    source.starts_with("http://") || source.starts_with("https://")
}

/// The file name a URL gives: the last non-empty path segment, without query or fragment.
pub fn file_name(url: &str) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let path = rest.split(['?', '#']).next().unwrap_or("");
    let path = path.split_once('/').map(|(_, p)| p).unwrap_or("");
    path.rsplit('/').find(|s| !s.is_empty()).unwrap_or("download").to_string()
}

/// Download `url` into `dir`, verifying `checksum` (`sha256:<hex>`) when given.
pub fn download(url: &str, dir: &Path, checksum: Option<&str>) -> Result<Download, FetchError> {
    let expected =
        checksum.map(|c| Digest::parse(c).map_err(|_| FetchError::BadChecksum(c.to_string()))).transpose()?;
    let agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(30)))
        .http_status_as_error(false)
        .build()
        .new_agent();
    let http = |source| FetchError::Http { url: url.to_string(), source: Box::new(source) };
    let response = agent.get(url).call().map_err(http)?;
    let status = response.status();
    if !status.is_success() {
        return Err(FetchError::Status { url: url.to_string(), status: status.to_string() });
    }
    let mtime = response
        .headers()
        .get("last-modified")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| chrono::DateTime::parse_from_rfc2822(v).ok())
        .map(|t| t.timestamp());
    let path = dir.join("file");
    let io_err = |source| FetchError::Io { url: url.to_string(), source };
    let file = std::fs::File::create(&path).map_err(io_err)?;
    let mut sink = HashingWriter::new(file);
    let mut body = response.into_body().into_with_config().limit(u64::MAX).reader();
    io::copy(&mut body, &mut sink).map_err(io_err)?;
    let (digest, _, _) = sink.finish();
    if let Some(expected) = expected {
        if expected != digest {
            return Err(FetchError::Checksum { url: url.to_string(), expected: expected.to_string(), actual: digest });
        }
    }
    Ok(Download { url: url.to_string(), path, name: file_name(url), digest, mtime })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_come_from_the_url_path() {
        assert_eq!(file_name("https://example.com/a/b/tool.tar.gz?x=1#f"), "tool.tar.gz");
        assert_eq!(file_name("http://127.0.0.1:8080/dir/"), "dir");
        assert_eq!(file_name("http://example.com"), "download");
        assert!(is_url("https://x") && is_url("http://x") && !is_url("ftp://x") && !is_url("file.txt"));
    }
}
