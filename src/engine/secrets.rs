//! Build secrets: `rbuild build --secret id=X,src=FILE|env=VAR` (docker's syntax) and what a
//! `RUN --mount=type=secret` step gets of them; and the ssh agents `--ssh ID[=SOCKET]` forwards to
//! `RUN --mount=type=ssh` (the agent's socket itself is bind-mounted; key files are not supported).
//!
//! The values are read once, when the build starts, and live only in memory, in the step's environment
//! (`env=`) and in a private copy outside the store (a 0700 dir under /dev/shm when it exists) that is
//! bind-mounted read-only into the step and removed when the step ends. Nothing else sees them: the step
//! cache keys a secret mount on its id and options only (as BuildKit does), the mount-point stub is removed
//! from the layer, and `Debug` prints ids, never values.

use std::collections::BTreeMap;
use std::fmt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("--secret {spec:?}: {why}; use id=ID,src=FILE or id=ID,env=VAR")]
    Spec { spec: String, why: String },
    #[error("--secret id={id}: reading {path:?}: {source}")]
    Read { id: String, path: PathBuf, source: std::io::Error },
    #[error("--secret id={id}: the environment variable {var} is not set")]
    Unset { id: String, var: String },
    #[error("--ssh {spec:?}: {why}")]
    Ssh { spec: String, why: String },
    #[error("writing the secret {id} for the step: {source}")]
    Write { id: String, source: std::io::Error },
}

/// The build's secrets by id.
#[derive(Clone, Default)]
pub struct Secrets(BTreeMap<String, Vec<u8>>);

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

impl Secrets {
    /// Parse every `--secret` and read its value: `id=X[,type=file],src|source=FILE`,
    /// `id=X[,type=env],env=VAR`, or `id=X` alone (the variable X when set, else the file X: buildx's rule).
    pub fn parse(specs: &[String]) -> Result<Secrets, SecretError> {
        let mut out = BTreeMap::new();
        for spec in specs {
            let (id, value) = read_one(spec)?;
            out.insert(id, value);
        }
        Ok(Secrets(out))
    }

    pub fn get(&self, id: &str) -> Option<&[u8]> {
        self.0.get(id).map(Vec::as_slice)
    }
}

/// The ssh agent sockets by id (`--ssh`).
#[derive(Debug, Clone, Default)]
pub struct SshAgents(BTreeMap<String, PathBuf>);

impl SshAgents {
    /// Parse every `--ssh ID[=SOCKET]`: without a socket, the agent of `$SSH_AUTH_SOCK` (docker's rule).
    pub fn parse(specs: &[String]) -> Result<SshAgents, SecretError> {
        let mut out = BTreeMap::new();
        for spec in specs {
            let bad = |why: String| SecretError::Ssh { spec: spec.clone(), why };
            let (id, socket) = match spec.split_once('=') {
                Some((id, paths)) if paths.contains(',') => {
                    return Err(bad(format!("give one agent socket for {id}, not a list")));
                }
                Some((id, path)) => (id, PathBuf::from(path)),
                None => match std::env::var_os("SSH_AUTH_SOCK") {
                    Some(p) => (spec.as_str(), PathBuf::from(p)),
                    None => return Err(bad("SSH_AUTH_SOCK is not set: start an agent or give ID=SOCKET".into())),
                },
            };
            if id.is_empty() {
                return Err(bad("it needs an id (default)".into()));
            }
            let meta = std::fs::metadata(&socket).map_err(|e| bad(format!("{}: {e}", socket.display())))?;
            if !std::os::unix::fs::FileTypeExt::is_socket(&meta.file_type()) {
                return Err(bad(format!(
                    "{} is not an agent socket (private key files are not supported: load them into ssh-agent)",
                    socket.display()
                )));
            }
            out.insert(id.to_string(), std::path::absolute(&socket).map_err(|e| bad(e.to_string()))?);
        }
        Ok(SshAgents(out))
    }

    pub fn get(&self, id: &str) -> Option<&Path> {
        self.0.get(id).map(PathBuf::as_path)
    }
}

fn read_one(spec: &str) -> Result<(String, Vec<u8>), SecretError> {
    let bad = |why: &str| SecretError::Spec { spec: spec.to_string(), why: why.to_string() };
    let (mut id, mut kind, mut src, mut env) = (None, None, None, None);
    for field in spec.split(',') {
        let (k, v) = field.split_once('=').ok_or_else(|| bad(&format!("{field:?} is not KEY=VALUE")))?;
        let slot = match k.trim().to_ascii_lowercase().as_str() {
            "id" => &mut id,
            "type" => &mut kind,
            "src" | "source" => &mut src,
            "env" => &mut env,
            other => return Err(bad(&format!("unknown key {other:?}"))),
        };
        *slot = Some(v.to_string());
    }
    let id = id.or_else(|| src.as_deref().and_then(|s| Path::new(s).file_name()?.to_str().map(String::from)));
    let id = id.filter(|i| !i.is_empty()).ok_or_else(|| bad("it needs an id"))?;
    let from_file = |path: &str| {
        std::fs::read(path).map_err(|source| SecretError::Read { id: id.clone(), path: path.into(), source })
    };
    let from_env = |var: &str| {
        std::env::var_os(var)
            .map(std::os::unix::ffi::OsStringExt::into_vec)
            .ok_or_else(|| SecretError::Unset { id: id.clone(), var: var.to_string() })
    };
    let value = match (kind.as_deref(), src, env) {
        (_, Some(_), Some(_)) => return Err(bad("src and env contradict each other")),
        (Some("file") | None, Some(path), None) => from_file(&path)?,
        (Some("env") | None, None, Some(var)) => from_env(&var)?,
        (Some("env"), Some(var), None) => from_env(&var)?,
        (Some("file"), None, None) => from_file(&id)?,
        (Some("env"), None, None) => from_env(&id)?,
        (None, None, None) if std::env::var_os(&id).is_some() => from_env(&id)?,
        (None, None, None) => from_file(&id)?,
        (Some(t), _, _) => return Err(bad(&format!("unknown type {t:?} (file or env)"))),
    };
    Ok((id, value))
}

/// A private copy of one secret for one step; removed when dropped.
pub struct SecretFile {
    dir: tempfile::TempDir,
}

impl SecretFile {
    /// Write `value` to a fresh 0700 dir (in memory under /dev/shm when there is one), owned and
    /// moded as the mount asks.
    pub fn write(id: &str, value: &[u8], mode: u32, uid: u32, gid: u32) -> Result<SecretFile, SecretError> {
        let err = |source| SecretError::Write { id: id.to_string(), source };
        let shm = Path::new("/dev/shm");
        let base = if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() };
        let dir = tempfile::Builder::new().prefix("rbuild-secret-").tempdir_in(base).map_err(err)?;
        let path = dir.path().join("secret");
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path).map_err(err)?;
        std::io::Write::write_all(&mut f, value).map_err(err)?;
        drop(f);
        std::os::unix::fs::chown(&path, Some(uid), Some(gid)).map_err(err)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).map_err(err)?;
        Ok(SecretFile { dir })
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("secret")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_read_files_and_env() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("tok");
        std::fs::write(&f, "s3cr3t").unwrap();
        std::env::set_var("RBUILD_TEST_SECRET_VAR", "fromenv");
        let s = Secrets::parse(&[
            format!("id=a,src={}", f.display()),
            format!("type=file,source={}", f.display()),
            "id=b,env=RBUILD_TEST_SECRET_VAR".into(),
            "id=RBUILD_TEST_SECRET_VAR".into(),
        ])
        .unwrap();
        assert_eq!(s.get("a"), Some(&b"s3cr3t"[..]));
        assert_eq!(s.get("tok"), Some(&b"s3cr3t"[..]));
        assert_eq!(s.get("b"), Some(&b"fromenv"[..]));
        assert_eq!(s.get("RBUILD_TEST_SECRET_VAR"), Some(&b"fromenv"[..]));
        assert!(!format!("{s:?}").contains("s3cr3t"));
    }

    #[test]
    fn ssh_needs_a_socket() {
        let t = tempfile::tempdir().unwrap();
        let sock = t.path().join("agent");
        let _l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let a = SshAgents::parse(&[format!("default={}", sock.display())]).unwrap();
        assert_eq!(a.get("default"), Some(sock.as_path()));
        std::fs::write(t.path().join("key"), "k").unwrap();
        let e = SshAgents::parse(&[format!("default={}", t.path().join("key").display())]).unwrap_err();
        assert!(e.to_string().contains("not an agent socket"), "{e}");
    }

    #[test]
    fn bad_specs_are_refused() {
        for (spec, want) in [
            ("id=x,src=/a,env=B", "contradict"),
            ("id=x,type=ssh,src=/a", "unknown type"),
            ("id=x,color=red", "unknown key"),
            ("src=", "needs an id"),
            ("id=x,env=RBUILD_SURELY_UNSET_VAR", "is not set"),
            ("id=x,src=/nonexistent/rbuild", "reading"),
        ] {
            let e = Secrets::parse(&[spec.to_string()]).unwrap_err().to_string();
            assert!(e.contains(want), "{spec}: {e}");
        }
    }
}
