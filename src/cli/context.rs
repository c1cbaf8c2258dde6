//! `rbuild context ls`: what a build would see of a context directory after its ignore rules.

use super::Globals;
use crate::context::{walk, EntryKind, IgnoreFile};
use anyhow::Context as _;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum ContextCommand {
    /// List the files a build would send, after .dockerignore rules
    ///
    /// Prints one path per line, relative to DIR, in walk order (names sorted byte-wise within each
    /// directory, a directory's contents right after it). Regular files, symlinks (never followed) and
    /// other special files are listed; directories are not, unless --dirs is given, because what a build
    /// sends is decided by its files (an excluded directory still appears with --dirs when a `!` exception
    /// re-includes something inside it).
    ///
    /// The ignore file is `<Dockerfile>.dockerignore` next to the Dockerfile if it exists, else
    /// DIR/.dockerignore (the Docker/BuildKit rule).
    Ls(LsArgs),
}

#[derive(Debug, clap::Args)]
pub struct LsArgs {
    /// The Dockerfile whose ignore file applies (default: DIR/Dockerfile); it need not exist
    #[arg(short = 'f', long = "file", value_name = "PATH")]
    pub file: Option<PathBuf>,

    /// Also list directories, with a trailing `/`
    #[arg(long)]
    pub dirs: bool,

    /// The build context directory
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

pub fn run(_g: &Globals, command: ContextCommand) -> anyhow::Result<ExitCode> {
    match command {
        ContextCommand::Ls(args) => ls(args),
    }
}

fn ls(args: LsArgs) -> anyhow::Result<ExitCode> {
    let dockerfile = args.file.unwrap_or_else(|| args.dir.join("Dockerfile"));
    let ignore = IgnoreFile::load(&args.dir, &dockerfile)?;
    let matcher = ignore.matcher()?;
    let entries = match walk(&args.dir, &matcher) {
        Ok(entries) => entries,
        Err(crate::context::WalkError::Pattern(e)) => return Err(ignore.locate(e).into()),
        Err(e) => return Err(e).with_context(|| format!("walking the context {}", args.dir.display())),
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    // Names are written as the bytes they are (like `ls` to a pipe), never re-encoded.
    let written = entries.iter().try_for_each(|entry| {
        let name = entry.path.as_os_str().as_bytes();
        match entry.kind {
            EntryKind::Dir if args.dirs => out.write_all(name).and_then(|()| out.write_all(b"/\n")),
            EntryKind::Dir => Ok(()),
            _ => out.write_all(name).and_then(|()| out.write_all(b"\n")),
        }
    });
    match written.and_then(|()| out.flush()) {
        // A closed pipe (`| head`) is the reader's choice, not a failure.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => Err(e).context("writing the listing"),
        Ok(()) => Ok(ExitCode::SUCCESS),
    }
}
