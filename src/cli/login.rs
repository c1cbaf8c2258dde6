//! `rbuild login` and `rbuild logout`: check a credential against the registry, then keep it where docker,
//! podman and skopeo find it (docker's config.json, or its configured credential helper).

use super::pull::RegistryFlags;
use super::{Globals, UsageError};
use crate::registry::auth::{self, Credential, Saved};
use crate::registry::Client;
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

/// Log in to a registry.
#[derive(Debug, clap::Args)]
#[command(after_help = "The credential is checked against the registry's /v2/ endpoint first, then saved in\n\
$DOCKER_CONFIG/config.json (default ~/.docker/config.json) or in its credsStore/credHelpers helper.\n\
Examples:\n  echo \"$TOKEN\" | rbuild login -u ci --password-stdin registry.example.com")]
pub struct LoginArgs {
    /// Registry host[:port] (default: docker.io)
    pub registry: Option<String>,
    /// Username (asked for on a terminal when missing)
    #[arg(short, long)]
    pub username: Option<String>,
    /// Password; prefer --password-stdin, a password on the command line is visible to other users
    #[arg(short, long, conflicts_with = "password_stdin")]
    pub password: Option<String>,
    /// Read the password from stdin
    #[arg(long)]
    pub password_stdin: bool,
    #[command(flatten)]
    pub registry_flags: RegistryFlags,
}

/// Log out of a registry.
#[derive(Debug, clap::Args)]
pub struct LogoutArgs {
    /// Registry host[:port] (default: docker.io)
    pub registry: Option<String>,
}

/// `docker.io` for Docker Hub's aliases and an empty argument, else the host as given (scheme dropped).
fn registry_host(arg: Option<&str>) -> anyhow::Result<String> {
    let raw = arg.unwrap_or("docker.io");
    let host = raw.trim_start_matches("https://").trim_start_matches("http://").trim_end_matches('/');
    let host = host.split('/').next().unwrap_or(host);
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(UsageError(format!("invalid registry {raw:?}: expected HOST[:PORT]")).into());
    }
    Ok(match host {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".to_string(),
        h => h.to_string(),
    })
}

fn read_line(prompt: Option<&str>) -> anyhow::Result<String> {
    if let Some(p) = prompt {
        eprint!("{p}");
        std::io::stderr().flush()?;
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

/// Read a line from the terminal with echo off (restored even when reading fails).
fn read_password(prompt: &str) -> anyhow::Result<String> {
    use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg};
    let stdin = std::io::stdin();
    let saved = tcgetattr(&stdin)?;
    let mut quiet = saved.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    tcsetattr(&stdin, SetArg::TCSANOW, &quiet)?;
    let line = read_line(Some(prompt));
    tcsetattr(&stdin, SetArg::TCSANOW, &saved)?;
    eprintln!();
    line
}

pub fn login(_g: &Globals, a: LoginArgs) -> anyhow::Result<ExitCode> {
    let registry = registry_host(a.registry.as_deref())?;
    let tty = std::io::stdin().is_terminal();
    let username = match a.username {
        Some(u) => u,
        None if tty && !a.password_stdin => read_line(Some("Username: "))?,
        None => return Err(UsageError("give a username with -u USER".into()).into()),
    };
    let secret = match (a.password, a.password_stdin) {
        (Some(p), _) => {
            eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
            p
        }
        (None, true) => {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)?;
            s.trim_end_matches(['\n', '\r']).to_string()
        }
        (None, false) if tty => read_password("Password: ")?,
        (None, false) => return Err(UsageError("give the password with --password-stdin".into()).into()),
    };
    if username.is_empty() || secret.is_empty() {
        return Err(UsageError("username and password must not be empty".into()).into());
    }
    let credential = Credential { username, secret };
    let client = Client::with_credential(&registry, &a.registry_flags.options(), Some(credential.clone()))?;
    client.ping()?;
    match auth::save(&registry, &credential)? {
        Saved::File(path) => eprintln!("Credentials saved in {}", path.display()),
        Saved::Helper(h) => eprintln!("Credentials saved by docker-credential-{h}"),
    }
    println!("Login Succeeded");
    Ok(ExitCode::SUCCESS)
}

pub fn logout(_g: &Globals, a: LogoutArgs) -> anyhow::Result<ExitCode> {
    let registry = registry_host(a.registry.as_deref())?;
    if auth::remove(&registry)? {
        println!("Removing login credentials for {registry}");
    } else {
        eprintln!("Not logged in to {registry}");
    }
    Ok(ExitCode::SUCCESS)
}
