//! User and group names resolved the way a container resolves them: from the image's own `/etc/passwd` and
//! `/etc/group` (read through scoped resolution, never the host's files).

use crate::rootpath::{self, Escape};
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    #[error("unable to find user {0}: no matching entries in passwd file")]
    NoUser(String),
    #[error("unable to find group {0}: no matching entries in group file")]
    NoGroup(String),
    #[error("invalid user/group {0:?}: expected name or number")]
    Invalid(String),
}

/// A resolved user: uid, primary gid, home directory and supplementary groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    pub home: String,
    pub groups: Vec<u32>,
}

fn read_image_file(rootfs: &Path, path: &str) -> String {
    match rootpath::resolve_in(rootfs, Path::new(path), true, Escape::Clamp) {
        Ok(host) => std::fs::read_to_string(host).unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// `(name, id, primary gid, home)` rows of a passwd file; group files give `(name, id, members)`.
fn passwd_rows(text: &str) -> impl Iterator<Item = (&str, u32, u32, &str)> {
    text.lines().filter_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 6).then(|| Some((f[0], f[2].parse().ok()?, f[3].parse().ok()?, f[5])))?
    })
}

fn group_rows(text: &str) -> impl Iterator<Item = (&str, u32, Vec<&str>)> {
    text.lines().filter_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 4).then(|| Some((f[0], f[2].parse().ok()?, f[3].split(',').filter(|m| !m.is_empty()).collect())))?
    })
}

fn valid_name(s: &str) -> bool {
    !s.is_empty() && !s.contains(|c: char| c == ':' || c.is_whitespace() || c == '/')
}

/// Resolve a group name or number.
pub fn resolve_group(rootfs: &Path, group: &str) -> Result<u32, UserError> {
    if let Ok(n) = group.parse::<u32>() {
        return Ok(n);
    }
    if !valid_name(group) {
        return Err(UserError::Invalid(group.to_string()));
    }
    let text = read_image_file(rootfs, "/etc/group");
    let found = group_rows(&text).find(|(name, _, _)| *name == group).map(|(_, id, _)| id);
    found.ok_or_else(|| UserError::NoGroup(group.to_string()))
}

/// Resolve `user[:group]` as USER and `--chown` do. A numeric user absent from passwd is fine (gid 0 for
/// USER, as Docker does; `--chown` callers pass `numeric_gid_same_as_uid`).
pub fn resolve(rootfs: &Path, spec: &str, numeric_gid_same_as_uid: bool) -> Result<ResolvedUser, UserError> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    if user.is_empty() && group.is_none() {
        return Err(UserError::Invalid(spec.to_string()));
    }
    let passwd = read_image_file(rootfs, "/etc/passwd");
    let by_number = user.parse::<u32>().ok();
    let entry = passwd_rows(&passwd).find(|(name, uid, _, _)| match by_number {
        Some(n) => *uid == n,
        None => *name == user,
    });
    let (uid, primary, home, name) = match (entry, by_number) {
        (Some((name, uid, gid, home)), _) => (uid, gid, home.to_string(), Some(name)),
        (None, Some(n)) => (n, if numeric_gid_same_as_uid { n } else { 0 }, "/".to_string(), None),
        (None, None) if valid_name(user) => return Err(UserError::NoUser(user.to_string())),
        (None, None) => return Err(UserError::Invalid(spec.to_string())),
    };
    let gid = match group {
        Some(g) => resolve_group(rootfs, g)?,
        None => primary,
    };
    let groups_text = read_image_file(rootfs, "/etc/group");
    let groups = match name {
        Some(n) if group.is_none() => {
            group_rows(&groups_text).filter(|(_, _, members)| members.contains(&n)).map(|(_, id, _)| id).collect()
        }
        _ => Vec::new(),
    };
    Ok(ResolvedUser { uid, gid, home, groups })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rootfs() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("etc")).unwrap();
        std::fs::write(
            t.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001:App:/home/app:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(t.path().join("etc/group"), "root:x:0:\nappgrp:x:1001:\nwheel:x:10:app,other\n").unwrap();
        t
    }

    #[test]
    fn names_resolve_from_the_image_files() {
        let t = rootfs();
        let u = resolve(t.path(), "app", false).unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str(), u.groups.clone()), (1000, 1001, "/home/app", vec![10]));
        let u = resolve(t.path(), "app:wheel", false).unwrap();
        assert_eq!((u.uid, u.gid), (1000, 10));
        let u = resolve(t.path(), "1000:0", false).unwrap();
        assert_eq!((u.uid, u.gid), (1000, 0));
    }

    #[test]
    fn numeric_users_need_no_passwd_entry() {
        let t = rootfs();
        assert_eq!(resolve(t.path(), "4242", false).unwrap().gid, 0);
        assert_eq!(resolve(t.path(), "4242", true).unwrap().gid, 4242);
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(resolve(empty.path(), "10:11", true).map(|u| (u.uid, u.gid)).unwrap(), (10, 11));
    }

    #[test]
    fn unknown_names_are_errors() {
        let t = rootfs();
        assert_eq!(resolve(t.path(), "nobody", false).unwrap_err(), UserError::NoUser("nobody".into()));
        assert_eq!(resolve(t.path(), "app:nogroup", false).unwrap_err(), UserError::NoGroup("nogroup".into()));
    }
}
