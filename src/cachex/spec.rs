//! `--cache-to` and `--cache-from` option lists (buildx's CSV syntax) as typed requests.
//!
//! `--cache-to type=registry,ref=R[,mode=min|max][,mounts=ID1;ID2]`, `--cache-to type=local,dest=DIR`;
//! `--cache-from type=registry,ref=R`, `--cache-from type=local,src=DIR`, and a bare `--cache-from R`
//! (a registry reference, as docker reads it). Cache-mount ids are separated by `;` so that the list
//! survives the comma-separated options; `mounts=` may also be given more than once.

use super::CacheError;
use crate::reference::ImageRef;
use std::path::PathBuf;

/// Which records an export holds: the final stage's chain (`min`, the default as in buildx) or those of
/// every stage the build ran or took from the cache (`max`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExportMode {
    #[default]
    Min,
    Max,
}

/// Where a cache lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Registry(ImageRef),
    /// An OCI image layout directory.
    Local(PathBuf),
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Registry(r) => write!(f, "{r}"),
            Location::Local(p) => write!(f, "{}", p.display()),
        }
    }
}

/// One `--cache-to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheTo {
    pub location: Location,
    pub mode: ExportMode,
    /// Cache-mount ids (`RUN --mount=type=cache,id=…`) whose contents go into the artifact.
    pub mounts: Vec<String>,
}

/// One `--cache-from`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheFrom {
    pub location: Location,
}

fn usage(flag: &str, text: &str, why: impl std::fmt::Display) -> CacheError {
    CacheError::Spec(format!("invalid {flag} {text:?}: {why}"))
}

/// The `key=value` fields of an option list; a field without `=` is an error.
fn fields<'a>(flag: &str, text: &'a str) -> Result<Vec<(String, &'a str)>, CacheError> {
    text.split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(|f| match f.split_once('=') {
            Some((k, v)) => Ok((k.trim().to_ascii_lowercase(), v.trim())),
            None => Err(usage(flag, text, format!("{f:?} is not KEY=VALUE"))),
        })
        .collect()
}

fn reference(flag: &str, text: &str, r: &str) -> Result<ImageRef, CacheError> {
    ImageRef::parse(r).map_err(|e| usage(flag, text, format!("ref {r:?}: {e}")))
}

pub fn parse_to(text: &str) -> Result<CacheTo, CacheError> {
    const FLAG: &str = "--cache-to";
    let (mut kind, mut r, mut dest, mut mode, mut mounts) = (None, None, None, ExportMode::Min, Vec::new());
    for (k, v) in fields(FLAG, text)? {
        match k.as_str() {
            "type" => kind = Some(v),
            "ref" => r = Some(v),
            "dest" => dest = Some(v),
            "mode" => {
                mode = match v {
                    "min" => ExportMode::Min,
                    "max" => ExportMode::Max,
                    _ => return Err(usage(FLAG, text, "mode is min or max")),
                }
            }
            "mounts" => mounts.extend(v.split(';').map(str::trim).filter(|s| !s.is_empty()).map(String::from)),
            // buildx options rbuild's format has no use for: accepted so CI scripts work unchanged.
            "compression" | "compression-level" | "force-compression" | "oci-mediatypes" | "image-manifest"
            | "ignore-error" => {}
            _ => return Err(usage(FLAG, text, format!("unknown option {k:?}"))),
        }
    }
    let location = match (kind.unwrap_or("registry"), r, dest) {
        ("registry", Some(r), None) => Location::Registry(reference(FLAG, text, r)?),
        ("local", None, Some(d)) => Location::Local(PathBuf::from(d)),
        ("registry", _, _) => return Err(usage(FLAG, text, "type=registry takes ref=NAME[:TAG]")),
        ("local", _, _) => return Err(usage(FLAG, text, "type=local takes dest=DIR")),
        (other, _, _) => return Err(usage(FLAG, text, format!("unsupported type {other:?} (use registry or local)"))),
    };
    Ok(CacheTo { location, mode, mounts })
}

pub fn parse_from(text: &str) -> Result<CacheFrom, CacheError> {
    const FLAG: &str = "--cache-from";
    if !text.contains('=') {
        return Ok(CacheFrom { location: Location::Registry(reference(FLAG, text, text.trim())?) });
    }
    let (mut kind, mut r, mut src) = (None, None, None);
    for (k, v) in fields(FLAG, text)? {
        match k.as_str() {
            "type" => kind = Some(v),
            "ref" => r = Some(v),
            "src" => src = Some(v),
            "digest" | "tag" => {}
            _ => return Err(usage(FLAG, text, format!("unknown option {k:?}"))),
        }
    }
    let location = match (kind.unwrap_or("registry"), r, src) {
        ("registry", Some(r), None) => Location::Registry(reference(FLAG, text, r)?),
        ("local", None, Some(s)) => Location::Local(PathBuf::from(s)),
        ("registry", _, _) => return Err(usage(FLAG, text, "type=registry takes ref=NAME[:TAG]")),
        ("local", _, _) => return Err(usage(FLAG, text, "type=local takes src=DIR")),
        (other, _, _) => return Err(usage(FLAG, text, format!("unsupported type {other:?} (use registry or local)"))),
    };
    Ok(CacheFrom { location })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse_like_buildx() {
        let t = parse_to("type=registry,ref=localhost:5000/app:cache,mode=max,mounts=apt;pip").unwrap();
        assert_eq!(t.mode, ExportMode::Max);
        assert_eq!(t.mounts, ["apt", "pip"]);
        assert!(matches!(t.location, Location::Registry(ref r) if r.tag() == "cache"));
        let t = parse_to("type=local,dest=/tmp/c,mounts=a,mounts=b").unwrap();
        assert_eq!(
            (t.location, t.mode, t.mounts),
            (Location::Local("/tmp/c".into()), ExportMode::Min, vec!["a".to_string(), "b".to_string()])
        );
        assert!(matches!(parse_from("localhost:5000/app:cache").unwrap().location, Location::Registry(_)));
        assert_eq!(parse_from("type=local,src=/c").unwrap().location, Location::Local("/c".into()));
        for bad in ["type=s3,ref=x", "type=local,ref=x", "type=registry", "mode=medium,ref=x", "ref=x,bogus=1"] {
            let e = parse_to(bad).unwrap_err().to_string();
            assert!(e.contains("invalid --cache-to"), "{bad}: {e}");
        }
        assert!(parse_from("type=local").is_err());
    }
}
