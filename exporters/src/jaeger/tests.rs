//! Golden cases for each translation rule (the Collector's `pkg/translator/jaeger`), and
//! `PostSpans` against a server that fails part-way.

use std::sync::{Arc, Mutex, PoisonError};

use llamacol_api::attributes::{int, kv, string};
use llamacol_api::otlp::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValueList,
};
use llamacol_api::otlp::resource::v1::Resource;
use llamacol_api::otlp::trace::v1::span::{Event, Link, SpanKind};
use llamacol_api::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use llamacol_api::{Batch, ComponentId, Signal};
use llamacol_pipeline::testing::{free_port, sample_traces};

use super::*;
use llamacol_api::formats::jaeger::from_otlp::{batch, process, NO_SERVICE_NAME};
use llamacol_api::formats::jaeger::model::{self, SpanRefType, ValueType};

const TRACE: [u8; 16] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];
const SPAN: [u8; 8] = [0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8];
const PARENT: [u8; 8] = [0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8];

fn span() -> Span {
    Span {
        trace_id: TRACE.to_vec(),
        span_id: SPAN.to_vec(),
        name: "chat llama-3".into(),
        start_time_unix_nano: 1_700_000_000_123_456_789,
        end_time_unix_nano: 1_700_000_001_623_456_789,
        ..Default::default()
    }
}

/// The one Jaeger span of `s` under a resource with `service.name=svc` and `scope`.
fn translated_with(s: Span, scope: Option<InstrumentationScope>) -> model::Span {
    let rs = ResourceSpans {
        resource: Some(Resource {
            attributes: vec![string("service.name", "svc")],
            ..Default::default()
        }),
        scope_spans: vec![ScopeSpans {
            scope,
            spans: vec![s],
            ..Default::default()
        }],
        ..Default::default()
    };
    batch(&rs).expect("a batch").spans.remove(0)
}

fn translated(s: Span) -> model::Span {
    translated_with(s, None)
}

fn tag<'a>(tags: &'a [model::KeyValue], key: &str) -> Option<&'a model::KeyValue> {
    tags.iter().find(|t| t.key == key)
}

fn keys(tags: &[model::KeyValue]) -> Vec<&str> {
    tags.iter().map(|t| t.key.as_str()).collect()
}

#[test]
fn service_name_becomes_the_process_and_other_resource_attributes_its_tags() {
    let p = process(Some(&Resource {
        attributes: vec![
            string("host.name", "gpu-node-1"),
            string("service.name", "chat-api"),
            int("process.pid", 42),
        ],
        ..Default::default()
    }));
    assert_eq!(p.service_name, "chat-api");
    assert_eq!(keys(&p.tags), ["host.name", "process.pid"]);
    assert_eq!(p.tags[1].v_type, ValueType::Int64 as i32);
    assert_eq!(p.tags[1].v_int64, 42);
}

#[test]
fn a_resource_without_attributes_gets_the_collectors_placeholder_service() {
    assert_eq!(process(None).service_name, NO_SERVICE_NAME);
    assert_eq!(
        process(Some(&Resource::default())).service_name,
        "OTLPResourceNoServiceName"
    );
    // Attributes but no service.name: an empty service, as the Collector sends it.
    let p = process(Some(&Resource {
        attributes: vec![string("host.name", "n1")],
        ..Default::default()
    }));
    assert_eq!(p.service_name, "");
    assert_eq!(keys(&p.tags), ["host.name"]);
}

#[test]
fn ids_times_and_duration_are_carried_over() {
    let j = translated(span());
    assert_eq!(j.trace_id, TRACE);
    assert_eq!(j.span_id, SPAN);
    assert_eq!(j.operation_name, "chat llama-3");
    assert_eq!(
        j.start_time,
        Some(model::Timestamp {
            seconds: 1_700_000_000,
            nanos: 123_456_789
        })
    );
    assert_eq!(
        j.duration,
        Some(model::Duration {
            seconds: 1,
            nanos: 500_000_000
        })
    );
    assert!(j.references.is_empty(), "a root span has no reference");
    assert!(j.process.is_none(), "the batch carries the process");
}

#[test]
fn scope_name_and_version_are_the_first_tags() {
    let mut s = span();
    s.attributes = vec![string("a", "b")];
    let j = translated_with(
        s,
        Some(InstrumentationScope {
            name: "openllmetry".into(),
            version: "0.40.0".into(),
            ..Default::default()
        }),
    );
    assert_eq!(
        keys(&j.tags),
        ["otel.scope.name", "otel.scope.version", "a"]
    );
    assert_eq!(j.tags[0].v_str, "openllmetry");
    assert_eq!(j.tags[1].v_str, "0.40.0");
}

#[test]
fn every_span_kind_is_its_opentracing_tag_and_unspecified_has_none() {
    for (kind, expected) in [
        (SpanKind::Client, Some("client")),
        (SpanKind::Server, Some("server")),
        (SpanKind::Producer, Some("producer")),
        (SpanKind::Consumer, Some("consumer")),
        (SpanKind::Internal, Some("internal")),
        (SpanKind::Unspecified, None),
    ] {
        let mut s = span();
        s.kind = kind as i32;
        let j = translated(s);
        assert_eq!(
            tag(&j.tags, "span.kind").map(|t| t.v_str.as_str()),
            expected,
            "{kind:?}"
        );
    }
}

#[test]
fn error_status_sets_the_code_the_error_flag_and_the_description() {
    let mut s = span();
    s.status = Some(Status {
        code: 2,
        message: "model overloaded".into(),
    });
    let j = translated(s);
    assert_eq!(
        keys(&j.tags),
        ["otel.status_code", "error", "otel.status_description"]
    );
    assert_eq!(j.tags[0].v_str, "ERROR");
    assert_eq!(j.tags[1].v_type, ValueType::Bool as i32);
    assert!(j.tags[1].v_bool);
    assert_eq!(j.tags[2].v_str, "model overloaded");

    let mut ok = span();
    ok.status = Some(Status {
        code: 1,
        message: String::new(),
    });
    assert_eq!(keys(&translated(ok).tags), ["otel.status_code"]);
    let mut unset = span();
    unset.status = Some(Status::default());
    assert!(translated(unset).tags.is_empty());
}

#[test]
fn trace_state_becomes_w3c_tracestate() {
    let mut s = span();
    s.trace_state = "ot=th:8".into();
    let j = translated(s);
    assert_eq!(
        tag(&j.tags, "w3c.tracestate").map(|t| t.v_str.as_str()),
        Some("ot=th:8")
    );
}

#[test]
fn every_attribute_type_gets_its_tag_type() {
    let mut s = span();
    s.attributes = vec![
        string("s", "text"),
        kv("b", any_value::Value::BoolValue(true)),
        int("i", -7),
        kv("d", any_value::Value::DoubleValue(0.25)),
        kv("bytes", any_value::Value::BytesValue(vec![0, 255, 7])),
        kv(
            "arr",
            any_value::Value::ArrayValue(ArrayValue {
                values: vec![
                    AnyValue {
                        value: Some(any_value::Value::StringValue("stop".into())),
                    },
                    AnyValue {
                        value: Some(any_value::Value::IntValue(3)),
                    },
                ],
            }),
        ),
        kv(
            "map",
            any_value::Value::KvlistValue(KeyValueList {
                values: vec![int("k", 1)],
            }),
        ),
    ];
    let j = translated(s);
    let t = |k| tag(&j.tags, k).expect(k);
    assert_eq!(
        (t("s").v_type, t("s").v_str.as_str()),
        (ValueType::String as i32, "text")
    );
    assert_eq!(
        (t("b").v_type, t("b").v_bool),
        (ValueType::Bool as i32, true)
    );
    assert_eq!(
        (t("i").v_type, t("i").v_int64),
        (ValueType::Int64 as i32, -7)
    );
    assert_eq!(
        (t("d").v_type, t("d").v_float64),
        (ValueType::Float64 as i32, 0.25)
    );
    assert_eq!(t("bytes").v_type, ValueType::Binary as i32);
    assert_eq!(t("bytes").v_binary, [0, 255, 7]);
    assert_eq!(
        (t("arr").v_type, t("arr").v_str.as_str()),
        (ValueType::String as i32, r#"["stop",3]"#)
    );
    assert_eq!(t("map").v_str, r#"{"k":1}"#);
}

#[test]
fn the_parent_is_child_of_and_links_follow_from_unless_their_ref_type_says_otherwise() {
    let other_trace = [9u8; 16];
    let mut s = span();
    s.parent_span_id = PARENT.to_vec();
    s.links = vec![
        Link {
            trace_id: other_trace.to_vec(),
            span_id: [7u8; 8].to_vec(),
            ..Default::default()
        },
        Link {
            trace_id: other_trace.to_vec(),
            span_id: [6u8; 8].to_vec(),
            attributes: vec![string("opentracing.ref_type", "child_of")],
            ..Default::default()
        },
    ];
    let j = translated(s);
    let refs: Vec<(Vec<u8>, Vec<u8>, i32)> = j
        .references
        .iter()
        .map(|r| (r.trace_id.clone(), r.span_id.clone(), r.ref_type))
        .collect();
    assert_eq!(
        refs,
        [
            (TRACE.to_vec(), PARENT.to_vec(), SpanRefType::ChildOf as i32),
            (
                other_trace.to_vec(),
                vec![7; 8],
                SpanRefType::FollowsFrom as i32
            ),
            (
                other_trace.to_vec(),
                vec![6; 8],
                SpanRefType::ChildOf as i32
            ),
        ]
    );
}

#[test]
fn a_link_to_the_parent_only_sets_the_parents_reference_type() {
    let mut s = span();
    s.parent_span_id = PARENT.to_vec();
    s.links = vec![Link {
        trace_id: TRACE.to_vec(),
        span_id: PARENT.to_vec(),
        attributes: vec![string("opentracing.ref_type", "follows_from")],
        ..Default::default()
    }];
    let j = translated(s);
    assert_eq!(j.references.len(), 1);
    assert_eq!(j.references[0].ref_type, SpanRefType::FollowsFrom as i32);
}

#[test]
fn events_become_logs_with_their_name_as_the_event_field() {
    let mut s = span();
    s.events = vec![
        Event {
            time_unix_nano: 1_700_000_000_200_000_000,
            name: "gen_ai.first_chunk".into(),
            attributes: vec![int("index", 0)],
            ..Default::default()
        },
        Event {
            time_unix_nano: 1_700_000_000_300_000_000,
            name: "ignored".into(),
            attributes: vec![string("event", "own")],
            ..Default::default()
        },
    ];
    let j = translated(s);
    assert_eq!(j.logs.len(), 2);
    assert_eq!(
        j.logs[0].timestamp,
        Some(model::Timestamp {
            seconds: 1_700_000_000,
            nanos: 200_000_000
        })
    );
    assert_eq!(keys(&j.logs[0].fields), ["event", "index"]);
    assert_eq!(j.logs[0].fields[0].v_str, "gen_ai.first_chunk");
    assert_eq!(keys(&j.logs[1].fields), ["event"]);
    assert_eq!(j.logs[1].fields[0].v_str, "own");
}

#[test]
fn dropped_counts_become_tags_when_there_are_any() {
    let mut s = span();
    s.dropped_attributes_count = 3;
    s.dropped_links_count = 1;
    let j = translated(s);
    assert_eq!(
        keys(&j.tags),
        ["otel.dropped_attributes_count", "otel.dropped_links_count"]
    );
    assert_eq!(j.tags[0].v_int64, 3);
    assert!(translated(span()).tags.is_empty());
}

/// As the Collector's translator (`resourceSpansToJaegerProto`): one batch per resource;
/// none for a resource with no attributes and no scopes; a resource with attributes but
/// no spans (or scopes without spans) is a batch holding only its process.
#[test]
fn one_batch_per_resource_and_the_process_alone_for_a_resource_without_spans() {
    let request = sample_traces(3, 4);
    let batches: Vec<model::Batch> = request.resource_spans.iter().filter_map(batch).collect();
    assert_eq!(batches.len(), 3);
    assert_eq!(batches[2].spans.len(), 4);
    assert_eq!(
        batches[2].process.as_ref().map(|p| p.service_name.as_str()),
        Some("svc-2")
    );
    assert!(batch(&ResourceSpans::default()).is_none());

    let mut only_resource = request.resource_spans[1].clone();
    only_resource.scope_spans.clear();
    let alone = batch(&only_resource).expect("the process alone");
    assert!(alone.spans.is_empty());
    assert_eq!(
        alone.process.as_ref().map(|p| p.service_name.as_str()),
        Some("svc-1")
    );
    let mut empty_scopes = ResourceSpans::default();
    empty_scopes.scope_spans.push(Default::default());
    let placeholder = batch(&empty_scopes).expect("a scope makes a batch");
    assert_eq!(
        placeholder.process.map(|p| p.service_name),
        Some(NO_SERVICE_NAME.to_string())
    );
}

#[test]
fn config_defaults_follow_the_protocol() {
    let parse = |yaml: &str| -> JaegerConfig {
        let block: Value = llamacol_api::serde_yaml::from_str(yaml).expect("yaml");
        llamacol_api::config::parse(&block).expect("parse")
    };
    assert_eq!(parse("{}").sender().endpoint, "localhost:4317");
    assert_eq!(parse("protocol: grpc").sender().endpoint, "localhost:14250");
    assert_eq!(
        parse("protocol: otlp_http").sender().endpoint,
        "http://localhost:4318"
    );
    let issues = <JaegerConfig as llamacol_api::config::ComponentConfig>::validate(&parse(
        "{protocol: otlp_http, endpoint: 'jaeger:4318'}",
    ));
    assert_eq!(issues.len(), 1, "{issues:?}");
}

/// A `PostSpans` server: records each call's batch, and fails the calls listed in `fail`
/// (1-based) with UNAVAILABLE.
#[derive(Default)]
struct Collector {
    calls: Mutex<usize>,
    services: Mutex<Vec<String>>,
    fail: Mutex<Vec<usize>>,
}

async fn post_spans_server() -> (u16, Arc<Collector>) {
    let state = Arc::new(Collector::default());
    let shared = state.clone();
    let app = axum::Router::new().route(
        model::POST_SPANS,
        axum::routing::post(move |body: axum::body::Bytes| {
            let state = shared.clone();
            async move {
                let call = {
                    let mut calls = state.calls.lock().unwrap_or_else(PoisonError::into_inner);
                    *calls += 1;
                    *calls
                };
                let failing = state
                    .fail
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .contains(&call);
                if failing {
                    return axum::response::Response::builder()
                        .header("content-type", "application/grpc")
                        .header("grpc-status", "14")
                        .header("grpc-message", "jaeger restarting")
                        .body(axum::body::Body::empty())
                        .expect("response");
                }
                let request = model::PostSpansRequest::decode(&body[5..]).expect("PostSpans");
                let service = request
                    .batch
                    .and_then(|b| b.process)
                    .map(|p| p.service_name);
                state
                    .services
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(service.unwrap_or_default());
                axum::response::Response::builder()
                    .header("content-type", "application/grpc")
                    .header("grpc-status", "0")
                    .body(axum::body::Body::from(vec![0u8, 0, 0, 0, 0]))
                    .expect("response")
            }
        }),
    );
    let port = free_port();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, state)
}

#[tokio::test]
async fn a_failed_post_keeps_only_the_resources_not_yet_delivered() {
    let (port, server) = post_spans_server().await;
    server
        .fail
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(2);
    let block: Value = llamacol_api::serde_yaml::from_str(&format!(
        "{{protocol: grpc, endpoint: '127.0.0.1:{port}', tls: {{insecure: true}}, compression: none}}"
    ))
    .expect("yaml");
    let ctx = BuildContext::new(
        ComponentId::parse("jaeger").expect("id"),
        vec![Signal::Traces],
    );
    let exporter = build(&ctx, &block).expect("build");
    let mut batch = Batch::from_bytes(Signal::Traces, sample_traces(3, 2).encode_to_vec().into())
        .expect("valid");

    let first = exporter
        .export(&mut batch)
        .await
        .expect_err("second call fails");
    assert!(first.is_retryable(), "UNAVAILABLE is retryable: {first}");
    assert_eq!(
        batch.items(),
        4,
        "svc-0 was delivered; svc-1 and svc-2 remain"
    );

    exporter
        .export(&mut batch)
        .await
        .expect("the retry goes through");
    let services = server
        .services
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    assert_eq!(
        services,
        ["svc-0", "svc-1", "svc-2"],
        "each resource exactly once"
    );
}
