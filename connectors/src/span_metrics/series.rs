//! What one span adds: its duration and count (adjusted by the sampling threshold in its
//! tracestate), and the key and attributes of each series it counts in.

use std::collections::HashMap;

use llamacol_api::otlp::common::v1::{any_value::Value, AnyValue, InstrumentationScope, KeyValue};
use llamacol_api::otlp::trace::v1::{span::SpanKind, status::StatusCode, Span};
use llamacol_api::tracestate::threshold::MAX_ADJUSTED_COUNT;
use llamacol_api::tracestate::W3cTraceState;

use super::config::{
    Dimension, SpanMetricsConfig, COLLECTOR_INSTANCE, SERVICE_NAME, SPAN_KIND, SPAN_NAME,
    STATUS_CODE,
};
use super::glob::Glob;
use super::table::text;

/// Configured dimensions, ready to match.
#[derive(Debug, Default)]
pub struct Dims {
    names: Vec<(String, Option<Value>)>,
    globs: Vec<Glob>,
}

impl Dims {
    /// `config` was validated: a glob that does not compile is left out.
    pub fn new(config: &[Dimension]) -> Dims {
        let mut dims = Dims::default();
        for d in config {
            if d.glob.is_empty() {
                dims.names
                    .push((d.name.clone(), d.default.clone().map(Value::StringValue)));
            } else if let Ok(g) = Glob::new(&d.glob) {
                dims.globs.push(g);
            }
        }
        dims
    }

    /// Each dimension's (name, value) for a span: the span's attribute, else `other`'s
    /// (the resource's, or the resource's and an event's), else the default; then every
    /// span attribute a glob matches, then every such `other` one the span lacks (each in
    /// key order).
    pub fn matched<'a>(
        &'a self,
        span: &'a [KeyValue],
        other: &HashMap<&'a str, &'a KeyValue>,
        out: &mut Vec<(&'a str, &'a Value)>,
    ) {
        let on_span = |name: &str| {
            span.iter()
                .rev()
                .find(|kv| kv.key == name)
                .and_then(|kv| kv.value.as_ref()?.value.as_ref())
        };
        for (name, default) in &self.names {
            let value = on_span(name)
                .or_else(|| {
                    other
                        .get(name.as_str())
                        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
                })
                .or(default.as_ref());
            if let Some(v) = value {
                out.push((name, v));
            }
        }
        if self.globs.is_empty() {
            return;
        }
        let mut span_keys: Vec<&KeyValue> = span.iter().collect();
        span_keys.sort_by(|a, b| a.key.cmp(&b.key));
        span_keys.dedup_by(|a, b| a.key == b.key);
        for kv in span_keys {
            if self.globs.iter().any(|g| g.matches(&kv.key)) {
                if let Some(v) = kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                    out.push((&kv.key, v));
                }
            }
        }
        let mut other_keys: Vec<&&KeyValue> = other.values().collect();
        other_keys.sort_by(|a, b| a.key.cmp(&b.key));
        for kv in other_keys {
            if on_span(&kv.key).is_none() && self.globs.iter().any(|g| g.matches(&kv.key)) {
                if let Some(v) = kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                    out.push((&kv.key, v));
                }
            }
        }
    }
}

pub fn kind_name(kind: i32) -> &'static str {
    match SpanKind::try_from(kind).unwrap_or(SpanKind::Unspecified) {
        SpanKind::Unspecified => "SPAN_KIND_UNSPECIFIED",
        SpanKind::Internal => "SPAN_KIND_INTERNAL",
        SpanKind::Server => "SPAN_KIND_SERVER",
        SpanKind::Client => "SPAN_KIND_CLIENT",
        SpanKind::Producer => "SPAN_KIND_PRODUCER",
        SpanKind::Consumer => "SPAN_KIND_CONSUMER",
    }
}

pub fn status_name(span: &Span) -> &'static str {
    match span.status.as_ref().map(|s| s.code) {
        Some(c) if c == StatusCode::Ok as i32 => "STATUS_CODE_OK",
        Some(c) if c == StatusCode::Error as i32 => "STATUS_CODE_ERROR",
        _ => "STATUS_CODE_UNSET",
    }
}

/// How many spans this one stands for, and whether that was adjusted: 2^56 / (2^56 -
/// threshold) for an `ot=th:` sampling threshold, rounded up or down at random in
/// proportion to the remainder (as the Collector's `stochasticDiv`), else 1.
pub fn adjusted_count(trace_state: &str, random: &mut u64) -> (u64, bool) {
    if !trace_state.contains("ot=") {
        return (1, false);
    }
    let (state, error) = W3cTraceState::parse(trace_state);
    if error.is_some() {
        return (1, false);
    }
    let Some(threshold) = state.ot.threshold() else {
        return (1, false);
    };
    let denominator = MAX_ADJUSTED_COUNT - threshold.0.min(MAX_ADJUSTED_COUNT);
    if denominator == 0 {
        return (1, false);
    }
    let (quotient, remainder) = (
        MAX_ADJUSTED_COUNT / denominator,
        MAX_ADJUSTED_COUNT % denominator,
    );
    // xorshift64*: cheap, and only its distribution matters.
    *random ^= *random << 12;
    *random ^= *random >> 25;
    *random ^= *random << 27;
    let draw = random.wrapping_mul(0x2545_F491_4F6C_DD1D);
    let up = remainder > 0 && draw % denominator < remainder;
    (quotient + u64::from(up), true)
}

/// The span's own parts of every key and attribute set.
pub struct Base<'a> {
    pub service: &'a str,
    pub span: &'a Span,
    pub scope: Option<&'a InstrumentationScope>,
    pub adjusted: bool,
    pub instance_id: &'a str,
}

/// A series' key (as the Collector builds it, plus the scope when its attributes are
/// added, so spans of two scopes never share one series) and its attributes.
pub fn key_and_attributes(
    config: &SpanMetricsConfig,
    base: &Base<'_>,
    dims: &[(&str, &Value)],
    with_attributes: bool,
) -> (String, Vec<KeyValue>) {
    let mut key = String::with_capacity(64);
    let mut attrs = Vec::new();
    let put = |name: &str, value: &str, attrs: &mut Vec<KeyValue>, key: &mut String| {
        if !key.is_empty() {
            key.push('\0');
        }
        key.push_str(value);
        if with_attributes {
            attrs.push(string(name, value));
        }
    };
    if !config.excluded(SERVICE_NAME) {
        put(SERVICE_NAME, base.service, &mut attrs, &mut key);
    }
    if !config.excluded(SPAN_NAME) {
        put(SPAN_NAME, &base.span.name, &mut attrs, &mut key);
    }
    if !config.excluded(SPAN_KIND) {
        put(SPAN_KIND, kind_name(base.span.kind), &mut attrs, &mut key);
    }
    if !config.excluded(STATUS_CODE) {
        put(STATUS_CODE, status_name(base.span), &mut attrs, &mut key);
    }
    if with_attributes && !config.excluded(COLLECTOR_INSTANCE) {
        attrs.push(string(COLLECTOR_INSTANCE, base.instance_id));
    }
    if let Some(scope) = base
        .scope
        .filter(|s| !s.name.is_empty() && config.include_instrumentation_scope.contains(&s.name))
    {
        key.push('\0');
        key.push_str(&scope.name);
        key.push('\0');
        key.push_str(&scope.version);
        if with_attributes {
            attrs.push(string("span.instrumentation.scope.name", &scope.name));
            if !scope.version.is_empty() {
                attrs.push(string("span.instrumentation.scope.version", &scope.version));
            }
        }
    }
    if config.enable_metrics_sampling_method && with_attributes {
        let method = if base.adjusted {
            "extrapolated"
        } else {
            "counted"
        };
        attrs.push(string("sampling.method", method));
    }
    for (name, value) in dims {
        key.push('\0');
        key.push_str(name);
        key.push(':');
        key.push_str(&text(Some(value)));
        if with_attributes {
            attrs.push(KeyValue {
                key: (*name).to_string(),
                value: Some(AnyValue {
                    value: Some((*value).clone()),
                }),
                ..Default::default()
            });
        }
    }
    if config.enable_metrics_sampling_method {
        key.push('\0');
        key.push_str(if base.adjusted {
            "extrapolated"
        } else {
            "counted"
        });
    }
    (key, attrs)
}

fn string(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(value.to_string())),
        }),
        ..Default::default()
    }
}
