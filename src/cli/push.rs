//! `rbuild push NAME[:TAG] [DEST]`: send an image from the store to a registry.

use super::images::{open_store, resolve};
use super::pull::RegistryFlags;
use super::{Globals, UsageError};
use crate::layer::{self, Compression};
use crate::reference::ImageRef;
use crate::registry::manifest::Format;
use crate::registry::progress::TransferProgress;
use crate::registry::push;
use crate::registry::{ClientOptions, RegistryError};
use crate::store::Store;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Push an image to a registry.
#[derive(Debug, clap::Args)]
#[command(after_help = "Layers stored as plain tars (how builds keep them) are pushed gzip-compressed, so the pushed \
digest differs from the one `rbuild images --digests` shows (the image ID stays); any other image is pushed \
byte for byte. --format converts the manifest (new digest, same blobs and image ID).\nExamples:\n  rbuild push 127.0.0.1:5000/app:1\n  rbuild push app:1 registry.example.com/team/app:1")]
pub struct PushArgs {
    /// Image in the store: name[:tag], image ID or manifest digest
    pub image: String,
    /// Where to push it, REGISTRY/NAME[:TAG] (default: the image's own name)
    pub destination: Option<String>,
    /// Write the pushed manifest digest to this file
    #[arg(long, value_name = "FILE")]
    pub digestfile: Option<PathBuf>,
    /// Print only the digest
    #[arg(short, long)]
    pub quiet: bool,
    /// Output: bars with bytes and speed on a terminal (tty), plain lines, or JSON events
    #[arg(long, value_enum, default_value = "auto")]
    pub progress: crate::engine::progress::Mode,
    /// Manifest format: oci, or docker (v2 schema 2, gzip layers only) for registries that need it;
    /// default: as stored (byte for byte)
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<FormatArg>,
    #[command(flatten)]
    pub registry: RegistryFlags,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum FormatArg {
    Oci,
    Docker,
}

/// Push `manifest` to `dest` (plain-tar layers gzip-compressed, converted to `format` when given),
/// reporting on stderr unless quiet; the pushed digest.
pub(super) fn push_image(
    store: &Store,
    manifest: &crate::digest::Digest,
    dest: &ImageRef,
    opts: &ClientOptions,
    progress: &TransferProgress,
    format: Option<Format>,
) -> anyhow::Result<push::Pushed> {
    progress.message(&format!("Pushing {dest} to {}", dest.domain()));
    // The lease keeps the image, its compressed layers and their manifest from a concurrent gc.
    let mut lease = store.lease()?;
    // An index (a multi-platform image) goes with each of its images made distributable.
    let manifest = layer::distributable_digest(store, &mut lease, manifest, Compression::Gzip)?;
    Ok(push::push_as(store, &manifest, dest, opts, progress, format)?)
}

pub(super) fn write_digestfile(path: Option<&Path>, digest: &crate::digest::Digest) -> anyhow::Result<()> {
    if let Some(p) = path {
        std::fs::write(p, digest.to_string())
            .map_err(|e| anyhow::anyhow!("writing the digest to {}: {e}", p.display()))?;
    }
    Ok(())
}

pub fn run(g: &Globals, a: PushArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(g)?;
    let image = resolve(&store, &a.image)?;
    let dest = match &a.destination {
        Some(d) => ImageRef::parse(d).map_err(|e| UsageError(e.to_string()))?,
        // Without a destination the image goes where its own name says; an ID or digest names no place.
        None => ImageRef::parse(&a.image)
            .ok()
            .filter(|r| r.digest().is_none() && image.names.contains(&r.tagged_name()))
            .ok_or_else(|| UsageError(RegistryError::NoDestination(a.image.clone()).to_string()))?,
    };
    if dest.digest().is_some() {
        return Err(UsageError(format!("cannot push to a digest ({dest}): name a tag")).into());
    }
    let progress = super::pull::transfer_progress(a.progress, a.quiet);
    let format = a.format.map(|f| match f {
        FormatArg::Oci => Format::Oci,
        FormatArg::Docker => Format::Docker,
    });
    // A multi-platform image goes up whole: its index and every platform's image.
    let manifest = store.index_named(&a.image)?.unwrap_or(image.manifest_digest);
    let pushed = push_image(&store, &manifest, &dest, &a.registry.options(), &progress, format)?;
    write_digestfile(a.digestfile.as_deref(), &pushed.digest)?;
    println!("{}", pushed.digest);
    Ok(ExitCode::SUCCESS)
}
