//! `--format` of the listing commands (`images`, `history`, `system df`, `ps`), written once, as docker's
//! formatter (docker/cli `cli/command/formatter`) does it:
//! - `table` alone is the command's default table; `table TEMPLATE` is a table of the template's
//!   columns with a header line made from the fields the template names (`{{.ID}}` → `IMAGE ID`);
//!   tables are aligned like Go's `text/tabwriter` with docker's settings (minimum width 10, padding 3);
//! - `json` prints each row as one JSON object per line (docker's `{{json .}}`);
//! - anything else is a template rendered once per row, no header, no alignment.
//!
//! In every form, `\t` and `\n` written in the argument are a tab and a newline. The rows are any
//! `Serialize` type whose JSON field names are the template's fields.

use super::template::Template;
use super::UsageError;
use serde::Serialize;
use std::io::Write;

/// A parsed `--format` argument.
#[derive(Debug, Clone)]
pub enum Format {
    Table(Template),
    Json,
    Rows(Template),
}

/// Column headers of one listing: docker's names for the fields whose header is not simply the field
/// name split at its capitals (`CreatedBy` → `CREATED BY`).
pub type Headers = &'static [(&'static str, &'static str)];

impl Format {
    /// Parse `--format`; `None` and `table` give `default_table` (itself a `table …` format).
    pub fn parse(arg: Option<&str>, default_table: &str) -> Result<Format, UsageError> {
        let arg = match arg.map(str::trim) {
            None | Some("table") => default_table,
            Some(a) => a,
        };
        if arg == "json" {
            return Ok(Format::Json);
        }
        let (table, body) = match arg.strip_prefix("table") {
            Some(rest) => (true, rest),
            None => (false, arg),
        };
        let body = body.trim_matches(' ').replace(r"\t", "\t").replace(r"\n", "\n");
        let template = Template::parse(&body).map_err(|e| UsageError(format!("--format: {e}")))?;
        Ok(if table { Format::Table(template) } else { Format::Rows(template) })
    }

    /// Print `rows`: one line each (after a header line for a table).
    pub fn write<T: Serialize>(&self, out: &mut impl Write, rows: &[T], headers: Headers) -> anyhow::Result<()> {
        let mut text = String::new();
        match self {
            Format::Json => {
                for r in rows {
                    text.push_str(&serde_json::to_string(r)?);
                    text.push('\n');
                }
            }
            Format::Rows(t) | Format::Table(t) => {
                if matches!(self, Format::Table(_)) {
                    text.push_str(&t.render_header(|field| header(headers, field))?);
                    text.push('\n');
                }
                for r in rows {
                    text.push_str(&t.render(&serde_json::to_value(r)?)?);
                    text.push('\n');
                }
                if matches!(self, Format::Table(_)) {
                    text = tabwriter(&text);
                }
            }
        }
        out.write_all(text.as_bytes())?;
        Ok(())
    }
}

/// A field's column header: docker's name from `headers`, else the field name in capitals, split into
/// words where a lower-case letter meets a capital (`CreatedAt` → `CREATED AT`).
fn header(headers: Headers, field: &str) -> String {
    if let Some((_, h)) = headers.iter().find(|(f, _)| *f == field) {
        return h.to_string();
    }
    let mut out = String::new();
    let mut prev_lower = false;
    for c in field.chars() {
        if c.is_uppercase() && prev_lower {
            out.push(' ');
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        out.extend(c.to_uppercase());
    }
    out
}

/// Docker's table settings for Go's tabwriter: `tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)`.
const MIN_WIDTH: usize = 10;
const PADDING: usize = 3;

/// Align tab-separated cells as Go's `text/tabwriter` does: a cell is text ended by a tab; the text
/// after a line's last tab is not part of any column. A column block is a run of consecutive lines
/// that all have a cell in that column; its width is the widest cell plus the padding, at least the
/// minimum width, counted in characters.
pub fn tabwriter(text: &str) -> String {
    let lines: Vec<Vec<&str>> = text.split_terminator('\n').map(|l| l.split('\t').collect()).collect();
    let mut out = String::with_capacity(text.len() * 2);
    let mut widths = Vec::new();
    format_block(&lines, &mut widths, &mut out);
    out
}

/// Go's `Writer.format`: lay out `lines` whose first `widths.len()` columns are already sized.
fn format_block(lines: &[Vec<&str>], widths: &mut Vec<usize>, out: &mut String) {
    let column = widths.len();
    let mut start = 0;
    let mut i = 0;
    while i < lines.len() {
        if column + 1 >= lines[i].len() {
            i += 1;
            continue;
        }
        write_lines(&lines[start..i], widths, out);
        let block_start = i;
        let mut width = MIN_WIDTH;
        while i < lines.len() && column + 1 < lines[i].len() {
            width = width.max(lines[i][column].chars().count() + PADDING);
            i += 1;
        }
        widths.push(width);
        format_block(&lines[block_start..i], widths, out);
        widths.pop();
        start = i;
    }
    write_lines(&lines[start..], widths, out);
}

fn write_lines(lines: &[Vec<&str>], widths: &[usize], out: &mut String) {
    for line in lines {
        for (j, cell) in line.iter().enumerate() {
            out.push_str(cell);
            if j + 1 < line.len() {
                if let Some(w) = widths.get(j) {
                    out.extend(std::iter::repeat_n(' ', w.saturating_sub(cell.chars().count())));
                }
            }
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tabwriter_pads_like_gos_with_dockers_settings() {
        // Widths: max(10, widest + 3); the last cell of a line is not padded.
        let text = "REPOSITORY\tTAG\tSIZE\nbusybox\t1.36-long-tag\t4MB\n";
        assert_eq!(tabwriter(text), "REPOSITORY   TAG             SIZE\nbusybox      1.36-long-tag   4MB\n");
        // A line with fewer cells ends the column block: later lines are sized on their own.
        assert_eq!(tabwriter("a\tbbbbbbbbbbbbbbb\tc\nx\ny\tz\n"), "a         bbbbbbbbbbbbbbb   c\nx\ny         z\n");
        // Widths count characters, not bytes.
        assert_eq!(tabwriter("é\tx\nab\ty\n"), "é         x\nab        y\n");
    }

    #[test]
    fn headers_follow_dockers_names() {
        const H: Headers = &[("ID", "IMAGE ID"), ("CreatedSince", "CREATED")];
        assert_eq!(header(H, "ID"), "IMAGE ID");
        assert_eq!(header(H, "CreatedSince"), "CREATED");
        assert_eq!(header(H, "CreatedAt"), "CREATED AT");
        assert_eq!(header(H, "Repository"), "REPOSITORY");
        assert_eq!(header(H, "SharedSize"), "SHARED SIZE");
    }

    #[test]
    fn formats_table_json_and_plain_templates() {
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct Row {
            #[serde(rename = "ID")]
            id: &'static str,
            created_by: &'static str,
        }
        let rows = [Row { id: "abc", created_by: "RUN x" }, Row { id: "d", created_by: "COPY . /" }];
        let show = |f: &str| {
            let mut out = Vec::new();
            Format::parse(Some(f), "table {{.ID}}").unwrap().write(&mut out, &rows, &[("ID", "IMAGE")]).unwrap();
            String::from_utf8(out).unwrap()
        };
        assert_eq!(
            show(r"table {{.ID}}\t{{.CreatedBy}}"),
            "IMAGE     CREATED BY\nabc       RUN x\nd         COPY . /\n"
        );
        assert_eq!(show("table"), "IMAGE\nabc\nd\n");
        assert_eq!(show(r"{{.ID}}\t{{.CreatedBy}}"), "abc\tRUN x\nd\tCOPY . /\n");
        assert_eq!(show("json").lines().next().unwrap(), r#"{"ID":"abc","CreatedBy":"RUN x"}"#);
        assert!(Format::parse(Some("{{.ID"), "table").is_err());
    }
}
