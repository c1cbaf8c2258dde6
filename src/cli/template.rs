//! A small, documented subset of Go's text/template for `--format`, evaluated over JSON values.
//!
//! Supported: text; `{{.}}`, field paths `{{.A.B}}` (objects and maps alike); string ("..." or `...`),
//! integer and `true`/`false` literals; pipes `{{.X | json}}`; `{{if P}}…{{else}}…{{end}}`,
//! `{{range P}}…{{else}}…{{end}}` (over arrays, or object values in key order, with `.` bound to each);
//! `{{/* comments */}}`; `{{-`/`-}}` whitespace trimming; functions `json`, `index X K…`, `join LIST SEP`,
//! `len`, `upper`, `lower`, `print`, `println`. Values print as Go prints them: lists `[a b]`, maps
//! `map[k:v]`, a missing field or JSON null `<no value>`. Not supported: variables (`$x :=`), `with`,
//! `define`/`template`, parenthesised sub-pipelines, comparison functions.

use serde_json::Value;
use std::fmt::Write as _;

/// A malformed template, or one that failed on the data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("template: {0}")]
    Syntax(String),
    #[error("template: {0}")]
    Exec(String),
}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<Node>,
}

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Output(Pipeline),
    If(Pipeline, Vec<Node>, Vec<Node>),
    Range(Pipeline, Vec<Node>, Vec<Node>),
}

type Pipeline = Vec<Command>;
type Command = Vec<Arg>;

#[derive(Debug, Clone)]
enum Arg {
    Field(Vec<String>),
    Literal(Value),
    Func(String),
}

/// One action or text piece before nesting is resolved.
enum Piece {
    Text(String),
    Action(String),
}

impl Template {
    pub fn parse(src: &str) -> Result<Template, TemplateError> {
        let pieces = split(src)?;
        let mut iter = pieces.into_iter();
        let (nodes, end) = parse_nodes(&mut iter)?;
        match end {
            None => Ok(Template { nodes }),
            Some(word) => Err(TemplateError::Syntax(format!("unexpected {{{{{word}}}}}"))),
        }
    }

    /// Render the template with `data` as `.`.
    pub fn render(&self, data: &Value) -> Result<String, TemplateError> {
        let mut out = String::new();
        render_nodes(&self.nodes, data, Mode::Data, &mut out)?;
        Ok(out)
    }

    /// Render the header line of a `table` format, as docker's formatter does: the template runs over
    /// a map from each field it names to that field's column header, and the text functions (`json`,
    /// `join`, `upper`, `lower`) hand the header through unchanged.
    pub fn render_header(&self, header: impl Fn(&str) -> String) -> Result<String, TemplateError> {
        let mut fields = std::collections::BTreeSet::new();
        collect_fields(&self.nodes, &mut fields);
        let map: serde_json::Map<String, Value> =
            fields.into_iter().map(|f| (f.clone(), Value::String(header(&f)))).collect();
        let mut out = String::new();
        render_nodes(&self.nodes, &Value::Object(map), Mode::Header, &mut out)?;
        Ok(out)
    }
}

/// What a template is rendered for: a row of data, or the header line of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Data,
    Header,
}

/// The first field of every field path the template names (`.Config.Env` names `Config`).
fn collect_fields(nodes: &[Node], out: &mut std::collections::BTreeSet<String>) {
    let pipe_fields = |p: &Pipeline, out: &mut std::collections::BTreeSet<String>| {
        for arg in p.iter().flatten() {
            if let Arg::Field(path) = arg {
                out.extend(path.first().cloned());
            }
        }
    };
    for node in nodes {
        match node {
            Node::Text(_) => {}
            Node::Output(p) => pipe_fields(p, out),
            Node::If(p, body, alt) | Node::Range(p, body, alt) => {
                pipe_fields(p, out);
                collect_fields(body, out);
                collect_fields(alt, out);
            }
        }
    }
}

/// Cut the source into text and action pieces, applying `{{-` and `-}}` trimming.
fn split(src: &str) -> Result<Vec<Piece>, TemplateError> {
    let mut pieces = Vec::new();
    let mut rest = src;
    let mut trim_next = false;
    while let Some(start) = rest.find("{{") {
        let mut text = &rest[..start];
        if trim_next {
            text = text.trim_start();
        }
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err(TemplateError::Syntax("unclosed action (missing \"}}\")".into()));
        };
        let mut action = &after[..end];
        if let Some(a) = action.strip_prefix("- ") {
            text = text.trim_end();
            action = a;
        }
        trim_next = false;
        if let Some(a) = action.strip_suffix(" -") {
            trim_next = true;
            action = a;
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text.to_string()));
        }
        let action = action.trim();
        if !(action.starts_with("/*") && action.ends_with("*/")) {
            pieces.push(Piece::Action(action.to_string()));
        }
        rest = &after[end + 2..];
    }
    let text = if trim_next { rest.trim_start() } else { rest };
    if !text.is_empty() {
        pieces.push(Piece::Text(text.to_string()));
    }
    Ok(pieces)
}

/// Parse nodes until `{{else}}`/`{{end}}` (returned) or the end of input (`None`).
fn parse_nodes(iter: &mut impl Iterator<Item = Piece>) -> Result<(Vec<Node>, Option<String>), TemplateError> {
    let mut nodes = Vec::new();
    while let Some(piece) = iter.next() {
        let action = match piece {
            Piece::Text(t) => {
                nodes.push(Node::Text(t));
                continue;
            }
            Piece::Action(a) => a,
        };
        let (word, rest) = action.split_once(char::is_whitespace).unwrap_or((action.as_str(), ""));
        match word {
            "end" | "else" => return Ok((nodes, Some(word.to_string()))),
            "if" | "range" => {
                let pipe = parse_pipeline(rest)?;
                let (body, end) = parse_nodes(iter)?;
                let alt = match end.as_deref() {
                    Some("else") => match parse_nodes(iter)? {
                        (alt, Some(e)) if e == "end" => alt,
                        _ => return Err(TemplateError::Syntax(format!("{{{{{word}}}}} without {{{{end}}}}"))),
                    },
                    Some(_) => Vec::new(),
                    None => return Err(TemplateError::Syntax(format!("{{{{{word}}}}} without {{{{end}}}}"))),
                };
                nodes.push(if word == "if" { Node::If(pipe, body, alt) } else { Node::Range(pipe, body, alt) });
            }
            _ => nodes.push(Node::Output(parse_pipeline(&action)?)),
        }
    }
    Ok((nodes, None))
}

fn parse_pipeline(src: &str) -> Result<Pipeline, TemplateError> {
    let tokens = tokens(src)?;
    let mut pipe = Vec::new();
    for cmd in tokens.split(|t| matches!(t, Token::Pipe)) {
        let args: Vec<Arg> = cmd
            .iter()
            .map(|t| match t {
                Token::Arg(a) => a.clone(),
                Token::Pipe => Arg::Literal(Value::Null),
            })
            .collect();
        if args.is_empty() {
            return Err(TemplateError::Syntax(format!("missing value in {src:?}")));
        }
        pipe.push(args);
    }
    if pipe.is_empty() {
        return Err(TemplateError::Syntax("empty action".into()));
    }
    Ok(pipe)
}

enum Token {
    Arg(Arg),
    Pipe,
}

fn tokens(src: &str) -> Result<Vec<Token>, TemplateError> {
    let mut out = Vec::new();
    let chars: Vec<char> = src.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '|' {
            out.push(Token::Pipe);
            i += 1;
        } else if c == '"' || c == '`' {
            let start = i;
            i += 1;
            while i < chars.len() && chars[i] != c {
                i += if c == '"' && chars[i] == '\\' { 2 } else { 1 };
            }
            if i >= chars.len() {
                return Err(TemplateError::Syntax(format!("unterminated string in {src:?}")));
            }
            let lit: String = chars[start..=i].iter().collect();
            let s = if c == '`' {
                lit[1..lit.len() - 1].to_string()
            } else {
                serde_json::from_str::<String>(&lit).map_err(|_| TemplateError::Syntax(format!("bad string {lit}")))?
            };
            out.push(Token::Arg(Arg::Literal(Value::String(s))));
            i += 1;
        } else {
            let start = i;
            while i < chars.len() && !chars[i].is_whitespace() && chars[i] != '|' {
                i += 1;
            }
            out.push(Token::Arg(word_arg(&chars[start..i].iter().collect::<String>())?));
        }
    }
    Ok(out)
}

fn word_arg(word: &str) -> Result<Arg, TemplateError> {
    if word == "." {
        return Ok(Arg::Field(Vec::new()));
    }
    if let Some(path) = word.strip_prefix('.') {
        let fields: Vec<String> = path.split('.').map(String::from).collect();
        if fields.iter().any(|f| f.is_empty()) {
            return Err(TemplateError::Syntax(format!("bad field path {word}")));
        }
        return Ok(Arg::Field(fields));
    }
    if let Ok(n) = word.parse::<i64>() {
        return Ok(Arg::Literal(Value::from(n)));
    }
    match word {
        "true" => Ok(Arg::Literal(Value::Bool(true))),
        "false" => Ok(Arg::Literal(Value::Bool(false))),
        "json" | "index" | "join" | "len" | "upper" | "lower" | "print" | "println" => Ok(Arg::Func(word.to_string())),
        _ => Err(TemplateError::Syntax(format!("function {word:?} not defined"))),
    }
}

fn render_nodes(nodes: &[Node], dot: &Value, mode: Mode, out: &mut String) -> Result<(), TemplateError> {
    for node in nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Output(p) => out.push_str(&print(&eval(p, dot, mode)?)),
            Node::If(p, body, alt) => {
                render_nodes(if truthy(&eval(p, dot, mode)?) { body } else { alt }, dot, mode, out)?;
            }
            Node::Range(p, body, alt) => {
                let items: Vec<Value> = match eval(p, dot, mode)? {
                    Value::Array(a) => a,
                    Value::Object(m) => {
                        let mut entries: Vec<(String, Value)> = m.into_iter().collect();
                        entries.sort_by(|a, b| a.0.cmp(&b.0));
                        entries.into_iter().map(|(_, v)| v).collect()
                    }
                    Value::Null => Vec::new(),
                    other => return Err(TemplateError::Exec(format!("range can't iterate over {}", print(&other)))),
                };
                if items.is_empty() {
                    render_nodes(alt, dot, mode, out)?;
                }
                for item in &items {
                    render_nodes(body, item, mode, out)?;
                }
            }
        }
    }
    Ok(())
}

fn eval(pipe: &Pipeline, dot: &Value, mode: Mode) -> Result<Value, TemplateError> {
    let mut piped: Option<Value> = None;
    for cmd in pipe {
        let mut args = cmd.iter();
        let first = args.next().ok_or_else(|| TemplateError::Exec("empty command".into()))?;
        let mut values: Vec<Value> = args.map(|a| arg_value(a, dot, mode)).collect::<Result<_, _>>()?;
        values.extend(piped.take());
        piped = Some(match first {
            Arg::Func(name) => call(name, &values, mode)?,
            other if values.is_empty() => arg_value(other, dot, mode)?,
            _ => return Err(TemplateError::Exec("can't give arguments to a non-function".into())),
        });
    }
    Ok(piped.unwrap_or(Value::Null))
}

fn arg_value(arg: &Arg, dot: &Value, mode: Mode) -> Result<Value, TemplateError> {
    match arg {
        Arg::Literal(v) => Ok(v.clone()),
        Arg::Field(path) => {
            let mut v = dot;
            for f in path {
                v = match v {
                    Value::Object(m) => m.get(f).unwrap_or(&Value::Null),
                    Value::Null => &Value::Null,
                    _ => return Err(TemplateError::Exec(format!("can't evaluate field {f} in {}", print(v)))),
                };
            }
            Ok(v.clone())
        }
        Arg::Func(name) => call(name, &[], mode),
    }
}

fn call(name: &str, args: &[Value], mode: Mode) -> Result<Value, TemplateError> {
    // Docker's header functions: the column header passes through the text functions unchanged.
    if mode == Mode::Header && matches!(name, "json" | "join" | "upper" | "lower") {
        return Ok(args.first().cloned().unwrap_or(Value::Null));
    }
    let want = |n: usize| {
        if args.len() == n {
            Ok(())
        } else {
            Err(TemplateError::Exec(format!("wrong number of args for {name}: want {n} got {}", args.len())))
        }
    };
    match name {
        "json" => {
            want(1)?;
            let text = serde_json::to_string(&args[0]).map_err(|e| TemplateError::Exec(e.to_string()))?;
            Ok(Value::String(text))
        }
        "index" => {
            let (first, keys) = args.split_first().ok_or_else(|| TemplateError::Exec("index needs a value".into()))?;
            let mut v = first.clone();
            for k in keys {
                v = match (&v, k) {
                    (Value::Object(m), Value::String(s)) => m.get(s).cloned().unwrap_or(Value::Null),
                    (Value::Array(a), Value::Number(n)) => {
                        let i = n.as_u64().and_then(|i| usize::try_from(i).ok()).filter(|&i| i < a.len());
                        let i = i.ok_or_else(|| TemplateError::Exec(format!("index out of range: {n}")))?;
                        a[i].clone()
                    }
                    (Value::Null, _) => Value::Null,
                    _ => return Err(TemplateError::Exec(format!("can't index {} with {}", print(&v), print(k)))),
                };
            }
            Ok(v)
        }
        "join" => {
            want(2)?;
            let items = match &args[0] {
                Value::Array(a) => a.iter().map(print).collect::<Vec<_>>(),
                Value::Null => Vec::new(),
                other => return Err(TemplateError::Exec(format!("join needs a list, got {}", print(other)))),
            };
            Ok(Value::String(items.join(&print(&args[1]))))
        }
        "len" => {
            want(1)?;
            let n = match &args[0] {
                Value::Array(a) => a.len(),
                Value::Object(m) => m.len(),
                Value::String(s) => s.len(),
                Value::Null => 0,
                other => return Err(TemplateError::Exec(format!("len of {}", print(other)))),
            };
            Ok(Value::from(n))
        }
        "upper" => want(1).map(|_| Value::String(print(&args[0]).to_uppercase())),
        "lower" => want(1).map(|_| Value::String(print(&args[0]).to_lowercase())),
        "print" => Ok(Value::String(args.iter().map(print).collect::<Vec<_>>().join(" "))),
        "println" => Ok(Value::String(args.iter().map(print).collect::<Vec<_>>().join(" ") + "\n")),
        _ => Err(TemplateError::Exec(format!("function {name:?} not defined"))),
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

/// Go's `fmt.Print` rendering of a value.
pub fn print(v: &Value) -> String {
    match v {
        Value::Null => "<no value>".to_string(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(a) => format!("[{}]", a.iter().map(print).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let mut s = String::from("map[");
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    s.push(' ');
                }
                let _ = write!(s, "{k}:{}", print(&m[k]));
            }
            s.push(']');
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(t: &str, data: &Value) -> Result<String, TemplateError> {
        Template::parse(t)?.render(data)
    }

    fn data() -> Value {
        json!({
            "Id": "sha256:abc",
            "Size": 1234,
            "Config": {"Env": ["PATH=/bin", "A=b"], "Labels": {"k": "v", "a": "z"}, "Cmd": null},
            "RootFS": {"Type": "layers", "Layers": ["sha256:1", "sha256:2"]}
        })
    }

    #[test]
    fn fields_lists_and_maps_print_like_go() {
        let d = data();
        assert_eq!(render("{{.Id}}", &d).unwrap(), "sha256:abc");
        assert_eq!(render("{{.Config.Env}}", &d).unwrap(), "[PATH=/bin A=b]");
        assert_eq!(render("{{.RootFS.Layers}}", &d).unwrap(), "[sha256:1 sha256:2]");
        assert_eq!(render("{{.Config.Labels}}", &d).unwrap(), "map[a:z k:v]");
        assert_eq!(render("{{.Config.Cmd}} {{.Nope}}", &d).unwrap(), "<no value> <no value>");
        assert_eq!(render("size={{.Size}}", &d).unwrap(), "size=1234");
    }

    #[test]
    fn functions_index_json_join_len() {
        let d = data();
        assert_eq!(render(r#"{{index .Config.Labels "k"}}"#, &d).unwrap(), "v");
        assert_eq!(render("{{index .Config.Env 1}}", &d).unwrap(), "A=b");
        assert_eq!(render("{{json .Config.Labels}}", &d).unwrap(), r#"{"a":"z","k":"v"}"#);
        assert_eq!(render("{{.Config.Env | json}}", &d).unwrap(), r#"["PATH=/bin","A=b"]"#);
        assert_eq!(render(r#"{{join .Config.Env ","}}"#, &d).unwrap(), "PATH=/bin,A=b");
        assert_eq!(render("{{len .RootFS.Layers}} {{upper .RootFS.Type}}", &d).unwrap(), "2 LAYERS");
        assert!(render("{{index .Config.Env 9}}", &d).is_err());
    }

    #[test]
    fn range_if_else_and_trimming() {
        let d = data();
        assert_eq!(render("{{range .RootFS.Layers}}{{println .}}{{end}}", &d).unwrap(), "sha256:1\nsha256:2\n");
        assert_eq!(render("{{range .Config.Labels}}<{{.}}>{{end}}", &d).unwrap(), "<z><v>");
        assert_eq!(render("{{range .Config.Cmd}}x{{else}}none{{end}}", &d).unwrap(), "none");
        assert_eq!(render("{{if .Config.Cmd}}cmd{{else}}no cmd{{end}}", &d).unwrap(), "no cmd");
        assert_eq!(render("a  {{- /* c */ -}}  {{- .Id -}}  b", &d).unwrap(), "asha256:abcb");
    }

    #[test]
    fn headers_come_from_the_fields_the_template_names() {
        let t = Template::parse("{{.Repository}}\t{{json .Tag}}\t{{upper .ID}} x").unwrap();
        let header = t.render_header(|f| if f == "ID" { "IMAGE ID".into() } else { f.to_uppercase() }).unwrap();
        assert_eq!(header, "REPOSITORY\tTAG\tIMAGE ID x");
    }

    #[test]
    fn malformed_templates_are_errors_not_panics() {
        let d = data();
        for bad in [
            "{{",
            "{{.Id",
            "{{if .Id}}x",
            "{{end}}",
            "{{nope .Id}}",
            "{{\"x}}",
            "{{.A..B}}",
            "{{|}}",
            "{{range .Id}}{{end}}",
            "{{json}}",
        ] {
            assert!(render(bad, &d).is_err(), "{bad:?} should fail");
        }
    }
}
