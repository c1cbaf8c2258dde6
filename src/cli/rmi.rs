use super::images::{open_store, resolve};
use super::Globals;
use crate::reference::ImageRef;
use crate::store::Locked;
use std::process::ExitCode;

/// Remove image names, and images no name refers to.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Given a name, only that name goes; the image goes when no name is left. Given an image ID
or digest, the image and all its names go (an image with several names needs -f). Blobs
that no remaining image uses are then garbage-collected.
An image that a running build or `rbuild run` uses is not removed: its last name goes only
with -f (the image stays as <none>), and by ID it is refused until the build or container ends.")]
pub struct RmiArgs {
    /// Images: name[:tag], image ID (full or at least 4 hex digits), or manifest digest
    #[arg(value_parser = super::text(), required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
    /// Remove images with several names by ID, and ignore images that do not exist
    #[arg(short, long)]
    pub force: bool,
}

pub fn run(g: &Globals, a: RmiArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(g)?;
    // Every name is resolved, judged and removed, and gc runs, under one lock: nothing tagged meanwhile
    // can be removed by a decision made before it.
    let store = store.lock()?;
    let mut failure = None;
    for reference in &a.images {
        if let Err(e) = remove(&store, reference, a.force) {
            if e.downcast_ref::<super::UsageError>().is_some() {
                return Err(e);
            }
            let missing = matches!(e.downcast_ref(), Some(crate::store::StoreError::NotFound { .. }));
            if a.force && missing {
                continue;
            }
            if let Some(previous) = failure.replace(e) {
                eprintln!("error: {previous}");
            }
        }
    }
    store.collect()?;
    match failure {
        Some(e) => Err(e),
        None => Ok(ExitCode::SUCCESS),
    }
}

fn remove(store: &Locked<'_>, reference: &str, force: bool) -> anyhow::Result<()> {
    let image = resolve(store, reference)?;
    let by_name = ImageRef::parse(reference)
        .ok()
        .filter(|r| r.digest().is_none())
        .filter(|r| image.names.contains(&r.tagged_name()));
    // A running build or `rbuild run` holds a lease on the image it uses: as docker does for a running
    // container, its last name goes only with -f (the image stays, dangling) and the image itself not at all.
    let in_use = store.in_use()?.contains(&image.manifest_digest);
    if let Some(name) = by_name {
        if in_use && image.names.len() == 1 && !force {
            anyhow::bail!(
                "conflict: unable to remove repository reference {:?} (must force) - a running build or \
                 container is using its referenced image {}",
                name.tagged_name(),
                image.config_digest.short()
            );
        }
        if let Some((_, gone)) = store.untag(&name, in_use)? {
            println!("Untagged: {}", name.tagged_name());
            if gone {
                println!("Deleted: {}", image.config_digest);
            }
        }
        return Ok(());
    }
    if image.names.len() > 1 && !force {
        anyhow::bail!(
            "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
            image.config_digest.short()
        );
    }
    if in_use {
        anyhow::bail!(
            "conflict: unable to delete {} (cannot be forced) - image is being used by a running build or \
             container: retry when it has finished",
            image.config_digest.short()
        );
    }
    for name in store.remove_manifest(&image.manifest_digest)? {
        println!("Untagged: {name}");
    }
    println!("Deleted: {}", image.config_digest);
    Ok(())
}
