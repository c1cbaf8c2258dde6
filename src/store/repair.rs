//! `rbuild system check --repair`: remove what is provably broken, and only that, under the store lock.
//!
//! Provably broken: a blob whose bytes do not hash to its name (it can never be what anything asks
//! for); a step-cache record that does not parse or names a missing blob (it can only miss); an
//! `index.json` entry whose manifest blob is gone (the name points at nothing); debris of dead processes.
//! Everything else `check` reports is left as it is and said so: an image missing a config or layer keeps
//! its name (the blob may be pulled or loaded again, or the user runs `rmi`), an open root, stray files
//! and leftover mounts need a person's judgement.

use super::check::{self, Problem};
use super::lock::Locked;
use super::{debris, from_oci_digest, index, StoreError};
use std::fs;
use std::path::Path;

/// What a repair did: one line per thing removed.
#[derive(Debug, Default)]
pub struct RepairReport {
    pub removed: Vec<String>,
}

fn remove(path: &Path, why: String, out: &mut RepairReport) -> Result<(), StoreError> {
    let removed = match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(_) => return Ok(()),
    };
    removed.map_err(StoreError::io("cannot remove", path))?;
    out.removed.push(why);
    Ok(())
}

impl Locked<'_> {
    /// Remove what is provably broken (see the module doc). Run `check` again afterwards for what is left.
    pub fn repair(&self) -> Result<RepairReport, StoreError> {
        let mut out = RepairReport::default();
        let mounts = check::mounts_under(self.root());
        for problem in check::check(self)?.problems {
            match problem {
                Problem::Corrupt { path, actual } => {
                    let why = format!("{}: its content hashes to {actual}", path.display());
                    remove(&path, why, &mut out)?
                }
                Problem::Debris(d) if !mounts.iter().any(|m| m.starts_with(&d.path)) => {
                    remove(&d.path.clone(), d.to_string(), &mut out)?
                }
                _ => {}
            }
        }
        // After corrupt blobs went: records and index entries that now point at nothing.
        for problem in check::check(self)?.problems {
            if let Problem::CacheRecord { path, .. } = &problem {
                remove(path, problem.to_string(), &mut out)?;
            }
        }
        let dropped = index::update(self, |m| {
            let mut dropped = Vec::new();
            let mut kept = Vec::new();
            for d in m.drain(..) {
                match from_oci_digest(d.digest()) {
                    Ok(digest) if !self.has_blob(&digest) => {
                        dropped.push((digest, index::ref_name(&d).map(String::from)))
                    }
                    _ => kept.push(d),
                }
            }
            *m = kept;
            Ok(dropped)
        })?;
        for (digest, name) in dropped {
            let name = name.unwrap_or_else(|| "<none>:<none>".into());
            out.removed.push(format!("index.json: {name} pointed at manifest {digest}, which is not in the store"));
        }
        debris::sweep(self)?;
        Ok(out)
    }
}
