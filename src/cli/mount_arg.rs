//! `run/create --mount type=bind|volume|tmpfs,source=…,target=…[,readonly]`: docker's long form of `-v`,
//! read into the same [`VolumeArg`]s. (A Dockerfile's `RUN --mount` is another grammar, with other
//! types and defaults: `crate::dockerfile::flags`.)

use super::run::VolumeArg;
use super::UsageError;
use crate::sandbox::Bind;
use std::path::PathBuf;

/// One `--mount`: comma-separated `key=value` fields; `type` defaults to `volume` as with docker.
pub(super) fn parse_mount(text: &str) -> Result<VolumeArg, UsageError> {
    let bad = |why: String| UsageError(format!("invalid argument {text:?} for --mount: {why}"));
    let (mut kind, mut source, mut target, mut readonly) = ("volume".to_string(), None, None, false);
    for field in text.split(',').filter(|f| !f.is_empty()) {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.to_ascii_lowercase(), Some(v)),
            None => (field.to_ascii_lowercase(), None),
        };
        let value_of = || value.filter(|v| !v.is_empty()).ok_or_else(|| bad(format!("{key} needs a value")));
        match key.as_str() {
            "type" => kind = value_of()?.to_ascii_lowercase(),
            "source" | "src" => source = Some(value_of()?.to_string()),
            "target" | "destination" | "dst" => target = Some(value_of()?.to_string()),
            "readonly" | "ro" => {
                readonly = match value.map(str::to_ascii_lowercase).as_deref() {
                    None | Some("true") | Some("1") => true,
                    Some("false") | Some("0") => false,
                    Some(v) => return Err(bad(format!("invalid value for {key}: {v} (use true or false)"))),
                }
            }
            _ => return Err(bad(format!("unexpected key '{key}' (rbuild knows type, source, target, readonly)"))),
        }
    }
    let target = target.ok_or_else(|| bad("target is required".into()))?;
    if !target.starts_with('/') {
        return Err(bad(format!("the target {target:?} must be an absolute path")));
    }
    match (kind.as_str(), source) {
        ("bind", None) => Err(bad("source is required when specifying a bind mount".into())),
        ("bind", Some(s)) if !s.starts_with('/') => Err(bad(format!("the bind source {s:?} must be absolute"))),
        ("bind", Some(s)) => {
            let source = PathBuf::from(&s)
                .canonicalize()
                .map_err(|e| bad(format!("bind source path does not exist: {s} ({e})")))?;
            Ok(VolumeArg::Host(Bind { source, target, readonly }))
        }
        ("volume", None) if readonly => Err(bad("an anonymous volume cannot be read-only (it starts empty)".into())),
        ("volume", None) => Ok(VolumeArg::Anonymous { target }),
        ("volume", Some(name)) if crate::container::volume::is_valid_name(&name) => {
            Ok(VolumeArg::Named { name, target, readonly })
        }
        ("volume", Some(name)) => Err(bad(format!(
            "{name:?} is not a volume name ([a-zA-Z0-9][a-zA-Z0-9_.-]); for a host path use type=bind"
        ))),
        ("tmpfs", Some(_)) => Err(bad("a tmpfs mount takes no source".into())),
        ("tmpfs", None) => Ok(VolumeArg::Tmpfs { target }),
        (other, _) => Err(bad(format!("mount type {other:?} is not supported: use bind, volume or tmpfs"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_flags_read_like_dockers() {
        let named = VolumeArg::Named { name: "data".into(), target: "/d".into(), readonly: true };
        assert_eq!(parse_mount("type=volume,source=data,target=/d,readonly").unwrap(), named);
        assert_eq!(parse_mount("src=data,dst=/d,ro=true").unwrap(), named);
        assert_eq!(parse_mount("target=/d").unwrap(), VolumeArg::Anonymous { target: "/d".into() });
        assert_eq!(parse_mount("type=tmpfs,dst=/t").unwrap(), VolumeArg::Tmpfs { target: "/t".into() });
        let t = tempfile::tempdir().unwrap();
        let host = t.path().canonicalize().unwrap();
        let bind = parse_mount(&format!("type=bind,source={},target=/h", host.display())).unwrap();
        assert_eq!(bind, VolumeArg::Host(Bind { source: host, target: "/h".into(), readonly: false }));
        for bad in [
            "type=bind,target=/h",
            "type=bind,source=rel,target=/h",
            "source=data",
            "source=data,target=rel",
            "type=nfs,target=/d",
            "type=tmpfs,source=x,target=/t",
            "source=data,target=/d,colour=red",
            "source=data,target=/d,ro=maybe",
            "type=bind,source=/definitely/missing,target=/d",
        ] {
            assert!(parse_mount(bad).is_err(), "{bad} must be refused");
        }
    }
}
