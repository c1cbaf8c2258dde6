//! The command line: clap structures and one file per command. No logic lives here beyond turning
//! arguments into typed requests, calling the engine, and mapping the outcome to an exit code
//! (0 success, 1 build/lint failure, 2 usage error).

mod attach;
mod build;
mod build_stdin;
mod builder;
mod commit;
mod container;
mod container_run;
mod container_stop;
mod context;
mod cp;
mod diff;
mod env_args;
mod exec;
mod export;
mod format;
mod history;
mod history_rows;
mod image;
mod image_filter;
mod images;
mod import;
mod inspect;
mod lint;
pub mod listing;
mod login;
mod logs;
mod mount_arg;
mod network;
mod parse;
mod pause;
mod port;
mod prune;
mod prune_opts;
mod ps;
mod pull;
mod push;
mod rmi;
mod run;
mod sandbox_opts;
mod save;
mod system;
mod system_df;
mod system_prune;
mod tag;
pub mod template;
mod top;
mod volume;

use clap::{Parser, Subcommand};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

/// A daemonless Dockerfile build engine and OCI image builder.
///
/// `rbuild -t app:1.0 .` is the same as `rbuild build -t app:1.0 .`.
#[derive(Debug, Parser)]
#[command(name = "rbuild", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Store root (default: $RBUILD_ROOT, else /var/lib/rbuild as root, else $XDG_DATA_HOME/rbuild)
    #[arg(long, global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,

    /// Print debug information on stderr
    #[arg(long, global = true)]
    pub debug: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build an image from a Dockerfile
    Build(build::BuildCommand),
    /// Print a Dockerfile's syntax tree
    Parse(parse::ParseArgs),
    /// Inspect the build context
    #[command(subcommand)]
    Context(context::ContextCommand),
    /// List images in the store
    Images(images::ImagesArgs),
    /// Write images to a tar archive (docker-archive or OCI)
    Save(save::SaveArgs),
    /// Load images from a tar archive (docker-archive or OCI, compressed or not)
    Load(save::LoadArgs),
    /// Write an image's flattened filesystem as a tar
    Export(export::ExportArgs),
    /// Show the history of an image
    History(history::HistoryArgs),
    /// Show an image's configuration as JSON
    Inspect(inspect::InspectArgs),
    /// Give an image another name
    Tag(tag::TagArgs),
    /// Remove image names (and images no name refers to)
    Rmi(rmi::RmiArgs),
    /// Turn a rootfs tarball into a one-layer image
    Import(import::ImportArgs),
    /// Remove dangling images and what nothing uses any more (short for `image prune`)
    Prune(prune::PruneArgs),
    /// Manage images (prune)
    #[command(subcommand)]
    Image(image::ImageCommand),
    /// Manage the build cache (prune)
    #[command(subcommand)]
    Builder(builder::BuilderCommand),
    /// Check Dockerfiles for mistakes and bad practice
    Lint(lint::LintArgs),
    /// Run a command in a new container of an image
    Run(run::RunArgs),
    /// List containers
    Ps(ps::PsArgs),
    /// Create a container of an image without starting it
    Create(run::RunArgs),
    /// Start stopped containers
    Start(container_run::StartArgs),
    /// Stop running containers (STOPSIGNAL, then SIGKILL)
    Stop(container_stop::StopArgs),
    /// Send a signal to running containers
    Kill(container_stop::KillArgs),
    /// Restart containers
    Restart(container_run::RestartArgs),
    /// Wait for containers to stop; print their exit codes
    Wait(container_stop::WaitArgs),
    /// Show a container's output
    Logs(logs::LogsArgs),
    /// Run a command in a running container
    Exec(exec::ExecArgs),
    /// Attach this terminal to a running container
    Attach(attach::AttachArgs),
    /// Copy files between a container and the host
    Cp(cp::CpArgs),
    /// Show what a container changed (A/C/D)
    Diff(diff::DiffArgs),
    /// Create a new image from a container's changes
    Commit(commit::CommitArgs),
    /// Pause all processes within containers
    Pause(pause::PauseArgs),
    /// Display the running processes of a container
    Top(top::TopArgs),
    /// Unpause all processes within containers
    Unpause(pause::PauseArgs),
    /// Remove containers
    Rm(container::RmArgs),
    /// Rename a container
    Rename(container::RenameArgs),
    /// List a container's published ports
    Port(port::PortArgs),
    /// Manage containers
    #[command(subcommand)]
    Container(container::ContainerCommand),
    /// Manage volumes (create, ls, rm, inspect, prune)
    #[command(subcommand)]
    Volume(volume::VolumeCommand),
    /// Manage networks (create, ls, rm, inspect, prune)
    #[command(subcommand)]
    Network(network::NetworkCommand),
    /// Manage the store as a whole (check, df, prune)
    #[command(subcommand)]
    System(system::SystemCommand),
    /// Pull an image from a registry
    Pull(pull::PullArgs),
    /// Push an image to a registry
    Push(push::PushArgs),
    /// Log in to a registry
    Login(login::LoginArgs),
    /// Log out of a registry
    Logout(login::LogoutArgs),
    #[command(name = crate::sandbox::INIT_SUBCOMMAND, hide = true)]
    SandboxInit(run::InitArgs),
    #[command(name = crate::sandbox::JOIN_SUBCOMMAND, hide = true)]
    SandboxJoin(run::InitArgs),
    #[command(name = crate::container::view::SUBCOMMAND, hide = true)]
    ContainerMount(cp::MountArgs),
    #[command(name = crate::container::monitor::SUBCOMMAND, hide = true)]
    ContainerMonitor(container_run::MonitorArgs),
}

const SUBCOMMANDS: &[&str] = &[
    "build",
    "parse",
    "context",
    "images",
    "inspect",
    "history",
    "save",
    "export",
    "load",
    "tag",
    "rmi",
    "import",
    "prune",
    "image",
    "builder",
    "run",
    "ps",
    "create",
    "start",
    "stop",
    "kill",
    "restart",
    "wait",
    "logs",
    "exec",
    "cp",
    "diff",
    "commit",
    "pause",
    "top",
    "unpause",
    "rm",
    "rename",
    "port",
    "container",
    "system",
    "volume",
    "network",
    "lint",
    "pull",
    "push",
    "login",
    "logout",
    crate::sandbox::INIT_SUBCOMMAND,
    crate::sandbox::JOIN_SUBCOMMAND,
    crate::container::view::SUBCOMMAND,
    crate::container::monitor::SUBCOMMAND,
    "help",
];

/// Global options every command sees.
#[derive(Debug, Clone)]
pub struct Globals {
    pub root: PathBuf,
    pub debug: bool,
}

/// An error in how the command was called (exit code 2), as opposed to a failure of the work (exit 1).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// `rbuild -t x .` → `rbuild build -t x .`: insert `build` where the first word that is not a global
/// option is not a subcommand. Arguments are any bytes (a context path need not be UTF-8).
fn with_default_subcommand(args: Vec<OsString>) -> Vec<OsString> {
    let text = |i: usize| args.get(i).map(|a| a.to_str().unwrap_or("\u{fffd}"));
    let mut i = 1;
    while let Some(a) = text(i) {
        match a {
            "--root" => i += 2,
            "--debug" => i += 1,
            _ if a.starts_with("--root=") => i += 1,
            _ => break,
        }
    }
    match text(i) {
        None => args,
        Some(a) if SUBCOMMANDS.contains(&a) || matches!(a, "-h" | "--help" | "-V" | "--version") => args,
        // A bare word that is no path (`rbuild ps`) is a mistyped or unknown command: clap says so,
        // rather than a build failing on a context directory named "ps".
        Some(a) if !a.starts_with('-') && !a.contains('/') && !std::path::Path::new(a).exists() => args,
        Some(_) => {
            let mut out = args;
            out.insert(i, "build".into());
            out
        }
    }
}

/// The value parser of every argument that must be text (names, tags, build args, instructions): one that
/// is not UTF-8 is a usage error naming the argument, where clap's own parser only says that some
/// argument was not UTF-8. Paths are `PathBuf`s and take any bytes.
pub(crate) fn text() -> impl clap::builder::TypedValueParser<Value = String> {
    use clap::builder::TypedValueParser as _;
    clap::builder::OsStringValueParser::new()
        .try_map(|s| s.into_string().map_err(|s| format!("{:?} is not valid UTF-8 (this argument must be text)", s)))
}

/// `SOURCE_DATE_EPOCH` (a build arg of that name wins over the environment): a whole number of seconds
/// since 1970, not negative. Anything else is a usage error, never silently ignored; empty means unset.
pub(crate) fn source_date_epoch(build_arg: Option<&str>) -> Result<Option<i64>, UsageError> {
    let value = match build_arg {
        Some(v) => v.to_string(),
        None => match std::env::var_os("SOURCE_DATE_EPOCH") {
            None => return Ok(None),
            Some(v) => v
                .into_string()
                .map_err(|v| UsageError(format!("SOURCE_DATE_EPOCH={v:?} is not a number of seconds since 1970")))?,
        },
    };
    if value.is_empty() {
        return Ok(None);
    }
    match value.parse::<i64>() {
        Ok(n) if n >= 0 && crate::image::timestamp(Some(n)).is_ok() => Ok(Some(n)),
        Ok(n) if n < 0 => Err(UsageError(format!(
            "SOURCE_DATE_EPOCH={n} is before 1970: give a whole number of seconds since 1970-01-01 (e.g. 0)"
        ))),
        _ => Err(UsageError(format!(
            "SOURCE_DATE_EPOCH={value:?} is not a whole number of seconds since 1970-01-01 (e.g. 0 or $(date +%s))"
        ))),
    }
}

/// The default store root, per the rules in `--root`'s help.
pub fn default_root() -> PathBuf {
    if let Some(r) = std::env::var_os("RBUILD_ROOT").filter(|r| !r.is_empty()) {
        return PathBuf::from(r);
    }
    if nix::unistd::geteuid().is_root() {
        return PathBuf::from("/var/lib/rbuild");
    }
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|r| !r.is_empty()) {
        return PathBuf::from(x).join("rbuild");
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".local/share/rbuild")
}

pub fn main() -> ExitCode {
    let args = with_default_subcommand(std::env::args_os().collect());
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let globals = Globals { root: cli.root.clone().unwrap_or_else(default_root), debug: cli.debug };
    // Not in the sandbox's init: it is pid 1 of a sandbox and keeps the signal dispositions it sets up.
    let is_init = matches!(cli.command, Command::SandboxInit(_) | Command::SandboxJoin(_));
    if !is_init {
        // Compiled seccomp programs are kept beside the images they confine (see `sandbox::bpf`).
        crate::sandbox::set_seccomp_cache_dir(globals.root.join("cache").join("seccomp"));
        if let Err(e) = crate::interrupt::install() {
            if cli.debug {
                eprintln!("debug: SIGINT/SIGTERM are not caught: {e}");
            }
        }
    }
    let result = match cli.command {
        Command::Build(a) => build::run(&globals, a),
        Command::Parse(a) => parse::run(&globals, a),
        Command::Context(a) => context::run(&globals, a),
        Command::Images(a) => images::run(&globals, a),
        Command::Inspect(a) => inspect::run(&globals, a),
        Command::History(a) => history::run(&globals, a),
        Command::Save(a) => save::save(&globals, a),
        Command::Export(a) => export::run(&globals, a),
        Command::Load(a) => save::load(&globals, a),
        Command::Tag(a) => tag::run(&globals, a),
        Command::Rmi(a) => rmi::run(&globals, a),
        Command::Import(a) => import::run(&globals, a),
        Command::Prune(a) => prune::run(&globals, a),
        Command::Image(c) => image::run(&globals, c),
        Command::Builder(c) => builder::run(&globals, c),
        Command::Lint(a) => lint::run(&globals, a),
        Command::Run(a) => run::run(&globals, a),
        Command::Ps(a) => ps::run(&globals, a),
        Command::Create(a) => container_run::create(&globals, a),
        Command::Start(a) => container_run::start(&globals, a),
        Command::Stop(a) => container_stop::stop(&globals, a),
        Command::Kill(a) => container_stop::kill(&globals, a),
        Command::Restart(a) => container_run::restart(&globals, a),
        Command::Wait(a) => container_stop::wait(&globals, a),
        Command::Logs(a) => logs::run(&globals, a),
        Command::Exec(a) => exec::run(&globals, a),
        Command::Attach(a) => attach::run(&globals, a),
        Command::Cp(a) => cp::run(&globals, a),
        Command::Diff(a) => diff::run(&globals, a),
        Command::Commit(a) => commit::run(&globals, a),
        Command::Pause(a) => pause::pause(&globals, a),
        Command::Top(a) => top::run(&globals, a),
        Command::Unpause(a) => pause::unpause(&globals, a),
        Command::ContainerMount(a) => Ok(cp::mount_helper(a)),
        Command::Rm(a) => container::rm(&globals, a),
        Command::Rename(a) => container::rename(&globals, a),
        Command::Port(a) => port::run(&globals, a),
        Command::Container(c) => container::run(&globals, c),
        Command::ContainerMonitor(a) => {
            Ok(crate::container::monitor::main(&globals.root, &a.id, a.ready_fd, globals.debug))
        }
        Command::Volume(c) => volume::run(&globals, c),
        Command::Network(c) => network::run(&globals, c),
        Command::System(c) => system::run(&globals, c),
        Command::Pull(a) => pull::run(&globals, a),
        Command::Push(a) => push::run(&globals, a),
        Command::Login(a) => login::login(&globals, a),
        Command::Logout(a) => login::logout(&globals, a),
        Command::SandboxInit(a) => run::init(a),
        Command::SandboxJoin(a) => {
            Ok(ExitCode::from(crate::sandbox::join_main(a.spec_fd, a.report_fd, a.status_fd).clamp(0, 255) as u8))
        }
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            // Interrupted: whatever error the interrupted work returned, say so in one line.
            if let Some(i) = crate::interrupt::received() {
                eprintln!("error: {i}; partial work removed");
                return ExitCode::from(i.exit_code());
            }
            // A closed pipe (`rbuild images | head`) is the reader saying it has enough, not a failure.
            // serde_json's error hides the io::Error it wraps from the chain: ask it for the kind.
            let broken_pipe = err.chain().any(|c| {
                let kind = c.downcast_ref::<std::io::Error>().map(std::io::Error::kind);
                let kind = kind.or_else(|| c.downcast_ref::<serde_json::Error>().and_then(|e| e.io_error_kind()));
                kind == Some(std::io::ErrorKind::BrokenPipe)
            });
            if broken_pipe {
                return ExitCode::SUCCESS;
            }
            report(&err);
            if err.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

/// Print an error chain on stderr: `error: outer`, then each cause on its own line. Many errors already
/// show their source in their own text (`cannot read X: No such file`); a cause whose text is already
/// printed is not printed again, so a long message never appears twice.
fn report(err: &anyhow::Error) {
    let mut msg = format!("error: {err}");
    for cause in err.chain().skip(1) {
        let text = cause.to_string();
        if !msg.contains(&text) {
            msg.push_str(&format!("\n  caused by: {text}"));
        }
    }
    eprintln!("{msg}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Vec<OsString> {
        s.split_whitespace().map(OsString::from).collect()
    }

    #[test]
    fn bare_invocation_means_build() {
        assert_eq!(with_default_subcommand(v("rbuild -t app:1 .")), v("rbuild build -t app:1 ."));
        assert_eq!(with_default_subcommand(v("rbuild --root /r .")), v("rbuild --root /r build ."));
        assert_eq!(with_default_subcommand(v("rbuild images")), v("rbuild images"));
        assert_eq!(with_default_subcommand(v("rbuild --version")), v("rbuild --version"));
        assert_eq!(with_default_subcommand(v("rbuild")), v("rbuild"));
        assert_eq!(with_default_subcommand(v("rbuild ps")), v("rbuild ps"), "an unknown command stays one");
        assert_eq!(with_default_subcommand(v("rbuild ./ctx")), v("rbuild build ./ctx"));
    }

    #[test]
    fn clap_definition_is_valid() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
