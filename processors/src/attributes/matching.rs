//! `include` / `exclude`: which spans, log records and metric points the actions touch,
//! as the Collector's match properties (`internal/filter/filterconfig`): every property
//! given must match (services, span names and kinds, log bodies and severity texts,
//! metric names: any of a list; attributes, resources, libraries: all of a list),
//! `strict` or `regexp` (unanchored, as Go's `MatchString`).

// The span kinds by number, as `span_kinds` names them (OTTL's enum names).
use llamacol_api::config::Issue;
use llamacol_api::otlp::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use llamacol_api::ottl::item::SPAN_KIND_ENUMS as KINDS;
use llamacol_api::serde_yaml;
use regex::Regex;
use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MatchConfig {
    /// `strict` (equal) or `regexp`.
    pub match_type: String,
    /// `service.name` of the resource.
    pub services: Vec<String>,
    pub span_names: Vec<String>,
    /// `SPAN_KIND_SERVER` ... as the Collector spells them.
    pub span_kinds: Vec<String>,
    pub log_bodies: Vec<String>,
    pub log_severity_texts: Vec<String>,
    pub metric_names: Vec<String>,
    /// The item's own attributes, each present (and equal to `value` when given).
    pub attributes: Vec<AttributeMatch>,
    /// The resource's attributes, as `attributes`.
    pub resources: Vec<AttributeMatch>,
    /// Instrumentation scopes by name (and version when given).
    pub libraries: Vec<Library>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeMatch {
    pub key: String,
    #[serde(default)]
    pub value: Option<serde_yaml::Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Library {
    pub name: String,
    #[serde(default)]
    pub version: Option<String>,
}

impl MatchConfig {
    /// The Collector's per-signal rules (`filterconfig` `ValidateForSpans/Logs/Metrics`),
    /// with its messages.
    pub fn check_for(&self, signal: llamacol_api::Signal) -> Option<&'static str> {
        use llamacol_api::Signal;
        match signal {
            Signal::Traces => {
                if !self.log_bodies.is_empty() {
                    Some("log_bodies should not be specified for trace spans")
                } else if !self.log_severity_texts.is_empty() {
                    Some("log_severity_texts should not be specified for trace spans")
                } else if !self.metric_names.is_empty() {
                    Some("metric_names should not be specified for trace spans")
                } else if self.services.is_empty()
                    && self.span_names.is_empty()
                    && self.attributes.is_empty()
                    && self.libraries.is_empty()
                    && self.resources.is_empty()
                    && self.span_kinds.is_empty()
                {
                    Some("at least one of \"attributes\", \"libraries\",  or \"resources\" field must be specified")
                } else {
                    None
                }
            }
            Signal::Logs => {
                if !(self.span_names.is_empty()
                    && self.services.is_empty()
                    && self.span_kinds.is_empty()
                    && self.metric_names.is_empty())
                {
                    Some("services, span_names, span_kinds and metric_names are not valid for log records")
                } else if self.attributes.is_empty()
                    && self.libraries.is_empty()
                    && self.resources.is_empty()
                    && self.log_bodies.is_empty()
                    && self.log_severity_texts.is_empty()
                {
                    Some("at least one of \"attributes\", \"libraries\", \"span_kinds\", \"resources\", \"log_bodies\", \"log_severity_texts\" or \"log_severity_number\" field must be specified")
                } else {
                    None
                }
            }
            Signal::Metrics => {
                if !(self.span_names.is_empty()
                    && self.span_kinds.is_empty()
                    && self.log_bodies.is_empty()
                    && self.log_severity_texts.is_empty()
                    && self.services.is_empty()
                    && self.attributes.is_empty()
                    && self.libraries.is_empty())
                {
                    Some("\"span_names\", \"span_kinds\", \"log_bodies\", \"log_severity_texts\", \"log_severity_number\", \"services\", \"attributes\" and \"libraries\" are not valid for metrics")
                } else if self.metric_names.is_empty() && self.resources.is_empty() {
                    Some(
                        "at least one of \"metric_names\" or \"resources\" field must be specified",
                    )
                } else {
                    None
                }
            }
        }
    }
}

/// What one item offers to match on.
#[derive(Default)]
pub struct Subject<'a> {
    pub resource: &'a [KeyValue],
    pub scope: Option<&'a InstrumentationScope>,
    pub attributes: &'a [KeyValue],
    pub span: Option<(&'a str, i32)>,
    pub log: Option<(Option<&'a AnyValue>, &'a str)>,
    pub metric_name: Option<&'a str>,
}

enum Text {
    Strict(String),
    Regexp(Regex),
}

impl Text {
    fn matches(&self, s: &str) -> bool {
        match self {
            Text::Strict(t) => t == s,
            Text::Regexp(r) => r.is_match(s),
        }
    }
}

/// Match properties ready to test.
pub struct Matcher {
    services: Vec<Text>,
    span_names: Vec<Text>,
    span_kinds: Vec<i32>,
    log_bodies: Vec<Text>,
    severity_texts: Vec<Text>,
    metric_names: Vec<Text>,
    attributes: Vec<(String, Option<Text>, Option<AnyValue>)>,
    resources: Vec<(String, Option<Text>, Option<AnyValue>)>,
    libraries: Vec<(Text, Option<Text>)>,
}

impl Matcher {
    pub fn new(path: &str, c: &MatchConfig) -> Result<Matcher, Vec<Issue>> {
        let mut issues = Vec::new();
        let regexp = match c.match_type.as_str() {
            "strict" => false,
            "regexp" => true,
            other => {
                issues.push(Issue::new(
                    format!("{path}.match_type"),
                    format!("{other:?}: give `strict` or `regexp`"),
                ));
                false
            }
        };
        let mut text = |field: &str, s: &str| -> Option<Text> {
            if !regexp {
                return Some(Text::Strict(s.to_string()));
            }
            match Regex::new(s) {
                Ok(r) => Some(Text::Regexp(r)),
                Err(e) => {
                    issues.push(Issue::new(
                        format!("{path}.{field}"),
                        format!("invalid regexp {s:?}: {e}"),
                    ));
                    None
                }
            }
        };
        let mut list = |field: &str, items: &[String]| -> Vec<Text> {
            items.iter().filter_map(|s| text(field, s)).collect()
        };
        let services = list("services", &c.services);
        let span_names = list("span_names", &c.span_names);
        let log_bodies = list("log_bodies", &c.log_bodies);
        let severity_texts = list("log_severity_texts", &c.log_severity_texts);
        let metric_names = list("metric_names", &c.metric_names);
        let mut attrs = |field: &str, items: &[AttributeMatch]| {
            items
                .iter()
                .map(|a| {
                    let value = a
                        .value
                        .as_ref()
                        .and_then(llamacol_api::attraction::yaml_value);
                    let pattern = match (&value, regexp) {
                        (
                            Some(AnyValue {
                                value: Some(any_value::Value::StringValue(s)),
                            }),
                            true,
                        ) => text(field, s),
                        _ => None,
                    };
                    (a.key.clone(), pattern, value)
                })
                .collect::<Vec<_>>()
        };
        let attributes = attrs("attributes", &c.attributes);
        let resources = attrs("resources", &c.resources);
        let libraries = c
            .libraries
            .iter()
            .filter_map(|l| {
                Some((
                    text("libraries", &l.name)?,
                    l.version.as_ref().and_then(|v| text("libraries", v)),
                ))
            })
            .collect();
        let mut span_kinds = Vec::new();
        for k in &c.span_kinds {
            match KINDS.iter().position(|n| n == k) {
                Some(i) => span_kinds.push(i as i32),
                None => issues.push(Issue::new(
                    format!("{path}.span_kinds"),
                    format!("{k:?} is not a span kind; use one of {}", KINDS.join(", ")),
                )),
            }
        }
        if issues.is_empty() {
            Ok(Matcher {
                services,
                span_names,
                span_kinds,
                log_bodies,
                severity_texts,
                metric_names,
                attributes,
                resources,
                libraries,
            })
        } else {
            Err(issues)
        }
    }

    pub fn matches(&self, s: &Subject) -> bool {
        let any = |list: &[Text], value: Option<&str>| {
            list.is_empty() || value.is_some_and(|v| list.iter().any(|t| t.matches(v)))
        };
        let service = s
            .resource
            .iter()
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                any_value::Value::StringValue(v) => Some(v.as_str()),
                _ => None,
            });
        let body = s
            .log
            .and_then(|(b, _)| b)
            .map(llamacol_api::ottl::functions::types::as_go_string);
        any(&self.services, service)
            && any(&self.span_names, s.span.map(|(n, _)| n))
            && (self.span_kinds.is_empty()
                || s.span.is_some_and(|(_, k)| self.span_kinds.contains(&k)))
            && any(&self.log_bodies, body.as_deref())
            && any(&self.severity_texts, s.log.map(|(_, t)| t))
            && any(&self.metric_names, s.metric_name)
            && attributes_match(&self.attributes, s.attributes)
            && attributes_match(&self.resources, s.resource)
            && (self.libraries.is_empty()
                || s.scope.is_some_and(|scope| {
                    self.libraries.iter().any(|(name, version)| {
                        name.matches(&scope.name)
                            && version.as_ref().is_none_or(|v| v.matches(&scope.version))
                    })
                }))
    }
}

fn attributes_match(
    wanted: &[(String, Option<Text>, Option<AnyValue>)],
    attrs: &[KeyValue],
) -> bool {
    wanted.iter().all(|(key, pattern, value)| {
        let Some(found) = attrs.iter().find(|kv| kv.key == *key) else {
            return false;
        };
        match (pattern, value) {
            (Some(p), _) => match found.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(any_value::Value::StringValue(s)) => p.matches(s),
                _ => false,
            },
            (None, Some(v)) => found.value.as_ref() == Some(v),
            (None, None) => true,
        }
    })
}
