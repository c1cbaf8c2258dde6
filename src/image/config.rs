//! Creating and editing an OCI `ImageConfiguration` the way a build does: host platform, one history
//! entry per step, `rootfs.diff_ids` in layer order, and timestamps that come from SOURCE_DATE_EPOCH when
//! it is set so that the same inputs give the same image digest.

use super::ImageError;
use crate::digest::Digest;
use chrono::{DateTime, SecondsFormat, Utc};
use oci_spec::image::{
    Arch, Config, History, HistoryBuilder, ImageConfiguration, ImageConfigurationBuilder, Os, RootFsBuilder,
};

/// The host's architecture and OS in OCI (Go) naming: `amd64`, `arm64`, …, and `linux`.
pub fn host_platform() -> (Arch, Os) {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        "arm" => "arm",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        "powerpc64" => "ppc64",
        "loongarch64" => "loong64",
        "mips64" if cfg!(target_endian = "little") => "mips64le",
        other => other,
    };
    (Arch::from(arch), Os::from(std::env::consts::OS))
}

/// A fresh config for the host platform: no layers, no history, an empty `config`.
pub fn new_config() -> Result<ImageConfiguration, ImageError> {
    let (architecture, os) = host_platform();
    let rootfs = RootFsBuilder::default()
        .typ("layers")
        .diff_ids(Vec::<String>::new())
        .build()
        .map_err(|source| ImageError::Spec { what: "rootfs", source })?;
    ImageConfigurationBuilder::default()
        .architecture(architecture)
        .os(os)
        .rootfs(rootfs)
        .config(Config::default())
        .history(Vec::<History>::new())
        .build()
        .map_err(|source| ImageError::Spec { what: "image configuration", source })
}

/// An RFC 3339 UTC timestamp: SOURCE_DATE_EPOCH when given, else now.
pub fn timestamp(source_date_epoch: Option<i64>) -> Result<String, ImageError> {
    let at: DateTime<Utc> = match source_date_epoch {
        Some(secs) => DateTime::from_timestamp(secs, 0).ok_or(ImageError::Timestamp(secs))?,
        None => Utc::now(),
    };
    Ok(at.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

/// Set the image's `created` time (RFC 3339, e.g. from [`timestamp`]).
pub fn set_created(config: &mut ImageConfiguration, created: &str) {
    config.set_created(Some(created.to_string()));
}

/// One history entry; `empty_layer` is only written when true, as docker does.
pub fn history_entry(created: &str, created_by: &str, comment: Option<&str>, empty_layer: bool) -> History {
    let mut h = HistoryBuilder::default().created(created).build().unwrap_or_default();
    if !created_by.is_empty() {
        h.set_created_by(Some(created_by.to_string()));
    }
    if let Some(c) = comment {
        h.set_comment(Some(c.to_string()));
    }
    if empty_layer {
        h.set_empty_layer(Some(true));
    }
    h
}

/// Record a layer: its diff_id goes to `rootfs.diff_ids`, and a history entry describes the step.
pub fn append_layer(
    config: &mut ImageConfiguration,
    diff_id: &Digest,
    created: &str,
    created_by: &str,
    comment: Option<&str>,
) {
    config.rootfs_mut().diff_ids_mut().push(diff_id.to_string());
    push_history(config, history_entry(created, created_by, comment, false));
}

/// Record a step that changed only metadata (ENV, CMD, …): a history entry with `empty_layer: true`.
pub fn append_empty_layer(config: &mut ImageConfiguration, created: &str, created_by: &str, comment: Option<&str>) {
    push_history(config, history_entry(created, created_by, comment, true));
}

fn push_history(config: &mut ImageConfiguration, entry: History) {
    match config.history_mut() {
        Some(h) => h.push(entry),
        None => {
            config.set_history(Some(vec![entry]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_config_is_for_the_host_with_an_empty_rootfs() {
        let c = new_config().unwrap();
        assert_eq!(c.os(), &Os::Linux);
        let arch = c.architecture().to_string();
        if cfg!(target_arch = "x86_64") {
            assert_eq!(arch, "amd64");
        } else if cfg!(target_arch = "aarch64") {
            assert_eq!(arch, "arm64");
        }
        assert_eq!(c.rootfs().typ(), "layers");
        assert!(c.rootfs().diff_ids().is_empty());
    }

    #[test]
    fn layers_and_empty_layers_are_recorded_in_order() {
        let mut c = new_config().unwrap();
        let t = timestamp(Some(0)).unwrap();
        append_layer(&mut c, &Digest::of(b"a"), &t, "COPY a /", None);
        append_empty_layer(&mut c, &t, "ENV X=1", Some("buildkit"));
        append_layer(&mut c, &Digest::of(b"b"), &t, "RUN b", None);
        assert_eq!(c.rootfs().diff_ids(), &vec![Digest::of(b"a").to_string(), Digest::of(b"b").to_string()]);
        let h = c.history().as_ref().unwrap();
        assert_eq!(h.len(), 3);
        assert_eq!(h[0].empty_layer(), None);
        assert_eq!(h[1].empty_layer(), Some(true));
        assert_eq!(h[1].comment().as_deref(), Some("buildkit"));
        assert_eq!(h[2].created_by().as_deref(), Some("RUN b"));
    }

    #[test]
    fn timestamps_follow_source_date_epoch() {
        assert_eq!(timestamp(Some(0)).unwrap(), "1970-01-01T00:00:00Z");
        assert_eq!(timestamp(Some(1_700_000_000)).unwrap(), "2023-11-14T22:13:20Z");
        assert!(matches!(timestamp(Some(i64::MAX)), Err(ImageError::Timestamp(_))));
        assert!(timestamp(None).unwrap().ends_with('Z'));
        let mut c = new_config().unwrap();
        set_created(&mut c, "2023-11-14T22:13:20Z");
        assert_eq!(c.created().as_deref(), Some("2023-11-14T22:13:20Z"));
    }
}
