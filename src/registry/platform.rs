//! `Platform`: `os/arch[/variant]` as in `--platform` and in image indexes, with the aliases docker
//! accepts (`x86_64` → `amd64`, `aarch64` → `arm64`) and the rule that `arm64` means `arm64/v8`.

use super::RegistryError;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub arch: String,
    pub variant: Option<String>,
}

fn normalise_arch(arch: &str, variant: Option<&str>) -> (String, Option<String>) {
    let arch = match arch {
        "x86_64" | "x86-64" => "amd64",
        "aarch64" => "arm64",
        "i386" => "386",
        other => other,
    };
    let variant = match (arch, variant) {
        // arm64 has one variant in practice; an absent one means v8 (containerd's normalisation).
        ("arm64", None | Some("8")) => Some("v8".to_string()),
        ("arm", None) => Some("v7".to_string()),
        (_, v) => v.filter(|v| !v.is_empty()).map(String::from),
    };
    (arch.to_string(), variant)
}

impl Platform {
    /// Parse `os/arch[/variant]`.
    pub fn parse(s: &str) -> Result<Platform, RegistryError> {
        let parts: Vec<&str> = s.split('/').collect();
        let bad = || RegistryError::Platform(s.to_string());
        let (os, arch, variant) = match parts.as_slice() {
            [os, arch] => (*os, *arch, None),
            [os, arch, variant] => (*os, *arch, Some(*variant)),
            _ => return Err(bad()),
        };
        let ok = |w: &str| !w.is_empty() && w.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !ok(os) || !ok(arch) || variant.is_some_and(|v| !ok(v)) {
            return Err(bad());
        }
        let (arch, variant) = normalise_arch(&arch.to_ascii_lowercase(), variant);
        Ok(Platform { os: os.to_ascii_lowercase(), arch, variant })
    }

    /// The host's platform.
    pub fn host() -> Platform {
        let (os, arch, variant) = crate::image::host_platform();
        let (arch, variant) = normalise_arch(arch, Some(variant).filter(|v| !v.is_empty()));
        Platform { os: os.to_string(), arch, variant }
    }

    /// The platform an index entry (or an image config) declares.
    pub fn from_json(v: &serde_json::Value) -> Option<Platform> {
        let os = v.get("os")?.as_str()?;
        let arch = v.get("architecture")?.as_str()?;
        let (arch, variant) = normalise_arch(arch, v.get("variant").and_then(|v| v.as_str()));
        Some(Platform { os: os.to_string(), arch, variant })
    }

    /// The platform an image config declares (its os, architecture and variant fields).
    pub fn of_image(state: &crate::image::state::ImageState) -> Platform {
        let (arch, variant) = normalise_arch(&state.architecture, state.variant.as_deref());
        Platform { os: state.os.clone(), arch, variant }
    }

    /// `(os, arch, variant)` as BuildKit spells them in the automatic build args: arm64's implied `v8`
    /// is left out (`TARGETPLATFORM=linux/arm64`, `TARGETVARIANT=`), as containerd's normalisation does.
    pub fn arg_parts(&self) -> (&str, &str, &str) {
        let variant = match (self.arch.as_str(), self.variant.as_deref()) {
            ("arm64", Some("v8")) | (_, None) => "",
            (_, Some(v)) => v,
        };
        (&self.os, &self.arch, variant)
    }

    /// The platform as BuildKit shows it (`TARGETPLATFORM`, progress lines): `linux/arm64`, `linux/arm/v7`.
    pub fn short(&self) -> String {
        match self.arg_parts() {
            (os, arch, "") => format!("{os}/{arch}"),
            (os, arch, variant) => format!("{os}/{arch}/{variant}"),
        }
    }

    /// Whether an image of platform `other` runs here when `self` was asked for: same os and
    /// architecture, and the same variant when both name one.
    pub fn matches(&self, other: &Platform) -> bool {
        self.os == other.os
            && self.arch == other.arch
            && match (&self.variant, &other.variant) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_parse_with_docker_aliases() {
        assert_eq!(Platform::parse("linux/amd64").unwrap().to_string(), "linux/amd64");
        assert_eq!(Platform::parse("linux/x86_64").unwrap().to_string(), "linux/amd64");
        assert_eq!(Platform::parse("linux/aarch64").unwrap().to_string(), "linux/arm64/v8");
        assert_eq!(Platform::parse("linux/arm/v6").unwrap().to_string(), "linux/arm/v6");
        for bad in ["linux", "linux/", "/amd64", "a/b/c/d", "linux/am d64"] {
            assert!(Platform::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn variants_only_narrow_when_both_sides_name_one() {
        let arm7 = Platform::parse("linux/arm/v7").unwrap();
        let arm6 = Platform::parse("linux/arm/v6").unwrap();
        assert!(!arm7.matches(&arm6));
        let idx = Platform::from_json(&serde_json::json!({"os": "linux", "architecture": "arm64"})).unwrap();
        assert!(Platform::parse("linux/arm64/v8").unwrap().matches(&idx));
        assert!(!Platform::parse("linux/amd64").unwrap().matches(&idx));
    }

    #[test]
    fn build_args_drop_only_the_implied_arm64_variant() {
        assert_eq!(Platform::parse("linux/arm64").unwrap().arg_parts(), ("linux", "arm64", ""));
        assert_eq!(Platform::parse("linux/arm/v6").unwrap().arg_parts(), ("linux", "arm", "v6"));
        assert_eq!(Platform::parse("linux/amd64").unwrap().arg_parts(), ("linux", "amd64", ""));
    }
}
