//! Typed instruction flags: `RUN --network/--security/--mount`, `COPY/ADD --chmod/--chown/--checksum`,
//! `FROM --platform`, each parsed and checked when the Dockerfile is lowered, so a bad value is reported by
//! `lint` and before a build runs anything. Only a value holding a variable waits: it is kept as written
//! ([`Deferred::Expand`]) and checked by the same parser once the planner has expanded it.
//!
//! The defaults are BuildKit's: a secret is mounted at `/run/secrets/<id>` (its id defaults to the
//! target's file name), an ssh socket's id is `default`, a cache mount's id is its target, and modes are
//! 0400 (secret), 0600 (ssh) and 0755 (cache); a relative target is under the step's WORKDIR.

use std::fmt;

/// A flag value that is typed now, or once its variables are expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deferred<T> {
    Ready(T),
    /// The value as written; it holds a `$` and is parsed after expansion.
    Expand(String),
}

impl<T: Clone> Deferred<T> {
    /// Parse `text` now unless it needs expanding.
    pub fn parse(text: &str, parse: impl Fn(&str) -> Result<T, String>) -> Result<Deferred<T>, String> {
        if text.contains('$') {
            Ok(Deferred::Expand(text.to_string()))
        } else {
            parse(text).map(Deferred::Ready)
        }
    }

    /// The typed value, expanding (with `expand`) and parsing what waited for it.
    pub fn resolve(
        &self,
        expand: impl FnOnce(&str) -> Result<String, String>,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<T, String> {
        match self {
            Deferred::Ready(v) => Ok(v.clone()),
            Deferred::Expand(text) => parse(&expand(text)?),
        }
    }

    /// The value as written in the Dockerfile, when it waits for expansion.
    pub fn unexpanded(&self) -> Option<&str> {
        match self {
            Deferred::Expand(t) => Some(t),
            Deferred::Ready(_) => None,
        }
    }
}

/// `RUN --network=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkMode {
    /// What `build --network` says.
    Default,
    None,
    Host,
}

pub fn parse_network(text: &str) -> Result<NetworkMode, String> {
    match text {
        "default" => Ok(NetworkMode::Default),
        "none" => Ok(NetworkMode::None),
        "host" => Ok(NetworkMode::Host),
        _ => Err("unsupported network mode: use default, none or host".into()),
    }
}

/// `RUN --security=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityMode {
    Sandbox,
    Insecure,
}

pub fn parse_security(text: &str) -> Result<SecurityMode, String> {
    match text {
        "sandbox" => Ok(SecurityMode::Sandbox),
        "insecure" => Ok(SecurityMode::Insecure),
        _ => Err("unsupported security mode: use sandbox or insecure".into()),
    }
}

/// `--chmod=`: an octal mode, or chmod(1)'s symbolic clauses (`u+x,go-w`, `a=rX`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chmod {
    Octal(u32),
    Symbolic(Vec<Clause>),
}

/// One symbolic clause: who (bits of u, g, o), then operations in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    who: u32,
    ops: Vec<(char, String)>,
}

pub fn parse_chmod(text: &str) -> Result<Chmod, String> {
    let bad = |why: &str| Err(why.to_string());
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return match u32::from_str_radix(text, 8) {
            Ok(m) if m <= 0o7777 => Ok(Chmod::Octal(m)),
            _ => bad("an octal mode is at most 4 digits 0-7, such as 755 or 0644"),
        };
    }
    let mut clauses = Vec::new();
    for clause in text.split(',') {
        let ops_at = clause.find(['+', '-', '=']).unwrap_or(clause.len());
        let (who_text, mut rest) = clause.split_at(ops_at);
        let mut who = 0;
        for c in who_text.chars() {
            who |= match c {
                'u' => 0o4700,
                'g' => 0o2070,
                'o' => 0o1007,
                'a' => 0o7777,
                _ => return bad("use an octal mode (755) or symbolic clauses such as u+x,go-w"),
            };
        }
        if rest.is_empty() {
            return bad("each clause needs an operator: +, - or =");
        }
        let mut ops = Vec::new();
        while let Some(op) = rest.chars().next().filter(|c| matches!(c, '+' | '-' | '=')) {
            let perms_end = rest[1..].find(['+', '-', '=']).map_or(rest.len(), |i| i + 1);
            let perms = &rest[1..perms_end];
            if !perms.chars().all(|c| "rwxXst".contains(c)) {
                return bad("permissions are r, w, x, X, s and t");
            }
            ops.push((op, perms.to_string()));
            rest = &rest[perms_end..];
        }
        clauses.push(Clause { who, ops });
    }
    Ok(Chmod::Symbolic(clauses))
}

impl Chmod {
    /// The mode a file gets, given the mode it has (`is_dir` for `X`).
    pub fn apply(&self, mode: u32, is_dir: bool) -> u32 {
        let clauses = match self {
            Chmod::Octal(m) => return *m,
            Chmod::Symbolic(c) => c,
        };
        let mut mode = mode & 0o7777;
        for clause in clauses {
            // No `who` means all, as chmod(1) does without a umask.
            let who = if clause.who == 0 { 0o7777 } else { clause.who };
            for (op, perms) in &clause.ops {
                let mut bits = 0;
                for p in perms.chars() {
                    bits |= match p {
                        'r' => 0o444,
                        'w' => 0o222,
                        'x' => 0o111,
                        'X' if is_dir || mode & 0o111 != 0 => 0o111,
                        's' => 0o6000,
                        't' => 0o1000,
                        _ => 0,
                    };
                }
                let bits = bits & who;
                mode = match op {
                    '+' => mode | bits,
                    '-' => mode & !bits,
                    _ => (mode & !(who & 0o7777)) | bits,
                };
            }
        }
        mode
    }
}

/// `--chown=user[:group]`, each a name or a number; checked for shape here, resolved in the image.
pub fn check_chown(text: &str) -> Result<String, String> {
    let mut parts = text.split(':');
    let user = parts.next().unwrap_or("");
    let group = parts.next();
    if user.is_empty() || group.is_some_and(str::is_empty) || parts.next().is_some() {
        return Err("use user, user:group, uid or uid:gid".into());
    }
    Ok(text.to_string())
}

/// `--platform=os/arch[/variant]`.
pub fn check_platform(text: &str) -> Result<String, String> {
    let parts: Vec<&str> = text.split('/').collect();
    let ok_part = |p: &&str| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    if !(2..=3).contains(&parts.len()) || !parts.iter().all(ok_part) {
        return Err("use os/arch[/variant], such as linux/amd64".into());
    }
    Ok(text.to_string())
}

/// `ADD --checksum=sha256:<64 hex digits>` (a URL's content), or a commit id (a git source's commit).
pub fn check_checksum(text: &str) -> Result<String, String> {
    let hex = |h: &str, lens: &[usize]| lens.contains(&h.len()) && h.bytes().all(|b| b.is_ascii_hexdigit());
    match text.strip_prefix("sha256:") {
        Some(h) if hex(h, &[64]) => Ok(text.to_string()),
        None if hex(text, &[40, 64]) => Ok(text.to_string()),
        _ => Err("expected sha256:<64 hex digits> (a URL) or a full commit id (a git repository)".into()),
    }
}

/// Cache mount sharing between concurrent builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    Shared,
    Private,
    Locked,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindMount {
    pub target: String,
    /// Path in the context or in `from` (default: its root).
    pub source: String,
    pub from: Option<String>,
    pub readwrite: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheMount {
    pub target: String,
    /// Default: the target.
    pub id: String,
    pub sharing: Sharing,
    pub from: Option<String>,
    pub source: Option<String>,
    pub readonly: bool,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TmpfsMount {
    pub target: String,
    pub size: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretMount {
    pub id: String,
    /// A file path (default `/run/secrets/<id>`), unless the secret goes to `env` only.
    pub target: Option<String>,
    pub env: Option<String>,
    pub required: bool,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshMount {
    pub id: String,
    pub target: Option<String>,
    pub required: bool,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// One `RUN --mount=...`, BuildKit's CSV form (`type` defaults to bind).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mount {
    Bind(BindMount),
    Cache(CacheMount),
    Tmpfs(TmpfsMount),
    Secret(SecretMount),
    Ssh(SshMount),
}

impl Mount {
    /// The stage or image this mount reads from, if any.
    pub fn from(&self) -> Option<&str> {
        match self {
            Mount::Bind(b) => b.from.as_deref(),
            Mount::Cache(c) => c.from.as_deref(),
            _ => None,
        }
    }
}

impl fmt::Display for Sharing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Sharing::Shared => "shared",
            Sharing::Private => "private",
            Sharing::Locked => "locked",
        })
    }
}

/// The keys each mount type accepts (BuildKit's, with their aliases).
fn allowed(kind: &str, key: &str) -> bool {
    let common = ["type", "target", "dst", "destination"];
    let own: &[&str] = match kind {
        "bind" => &["source", "src", "from", "ro", "readonly", "rw", "readwrite", "bind-propagation"],
        "cache" => {
            &["id", "sharing", "from", "source", "src", "ro", "readonly", "rw", "readwrite", "mode", "uid", "gid"]
        }
        "tmpfs" => &["size"],
        "secret" => &["id", "env", "required", "mode", "uid", "gid"],
        "ssh" => &["id", "required", "mode", "uid", "gid"],
        _ => &[],
    };
    common.contains(&key) || own.contains(&key)
}

pub fn parse_mount(text: &str) -> Result<Mount, String> {
    let mut fields: Vec<(String, Option<String>)> = Vec::new();
    for field in text.split(',').map(str::trim).filter(|f| !f.is_empty()) {
        let (k, v) = match field.split_once('=') {
            Some((k, v)) => (k.to_ascii_lowercase(), Some(v.to_string())),
            None => (field.to_ascii_lowercase(), None),
        };
        fields.push((k, v));
    }
    let kind = fields
        .iter()
        .find(|(k, _)| k == "type")
        .map_or("bind".to_string(), |(_, v)| v.clone().unwrap_or_default().to_ascii_lowercase());
    if !matches!(kind.as_str(), "bind" | "cache" | "tmpfs" | "secret" | "ssh") {
        return Err(format!("unknown mount type {kind:?}: use bind, cache, tmpfs, secret or ssh"));
    }
    let mut m = Fields { values: Default::default() };
    for (k, v) in fields {
        if !allowed(&kind, &k) {
            return Err(format!("unexpected key {k:?} for a {kind} mount"));
        }
        let canonical = match k.as_str() {
            "dst" | "destination" => "target",
            "src" => "source",
            "ro" => "readonly",
            "rw" => "readwrite",
            other => other,
        };
        if m.values.insert(canonical.to_string(), v).is_some() {
            return Err(format!("{canonical} is given twice"));
        }
    }
    match kind.as_str() {
        "bind" => Ok(Mount::Bind(BindMount {
            target: m.target()?,
            source: m.text("source").unwrap_or_else(|| ".".into()),
            from: m.text("from"),
            readwrite: m.readwrite()?,
        })),
        "cache" => {
            let target = m.target()?;
            let sharing = match m.text("sharing").as_deref() {
                None | Some("shared") => Sharing::Shared,
                Some("private") => Sharing::Private,
                Some("locked") => Sharing::Locked,
                Some(other) => return Err(format!("invalid sharing={other}: use shared, private or locked")),
            };
            Ok(Mount::Cache(CacheMount {
                id: m.text("id").unwrap_or_else(|| target.clone()),
                target,
                sharing,
                from: m.text("from"),
                source: m.text("source"),
                readonly: !m.readwrite()? && m.flag("readonly")?,
                mode: m.mode(0o755)?,
                uid: m.id("uid")?,
                gid: m.id("gid")?,
            }))
        }
        "tmpfs" => {
            let size = m.text("size").map(|s| parse_size(&s)).transpose()?;
            Ok(Mount::Tmpfs(TmpfsMount { target: m.target()?, size }))
        }
        "secret" => {
            let target = m.text("target");
            let env = m.text("env");
            let id = match (m.text("id"), &target) {
                (Some(id), _) => id,
                (None, Some(t)) => t.rsplit('/').next().unwrap_or_default().to_string(),
                (None, None) => return Err("a secret mount needs an id, a target or an env".into()),
            };
            if id.is_empty() {
                return Err("a secret mount needs an id, a target or an env".into());
            }
            // With only `env`, the secret is not written to a file (BuildKit's rule).
            let target = match (target, &env) {
                (Some(t), _) => Some(t),
                (None, Some(_)) => None,
                (None, None) => Some(format!("/run/secrets/{id}")),
            };
            Ok(Mount::Secret(SecretMount {
                id,
                target,
                env,
                required: m.flag("required")?,
                mode: m.mode(0o400)?,
                uid: m.id("uid")?,
                gid: m.id("gid")?,
            }))
        }
        _ => {
            let target = m.text("target");
            Ok(Mount::Ssh(SshMount {
                id: m.text("id").unwrap_or_else(|| "default".into()),
                target,
                required: m.flag("required")?,
                mode: m.mode(0o600)?,
                uid: m.id("uid")?,
                gid: m.id("gid")?,
            }))
        }
    }
}

/// `size=` of a tmpfs: bytes, or with a k/m/g suffix.
fn parse_size(text: &str) -> Result<u64, String> {
    let lower = text.to_ascii_lowercase();
    let (digits, unit) = match lower.trim_end_matches('b').char_indices().last() {
        Some((i, c @ ('k' | 'm' | 'g'))) => (&lower[..i], c),
        _ => (lower.trim_end_matches('b'), ' '),
    };
    let n: u64 = digits.parse().map_err(|_| format!("invalid size={text}: use bytes or a k, m or g suffix"))?;
    Ok(n << match unit {
        'k' => 10,
        'm' => 20,
        'g' => 30,
        _ => 0,
    })
}

struct Fields {
    values: std::collections::BTreeMap<String, Option<String>>,
}

impl Fields {
    fn text(&mut self, key: &str) -> Option<String> {
        self.values.remove(key).map(Option::unwrap_or_default)
    }

    /// A relative target is under the step's WORKDIR, and none at all is the WORKDIR itself (BuildKit's
    /// rules, e.g. `RUN --mount=from=binaries tar c .`); resolved when the step runs.
    fn target(&mut self) -> Result<String, String> {
        Ok(self.text("target").unwrap_or_default())
    }

    /// A boolean key: present alone or `=true` is true.
    fn flag(&mut self, key: &str) -> Result<bool, String> {
        match self.values.remove(key) {
            None => Ok(false),
            Some(None) => Ok(true),
            Some(Some(v)) => match v.to_ascii_lowercase().as_str() {
                "true" | "1" => Ok(true),
                "false" | "0" => Ok(false),
                _ => Err(format!("invalid {key}={v}: use true or false")),
            },
        }
    }

    fn readwrite(&mut self) -> Result<bool, String> {
        let rw = self.flag("readwrite")?;
        if rw && self.values.contains_key("readonly") {
            return Err("readonly and readwrite contradict each other".into());
        }
        Ok(rw)
    }

    fn mode(&mut self, default: u32) -> Result<u32, String> {
        match self.text("mode") {
            None => Ok(default),
            Some(m) => u32::from_str_radix(&m, 8)
                .ok()
                .filter(|m| *m <= 0o7777)
                .ok_or_else(|| format!("invalid mode={m}: use an octal mode such as 0400")),
        }
    }

    fn id(&mut self, key: &str) -> Result<u32, String> {
        match self.text(key) {
            None => Ok(0),
            Some(v) => v.parse().map_err(|_| format!("invalid {key}={v}: use a number")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_get_buildkit_defaults() {
        let Mount::Secret(s) = parse_mount("type=secret,id=npm").unwrap() else { panic!() };
        assert_eq!((s.target.as_deref(), s.mode, s.required), (Some("/run/secrets/npm"), 0o400, false));
        let Mount::Secret(s) = parse_mount("type=secret,target=/etc/token,required").unwrap() else { panic!() };
        assert_eq!((s.id.as_str(), s.required), ("token", true));
        let Mount::Secret(s) = parse_mount("type=secret,id=k,env=KEY").unwrap() else { panic!() };
        assert_eq!(s.target, None);
        let Mount::Ssh(s) = parse_mount("type=ssh").unwrap() else { panic!() };
        assert_eq!((s.id.as_str(), s.mode), ("default", 0o600));
        let Mount::Cache(c) = parse_mount("type=cache,target=/c,sharing=locked,uid=5,mode=0700").unwrap() else {
            panic!()
        };
        assert_eq!((c.id.as_str(), c.sharing, c.uid, c.mode), ("/c", Sharing::Locked, 5, 0o700));
        let Mount::Bind(b) = parse_mount("target=/src,from=build,rw").unwrap() else { panic!() };
        assert_eq!((b.source.as_str(), b.from.as_deref(), b.readwrite), (".", Some("build"), true));
        let Mount::Tmpfs(t) = parse_mount("type=tmpfs,target=/t,size=64m").unwrap() else { panic!() };
        assert_eq!(t.size, Some(64 << 20));
    }

    #[test]
    fn bad_mounts_are_refused() {
        for (text, why) in [
            ("type=volume,target=/v", "unknown mount type"),
            ("type=cache,target=/c,sharing=bogus", "sharing=bogus"),
            ("type=cache,target=/c,mode=999", "mode=999"),
            ("type=cache,target=/c,uid=me", "uid=me"),
            ("type=secret,id=x,required=maybe", "required=maybe"),
            ("type=tmpfs,target=/t,from=x", "unexpected key \"from\""),
            ("type=secret", "needs an id"),
            ("type=bind,target=/a,ro,rw", "contradict"),
        ] {
            let e = parse_mount(text).unwrap_err();
            assert!(e.contains(why), "{text}: {e}");
        }
    }

    #[test]
    fn chmod_takes_octal_and_symbolic_modes() {
        assert_eq!(parse_chmod("755").unwrap(), Chmod::Octal(0o755));
        assert!(parse_chmod("999").unwrap_err().contains("octal mode"));
        assert!(parse_chmod("77777").is_err());
        assert!(parse_chmod("u+q").is_err() && parse_chmod("z+x").is_err() && parse_chmod("u").is_err());
        assert_eq!(parse_chmod("u+x,go-w").unwrap().apply(0o666, false), 0o744);
        assert_eq!(parse_chmod("a=rX").unwrap().apply(0o640, true), 0o555);
        assert_eq!(parse_chmod("a=rX").unwrap().apply(0o640, false), 0o444);
        assert_eq!(parse_chmod("+x").unwrap().apply(0o600, false), 0o711);
        assert_eq!(parse_chmod("g=u-w").map(|_| ()).unwrap_err(), "permissions are r, w, x, X, s and t");
    }

    #[test]
    fn simple_flags() {
        assert_eq!(parse_network("none").unwrap(), NetworkMode::None);
        assert!(parse_network("bogus").unwrap_err().contains("use default, none or host"));
        assert!(parse_security("insecure").is_ok() && parse_security("x").is_err());
        assert!(check_chown("app:app").is_ok() && check_chown(":g").is_err() && check_chown("a:b:c").is_err());
        assert!(check_platform("linux/arm64/v8").is_ok() && check_platform("linux").is_err());
        assert!(check_checksum(&format!("sha256:{}", "a".repeat(64))).is_ok() && check_checksum("md5:x").is_err());
        assert!(check_checksum(&"b".repeat(40)).is_ok() && check_checksum("abc123").is_err());
        let d = Deferred::parse("$NET", parse_network).unwrap();
        assert_eq!(d.unexpanded(), Some("$NET"));
        assert_eq!(d.resolve(|_| Ok("host".into()), parse_network).unwrap(), NetworkMode::Host);
    }
}
