//! `ImageRef`: an image reference (`name[:tag][@digest]`) parsed once, with Docker's grammar and
//! normalisation.
//!
//! Grammar (distribution/reference): an optional registry `host[:port]` (recognised by a `.` or `:` in the
//! first component, or `localhost`), then `/`-separated path components of lowercase letters and digits
//! joined by `.`, `_`, `__` or runs of `-`; a tag `[\w][\w.-]{0,127}`; a `sha256:` digest. Docker Hub names
//! are normalised (`docker.io/library/x` ≡ `x`) and the *familiar* form is what the store records.

use crate::digest::Digest;
use regex::Regex;
use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

/// Why a reference was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    #[error("invalid reference format: the reference is empty")]
    Empty,
    #[error("invalid reference format: repository name {name:?} must be lowercase")]
    Uppercase { name: String },
    #[error("invalid reference format: {reference:?}: {reason}")]
    Invalid { reference: String, reason: &'static str },
    #[error("invalid reference format: repository name {name:?} is longer than 255 characters")]
    NameTooLong { name: String },
    #[error("invalid reference format: tag {tag:?} must match [A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}}")]
    Tag { tag: String },
    #[error("invalid reference format: {reference:?}: bad digest (expected sha256:<64 lowercase hex digits>)")]
    Digest { reference: String },
}

const DOCKER_HUB: &str = "docker.io";
const MAX_NAME_LEN: usize = 255;

static PATH_COMPONENT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$").expect("static regex"));
static DOMAIN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?$",
    )
    .expect("static regex")
});
// Docker's `[\w][\w.-]{0,127}` with Go's ASCII `\w`. The length is checked apart: a bounded repetition
// compiles to a large automaton, which cost every command tens of milliseconds at start-up.
static TAG: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$").expect("static regex"));
const MAX_TAG_LEN: usize = 128;

/// A parsed image reference. Equality is on the normalised form, so `busybox` == `docker.io/library/busybox`
/// (an implicit tag is kept distinct from a written `:latest`; compare [`ImageRef::tagged_name`] for that).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef {
    /// Registry host[:port], normalised (`index.docker.io` → `docker.io`).
    domain: String,
    /// Repository path; Docker Hub official images carry `library/`.
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl ImageRef {
    /// Parse `name[:tag][@digest]`.
    pub fn parse(s: &str) -> Result<ImageRef, ReferenceError> {
        if s.is_empty() {
            return Err(ReferenceError::Empty);
        }
        let invalid = |reason| ReferenceError::Invalid { reference: s.to_string(), reason };
        let (rest, digest) = match s.split_once('@') {
            Some((rest, d)) => {
                (rest, Some(Digest::parse(d).map_err(|_| ReferenceError::Digest { reference: s.to_string() })?))
            }
            None => (s, None),
        };
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(tag) = tag {
            if tag.len() > MAX_TAG_LEN || !TAG.is_match(tag) {
                return Err(ReferenceError::Tag { tag: tag.to_string() });
            }
        }
        if name.is_empty() {
            return Err(invalid("missing repository name"));
        }
        if name.len() > MAX_NAME_LEN {
            return Err(ReferenceError::NameTooLong { name: name.to_string() });
        }
        let (domain, path) = split_domain(name);
        if let Some(domain) = domain {
            if !DOMAIN.is_match(domain) {
                return Err(invalid("invalid registry host"));
            }
        }
        for component in path.split('/') {
            if PATH_COMPONENT.is_match(component) {
                continue;
            }
            if PATH_COMPONENT.is_match(&component.to_ascii_lowercase()) {
                return Err(ReferenceError::Uppercase { name: name.to_string() });
            }
            return Err(invalid(
                "path components must be lowercase letters and digits, separated by '.', '_', '__' or '-'",
            ));
        }
        let domain = match domain {
            None | Some("index.docker.io") => DOCKER_HUB.to_string(),
            Some(d) => d.to_string(),
        };
        let path =
            if domain == DOCKER_HUB && !path.contains('/') { format!("library/{path}") } else { path.to_string() };
        Ok(ImageRef { domain, path, tag: tag.map(String::from), digest })
    }

    /// The familiar repository name: `busybox`, `user/app`, `127.0.0.1:5000/x/y`.
    pub fn name(&self) -> String {
        if self.domain == DOCKER_HUB {
            match self.path.strip_prefix("library/") {
                Some(short) if !short.contains('/') => short.to_string(),
                _ => self.path.clone(),
            }
        } else {
            format!("{}/{}", self.domain, self.path)
        }
    }

    /// The fully qualified repository name: `docker.io/library/busybox`.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// Registry host[:port] (`docker.io` for Docker Hub).
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path inside the registry (`library/busybox`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The tag, `latest` when none was written.
    pub fn tag(&self) -> &str {
        self.tag.as_deref().unwrap_or("latest")
    }

    /// The tag exactly as written, if any.
    pub fn explicit_tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// `name:tag` in familiar form, the string stored as `org.opencontainers.image.ref.name`.
    pub fn tagged_name(&self) -> String {
        format!("{}:{}", self.name(), self.tag())
    }
}

/// Split off the registry host when the first component looks like one (docker's rule).
fn split_domain(name: &str) -> (Option<&str>, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains('.')
                || first.contains(':')
                || first == "localhost"
                || first.chars().any(|c| c.is_ascii_uppercase()) =>
        {
            (Some(first), rest)
        }
        _ => (None, name),
    }
}

impl fmt::Display for ImageRef {
    /// Familiar form; `:latest` is shown unless only a digest was given.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())?;
        match (&self.tag, &self.digest) {
            (Some(t), _) => write!(f, ":{t}")?,
            (None, None) => write!(f, ":latest")?,
            (None, Some(_)) => {}
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl FromStr for ImageRef {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ImageRef::parse(s)
    }
}

/// `127.0.0.1:5000/x/y:tag` → (`127.0.0.1:5000/x/y`, `tag`): the tag follows the last `:` after the last `/`.
pub fn split_name(name: &str) -> (&str, &str) {
    let slash = name.rfind('/').map_or(0, |i| i + 1);
    match name[slash..].rfind(':') {
        Some(i) => (&name[..slash + i], &name[slash + i + 1..]),
        None => (name, "latest"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tagged(s: &str) -> String {
        ImageRef::parse(s).unwrap_or_else(|e| panic!("{s}: {e}")).tagged_name()
    }

    #[test]
    fn docker_hub_names_normalise_to_the_familiar_form() {
        assert_eq!(tagged("busybox"), "busybox:latest");
        assert_eq!(tagged("docker.io/library/busybox:1.36"), "busybox:1.36");
        assert_eq!(tagged("index.docker.io/library/busybox"), "busybox:latest");
        assert_eq!(tagged("library/busybox"), "busybox:latest");
        assert_eq!(tagged("docker.io/user/app:v1"), "user/app:v1");
        assert_eq!(ImageRef::parse("busybox").unwrap(), ImageRef::parse("docker.io/library/busybox").unwrap());
        assert_eq!(ImageRef::parse("busybox").unwrap().full_name(), "docker.io/library/busybox");
    }

    #[test]
    fn registries_ports_and_paths_are_kept() {
        assert_eq!(tagged("127.0.0.1:5000/x/y:tag"), "127.0.0.1:5000/x/y:tag");
        assert_eq!(tagged("localhost/app"), "localhost/app:latest");
        assert_eq!(tagged("localhost:5000/app"), "localhost:5000/app:latest");
        assert_eq!(tagged("ghcr.io/o/a-b__c.d:1.0-rc_1"), "ghcr.io/o/a-b__c.d:1.0-rc_1");
        assert_eq!(tagged("[::1]:5000/app:t"), "[::1]:5000/app:t");
        // `localhost:5000` alone is the repository `localhost` with tag `5000`, as in docker.
        assert_eq!(tagged("localhost:5000"), "localhost:5000");
        let r = ImageRef::parse("127.0.0.1:5000/x/y:tag").unwrap();
        assert_eq!((r.domain(), r.path(), r.tag()), ("127.0.0.1:5000", "x/y", "tag"));
    }

    #[test]
    fn digests_are_parsed_and_displayed() {
        let d = Digest::of(b"m");
        let r = ImageRef::parse(&format!("app@{d}")).unwrap();
        assert_eq!(r.digest(), Some(&d));
        assert_eq!(r.explicit_tag(), None);
        assert_eq!(r.to_string(), format!("app@{d}"));
        let r = ImageRef::parse(&format!("app:1@{d}")).unwrap();
        assert_eq!(r.to_string(), format!("app:1@{d}"));
        assert!(matches!(ImageRef::parse("app@sha256:abc"), Err(ReferenceError::Digest { .. })));
    }

    #[test]
    fn invalid_references_are_refused_with_a_reason() {
        assert_eq!(ImageRef::parse(""), Err(ReferenceError::Empty));
        assert!(matches!(ImageRef::parse("App:1"), Err(ReferenceError::Uppercase { .. })));
        assert!(matches!(ImageRef::parse("app:-bad"), Err(ReferenceError::Tag { .. })));
        assert!(matches!(ImageRef::parse(&format!("app:{}", "t".repeat(129))), Err(ReferenceError::Tag { .. })));
        assert!(ImageRef::parse(&format!("app:{}", "t".repeat(128))).is_ok());
        for bad in ["app:", ":tag", "a//b", "a/", "-a", "a--", "a..b", "a b", "host:port:x/y/z:t:u", "a/b:c/d"] {
            assert!(ImageRef::parse(bad).is_err(), "{bad} should be refused");
        }
        let long = format!("a/{}", "b".repeat(260));
        assert!(matches!(ImageRef::parse(&long), Err(ReferenceError::NameTooLong { .. })));
        assert!(matches!(ImageRef::parse("Host.io:x/a"), Err(ReferenceError::Invalid { .. })));
    }

    #[test]
    fn tags_use_ascii_word_characters_and_at_most_128_of_them() {
        assert!(ImageRef::parse("app:v1.2_rc-3").is_ok());
        assert!(ImageRef::parse(&format!("app:{}", "a".repeat(128))).is_ok());
        assert!(ImageRef::parse(&format!("app:{}", "a".repeat(129))).is_err());
        assert!(ImageRef::parse("app:café").is_err(), "Go's \\w is ASCII only");
        assert!(ImageRef::parse("app:.hidden").is_err());
    }
}
