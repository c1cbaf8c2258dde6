//! `export`: an image's flattened filesystem as one tar — its layers applied in order, whiteouts and
//! opaque dirs applied — as `docker export` gives for a container. Unpacked into the store's `tmp/`
//! (removed afterwards, and by the debris sweep if this process dies) and written with the same tar
//! writer as layers, so names, types, modes, owners, xattrs and hard links are recorded the same way.

use super::ArchiveError;
use crate::layer::{self, Compression, LayerOptions};
use crate::store::{Image, Store};
use std::io::Write;

/// Write `image`'s flattened rootfs as a tar stream into `out`.
pub fn export(store: &Store, image: &Image, out: impl Write) -> Result<(), ArchiveError> {
    let rootfs = store.temp_dir("export")?;
    for l in image.manifest.layers() {
        layer::extract(store, l, rootfs.path()).map_err(|e| ArchiveError::Layer(l.digest().to_string(), e))?;
    }
    let opts = LayerOptions { compression: Compression::None, source_date_epoch: None };
    let tar = layer::write_tree(rootfs.path(), out, &opts).map_err(|e| ArchiveError::Layer("(export)".into(), e))?;
    tar.into_inner().and_then(|mut w| w.flush()).map_err(ArchiveError::Write)
}
