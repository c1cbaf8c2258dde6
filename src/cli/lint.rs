//! `rbuild lint`: read Dockerfiles, lint them with `crate::lint`, print the findings, and exit 1 when one
//! reaches the failure threshold. Also the `--check` step of `rbuild build`.

use super::{Globals, UsageError};
use crate::lint::{self, Config, Finding, Format, Input, Severity, Threshold};
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  rbuild lint\n  rbuild lint --format json docker/*.Dockerfile\n  \
cat Dockerfile | rbuild lint - --ignore DL3008 --failure-threshold warning\n\n\
Exit status: 0 clean, 1 a finding at or above the failure threshold, 2 usage error.\n\
Rules: docs/lint/README.md, or `rbuild lint --list-rules`.")]
pub struct LintArgs {
    /// Dockerfiles to lint (`-` reads standard input)
    #[arg(value_name = "FILE", default_value = "Dockerfile")]
    pub files: Vec<PathBuf>,

    /// Output format
    #[arg(long, short = 'f', default_value = "tty", value_parser = parse_format)]
    pub format: Format,

    /// Lowest severity that makes the run fail: error, warning, info, style or none (default: the config's, else info)
    #[arg(long, short = 't', value_name = "LEVEL", value_parser = parse_threshold)]
    pub failure_threshold: Option<Threshold>,

    /// Skip a rule, by code or name (repeatable)
    #[arg(value_parser = super::text(), long = "ignore", value_name = "CODE")]
    pub ignore: Vec<String>,

    /// Configuration file (default: the first of .rbuild-lint.yaml, .rbuild-lint.yml, .hadolint.yaml,
    /// .hadolint.yml in the current directory)
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Build context whose .dockerignore CopyIgnoredFile checks against (default: each Dockerfile's directory)
    #[arg(long, value_name = "DIR")]
    pub context: Option<PathBuf>,

    /// Never colour the output (colour is used only on a terminal, and never when NO_COLOR is set)
    #[arg(long)]
    pub no_color: bool,

    /// Print the rule table (code, severity, name, summary) and exit
    #[arg(long)]
    pub list_rules: bool,
}

fn parse_format(s: &str) -> Result<Format, String> {
    s.parse().map_err(|e: lint::FormatError| e.to_string())
}

fn parse_threshold(s: &str) -> Result<Threshold, String> {
    s.parse().map_err(|e: lint::SeverityError| e.to_string())
}

pub fn run(_g: &Globals, a: LintArgs) -> anyhow::Result<ExitCode> {
    if a.list_rules {
        for r in lint::rules::all() {
            println!("{:<28} {:<8} {:<32} {}", r.code, r.severity.as_str(), r.name, r.summary);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut config = load_config(a.config.as_deref())?;
    config.ignored.extend(a.ignore.iter().cloned());
    let threshold = match a.failure_threshold {
        Some(t) => t,
        None => config.threshold().map_err(|e| UsageError(e.to_string()))?.unwrap_or_default(),
    };
    let mut findings: Vec<Finding> = Vec::new();
    for path in &a.files {
        findings.extend(lint_file(path, a.context.as_deref(), &config)?);
    }
    let color = a.format == Format::Tty
        && !a.no_color
        && std::env::var_os("NO_COLOR").is_none()
        && std::io::stdout().is_terminal();
    let text = lint::render(a.format, &findings, color);
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`rbuild lint | head`) is not a lint failure.
    let _ = stdout.write_all(text.as_bytes()).and_then(|_| stdout.flush());
    Ok(if threshold.fails(&findings) { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// The configuration named on the command line, or the one found in the current directory, or none.
fn load_config(path: Option<&Path>) -> Result<Config, UsageError> {
    match path {
        Some(p) => Config::load(p).map_err(|e| UsageError(e.to_string())),
        None => {
            let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
            Config::discover(&cwd)
                .map(|found| found.map(|(_, c)| c).unwrap_or_default())
                .map_err(|e| UsageError(e.to_string()))
        }
    }
}

fn lint_file(path: &Path, context: Option<&Path>, config: &Config) -> anyhow::Result<Vec<Finding>> {
    let stdin = path.as_os_str() == "-";
    let text = if stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| UsageError(format!("cannot read standard input: {e}")))?;
        text
    } else {
        std::fs::read_to_string(path).map_err(|e| UsageError(format!("cannot read {}: {e}", path.display())))?
    };
    let context = match (context, stdin) {
        (Some(c), _) => Some(c.to_path_buf()),
        (None, true) => None,
        (None, false) => {
            Some(path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf())
        }
    };
    let matcher = match &context {
        Some(dir) => lint::dockerignore(dir, path).map_err(|e| UsageError(e.to_string()))?,
        None => None,
    };
    let name = path.to_string_lossy();
    Ok(lint::lint(&Input { file: &name, text: &text, dockerignore: matcher.as_ref() }, config))
}

/// `rbuild build --check`: lint the Dockerfile about to be built, print the findings on stderr, and return
/// true when one of them is an error (the build must not start).
pub fn check_before_build(dockerfile: &Path, text: &str, context: &Path) -> anyhow::Result<bool> {
    let config = load_config(None)?;
    let matcher = lint::dockerignore(context, dockerfile).map_err(|e| UsageError(e.to_string()))?;
    let name = dockerfile.to_string_lossy();
    let findings = lint::lint(&Input { file: &name, text, dockerignore: matcher.as_ref() }, &config);
    let color = std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal();
    eprint!("{}", lint::render(Format::Tty, &findings, color));
    let errors = findings.iter().filter(|f| f.level == Severity::Error).count();
    if errors > 0 {
        eprintln!("build stopped: the lint check found {errors} error(s)");
    }
    Ok(errors > 0)
}
