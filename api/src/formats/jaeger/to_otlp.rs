//! Jaeger's model to OTLP, rule for rule as the Collector's `pkg/translator/jaeger`
//! (`ProtoToTraces` for gRPC, `ThriftToTraces` for the agents' UDP ports and the HTTP
//! endpoint), so the same Jaeger client gives the same OTLP through llamacol as through
//! the Collector's `jaeger` receiver. The two paths differ where the Collector's do:
//! only the protobuf one regroups spans by their own process, reads the scope from
//! `otel.scope.name`/`otel.scope.version` tags and the trace state from
//! `w3c.tracestate`.

use crate::otlp::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use crate::otlp::resource::v1::Resource;
use crate::otlp::trace::v1::{span, status, ResourceSpans, ScopeSpans, Span, Status};

use crate::attributes::{find, put, str_of, string_value, take};

use super::model::{self, SpanRefType, ValueType};
use super::{Flavor, NO_SERVICE_NAME};

/// A span with its parent as the thrift model names it (the protobuf model has only
/// references).
pub struct JaegerSpan<'a> {
    pub span: &'a model::Span,
    /// Thrift's `parentSpanId` when not zero.
    pub parent: Option<[u8; 8]>,
}

/// The OTLP resources of one Jaeger batch (`PostSpans` or an agent's `emitBatch`).
pub fn resource_spans(
    batch: &model::Batch,
    parents: &[Option<[u8; 8]>],
    flavor: Flavor,
) -> Vec<ResourceSpans> {
    let spans: Vec<JaegerSpan> = batch
        .spans
        .iter()
        .enumerate()
        .map(|(i, span)| JaegerSpan {
            span,
            parent: parents.get(i).copied().flatten(),
        })
        .collect();
    match flavor {
        Flavor::Thrift => {
            if batch.process.is_none() && spans.is_empty() {
                return Vec::new();
            }
            let mut rs = ResourceSpans {
                resource: Some(resource(batch.process.as_ref(), flavor)),
                ..Default::default()
            };
            if !spans.is_empty() {
                rs.scope_spans.push(ScopeSpans {
                    spans: spans
                        .iter()
                        .filter(|s| !blank(s.span))
                        .map(|s| otlp_span(s, flavor))
                        .collect(),
                    ..Default::default()
                });
            }
            vec![rs]
        }
        Flavor::Proto => regroup(batch.process.as_ref(), &spans)
            .into_iter()
            .filter(|(process, spans)| process.is_some() || !spans.is_empty())
            .map(|(process, spans)| {
                let mut rs = ResourceSpans {
                    resource: Some(resource(process, flavor)),
                    ..Default::default()
                };
                rs.scope_spans = by_scope(&spans);
                rs
            })
            .collect(),
    }
}

/// Spans by the process they name (their own, else the batch's), in first-seen order.
fn regroup<'a>(
    batch_process: Option<&'a model::Process>,
    spans: &'a [JaegerSpan<'a>],
) -> Vec<(Option<&'a model::Process>, Vec<&'a JaegerSpan<'a>>)> {
    let mut groups: Vec<(Option<&model::Process>, Vec<&JaegerSpan>)> =
        vec![(batch_process, Vec::new())];
    for s in spans {
        let process = s.span.process.as_ref().or(batch_process);
        match groups.iter_mut().find(|(p, _)| same_process(*p, process)) {
            Some((_, group)) => group.push(s),
            None => groups.push((process, vec![s])),
        }
    }
    groups
}

/// The same process: most spans point at the batch's own (compared by address, without
/// walking its tags); a span's own process is compared by value.
fn same_process(a: Option<&model::Process>, b: Option<&model::Process>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => std::ptr::eq(a, b) || a == b,
        (None, None) => true,
        _ => false,
    }
}

/// The protobuf path's scopes: `otel.scope.name`/`otel.scope.version` tags, taken off
/// the span, group the spans (first-seen order).
fn by_scope(spans: &[&JaegerSpan]) -> Vec<ScopeSpans> {
    let mut scopes: Vec<ScopeSpans> = Vec::new();
    for s in spans.iter().filter(|s| !blank(s.span)) {
        let mut span = otlp_span(s, Flavor::Proto);
        let (name, version) = take_scope(&mut span.attributes);
        let scope = InstrumentationScope {
            name,
            version,
            ..Default::default()
        };
        match scopes
            .iter_mut()
            .find(|ss| ss.scope.as_ref() == Some(&scope))
        {
            Some(ss) => ss.spans.push(span),
            None => scopes.push(ScopeSpans {
                scope: Some(scope),
                spans: vec![span],
                ..Default::default()
            }),
        }
    }
    scopes
}

fn take_scope(attributes: &mut Vec<KeyValue>) -> (String, String) {
    let Some(name) = take(attributes, "otel.scope.name") else {
        return Default::default();
    };
    let version = take(attributes, "otel.scope.version")
        .map(|v| str_of(&v).to_string())
        .unwrap_or_default();
    (str_of(&name).to_string(), version)
}

/// A span all of whose fields are unset: the Collector skips it.
fn blank(span: &model::Span) -> bool {
    *span == model::Span::default()
}

fn resource(process: Option<&model::Process>, flavor: Flavor) -> Resource {
    let mut resource = Resource::default();
    let Some(process) = process else {
        return resource;
    };
    if flavor == Flavor::Proto && process.service_name == NO_SERVICE_NAME {
        return resource;
    }
    if process.service_name.is_empty() && process.tags.is_empty() {
        return resource;
    }
    let attrs = &mut resource.attributes;
    if !process.service_name.is_empty() {
        put(attrs, "service.name", string_value(&process.service_name));
    }
    for tag in &process.tags {
        put(attrs, &tag.key, tag_value(tag));
    }
    if find(attrs, "host.name").is_none() {
        if let Some(hostname) = take(attrs, "hostname") {
            put(attrs, "host.name", hostname);
        }
    }
    if find(attrs, "opencensus.exporterversion").is_none() {
        if let Some(version) = take(attrs, "jaeger.version") {
            let v = format!("Jaeger-{}", str_of(&version));
            put(attrs, "opencensus.exporterversion", string_value(&v));
        }
    }
    resource
}

fn otlp_span(s: &JaegerSpan, flavor: Flavor) -> Span {
    let span = s.span;
    let start = nanos(span.start_time.map(|t| (t.seconds, t.nanos)));
    let duration = nanos(span.duration.map(|d| (d.seconds, d.nanos)));
    let trace_id = trace_id(&span.trace_id);
    let parent = s.parent.or_else(|| parent_from_references(span, &trace_id));
    let mut out = Span {
        trace_id: trace_id.to_vec(),
        span_id: span_id(&span.span_id).to_vec(),
        name: span.operation_name.clone(),
        start_time_unix_nano: start,
        end_time_unix_nano: start.wrapping_add(duration),
        parent_span_id: parent.map(|p| p.to_vec()).unwrap_or_default(),
        ..Default::default()
    };
    let attrs = &mut out.attributes;
    for tag in &span.tags {
        put(attrs, &tag.key, tag_value(tag));
    }
    if let Some(kind) = take(attrs, "span.kind") {
        out.kind = span_kind(str_of(&kind)) as i32;
    }
    out.status = span_status(&mut out.attributes, out.kind);
    if flavor == Flavor::Proto {
        if let Some(state) = take(&mut out.attributes, "w3c.tracestate") {
            out.trace_state = str_of(&state).to_string();
        }
    }
    out.events = span.logs.iter().map(event).collect();
    out.links = links(&span.references, parent.unwrap_or_default());
    out
}

/// The first `CHILD_OF` reference in the span's own trace, else the first `FOLLOWS_FROM`
/// there (Jaeger's `Span.ParentSpanID`).
fn parent_from_references(span: &model::Span, trace_id: &[u8; 16]) -> Option<[u8; 8]> {
    let same_trace = span
        .references
        .iter()
        .filter(|r| self::trace_id(&r.trace_id) == *trace_id);
    let parent = same_trace
        .clone()
        .find(|r| r.ref_type == SpanRefType::ChildOf as i32)
        .or_else(|| {
            same_trace
                .clone()
                .find(|r| r.ref_type == SpanRefType::FollowsFrom as i32)
        })?;
    let id = span_id(&parent.span_id);
    (id != [0; 8]).then_some(id)
}

fn links(refs: &[model::SpanRef], parent: [u8; 8]) -> Vec<span::Link> {
    let is_parent = |r: &model::SpanRef| {
        span_id(&r.span_id) == parent && r.ref_type == SpanRefType::ChildOf as i32
    };
    refs.iter()
        .filter(|r| !is_parent(r))
        .map(|r| span::Link {
            trace_id: trace_id(&r.trace_id).to_vec(),
            span_id: span_id(&r.span_id).to_vec(),
            attributes: vec![crate::attributes::string(
                "opentracing.ref_type",
                if r.ref_type == SpanRefType::ChildOf as i32 {
                    "child_of"
                } else {
                    "follows_from"
                },
            )],
            ..Default::default()
        })
        .collect()
}

fn event(log: &model::Log) -> span::Event {
    let mut event = span::Event {
        time_unix_nano: nanos(log.timestamp.map(|t| (t.seconds, t.nanos))),
        ..Default::default()
    };
    for field in &log.fields {
        put(&mut event.attributes, &field.key, tag_value(field));
    }
    if let Some(name) = take(&mut event.attributes, "event") {
        event.name = str_of(&name).to_string();
    }
    event
}

fn span_kind(kind: &str) -> span::SpanKind {
    match kind {
        "client" => span::SpanKind::Client,
        "server" => span::SpanKind::Server,
        "producer" => span::SpanKind::Producer,
        "consumer" => span::SpanKind::Consumer,
        "internal" => span::SpanKind::Internal,
        _ => span::SpanKind::Unspecified,
    }
}

/// `error: true`, `otel.status_code` or an HTTP status code, in that order (the
/// Collector's `setInternalSpanStatus`); the tags it reads are taken off the span.
fn span_status(attrs: &mut Vec<KeyValue>, kind: i32) -> Option<Status> {
    let mut code = status::StatusCode::Unset;
    let mut message = String::new();
    let mut exists = false;
    if matches!(
        find(attrs, "error").and_then(|v| v.value.as_ref()),
        Some(any_value::Value::BoolValue(true))
    ) {
        take(attrs, "error");
        code = status::StatusCode::Error;
        exists = true;
        if let Some(description) = take(attrs, "otel.status_description") {
            message = str_of(&description).to_string();
        } else if let Some(msg) = find(attrs, "http.status_message") {
            message = str_of(msg).to_string();
        }
    }
    if let Some(otel_code) = take(attrs, "otel.status_code") {
        if !exists {
            exists = true;
            code = match str_of(&otel_code).to_uppercase().as_str() {
                "OK" => status::StatusCode::Ok,
                "ERROR" => status::StatusCode::Error,
                _ => status::StatusCode::Unset,
            };
            if let Some(description) = take(attrs, "otel.status_description") {
                message = str_of(&description).to_string();
            }
        }
    } else if !exists {
        if let Some(http_code) = find(attrs, "http.status_code").and_then(http_status) {
            let from_http = match http_code {
                400..=499 if kind == span::SpanKind::Client as i32 => status::StatusCode::Error,
                400..=499 if kind == span::SpanKind::Server as i32 => status::StatusCode::Unset,
                100..=398 => status::StatusCode::Unset,
                _ => status::StatusCode::Error,
            };
            if from_http != status::StatusCode::Unset {
                exists = true;
                code = from_http;
            }
            if let Some(msg) = find(attrs, "http.status_message") {
                message = str_of(msg).to_string();
            }
        }
    }
    exists.then_some(Status {
        code: code as i32,
        message,
    })
}

fn http_status(v: &AnyValue) -> Option<i64> {
    match v.value.as_ref()? {
        any_value::Value::IntValue(i) => Some(*i),
        any_value::Value::StringValue(s) => s.parse().ok(),
        _ => None,
    }
}

/// A tag's value with its type; an unknown type is kept as the Collector writes it.
pub fn tag_value(tag: &model::KeyValue) -> AnyValue {
    let value = match ValueType::try_from(tag.v_type) {
        Ok(ValueType::String) => any_value::Value::StringValue(tag.v_str.clone()),
        Ok(ValueType::Bool) => any_value::Value::BoolValue(tag.v_bool),
        Ok(ValueType::Int64) => any_value::Value::IntValue(tag.v_int64),
        Ok(ValueType::Float64) => any_value::Value::DoubleValue(tag.v_float64),
        Ok(ValueType::Binary) => any_value::Value::BytesValue(tag.v_binary.clone()),
        Err(_) => any_value::Value::StringValue(format!(
            "<Unknown Jaeger TagType \"{}\">",
            unknown_type_name(tag.v_type)
        )),
    };
    AnyValue { value: Some(value) }
}

/// How Go's generated enums print an unknown value: protobuf's as the number, thrift's
/// (kept here as a negative number) as `<UNSET>`.
fn unknown_type_name(v_type: i32) -> String {
    if v_type < 0 {
        "<UNSET>".into()
    } else {
        v_type.to_string()
    }
}

fn nanos(t: Option<(i64, i32)>) -> u64 {
    t.map_or(0, |(s, n)| {
        (s as u64)
            .wrapping_mul(1_000_000_000)
            .wrapping_add(n as u64)
    })
}

/// A Jaeger trace id: 16 bytes, or 8 (a 64-bit id: the high half is zero).
pub fn trace_id(bytes: &[u8]) -> [u8; 16] {
    let mut id = [0; 16];
    let n = bytes.len().min(16);
    id[16 - n..].copy_from_slice(&bytes[bytes.len() - n..]);
    id
}

pub fn span_id(bytes: &[u8]) -> [u8; 8] {
    let mut id = [0; 8];
    let n = bytes.len().min(8);
    id[8 - n..].copy_from_slice(&bytes[bytes.len() - n..]);
    id
}
