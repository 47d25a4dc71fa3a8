//! `processors.filter` config: the Collector's `filter` processor keys (OTTL conditions).

use llamacol_api::config::{ComponentConfig, Issue};
use llamacol_api::ottl::{ContextName, ErrorMode, Predicate};
use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilterConfig {
    /// What a condition that fails on an item does: `propagate` (default: the batch is
    /// refused), `ignore` (logged, the item is kept), `silent` (as ignore, not logged).
    pub error_mode: ErrorMode,
    pub traces: TraceConditions,
    pub metrics: MetricConditions,
    pub logs: LogConditions,
    /// The Collector's older match-property form (`include`/`exclude`) is not read here.
    pub spans: Option<llamacol_api::serde_yaml::Value>,
    /// The Collector's profile conditions: accepted so its configs load; llamacol has no
    /// profiles signal, so they never run.
    pub profiles: Option<llamacol_api::serde_yaml::Value>,
}

/// Items matching any condition of a list are removed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TraceConditions {
    /// Resources to remove, with all their spans.
    pub resource: Vec<String>,
    /// Spans to remove (with their events).
    pub span: Vec<String>,
    /// Span events to remove.
    pub spanevent: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricConditions {
    pub resource: Vec<String>,
    /// Metrics to remove, with all their points.
    pub metric: Vec<String>,
    /// Data points to remove; a metric left with none goes too.
    pub datapoint: Vec<String>,
    pub include: Option<llamacol_api::serde_yaml::Value>,
    pub exclude: Option<llamacol_api::serde_yaml::Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConditions {
    pub resource: Vec<String>,
    /// Log records to remove.
    pub log_record: Vec<String>,
    pub include: Option<llamacol_api::serde_yaml::Value>,
    pub exclude: Option<llamacol_api::serde_yaml::Value>,
}

/// One list's conditions, bound to their context.
pub struct Bound {
    pub context: ContextName,
    pub conditions: Vec<Predicate>,
}

impl FilterConfig {
    /// Every list with its path and context, in the order they run.
    pub fn lists(&self) -> Vec<(String, ContextName, &Vec<String>)> {
        vec![
            (
                "traces.resource".into(),
                ContextName::Resource,
                &self.traces.resource,
            ),
            ("traces.span".into(), ContextName::Span, &self.traces.span),
            (
                "traces.spanevent".into(),
                ContextName::SpanEvent,
                &self.traces.spanevent,
            ),
            (
                "metrics.resource".into(),
                ContextName::Resource,
                &self.metrics.resource,
            ),
            (
                "metrics.metric".into(),
                ContextName::Metric,
                &self.metrics.metric,
            ),
            (
                "metrics.datapoint".into(),
                ContextName::DataPoint,
                &self.metrics.datapoint,
            ),
            (
                "logs.resource".into(),
                ContextName::Resource,
                &self.logs.resource,
            ),
            (
                "logs.log_record".into(),
                ContextName::Log,
                &self.logs.log_record,
            ),
        ]
    }

    pub fn bind(&self) -> Result<Vec<(String, Bound)>, Vec<Issue>> {
        let mut issues = Vec::new();
        let mut out = Vec::new();
        for (key, context, list) in self.lists() {
            let mut bound = Bound {
                context,
                conditions: Vec::new(),
            };
            for (i, text) in list.iter().enumerate() {
                match Predicate::parse(text, Some(context)) {
                    Ok(p) => bound.conditions.push(p),
                    Err(e) => issues.push(Issue::new(format!("{key}[{i}]"), e.to_string())),
                }
            }
            if !bound.conditions.is_empty() {
                out.push((key, bound));
            }
        }
        if issues.is_empty() {
            Ok(out)
        } else {
            Err(issues)
        }
    }
}

impl ComponentConfig for FilterConfig {
    fn validate(&self) -> Vec<Issue> {
        let mut issues = self.bind().err().unwrap_or_default();
        let legacy = [
            ("spans", self.spans.is_some()),
            ("metrics.include", self.metrics.include.is_some()),
            ("metrics.exclude", self.metrics.exclude.is_some()),
            ("logs.include", self.logs.include.is_some()),
            ("logs.exclude", self.logs.exclude.is_some()),
        ];
        for (key, given) in legacy {
            if given {
                issues.push(Issue::new(
                    key,
                    "the Collector's older match-property form is not supported; write OTTL conditions, e.g. `traces: {span: ['attributes[\"http.route\"] == \"/health\"']}`",
                ));
            }
        }
        if self.lists().iter().all(|(_, _, l)| l.is_empty())
            && issues.is_empty()
            && self.profiles.is_none()
        {
            issues.push(Issue::new(
                "",
                "lists no conditions; e.g. `traces: {span: ['attributes[\"http.route\"] == \"/health\"']}`",
            ));
        }
        issues
    }
}
