//! What the format tests read OTLP with.

use crate::otlp::common::v1::{any_value, KeyValue};
use crate::otlp::trace::v1::{ResourceSpans, Span};

pub fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attrs
        .iter()
        .find(|kv| kv.key == key)?
        .value
        .as_ref()?
        .value
        .as_ref()
}

pub fn text(attrs: &[KeyValue], key: &str) -> Option<String> {
    match attr(attrs, key)? {
        any_value::Value::StringValue(s) => Some(s.clone()),
        _ => None,
    }
}

pub fn spans(rs: &[ResourceSpans]) -> Vec<&Span> {
    rs.iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .collect()
}
