//! Zipkin v2 spans to OTLP, rule for rule as the Collector's `zipkinv2.ToTranslator`:
//! spans grouped by local service (a resource, with the resource tags of the group's
//! first span) then by `otel.library.name` (a scope); endpoints become `net.*` and
//! `peer.service` attributes; `otel.status_code`/`error` the status; `otlp.link.N` tags
//! links and `name|{json}|dropped` annotations events with attributes.

use crate::otlp::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use crate::otlp::resource::v1::Resource;
use crate::otlp::trace::v1::{span, status, ResourceSpans, ScopeSpans, Span as OtlpSpan, Status};

use crate::attributes::{put, string_value};

use super::{
    ip_string, is_resource_tag, take_tag, Span, Tags, NO_SERVICE_NAME, RESOURCE_TAGS, SCOPE_NAME,
    SCOPE_VERSION, SERVICE_NAME_SOURCE, START_TIME_ABSENT,
};

/// The OTLP resources of a list of spans. `parse_string_tags` types tag values that
/// look like numbers or booleans (the receiver's `parse_string_tags`).
pub fn resource_spans(
    spans: &[Span],
    parse_string_tags: bool,
) -> Result<Vec<ResourceSpans>, String> {
    let mut order: Vec<&Span> = spans.iter().collect();
    order.sort_by(|a, b| {
        local_service(a)
            .cmp(local_service(b))
            .then_with(|| library(a).cmp(library(b)))
    });
    let mut out: Vec<ResourceSpans> = Vec::new();
    let mut previous_service: Option<&str> = None;
    let mut previous_library: Option<&str> = None;
    for s in order {
        let mut tags = s.tags.clone();
        let service = local_service(s);
        if previous_service != Some(service) {
            previous_service = Some(service);
            previous_library = None;
            out.push(ResourceSpans {
                resource: Some(resource(&mut tags, service)),
                ..Default::default()
            });
        }
        let rs = out.last_mut().ok_or("no resource")?;
        let lib = library(s);
        if previous_library != Some(lib) {
            previous_library = Some(lib);
            rs.scope_spans.push(ScopeSpans {
                scope: Some(scope(&mut tags, lib)),
                ..Default::default()
            });
        }
        let ss = rs.scope_spans.last_mut().ok_or("no scope")?;
        ss.spans.push(otlp_span(s, tags, parse_string_tags)?);
    }
    Ok(out)
}

fn local_service(s: &Span) -> &str {
    s.local_endpoint
        .as_ref()
        .map(|e| e.service_name.as_str())
        .filter(|n| !n.is_empty())
        .unwrap_or(NO_SERVICE_NAME)
}

fn library(s: &Span) -> &str {
    s.tag(SCOPE_NAME).unwrap_or("")
}

fn resource(tags: &mut Tags, service: &str) -> Resource {
    let mut resource = Resource::default();
    if service == NO_SERVICE_NAME {
        return resource;
    }
    let source = take_tag(tags, SERVICE_NAME_SOURCE).filter(|s| !s.is_empty());
    resource.attributes.push(crate::attributes::string(
        source.as_deref().unwrap_or("service.name"),
        service,
    ));
    for key in RESOURCE_TAGS
        .iter()
        .filter(|k| **k != SCOPE_NAME && **k != SCOPE_VERSION)
    {
        if let Some(value) = take_tag(tags, key) {
            put(&mut resource.attributes, key, string_value(&value));
        }
    }
    resource
}

fn scope(tags: &mut Tags, library: &str) -> InstrumentationScope {
    let mut scope = InstrumentationScope::default();
    if library.is_empty() {
        return scope;
    }
    if let Some(name) = take_tag(tags, SCOPE_NAME) {
        scope.name = name;
    }
    if let Some(version) = take_tag(tags, SCOPE_VERSION) {
        scope.version = version;
    }
    scope
}

fn otlp_span(s: &Span, mut tags: Tags, parse_string_tags: bool) -> Result<OtlpSpan, String> {
    let mut out = OtlpSpan {
        trace_id: s.trace_id.to_vec(),
        span_id: s.id.to_be_bytes().to_vec(),
        name: s.name.clone(),
        ..Default::default()
    };
    if let Some(state) = take_tag(&mut tags, "w3c.tracestate") {
        out.trace_state = state;
    }
    // A zero parent (zipkin-go writes 8 zero bytes for none) is no parent, as pdata's
    // empty id.
    if let Some(parent) = s.parent_id.filter(|p| *p != s.id && *p != 0) {
        out.parent_span_id = parent.to_be_bytes().to_vec();
    }
    out.kind = kind(&s.kind, &mut tags) as i32;
    out.status = span_status(&mut tags);
    out.links = links(&mut tags)?;
    for (key, value) in tags.iter().filter(|(k, _)| !is_resource_tag(k)) {
        let value = if parse_string_tags {
            typed(value)
        } else {
            string_value(value)
        };
        put(&mut out.attributes, key, value);
    }
    if let Some(e) = &s.local_endpoint {
        for ip in [&e.ipv4, &e.ipv6].into_iter().flatten() {
            put(
                &mut out.attributes,
                "net.host.ip",
                string_value(&ip_string(ip)),
            );
        }
        if e.port > 0 {
            put(
                &mut out.attributes,
                "net.host.port",
                int_any(i64::from(e.port)),
            );
        }
    }
    if let Some(e) = &s.remote_endpoint {
        if !e.service_name.is_empty() {
            put(
                &mut out.attributes,
                "peer.service",
                string_value(&e.service_name),
            );
        }
        for ip in [&e.ipv4, &e.ipv6].into_iter().flatten() {
            put(
                &mut out.attributes,
                "net.peer.ip",
                string_value(&ip_string(ip)),
            );
        }
        if e.port > 0 {
            put(
                &mut out.attributes,
                "net.peer.port",
                int_any(i64::from(e.port)),
            );
        }
    }
    match s.timestamp {
        Some(start) => {
            out.start_time_unix_nano = start;
            out.end_time_unix_nano = start.saturating_add(s.duration);
        }
        None => {
            out.end_time_unix_nano = s.duration;
            put(
                &mut out.attributes,
                START_TIME_ABSENT,
                AnyValue {
                    value: Some(any_value::Value::BoolValue(true)),
                },
            );
        }
    }
    out.events = s.annotations.iter().map(event).collect::<Result<_, _>>()?;
    Ok(out)
}

fn kind(kind: &str, tags: &mut Tags) -> span::SpanKind {
    match kind {
        "CLIENT" => span::SpanKind::Client,
        "SERVER" => span::SpanKind::Server,
        "PRODUCER" => span::SpanKind::Producer,
        "CONSUMER" => span::SpanKind::Consumer,
        _ => match take_tag(tags, "span.kind").as_deref() {
            Some("internal") => span::SpanKind::Internal,
            _ => span::SpanKind::Unspecified,
        },
    }
}

fn span_status(tags: &mut Tags) -> Option<Status> {
    let mut status: Option<Status> = None;
    if let Some(code) = take_tag(tags, "otel.status_code") {
        let code = match code.as_str() {
            "STATUS_CODE_OK" | "Ok" => status::StatusCode::Ok,
            "STATUS_CODE_ERROR" | "Error" => status::StatusCode::Error,
            _ => status::StatusCode::Unset,
        };
        let message = take_tag(tags, "otel.status_description").unwrap_or_default();
        status = Some(Status {
            code: code as i32,
            message,
        });
    }
    if let Some(i) = tags.iter().position(|(k, _)| k == "error") {
        let s = status.get_or_insert_with(Status::default);
        s.code = status::StatusCode::Error as i32;
        if tags[i].1 == "true" {
            tags.remove(i);
        }
    }
    status
}

/// `otlp.link.0`, `otlp.link.1`, ... up to the first one missing (128 at most):
/// `traceid|spanid|tracestate|{json attributes}|dropped`.
fn links(tags: &mut Tags) -> Result<Vec<span::Link>, String> {
    let mut links = Vec::new();
    for i in 0..128 {
        let Some(value) = take_tag(tags, &format!("otlp.link.{i}")) else {
            break;
        };
        let parts: Vec<&str> = value.split('|').collect();
        if parts.len() < 5 {
            continue;
        }
        let json = parts[3..parts.len() - 1].join("|");
        let dropped = parts[parts.len() - 1];
        links.push(span::Link {
            trace_id: hex_id::<16>(parts[0])?,
            span_id: hex_id::<8>(parts[1])?,
            trace_state: parts[2].to_string(),
            attributes: json_attributes(&json)?,
            dropped_attributes_count: dropped
                .parse()
                .map_err(|e| format!("link {i}: dropped count `{dropped}`: {e}"))?,
            ..Default::default()
        });
    }
    Ok(links)
}

/// `name`, or `name|{json attributes}|dropped`.
fn event(a: &super::Annotation) -> Result<span::Event, String> {
    let parts: Vec<&str> = a.value.split('|').collect();
    let mut event = span::Event {
        time_unix_nano: a.timestamp,
        name: parts[0].to_string(),
        ..Default::default()
    };
    if parts.len() >= 3 {
        let json = parts[1..parts.len() - 1].join("|");
        let dropped = parts[parts.len() - 1];
        event.attributes = json_attributes(&json)?;
        event.dropped_attributes_count = dropped
            .parse()
            .map_err(|e| format!("annotation `{}`: dropped count: {e}", a.value))?;
    }
    Ok(event)
}

/// A JSON object's strings, numbers (whole: int) and booleans as attributes; other
/// values are left out, as the Collector leaves them.
fn json_attributes(json: &str) -> Result<Vec<KeyValue>, String> {
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(json).map_err(|e| format!("attributes `{json}`: {e}"))?;
    Ok(map
        .into_iter()
        .filter_map(|(key, v)| {
            let value = match v {
                serde_json::Value::String(s) => any_value::Value::StringValue(s),
                serde_json::Value::Bool(b) => any_value::Value::BoolValue(b),
                serde_json::Value::Number(n) => {
                    let f = n.as_f64()?;
                    if f.fract() == 0.0 {
                        any_value::Value::IntValue(f as i64)
                    } else {
                        any_value::Value::DoubleValue(f)
                    }
                }
                _ => return None,
            };
            Some(crate::attributes::kv_any(
                &key,
                AnyValue { value: Some(value) },
            ))
        })
        .collect())
}

fn hex_id<const N: usize>(hex: &str) -> Result<Vec<u8>, String> {
    let hex = hex.trim_matches('"');
    if hex.is_empty() {
        return Ok(vec![0; N]);
    }
    if hex.len() != N * 2 {
        return Err("invalid length for ID".into());
    }
    crate::wire::unhex(hex).ok_or_else(|| format!("cannot unmarshal ID from string '{hex}'"))
}

/// `parse_string_tags`: the Collector's `DetermineValueType` regexes, in its order.
pub fn typed(value: &str) -> AnyValue {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let unsigned = value.strip_prefix('-').unwrap_or(value);
    let v = if value.is_empty() {
        any_value::Value::StringValue(String::new())
    } else if digits(unsigned) {
        // Go ignores the parse error: out of range is 0.
        any_value::Value::IntValue(value.parse().unwrap_or(0))
    } else if unsigned
        .split_once('.')
        .is_some_and(|(a, b)| digits(a) && digits(b))
    {
        any_value::Value::DoubleValue(value.parse().unwrap_or(0.0))
    } else if value == "true" || value == "false" {
        any_value::Value::BoolValue(value == "true")
    } else {
        any_value::Value::StringValue(value.to_string())
    };
    AnyValue { value: Some(v) }
}

fn int_any(i: i64) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::IntValue(i)),
    }
}
