//! Zipkin to and from OTLP: real client bytes (testdata/tracing-clients/), the
//! Collector's own test bodies (testdata/zipkin/), and the exporter's output read back.

use super::{from_otlp, json, proto, to_otlp, v1, Span, START_TIME_ABSENT};
use crate::formats::test_support::{attr, spans, text};
use crate::otlp::common::v1::any_value;
use crate::otlp::trace::v1::{span, status, ResourceSpans, Span as OtlpSpan};

const V2_PROTO: &[u8] =
    include_bytes!("../../../../testdata/tracing-clients/otel-python-1.21.0-zipkin-v2.pb");
const V1_THRIFT: &[u8] =
    include_bytes!("../../../../testdata/tracing-clients/py_zipkin-1.0.0-zipkin-v1.thrift");
const V2_SINGLE: &[u8] = include_bytes!("../../../../testdata/zipkin/zipkin_v2_single.json");
const V2_NO_TIMESTAMP: &[u8] =
    include_bytes!("../../../../testdata/zipkin/zipkin_v2_notimestamp.json");
const V1_SINGLE: &[u8] = include_bytes!("../../../../testdata/zipkin/zipkin_v1_single_batch.json");

fn service(rs: &ResourceSpans) -> Option<String> {
    text(&rs.resource.as_ref()?.attributes, "service.name")
}

#[test]
fn a_real_protobuf_body_translates() {
    let rs = to_otlp::resource_spans(
        &proto::parse(V2_PROTO, false).expect("the client's body"),
        false,
    )
    .expect("valid");
    assert_eq!(rs.len(), 1);
    assert_eq!(service(&rs[0]).as_deref(), Some("llm-gateway"));
    let resource = &rs[0].resource.as_ref().expect("resource").attributes;
    assert_eq!(
        text(resource, "host.name").as_deref(),
        Some("gpu-node-7"),
        "resource tags of the first span"
    );
    assert_eq!(
        rs[0].scope_spans[0].scope.as_ref().map(|s| s.name.as_str()),
        Some("llm.client")
    );
    let spans = spans(&rs);
    assert_eq!(spans.len(), 5);
    let chat = spans
        .iter()
        .find(|s| s.name == "chat llama-3.1-8b")
        .expect("chat");
    assert_eq!(chat.kind, span::SpanKind::Client as i32);
    // This client writes `error: <message>` and `otel.status_code: ERROR`, a value the
    // Collector's table does not know: the `error` tag makes the status, and stays (it is
    // not `true`), as in the Collector.
    let status = chat.status.as_ref().expect("status");
    assert_eq!(
        (status.code, status.message.as_str()),
        (status::StatusCode::Error as i32, "")
    );
    assert_eq!(
        text(&chat.attributes, "error").as_deref(),
        Some("upstream timeout")
    );
    assert_eq!(
        text(&chat.attributes, "peer.service").as_deref(),
        Some("llama-server")
    );
    assert_eq!(
        text(&chat.attributes, "gen_ai.usage.input_tokens").as_deref(),
        Some("512"),
        "Zipkin tags are strings"
    );
    // This client writes an event as the annotation `{"name": {attributes}}`, not the
    // Collector's `name|{attributes}|dropped`: the whole text is the event's name there
    // and here.
    let names: Vec<&str> = chat.events.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        [
            r#"{"gen_ai.first_token": {"gen_ai.token.index": 1, "latency_s": 0.081}}"#,
            r#"{"retry": {}}"#
        ]
    );
    assert_eq!(chat.events[0].time_unix_nano, 1_767_225_600_083_000_000);
    let internal = spans
        .iter()
        .find(|s| s.name == "tokenize")
        .expect("tokenize");
    // This client writes no kind and no `span.kind: internal` tag for an internal span.
    assert_eq!(internal.kind, span::SpanKind::Unspecified as i32);
}

#[test]
fn the_collectors_v2_body_with_parse_string_tags() {
    let spans_in = json::parse(V2_SINGLE).expect("valid");
    let rs = to_otlp::resource_spans(&spans_in, true).expect("valid");
    let s = spans(&rs)[0];
    assert_eq!(s.parent_span_id, 0x86154a4ba6e91385u64.to_be_bytes());
    assert_eq!(s.start_time_unix_nano, 1_472_470_996_199_000_000);
    assert_eq!(s.end_time_unix_nano, 1_472_470_996_406_000_000);
    assert_eq!(
        attr(&s.attributes, "ping_count"),
        Some(&any_value::Value::IntValue(25))
    );
    assert_eq!(
        attr(&s.attributes, "timeout"),
        Some(&any_value::Value::DoubleValue(12.3))
    );
    assert_eq!(
        attr(&s.attributes, "cache_hit"),
        Some(&any_value::Value::BoolValue(true))
    );
    assert_eq!(
        text(&s.attributes, "clnt/finagle.version").as_deref(),
        Some("6.45.0")
    );
    // Go prints `7::0.128.128.127` as `7::80:807f`.
    assert_eq!(
        text(&s.attributes, "net.host.ip").as_deref(),
        Some("7::80:807f")
    );
    assert_eq!(
        text(&s.attributes, "net.peer.ip").as_deref(),
        Some("192.168.99.101")
    );
    assert_eq!(
        attr(&s.attributes, "net.peer.port"),
        Some(&any_value::Value::IntValue(9000))
    );
    assert_eq!(
        s.events.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(),
        ["foo", "bar"]
    );
    // Without `parse_string_tags` every tag is a string.
    let plain = to_otlp::resource_spans(&spans_in, false).expect("valid");
    assert_eq!(
        text(&spans(&plain)[0].attributes, "ping_count").as_deref(),
        Some("25")
    );
}

#[test]
fn a_v2_span_without_timestamp_starts_at_zero_and_says_so() {
    let rs = to_otlp::resource_spans(&json::parse(V2_NO_TIMESTAMP).expect("valid"), false)
        .expect("valid");
    let s = spans(&rs)[0];
    assert_eq!(s.start_time_unix_nano, 0);
    assert_eq!(
        attr(&s.attributes, START_TIME_ABSENT),
        Some(&any_value::Value::BoolValue(true))
    );
}

#[test]
fn py_zipkins_v1_thrift_translates() {
    let rs = v1::from_thrift(V1_THRIFT).expect("the client's body");
    let all = spans(&rs);
    assert_eq!(all.len(), 3);
    let chat = all.iter().find(|s| s.name == "chat").expect("chat");
    assert_eq!(
        chat.kind,
        span::SpanKind::Client as i32,
        "from the cs/cr annotations"
    );
    assert_eq!(
        chat.status.as_ref().map(|s| s.code),
        Some(status::StatusCode::Error as i32),
        "`error` tag"
    );
    assert_eq!(chat.parent_span_id, 0x1001u64.to_be_bytes());
    assert_eq!(
        (chat.start_time_unix_nano, chat.end_time_unix_nano),
        (1_767_225_600_002_000_000, 1_767_225_600_240_000_000)
    );
    let root = all
        .iter()
        .find(|s| s.name == "post /v1/chat/completions")
        .expect("root");
    assert!(root.parent_span_id.is_empty());
    assert_eq!(
        text(&root.attributes, "component").as_deref(),
        Some("gateway"),
        "`lc` is the component"
    );
    assert_eq!(
        root.events
            .iter()
            .map(|e| e.name.as_str())
            .collect::<Vec<_>>(),
        ["first_byte"]
    );
    let gateway = rs
        .iter()
        .find(|r| service(r).as_deref() == Some("llm-gateway"))
        .expect("gateway resource");
    let attributes = &gateway.resource.as_ref().expect("resource").attributes;
    assert_eq!(text(attributes, "ipv4").as_deref(), Some("10.0.0.7"));
    assert_eq!(text(attributes, "port").as_deref(), Some("8080"));
    // A local span has no core annotation: the host of its binary annotations names it.
    let tokenize = all.iter().find(|s| s.name == "tokenize").expect("tokenize");
    assert_eq!(
        text(&tokenize.attributes, "component").as_deref(),
        Some("tokenizer")
    );
    assert!(rs
        .iter()
        .all(|r| service(r).as_deref() == Some("llm-gateway")));
}

#[test]
fn the_collectors_v1_json_body_translates() {
    let rs = v1::from_json(V1_SINGLE, false, 1).expect("valid");
    let all = spans(&rs);
    assert!(all.len() >= 2);
    assert!(all
        .iter()
        .all(|s| s.kind != span::SpanKind::Unspecified as i32 || s.start_time_unix_nano > 0));
    assert!(rs.iter().all(|r| service(r).is_some()));
}

#[test]
fn bad_bodies_name_the_problem() {
    assert!(json::parse(b"{").is_err());
    assert_eq!(
        json::parse(br#"[{"traceId": "01", "id": ""}]"#).map_err(|e| e.to_string()),
        Err("zipkin v2 JSON: span 0: valid span id required".into())
    );
    assert!(proto::parse(&[0x0a, 0x02, 0x0a, 0x01], false).is_err());
    assert_eq!(
        v1::from_json(
            br#"[{"traceId": "00000000000000000000000000000000", "id": "0000000000000001"}]"#,
            false,
            1
        ),
        Err("zipkinV1 span traceId: traceId is zero".into())
    );
    assert!(v1::from_thrift(&[15, 12, 0x7f, 0xff, 0xff, 0xff]).is_err());
}

/// OTLP -> the exporter's JSON and protobuf -> the receiver: what Zipkin can carry comes
/// back (the span name lowercased in JSON, as zipkin-go writes it).
#[test]
fn the_exporters_output_reads_back() {
    let rs = to_otlp::resource_spans(&proto::parse(V2_PROTO, false).expect("valid"), false)
        .expect("valid");
    let zipkin: Vec<Span> = from_otlp::spans(&rs).expect("valid");
    for (format, back) in [
        (
            "proto",
            proto::parse(&proto::write(&zipkin), false).expect("valid"),
        ),
        ("json", json::parse(&json::write(&zipkin)).expect("valid")),
    ] {
        let again = to_otlp::resource_spans(&back, false).expect("valid");
        let (before, after) = (spans(&rs), spans(&again));
        assert_eq!(before.len(), after.len(), "{format}");
        for (b, a) in before.iter().zip(&after) {
            assert_eq!(
                (&b.trace_id, &b.span_id, &b.parent_span_id),
                (&a.trace_id, &a.span_id, &a.parent_span_id),
                "{format}"
            );
            // No status and an unset one are one thing to pdata (and to Zipkin).
            let status = |s: &OtlpSpan| s.status.clone().unwrap_or_default();
            assert_eq!(
                (b.kind, status(b), &b.links, &b.events),
                (a.kind, status(a), &a.links, &a.events),
                "{format}"
            );
            assert_eq!(b.name.to_lowercase(), a.name.to_lowercase(), "{format}");
            assert_eq!(
                b.start_time_unix_nano / 1000,
                a.start_time_unix_nano / 1000,
                "{format}: microseconds"
            );
            // An error status is written as `error: true` over any `error` tag of the span
            // (as the Collector writes it): that tag's own text does not come back. Zipkin
            // tags are text, and an endpoint's port comes back an int: values compared as
            // text.
            let keys = |s: &OtlpSpan| {
                let mut k: Vec<_> = s
                    .attributes
                    .iter()
                    .filter(|kv| kv.key != "error")
                    .map(|kv| {
                        (
                            kv.key.clone(),
                            kv.value.as_ref().map(crate::attributes::value_string),
                        )
                    })
                    .collect();
                k.sort_by(|x, y| x.0.cmp(&y.0));
                k
            };
            assert_eq!(keys(b), keys(a), "{format}");
        }
        assert_eq!(again[0].resource, rs[0].resource, "{format}");
    }
}

#[test]
fn json_is_written_as_zipkin_go_writes_it() {
    let span = Span {
        trace_id: [0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8],
        id: 0xabc,
        parent_id: Some(1),
        name: "GET /Chat".into(),
        kind: "SERVER".into(),
        timestamp: Some(1_500_000_000_123_456_789),
        duration: 1_499,
        local_endpoint: Some(super::Endpoint {
            service_name: "Gateway".into(),
            ..Default::default()
        }),
        tags: vec![("b".into(), "2".into()), ("a".into(), "1".into())],
        ..Default::default()
    };
    let written: serde_json::Value = serde_json::from_slice(&json::write(&[span])).expect("JSON");
    assert_eq!(
        written,
        serde_json::json!([{
            "traceId": "0102030405060708", "id": "0000000000000abc", "parentId": "0000000000000001",
            "name": "get /chat", "kind": "SERVER", "timestamp": 1_500_000_000_123_457u64, "duration": 1,
            "localEndpoint": {"serviceName": "gateway"}, "tags": {"a": "1", "b": "2"}
        }])
    );
}
