//! `rbuild ps` / `container ls`: docker's container listing (CONTAINER ID, IMAGE, COMMAND, CREATED,
//! STATUS, PORTS, NAMES), its filters and its `--format` (a template, `table TEMPLATE`, or `json`).

use super::format::{Format, Headers};
use super::images::open_store;
use super::listing::human_duration;
use super::{Globals, UsageError};
use crate::container::network::PortMapping;
use crate::container::{Container, Containers, Status};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::process::ExitCode;

/// List containers
#[derive(Debug, clap::Args)]
pub struct PsArgs {
    /// Show all containers (default: only running ones)
    #[arg(short, long)]
    pub all: bool,
    /// Only show container IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Show the N most recently created containers (all states)
    #[arg(short = 'n', long = "last", value_name = "N")]
    pub last: Option<usize>,
    /// Do not truncate IDs and commands
    #[arg(long)]
    pub no_trunc: bool,
    /// Filter: status=created|running|paused|exited, name=SUBSTRING, ancestor=IMAGE, id=PREFIX, label=K[=V]
    #[arg(value_parser = super::text(), short, long = "filter", value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
    /// `table` (default), `table TEMPLATE`, `json`, or a template over a row's fields (.ID .Image .Command
    /// .CreatedAt .RunningFor .Ports .State .Status .Names .Labels)
    #[arg(value_parser = super::text(), long, value_name = "FORMAT")]
    pub format: Option<String>,
}

/// Docker's column titles where they are not the field name in capitals.
const HEADERS: Headers = &[("ID", "CONTAINER ID"), ("RunningFor", "CREATED")];

const DEFAULT_TABLE: &str =
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";

/// One row, with docker's field names for `--format`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct Row {
    #[serde(rename = "ID")]
    id: String,
    image: String,
    command: String,
    created_at: String,
    running_for: String,
    ports: String,
    state: String,
    status: String,
    names: String,
    labels: String,
}

enum Filter {
    Status(Status),
    Name(String),
    Ancestor(String),
    Id(String),
    Label(String, Option<String>),
}

pub fn run(g: &Globals, a: PsArgs) -> anyhow::Result<ExitCode> {
    let filters = a.filter.iter().map(|f| parse_filter(f)).collect::<Result<Vec<_>, _>>()?;
    let store = open_store(g)?;
    let mut containers = Containers::new(&store).list()?;
    // Newest first, as docker lists them.
    containers.reverse();
    let ancestors: Vec<Option<String>> = filters
        .iter()
        .map(|f| match f {
            Filter::Ancestor(r) => store.resolve(r).ok().map(|i| i.config_digest.to_string()),
            _ => None,
        })
        .collect();
    containers.retain(|c| {
        (a.all || a.last.is_some() || c.is_running() || filters.iter().any(|f| matches!(f, Filter::Status(_))))
            && filters.iter().zip(&ancestors).all(|(f, id)| keep(c, f, id.as_deref()))
    });
    if let Some(n) = a.last {
        containers.truncate(n);
    }
    let now = Utc::now();
    let rows: Vec<Row> = containers.iter().map(|c| row(c, now, a.no_trunc)).collect();
    let format = Format::parse(if a.quiet { Some("{{.ID}}") } else { a.format.as_deref() }, DEFAULT_TABLE)?;
    format.write(&mut std::io::stdout().lock(), &rows, HEADERS)?;
    Ok(ExitCode::SUCCESS)
}

fn parse_filter(f: &str) -> Result<Filter, UsageError> {
    let bad = |why: &str| UsageError(format!("invalid filter {f:?}: {why}"));
    let (key, value) = f.split_once('=').ok_or_else(|| bad("expected KEY=VALUE"))?;
    Ok(match key {
        "status" => Filter::Status(match value {
            "created" => Status::Created,
            "running" => Status::Running,
            "paused" => Status::Paused,
            "restarting" => Status::Restarting,
            "exited" => Status::Exited,
            _ => return Err(bad("status is one of created, running, paused, restarting, exited")),
        }),
        "name" => Filter::Name(value.to_string()),
        "ancestor" => Filter::Ancestor(value.to_string()),
        "id" => Filter::Id(value.to_string()),
        "label" => match value.split_once('=') {
            Some((k, v)) => Filter::Label(k.to_string(), Some(v.to_string())),
            None => Filter::Label(value.to_string(), None),
        },
        _ => return Err(bad("supported keys are status, name, ancestor, id, label")),
    })
}

/// `ancestor_id`: the image id the ancestor filter's reference resolves to, if it does.
fn keep(c: &Container, f: &Filter, ancestor_id: Option<&str>) -> bool {
    match f {
        Filter::Status(s) => c.state.status == *s,
        Filter::Name(n) => c.name().contains(n.trim_start_matches('/')),
        Filter::Ancestor(r) => c.config.image == *r || ancestor_id == Some(c.config.image_id.as_str()),
        Filter::Id(p) => c.id().starts_with(p.as_str()),
        Filter::Label(k, v) => c.config.labels.get(k).is_some_and(|have| v.as_ref().is_none_or(|v| v == have)),
    }
}

fn parse_time(t: Option<&str>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::parse_from_rfc3339(t).ok()).map(|t| t.with_timezone(&Utc))
}

/// Docker's STATUS column.
fn status_text(c: &Container, now: DateTime<Utc>) -> String {
    let since = |t: Option<&str>| parse_time(t).map(|t| human_duration(now - t)).unwrap_or_default();
    match c.state.status {
        Status::Created => "Created".into(),
        Status::Running => format!("Up {}", since(c.state.started_at.as_deref())),
        Status::Paused => format!("Up {} (Paused)", since(c.state.started_at.as_deref())),
        Status::Exited => {
            format!("Exited ({}) {} ago", c.state.exit_code.unwrap_or(0), since(c.state.finished_at.as_deref()))
        }
        Status::Restarting => {
            format!("Restarting ({}) {} ago", c.state.exit_code.unwrap_or(0), since(c.state.finished_at.as_deref()))
        }
    }
}

fn row(c: &Container, now: DateTime<Utc>, no_trunc: bool) -> Row {
    let mut command = c.config.spec.argv.join(" ");
    if !no_trunc && command.chars().count() > 20 {
        command = command.chars().take(19).chain(['…']).collect();
    }
    let created = parse_time(Some(&c.config.created));
    Row {
        id: if no_trunc { c.id().to_string() } else { c.id()[..12].to_string() },
        image: c.config.image.clone(),
        command: format!("\"{}\"", command.replace('\\', "\\\\").replace('"', "\\\"")),
        created_at: created.map(|t| t.format("%Y-%m-%d %H:%M:%S %z UTC").to_string()).unwrap_or_default(),
        running_for: created.map(|t| format!("{} ago", human_duration(now - t))).unwrap_or_default(),
        // As docker: the published ports of a running container.
        ports: if c.is_running() {
            c.config.ports.iter().map(PortMapping::display).collect::<Vec<_>>().join(", ")
        } else {
            String::new()
        },
        state: c.state.status.as_str().to_string(),
        status: status_text(c, now),
        names: c.name().to_string(),
        labels: c.config.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::State;

    fn container(status: Status, exit: Option<i32>, started: &str, finished: &str) -> Container {
        let mut config = crate::container::test_config(&"0123456789abcdef".repeat(4), "web");
        config.created = "2026-01-01T00:00:00Z".into();
        config.spec.argv = ["sh", "-c", "while true; do sleep 1; done"].map(String::from).to_vec();
        Container {
            dir: "/x".into(),
            config,
            state: State {
                status,
                exit_code: exit,
                started_at: Some(started.into()),
                finished_at: Some(finished.into()),
                ..State::default()
            },
        }
    }

    #[test]
    fn status_and_command_read_like_dockers() {
        let now = DateTime::parse_from_rfc3339("2026-01-01T00:03:02Z").unwrap().with_timezone(&Utc);
        let up = container(Status::Running, None, "2026-01-01T00:00:00Z", "");
        assert_eq!(status_text(&up, now), "Up 3 minutes");
        let exited = container(Status::Exited, Some(137), "2026-01-01T00:00:00Z", "2026-01-01T00:03:00Z");
        assert_eq!(status_text(&exited, now), "Exited (137) 2 seconds ago");
        assert_eq!(status_text(&container(Status::Created, None, "", ""), now), "Created");
        let restarting = container(Status::Restarting, Some(1), "2026-01-01T00:00:00Z", "2026-01-01T00:03:01Z");
        assert_eq!(status_text(&restarting, now), "Restarting (1) 1 second ago");
        let r = row(&up, now, false);
        assert_eq!(r.command, "\"sh -c while true; d…\"");
        assert_eq!(r.id, "0123456789ab");
        assert_eq!(r.running_for, "3 minutes ago");
        assert_eq!(row(&up, now, true).command, "\"sh -c while true; do sleep 1; done\"");
    }

    #[test]
    fn table_formats_get_a_header_and_aligned_columns() {
        let now = DateTime::parse_from_rfc3339("2026-01-01T00:03:02Z").unwrap().with_timezone(&Utc);
        let rows = vec![row(&container(Status::Created, None, "", ""), now, false)];
        let mut out = Vec::new();
        Format::parse(Some(r"table {{.Names}}\t{{.Status}}"), DEFAULT_TABLE)
            .unwrap()
            .write(&mut out, &rows, HEADERS)
            .unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "NAMES     STATUS\nweb       Created\n");
    }
}
