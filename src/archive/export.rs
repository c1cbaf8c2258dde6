//! `export`: an image's flattened filesystem as one tar — its layers applied in order, whiteouts and
//! opaque dirs applied — as `docker export` gives for a container. Unpacked into the store's `tmp/`
//! (removed afterwards, and by the debris sweep if this process dies) and written with the same tar
//! writer as layers, so names, types, modes, owners, xattrs and hard links are recorded the same way.
//! `flatten` is the unpacking half alone, for `build -o type=local` (a directory, not a tar).

use super::ArchiveError;
use crate::layer::{self, Compression, LayerOptions};
use crate::store::{Image, Store};
use std::io::Write;
use std::path::Path;

/// Write `image`'s flattened rootfs as a tar stream into `out`.
pub fn export(store: &Store, image: &Image, out: impl Write) -> Result<(), ArchiveError> {
    let rootfs = store.temp_dir("export")?;
    flatten(store, image, rootfs.path())?;
    let opts = LayerOptions { compression: Compression::None, source_date_epoch: None };
    let tar = layer::write_tree(rootfs.path(), out, &opts).map_err(|e| ArchiveError::Layer("(export)".into(), e))?;
    tar.into_inner().and_then(|mut w| w.flush()).map_err(ArchiveError::Write)
}

/// Apply `image`'s layers in order into the empty directory `dir`.
pub fn flatten(store: &Store, image: &Image, dir: &Path) -> Result<(), ArchiveError> {
    for l in image.manifest.layers() {
        layer::extract(store, l, dir).map_err(|e| ArchiveError::Layer(l.digest().to_string(), e))?;
    }
    Ok(())
}
