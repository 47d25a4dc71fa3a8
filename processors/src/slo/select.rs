//! Which points a rule reads: a metric name and `where` matchers, compiled once.

use std::collections::BTreeMap;

use llamacol_api::attributes::value_string;
use llamacol_api::otlp::common::v1::{any_value, AnyValue, KeyValue};
use regex::Regex;

use super::config::Matcher;

#[derive(Debug)]
pub struct Selector {
    pub metric: String,
    matchers: Vec<(String, Match)>,
}

#[derive(Debug)]
enum Match {
    Equals(String),
    /// Anchored at both ends, as Prometheus's `=~`.
    Regex(Regex),
}

impl Selector {
    /// The config was validated, so every regex compiles; one that does not (a config
    /// built in code) matches nothing.
    pub fn new(metric: &str, matchers: &BTreeMap<String, Matcher>) -> Selector {
        let matchers = matchers
            .iter()
            .map(|(key, m)| {
                let m = match m {
                    Matcher::Equals(v) => Match::Equals(v.text()),
                    Matcher::Regex { regex } => Match::Regex(
                        Regex::new(&format!("^(?:{regex})$"))
                            .unwrap_or_else(|_| Regex::new("[^\\s\\S]").expect("a valid regex")),
                    ),
                };
                (key.clone(), m)
            })
            .collect();
        Selector {
            metric: metric.to_string(),
            matchers,
        }
    }

    /// Whether a point (its attributes, then its resource's) passes every matcher; a
    /// missing attribute is the empty string, as a missing label is in Prometheus.
    pub fn matches(&self, point: &[KeyValue], resource: &[KeyValue]) -> bool {
        self.matchers.iter().all(|(key, m)| {
            let found = find(key, point, resource);
            // Strings (nearly every attribute) are compared without a copy.
            if let Some(any_value::Value::StringValue(s)) = found.and_then(|v| v.value.as_ref()) {
                return match m {
                    Match::Equals(v) => s == v,
                    Match::Regex(r) => r.is_match(s),
                };
            }
            let value = found.map(value_string).unwrap_or_default();
            match m {
                Match::Equals(v) => value == *v,
                Match::Regex(r) => r.is_match(&value),
            }
        })
    }
}

/// An attribute of the point, else of its resource.
pub fn find<'a>(
    key: &str,
    point: &'a [KeyValue],
    resource: &'a [KeyValue],
) -> Option<&'a AnyValue> {
    point
        .iter()
        .chain(resource)
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
}

/// An attribute of the point, else of its resource, as text.
pub fn lookup(key: &str, point: &[KeyValue], resource: &[KeyValue]) -> Option<String> {
    find(key, point, resource).map(value_string)
}
