//! What a RUN instruction asks of the sandbox: its argv (shell form wrapped in SHELL, heredocs handed to the
//! shell as heredocs, a lone heredoc run as a script), its `--mount` specs, and the clean-up of the
//! mount-point stubs the sandbox had to create.

use crate::dockerfile::instructions::{CommandLine, Run};
use crate::image::state::ContainerConfig;
use std::path::Path;

/// Where a script heredoc (`RUN <<EOF` whose body starts with `#!`) is mounted in the container; /dev is a
/// tmpfs of the sandbox, so the mount point never lands in the layer.
pub const SCRIPT_DIR: &str = "/dev/pipes";

/// A heredoc script to mount at `SCRIPT_DIR/<name>`: `(name, body)`.
pub type Script = (String, String);

/// The argv of a RUN, plus the script heredoc to mount when there is one.
pub fn argv(r: &Run, config: &ContainerConfig) -> Result<(Vec<String>, Option<Script>), String> {
    let shell = config.shell.clone().unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()]);
    let line = match &r.command {
        CommandLine::Exec(v) => {
            if v.is_empty() {
                return Err("RUN needs a command".into());
            }
            return Ok((v.clone(), None));
        }
        CommandLine::Shell(s) => s.clone(),
    };
    if r.heredocs.is_empty() {
        let mut argv = shell;
        argv.push(line);
        return Ok((argv, None));
    }
    // `RUN <<EOF` alone: the body is the script (BuildKit runs it with the shell, or with its #! line).
    if r.heredocs.len() == 1 && is_lone_marker(&line) {
        let h = &r.heredocs[0];
        if let Some(first) = h.content.lines().next().and_then(|l| l.strip_prefix("#!")) {
            let mut argv: Vec<String> = first.split_whitespace().map(String::from).collect();
            if argv.is_empty() {
                return Err(format!("heredoc {} has an empty #! line", h.name));
            }
            argv.push(format!("{SCRIPT_DIR}/{}", h.name));
            return Ok((argv, Some((h.name.clone(), h.content.clone()))));
        }
        let mut argv = shell;
        argv.push(h.content.clone());
        return Ok((argv, None));
    }
    // Otherwise the shell reads the heredocs itself: give it the line followed by each body and terminator.
    let mut script = line;
    script.push('\n');
    for h in &r.heredocs {
        script.push_str(&h.content);
        script.push_str(&h.name);
        script.push('\n');
    }
    let mut argv = shell;
    argv.push(script);
    Ok((argv, None))
}

fn is_lone_marker(line: &str) -> bool {
    let t = line.trim();
    let Some(rest) = t.strip_prefix("<<") else { return false };
    let rest = rest.strip_prefix('-').unwrap_or(rest);
    !rest.is_empty() && !rest.contains(char::is_whitespace)
}

/// One `RUN --mount=...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountSpec {
    Bind { source: String, target: String, from: Option<String>, readwrite: bool },
    Cache { id: String, target: String, readonly: bool },
    Tmpfs { target: String },
}

/// Parse `type=cache,target=/root/.cache,id=x` and friends (BuildKit's CSV form; `type` defaults to bind).
pub fn parse_mount(text: &str) -> Result<MountSpec, String> {
    let mut kind = "bind".to_string();
    let (mut source, mut target, mut from, mut id) = (None, None, None, None);
    let (mut readonly, mut readwrite) = (false, false);
    for field in text.split(',').map(str::trim).filter(|f| !f.is_empty()) {
        let (k, v) = match field.split_once('=') {
            Some((k, v)) => (k.to_ascii_lowercase(), Some(v.to_string())),
            None => (field.to_ascii_lowercase(), None),
        };
        let flag = |v: &Option<String>| -> Result<bool, String> {
            match v.as_deref() {
                None | Some("true") => Ok(true),
                Some("false") => Ok(false),
                Some(other) => Err(format!("invalid value {other:?} for {k}")),
            }
        };
        match k.as_str() {
            "type" => kind = v.unwrap_or_default().to_ascii_lowercase(),
            "source" | "src" => source = v,
            "target" | "dst" | "destination" => target = v,
            "from" => from = v,
            "id" => id = v,
            "ro" | "readonly" => readonly = flag(&v)?,
            "rw" | "readwrite" => readwrite = flag(&v)?,
            // Accepted for compatibility; rbuild's cache dirs are shared and owned by root.
            "sharing" | "mode" | "uid" | "gid" | "size" | "required" | "env" => {}
            other => return Err(format!("unexpected key {other:?} in --mount={text}")),
        }
    }
    let target = target.ok_or_else(|| format!("--mount={text}: target is required"))?;
    if !target.starts_with('/') {
        return Err(format!("--mount={text}: target must be an absolute path"));
    }
    match kind.as_str() {
        "bind" => Ok(MountSpec::Bind { source: source.unwrap_or_else(|| ".".into()), target, from, readwrite }),
        "cache" => {
            if from.is_some() {
                return Err("--mount=type=cache,from=... is not supported yet".into());
            }
            Ok(MountSpec::Cache { id: id.unwrap_or_else(|| target.clone()), target, readonly })
        }
        "tmpfs" => Ok(MountSpec::Tmpfs { target }),
        "secret" | "ssh" => Err(format!("--mount=type={kind} is not supported yet")),
        other => Err(format!("unknown mount type {other:?} (use bind, cache or tmpfs)")),
    }
}

/// Remove the sandbox's mount-point stubs from what the step wrote (deepest first), unless the command
/// put something of its own there: only empty files and empty directories go.
pub fn remove_stubs(root: &Path, stubs: &[String]) {
    for stub in stubs.iter().rev() {
        let path = root.join(stub.trim_start_matches('/'));
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_file() && m.len() == 0 => {
                let _ = std::fs::remove_file(&path);
            }
            Ok(m) if m.is_dir() => {
                let _ = std::fs::remove_dir(&path); // fails, harmlessly, when not empty
            }
            _ => {}
        }
    }
}

/// Parent directories of the stubs, relative to the root: overlay copied them up (and creating the stub
/// touched them) only because of the sandbox, so they are not the step's changes.
pub fn stub_parents(stubs: &[String]) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for stub in stubs {
        let mut p = Path::new(stub.trim_start_matches('/')).parent();
        while let Some(dir) = p.filter(|d| !d.as_os_str().is_empty()) {
            if !out.iter().any(|o: &std::path::PathBuf| o == dir) {
                out.push(dir.to_path_buf());
            }
            p = dir.parent();
        }
    }
    out
}

/// Overlay: drop the stub parents the upper dir holds only because the sandbox touched them: empty,
/// not opaque, and present in a lower layer (so removing them from the upper changes nothing else).
pub fn prune_stub_parents(upper: &Path, stubs: &[String], lowers: &[std::path::PathBuf]) {
    let mut parents = stub_parents(stubs);
    parents.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for rel in parents {
        let up = upper.join(&rel);
        let empty = std::fs::read_dir(&up).map(|mut d| d.next().is_none()).unwrap_or(false);
        let opaque =
            ["trusted.overlay.opaque", "user.overlay.opaque"].iter().any(|x| matches!(xattr::get(&up, x), Ok(Some(_))));
        if empty && !opaque && lowers.iter().any(|l| l.join(&rel).is_dir()) {
            let _ = std::fs::remove_dir(&up);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dockerfile::Heredoc;

    fn run(cmd: CommandLine, heredocs: Vec<Heredoc>) -> Run {
        Run { command: cmd, heredocs, mounts: vec![], network: None, security: None }
    }

    fn heredoc(name: &str, content: &str) -> Heredoc {
        Heredoc { name: name.into(), content: content.into(), expand: true, chomp: false, file_descriptor: 0 }
    }

    #[test]
    fn shell_and_exec_forms() {
        let c = ContainerConfig::default();
        let (a, _) = argv(&run(CommandLine::Shell("echo hi".into()), vec![]), &c).unwrap();
        assert_eq!(a, vec!["/bin/sh", "-c", "echo hi"]);
        let (a, _) = argv(&run(CommandLine::Exec(vec!["/bin/true".into()]), vec![]), &c).unwrap();
        assert_eq!(a, vec!["/bin/true"]);
    }

    #[test]
    fn heredocs_become_shell_input_or_scripts() {
        let c = ContainerConfig::default();
        let (a, s) =
            argv(&run(CommandLine::Shell("<<EOF".into()), vec![heredoc("EOF", "echo a\necho b\n")]), &c).unwrap();
        assert_eq!((a, s), (vec!["/bin/sh".to_string(), "-c".into(), "echo a\necho b\n".into()], None));
        let (a, _) =
            argv(&run(CommandLine::Shell("cat > /x <<EOF".into()), vec![heredoc("EOF", "line\n")]), &c).unwrap();
        assert_eq!(a[2], "cat > /x <<EOF\nline\nEOF\n");
        let (a, s) = argv(
            &run(CommandLine::Shell("<<EOF".into()), vec![heredoc("EOF", "#!/usr/bin/env python3\nprint(1)\n")]),
            &c,
        )
        .unwrap();
        assert_eq!(a, vec!["/usr/bin/env", "python3", "/dev/pipes/EOF"]);
        assert_eq!(s, Some(("EOF".to_string(), "#!/usr/bin/env python3\nprint(1)\n".to_string())));
    }

    #[test]
    fn mounts_parse_like_buildkit() {
        assert_eq!(
            parse_mount("type=cache,target=/root/.cache").unwrap(),
            MountSpec::Cache { id: "/root/.cache".into(), target: "/root/.cache".into(), readonly: false }
        );
        assert_eq!(
            parse_mount("target=/src,source=app,from=build,rw").unwrap(),
            MountSpec::Bind {
                source: "app".into(),
                target: "/src".into(),
                from: Some("build".into()),
                readwrite: true
            }
        );
        assert!(parse_mount("type=secret,id=x,target=/s").unwrap_err().contains("not supported"));
        assert!(parse_mount("type=cache").unwrap_err().contains("target is required"));
        assert!(parse_mount("type=bind,target=rel").unwrap_err().contains("absolute"));
        assert!(parse_mount("type=bind,target=/x,bogus=1").unwrap_err().contains("unexpected key"));
    }

    #[test]
    fn stub_parents_are_listed_once_each() {
        let stubs = vec!["/etc/hosts".to_string(), "/etc/resolv.conf".into(), "/a/b/c".into()];
        let p: Vec<String> = stub_parents(&stubs).iter().map(|p| p.display().to_string()).collect();
        assert_eq!(p, vec!["etc", "a/b", "a"]);
    }

    #[test]
    fn prune_keeps_dirs_the_command_filled() {
        let t = tempfile::tempdir().unwrap();
        let (upper, lower) = (t.path().join("upper"), t.path().join("lower"));
        for d in ["upper/etc", "upper/var", "lower/etc", "lower/var"] {
            std::fs::create_dir_all(t.path().join(d)).unwrap();
        }
        std::fs::write(upper.join("var/new"), "x").unwrap();
        prune_stub_parents(&upper, &["/etc/hosts".into(), "/var/x".into()], &[lower]);
        assert!(!upper.join("etc").exists());
        assert!(upper.join("var/new").exists());
    }
}
