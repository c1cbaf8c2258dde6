//! `rbuild pull NAME[:TAG|@DIGEST]`, and the registry flags every registry command shares.

use super::images::open_store;
use super::{Globals, UsageError};
use crate::reference::ImageRef;
use crate::registry::progress::{Style, TransferProgress};
use crate::registry::pull::{self, PullOptions};
use crate::registry::{ClientOptions, Platform};
use std::process::ExitCode;

/// How to reach registries: the flags `pull`, `push`, `login` and `build` share.
#[derive(Debug, Clone, clap::Args)]
pub struct RegistryFlags {
    /// Verify registry certificates (default: yes, except for localhost and 127.0.0.0/8, which may also
    /// be plain http, as in docker); --tls-verify=false allows plain http and any certificate
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub tls_verify: Option<bool>,
    /// Same as --tls-verify=false
    #[arg(long)]
    pub insecure: bool,
}

impl RegistryFlags {
    pub fn options(&self) -> ClientOptions {
        ClientOptions { tls_verify: if self.insecure { Some(false) } else { self.tls_verify } }
    }
}

/// Pull an image from a registry into the store.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  rbuild pull busybox            # docker.io/library/busybox:latest\n  \
rbuild pull --platform linux/arm64 127.0.0.1:5000/app:1\n  rbuild pull app@sha256:<digest>")]
pub struct PullArgs {
    /// NAME[:TAG] or NAME@DIGEST
    pub reference: String,
    /// Platform to take from a multi-platform image, os/arch[/variant] (default: the host's)
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,
    /// Print only the image ID
    #[arg(short, long)]
    pub quiet: bool,
    /// Output: bars with bytes and speed on a terminal (tty), plain lines, or JSON events
    #[arg(long, value_enum, default_value = "auto")]
    pub progress: crate::engine::progress::Mode,
    #[command(flatten)]
    pub registry: RegistryFlags,
}

/// The transfer display for `--progress` and `-q`.
pub(super) fn transfer_progress(mode: crate::engine::progress::Mode, quiet: bool) -> TransferProgress {
    use crate::engine::progress::Mode;
    TransferProgress::new(match (quiet, mode.resolve()) {
        (true, _) => Style::Quiet,
        (false, Mode::Tty) => Style::Tty,
        (false, Mode::Json) => Style::Json,
        (false, _) => Style::Plain,
    })
}

/// Parse `--platform`, a usage error when malformed.
pub(super) fn parse_platform(p: Option<&str>) -> anyhow::Result<Option<Platform>> {
    p.map(|p| Platform::parse(p).map_err(|e| UsageError(e.to_string()).into())).transpose()
}

pub fn run(g: &Globals, a: PullArgs) -> anyhow::Result<ExitCode> {
    let reference = ImageRef::parse(&a.reference).map_err(|e| UsageError(e.to_string()))?;
    let opts = PullOptions { platform: parse_platform(a.platform.as_deref())?, client: a.registry.options() };
    let store = open_store(g)?;
    let progress = transfer_progress(a.progress, a.quiet);
    progress.message(&format!("Pulling {reference} from {}", reference.domain()));
    let pulled = pull::pull(&store, &reference, &opts, &progress)?;
    if a.quiet {
        println!("{}", pulled.config_digest);
    } else {
        println!("{reference}");
    }
    Ok(ExitCode::SUCCESS)
}
