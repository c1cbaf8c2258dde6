//! The host platform in OCI (Go) naming, and image timestamps that come from SOURCE_DATE_EPOCH when it is
//! set, so that the same inputs give the same image digest.

use super::ImageError;
use chrono::{DateTime, SecondsFormat, Utc};

/// The host's `(os, architecture, variant)` in OCI naming: `linux`, `amd64`/`arm64`/…, `v8` on arm64.
pub fn host_platform() -> (&'static str, &'static str, &'static str) {
    let arch = crate::emulation::host_arch();
    let variant = if arch == "arm64" { "v8" } else { "" };
    (std::env::consts::OS, arch, variant)
}

/// An RFC 3339 UTC timestamp: SOURCE_DATE_EPOCH when given, else now.
pub fn timestamp(source_date_epoch: Option<i64>) -> Result<String, ImageError> {
    let at: DateTime<Utc> = match source_date_epoch {
        Some(secs) => DateTime::from_timestamp(secs, 0).ok_or(ImageError::Timestamp(secs))?,
        None => Utc::now(),
    };
    Ok(at.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_come_from_source_date_epoch() {
        assert_eq!(timestamp(Some(0)).unwrap(), "1970-01-01T00:00:00Z");
        assert_eq!(timestamp(Some(1_700_000_000)).unwrap(), "2023-11-14T22:13:20Z");
        assert!(timestamp(None).unwrap().ends_with('Z'));
    }

    #[test]
    fn host_platform_uses_oci_names() {
        let (os, arch, _) = host_platform();
        assert_eq!(os, "linux");
        assert!(!arch.contains("x86_64") && !arch.contains("aarch64"));
    }
}
