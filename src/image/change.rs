//! `--change` for `rbuild import`: one Dockerfile metadata instruction (CMD, ENTRYPOINT, ENV, EXPOSE,
//! LABEL, USER, VOLUME, WORKDIR, STOPSIGNAL) applied to an image config, as `docker import --change`
//! does. Only metadata instructions are accepted: nothing here runs or copies anything.

use super::ImageError;
use oci_spec::image::{Config, ImageConfiguration};

/// Apply one change such as `CMD ["sh"]` or `ENV A=1 B="two words"` to `config`.
pub fn apply_change(config: &mut ImageConfiguration, change: &str) -> Result<(), ImageError> {
    let bad = |reason| ImageError::Change { change: change.to_string(), reason };
    let text = change.trim();
    let (keyword, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    let rest = rest.trim();
    if keyword.is_empty() {
        return Err(bad("empty change"));
    }
    let mut c = config.config().clone().unwrap_or_default();
    match keyword.to_ascii_uppercase().as_str() {
        "CMD" => {
            c.set_cmd(Some(command_form(rest).ok_or_else(|| bad("CMD needs a command"))?));
        }
        "ENTRYPOINT" => {
            c.set_entrypoint(Some(command_form(rest).ok_or_else(|| bad("ENTRYPOINT needs a command"))?));
        }
        "ENV" => env(&mut c, rest).map_err(bad)?,
        "LABEL" => label(&mut c, rest).map_err(bad)?,
        "EXPOSE" => expose(&mut c, rest).map_err(bad)?,
        "USER" if !rest.is_empty() => {
            c.set_user(Some(rest.to_string()));
        }
        "WORKDIR" if !rest.is_empty() => {
            let base = c.working_dir().clone().unwrap_or_else(|| "/".to_string());
            let dir =
                if rest.starts_with('/') { rest.to_string() } else { format!("{}/{rest}", base.trim_end_matches('/')) };
            c.set_working_dir(Some(dir));
        }
        "STOPSIGNAL" if !rest.is_empty() => {
            c.set_stop_signal(Some(rest.to_string()));
        }
        "VOLUME" => {
            let new = json_array(rest).unwrap_or_else(|| words(rest).unwrap_or_default());
            if new.is_empty() {
                return Err(bad("VOLUME needs a path"));
            }
            let mut all = c.volumes().clone().unwrap_or_default();
            all.extend(new.into_iter().filter(|v| !v.is_empty()));
            all.sort();
            all.dedup();
            c.set_volumes(Some(all));
        }
        "USER" | "WORKDIR" | "STOPSIGNAL" => return Err(bad("missing argument")),
        _ => {
            return Err(ImageError::ChangeInstruction { change: change.to_string(), instruction: keyword.to_string() })
        }
    }
    config.set_config(Some(c));
    Ok(())
}

/// Exec form when the text is a JSON array of strings, else shell form through `/bin/sh -c`.
fn command_form(rest: &str) -> Option<Vec<String>> {
    if rest.is_empty() {
        return None;
    }
    Some(json_array(rest).unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into(), rest.to_string()]))
}

fn json_array(rest: &str) -> Option<Vec<String>> {
    serde_json::from_str::<Vec<String>>(rest).ok()
}

fn env(c: &mut Config, rest: &str) -> Result<(), &'static str> {
    let pairs = pairs(rest, "ENV needs NAME=VALUE")?;
    let mut env = c.env().clone().unwrap_or_default();
    for (k, v) in pairs {
        let entry = format!("{k}={v}");
        match env.iter_mut().find(|e| e.split_once('=').map_or(e.as_str(), |(n, _)| n) == k) {
            Some(slot) => *slot = entry,
            None => env.push(entry),
        }
    }
    c.set_env(Some(env));
    Ok(())
}

fn label(c: &mut Config, rest: &str) -> Result<(), &'static str> {
    let pairs = pairs(rest, "LABEL needs KEY=VALUE")?;
    let mut labels = c.labels().clone().unwrap_or_default();
    labels.extend(pairs);
    c.set_labels(Some(labels));
    Ok(())
}

fn expose(c: &mut Config, rest: &str) -> Result<(), &'static str> {
    let mut ports = c.exposed_ports().clone().unwrap_or_default();
    for spec in words(rest)? {
        let (range, proto) = spec.split_once('/').unwrap_or((spec.as_str(), "tcp"));
        let proto = proto.to_ascii_lowercase();
        if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
            return Err("EXPOSE protocol must be tcp, udp or sctp");
        }
        let (lo, hi) = range.split_once('-').unwrap_or((range, range));
        let (Ok(lo), Ok(hi)) = (lo.parse::<u16>(), hi.parse::<u16>()) else {
            return Err("EXPOSE needs port numbers (PORT[-PORT][/PROTO])");
        };
        if lo > hi {
            return Err("EXPOSE port range is reversed");
        }
        ports.extend((lo..=hi).map(|p| format!("{p}/{proto}")));
    }
    if ports.is_empty() {
        return Err("EXPOSE needs a port");
    }
    ports.sort();
    ports.dedup();
    c.set_exposed_ports(Some(ports));
    Ok(())
}

/// `K=V K2="v 2"` pairs, or the legacy one-pair form `K V...` (value is the rest of the line).
fn pairs(rest: &str, missing: &'static str) -> Result<Vec<(String, String)>, &'static str> {
    let ws = words(rest)?;
    let Some(first) = ws.first() else { return Err(missing) };
    if !first.contains('=') {
        let value = rest[first.len()..].trim();
        if value.is_empty() {
            return Err(missing);
        }
        return Ok(vec![(first.clone(), unquote_all(value)?)]);
    }
    ws.into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(missing),
        })
        .collect()
}

fn unquote_all(s: &str) -> Result<String, &'static str> {
    Ok(words(s)?.join(" "))
}

/// Split on unquoted whitespace, removing quotes and backslash escapes as a shell word would.
// TODO(parser): replace this local tokenizer with the Dockerfile parser's word splitting once the lead
// wires `dockerfile::parse` in; it is only meant to cover `--change` until then.
fn words(s: &str) -> Result<Vec<String>, &'static str> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(ch) = chars.next() {
        match ch {
            '"' | '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        None => return Err("unterminated quote"),
                        Some(c) if c == ch => break,
                        Some('\\') if ch == '"' => cur.push(chars.next().ok_or("unterminated quote")?),
                        Some(c) => cur.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                cur.push(chars.next().unwrap_or('\\'));
            }
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::new_config;

    fn applied(changes: &[&str]) -> Config {
        let mut c = new_config().unwrap();
        for ch in changes {
            apply_change(&mut c, ch).unwrap_or_else(|e| panic!("{ch}: {e}"));
        }
        c.config().clone().unwrap()
    }

    #[test]
    fn cmd_and_entrypoint_take_exec_and_shell_forms() {
        let c = applied(&[r#"CMD ["sh", "-c", "echo hi"]"#, "ENTRYPOINT /bin/app --flag"]);
        assert_eq!(c.cmd().as_deref(), Some(&["sh".to_string(), "-c".into(), "echo hi".into()][..]));
        assert_eq!(
            c.entrypoint().as_deref(),
            Some(&["/bin/sh".to_string(), "-c".into(), "/bin/app --flag".into()][..])
        );
    }

    #[test]
    fn env_label_expose_volume_user_workdir_stopsignal() {
        let c = applied(&[
            r#"ENV A=1 B="two words""#,
            "ENV A 3 4",
            r#"LABEL org.x="y z" k=v"#,
            "EXPOSE 80 53/udp 8000-8001",
            r#"VOLUME ["/data"]"#,
            "VOLUME /logs",
            "USER 1000:1000",
            "WORKDIR /srv",
            "WORKDIR app",
            "stopsignal SIGTERM",
        ]);
        assert_eq!(c.env().clone().unwrap(), vec!["A=3 4".to_string(), "B=two words".to_string()]);
        let labels = c.labels().clone().unwrap();
        assert_eq!(labels.get("org.x").map(String::as_str), Some("y z"));
        assert_eq!(labels.get("k").map(String::as_str), Some("v"));
        assert_eq!(c.exposed_ports().clone().unwrap(), vec!["53/udp", "80/tcp", "8000/tcp", "8001/tcp"]);
        assert_eq!(c.volumes().clone().unwrap(), vec!["/data", "/logs"]);
        assert_eq!(c.user().as_deref(), Some("1000:1000"));
        assert_eq!(c.working_dir().as_deref(), Some("/srv/app"));
        assert_eq!(c.stop_signal().as_deref(), Some("SIGTERM"));
    }

    #[test]
    fn bad_changes_are_refused() {
        let mut c = new_config().unwrap();
        for bad in
            ["", "RUN rm -rf /", "FROM x", "CMD", "ENV", "ENV =x", "EXPOSE abc", "EXPOSE 80/xyz", "LABEL \"k=v", "USER"]
        {
            assert!(apply_change(&mut c, bad).is_err(), "{bad:?} should be refused");
        }
        assert!(matches!(apply_change(&mut c, "RUN x"), Err(ImageError::ChangeInstruction { .. })));
    }
}
