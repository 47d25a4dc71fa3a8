//! The `zipkin` exporter against a local HTTP server that keeps what it gets.

use std::sync::{Arc, Mutex, PoisonError};

use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;
use llamacol_api::formats::zipkin::{json, proto};
use llamacol_api::otlp::collector::trace::v1::ExportTraceServiceRequest;
use llamacol_api::serde_yaml::Value;
use llamacol_api::{Batch, BuildContext, ComponentId, Exporter, Signal};
use llamacol_pipeline::testing::{free_port, sample_traces};
use prost::Message;

use super::build;

type Received = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

/// A server answering `status` to every POST, keeping headers and bodies.
async fn server(status: StatusCode) -> (u16, Received) {
    let received: Received = Arc::default();
    let kept = received.clone();
    let app = axum::Router::new().route(
        "/api/v2/spans",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let kept = kept.clone();
            async move {
                kept.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push((headers, body));
                status
            }
        }),
    );
    let port = free_port();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, received)
}

fn exporter(yaml: &str) -> Arc<dyn Exporter> {
    let block: Value = llamacol_api::serde_yaml::from_str(yaml).expect("yaml");
    let ctx = BuildContext::new(
        ComponentId::parse("zipkin").expect("id"),
        vec![Signal::Traces],
    );
    build(&ctx, &block).expect("build")
}

fn traces(request: ExportTraceServiceRequest) -> Batch {
    Batch::from_bytes(Signal::Traces, request.encode_to_vec().into()).expect("valid")
}

#[tokio::test]
async fn json_and_proto_carry_every_span() {
    let (port, received) = server(StatusCode::ACCEPTED).await;
    let endpoint = format!("http://127.0.0.1:{port}/api/v2/spans");
    for format in ["json", "proto"] {
        let e = exporter(&format!(
            "{{endpoint: \"{endpoint}\", format: {format}, compression: none}}"
        ));
        e.export(&mut traces(sample_traces(2, 3)))
            .await
            .expect("sent");
    }
    let received = received
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    assert_eq!(received.len(), 2);
    assert_eq!(received[0].0["content-type"], "application/json");
    assert_eq!(json::parse(&received[0].1).expect("zipkin JSON").len(), 6);
    assert_eq!(received[1].0["content-type"], "application/x-protobuf");
    assert_eq!(
        proto::parse(&received[1].1, false)
            .expect("zipkin protobuf")
            .len(),
        6
    );
}

#[tokio::test]
async fn a_resource_without_a_service_gets_the_default_service_name() {
    let (port, received) = server(StatusCode::ACCEPTED).await;
    let mut request = sample_traces(1, 1);
    request.resource_spans[0].resource = None;
    let e = exporter(&format!("{{endpoint: \"http://127.0.0.1:{port}/api/v2/spans\", default_service_name: Unnamed, compression: gzip}}"));
    e.export(&mut traces(request)).await.expect("sent");
    let (headers, body) = received.lock().unwrap_or_else(PoisonError::into_inner)[0].clone();
    assert_eq!(headers["content-encoding"], "gzip");
    let mut plain = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&body[..]), &mut plain)
        .expect("gzip");
    let spans = json::parse(&plain).expect("JSON");
    let service = spans[0]
        .local_endpoint
        .as_ref()
        .map(|e| e.service_name.as_str());
    assert_eq!(
        service,
        Some("unnamed"),
        "lowercased, as zipkin-go writes JSON"
    );
}

#[tokio::test]
async fn server_errors_are_retried_and_bad_requests_are_not() {
    let (port, _) = server(StatusCode::SERVICE_UNAVAILABLE).await;
    let e = exporter(&format!(
        "{{endpoint: \"http://127.0.0.1:{port}/api/v2/spans\"}}"
    ));
    let error = e
        .export(&mut traces(sample_traces(1, 1)))
        .await
        .expect_err("503");
    assert!(error.is_retryable(), "{error}");
    let (port, _) = server(StatusCode::BAD_REQUEST).await;
    let e = exporter(&format!(
        "{{endpoint: \"http://127.0.0.1:{port}/api/v2/spans\"}}"
    ));
    let error = e
        .export(&mut traces(sample_traces(1, 1)))
        .await
        .expect_err("400");
    assert!(!error.is_retryable(), "{error}");
    // A span Zipkin cannot carry: refused for good, nothing sent.
    let mut request = sample_traces(1, 1);
    request.resource_spans[0].scope_spans[0].spans[0]
        .trace_id
        .clear();
    let error = e
        .export(&mut traces(request))
        .await
        .expect_err("no trace id");
    assert!(!error.is_retryable());
    assert!(error.to_string().contains("TraceID is invalid"), "{error}");
}

#[test]
fn the_endpoint_is_required_and_must_be_a_url() {
    use llamacol_api::config::{parse, ComponentConfig};
    let issues = |yaml: &str| {
        let block: Value = llamacol_api::serde_yaml::from_str(yaml).expect("yaml");
        parse::<super::ZipkinConfig>(&block)
            .expect("parses")
            .validate()
    };
    assert_eq!(
        issues("{}")[0].message,
        "is required: the Zipkin server's spans URL, e.g. `http://zipkin:9411/api/v2/spans`"
    );
    assert!(issues("{endpoint: zipkin:9411}")[0]
        .message
        .contains("is not an http:// or https:// URL"));
    assert!(issues("{endpoint: \"http://z:9411/api/v2/spans\", format: proto}").is_empty());
}
