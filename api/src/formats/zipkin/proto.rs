//! Zipkin v2 protobuf (`zipkin.proto3`'s `ListOfSpans`, content type
//! `application/x-protobuf`): read as zipkin-go's `ParseSpans` reads it (but an 8-byte
//! trace id, which the proto file allows, is accepted), written as its `SpanSerializer`
//! writes it (except that an IPv4 address is the 4 bytes the proto file asks for).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use prost::Message;
use thiserror::Error;

use super::{Annotation, Endpoint, Span};

#[derive(Clone, PartialEq, prost::Message)]
pub struct ListOfSpans {
    #[prost(message, repeated, tag = "1")]
    pub spans: Vec<ProtoSpan>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoSpan {
    #[prost(bytes = "vec", tag = "1")]
    pub trace_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub parent_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    pub id: Vec<u8>,
    #[prost(int32, tag = "4")]
    pub kind: i32,
    #[prost(string, tag = "5")]
    pub name: String,
    #[prost(fixed64, tag = "6")]
    pub timestamp: u64,
    #[prost(uint64, tag = "7")]
    pub duration: u64,
    #[prost(message, optional, tag = "8")]
    pub local_endpoint: Option<ProtoEndpoint>,
    #[prost(message, optional, tag = "9")]
    pub remote_endpoint: Option<ProtoEndpoint>,
    #[prost(message, repeated, tag = "10")]
    pub annotations: Vec<ProtoAnnotation>,
    #[prost(btree_map = "string, string", tag = "11")]
    pub tags: std::collections::BTreeMap<String, String>,
    #[prost(bool, tag = "12")]
    pub debug: bool,
    #[prost(bool, tag = "13")]
    pub shared: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoEndpoint {
    #[prost(string, tag = "1")]
    pub service_name: String,
    #[prost(bytes = "vec", tag = "2")]
    pub ipv4: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    pub ipv6: Vec<u8>,
    #[prost(int32, tag = "4")]
    pub port: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoAnnotation {
    #[prost(fixed64, tag = "1")]
    pub timestamp: u64,
    #[prost(string, tag = "2")]
    pub value: String,
}

const KINDS: [&str; 5] = [
    "SPAN_KIND_UNSPECIFIED",
    "CLIENT",
    "SERVER",
    "PRODUCER",
    "CONSUMER",
];

#[derive(Debug, Error, PartialEq)]
pub enum ProtoError {
    #[error("zipkin v2 protobuf: {0}")]
    Decode(String),
    #[error("zipkin v2 protobuf: span {index}: {message}")]
    Span { index: usize, message: String },
}

/// A `ListOfSpans`. `debug` is the `X-B3-Flags: 1` header: every span is then debug.
pub fn parse(body: &[u8], debug: bool) -> Result<Vec<Span>, ProtoError> {
    let list = ListOfSpans::decode(body).map_err(|e| ProtoError::Decode(e.to_string()))?;
    list.spans
        .into_iter()
        .enumerate()
        .map(|(index, s)| span(s, debug).map_err(|message| ProtoError::Span { index, message }))
        .collect()
}

fn span(s: ProtoSpan, debug: bool) -> Result<Span, String> {
    let trace_id = match s.trace_id.len() {
        16 => <[u8; 16]>::try_from(s.trace_id.as_slice()).unwrap_or_default(),
        8 => {
            let mut id = [0; 16];
            id[8..].copy_from_slice(&s.trace_id);
            id
        }
        n => {
            return Err(format!(
                "invalid TraceID: has length {n} yet wanted length 16 or 8"
            ))
        }
    };
    let id = span_id(&s.id).map_err(|e| format!("invalid SpanID: {e}"))?;
    let Some(id) = id else {
        return Err("expected a non-nil SpanID".into());
    };
    let parent_id = span_id(&s.parent_id).map_err(|e| format!("invalid ParentID: {e}"))?;
    Ok(Span {
        trace_id,
        id,
        parent_id,
        debug,
        name: s.name,
        kind: KINDS
            .get(s.kind as usize)
            .map_or_else(|| s.kind.to_string(), |k| k.to_string()),
        // zipkin-go makes 0 the Unix epoch, not "absent" (as JSON's missing field is).
        timestamp: Some(s.timestamp.saturating_mul(1000)),
        duration: s.duration.saturating_mul(1000),
        shared: s.shared,
        local_endpoint: s.local_endpoint.map(endpoint),
        remote_endpoint: s.remote_endpoint.map(endpoint),
        annotations: s
            .annotations
            .into_iter()
            .map(|a| Annotation {
                timestamp: a.timestamp.saturating_mul(1000),
                value: a.value,
            })
            .collect(),
        tags: s.tags.into_iter().collect(),
    })
}

fn span_id(bytes: &[u8]) -> Result<Option<u64>, String> {
    match <[u8; 8]>::try_from(bytes) {
        _ if bytes.is_empty() => Ok(None),
        Ok(b) => Ok(Some(u64::from_be_bytes(b))),
        Err(_) => Err(format!("has length {} yet wanted length 8", bytes.len())),
    }
}

fn endpoint(e: ProtoEndpoint) -> Endpoint {
    Endpoint {
        service_name: e.service_name,
        ipv4: ip(&e.ipv4),
        ipv6: ip(&e.ipv6),
        port: e.port as u16,
    }
}

fn ip(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes)
            .ok()
            .map(|b| IpAddr::V4(Ipv4Addr::from(b))),
        16 => <[u8; 16]>::try_from(bytes)
            .ok()
            .map(|b| IpAddr::V6(Ipv6Addr::from(b))),
        _ => None,
    }
}

/// The spans as a `ListOfSpans`.
pub fn write(spans: &[Span]) -> Vec<u8> {
    ListOfSpans {
        spans: spans.iter().map(proto_span).collect(),
    }
    .encode_to_vec()
}

fn proto_span(s: &Span) -> ProtoSpan {
    ProtoSpan {
        trace_id: s.trace_id.to_vec(),
        parent_id: s.parent_id.unwrap_or(0).to_be_bytes().to_vec(),
        id: s.id.to_be_bytes().to_vec(),
        kind: KINDS.iter().position(|k| *k == s.kind).unwrap_or(0) as i32,
        name: s.name.clone(),
        timestamp: s.timestamp.map_or(0, |t| (t + 500) / 1000),
        duration: s.duration / 1000,
        local_endpoint: s.local_endpoint.as_ref().map(proto_endpoint),
        remote_endpoint: s.remote_endpoint.as_ref().map(proto_endpoint),
        annotations: s
            .annotations
            .iter()
            .map(|a| ProtoAnnotation {
                timestamp: a.timestamp / 1000,
                value: a.value.clone(),
            })
            .collect(),
        tags: s.tags.iter().cloned().collect(),
        debug: s.debug,
        shared: s.shared,
    }
}

fn proto_endpoint(e: &Endpoint) -> ProtoEndpoint {
    let octets = |ip: &Option<IpAddr>| match ip.map(|i| i.to_canonical()) {
        Some(IpAddr::V4(v4)) => v4.octets().to_vec(),
        Some(IpAddr::V6(v6)) => v6.octets().to_vec(),
        None => Vec::new(),
    };
    ProtoEndpoint {
        service_name: e.service_name.clone(),
        ipv4: octets(&e.ipv4),
        ipv6: octets(&e.ipv6),
        port: i32::from(e.port),
    }
}
