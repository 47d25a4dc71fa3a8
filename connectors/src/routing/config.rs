//! `connectors.routing` config: the Collector's `routing` connector keys.

use llamacol_api::config::{ComponentConfig, Issue};
use llamacol_api::ottl::{ContextName, ErrorMode, Predicate, Statement};
use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoutingConfig {
    /// Routes, tried in order; data a route moves is not seen by later ones.
    pub table: Vec<RouteConfig>,
    /// Where data no route took goes (dropped and counted when empty).
    pub default_pipelines: Vec<String>,
    /// A condition failing on an item: `propagate` (default: the batch is refused),
    /// `ignore` or `silent` (the item counts as not matching).
    pub error_mode: ErrorMode,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RouteConfig {
    /// `resource` (default), `span`, `metric`, `datapoint`, `log`, or `request` (the
    /// request's client metadata, as `request["X-Tenant"] == "acme"`).
    pub context: Option<String>,
    /// An OTTL condition; the matching data goes to `pipelines`.
    pub condition: Option<String>,
    /// Instead of `condition`: `route() where <condition>`, or an editor with a `where`
    /// clause, applied to what it routes (e.g. `delete_key(attributes, "X-Tenant") where ...`).
    pub statement: Option<String>,
    /// `move` (default) or `copy` (later routes see the data too).
    pub action: Option<String>,
    pub pipelines: Vec<String>,
}

/// How a route tests an item or a request.
pub enum Test {
    Condition(Predicate),
    Statement(Statement),
    Request {
        header: String,
        equal: bool,
        value: String,
    },
}

pub struct BoundRoute {
    /// `None`: the request context.
    pub context: Option<ContextName>,
    pub test: Test,
    pub copy: bool,
    pub pipelines: Vec<String>,
}

/// `request["<name>"] == "<value>"` or `!=`, the only form the Collector reads there.
fn request_condition(text: &str) -> Result<Test, String> {
    let form = "condition must have format 'request[\"<name>\"] <comparator> \"<value>\"'";
    let parts: Vec<&str> = text.split_whitespace().collect();
    let [name, op, value] = parts.as_slice() else {
        return Err(form.into());
    };
    let header = name
        .strip_prefix("request[\"")
        .and_then(|n| n.strip_suffix("\"]"))
        .ok_or(form)?;
    let equal = match *op {
        "==" => true,
        "!=" => false,
        _ => return Err(form.into()),
    };
    let value = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .ok_or(form)?;
    Ok(Test::Request {
        header: header.to_ascii_lowercase(),
        equal,
        value: value.to_string(),
    })
}

impl RoutingConfig {
    pub fn bind(&self) -> Result<Vec<BoundRoute>, Vec<Issue>> {
        let mut issues = Vec::new();
        let mut out = Vec::new();
        for (i, r) in self.table.iter().enumerate() {
            let at = |f: &str| format!("table[{i}].{f}");
            let context = match r.context.as_deref().unwrap_or("resource") {
                "request" => None,
                c => match ContextName::parse(c).filter(|c| {
                    matches!(
                        c,
                        ContextName::Resource
                            | ContextName::Span
                            | ContextName::Metric
                            | ContextName::DataPoint
                            | ContextName::Log
                    )
                }) {
                    Some(c) => Some(c),
                    None => {
                        issues.push(Issue::new(
                            at("context"),
                            format!("{c:?}: use resource, span, metric, datapoint, log or request"),
                        ));
                        continue;
                    }
                },
            };
            let copy = match r.action.as_deref() {
                None | Some("move") => false,
                Some("copy") => true,
                Some(other) => {
                    issues.push(Issue::new(
                        at("action"),
                        format!("{other:?}: use move or copy"),
                    ));
                    false
                }
            };
            if r.pipelines.is_empty() {
                issues.push(Issue::new(at("pipelines"), "list at least one pipeline"));
            }
            let test = match (&r.condition, &r.statement, context) {
                (Some(_), Some(_), _) | (None, None, _) => {
                    issues.push(Issue::new(
                        at("condition"),
                        "give exactly one of `condition` and `statement`",
                    ));
                    continue;
                }
                (Some(c), None, None) => request_condition(c),
                (None, Some(_), None) => {
                    Err("the request context takes `condition`, not `statement`".to_string())
                }
                (Some(c), None, Some(ctx)) => Predicate::parse(c, Some(ctx))
                    .map(Test::Condition)
                    .map_err(|e| e.to_string()),
                (None, Some(s), Some(ctx)) => match route_condition(s) {
                    Some(c) => Predicate::parse(c, Some(ctx))
                        .map(Test::Condition)
                        .map_err(|e| e.to_string()),
                    None => Statement::parse(s, Some(ctx))
                        .map(Test::Statement)
                        .map_err(|e| e.to_string()),
                },
            };
            match test {
                Ok(test) => out.push(BoundRoute {
                    context,
                    test,
                    copy,
                    pipelines: r.pipelines.clone(),
                }),
                Err(e) => issues.push(Issue::new(
                    at(if r.condition.is_some() {
                        "condition"
                    } else {
                        "statement"
                    }),
                    e,
                )),
            }
        }
        if issues.is_empty() {
            Ok(out)
        } else {
            Err(issues)
        }
    }
}

/// The condition of `route() where <condition>`.
fn route_condition(statement: &str) -> Option<&str> {
    let rest = statement.trim().strip_prefix("route")?.trim_start();
    let rest = rest
        .strip_prefix('(')?
        .trim_start()
        .strip_prefix(')')?
        .trim_start();
    rest.strip_prefix("where").map(str::trim)
}

impl ComponentConfig for RoutingConfig {
    fn validate(&self) -> Vec<Issue> {
        let mut issues = self.bind().err().unwrap_or_default();
        if self.table.is_empty() {
            issues.push(Issue::new(
                "table",
                "lists no route; e.g. `- {condition: 'attributes[\"tenant\"] == \"acme\"', pipelines: [traces/acme]}`",
            ));
        }
        issues
    }
}
