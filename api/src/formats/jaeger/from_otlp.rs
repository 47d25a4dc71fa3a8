//! OTLP spans to Jaeger's model, rule for rule as the Collector's
//! `pkg/translator/jaeger` (`ProtoFromTraces`) does it, so Jaeger shows what it shows
//! when the Collector sends. One addition: dropped attribute/event/link counts become
//! `otel.dropped_*_count` tags (the specification's names for non-OTLP exporters),
//! which the Collector leaves out.

use crate::attributes::value_string;
use crate::otlp::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use crate::otlp::resource::v1::Resource;
use crate::otlp::trace::v1::{span, status, ResourceSpans, Span};

use super::model;

/// The service name of a resource that has no attributes at all.
pub const NO_SERVICE_NAME: &str = "OTLPResourceNoServiceName";

/// One Jaeger batch for one OTLP resource; `None` when it holds no span.
pub fn batch(rs: &ResourceSpans) -> Option<model::Batch> {
    let spans: Vec<model::Span> = rs
        .scope_spans
        .iter()
        .flat_map(|ss| {
            ss.spans
                .iter()
                .map(move |s| jaeger_span(s, ss.scope.as_ref()))
        })
        .collect();
    // The Collector's translator: nothing only for a resource with no attributes and no
    // scopes; a resource with attributes but no spans is a batch of its process alone.
    let no_attributes = rs.resource.as_ref().is_none_or(|r| r.attributes.is_empty());
    if no_attributes && rs.scope_spans.is_empty() {
        return None;
    }
    Some(model::Batch {
        spans,
        process: Some(process(rs.resource.as_ref())),
    })
}

/// `service.name` becomes the service; every other resource attribute a process tag.
pub fn process(resource: Option<&Resource>) -> model::Process {
    let attributes = resource.map_or(&[][..], |r| &r.attributes[..]);
    if attributes.is_empty() {
        return model::Process {
            service_name: NO_SERVICE_NAME.into(),
            tags: Vec::new(),
        };
    }
    let mut process = model::Process::default();
    for kv in attributes {
        if kv.key == "service.name" {
            process.service_name = kv.value.as_ref().map(value_string).unwrap_or_default();
        } else {
            process.tags.push(tag(kv));
        }
    }
    process
}

fn jaeger_span(s: &Span, scope: Option<&InstrumentationScope>) -> model::Span {
    let trace_id = id_bytes::<16>(&s.trace_id);
    model::Span {
        references: references(s, &trace_id),
        trace_id,
        span_id: id_bytes::<8>(&s.span_id),
        operation_name: s.name.clone(),
        flags: 0,
        start_time: Some(timestamp(s.start_time_unix_nano)),
        duration: Some(duration(s.start_time_unix_nano, s.end_time_unix_nano)),
        tags: span_tags(s, scope),
        logs: s.events.iter().map(log).collect(),
        process: None,
        process_id: String::new(),
        warnings: Vec::new(),
    }
}

/// The parent as `CHILD_OF`, then the links (`FOLLOWS_FROM` unless the link's
/// `opentracing.ref_type` says `child_of`); a link to the parent only sets its type.
fn references(s: &Span, trace_id: &[u8]) -> Vec<model::SpanRef> {
    let mut refs = Vec::with_capacity(s.links.len() + 1);
    let parent = id_bytes::<8>(&s.parent_span_id);
    let has_parent = parent.iter().any(|b| *b != 0);
    if has_parent {
        refs.push(model::SpanRef {
            trace_id: trace_id.to_vec(),
            span_id: parent.clone(),
            ref_type: model::SpanRefType::ChildOf as i32,
        });
    }
    for link in &s.links {
        let link_trace = id_bytes::<16>(&link.trace_id);
        let link_span = id_bytes::<8>(&link.span_id);
        let ref_type = link
            .attributes
            .iter()
            .find(|kv| kv.key == "opentracing.ref_type")
            .map_or(model::SpanRefType::FollowsFrom, |kv| {
                match kv.value.as_ref().map(value_string).as_deref() {
                    Some("child_of") => model::SpanRefType::ChildOf,
                    _ => model::SpanRefType::FollowsFrom,
                }
            }) as i32;
        if has_parent && link_trace == trace_id && link_span == parent {
            refs[0].ref_type = ref_type;
            continue;
        }
        refs.push(model::SpanRef {
            trace_id: link_trace,
            span_id: link_span,
            ref_type,
        });
    }
    refs
}

/// Scope name/version, the attributes, `span.kind`, `otel.status_code`, `error`,
/// `otel.status_description`, `w3c.tracestate`, then the dropped counts.
fn span_tags(s: &Span, scope: Option<&InstrumentationScope>) -> Vec<model::KeyValue> {
    let mut tags = Vec::with_capacity(s.attributes.len() + 6);
    if let Some(scope) = scope {
        if !scope.name.is_empty() {
            tags.push(string_tag("otel.scope.name", &scope.name));
        }
        if !scope.version.is_empty() {
            tags.push(string_tag("otel.scope.version", &scope.version));
        }
    }
    tags.extend(s.attributes.iter().map(tag));
    let kind = match span::SpanKind::try_from(s.kind) {
        Ok(span::SpanKind::Client) => Some("client"),
        Ok(span::SpanKind::Server) => Some("server"),
        Ok(span::SpanKind::Producer) => Some("producer"),
        Ok(span::SpanKind::Consumer) => Some("consumer"),
        Ok(span::SpanKind::Internal) => Some("internal"),
        _ => None,
    };
    if let Some(kind) = kind {
        tags.push(string_tag("span.kind", kind));
    }
    let code = s
        .status
        .as_ref()
        .and_then(|st| status::StatusCode::try_from(st.code).ok());
    match code {
        Some(status::StatusCode::Error) => {
            tags.push(string_tag("otel.status_code", "ERROR"));
            tags.push(model::KeyValue {
                key: "error".into(),
                v_type: model::ValueType::Bool as i32,
                v_bool: true,
                ..Default::default()
            });
        }
        Some(status::StatusCode::Ok) => tags.push(string_tag("otel.status_code", "OK")),
        _ => {}
    }
    if let Some(message) = s.status.as_ref().map(|st| &st.message) {
        if !message.is_empty() {
            tags.push(string_tag("otel.status_description", message));
        }
    }
    if !s.trace_state.is_empty() {
        tags.push(string_tag("w3c.tracestate", &s.trace_state));
    }
    for (key, count) in [
        ("otel.dropped_attributes_count", s.dropped_attributes_count),
        ("otel.dropped_events_count", s.dropped_events_count),
        ("otel.dropped_links_count", s.dropped_links_count),
    ] {
        if count > 0 {
            tags.push(model::KeyValue {
                key: key.into(),
                v_type: model::ValueType::Int64 as i32,
                v_int64: i64::from(count),
                ..Default::default()
            });
        }
    }
    tags
}

/// An event as a log: its name as the `event` field (unless an attribute has that key),
/// then its attributes.
fn log(event: &span::Event) -> model::Log {
    let mut fields = Vec::with_capacity(event.attributes.len() + 1);
    if !event.name.is_empty() && !event.attributes.iter().any(|kv| kv.key == "event") {
        fields.push(string_tag("event", &event.name));
    }
    fields.extend(event.attributes.iter().map(tag));
    model::Log {
        timestamp: Some(timestamp(event.time_unix_nano)),
        fields,
    }
}

/// Each attribute type as its tag type: bytes as binary, arrays and maps as JSON strings.
pub fn tag(kv: &KeyValue) -> model::KeyValue {
    let mut tag = model::KeyValue {
        key: kv.key.clone(),
        ..Default::default()
    };
    match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => tag.v_str = s.clone(),
        Some(any_value::Value::BoolValue(b)) => {
            tag.v_type = model::ValueType::Bool as i32;
            tag.v_bool = *b;
        }
        Some(any_value::Value::IntValue(i)) => {
            tag.v_type = model::ValueType::Int64 as i32;
            tag.v_int64 = *i;
        }
        Some(any_value::Value::DoubleValue(d)) => {
            tag.v_type = model::ValueType::Float64 as i32;
            tag.v_float64 = *d;
        }
        Some(any_value::Value::BytesValue(b)) => {
            tag.v_type = model::ValueType::Binary as i32;
            tag.v_binary = b.clone();
        }
        Some(v @ (any_value::Value::ArrayValue(_) | any_value::Value::KvlistValue(_))) => {
            tag.v_str = value_string(&AnyValue {
                value: Some(v.clone()),
            });
        }
        // Empty values (and profile dictionary indexes) are empty strings, as the Collector
        // sends them.
        _ => {}
    }
    tag
}

fn string_tag(key: &str, value: &str) -> model::KeyValue {
    model::KeyValue {
        key: key.into(),
        v_str: value.into(),
        ..Default::default()
    }
}

/// An id as Jaeger's fixed-width bytes (right-aligned; empty is all zeros).
fn id_bytes<const N: usize>(id: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; N];
    let take = id.len().min(N);
    out[N - take..].copy_from_slice(&id[id.len() - take..]);
    out
}

fn timestamp(unix_nano: u64) -> model::Timestamp {
    model::Timestamp {
        seconds: (unix_nano / 1_000_000_000) as i64,
        nanos: (unix_nano % 1_000_000_000) as i32,
    }
}

/// `end - start` (negative when the span ends before it starts, as Go's `Sub`).
fn duration(start: u64, end: u64) -> model::Duration {
    let d = i128::from(end) - i128::from(start);
    model::Duration {
        seconds: (d / 1_000_000_000) as i64,
        nanos: (d % 1_000_000_000) as i32,
    }
}
