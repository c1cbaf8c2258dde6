//! `build --squash`: the layers this build added on top of the target stage's base become one layer, as
//! docker's `--squash` does; the base's layers stay as they are. The merge works on the layer tars, so
//! it is the same whichever snapshot backend built them: later entries win, a whiteout or opaque dir
//! hides what earlier new layers put there, and a whiteout is kept only when it hides something of the
//! base (a file made and deleted within the build leaves no trace). History keeps every entry, the
//! squashed ones marked `empty_layer`, plus one entry for the merged layer (docker's "merge" entry).

use crate::image::state::{HistoryEntry, ImageState};
use crate::layer::{self, LayerError, LayerOptions};
use crate::store::{Store, StoreError};
use oci_spec::image::Descriptor;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SquashError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Layer(#[from] LayerError),
    #[error("squashing the build's layers: {0}")]
    Io(#[from] io::Error),
}

const WHITEOUT: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";

/// Squash `layers[base..]` of `image` into one layer (nothing to do for fewer than two new layers).
pub fn squash(
    store: &Store,
    image: &mut ImageState,
    layers: &mut Vec<Descriptor>,
    base: usize,
    opts: &LayerOptions,
    created: String,
) -> Result<(), SquashError> {
    if layers.len() < base + 2 {
        return Ok(());
    }
    let base_paths = paths_of(store, &layers[..base])?;
    // Which layer (index among the new ones) and entry number wins each path.
    let mut winners: BTreeMap<PathBuf, (usize, usize)> = BTreeMap::new();
    for (li, d) in layers[base..].iter().enumerate() {
        for_each_entry(store, d, |ei, path, _| {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let parent = path.parent().unwrap_or(Path::new("")).to_path_buf();
            if name == OPAQUE {
                winners.retain(|p, _| !p.starts_with(&parent) || *p == parent);
            } else if let Some(hidden) = name.strip_prefix(WHITEOUT) {
                let hidden = parent.join(hidden);
                winners.retain(|p, _| !p.starts_with(&hidden));
                if !base_paths.contains(&hidden) {
                    return Ok(());
                }
            } else {
                winners.remove(&parent.join(format!("{WHITEOUT}{name}")));
            }
            winners.insert(path.to_path_buf(), (li, ei));
            Ok(())
        })?;
    }
    // The winning entries, in path order (parents before children), into one tar.
    let mut by_layer: Vec<BTreeMap<usize, PathBuf>> = vec![BTreeMap::new(); layers.len() - base];
    for (path, (li, ei)) in &winners {
        by_layer[*li].insert(*ei, path.clone());
    }
    let mut spool = tempfile::tempfile_in(store.tmp_dir())?;
    // In memory, to write them sorted: a squash holds the build's new files once (see docs/layers.md).
    let mut parts: BTreeMap<PathBuf, (tar::Header, Option<PathBuf>, Vec<u8>)> = BTreeMap::new();
    for (li, d) in layers[base..].iter().enumerate() {
        let wanted = &by_layer[li];
        for_each_entry(store, d, |ei, path, entry| {
            if wanted.contains_key(&ei) {
                let link = entry.link_name()?.map(|l| l.into_owned());
                let mut data = Vec::new();
                entry.read_to_end(&mut data)?;
                parts.insert(path.to_path_buf(), (entry.header().clone(), link, data));
            }
            Ok(())
        })?;
    }
    {
        let mut tar = tar::Builder::new(&mut spool);
        for (path, (mut header, link, data)) in parts {
            match link {
                Some(link) => tar.append_link(&mut header, &path, &link)?,
                None => tar.append_data(&mut header, &path, &data[..])?,
            }
        }
        tar.finish()?;
    }
    spool.flush()?;
    spool.rewind()?;
    let merged = layer::ingest_tar(store, io::BufReader::new(spool), opts)?;
    let squashed = layers.len() - base;
    layers.truncate(base);
    layers.push(merged.descriptor);
    image.diff_ids.truncate(base);
    image.diff_ids.push(merged.diff_id.clone());
    // The history entries of the squashed layers are the last `squashed` non-empty ones.
    let mut left = squashed;
    for h in image.history.iter_mut().rev() {
        if left == 0 {
            break;
        }
        if !h.empty_layer {
            h.empty_layer = true;
            left -= 1;
        }
    }
    image.history.push(HistoryEntry {
        created,
        created_by: String::new(),
        comment: Some(format!("merge {squashed} layers to {}", merged.diff_id)),
        author: None,
        empty_layer: false,
    });
    Ok(())
}

/// Every path the base layers hold (whiteouts ignored: enough to know whether a whiteout hides anything).
fn paths_of(store: &Store, layers: &[Descriptor]) -> Result<BTreeSet<PathBuf>, SquashError> {
    let mut out = BTreeSet::new();
    for d in layers {
        for_each_entry(store, d, |_, path, _| {
            out.insert(path.to_path_buf());
            Ok(())
        })?;
    }
    Ok(out)
}

/// Call `f(index, path, entry)` for each entry of the layer blob `d`, paths without `./` or a trailing `/`.
fn for_each_entry(
    store: &Store,
    d: &Descriptor,
    mut f: impl FnMut(usize, &Path, &mut tar::Entry<'_, Box<dyn Read + '_>>) -> io::Result<()>,
) -> Result<(), SquashError> {
    let digest = crate::store::from_oci_digest(d.digest())?;
    let blob = store.open_blob(&digest)?;
    let reader = layer::decompress(io::BufReader::new(blob))?;
    let mut archive = tar::Archive::new(reader);
    for (i, entry) in archive.entries()?.enumerate() {
        let mut entry = entry?;
        let path =
            entry.path()?.components().filter(|c| matches!(c, std::path::Component::Normal(_))).collect::<PathBuf>();
        f(i, &path, &mut entry)?;
    }
    Ok(())
}
