//! `rbuild logs`: a detached container's output from its json-file log (`ctr.log`), with docker's
//! `-f`, `--tail`, `-t`, `--since` and `--until`; and the follow loop `start -a` uses.

use super::images::open_store;
use super::{Globals, UsageError};
use crate::container::{log, Container, Containers, Status};
use crate::store::Store;
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

/// Show a container's output (detached containers: a foreground `run` writes to the terminal only)
#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    /// Keep following the output until the container stops
    #[arg(short, long)]
    pub follow: bool,
    /// Only the last N lines ("all" for every line)
    #[arg(value_parser = super::text(), short = 'n', long, default_value = "all", value_name = "N")]
    pub tail: String,
    /// Prefix each line with its time (RFC 3339 with nanoseconds)
    #[arg(short, long)]
    pub timestamps: bool,
    /// Only lines since a time: RFC 3339, Unix seconds, or a duration ago (10m, 1h30m)
    #[arg(value_parser = super::text(), long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only lines up to a time: RFC 3339, Unix seconds, or a duration ago (10m); `-f` stops there
    #[arg(value_parser = super::text(), long, value_name = "TIME")]
    pub until: Option<String>,
    #[arg(value_parser = super::text(), value_name = "CONTAINER")]
    pub container: String,
}

/// How entries are printed.
struct Printer {
    timestamps: bool,
    since: Option<SystemTime>,
    /// Entries written after it are not printed (docker keeps one written at that very time).
    until: Option<SystemTime>,
}

impl Printer {
    fn print(&self, e: &log::Entry) -> std::io::Result<()> {
        if self.since.is_some() || self.until.is_some() {
            let time = chrono::DateTime::parse_from_rfc3339(&e.time).map(SystemTime::from);
            if time.is_ok_and(|t| self.since.is_some_and(|s| t < s) || self.until.is_some_and(|u| t > u)) {
                return Ok(());
            }
        }
        let text = if self.timestamps { format!("{} {}", e.time, e.log) } else { e.log.clone() };
        if e.stream == "stderr" {
            let mut err = std::io::stderr().lock();
            err.write_all(text.as_bytes())?;
            err.flush()
        } else {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.flush()
        }
    }
}

pub fn run(g: &Globals, a: LogsArgs) -> anyhow::Result<ExitCode> {
    let tail = match a.tail.as_str() {
        "all" => None,
        n => Some(n.parse::<usize>().map_err(|_| UsageError(format!("--tail {n:?}: want a number or \"all\"")))?),
    };
    let time = |flag: &str, value: &Option<String>| match value {
        Some(s) => super::prune_opts::until(s).map(Some).ok_or_else(|| {
            UsageError(format!("{flag} {s:?}: want RFC 3339 (2026-01-02T15:04:05Z), Unix seconds, or a duration (10m)"))
        }),
        None => Ok(None),
    };
    let (since, until) = (time("--since", &a.since)?, time("--until", &a.until)?);
    let store = open_store(g)?;
    let c = Containers::new(&store).find(&a.container)?;
    let printer = Printer { timestamps: a.timestamps, since, until };
    let mut reader = LogReader::open(&c, 0)?;
    let mut first: Vec<log::Entry> = reader.read_available()?;
    if let Some(n) = tail {
        first.drain(..first.len().saturating_sub(n));
    }
    for e in &first {
        printer.print(e)?;
    }
    if a.follow {
        if let Followed::Stopped(signal) = follow(&store, c, &mut reader, &printer, Signals::Stop)? {
            return Ok(stopped_by(signal));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What SIGINT or SIGTERM does to a command following a container's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signals {
    /// It stops following (`logs -f`, `attach --sig-proxy=false`); the container goes on.
    Stop,
    /// It is sent on to the container's command, and following goes on until that ends (docker's
    /// `--sig-proxy`, the default of `attach` and `start -a` without a terminal).
    Proxy,
}

/// `start -a`: print the output written since `offset` until the container stops; its exit code.
pub fn follow_to_exit(store: &Store, c: Container, offset: u64, signals: Signals) -> anyhow::Result<ExitCode> {
    let mut reader = LogReader::open(&c, offset)?;
    let printer = Printer { timestamps: false, since: None, until: None };
    match follow(store, c, &mut reader, &printer, signals)? {
        Followed::Ended(c) => Ok(ExitCode::from(c.state.exit_code.unwrap_or(0).clamp(0, 255) as u8)),
        Followed::Stopped(signal) => Ok(stopped_by(signal)),
        Followed::Until => Ok(ExitCode::SUCCESS),
    }
}

/// How following ended.
enum Followed {
    /// The container stopped (or was removed): its last state.
    Ended(Box<Container>),
    /// This command was asked to stop by the signal ([`Signals::Stop`]).
    Stopped(i32),
    /// `--until`'s time has passed: nothing later is printed.
    Until,
}

/// The shell's exit code of a command that a signal ended (130 for SIGINT), without an error line: the
/// user asked for it.
fn stopped_by(signal: i32) -> ExitCode {
    ExitCode::from(u8::try_from(128 + signal).unwrap_or(u8::MAX))
}

/// Print entries as they arrive until the container has stopped and its log is drained (the monitor
/// records the end only after the last line is written).
fn follow(
    store: &Store,
    mut c: Container,
    reader: &mut LogReader,
    printer: &Printer,
    signals: Signals,
) -> anyhow::Result<Followed> {
    // Until the end is read (this returns then): an `--rm` container is not removed before.
    let _waiter = c.waiter();
    loop {
        if let Some(signal) = crate::interrupt::take() {
            match signals {
                Signals::Stop => return Ok(Followed::Stopped(signal)),
                // The container may have ended meanwhile: nothing to forward to then.
                Signals::Proxy => match nix::sys::signal::Signal::try_from(signal) {
                    Ok(sig) => match c.signal(sig) {
                        Ok(()) | Err(crate::container::ContainerError::NotRunning { .. }) => {}
                        Err(e) => return Err(e.into()),
                    },
                    Err(_) => return Ok(Followed::Stopped(signal)),
                },
            }
        }
        for e in reader.read_available()? {
            printer.print(&e)?;
        }
        if printer.until.is_some_and(|u| SystemTime::now() > u) {
            return Ok(Followed::Until);
        }
        let starting = c.state.status == Status::Created && c.monitor_alive();
        if !starting && !c.is_running() {
            // Ended: anything written before the state changed is in the file now.
            for e in reader.read_available()? {
                printer.print(&e)?;
            }
            return Ok(Followed::Ended(Box::new(c)));
        }
        std::thread::sleep(Duration::from_millis(50));
        c = match Containers::new(store).find(c.id()) {
            Ok(c) => c,
            // Removed meanwhile (rm -f): nothing more will come.
            Err(crate::container::ContainerError::NotFound(_)) => return Ok(Followed::Ended(Box::new(c))),
            Err(e) => return Err(e.into()),
        };
    }
}

/// Reads whole entries from `ctr.log`, leaving a line still being written for the next read.
struct LogReader {
    file: Option<BufReader<File>>,
    path: std::path::PathBuf,
    offset: u64,
}

impl LogReader {
    fn open(c: &Container, offset: u64) -> anyhow::Result<LogReader> {
        Ok(LogReader { file: None, path: c.log_path(), offset })
    }

    fn read_available(&mut self) -> anyhow::Result<Vec<log::Entry>> {
        if self.file.is_none() {
            match File::open(&self.path) {
                Ok(mut f) => {
                    f.seek(SeekFrom::Start(self.offset))?;
                    self.file = Some(BufReader::new(f));
                }
                // Not written yet (a container that never ran detached).
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(e) => return Err(anyhow::anyhow!("cannot read {}: {e}", self.path.display())),
            }
        }
        let file = self.file.as_mut().expect("opened above");
        let mut out = Vec::new();
        let mut line = String::new();
        loop {
            line.clear();
            let n = file.read_line(&mut line)?;
            if n == 0 {
                break;
            }
            if !line.ends_with('\n') {
                // Half written: read it again whole next time.
                file.seek_relative(-(n as i64))?;
                break;
            }
            self.offset += n as u64;
            out.extend(log::parse(&line));
        }
        Ok(out)
    }
}
