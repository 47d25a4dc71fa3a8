//! Zipkin v2 JSON (`POST /api/v2/spans`, a list of spans): read as zipkin-go reads it,
//! written as zipkin-go's `JSONSerializer` writes it (span and service names lowercased,
//! times in rounded microseconds, tags sorted by key).

use std::net::IpAddr;

use serde_json::{Map, Value};
use thiserror::Error;

use super::{ip_string, Annotation, Endpoint, Span};

#[derive(Debug, Error, PartialEq)]
pub enum JsonError {
    #[error("zipkin v2 JSON: {0}")]
    Syntax(String),
    #[error("zipkin v2 JSON: span {index}: {message}")]
    Span { index: usize, message: String },
}

/// A JSON list of spans; `null` entries are skipped.
pub fn parse(body: &[u8]) -> Result<Vec<Span>, JsonError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| JsonError::Syntax(e.to_string()))?;
    let Value::Array(items) = value else {
        return Err(JsonError::Syntax("expected a list of spans".into()));
    };
    items
        .iter()
        .enumerate()
        .filter(|(_, v)| !v.is_null())
        .map(|(index, v)| span(v).map_err(|message| JsonError::Span { index, message }))
        .collect()
}

fn span(v: &Value) -> Result<Span, String> {
    let Value::Object(o) = v else {
        return Err("not an object".into());
    };
    let mut span = Span::default();
    if let Some(t) = field(o, "traceId") {
        span.trace_id = trace_id(string(t, "traceId")?)?;
    }
    let id = match field(o, "id") {
        Some(v) => span_id(string(v, "id")?)?,
        None => 0,
    };
    if id == 0 {
        return Err("valid span id required".into());
    }
    span.id = id;
    if let Some(p) = field(o, "parentId") {
        span.parent_id = Some(span_id(string(p, "parentId")?)?);
    }
    span.debug = boolean(field(o, "debug"), "debug")?;
    span.shared = boolean(field(o, "shared"), "shared")?;
    span.name = opt_string(field(o, "name"), "name")?;
    span.kind = opt_string(field(o, "kind"), "kind")?;
    let micros = number(field(o, "timestamp"), "timestamp")?;
    span.timestamp = (micros > 0).then(|| micros.saturating_mul(1000));
    span.duration = number(field(o, "duration"), "duration")?.saturating_mul(1000);
    span.local_endpoint = endpoint(field(o, "localEndpoint"))?;
    span.remote_endpoint = endpoint(field(o, "remoteEndpoint"))?;
    if let Some(Value::Array(annotations)) = field(o, "annotations") {
        for a in annotations {
            let Value::Object(a) = a else {
                return Err("an annotation is not an object".into());
            };
            let timestamp = number(field(a, "timestamp"), "annotation timestamp")?;
            if timestamp < 1 {
                return Err("valid annotation timestamp required".into());
            }
            span.annotations.push(Annotation {
                timestamp: timestamp.saturating_mul(1000),
                value: opt_string(field(a, "value"), "annotation value")?,
            });
        }
    }
    if let Some(Value::Object(tags)) = field(o, "tags") {
        for (k, v) in tags {
            span.tags
                .push((k.clone(), string(v, "tag value")?.to_string()));
        }
    }
    Ok(span)
}

/// A key matched as Go's `encoding/json` matches struct fields: exact, else ignoring case.
fn field<'a>(o: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    o.get(key)
        .or_else(|| {
            o.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v)
        })
        .filter(|v| !v.is_null())
}

fn string<'a>(v: &'a Value, what: &str) -> Result<&'a str, String> {
    v.as_str().ok_or_else(|| format!("{what} is not a string"))
}

fn opt_string(v: Option<&Value>, what: &str) -> Result<String, String> {
    v.map_or(Ok(String::new()), |v| string(v, what).map(str::to_string))
}

fn boolean(v: Option<&Value>, what: &str) -> Result<bool, String> {
    v.map_or(Ok(false), |v| {
        v.as_bool()
            .ok_or_else(|| format!("{what} is not a boolean"))
    })
}

fn number(v: Option<&Value>, what: &str) -> Result<u64, String> {
    v.map_or(Ok(0), |v| {
        v.as_u64()
            .ok_or_else(|| format!("{what} is not a whole number of microseconds: {v}"))
    })
}

/// zipkin-go's `TraceIDFromHex`: up to 32 hex digits, the last 16 the low half.
pub fn trace_id(hex: &str) -> Result<[u8; 16], String> {
    if hex.is_empty() {
        return Err("valid traceId required".into());
    }
    let parse = |h: &str| u64::from_str_radix(h, 16).map_err(|e| format!("traceId `{hex}`: {e}"));
    let (high, low) = if hex.len() > 16 {
        let split = hex.len() - 16;
        let high = hex.get(..split).ok_or("traceId is not hex")?;
        let low = hex.get(split..).ok_or("traceId is not hex")?;
        (parse(high)?, parse(low)?)
    } else {
        (0, parse(hex)?)
    };
    let mut id = [0; 16];
    id[..8].copy_from_slice(&high.to_be_bytes());
    id[8..].copy_from_slice(&low.to_be_bytes());
    Ok(id)
}

fn span_id(hex: &str) -> Result<u64, String> {
    if hex.is_empty() {
        return Ok(0);
    }
    u64::from_str_radix(hex, 16).map_err(|e| format!("span id `{hex}`: {e}"))
}

fn endpoint(v: Option<&Value>) -> Result<Option<Endpoint>, String> {
    let Some(v) = v else { return Ok(None) };
    let Value::Object(o) = v else {
        return Err("an endpoint is not an object".into());
    };
    let ip = |key: &str| -> Result<Option<IpAddr>, String> {
        match opt_string(field(o, key), key)?.as_str() {
            "" => Ok(None),
            s => s
                .parse()
                .map(Some)
                .map_err(|_| format!("invalid IP address: {s}")),
        }
    };
    let port = number(field(o, "port"), "port")?;
    let endpoint = Endpoint {
        service_name: opt_string(field(o, "serviceName"), "serviceName")?,
        ipv4: ip("ipv4")?,
        ipv6: ip("ipv6")?,
        port: u16::try_from(port).map_err(|_| format!("port {port} out of range"))?,
    };
    Ok((!endpoint.is_empty()).then_some(endpoint))
}

/// The spans as zipkin-go's `JSONSerializer` writes them.
pub fn write(spans: &[Span]) -> Vec<u8> {
    let items: Vec<Value> = spans.iter().map(span_json).collect();
    serde_json::to_vec(&Value::Array(items)).unwrap_or_default()
}

fn span_json(s: &Span) -> Value {
    // serde_json's map keeps keys sorted, Go writes struct fields in declaration order:
    // both are valid JSON objects, and Zipkin reads either.
    let mut o = Map::new();
    if let Some(ts) = s.timestamp {
        o.insert("timestamp".into(), (round_micros(ts)).into());
    }
    let duration = match s.duration {
        0 => 0,
        d if d < 1000 => 1,
        d => (d + 500) / 1000,
    };
    if duration > 0 {
        o.insert("duration".into(), duration.into());
    }
    o.insert("traceId".into(), trace_id_hex(&s.trace_id).into());
    o.insert("id".into(), format!("{:016x}", s.id).into());
    if let Some(p) = s.parent_id {
        o.insert("parentId".into(), format!("{p:016x}").into());
    }
    if s.debug {
        o.insert("debug".into(), true.into());
    }
    if !s.name.is_empty() {
        o.insert("name".into(), s.name.to_lowercase().into());
    }
    if !s.kind.is_empty() {
        o.insert("kind".into(), s.kind.clone().into());
    }
    if s.shared {
        o.insert("shared".into(), true.into());
    }
    for (key, e) in [
        ("localEndpoint", &s.local_endpoint),
        ("remoteEndpoint", &s.remote_endpoint),
    ] {
        if let Some(e) = e.as_ref().filter(|e| !e.is_empty()) {
            o.insert(key.into(), endpoint_json(e));
        }
    }
    if !s.annotations.is_empty() {
        let annotations = s
            .annotations
            .iter()
            .map(|a| serde_json::json!({"timestamp": round_micros(a.timestamp), "value": a.value}))
            .collect();
        o.insert("annotations".into(), Value::Array(annotations));
    }
    if !s.tags.is_empty() {
        let tags: Map<String, Value> = s
            .tags
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().into()))
            .collect();
        o.insert("tags".into(), Value::Object(tags));
    }
    Value::Object(o)
}

fn endpoint_json(e: &Endpoint) -> Value {
    let mut o = Map::new();
    if !e.service_name.is_empty() {
        o.insert("serviceName".into(), e.service_name.to_lowercase().into());
    }
    if let Some(ip) = &e.ipv4 {
        o.insert("ipv4".into(), ip_string(ip).into());
    }
    if let Some(ip) = &e.ipv6 {
        o.insert("ipv6".into(), ip_string(ip).into());
    }
    if e.port != 0 {
        o.insert("port".into(), e.port.into());
    }
    Value::Object(o)
}

/// Nanoseconds to microseconds, half up (Go's `Round(time.Microsecond)`).
fn round_micros(nanos: u64) -> u64 {
    (nanos + 500) / 1000
}

/// zipkin-go's `TraceID.String`: 16 hex digits when the high half is zero, else 32.
pub fn trace_id_hex(id: &[u8; 16]) -> String {
    if id[..8] == [0; 8] {
        crate::wire::hex(&id[8..])
    } else {
        crate::wire::hex(id)
    }
}
