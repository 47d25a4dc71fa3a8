//! `processors.transform` config: the Collector's `transform` processor keys.

use llamacol_api::config::{ComponentConfig, Issue};
use llamacol_api::ottl::{ContextName, ErrorMode, Predicate, Statement};
use llamacol_api::Signal;
use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TransformConfig {
    /// What a statement that fails on an item does: `propagate` (default: the batch is
    /// refused), `ignore` (logged, the item goes on), `silent` (as ignore, not logged).
    pub error_mode: ErrorMode,
    /// Statements for traces: OTTL strings whose paths name their context
    /// (`set(span.attributes["k"], "v")`), or groups `{context, statements, conditions,
    /// error_mode}` whose paths may leave the context out.
    pub trace_statements: Vec<Entry>,
    /// Statements for metrics (contexts resource, scope, metric, datapoint).
    pub metric_statements: Vec<Entry>,
    /// Statements for logs (contexts resource, scope, log).
    pub log_statements: Vec<Entry>,
    /// Statements for every signal, each applied where its context exists.
    pub statements: Vec<Entry>,
    /// The Collector's profile statements: accepted so its configs load; llamacol has no
    /// profiles signal, so they never run.
    pub profile_statements: Option<llamacol_api::serde_yaml::Value>,
}

/// One statement, or a group of them sharing a context.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Entry {
    Statement(String),
    Group(Group),
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    /// `resource`, `scope`, `span`, `spanevent`, `metric`, `datapoint` or `log`; left
    /// out, it is inferred from the paths.
    #[serde(default)]
    pub context: Option<String>,
    pub statements: Vec<String>,
    /// The group's statements run only on items where one of these holds.
    #[serde(default)]
    pub conditions: Vec<String>,
    /// Overrides the processor's `error_mode` for this group.
    #[serde(default)]
    pub error_mode: Option<ErrorMode>,
}

/// A group bound to its context.
pub struct Bound {
    pub statements: Vec<Statement>,
    pub conditions: Vec<Predicate>,
    pub error_mode: ErrorMode,
}

/// The contexts a signal's statements may use.
pub fn allowed(signal: Option<Signal>, context: ContextName) -> bool {
    use ContextName::*;
    match signal {
        None => true,
        Some(Signal::Traces) => matches!(context, Resource | Scope | Span | SpanEvent),
        Some(Signal::Metrics) => matches!(context, Resource | Scope | Metric | DataPoint),
        Some(Signal::Logs) => matches!(context, Resource | Scope | Log),
    }
}

impl TransformConfig {
    pub fn lists(&self) -> [(&'static str, Option<Signal>, &Vec<Entry>); 4] {
        [
            (
                "trace_statements",
                Some(Signal::Traces),
                &self.trace_statements,
            ),
            (
                "metric_statements",
                Some(Signal::Metrics),
                &self.metric_statements,
            ),
            ("log_statements", Some(Signal::Logs), &self.log_statements),
            ("statements", None, &self.statements),
        ]
    }

    /// Binds every statement; each failure is an issue at its place.
    pub fn bind(
        &self,
        key: &str,
        signal: Option<Signal>,
        entries: &[Entry],
    ) -> Result<Vec<Bound>, Vec<Issue>> {
        let mut issues = Vec::new();
        let mut out = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            match entry {
                Entry::Statement(text) => match Statement::parse(text, None) {
                    Ok(s) if !allowed(signal, s.context) => issues.push(Issue::new(
                        format!("{key}[{i}]"),
                        format!("the {} context does not apply to {key}", s.context.name()),
                    )),
                    Ok(s) => out.push(Bound {
                        statements: vec![s],
                        conditions: Vec::new(),
                        error_mode: self.error_mode,
                    }),
                    Err(e) => issues.push(Issue::new(format!("{key}[{i}]"), e.to_string())),
                },
                Entry::Group(g) => {
                    let context = match g.context.as_deref().map(|c| (c, ContextName::parse(c))) {
                        None => None,
                        Some((_, Some(c))) if allowed(signal, c) => Some(c),
                        Some((c, _)) => {
                            issues.push(Issue::new(
                                format!("{key}[{i}].context"),
                                format!(
                                    "{c:?} is not a context of {key}; use one of {}",
                                    contexts(signal)
                                ),
                            ));
                            continue;
                        }
                    };
                    let mut bound = Bound {
                        statements: Vec::new(),
                        conditions: Vec::new(),
                        error_mode: g.error_mode.unwrap_or(self.error_mode),
                    };
                    for (j, text) in g.statements.iter().enumerate() {
                        match Statement::parse(text, context) {
                            Ok(s) => bound.statements.push(s),
                            Err(e) => issues.push(Issue::new(
                                format!("{key}[{i}].statements[{j}]"),
                                e.to_string(),
                            )),
                        }
                    }
                    let group_context = context.or(bound.statements.first().map(|s| s.context));
                    for (j, text) in g.conditions.iter().enumerate() {
                        match Predicate::parse(text, group_context) {
                            Ok(p) => bound.conditions.push(p),
                            Err(e) => issues.push(Issue::new(
                                format!("{key}[{i}].conditions[{j}]"),
                                e.to_string(),
                            )),
                        }
                    }
                    if g.statements.is_empty() {
                        issues.push(Issue::new(format!("{key}[{i}].statements"), "is empty"));
                    }
                    out.push(bound);
                }
            }
        }
        if issues.is_empty() {
            Ok(out)
        } else {
            Err(issues)
        }
    }
}

fn contexts(signal: Option<Signal>) -> String {
    ContextName::ALL
        .iter()
        .filter(|c| allowed(signal, **c))
        .map(|c| c.name())
        .collect::<Vec<_>>()
        .join(", ")
}

impl ComponentConfig for TransformConfig {
    fn validate(&self) -> Vec<Issue> {
        let mut issues = Vec::new();
        for (key, signal, entries) in self.lists() {
            if let Err(mut e) = self.bind(key, signal, entries) {
                issues.append(&mut e);
            }
        }
        if self.lists().iter().all(|(_, _, e)| e.is_empty()) && self.profile_statements.is_none() {
            issues.push(Issue::new(
                "",
                "lists no statements; e.g. `trace_statements: [\"set(span.attributes[\\\"env\\\"], \\\"prod\\\")\"]`",
            ));
        }
        issues
    }
}
