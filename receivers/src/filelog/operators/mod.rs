//! `operators`: the Collector's stanza operators applied to each entry in order. An
//! operator that fails on an entry (a line that is not JSON for `json_parser`) leaves it
//! as it was and the entry goes on (`on_error: send`, the Collector's default), counted in
//! the log once per operator.

mod container;
mod entry;
mod expr;
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
    "container",
    "router",
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
    // Conditions, outputs and routes, once every operator builds on its own.
    if issues.is_empty() && operators.iter().all(|o| o.issues("").is_empty()) {
        if let Err(e) = Operators::build(operators) {
            issues.push(Issue::new("operators", e));
        }
    }
    issues
}

/// The configured operators, ready to run: each with its condition and the index of the
/// operator it hands entries to (the next one, or its `output`).
pub struct Operators {
    steps: Vec<Step>,
}

struct Step {
    id: String,
    op: Operator,
    condition: Option<expr::Expr>,
    next: usize,
    /// A router's route targets (indices), in route order, then its default.
    routes: Vec<usize>,
    default: Option<usize>,
}

impl Operators {
    pub fn build(configs: &[OperatorConfig]) -> Result<Operators, String> {
        let ids: Vec<String> = configs
            .iter()
            .map(|c| {
                c.0.get("id")
                    .and_then(Value::as_str)
                    .or(c.kind())
                    .unwrap_or_default()
                    .to_string()
            })
            .collect();
        // Entries only move forward, so no configuration can loop.
        let index_of = |from: usize, id: &str| -> Result<usize, String> {
            match ids.iter().position(|x| x == id) {
                Some(i) if i > from => Ok(i),
                Some(_) => Err(format!(
                    "`{}` sends entries back to `{id}`; outputs must name a later operator",
                    ids[from]
                )),
                None => Err(format!(
                    "`{}` sends entries to `{id}`, which is no operator's id{}",
                    ids[from],
                    suggestion(id, ids.iter().map(String::as_str))
                )),
            }
        };
        let mut steps = Vec::new();
        for (i, c) in configs.iter().enumerate() {
            let op = Operator::build(c)?;
            let condition = match c.0.get("if") {
                Some(Value::String(text)) => {
                    Some(expr::Expr::parse(text).map_err(|e| format!("`if`: {e}"))?)
                }
                Some(_) => return Err("`if` must be an expression string".into()),
                None => None,
            };
            let next = match c.0.get("output") {
                Some(v) => index_of(i, &parsers::one_output(v, "output")?)?,
                None => i + 1,
            };
            let (routes, default) = match &op {
                Operator::Router(r) => (
                    r.routes
                        .iter()
                        .map(|route| index_of(i, &route.output))
                        .collect::<Result<_, _>>()?,
                    r.default.as_deref().map(|d| index_of(i, d)).transpose()?,
                ),
                _ => (Vec::new(), None),
            };
            steps.push(Step {
                id: ids[i].clone(),
                op,
                condition,
                next,
                routes,
                default,
            });
        }
        Ok(Operators { steps })
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Runs the operators over `entry` from the first, each handing it to its next; an
    /// operator's failure is reported to `failed` and the entry goes on unchanged by it.
    /// False: the entry is not emitted (a partial container line held until its end, or
    /// no route of a router without a default took it).
    pub fn apply(&self, entry: &mut Entry, failed: &mut dyn FnMut(&str, String)) -> bool {
        let mut i = 0;
        while let Some(step) = self.steps.get(i) {
            if step.condition.as_ref().is_some_and(|c| !c.test(entry)) {
                i = step.next;
                continue;
            }
            if let Operator::Router(router) = &step.op {
                let Some(r) = router.routes.iter().position(|r| r.expr.test(entry)) else {
                    match step.default {
                        Some(d) => {
                            i = d;
                            continue;
                        }
                        None => return false,
                    }
                };
                entry.attributes.extend(router.routes[r].attributes.clone());
                i = step.routes[r];
                continue;
            }
            match step.op.apply(entry) {
                Ok(true) => {}
                Ok(false) => return false,
                Err(e) => failed(&step.id, e),
            }
            i = step.next;
        }
        true
    }
}
