use super::images::{open_store, resolve};
use super::{Globals, UsageError};
use crate::cli::template::Template;
use crate::image::inspect::InspectView;
use serde::Serialize;
use std::io::Write;
use std::process::ExitCode;

/// Show images as docker-style JSON (Id, RepoTags, Created, Config, RootFS, History, ...).
#[derive(Debug, clap::Args)]
#[command(after_help = FORMAT_HELP)]
pub struct InspectArgs {
    /// Images to inspect
    #[arg(value_parser = super::text(), required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
    /// Format the output with a Go template (see below)
    #[arg(value_parser = super::text(), short, long, value_name = "TEMPLATE")]
    pub format: Option<String>,
}

const FORMAT_HELP: &str = "\
IMAGE is a name[:tag], a name@digest, a full or short (at least 4 hex digits) image ID,
or a manifest digest. Size is the compressed size as stored (layers + config).

--format takes a subset of Go templates:
  field paths          {{.Id}}  {{.Config.Env}}  {{.RootFS.Layers}}
  literals, pipes      \"text\"  `raw`  42  true   {{.Config | json}}
  conditionals         {{if X}}..{{else}}..{{end}}
  loops                {{range X}}..{{else}}..{{end}}  (. is each element)
  trimming, comments   {{- X -}}   {{/* note */}}
  functions            json X, index X KEY... ({{index .Config.Labels \"k\"}}),
                       join LIST SEP, len X, upper X, lower X, print X..., println X...
Lists print as [a b], maps as map[k:v], null or missing fields as <no value>;
json sorts object keys. Not supported: variables ($x :=), with, define/template,
parentheses, comparison functions.";

pub fn run(g: &Globals, a: InspectArgs) -> anyhow::Result<ExitCode> {
    let template = a.format.as_deref().map(Template::parse).transpose().map_err(|e| UsageError(e.to_string()))?;
    let store = open_store(g)?;
    let mut views = Vec::new();
    let mut failure = None;
    for reference in &a.images {
        match resolve(&store, reference) {
            Ok(image) => views.push(InspectView::of(&image)),
            Err(e) if e.downcast_ref::<UsageError>().is_some() => return Err(e),
            Err(e) => {
                if let Some(previous) = failure.replace(e) {
                    eprintln!("error: {previous}");
                }
            }
        }
    }
    let mut out = std::io::stdout().lock();
    match &template {
        Some(t) => {
            for v in &views {
                writeln!(out, "{}", t.render(&serde_json::to_value(v)?)?)?;
            }
        }
        None => {
            let mut ser = serde_json::Serializer::with_formatter(
                &mut out,
                serde_json::ser::PrettyFormatter::with_indent(b"    "),
            );
            views.serialize(&mut ser)?;
            writeln!(out)?;
        }
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(ExitCode::SUCCESS),
    }
}
