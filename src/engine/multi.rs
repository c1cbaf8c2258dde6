//! `build --platform linux/amd64,linux/arm64`: one whole build per platform, all at once (each on its own
//! scoped thread, each with its own plan, since the TARGET* args differ), then one OCI image index naming
//! every platform's manifest with its platform, tagged as a single-platform build's image would be.
//!
//! The per-platform images are written but not named: the index is what `index.json` names, and gc
//! reaches their blobs through it. A lease held from before the first build keeps those unnamed blobs from
//! a concurrent gc until the index names them. The first build to fail is the build's failure (its
//! schedule stops the others' running commands).

use super::{build_image, BuildError, BuildOutput, BuildRequest, Built};
use crate::registry::Platform;
use crate::store::Store;
use std::sync::Mutex;

/// Build `req` for each of `platforms` and tag an index of the results with `req.tags`. The output's
/// image ID and manifest are the index's digest (as docker shows a multi-platform image).
pub fn build_platforms(store: &Store, req: &BuildRequest, platforms: &[Platform]) -> Result<BuildOutput, BuildError> {
    let _lease = store.lease()?;
    let first_failure: Mutex<Option<BuildError>> = Mutex::new(None);
    let built: Vec<Option<Built>> = std::thread::scope(|s| {
        let handles: Vec<_> = platforms
            .iter()
            .map(|p| {
                let one = BuildRequest { platform: Some(p.clone()), tags: Vec::new(), ..req.clone() };
                let first_failure = &first_failure;
                s.spawn(move || match build_image(store, &one, false) {
                    Ok(b) => Some(b),
                    Err(e) => {
                        first_failure.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(e);
                        None
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect()
    });
    if let Some(e) = first_failure.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(e);
    }
    let built: Vec<Built> = built.into_iter().flatten().collect();
    let images: Vec<_> = built.iter().map(|b| (b.manifest.clone(), &b.image)).collect();
    let index = crate::image::commit_index(store, &images, &req.tags)?;
    super::progress::Progress::new(req.progress, req.quiet, req.debug).finish(&index, &req.tags);
    let warnings = built.into_iter().flat_map(|b| b.output.warnings).collect();
    Ok(BuildOutput { image_id: index.clone(), manifest: index, warnings })
}
