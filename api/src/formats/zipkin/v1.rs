//! Zipkin v1 (`POST /api/v1/spans`: JSON, or Thrift `list<Span>` of `zipkincore.thrift`
//! in the binary protocol) to OTLP, as the Collector's `zipkinv1` translator: the span's
//! kind, start and end come from its core annotations (`cs`/`sr`/`ss`/`cr`/`ms`/`mr`),
//! other annotations become events, binary annotations attributes and the status; spans
//! are grouped by the endpoint of their first core annotation.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use base64::Engine;
use serde_json::Value;

use crate::formats::thrift::{self, Protocol, Struct};
use crate::otlp::common::v1::{any_value, AnyValue};
use crate::otlp::resource::v1::Resource;
use crate::otlp::trace::v1::{span, status, ResourceSpans, ScopeSpans, Span as OtlpSpan, Status};

use crate::attributes::{put, str_of, string_value};

use super::to_otlp::typed;
use super::START_TIME_ABSENT;

const UNKNOWN_SERVICE: &str = "unknown-service";
/// The value of a numeric binary annotation with too few bytes (the Collector's text).
const SHORT: &str = "<not enough bytes representing the number>";

#[derive(Debug, Clone, Default, PartialEq)]
struct V1Endpoint {
    service_name: String,
    ipv4: String,
    ipv6: String,
    port: i32,
}

struct V1Annotation {
    timestamp: i64,
    value: String,
    endpoint: Option<V1Endpoint>,
}

struct BinaryAnnotation {
    key: String,
    value: AnyValue,
    /// Thrift: any host; JSON: a host with a service name.
    host_service: Option<String>,
    /// The value as sent, for the local component's name.
    text: String,
}

/// Zipkin v1 JSON. `now` (Unix nanoseconds) is the start and end of a span that has
/// neither a timestamp nor annotations, as the Collector stamps it.
pub fn from_json(
    body: &[u8],
    parse_string_tags: bool,
    now: u64,
) -> Result<Vec<ResourceSpans>, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("zipkinv1: {e}"))?;
    let Value::Array(items) = value else {
        return Err("zipkinv1: expected a list of spans".into());
    };
    let mut spans = Vec::new();
    for item in items.iter().filter(|v| !v.is_null()) {
        spans.push(json_span(item, parse_string_tags, now)?);
    }
    Ok(group(spans))
}

/// Zipkin v1 Thrift: a binary-protocol `list<Span>`.
pub fn from_thrift(body: &[u8]) -> Result<Vec<ResourceSpans>, String> {
    let list =
        thrift::read_list(Protocol::Binary, body).map_err(|e| format!("zipkin v1 thrift: {e}"))?;
    let spans = list
        .iter()
        .filter_map(|v| match v {
            thrift::Value::Struct(s) => Some(thrift_span(s)),
            _ => None,
        })
        .collect();
    Ok(group(spans))
}

fn json_span(
    v: &Value,
    parse_string_tags: bool,
    now: u64,
) -> Result<(OtlpSpan, V1Endpoint), String> {
    let str_field = |key: &str| -> Result<String, String> {
        match v.get(key) {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(other) => Err(format!("zipkinv1: {key} is not a string: {other}")),
        }
    };
    let int_field = |key: &str| -> Result<i64, String> {
        match v.get(key) {
            None | Some(Value::Null) => Ok(0),
            Some(n) => n
                .as_i64()
                .ok_or_else(|| format!("zipkinv1: {key} is not an integer: {n}")),
        }
    };
    let trace_id =
        hex_trace_id(&str_field("traceId")?).map_err(|e| format!("zipkinV1 span traceId: {e}"))?;
    let span_id = hex_span_id(&str_field("id")?).map_err(|e| format!("zipkinV1 span id: {e}"))?;
    let parent = match str_field("parentId")?.as_str() {
        "" => [0; 8],
        p => hex_span_id(p).map_err(|e| format!("zipkinV1 span parentId: {e}"))?,
    };
    let mut annotations = Vec::new();
    for a in v
        .get("annotations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        annotations.push(V1Annotation {
            timestamp: a.get("timestamp").and_then(Value::as_i64).unwrap_or(0),
            value: a
                .get("value")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            endpoint: json_endpoint(a.get("endpoint")),
        });
    }
    let mut binary = Vec::new();
    for b in v
        .get("binaryAnnotations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        // Zipkin v1 writes address annotations (`ca`, `sa`) with `"value": true`, which
        // the Collector refuses (its value is a Go string); kept here as their text.
        let text = match b.get("value") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(v @ (Value::Bool(_) | Value::Number(_))) => v.to_string(),
            Some(other) => {
                return Err(format!(
                    "zipkinv1: a binary annotation's value is not a string: {other}"
                ))
            }
        };
        let host = json_endpoint(b.get("endpoint"));
        binary.push(BinaryAnnotation {
            key: b
                .get("key")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            value: if parse_string_tags {
                typed(&text)
            } else {
                string_value(&text)
            },
            host_service: host.map(|h| h.service_name).filter(|s| !s.is_empty()),
            text,
        });
    }
    let timestamp = int_field("timestamp")?;
    let duration = int_field("duration")?;
    let mut built = build(
        annotations,
        binary,
        (timestamp != 0).then_some((timestamp, duration)),
    );
    let span = &mut built.0;
    span.name = str_field("name")?;
    span.trace_id = trace_id.to_vec();
    span.span_id = span_id.to_vec();
    span.parent_span_id = nonzero(&parent);
    if span.start_time_unix_nano == 0 {
        span.start_time_unix_nano = now;
        span.end_time_unix_nano = now;
        put(
            &mut span.attributes,
            START_TIME_ABSENT,
            AnyValue {
                value: Some(any_value::Value::BoolValue(true)),
            },
        );
    }
    Ok(built)
}

fn json_endpoint(v: Option<&Value>) -> Option<V1Endpoint> {
    let o = v?.as_object()?;
    let s = |k: &str| o.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    Some(V1Endpoint {
        service_name: s("serviceName"),
        ipv4: s("ipv4"),
        ipv6: s("ipv6"),
        port: o.get("port").and_then(Value::as_i64).unwrap_or(0) as i32,
    })
}

fn thrift_span(s: &Struct) -> (OtlpSpan, V1Endpoint) {
    let annotations = s
        .structs(6)
        .map(|a| V1Annotation {
            timestamp: a.int(1).unwrap_or(0),
            value: a.string(2).unwrap_or_default(),
            endpoint: a.structure(3).map(thrift_endpoint),
        })
        .collect();
    let binary = s
        .structs(8)
        .map(|b| {
            let raw = b.bytes(2).unwrap_or_default();
            BinaryAnnotation {
                key: b.string(1).unwrap_or_default(),
                value: binary_value(b.int(3).unwrap_or(0), raw),
                host_service: b.structure(4).map(|h| h.string(3).unwrap_or_default()),
                text: String::from_utf8_lossy(raw).into_owned(),
            }
        })
        .collect();
    let times = s.int(10).map(|ts| (ts, s.int(11).unwrap_or(0)));
    let mut built = build(annotations, binary, times);
    let span = &mut built.0;
    span.name = s.string(3).unwrap_or_default();
    let mut trace_id = s.int(12).unwrap_or(0).to_be_bytes().to_vec();
    trace_id.extend_from_slice(&s.int(1).unwrap_or(0).to_be_bytes());
    span.trace_id = trace_id;
    span.span_id = s.int(4).unwrap_or(0).to_be_bytes().to_vec();
    span.parent_span_id = nonzero(&s.int(5).unwrap_or(0).to_be_bytes());
    built
}

fn thrift_endpoint(e: &Struct) -> V1Endpoint {
    let ipv4 = e.int(1).unwrap_or(0) as u32;
    let ipv6 = e.bytes(4).unwrap_or_default();
    V1Endpoint {
        service_name: e.string(3).unwrap_or_default(),
        ipv4: if ipv4 == 0 {
            String::new()
        } else {
            Ipv4Addr::from(ipv4).to_string()
        },
        ipv6: match <[u8; 16]>::try_from(ipv6) {
            Ok(b) => IpAddr::V6(Ipv6Addr::from(b)).to_canonical().to_string(),
            Err(_) if ipv6.is_empty() => String::new(),
            Err(_) => format!("?{}", crate::wire::hex(ipv6)),
        },
        port: i32::from(e.int(2).unwrap_or(0) as i16),
    }
}

/// A thrift binary annotation's typed value (`AnnotationType`: BOOL, BYTES, I16, I32,
/// I64, DOUBLE, STRING); numbers are big-endian and read unsigned, as the Collector does.
fn binary_value(annotation_type: i64, raw: &[u8]) -> AnyValue {
    let v = match annotation_type {
        0 => any_value::Value::BoolValue(raw == [1]),
        1 => any_value::Value::StringValue(base64::engine::general_purpose::STANDARD.encode(raw)),
        2 => match raw.get(..2) {
            Some(b) => any_value::Value::IntValue(i64::from(u16::from_be_bytes([b[0], b[1]]))),
            None => any_value::Value::StringValue(SHORT.into()),
        },
        3 => match raw.get(..4).and_then(|b| <[u8; 4]>::try_from(b).ok()) {
            Some(b) => any_value::Value::IntValue(i64::from(u32::from_be_bytes(b))),
            None => any_value::Value::StringValue(SHORT.into()),
        },
        4 => match raw.get(..8).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
            Some(b) => any_value::Value::IntValue(u64::from_be_bytes(b) as i64),
            None => any_value::Value::StringValue(SHORT.into()),
        },
        5 => match raw.get(..8).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
            Some(b) => any_value::Value::DoubleValue(f64::from_bits(u64::from_be_bytes(b))),
            None => any_value::Value::StringValue(SHORT.into()),
        },
        6 => any_value::Value::StringValue(String::from_utf8_lossy(raw).into_owned()),
        other => any_value::Value::StringValue(format!(
            "<unknown zipkin v1 binary annotation type ({other})>"
        )),
    };
    AnyValue { value: Some(v) }
}

/// The span (ids and name left to the caller) and its endpoint, from its annotations,
/// binary annotations and explicit `(timestamp, duration)` in microseconds.
fn build(
    annotations: Vec<V1Annotation>,
    binary: Vec<BinaryAnnotation>,
    times: Option<(i64, i64)>,
) -> (OtlpSpan, V1Endpoint) {
    let mut span = OtlpSpan::default();
    let mut endpoint: Option<V1Endpoint> = None;
    let mut kind_set = false;
    let (mut earliest, mut latest) = (i64::MAX, i64::MIN);
    for a in annotations.into_iter().filter(|a| !a.value.is_empty()) {
        let core = matches!(a.value.as_str(), "cs" | "cr" | "ms" | "mr" | "ss" | "sr");
        let named = a
            .endpoint
            .as_ref()
            .is_some_and(|e| !e.service_name.is_empty() && e.service_name != UNKNOWN_SERVICE);
        if endpoint.is_none() && named && core {
            endpoint = a.endpoint.clone();
        }
        if !kind_set && core {
            span.kind = match a.value.as_str() {
                "cs" | "cr" => span::SpanKind::Client,
                "ms" => span::SpanKind::Producer,
                "mr" => span::SpanKind::Consumer,
                _ => span::SpanKind::Server,
            } as i32;
            kind_set = true;
        }
        let ts = micros(a.timestamp);
        if a.timestamp < earliest {
            earliest = a.timestamp;
            span.start_time_unix_nano = ts;
        }
        if a.timestamp > latest {
            latest = a.timestamp;
            span.end_time_unix_nano = ts;
        }
        if !core {
            span.events.push(span::Event {
                time_unix_nano: ts,
                name: a.value,
                ..Default::default()
            });
        }
    }
    let mut endpoint = endpoint.unwrap_or_else(|| V1Endpoint {
        service_name: UNKNOWN_SERVICE.into(),
        ..Default::default()
    });
    let fallback = attributes_and_status(&mut span, binary);
    if endpoint.service_name == UNKNOWN_SERVICE && !fallback.is_empty() {
        endpoint.service_name = fallback;
    }
    if let Some((timestamp, duration)) = times {
        span.start_time_unix_nano = micros(timestamp);
        span.end_time_unix_nano = micros(timestamp.saturating_add(duration));
    }
    (span, endpoint)
}

/// Binary annotations as attributes and the status; returns the service name of the
/// last binary annotation's host, else the local component (`lc`).
fn attributes_and_status(span: &mut OtlpSpan, binary: Vec<BinaryAnnotation>) -> String {
    let mut fallback = String::new();
    let mut local_component = String::new();
    let mut mapper = StatusMapper::default();
    for b in binary {
        if let Some(service) = b.host_service {
            fallback = service;
        }
        let key = if b.key == "lc" {
            local_component = b.text.clone();
            "component".to_string()
        } else {
            b.key
        };
        if !mapper.read(&key, &b.value) {
            put(&mut span.attributes, &key, b.value);
        }
    }
    span.status = mapper.status();
    if fallback.is_empty() {
        local_component
    } else {
        fallback
    }
}

#[derive(Default)]
struct StatusMapper {
    census: (Option<i32>, String),
    otel: (Option<i32>, String),
    http: (Option<i32>, String),
    error_tag: Option<i32>,
}

impl StatusMapper {
    /// Notes what `key` says about the status; true when the attribute is dropped.
    fn read(&mut self, key: &str, value: &AnyValue) -> bool {
        match key {
            "census.status_code" => {
                if let Some(code) = status_number(value) {
                    self.census.0 = Some(if code == 0 { 1 } else { 2 });
                }
                true
            }
            "census.status_description" | "opencensus.status_description" => {
                self.census.1 = str_of(value).to_string();
                true
            }
            "otel.status_code" => {
                if let Some(code) = status_number(value) {
                    self.otel.0 = Some(code);
                }
                true
            }
            "otel.status_description" => {
                self.otel.1 = str_of(value).to_string();
                true
            }
            "http.status_code" => {
                if let Some(code) = status_number(value) {
                    self.http.0 = Some(if (100..400).contains(&code) { 0 } else { 2 });
                }
                false
            }
            "http.status_message" => {
                self.http.1 = str_of(value).to_string();
                false
            }
            "error" => {
                self.error_tag = Some(status::StatusCode::Error as i32);
                true
            }
            _ => false,
        }
    }

    fn status(self) -> Option<Status> {
        let (code, message) = if let Some(code) = self.census.0 {
            (code, self.census.1)
        } else if let Some(code) = self.otel.0 {
            (code, self.otel.1)
        } else if let Some(code) = self.error_tag {
            let message = if !self.census.1.is_empty() {
                self.census.1
            } else {
                self.otel.1
            };
            (code, message)
        } else if let Some(code) = self.http.0 {
            (code, self.http.1)
        } else {
            return None;
        };
        Some(Status { code, message })
    }
}

/// An int, or a string holding one, within i32.
fn status_number(v: &AnyValue) -> Option<i32> {
    match v.value.as_ref()? {
        any_value::Value::IntValue(i) => i32::try_from(*i).ok(),
        any_value::Value::StringValue(s) => {
            s.parse::<i64>().ok().and_then(|i| i32::try_from(i).ok())
        }
        _ => None,
    }
}

/// A parent id of zeros is no parent (pdata's empty id).
fn nonzero(id: &[u8; 8]) -> Vec<u8> {
    if *id == [0; 8] {
        Vec::new()
    } else {
        id.to_vec()
    }
}

fn micros(us: i64) -> u64 {
    if us <= 0 {
        0
    } else {
        (us as u64).saturating_mul(1000)
    }
}

/// Spans grouped by endpoint (first-seen order), one resource each.
fn group(spans: Vec<(OtlpSpan, V1Endpoint)>) -> Vec<ResourceSpans> {
    let mut groups: Vec<(V1Endpoint, ResourceSpans)> = Vec::new();
    for (span, endpoint) in spans {
        let i = match groups.iter().position(|(e, _)| *e == endpoint) {
            Some(i) => i,
            None => {
                let mut attributes = vec![crate::attributes::string(
                    "service.name",
                    &endpoint.service_name,
                )];
                if !endpoint.ipv4.is_empty() {
                    attributes.push(crate::attributes::string("ipv4", &endpoint.ipv4));
                }
                if !endpoint.ipv6.is_empty() {
                    attributes.push(crate::attributes::string("ipv6", &endpoint.ipv6));
                }
                if endpoint.port != 0 {
                    attributes.push(crate::attributes::string(
                        "port",
                        &endpoint.port.to_string(),
                    ));
                }
                let rs = ResourceSpans {
                    resource: Some(Resource {
                        attributes,
                        ..Default::default()
                    }),
                    scope_spans: vec![ScopeSpans::default()],
                    ..Default::default()
                };
                groups.push((endpoint, rs));
                groups.len() - 1
            }
        };
        groups[i].1.scope_spans[0].spans.push(span);
    }
    groups.into_iter().map(|(_, rs)| rs).collect()
}

fn hex_trace_id(hex: &str) -> Result<[u8; 16], String> {
    let mut id = [0; 16];
    match hex.len() {
        16 => id[8..].copy_from_slice(&decode_hex(hex)?),
        32 => id.copy_from_slice(&decode_hex(hex)?),
        _ => return Err("hex traceId span has wrong length (expected 16 or 32)".into()),
    }
    if id == [0; 16] {
        return Err("traceId is zero".into());
    }
    Ok(id)
}

fn hex_span_id(hex: &str) -> Result<[u8; 8], String> {
    if hex.len() != 16 {
        return Err("hex Id has wrong length (expected 16)".into());
    }
    let mut id = [0; 8];
    id.copy_from_slice(&decode_hex(hex)?);
    if id == [0; 8] {
        return Err("ID is zero".into());
    }
    Ok(id)
}

fn decode_hex(hex: &str) -> Result<Vec<u8>, String> {
    crate::wire::unhex(hex).ok_or_else(|| format!("encoding/hex: invalid byte in `{hex}`"))
}
