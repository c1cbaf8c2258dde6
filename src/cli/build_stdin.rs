//! `rbuild build -`: the build context from standard input, as docker reads it — a tar archive (plain,
//! gzip, bzip2, xz or zstd) holding the context and its Dockerfile, or else the text of a Dockerfile
//! alone, which builds with an empty context. The archive is unpacked (path-safe, within the archive
//! limits ADD uses) into a temp dir of the store that lives as long as the build; the context's
//! `.dockerignore` then applies to it as to a directory.

use super::UsageError;
use crate::store::Store;
use anyhow::Context as _;
use std::io::Read;

/// The context `rbuild build -` read.
pub struct StdinContext {
    /// The unpacked archive, or an empty dir. Removed when dropped.
    pub dir: tempfile::TempDir,
    /// The Dockerfile's text when stdin was a Dockerfile rather than an archive.
    pub dockerfile_text: Option<String>,
}

/// Read `input` to its end and turn it into a context.
pub fn read(store: &Store, mut input: impl Read) -> anyhow::Result<StdinContext> {
    let dir = store.temp_dir("stdin-context")?;
    // Spooled to a file first: sniffing needs the start twice, and a context may not fit in memory.
    let spool = dir.path().join("stdin");
    let mut file = std::fs::File::create(&spool).context("spooling standard input")?;
    std::io::copy(&mut input, &mut file).context("reading the build context from standard input")?;
    drop(file);
    let root = dir.path().join("context");
    std::fs::create_dir(&root).context("creating the stdin context dir")?;
    let dockerfile_text = if crate::layer::is_tar_archive(&spool).context("reading standard input")? {
        let limits = crate::layer::ArchiveLimits::from_env().map_err(|e| UsageError(e.to_string()))?;
        let archive = std::io::BufReader::new(std::fs::File::open(&spool).context("reading standard input")?);
        crate::layer::extract_tar_within(archive, &root, limits).context("unpacking the context archive on stdin")?;
        None
    } else {
        let text = String::from_utf8(std::fs::read(&spool).context("reading standard input")?).map_err(|_| {
            UsageError("standard input is neither a tar archive (plain, gzip, bzip2, xz, zstd) nor a Dockerfile".into())
        })?;
        Some(text)
    };
    std::fs::remove_file(&spool).context("removing the stdin spool file")?;
    Ok(StdinContext { dir, dockerfile_text })
}

impl StdinContext {
    /// The context root.
    pub fn root(&self) -> std::path::PathBuf {
        self.dir.path().join("context")
    }
}
