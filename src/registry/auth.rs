//! Credentials, from the files docker, podman and skopeo already share, so one login serves them all.
//!
//! Lookup order (podman's): `$REGISTRY_AUTH_FILE`, `${XDG_RUNTIME_DIR}/containers/auth.json`, then
//! docker's `config.json` (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`). In a docker config a
//! `credHelpers` entry for the registry wins, then `credsStore`, then the `auths` entry (base64
//! `user:password` in `auth`, or `username`/`password`; an `identitytoken` — an OAuth2 refresh token —
//! wins over both, and a helper answering the username `<token>` gives one too). Helpers are the `docker-credential-<name>`
//! programs of docker's credential-helper protocol (`get`/`store`/`erase`, JSON on stdin/stdout).
//! `rbuild login` writes docker's file (or its configured helper) and never anything else.

use super::RegistryError;
use base64::Engine;
use serde_json::{json, Map, Value};
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Docker Hub's key in credential files, for historical reasons.
const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// A username and its password or token. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    pub username: String,
    pub secret: String,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credential {{ username: {:?}, secret: <redacted> }}", self.username)
    }
}

/// The username docker's credential helpers and config files use for an identity token: the secret is
/// then an OAuth2 refresh token, not a password.
pub const IDENTITY_TOKEN_USER: &str = "<token>";

impl Credential {
    /// The OAuth2 refresh token, when this credential is an identity token.
    pub fn identity_token(&self) -> Option<&str> {
        (self.username == IDENTITY_TOKEN_USER).then_some(self.secret.as_str())
    }

    /// The value of an `Authorization: Basic` header (and of a config file's `auth` field).
    pub fn basic(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", self.username, self.secret))
    }
}

/// Whether `registry` is Docker Hub under any of its names.
fn is_docker_hub(registry: &str) -> bool {
    matches!(registry, "docker.io" | "index.docker.io" | "registry-1.docker.io")
}

/// The key a registry has in `auths` and the server URL helpers are given.
pub fn server_key(registry: &str) -> String {
    if is_docker_hub(registry) {
        DOCKER_HUB_KEY.to_string()
    } else {
        registry.to_string()
    }
}

/// The host part of an `auths` key (`https://host/v1/` → `host`), Docker Hub's names folded together.
fn key_host(key: &str) -> String {
    let rest = key.strip_prefix("https://").or_else(|| key.strip_prefix("http://")).unwrap_or(key);
    let host = rest.split('/').next().unwrap_or(rest);
    if is_docker_hub(host) {
        "docker.io".to_string()
    } else {
        host.to_string()
    }
}

/// docker's config file: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn docker_config_path() -> PathBuf {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("config.json");
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/"));
    home.join(".docker").join("config.json")
}

/// containers' auth files, in the order podman reads them.
fn containers_auth_paths() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(p) = std::env::var_os("REGISTRY_AUTH_FILE").filter(|p| !p.is_empty()) {
        out.push(PathBuf::from(p));
    }
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|p| !p.is_empty()) {
        out.push(PathBuf::from(dir).join("containers").join("auth.json"));
    }
    out
}

fn read_json(path: &Path) -> Result<Option<Value>, RegistryError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(RegistryError::Io { path: path.to_path_buf(), source }),
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Some(json!({})));
    }
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| RegistryError::AuthFile { path: path.to_path_buf(), detail: format!("malformed JSON: {e}") })
}

/// The credential for `registry` from the first file that has one; `None` means anonymous.
pub fn lookup(registry: &str) -> Result<Option<Credential>, RegistryError> {
    let want = key_host(registry);
    for path in containers_auth_paths() {
        if let Some(doc) = read_json(&path)? {
            if let Some(c) = from_auths(&doc, &want, &path)? {
                return Ok(Some(c));
            }
        }
    }
    let path = docker_config_path();
    let Some(doc) = read_json(&path)? else { return Ok(None) };
    if let Some(helper) = helper_for(&doc, &want) {
        return helper_get(&helper, &server_key(&want));
    }
    from_auths(&doc, &want, &path)
}

/// The helper configured for `registry`: its `credHelpers` entry, else `credsStore`.
fn helper_for(doc: &Value, registry: &str) -> Option<String> {
    let by_host = doc
        .get("credHelpers")
        .and_then(Value::as_object)
        .and_then(|m| m.iter().find(|(k, _)| key_host(k) == registry).and_then(|(_, v)| v.as_str()).map(String::from));
    by_host.or_else(|| doc.get("credsStore").and_then(Value::as_str).map(String::from)).filter(|h| !h.is_empty())
}

fn from_auths(doc: &Value, registry: &str, path: &Path) -> Result<Option<Credential>, RegistryError> {
    let Some(auths) = doc.get("auths").and_then(Value::as_object) else { return Ok(None) };
    let Some((_, entry)) = auths.iter().find(|(k, _)| key_host(k) == registry) else { return Ok(None) };
    let bad = |detail: &str| RegistryError::AuthFile {
        path: path.to_path_buf(),
        detail: format!("auths entry for {registry}: {detail}"),
    };
    // An identity token wins over `auth`, as in docker: it is what `docker login` saved for an OAuth registry.
    if let Some(token) = entry.get("identitytoken").and_then(Value::as_str).filter(|t| !t.is_empty()) {
        return Ok(Some(Credential { username: IDENTITY_TOKEN_USER.to_string(), secret: token.to_string() }));
    }
    if let Some(auth) = entry.get("auth").and_then(Value::as_str).filter(|a| !a.is_empty()) {
        let raw =
            base64::engine::general_purpose::STANDARD.decode(auth.trim()).map_err(|_| bad("`auth` is not base64"))?;
        let text = String::from_utf8(raw).map_err(|_| bad("`auth` is not UTF-8"))?;
        let (user, secret) = text.split_once(':').ok_or_else(|| bad("`auth` is not base64 of user:password"))?;
        return Ok(Some(Credential { username: user.to_string(), secret: secret.to_string() }));
    }
    match (entry.get("username").and_then(Value::as_str), entry.get("password").and_then(Value::as_str)) {
        (Some(u), Some(p)) => Ok(Some(Credential { username: u.to_string(), secret: p.to_string() })),
        _ => Ok(None),
    }
}

/// Run `docker-credential-<helper> <action>` with `input` on stdin; its stdout, or the error it printed.
fn helper_call(helper: &str, action: &str, input: &[u8]) -> Result<Result<Vec<u8>, String>, RegistryError> {
    let program = format!("docker-credential-{helper}");
    let herr = |detail: String| RegistryError::Helper { helper: helper.to_string(), detail };
    let mut child = Command::new(&program)
        .arg(action)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| herr(format!("cannot run {program} (is it installed and on PATH?): {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input).map_err(|e| herr(format!("writing to {program}: {e}")))?;
    }
    let out = child.wait_with_output().map_err(|e| herr(format!("waiting for {program}: {e}")))?;
    if out.status.success() {
        Ok(Ok(out.stdout))
    } else {
        let msg = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let msg = if msg.is_empty() { String::from_utf8_lossy(&out.stderr).trim().to_string() } else { msg };
        Ok(Err(msg))
    }
}

fn helper_get(helper: &str, server: &str) -> Result<Option<Credential>, RegistryError> {
    match helper_call(helper, "get", server.as_bytes())? {
        // The protocol's fixed message for a miss.
        Err(msg) if msg.contains("credentials not found") => Ok(None),
        Err(msg) => Err(RegistryError::Helper { helper: helper.to_string(), detail: format!("get {server}: {msg}") }),
        Ok(out) => {
            let v: Value = serde_json::from_slice(&out).map_err(|e| RegistryError::Helper {
                helper: helper.to_string(),
                detail: format!("get {server}: malformed answer: {e}"),
            })?;
            let field = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            Ok(Some(Credential { username: field("Username"), secret: field("Secret") })
                .filter(|c| !c.username.is_empty() || !c.secret.is_empty()))
        }
    }
}

/// Where `save` put a credential, for the message `login` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Saved {
    File(PathBuf),
    Helper(String),
}

/// Save a verified credential the way docker would: in the configured helper, else in `auths`.
pub fn save(registry: &str, cred: &Credential) -> Result<Saved, RegistryError> {
    let path = docker_config_path();
    let mut doc = read_json(&path)?.unwrap_or_else(|| json!({}));
    let host = key_host(registry);
    let key = server_key(&host);
    if let Some(helper) = helper_for(&doc, &host) {
        let input = json!({ "ServerURL": key, "Username": cred.username, "Secret": cred.secret }).to_string();
        if let Err(msg) = helper_call(&helper, "store", input.as_bytes())? {
            return Err(RegistryError::Helper { helper, detail: format!("store {key}: {msg}") });
        }
        return Ok(Saved::Helper(helper));
    }
    let obj = object_mut(&mut doc, &path)?;
    let auths = obj.entry("auths").or_insert_with(|| json!({}));
    let auths = auths
        .as_object_mut()
        .ok_or_else(|| RegistryError::AuthFile { path: path.clone(), detail: "`auths` is not an object".into() })?;
    auths.retain(|k, _| key_host(k) != host);
    auths.insert(key, json!({ "auth": cred.basic() }));
    write_config(&path, &doc)?;
    Ok(Saved::File(path))
}

/// Forget the credential for `registry` (helper and `auths` entry). Whether there was one.
pub fn remove(registry: &str) -> Result<bool, RegistryError> {
    let path = docker_config_path();
    let Some(mut doc) = read_json(&path)? else { return Ok(false) };
    let host = key_host(registry);
    let mut removed = false;
    if let Some(helper) = helper_for(&doc, &host) {
        let key = server_key(&host);
        match helper_call(&helper, "erase", key.as_bytes())? {
            Ok(_) => removed = true,
            Err(msg) if msg.contains("credentials not found") => {}
            Err(msg) => return Err(RegistryError::Helper { helper, detail: format!("erase {key}: {msg}") }),
        }
    }
    let obj = object_mut(&mut doc, &path)?;
    if let Some(auths) = obj.get_mut("auths").and_then(Value::as_object_mut) {
        let before = auths.len();
        auths.retain(|k, _| key_host(k) != host);
        if auths.len() != before {
            removed = true;
            write_config(&path, &doc)?;
        }
    }
    Ok(removed)
}

fn object_mut<'a>(doc: &'a mut Value, path: &Path) -> Result<&'a mut Map<String, Value>, RegistryError> {
    doc.as_object_mut()
        .ok_or_else(|| RegistryError::AuthFile { path: path.to_path_buf(), detail: "not a JSON object".into() })
}

/// Replace the config file atomically, readable by its owner only (it holds secrets).
fn write_config(path: &Path, doc: &Value) -> Result<(), RegistryError> {
    let io = |source| RegistryError::Io { path: path.to_path_buf(), source };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    // tempfile creates the file 0600, so the secret is never readable by others, not even briefly.
    let mut tmp = tempfile::Builder::new().prefix(".config.json-").tempfile_in(dir).map_err(io)?;
    let mut text = serde_json::to_vec_pretty(doc).map_err(|e| io(std::io::Error::other(e)))?;
    text.push(b'\n');
    tmp.write_all(&text).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auths_keys_match_by_host() {
        assert_eq!(key_host("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(key_host("http://127.0.0.1:5000/v2/"), "127.0.0.1:5000");
        assert_eq!(key_host("quay.io"), "quay.io");
        let doc = json!({"auths": {"https://reg.example:5000": {"auth": Credential {
            username: "u".into(), secret: "p:w".into() }.basic()}}});
        let c = from_auths(&doc, "reg.example:5000", Path::new("x")).unwrap().unwrap();
        assert_eq!((c.username.as_str(), c.secret.as_str()), ("u", "p:w"));
        assert!(from_auths(&doc, "other", Path::new("x")).unwrap().is_none());
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let c = Credential { username: "u".into(), secret: "hunter2".into() };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
