use super::images::{open_store, resolve};
use super::{Globals, UsageError};
use crate::cli::template::Template;
use crate::image::inspect::InspectView;
use serde::Serialize;
use std::io::Write;
use std::process::ExitCode;

/// Show images (or containers) as docker-style JSON (Id, RepoTags, Created, Config, RootFS, History, ...).
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
    // A bad template is a usage error before anything is looked up.
    a.format.as_deref().map(Template::parse).transpose().map_err(|e| UsageError(e.to_string()))?;
    let store = open_store(g)?;
    let mut views = Vec::new();
    let mut failure = None;
    for reference in &a.images {
        // Docker looks for a container of that name or id first.
        if let Some(view) = super::container::find_view(&store, reference)? {
            views.push(view);
            continue;
        }
        match resolve(&store, reference) {
            Ok(image) => views.push(serde_json::to_value(InspectView::of(&image))?),
            Err(e) if e.downcast_ref::<UsageError>().is_some() => return Err(e),
            Err(e) => {
                if let Some(previous) = failure.replace(e) {
                    eprintln!("error: {previous}");
                }
            }
        }
    }
    print_views(&views, a.format.as_deref())?;
    match failure {
        Some(e) => Err(e),
        None => Ok(ExitCode::SUCCESS),
    }
}

/// `inspect` of several named things (volumes, networks): the view of each one found, an error line for
/// each one not, printed as [`print_views`] does; exit status 1 when any was not found, as docker's.
pub(super) fn inspect_each<E: std::fmt::Display>(
    names: &[String],
    mut view: impl FnMut(&str) -> Result<serde_json::Value, E>,
) -> anyhow::Result<ExitCode> {
    let mut found = Vec::new();
    let mut failed = false;
    for name in names {
        match view(name) {
            Ok(v) => found.push(v),
            Err(e) => {
                eprintln!("error: {e}");
                failed = true;
            }
        }
    }
    print_views(&found, None)?;
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// Print inspect views (images or containers): indented JSON, or each through `--format`.
pub(super) fn print_views(views: &[serde_json::Value], format: Option<&str>) -> anyhow::Result<()> {
    let template = format.map(Template::parse).transpose().map_err(|e| UsageError(e.to_string()))?;
    let mut out = std::io::stdout().lock();
    match &template {
        Some(t) => {
            for v in views {
                writeln!(out, "{}", t.render(v)?)?;
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
    Ok(())
}
