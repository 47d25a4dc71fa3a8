//! `operators`: the Collector's stanza operators applied to each entry in order. An
//! operator that fails on an entry (a line that is not JSON for `json_parser`) leaves it
//! as it was and the entry goes on (`on_error: send`, the Collector's default), counted in
//! the log once per operator.

mod entry;
mod field;
mod llamacpp;
mod parsers;

use llamacol_api::config::{suggestion, Issue};
use llamacol_api::serde_yaml::{Mapping, Value};
use serde::Deserialize;

pub use entry::Entry;
use parsers::Operator;

/// One operator block as written: its `type`, optional `id`, and the type's keys.
#[derive(Debug, Clone, Deserialize)]
pub struct OperatorConfig(pub Mapping);

/// The operator types built here.
pub const TYPES: &[&str] = &[
    "json_parser",
    "regex_parser",
    "add",
    "move",
    "copy",
    "remove",
    "severity_parser",
    "time_parser",
    "llamacpp_parser",
];

/// The Collector's operator types not built here (a config naming one is an error).
const NOT_BUILT: &[&str] = &[
    "container",
    "router",
    "recombine",
    "csv_parser",
    "key_value_parser",
    "syslog_parser",
    "uri_parser",
    "regex_replace",
    "filter",
    "flatten",
    "retain",
    "unquote",
    "assign_keys",
    "noop",
    "json_array_parser",
    "scope_name_parser",
    "trace_parser",
    "trace_flags_parser",
    "add_metadata_from_filepath",
];

impl OperatorConfig {
    pub fn kind(&self) -> Option<&str> {
        self.0.get("type").and_then(Value::as_str)
    }

    pub fn issues(&self, path: &str) -> Vec<Issue> {
        match self.kind() {
            None => vec![Issue::new(path, "has no `type`; e.g. `type: json_parser`")],
            Some(t) if TYPES.contains(&t) => match Operator::build(self) {
                Ok(_) => Vec::new(),
                Err(e) => vec![Issue::new(path, e)],
            },
            Some(t) if NOT_BUILT.contains(&t) => vec![Issue::new(
                format!("{path}.type"),
                format!(
                    "the `{t}` operator is not built in llamacol yet; built: {}",
                    TYPES.join(", ")
                ),
            )],
            Some(t) => vec![Issue::new(
                format!("{path}.type"),
                format!(
                    "unknown operator `{t}`{}; built: {}",
                    suggestion(t, TYPES.iter().copied()),
                    TYPES.join(", ")
                ),
            )],
        }
    }
}

/// Checks across operators: ids are unique.
pub fn pipeline_issues(operators: &[OperatorConfig]) -> Vec<Issue> {
    let mut seen: Vec<String> = Vec::new();
    let mut issues = Vec::new();
    for (i, op) in operators.iter().enumerate() {
        let id =
            op.0.get("id")
                .and_then(Value::as_str)
                .or(op.kind())
                .unwrap_or_default()
                .to_string();
        if seen.contains(&id) {
            issues.push(Issue::new(
                format!("operators[{i}]"),
                format!("a second operator with id `{id}`; give it an `id` of its own"),
            ));
        }
        seen.push(id);
    }
    issues
}

/// The configured operators, ready to run.
pub struct Operators {
    ops: Vec<(String, Operator)>,
}

impl Operators {
    pub fn build(configs: &[OperatorConfig]) -> Result<Operators, String> {
        let ops = configs
            .iter()
            .map(|c| {
                let id =
                    c.0.get("id")
                        .and_then(Value::as_str)
                        .or(c.kind())
                        .unwrap_or_default();
                Ok((id.to_string(), Operator::build(c)?))
            })
            .collect::<Result<_, String>>()?;
        Ok(Operators { ops })
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Runs every operator over `entry`; an operator's failure is returned beside the
    /// entry, which goes on unchanged by it.
    pub fn apply(&self, entry: &mut Entry, failed: &mut dyn FnMut(&str, String)) {
        for (id, op) in &self.ops {
            if let Err(e) = op.apply(entry) {
                failed(id, e);
            }
        }
    }
}
