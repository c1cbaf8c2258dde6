//! `ADD <git url>`: recognise a git source, resolve its ref to a commit (`git ls-remote`, no clone), and
//! on a cache miss check that commit out, shallow, into a work dir of the build.
//!
//! It drives Debian's `git` binary (`scripts/deps.sh` installs it) with prompts off
//! (`GIT_TERMINAL_PROMPT=0`, ssh in batch mode), so a build never waits for a password. URLs may carry
//! credentials (`https://user:token@host/repo.git`): every message names the URL with them replaced by
//! `***`, git's own output included, and a kept `.git` (`--keep-git-dir=true`) records the URL without them.
//! Every file of the checkout gets the commit's time as mtime, so one commit always gives one layer.

use crate::rootpath::{self, Escape};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("{url}: git {what} failed: {message}")]
    Git { url: String, what: &'static str, message: String },
    #[error("running git: {0} (install it: apt-get install -y git)")]
    Spawn(std::io::Error),
    #[error("{url}: no branch or tag {reference:?} (and it is not a full commit id)")]
    UnknownRef { url: String, reference: String },
    #[error("{url}: --checksum={expected} does not match the commit {actual} that {reference} resolves to")]
    Checksum { url: String, reference: String, expected: String, actual: String },
    #[error("{url}: subdirectory {subdir:?} is not a directory of commit {commit}")]
    NoSubdir { url: String, subdir: String, commit: String },
    #[error("{url}: {what}: {source}")]
    Io { url: String, what: &'static str, source: std::io::Error },
}

/// A git source as written: `URL[#REF][:SUBDIR]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitSource {
    /// What git is given (credentials included).
    pub url: String,
    pub reference: Option<String>,
    pub subdir: Option<String>,
}

/// A source resolved to one commit.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub source: GitSource,
    pub commit: String,
    /// The remote ref to fetch (`refs/heads/main`), or none when a commit id was given.
    remote_ref: Option<String>,
}

/// Whether an ADD source is a git repository, as BuildKit tells: `git://`, `git@host:`, `ssh://`, or an
/// `http(s)://` / `file://` URL whose path ends in `.git` (before any `#fragment`).
pub fn is_git(source: &str) -> bool {
    let path = source.split('#').next().unwrap_or("");
    source.starts_with("git://")
        || source.starts_with("git@")
        || source.starts_with("ssh://")
        || (["http://", "https://", "file://"].iter().any(|s| source.starts_with(s)) && path.ends_with(".git"))
}

/// Split `URL#REF:SUBDIR`.
pub fn parse(source: &str) -> GitSource {
    let (url, fragment) = match source.split_once('#') {
        Some((u, f)) => (u, Some(f)),
        None => (source, None),
    };
    let (reference, subdir) = match fragment.map(|f| f.split_once(':').unwrap_or((f, ""))) {
        Some((r, s)) => ((!r.is_empty()).then(|| r.to_string()), (!s.is_empty()).then(|| s.to_string())),
        None => (None, None),
    };
    GitSource { url: url.to_string(), reference, subdir }
}

/// The URL with any `user[:password]@` of its authority replaced by `***@`, for messages and `.git`.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

/// The credentials part of a URL (`user:password`), to scrub from git's own messages.
fn secret(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    authority.rfind('@').map(|at| &authority[..at])
}

fn is_commit_id(text: &str) -> bool {
    matches!(text.len(), 40 | 64) && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Run git with prompts off; its stdout, or its stderr (scrubbed of the URL's credentials) as the error.
fn git(url: &str, what: &'static str, dir: Option<&Path>, args: &[&str]) -> Result<String, GitError> {
    let mut cmd = Command::new("git");
    if let Some(d) = dir {
        cmd.arg("-C").arg(d);
    }
    // Run from a git hook (pre-commit), these would point every command at the user's own repository.
    for var in ["GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_COMMON_DIR", "GIT_PREFIX"] {
        cmd.env_remove(var);
    }
    cmd.args(["-c", "advice.detachedHead=false", "-c", "protocol.file.allow=always"])
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_SSH_COMMAND", std::env::var("GIT_SSH_COMMAND").unwrap_or_else(|_| "ssh -o BatchMode=yes".into()))
        .stdin(Stdio::null());
    let out = cmd.output().map_err(GitError::Spawn)?;
    if !out.status.success() {
        let mut message = String::from_utf8_lossy(&out.stderr).trim().replace(url, &redact(url));
        if let Some(s) = secret(url) {
            message = message.replace(s, "***");
        }
        return Err(GitError::Git { url: redact(url), what, message });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The commit `source` names: a full commit id as is (no network), else the remote's branch or tag
/// (an annotated tag's commit), or its HEAD, from `git ls-remote`. `checksum` must equal that commit.
pub fn resolve(source: &GitSource, checksum: Option<&str>) -> Result<Resolved, GitError> {
    let url = &source.url;
    let (commit, remote_ref) = match &source.reference {
        Some(r) if is_commit_id(r) => (r.to_ascii_lowercase(), None),
        reference => {
            let listing = git(url, "ls-remote", None, &["ls-remote", "--", url])?;
            let refs: Vec<(&str, &str)> = listing.lines().filter_map(|l| l.split_once('\t')).collect();
            let wanted = reference.as_deref().unwrap_or("HEAD");
            let candidates = match wanted {
                "HEAD" => vec!["HEAD".to_string()],
                r if r.starts_with("refs/") => vec![r.to_string()],
                r => vec![format!("refs/heads/{r}"), format!("refs/tags/{r}")],
            };
            let found = candidates.iter().find_map(|name| {
                let peeled = format!("{name}^{{}}");
                let sha = refs.iter().find(|(_, n)| *n == peeled).or_else(|| refs.iter().find(|(_, n)| n == name));
                sha.map(|(sha, _)| (sha.to_string(), Some(name.clone())))
            });
            found.ok_or_else(|| GitError::UnknownRef { url: redact(url), reference: wanted.to_string() })?
        }
    };
    if let Some(expected) = checksum {
        if !expected.eq_ignore_ascii_case(&commit) {
            return Err(GitError::Checksum {
                url: redact(url),
                reference: source.reference.clone().unwrap_or_else(|| "HEAD".into()),
                expected: expected.to_string(),
                actual: commit,
            });
        }
    }
    Ok(Resolved { source: source.clone(), commit, remote_ref })
}

/// Fetch the resolved commit (depth 1) into `dir` and check it out; returns the tree to copy (`dir` or
/// its subdir), `.git` removed unless `keep_git_dir`, every entry's mtime the commit time.
pub fn checkout(r: &Resolved, dir: &Path, keep_git_dir: bool) -> Result<PathBuf, GitError> {
    let url = &r.source.url;
    git(url, "init", None, &["init", "-q", &dir.to_string_lossy()])?;
    git(url, "remote add", Some(dir), &["remote", "add", "origin", &redact(url)])?;
    let want = r.remote_ref.as_deref().unwrap_or(&r.commit);
    // By commit id a server may refuse a shallow fetch (uploadpack.allowAnySHA1InWant): then fetch it all.
    if git(url, "fetch", Some(dir), &["fetch", "-q", "--depth=1", "--no-tags", "--", url, want]).is_err() {
        git(url, "fetch", Some(dir), &["fetch", "-q", "--no-tags", "--", url, "+refs/*:refs/remotes/origin/*"])?;
    }
    let commit_ref = format!("{}^{{commit}}", r.commit);
    let fetched = match r.remote_ref {
        Some(_) => git(url, "rev-parse", Some(dir), &["rev-parse", "FETCH_HEAD^{commit}"])?,
        None => git(url, "rev-parse", Some(dir), &["rev-parse", "--verify", "--quiet", &commit_ref])?,
    };
    if fetched.trim() != r.commit {
        return Err(GitError::Git {
            url: redact(url),
            what: "fetch",
            message: format!("{want} is now {} (it was {}): build again", fetched.trim(), r.commit),
        });
    }
    git(url, "checkout", Some(dir), &["checkout", "-q", "--detach", &r.commit])?;
    let time: i64 = git(url, "log", Some(dir), &["log", "-1", "--format=%ct", &r.commit])?.trim().parse().unwrap_or(0);
    let io = |what| move |source| GitError::Io { url: redact(url), what, source };
    let _ = std::fs::remove_file(dir.join(".git/FETCH_HEAD"));
    if !keep_git_dir {
        std::fs::remove_dir_all(dir.join(".git")).map_err(io("removing .git"))?;
    }
    for entry in walkdir::WalkDir::new(dir).follow_links(false) {
        let entry = entry.map_err(|e| io("walking the checkout")(std::io::Error::other(e.to_string())))?;
        crate::fsops::set_mtime(entry.path(), (time, 0)).map_err(io("setting mtimes"))?;
    }
    let Some(sub) = &r.source.subdir else { return Ok(dir.to_path_buf()) };
    let no_subdir = || GitError::NoSubdir { url: redact(url), subdir: sub.clone(), commit: r.commit.clone() };
    let rel = rootpath::resolve(dir, Path::new(sub), true, Escape::Refuse).map_err(|_| no_subdir())?;
    let path = dir.join(rel);
    if !path.is_dir() {
        return Err(no_subdir());
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_sources_are_told_from_urls_and_files() {
        for s in ["git://h/r", "git@github.com:o/r.git", "ssh://h/r", "https://h/r.git#main:docs", "file:///x/r.git"] {
            assert!(is_git(s), "{s}");
        }
        for s in ["https://h/file.tar.gz", "http://h/r.git.tar", "r.git", "file:///x/dir"] {
            assert!(!is_git(s), "{s}");
        }
    }

    #[test]
    fn fragments_name_a_ref_and_a_subdir() {
        let g = parse("https://h/r.git#v1.0:sub/dir");
        assert_eq!(
            (g.url.as_str(), g.reference.as_deref(), g.subdir.as_deref()),
            ("https://h/r.git", Some("v1.0"), Some("sub/dir"))
        );
        let g = parse("git@h:r.git#:docs");
        assert_eq!((g.url.as_str(), g.reference, g.subdir.as_deref()), ("git@h:r.git", None, Some("docs")));
        assert_eq!(parse("git://h/r").reference, None);
    }

    #[test]
    fn credentials_never_show() {
        assert_eq!(redact("https://me:s3cret@h:8/r.git"), "https://***@h:8/r.git");
        assert_eq!(redact("https://h/a@b.git"), "https://h/a@b.git");
        assert_eq!(secret("https://me:s3cret@h/r.git"), Some("me:s3cret"));
        assert_eq!(redact("git@h:r.git"), "git@h:r.git");
    }
}
