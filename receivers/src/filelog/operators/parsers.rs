//! The operators built here, each from its block's keys (the Collector's names and
//! defaults: `parse_from: body`, `parse_to: attributes`, embedded `timestamp:` and
//! `severity:` blocks in the parsers).

use llamacol_api::serde_yaml::{Mapping, Value as Yaml};
use regex::Regex;
use serde_json::{Map, Value};

use super::entry::Entry;
use super::field::{Field, Root};
use super::OperatorConfig;

pub enum Operator {
    Json {
        from: Field,
        to: Field,
        time: Option<TimeParser>,
        severity: Option<SeverityParser>,
    },
    Regex {
        regex: Regex,
        from: Field,
        to: Field,
        time: Option<TimeParser>,
        severity: Option<SeverityParser>,
    },
    Add {
        field: Field,
        value: Value,
    },
    Move {
        from: Field,
        to: Field,
    },
    Copy {
        from: Field,
        to: Field,
    },
    Remove {
        field: Field,
    },
    Severity(SeverityParser),
    Time(TimeParser),
    LlamaCpp(super::llamacpp::LlamaCppParser),
    Container(super::container::ContainerParser),
    Router(Router),
}

/// `router`: the first route whose `expr` holds sends the entry to its `output` (with
/// the route's `attributes` added); none: `default`, or the entry is dropped.
pub struct Router {
    pub routes: Vec<Route>,
    pub default: Option<String>,
}

pub struct Route {
    pub expr: super::expr::Expr,
    pub output: String,
    pub attributes: Map<String, Value>,
}

/// One output id (stanza takes a list; one branch is built here).
pub fn one_output(v: &Yaml, key: &str) -> Result<String, String> {
    match v {
        Yaml::String(s) => Ok(s.clone()),
        Yaml::Sequence(items) if items.len() == 1 => items[0].as_str().map(str::to_string).ok_or_else(|| format!("`{key}` must name an operator id")),
        Yaml::Sequence(_) => Err(format!("`{key}` names several operators; sending one entry down several branches is not built in llamacol yet")),
        _ => Err(format!("`{key}` must name an operator id")),
    }
}

/// The block's keys, each taken once; what is left at the end is an unknown key.
struct Keys(Mapping);

impl Keys {
    fn take(&mut self, key: &str) -> Option<Yaml> {
        self.0.remove(key)
    }

    fn string(&mut self, key: &str) -> Result<Option<String>, String> {
        match self.take(key) {
            None => Ok(None),
            Some(Yaml::String(s)) => Ok(Some(s)),
            Some(other) => Err(format!("`{key}` must be a string, found {other:?}")),
        }
    }

    fn field(&mut self, key: &str, default: Field) -> Result<Field, String> {
        Ok(match self.string(key)? {
            Some(text) => Field::parse(&text).map_err(|e| format!("`{key}`: {e}"))?,
            None => default,
        })
    }

    fn required_field(&mut self, key: &str) -> Result<Field, String> {
        let text = self.string(key)?.ok_or_else(|| format!("needs `{key}`"))?;
        Field::parse(&text).map_err(|e| format!("`{key}`: {e}"))
    }

    fn finish(self, kind: &str, known: &[&str]) -> Result<(), String> {
        match self.0.keys().next() {
            None => Ok(()),
            Some(k) => Err(format!(
                "`{}` is not a key of `{kind}` (its keys: {})",
                k.as_str().unwrap_or("?"),
                known.join(", ")
            )),
        }
    }
}

/// Keys every operator may have: handled by the pipeline or accepted as the Collector's.
const COMMON: &[&str] = &["type", "id", "output", "on_error", "if"];

impl Operator {
    pub fn build(config: &OperatorConfig) -> Result<Operator, String> {
        let mut keys = Keys(config.0.clone());
        for k in COMMON {
            keys.take(k);
        }
        let kind = config.kind().unwrap_or_default().to_string();
        let op = match kind.as_str() {
            "json_parser" => Operator::Json {
                from: keys.field("parse_from", Field::body())?,
                to: keys.field("parse_to", Field::attributes())?,
                time: embedded(&mut keys, "timestamp", TimeParser::build)?,
                severity: embedded(&mut keys, "severity", SeverityParser::build)?,
            },
            "regex_parser" => {
                let text = keys
                    .string("regex")?
                    .ok_or("needs `regex` (with named groups, `(?P<name>...)`)")?;
                // Go's `(?P<name>)` and `(?<name>)` both read in Rust's syntax.
                let regex =
                    Regex::new(&text).map_err(|e| format!("`regex` is not a regex: {e}"))?;
                if regex.capture_names().flatten().next().is_none() {
                    return Err(
                        "`regex` has no named group; e.g. `^(?P<level>\\w+) (?P<message>.*)$`"
                            .into(),
                    );
                }
                Operator::Regex {
                    regex,
                    from: keys.field("parse_from", Field::body())?,
                    to: keys.field("parse_to", Field::attributes())?,
                    time: embedded(&mut keys, "timestamp", TimeParser::build)?,
                    severity: embedded(&mut keys, "severity", SeverityParser::build)?,
                }
            }
            "add" => {
                let field = keys.required_field("field")?;
                let value = keys.take("value").ok_or("needs `value`")?;
                if value.as_str().is_some_and(|s| s.starts_with("EXPR(")) {
                    return Err("`EXPR(...)` values are not built in llamacol yet".into());
                }
                Operator::Add {
                    field,
                    value: yaml_to_json(&value),
                }
            }
            "move" => Operator::Move {
                from: keys.required_field("from")?,
                to: keys.required_field("to")?,
            },
            "copy" => Operator::Copy {
                from: keys.required_field("from")?,
                to: keys.required_field("to")?,
            },
            "remove" => Operator::Remove {
                field: keys.required_field("field")?,
            },
            "severity_parser" => Operator::Severity(SeverityParser::from_keys(&mut keys)?),
            "time_parser" => Operator::Time(TimeParser::from_keys(&mut keys)?),
            "router" => {
                let routes = keys
                    .take("routes")
                    .ok_or("needs `routes`: [{expr, output}]")?;
                let routes = routes.as_sequence().ok_or("`routes` must be a list")?;
                let routes = routes
                    .iter()
                    .enumerate()
                    .map(|(i, r)| {
                        let at = |m: String| format!("routes[{i}]: {m}");
                        let map = r
                            .as_mapping()
                            .ok_or_else(|| at("must be a mapping".into()))?;
                        let expr = map
                            .get("expr")
                            .and_then(Yaml::as_str)
                            .ok_or_else(|| at("needs `expr`".into()))?;
                        let output = one_output(
                            map.get("output")
                                .ok_or_else(|| at("needs `output`".into()))?,
                            "output",
                        )
                        .map_err(at)?;
                        let attributes = match map.get("attributes") {
                            Some(a) => match yaml_to_json(a) {
                                Value::Object(m) => m,
                                _ => return Err(at("`attributes` must be a mapping".into())),
                            },
                            None => Map::new(),
                        };
                        if let Some(k) = map
                            .keys()
                            .filter_map(Yaml::as_str)
                            .find(|k| !["expr", "output", "attributes"].contains(k))
                        {
                            return Err(at(format!(
                                "`{k}` is not a key of a route (expr, output, attributes)"
                            )));
                        }
                        Ok(Route {
                            expr: super::expr::Expr::parse(expr).map_err(at)?,
                            output,
                            attributes,
                        })
                    })
                    .collect::<Result<Vec<_>, String>>()?;
                let default = keys
                    .take("default")
                    .map(|d| one_output(&d, "default"))
                    .transpose()?;
                Operator::Router(Router { routes, default })
            }
            "container" => {
                use super::container::{ContainerParser, Format};
                let format = match keys.string("format")?.as_deref() {
                    None | Some("") => None,
                    Some("docker") => Some(Format::Docker),
                    Some("crio") => Some(Format::Crio),
                    Some("containerd") => Some(Format::Containerd),
                    Some(other) => return Err(format!("unknown container format `{other}`; `docker`, `crio` or `containerd` (or leave it out to detect)")),
                };
                let metadata = keys
                    .take("add_metadata_from_filepath")
                    .map_or(Ok(true), |v| {
                        v.as_bool()
                            .ok_or("`add_metadata_from_filepath` must be true or false")
                    })?;
                let max = match keys.take("max_log_size") {
                    None => 1 << 20,
                    Some(v) => {
                        serde_json::from_value::<llamacol_api::config::ByteSize>(yaml_to_json(&v))
                            .map_err(|e| format!("`max_log_size`: {e}"))?
                            .0 as usize
                    }
                };
                Operator::Container(ContainerParser::new(
                    format,
                    keys.field("parse_from", Field::body())?,
                    metadata,
                    max,
                ))
            }
            "llamacpp_parser" => Operator::LlamaCpp(super::llamacpp::LlamaCppParser {
                from: keys.field("parse_from", Field::body())?,
            }),
            other => return Err(format!("unknown operator `{other}`")),
        };
        let known: &[&str] = match kind.as_str() {
            "json_parser" => &["parse_from", "parse_to", "timestamp", "severity"],
            "regex_parser" => &["regex", "parse_from", "parse_to", "timestamp", "severity"],
            "add" => &["field", "value"],
            "move" | "copy" => &["from", "to"],
            "remove" => &["field"],
            "severity_parser" => &["parse_from", "mapping", "preset", "overwrite_text"],
            "llamacpp_parser" => &["parse_from"],
            "container" => &[
                "format",
                "add_metadata_from_filepath",
                "max_log_size",
                "parse_from",
            ],
            _ => &["parse_from", "layout_type", "layout", "location"],
        };
        keys.finish(&kind, known)?;
        Ok(op)
    }

    /// Runs the operator; `Ok(false)` when it holds the entry back (a partial line).
    pub fn apply(&self, entry: &mut Entry) -> Result<bool, String> {
        if let Operator::Container(p) = self {
            return p.apply(entry);
        }
        self.apply_one(entry).map(|()| true)
    }

    fn apply_one(&self, entry: &mut Entry) -> Result<(), String> {
        match self {
            Operator::Json {
                from,
                to,
                time,
                severity,
            } => {
                let text = from
                    .get(entry)
                    .and_then(Value::as_str)
                    .ok_or("the field to parse is not a string")?;
                let parsed: Value =
                    serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
                let Value::Object(mut map) = parsed else {
                    return Err("the JSON is not an object".into());
                };
                // JSON numbers become doubles, as the Collector's json_parser makes them
                // (Go decodes every JSON number to float64).
                map.values_mut().for_each(as_doubles);
                place(entry, to, map);
                after_parse(entry, time, severity)
            }
            Operator::Regex {
                regex,
                from,
                to,
                time,
                severity,
            } => {
                let text = from
                    .get(entry)
                    .and_then(Value::as_str)
                    .ok_or("the field to parse is not a string")?;
                let caps = regex.captures(text).ok_or("the regex does not match")?;
                let mut map = Map::new();
                for name in regex.capture_names().flatten() {
                    if let Some(m) = caps.name(name) {
                        map.insert(name.to_string(), Value::String(m.as_str().to_string()));
                    }
                }
                place(entry, to, map);
                after_parse(entry, time, severity)
            }
            Operator::Add { field, value } => {
                field.set(entry, value.clone());
                Ok(())
            }
            Operator::Move { from, to } => {
                let value = from.remove(entry).ok_or("the field to move is missing")?;
                to.set(entry, value);
                Ok(())
            }
            Operator::Copy { from, to } => {
                let value = from
                    .get(entry)
                    .cloned()
                    .ok_or("the field to copy is missing")?;
                to.set(entry, value);
                Ok(())
            }
            Operator::Remove { field } => {
                field
                    .remove(entry)
                    .ok_or("the field to remove is missing")?;
                Ok(())
            }
            Operator::Severity(p) => p.apply(entry),
            Operator::Time(p) => p.apply(entry),
            Operator::LlamaCpp(p) => p.apply(entry),
            Operator::Container(_) | Operator::Router(_) => Ok(()),
        }
    }
}

/// Puts parsed values at `to`: merged into a map root, or as a map at a key.
fn place(entry: &mut Entry, to: &Field, map: Map<String, Value>) {
    match to.root {
        Root::Attributes | Root::Resource if to.keys.is_empty() => {
            let target = if to.root == Root::Attributes {
                &mut entry.attributes
            } else {
                &mut entry.resource
            };
            target.extend(map);
        }
        _ => to.set(entry, Value::Object(map)),
    }
}

fn after_parse(
    entry: &mut Entry,
    time: &Option<TimeParser>,
    severity: &Option<SeverityParser>,
) -> Result<(), String> {
    if let Some(t) = time {
        t.apply(entry)?;
    }
    if let Some(s) = severity {
        s.apply(entry)?;
    }
    Ok(())
}

fn embedded<T>(
    keys: &mut Keys,
    key: &str,
    build: fn(&Yaml) -> Result<T, String>,
) -> Result<Option<T>, String> {
    keys.take(key)
        .map(|v| build(&v).map_err(|e| format!("`{key}`: {e}")))
        .transpose()
}

fn yaml_to_json(v: &Yaml) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// `severity_parser` and a parser's `severity:` block.
pub struct SeverityParser {
    from: Field,
    /// Lower-cased text to severity number; the Collector's default table first.
    mapping: Vec<(String, i32)>,
    overwrite_text: bool,
}

/// The Collector's default severity table (stanza `helper/severity_builder.go`): each
/// level's name, and its numbered variants (`info2`..`info4`).
const LEVELS: &[(&str, i32)] = &[
    ("trace", 1),
    ("debug", 5),
    ("info", 9),
    ("warn", 13),
    ("error", 17),
    ("fatal", 21),
];

impl SeverityParser {
    fn build(b: &Yaml) -> Result<SeverityParser, String> {
        block(
            b,
            "severity",
            &["parse_from", "mapping", "preset", "overwrite_text"],
            SeverityParser::from_keys,
        )
    }

    fn from_keys(keys: &mut Keys) -> Result<SeverityParser, String> {
        let from = keys.required_field("parse_from")?;
        let mut mapping: Vec<(String, i32)> = Vec::new();
        match keys.string("preset")?.as_deref() {
            None | Some("default") => {
                for (name, n) in LEVELS {
                    mapping.push((name.to_string(), *n));
                    for k in 2..=4 {
                        mapping.push((format!("{name}{k}"), n + k - 1));
                    }
                }
                mapping.push(("warning".into(), 13));
                mapping.push(("err".into(), 17));
                mapping.push(("critical".into(), 21));
            }
            Some("none") => {}
            Some(other) => {
                return Err(format!(
                    "unknown severity preset `{other}`; `default` or `none`"
                ))
            }
        }
        if let Some(user) = keys.take("mapping") {
            let user = user
                .as_mapping()
                .ok_or("`mapping` must map severities to values")?;
            for (level, values) in user {
                let level = level
                    .as_str()
                    .ok_or("a `mapping` key must be a severity name")?;
                let n = number_of(level).ok_or_else(|| format!("`{level}` is not a severity (trace, debug, info, warn, error, fatal, with 2-4)"))?;
                let values: Vec<Yaml> = match values {
                    Yaml::Sequence(s) => s.clone(),
                    other => vec![other.clone()],
                };
                for v in values {
                    let text = match v {
                        Yaml::String(s) => s,
                        Yaml::Number(n) => n.to_string(),
                        other => {
                            return Err(format!(
                                "`mapping.{level}` value {other:?} is not a string or number"
                            ))
                        }
                    };
                    mapping.insert(0, (text.to_lowercase(), n));
                }
            }
        }
        let overwrite_text = keys
            .take("overwrite_text")
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        Ok(SeverityParser {
            from,
            mapping,
            overwrite_text,
        })
    }

    fn apply(&self, entry: &mut Entry) -> Result<(), String> {
        let value = self
            .from
            .get(entry)
            .ok_or("the severity field is missing")?;
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return Err("the severity field is not a string or number".into()),
        };
        let lower = text.to_lowercase();
        let n = self
            .mapping
            .iter()
            .find(|(t, _)| *t == lower)
            .map(|(_, n)| *n)
            .unwrap_or(0);
        entry.severity = n;
        entry.severity_text = if self.overwrite_text && n > 0 {
            name_of(n).to_string()
        } else {
            text
        };
        Ok(())
    }
}

fn number_of(level: &str) -> Option<i32> {
    let lower = level.to_lowercase();
    let (name, k) = match lower.char_indices().last() {
        Some((i, c)) if c.is_ascii_digit() => (&lower[..i], c.to_digit(10)? as i32),
        _ => (lower.as_str(), 1),
    };
    let base = LEVELS.iter().find(|(n, _)| *n == name)?.1;
    (1..=4).contains(&k).then_some(base + k - 1)
}

fn name_of(n: i32) -> &'static str {
    match n {
        1..=4 => "TRACE",
        5..=8 => "DEBUG",
        9..=12 => "INFO",
        13..=16 => "WARN",
        17..=20 => "ERROR",
        _ => "FATAL",
    }
}

/// `time_parser` and a parser's `timestamp:` block.
pub struct TimeParser {
    from: Field,
    layout: Layout,
}

enum Layout {
    /// strptime directives turned into chrono's.
    Strptime(String),
    /// Epoch: `s`, `ms`, `us`, `ns`, `s.ms`, `s.us`, `s.ns`.
    Epoch(String),
}

impl TimeParser {
    fn build(b: &Yaml) -> Result<TimeParser, String> {
        block(
            b,
            "timestamp",
            &["parse_from", "layout_type", "layout", "location"],
            TimeParser::from_keys,
        )
    }

    fn from_keys(keys: &mut Keys) -> Result<TimeParser, String> {
        let from = keys.required_field("parse_from")?;
        let layout_type = keys
            .string("layout_type")?
            .unwrap_or_else(|| "strptime".into());
        let layout = keys.string("layout")?.ok_or("needs `layout`")?;
        if keys.take("location").is_some() {
            return Err(
                "`location` is not built in llamacol yet (times without a zone are read as UTC)"
                    .into(),
            );
        }
        let layout = match layout_type.as_str() {
            "strptime" => Layout::Strptime(strptime_to_chrono(&layout)),
            "epoch"
                if ["s", "ms", "us", "ns", "s.ms", "s.us", "s.ns"].contains(&layout.as_str()) =>
            {
                Layout::Epoch(layout)
            }
            "epoch" => {
                return Err(format!(
                    "epoch layout `{layout}`: one of s, ms, us, ns, s.ms, s.us, s.ns"
                ))
            }
            other => {
                return Err(format!(
                    "layout_type `{other}` is not built in llamacol yet; `strptime` or `epoch`"
                ))
            }
        };
        Ok(TimeParser { from, layout })
    }

    fn apply(&self, entry: &mut Entry) -> Result<(), String> {
        let value = self.from.get(entry).ok_or("the time field is missing")?;
        let nanos = match &self.layout {
            Layout::Strptime(fmt) => {
                let text = value.as_str().ok_or("the time field is not a string")?;
                parse_time(text, fmt)?
            }
            Layout::Epoch(unit) => {
                let per_unit: u64 = match unit.as_str() {
                    "s" | "s.ms" | "s.us" | "s.ns" => 1_000_000_000,
                    "ms" => 1_000_000,
                    "us" => 1_000,
                    _ => 1,
                };
                // Whole numbers exactly; fractions (`s.ms`) through a double.
                let whole = match value {
                    // A whole double (json_parser gives doubles) is exact below 2^53.
                    Value::Number(n) => n.as_u64().or_else(|| {
                        n.as_f64()
                            .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < 9.0e15)
                            .map(|f| f as u64)
                    }),
                    Value::String(s) => s.parse::<u64>().ok(),
                    _ => None,
                };
                match whole {
                    Some(n) => n.saturating_mul(per_unit),
                    None => {
                        let n: f64 = match value {
                            Value::Number(n) => n.as_f64().unwrap_or(0.0),
                            Value::String(s) => {
                                s.parse().map_err(|_| format!("`{s}` is not a number"))?
                            }
                            _ => return Err("the time field is not a number".into()),
                        };
                        (n * per_unit as f64) as u64
                    }
                }
            }
        };
        entry.timestamp = Some(nanos);
        Ok(())
    }
}

/// stanza's strptime directives in chrono's spelling: `%L` milliseconds, `%f`
/// microseconds, `%s` nanoseconds fraction are the differences.
fn strptime_to_chrono(layout: &str) -> String {
    layout
        .replace("%L", "%3f")
        .replace("%f", "%6f")
        .replace("%s", "%9f")
}

fn parse_time(text: &str, fmt: &str) -> Result<u64, String> {
    use chrono::{DateTime, NaiveDateTime};
    let nanos = |t: i64| u64::try_from(t).map_err(|_| "a time before 1970".to_string());
    if let Ok(t) = DateTime::parse_from_str(text, fmt) {
        return nanos(t.timestamp_nanos_opt().ok_or("time out of range")?);
    }
    let naive = NaiveDateTime::parse_from_str(text, fmt)
        .map_err(|e| format!("`{text}` does not match the layout: {e}"))?;
    nanos(
        naive
            .and_utc()
            .timestamp_nanos_opt()
            .ok_or("time out of range")?,
    )
}

/// An embedded block (`timestamp:`, `severity:`) read with its operator's keys.
fn block<T>(
    block: &Yaml,
    kind: &str,
    known: &[&str],
    from_keys: fn(&mut Keys) -> Result<T, String>,
) -> Result<T, String> {
    let map = block.as_mapping().ok_or("must be a mapping")?.clone();
    let mut keys = Keys(map);
    let parsed = from_keys(&mut keys)?;
    keys.finish(kind, known)?;
    Ok(parsed)
}

/// Every number in `v` as a double.
fn as_doubles(v: &mut Value) {
    match v {
        Value::Number(n) => {
            if let Some(d) = n.as_f64().and_then(serde_json::Number::from_f64) {
                *n = d;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(as_doubles),
        Value::Object(map) => map.values_mut().for_each(as_doubles),
        _ => {}
    }
}
