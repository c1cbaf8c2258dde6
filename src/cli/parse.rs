//! `rbuild parse`: print a Dockerfile's syntax tree, as BuildKit's parser dump or as JSON.

use super::Globals;
use crate::dockerfile::{dump, parse};
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    /// One `(instruction ["--flag"] "arg" ...)` line per instruction, as BuildKit's parser tests
    Buildkit,
    /// A JSON array of instructions with flags, args, heredocs, original text and line span
    Json,
}

#[derive(Debug, clap::Args)]
pub struct ParseArgs {
    /// Output format
    #[arg(long, value_enum, default_value = "buildkit")]
    pub format: Format,

    /// The Dockerfile to parse (`-` for standard input)
    #[arg(value_name = "FILE", default_value = "Dockerfile")]
    pub file: PathBuf,
}

pub fn run(_g: &Globals, a: ParseArgs) -> anyhow::Result<ExitCode> {
    let (name, bytes) = if a.file.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf)?;
        ("<stdin>".to_string(), buf)
    } else {
        let bytes = std::fs::read(&a.file).map_err(|e| anyhow::anyhow!("reading {}: {e}", a.file.display()))?;
        (a.file.display().to_string(), bytes)
    };
    let text = String::from_utf8_lossy(&bytes);
    let file = parse(&text)
        .map_err(|e| anyhow::anyhow!("{name}:{}:{}: {}\n  {}", e.line, e.column, e.message, e.source_line))?;
    match a.format {
        Format::Buildkit => println!("{}", dump::dump(&file)),
        Format::Json => println!("{}", serde_json::to_string_pretty(&dump::to_json(&file))?),
    }
    Ok(ExitCode::SUCCESS)
}
