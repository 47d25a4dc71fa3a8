//! Jaeger to OTLP: real client bytes (testdata/tracing-clients/), the Collector's rules
//! case by case, and the `jaeger` exporter's own output read back.

use super::model::{self, SpanRefType, ValueType};
use super::{from_otlp, thrift, to_otlp, Flavor};
use crate::formats::test_support::{attr, spans, text};
use crate::formats::thrift::{read_message, read_struct, Protocol};
use crate::otlp::common::v1::{any_value, AnyValue};
use crate::otlp::trace::v1::{span, status, ResourceSpans, Span};

const UDP_PACKET: &[u8] = include_bytes!(
    "../../../../testdata/tracing-clients/otel-python-1.21.0-jaeger-thrift-compact-udp.bin"
);
const HTTP_BODY: &[u8] = include_bytes!(
    "../../../../testdata/tracing-clients/otel-python-1.21.0-jaeger-thrift-binary-http.bin"
);

fn from_thrift(batch: &crate::formats::thrift::Struct) -> Vec<ResourceSpans> {
    let (batch, parents) = thrift::batch(batch);
    to_otlp::resource_spans(&batch, &parents, Flavor::Thrift)
}

#[test]
fn a_real_agent_packet_and_collector_body_give_the_same_spans() {
    let message = read_message(Protocol::Compact, UDP_PACKET).expect("the client's packet");
    assert_eq!(message.name, "emitBatch");
    let over_udp = from_thrift(message.args.structure(1).expect("batch"));
    let over_http =
        from_thrift(&read_struct(Protocol::Binary, HTTP_BODY).expect("the client's body"));
    assert_eq!(over_udp, over_http);
    let resource = &over_udp[0].resource.as_ref().expect("resource").attributes;
    assert_eq!(
        text(resource, "service.name").as_deref(),
        Some("llm-gateway")
    );
    // This client puts the resource on every span as tags, and only the service name
    // on the process.
    assert_eq!(resource.len(), 1);
    let spans = spans(&over_udp);
    assert_eq!(spans.len(), 5);
    let root = spans
        .iter()
        .find(|s| s.name == "POST /v1/chat/completions")
        .expect("root");
    let chat = spans
        .iter()
        .find(|s| s.name == "chat llama-3.1-8b")
        .expect("chat");
    assert_eq!(root.kind, span::SpanKind::Server as i32);
    assert_eq!(chat.kind, span::SpanKind::Client as i32);
    assert_eq!(chat.parent_span_id, root.span_id);
    assert_eq!(chat.trace_id, hex("5b8efff798038103d269b633813fc60c"));
    assert_eq!(
        (chat.start_time_unix_nano, chat.end_time_unix_nano),
        (1_767_225_600_002_000_000, 1_767_225_600_240_000_000)
    );
    let status = chat.status.as_ref().expect("status");
    assert_eq!(
        (status.code, status.message.as_str()),
        (status::StatusCode::Error as i32, "upstream timeout")
    );
    assert_eq!(
        attr(&chat.attributes, "gen_ai.usage.input_tokens"),
        Some(&any_value::Value::IntValue(512))
    );
    assert_eq!(
        attr(&chat.attributes, "gen_ai.request.temperature"),
        Some(&any_value::Value::DoubleValue(0.7))
    );
    assert_eq!(
        attr(&chat.attributes, "gen_ai.request.stream"),
        Some(&any_value::Value::BoolValue(true))
    );
    // This client names a log by its `message` field; only `event` is a name to the
    // Collector (and here), so the name stays a field.
    let event = chat
        .events
        .iter()
        .find(|e| text(&e.attributes, "message").as_deref() == Some("gen_ai.first_token"))
        .expect("event");
    assert_eq!(event.name, "");
    assert_eq!(event.time_unix_nano, 1_767_225_600_083_000_000);
    assert_eq!(
        attr(&event.attributes, "gen_ai.token.index"),
        Some(&any_value::Value::IntValue(1))
    );
    assert_eq!(chat.links.len(), 1);
    assert_eq!(
        chat.links[0].trace_id,
        hex("0af7651916cd43dd8448eb211c80319c")
    );
    assert_eq!(
        text(&chat.links[0].attributes, "opentracing.ref_type").as_deref(),
        Some("follows_from")
    );
    // The Thrift path keeps the scope tags as attributes, as the Collector's does.
    assert!(over_udp[0].scope_spans[0].scope.is_none());
    assert_eq!(
        text(&chat.attributes, "otel.library.name").as_deref(),
        Some("llm.client")
    );
    assert_eq!(
        text(&chat.attributes, "host.name").as_deref(),
        Some("gpu-node-7")
    );
}

fn hex(s: &str) -> Vec<u8> {
    crate::wire::unhex(s).expect("hex")
}

fn tag(key: &str, value: any_value::Value) -> model::KeyValue {
    let mut t = model::KeyValue {
        key: key.into(),
        ..Default::default()
    };
    match value {
        any_value::Value::StringValue(s) => t.v_str = s,
        any_value::Value::BoolValue(b) => (t.v_type, t.v_bool) = (ValueType::Bool as i32, b),
        any_value::Value::IntValue(i) => (t.v_type, t.v_int64) = (ValueType::Int64 as i32, i),
        _ => unreachable!("not used here"),
    }
    t
}

fn status_of(tags: Vec<model::KeyValue>) -> (Option<(i32, String)>, Vec<String>) {
    let batch = model::Batch {
        spans: vec![model::Span {
            span_id: vec![0, 0, 0, 0, 0, 0, 0, 1],
            tags,
            ..Default::default()
        }],
        process: Some(model::Process {
            service_name: "s".into(),
            tags: Vec::new(),
        }),
    };
    let rs = to_otlp::resource_spans(&batch, &[], Flavor::Proto);
    let span = spans(&rs)[0].clone();
    (
        span.status.map(|s| (s.code, s.message)),
        span.attributes.iter().map(|kv| kv.key.clone()).collect(),
    )
}

#[test]
fn status_follows_the_collectors_order() {
    use any_value::Value::{BoolValue, IntValue, StringValue};
    let s = |v: &str| StringValue(v.into());
    let error = status::StatusCode::Error as i32;
    // `error: true` wins, with `otel.status_description`, else `http.status_message`.
    assert_eq!(
        status_of(vec![
            tag("error", BoolValue(true)),
            tag("otel.status_description", s("boom")),
            tag("otel.status_code", s("OK"))
        ]),
        (Some((error, "boom".into())), vec![])
    );
    assert_eq!(
        status_of(vec![
            tag("error", BoolValue(true)),
            tag("http.status_message", s("Bad Gateway"))
        ]),
        (
            Some((error, "Bad Gateway".into())),
            vec!["http.status_message".into()]
        )
    );
    // `error: false` is an attribute, not a status.
    assert_eq!(
        status_of(vec![tag("error", BoolValue(false))]),
        (None, vec!["error".into()])
    );
    // `otel.status_code`, any case.
    assert_eq!(
        status_of(vec![tag("otel.status_code", s("ok"))]),
        (Some((1, String::new())), vec![])
    );
    // An HTTP code: 4xx is an error on a client span only; 5xx always; a string is read.
    let client = tag("span.kind", s("client"));
    let server = tag("span.kind", s("server"));
    assert_eq!(
        status_of(vec![client.clone(), tag("http.status_code", IntValue(404))]).0,
        Some((error, String::new()))
    );
    assert_eq!(
        status_of(vec![server, tag("http.status_code", IntValue(404))]).0,
        None
    );
    assert_eq!(
        status_of(vec![client, tag("http.status_code", s("503"))]).0,
        Some((error, String::new()))
    );
    assert_eq!(
        status_of(vec![tag("http.status_code", IntValue(200))]).0,
        None
    );
}

#[test]
fn grpc_batches_regroup_by_span_process_and_read_scope_and_tracestate() {
    let process = |name: &str| {
        Some(model::Process {
            service_name: name.into(),
            tags: vec![tag("hostname", any_value::Value::StringValue("h1".into()))],
        })
    };
    let span = |id: u8, own: Option<model::Process>, tags: Vec<model::KeyValue>| model::Span {
        trace_id: vec![1; 16],
        span_id: vec![0, 0, 0, 0, 0, 0, 0, id],
        operation_name: format!("op{id}"),
        process: own,
        tags,
        ..Default::default()
    };
    let scope = vec![
        tag(
            "otel.scope.name",
            any_value::Value::StringValue("lib".into()),
        ),
        tag(
            "otel.scope.version",
            any_value::Value::StringValue("2".into()),
        ),
        tag(
            "w3c.tracestate",
            any_value::Value::StringValue("rojo=00f067aa0ba902b7".into()),
        ),
    ];
    let batch = model::Batch {
        spans: vec![
            span(1, None, scope),
            span(2, process("other"), vec![]),
            span(3, None, vec![]),
        ],
        process: process("main"),
    };
    let rs = to_otlp::resource_spans(&batch, &[], Flavor::Proto);
    assert_eq!(rs.len(), 2);
    let services: Vec<_> = rs
        .iter()
        .map(|r| text(&r.resource.as_ref().expect("r").attributes, "service.name"))
        .collect();
    assert_eq!(
        services,
        [Some("main".to_string()), Some("other".to_string())]
    );
    assert_eq!(
        text(&rs[0].resource.as_ref().expect("r").attributes, "host.name").as_deref(),
        Some("h1")
    );
    let scopes: Vec<_> = rs[0]
        .scope_spans
        .iter()
        .map(|ss| ss.scope.clone().unwrap_or_default().name)
        .collect();
    assert_eq!(scopes, ["lib", ""]);
    let first = &rs[0].scope_spans[0].spans[0];
    assert_eq!(
        (first.trace_state.as_str(), first.attributes.len()),
        ("rojo=00f067aa0ba902b7", 0)
    );
}

#[test]
fn the_jaeger_exporters_output_reads_back() {
    let original = ResourceSpans {
        resource: Some(crate::otlp::resource::v1::Resource {
            attributes: vec![
                crate::attributes::string("service.name", "svc"),
                crate::attributes::int("pid", 7),
            ],
            ..Default::default()
        }),
        scope_spans: vec![crate::otlp::trace::v1::ScopeSpans {
            scope: Some(crate::otlp::common::v1::InstrumentationScope {
                name: "lib".into(),
                version: "1".into(),
                ..Default::default()
            }),
            spans: vec![Span {
                trace_id: vec![2; 16],
                span_id: vec![3; 8],
                parent_span_id: vec![4; 8],
                name: "chat".into(),
                kind: span::SpanKind::Client as i32,
                start_time_unix_nano: 1_000_000_000,
                end_time_unix_nano: 3_000_000_000,
                attributes: vec![
                    crate::attributes::string("k", "v"),
                    crate::attributes::double("d", 0.5),
                ],
                events: vec![span::Event {
                    time_unix_nano: 2_000_000_000,
                    name: "e".into(),
                    attributes: vec![crate::attributes::int("n", 1)],
                    ..Default::default()
                }],
                status: Some(crate::otlp::trace::v1::Status {
                    code: status::StatusCode::Error as i32,
                    message: "m".into(),
                }),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let jaeger = from_otlp::batch(&original).expect("a batch");
    let back = to_otlp::resource_spans(&jaeger, &[], Flavor::Proto);
    let (before, after) = (&original.scope_spans[0].spans[0], spans(&back)[0]);
    assert_eq!(
        back[0].scope_spans[0]
            .scope
            .as_ref()
            .map(|s| (s.name.as_str(), s.version.as_str())),
        Some(("lib", "1"))
    );
    assert_eq!(back[0].resource, original.resource);
    for field in [
        (before.trace_id.clone(), after.trace_id.clone()),
        (before.span_id.clone(), after.span_id.clone()),
        (before.parent_span_id.clone(), after.parent_span_id.clone()),
    ] {
        assert_eq!(field.0, field.1);
    }
    assert_eq!((after.name.as_str(), after.kind), ("chat", before.kind));
    assert_eq!(
        (after.start_time_unix_nano, after.end_time_unix_nano),
        (before.start_time_unix_nano, before.end_time_unix_nano)
    );
    assert_eq!(after.status, before.status);
    assert_eq!(after.events, before.events);
    assert_eq!(
        attr(&after.attributes, "d"),
        Some(&any_value::Value::DoubleValue(0.5))
    );
    assert_eq!(text(&after.attributes, "k").as_deref(), Some("v"));
    let _ = (SpanRefType::ChildOf, AnyValue::default());
}
