//! What a RUN instruction asks of the sandbox: its argv (shell form wrapped in SHELL, heredocs handed to the
//! shell as heredocs, a lone heredoc run as a script) and its `--mount` specs. The mount-point stubs the
//! sandbox creates are cleaned by `snapshot::stubs`, shared with `rbuild run`.

use super::cache_mount::CacheSpec;
use crate::dockerfile::flags::Mount;
use crate::dockerfile::instructions::{CommandLine, Run};
use crate::image::state::ContainerConfig;

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
    Bind {
        source: String,
        target: String,
        from: Option<String>,
        readwrite: bool,
    },
    Cache(CacheSpec),
    Tmpfs {
        target: String,
        size: Option<u64>,
    },
    /// An ssh agent socket (default target `/run/buildkit/ssh_agent.N`, N counting the step's ssh mounts).
    Ssh {
        id: String,
        target: String,
        required: bool,
    },
    /// A build secret: a file at `target` and/or the variable `env`.
    Secret {
        id: String,
        target: Option<String>,
        env: Option<String>,
        required: bool,
        mode: u32,
        uid: u32,
        gid: u32,
    },
}

/// What the executor does for a typed `--mount` (see `dockerfile::flags`); the kinds rbuild cannot
/// provide yet are refused here, when the step runs.
/// A relative target is under `workdir`, an empty one is `workdir` (BuildKit's rules); `/` is refused.
/// `ssh_index` is how many ssh mounts of the step came before this one.
pub fn mount_spec(m: &Mount, workdir: &str, ssh_index: usize) -> Result<MountSpec, String> {
    let resolved = |t: &str| match t {
        "" => workdir.to_string(),
        t if t.starts_with('/') => t.to_string(),
        t => format!("{}/{t}", workdir.trim_end_matches('/')),
    };
    let target = |t: &str| {
        let t = resolved(t);
        if t.trim_end_matches(['/', '.']).is_empty() {
            Err(format!("invalid mount target {t:?}: a mount cannot cover /"))
        } else {
            Ok(t)
        }
    };
    match m {
        Mount::Bind(b) => Ok(MountSpec::Bind {
            source: b.source.clone(),
            target: target(&b.target)?,
            from: b.from.clone(),
            readwrite: b.readwrite,
        }),
        Mount::Cache(c) => Ok(MountSpec::Cache(CacheSpec {
            id: c.id.clone(),
            target: target(&c.target)?,
            readonly: c.readonly,
            sharing: c.sharing,
            mode: c.mode,
            uid: c.uid,
            gid: c.gid,
            seed: c.from.clone().map(|f| (f, c.source.clone().unwrap_or_else(|| "/".into()))),
        })),
        Mount::Tmpfs(t) => Ok(MountSpec::Tmpfs { target: target(&t.target)?, size: t.size }),
        Mount::Secret(s) => Ok(MountSpec::Secret {
            id: s.id.clone(),
            target: s.target.as_deref().map(target).transpose()?,
            env: s.env.clone(),
            required: s.required,
            mode: s.mode,
            uid: s.uid,
            gid: s.gid,
        }),
        Mount::Ssh(s) => Ok(MountSpec::Ssh {
            id: s.id.clone(),
            target: target(s.target.as_deref().unwrap_or(&format!("/run/buildkit/ssh_agent.{ssh_index}")))?,
            required: s.required,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dockerfile::flags::Sharing;
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
    fn typed_mounts_map_to_what_the_executor_does() {
        let spec = |t: &str| mount_spec(&crate::dockerfile::flags::parse_mount(t).unwrap(), "/", 0);
        assert_eq!(
            spec("type=cache,target=/root/.cache").unwrap(),
            MountSpec::Cache(CacheSpec {
                id: "/root/.cache".into(),
                target: "/root/.cache".into(),
                readonly: false,
                sharing: Sharing::Shared,
                mode: 0o755,
                uid: 0,
                gid: 0,
                seed: None,
            })
        );
        assert_eq!(
            spec("target=/src,source=app,from=build,rw").unwrap(),
            MountSpec::Bind {
                source: "app".into(),
                target: "/src".into(),
                from: Some("build".into()),
                readwrite: true
            }
        );
        assert!(
            matches!(spec("type=secret,id=x,target=s"), Ok(MountSpec::Secret { target: Some(t), .. }) if t == "/s")
        );
        assert!(matches!(spec("type=ssh"), Ok(MountSpec::Ssh { target, .. }) if target == "/run/buildkit/ssh_agent.0"));
        assert!(matches!(spec("type=cache,target=/c,from=x"),
            Ok(MountSpec::Cache(CacheSpec { seed: Some((f, s)), .. })) if f == "x" && s == "/"));
        let relative = mount_spec(&crate::dockerfile::flags::parse_mount("target=.").unwrap(), "/src/", 0);
        assert!(matches!(relative, Ok(MountSpec::Bind { target, .. }) if target == "/src/."));
        let none = mount_spec(&crate::dockerfile::flags::parse_mount("from=bin").unwrap(), "/work", 0);
        assert!(matches!(none, Ok(MountSpec::Bind { target, .. }) if target == "/work"));
        assert!(spec("type=cache").unwrap_err().contains("cannot cover /"));
    }
}
