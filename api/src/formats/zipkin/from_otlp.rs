//! OTLP to Zipkin v2 spans, rule for rule as the Collector's `zipkinv2.FromTranslator`:
//! the resource's service name (or `faas.name`, `k8s.deployment.name`,
//! `process.executable.name`, with `otlp.service.name.source` saying which) is the
//! local endpoint's; resource, scope and span attributes become string tags; `net.*`
//! attributes and `peer.service` become the endpoints; events become annotations and
//! links `otlp.link.N` tags, in the forms [`super::to_otlp`] reads back.

use base64::Engine;

use crate::attributes::value_string;
use crate::otlp::common::v1::{any_value, AnyValue, KeyValue};
use crate::otlp::resource::v1::Resource;
use crate::otlp::trace::v1::{span, status, ResourceSpans, Span as OtlpSpan};
use crate::wire::hex;

use super::{
    set_tag, take_tag, Annotation, Endpoint, Span, Tags, NO_SERVICE_NAME, SCOPE_NAME,
    SCOPE_VERSION, SERVICE_NAME_SOURCE,
};

/// Every span of `resource_spans` as a Zipkin span. A span without a trace or span id
/// cannot be written: the error names it.
pub fn spans(resource_spans: &[ResourceSpans]) -> Result<Vec<Span>, String> {
    let mut out = Vec::new();
    for rs in resource_spans {
        let attributes = rs.resource.as_ref().map_or(&[][..], |r| &r.attributes[..]);
        if attributes.is_empty() && rs.scope_spans.is_empty() {
            continue;
        }
        let (service, mut tags) = service_and_tags(rs.resource.as_ref());
        for ss in &rs.scope_spans {
            // As the Collector: a scope's tags stay for the scopes after it.
            if let Some(scope) = &ss.scope {
                for kv in &scope.attributes {
                    set_tag(&mut tags, &kv.key, as_string(kv.value.as_ref()));
                }
                if !scope.name.is_empty() {
                    set_tag(&mut tags, SCOPE_NAME, scope.name.clone());
                }
                if !scope.version.is_empty() {
                    set_tag(&mut tags, SCOPE_VERSION, scope.version.clone());
                }
            }
            for s in &ss.spans {
                out.push(zipkin_span(s, &service, &tags)?);
            }
        }
    }
    Ok(out)
}

fn service_and_tags(resource: Option<&Resource>) -> (String, Tags) {
    let mut tags: Tags = Vec::new();
    for kv in resource.map_or(&[][..], |r| &r.attributes[..]) {
        set_tag(&mut tags, &kv.key, as_string(kv.value.as_ref()));
    }
    if tags.is_empty() {
        return (NO_SERVICE_NAME.into(), tags);
    }
    if let Some(name) = take_tag(&mut tags, "service.name") {
        return (name, tags);
    }
    for source in [
        "faas.name",
        "k8s.deployment.name",
        "process.executable.name",
    ] {
        if let Some(name) = take_tag(&mut tags, source) {
            set_tag(&mut tags, SERVICE_NAME_SOURCE, source.into());
            return (name, tags);
        }
    }
    (NO_SERVICE_NAME.into(), tags)
}

fn zipkin_span(s: &OtlpSpan, service: &str, base: &Tags) -> Result<Span, String> {
    let mut tags = base.clone();
    for kv in &s.attributes {
        set_tag(&mut tags, &kv.key, as_string(kv.value.as_ref()));
    }
    let trace_id = <[u8; 16]>::try_from(s.trace_id.as_slice())
        .ok()
        .filter(|id| *id != [0; 16])
        .ok_or_else(|| format!("span `{}`: TraceID is invalid", s.name))?;
    let id = <[u8; 8]>::try_from(s.span_id.as_slice())
        .ok()
        .filter(|id| *id != [0; 8])
        .ok_or_else(|| format!("span `{}`: SpanID is invalid", s.name))?;
    if !s.trace_state.is_empty() {
        set_tag(&mut tags, "w3c.tracestate", s.trace_state.clone());
    }
    let parent_id = <[u8; 8]>::try_from(s.parent_span_id.as_slice())
        .ok()
        .filter(|p| *p != [0; 8])
        .map(u64::from_be_bytes);
    let kind = match span::SpanKind::try_from(s.kind) {
        Ok(span::SpanKind::Client) => "CLIENT",
        Ok(span::SpanKind::Server) => "SERVER",
        Ok(span::SpanKind::Producer) => "PRODUCER",
        Ok(span::SpanKind::Consumer) => "CONSUMER",
        Ok(span::SpanKind::Internal) => {
            set_tag(&mut tags, "span.kind", "internal".into());
            ""
        }
        _ => "",
    };
    let mut redundant = Vec::new();
    let local_endpoint = endpoint(&tags, service, false, &mut redundant);
    let remote_endpoint = endpoint(&tags, "", true, &mut redundant);
    tags.retain(|(k, _)| !redundant.contains(k));
    set_status(s.status.as_ref(), &mut tags);
    let annotations = s.events.iter().map(annotation).collect();
    for (i, link) in s.links.iter().enumerate() {
        let value = format!(
            "{}|{}|{}|{}|{}",
            hex(&link.trace_id),
            hex(&link.span_id),
            link.trace_state,
            json_object(&link.attributes),
            link.dropped_attributes_count
        );
        set_tag(&mut tags, &format!("otlp.link.{i}"), value);
    }
    Ok(Span {
        trace_id,
        id: u64::from_be_bytes(id),
        parent_id,
        debug: false,
        name: s.name.clone(),
        kind: kind.into(),
        // Go's `startTime.Unix() != 0`: a start in the epoch's first second is "none".
        timestamp: (s.start_time_unix_nano >= 1_000_000_000).then_some(s.start_time_unix_nano),
        // A negative duration is not writable: zero (the Collector fails the request).
        duration: if s.end_time_unix_nano == 0 {
            0
        } else {
            s.end_time_unix_nano.saturating_sub(s.start_time_unix_nano)
        },
        shared: false,
        local_endpoint,
        remote_endpoint,
        annotations,
        tags,
    })
}

/// The Collector's `zipkinEndpointFromTags`: the keys it reads are noted as redundant.
fn endpoint(
    tags: &Tags,
    local_service: &str,
    remote: bool,
    redundant: &mut Vec<String>,
) -> Option<Endpoint> {
    let get = |k: &str| {
        tags.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    let mut service = local_service.to_string();
    if remote {
        if let Some(peer) = get("peer.service") {
            service = peer.to_string();
            redundant.push("peer.service".into());
        }
    }
    let (ip_key, port_key) = if remote {
        ("net.peer.ip", "net.peer.port")
    } else {
        ("net.host.ip", "net.host.port")
    };
    let mut ip = None;
    let mut ipv6 = false;
    if let Some(s) = get(ip_key) {
        ipv6 = s.contains(':');
        ip = s.parse::<std::net::IpAddr>().ok();
        redundant.push(ip_key.into());
    }
    let mut port = 0;
    if let Some(p) = get(port_key) {
        port = p.parse().unwrap_or(0);
        redundant.push(port_key.into());
    }
    if service.is_empty() && ip.is_none() {
        return None;
    }
    let mut endpoint = Endpoint {
        service_name: service,
        port,
        ..Default::default()
    };
    if ipv6 {
        endpoint.ipv6 = ip;
    } else {
        endpoint.ipv4 = ip;
    }
    Some(endpoint)
}

fn set_status(s: Option<&crate::otlp::trace::v1::Status>, tags: &mut Tags) {
    let code = s.map_or(0, |s| s.code);
    if code == status::StatusCode::Error as i32 {
        set_tag(tags, "error", "true".into());
    } else {
        take_tag(tags, "error");
    }
    let name = match status::StatusCode::try_from(code) {
        Ok(status::StatusCode::Ok) => "Ok",
        Ok(status::StatusCode::Error) => "Error",
        _ => return,
    };
    set_tag(tags, "otel.status_code", name.into());
    if let Some(message) = s.map(|s| &s.message).filter(|m| !m.is_empty()) {
        set_tag(tags, "otel.status_description", message.clone());
    }
}

fn annotation(e: &span::Event) -> Annotation {
    let value = if e.attributes.is_empty() && e.dropped_attributes_count == 0 {
        e.name.clone()
    } else {
        format!(
            "{}|{}|{}",
            e.name,
            json_object(&e.attributes),
            e.dropped_attributes_count
        )
    };
    Annotation {
        timestamp: e.time_unix_nano,
        value,
    }
}

/// Attributes as a JSON object, keys sorted (Go's `json.Marshal` of a map).
fn json_object(attributes: &[KeyValue]) -> String {
    let map: serde_json::Map<String, serde_json::Value> = attributes
        .iter()
        .map(|kv| {
            (
                kv.key.clone(),
                kv.value.as_ref().map_or(serde_json::Value::Null, raw),
            )
        })
        .collect();
    serde_json::Value::Object(map).to_string()
}

/// pcommon's `AsRaw` as JSON: bytes are base64, as Go marshals a byte slice.
fn raw(v: &AnyValue) -> serde_json::Value {
    use serde_json::Value;
    match &v.value {
        Some(any_value::Value::StringValue(s)) => s.clone().into(),
        Some(any_value::Value::BoolValue(b)) => (*b).into(),
        Some(any_value::Value::IntValue(i)) => (*i).into(),
        Some(any_value::Value::DoubleValue(d)) => (*d).into(),
        Some(any_value::Value::BytesValue(b)) => {
            base64::engine::general_purpose::STANDARD.encode(b).into()
        }
        Some(any_value::Value::ArrayValue(a)) => Value::Array(a.values.iter().map(raw).collect()),
        Some(any_value::Value::KvlistValue(l)) => Value::Object(
            l.values
                .iter()
                .map(|kv| (kv.key.clone(), kv.value.as_ref().map_or(Value::Null, raw)))
                .collect(),
        ),
        _ => Value::Null,
    }
}

/// pcommon's `AsString`: bytes as base64, maps and lists as JSON.
fn as_string(v: Option<&AnyValue>) -> String {
    match v.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::BytesValue(b)) => {
            base64::engine::general_purpose::STANDARD.encode(b)
        }
        Some(any_value::Value::ArrayValue(_) | any_value::Value::KvlistValue(_)) => {
            v.map(raw).unwrap_or_default().to_string()
        }
        Some(_) => v.map(value_string).unwrap_or_default(),
        None => String::new(),
    }
}
