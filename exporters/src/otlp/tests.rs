use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::Bytes as AxumBytes;
use axum::http::{HeaderMap, StatusCode};
use llamacol_api::otlp::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use llamacol_api::otlp::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use llamacol_api::{Batch, ComponentId, ErrorKind};
use llamacol_pipeline::testing::{free_port, sample_traces};
use prost::Message;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use super::*;

/// What a test server saw, and what it should answer next.
#[derive(Default)]
struct Backend {
    spans: Mutex<usize>,
    authorization: Mutex<Vec<String>>,
    encodings: Mutex<Vec<String>>,
    answer: Mutex<Option<Status>>,
}

impl Backend {
    fn spans(&self) -> usize {
        *self.spans.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

struct GrpcBackend(Arc<Backend>);

#[tonic::async_trait]
impl TraceService for GrpcBackend {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, Status> {
        let b = &self.0;
        if let Some(v) = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
        {
            b.authorization
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(v.to_string());
        }
        if let Some(status) = b
            .answer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            return Err(status);
        }
        let n: usize = request
            .get_ref()
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        *b.spans.lock().unwrap_or_else(PoisonError::into_inner) += n;
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: 1,
                error_message: "one span too old".into(),
            }),
        }))
    }
}

async fn grpc_backend(tls: Option<tonic::transport::ServerTlsConfig>) -> (u16, Arc<Backend>) {
    let backend = Arc::new(Backend::default());
    let port = free_port();
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = tls {
        builder = builder.tls_config(tls).expect("tls");
    }
    let svc = TraceServiceServer::new(GrpcBackend(backend.clone()))
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
        .accept_compressed(tonic::codec::CompressionEncoding::Zstd);
    let router = builder.add_service(svc);
    tokio::spawn(router.serve(([127, 0, 0, 1], port).into()));
    tokio::time::sleep(Duration::from_millis(100)).await;
    (port, backend)
}

fn exporter(yaml: &str) -> Arc<dyn Exporter> {
    let block: Value = llamacol_api::serde_yaml::from_str(yaml).expect("yaml");
    let issues = <OtlpExporterConfig as llamacol_api::config::ComponentConfig>::validate(
        &llamacol_api::config::parse(&block).expect("parse"),
    );
    assert!(issues.is_empty(), "{issues:?}");
    let ctx = BuildContext::new(
        ComponentId::parse("otlp").expect("id"),
        vec![Signal::Traces],
    );
    build(&ctx, &block).expect("build")
}

fn traces(n: usize) -> Batch {
    Batch::from_bytes(Signal::Traces, sample_traces(1, n).encode_to_vec().into()).expect("valid")
}

#[tokio::test]
async fn grpc_sends_with_each_compression_and_headers() {
    let (port, backend) = grpc_backend(None).await;
    for compression in ["gzip", "zstd", "none"] {
        let e = exporter(&format!("{{endpoint: \"127.0.0.1:{port}\", tls: {{insecure: true}}, compression: {compression}, headers: {{authorization: \"Bearer s3cret\"}}}}"));
        e.export(&mut traces(3))
            .await
            .unwrap_or_else(|err| panic!("{compression}: {err}"));
    }
    assert_eq!(backend.spans(), 9, "partial success is logged, not retried");
    assert_eq!(
        *backend
            .authorization
            .lock()
            .unwrap_or_else(PoisonError::into_inner),
        vec!["Bearer s3cret"; 3]
    );
}

#[tokio::test]
async fn grpc_errors_are_classified_as_the_otlp_spec_says() {
    let (port, backend) = grpc_backend(None).await;
    let e = exporter(&format!("{{endpoint: \"http://127.0.0.1:{port}\"}}"));
    let cases: Vec<(Status, ErrorKind, Option<Duration>)> = vec![
        (Status::unavailable("down"), ErrorKind::Retryable, None),
        (
            Status::invalid_argument("bad data"),
            ErrorKind::Permanent,
            None,
        ),
        (
            Status::resource_exhausted("quota"),
            ErrorKind::Permanent,
            None,
        ),
        (
            Status::with_error_details(
                Code::ResourceExhausted,
                "slow down",
                ErrorDetails::with_retry_info(Some(Duration::from_secs(3))),
            ),
            ErrorKind::Retryable,
            Some(Duration::from_secs(3)),
        ),
        (Status::aborted("conflict"), ErrorKind::Retryable, None),
        (Status::permission_denied("no"), ErrorKind::Permanent, None),
    ];
    for (status, kind, retry_after) in cases {
        let code = status.code();
        *backend
            .answer
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(status);
        let err = e.export(&mut traces(1)).await.expect_err("fails");
        assert_eq!(
            (err.kind(), err.retry_after()),
            (kind, retry_after),
            "{code:?}: {err}"
        );
    }
    // A backend that is not there at all: retryable.
    let gone = exporter(&format!(
        "{{endpoint: \"http://127.0.0.1:{}\", timeout: 1s}}",
        free_port()
    ));
    assert!(gone
        .export(&mut traces(1))
        .await
        .expect_err("refused")
        .is_retryable());
}

#[tokio::test]
async fn grpc_tls_with_a_ca_made_in_the_test() {
    let dir = tempfile::tempdir().expect("tmp");
    let ca = llamacol_pipeline::testing::tls::TestCa::new();
    let server = ca.leaf(dir.path(), "server", &["localhost"], false);
    let read = |p: &std::path::Path| std::fs::read(p).expect("pem");
    let identity = tonic::transport::Identity::from_pem(read(&server.cert), read(&server.key));
    let (port, backend) = grpc_backend(Some(
        tonic::transport::ServerTlsConfig::new().identity(identity),
    ))
    .await;
    let ca_file = ca.write_ca(dir.path(), "ca.pem");

    let trusted = exporter(&format!(
        "{{endpoint: \"localhost:{port}\", tls: {{ca_file: \"{}\"}}}}",
        ca_file.display()
    ));
    trusted
        .export(&mut traces(2))
        .await
        .expect("TLS export with our CA");
    assert_eq!(backend.spans(), 2);

    let untrusted = exporter(&format!("{{endpoint: \"localhost:{port}\", timeout: 2s}}"));
    untrusted
        .export(&mut traces(2))
        .await
        .expect_err("system roots do not trust the test CA");
    let unchecked = exporter(&format!(
        "{{endpoint: \"localhost:{port}\", tls: {{insecure_skip_verify: true}}, timeout: 2s}}"
    ));
    unchecked
        .export(&mut traces(1))
        .await
        .expect("insecure_skip_verify: the test CA's certificate is not checked");
    assert_eq!(backend.spans(), 3);
    let plaintext = exporter(&format!(
        "{{endpoint: \"localhost:{port}\", tls: {{insecure: true}}, timeout: 2s}}"
    ));
    plaintext
        .export(&mut traces(2))
        .await
        .expect_err("plaintext to a TLS server");
    assert_eq!(backend.spans(), 3);
}

/// An OTLP/HTTP backend: decodes gzip/zstd, records, answers with the scripted status.
async fn http_backend(
    answer: (u16, Vec<(&'static str, &'static str)>, &'static str),
) -> (u16, Arc<Backend>) {
    let backend = Arc::new(Backend::default());
    let port = free_port();
    let b = backend.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |headers: HeaderMap, body: AxumBytes| {
            let b = b.clone();
            let answer = answer.clone();
            async move {
                let encoding = headers
                    .get("content-encoding")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                let raw = match encoding.as_str() {
                    "gzip" => {
                        let mut out = Vec::new();
                        std::io::Read::read_to_end(
                            &mut flate2::read::GzDecoder::new(&body[..]),
                            &mut out,
                        )
                        .expect("gzip");
                        out
                    }
                    "zstd" => zstd::decode_all(&body[..]).expect("zstd"),
                    _ => body.to_vec(),
                };
                b.encodings
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(encoding);
                let json = headers.get("content-type").and_then(|v| v.to_str().ok())
                    == Some("application/json");
                let request: ExportTraceServiceRequest = if json {
                    serde_json::from_slice(&raw).expect("json")
                } else {
                    Message::decode(&raw[..]).expect("proto")
                };
                if answer.0 == 200 {
                    *b.spans.lock().unwrap_or_else(PoisonError::into_inner) += request
                        .resource_spans
                        .iter()
                        .flat_map(|r| &r.scope_spans)
                        .map(|s| s.spans.len())
                        .sum::<usize>();
                }
                let mut response = axum::response::Response::new(axum::body::Body::from(answer.2));
                *response.status_mut() = StatusCode::from_u16(answer.0).expect("status");
                for (k, v) in answer.1 {
                    response.headers_mut().insert(k, v.parse().expect("header"));
                }
                response
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, backend)
}

#[tokio::test]
async fn http_sends_proto_and_json_with_each_compression() {
    let (port, backend) = http_backend((200, vec![], "")).await;
    for (encoding, compression) in [
        ("proto", "gzip"),
        ("proto", "zstd"),
        ("json", "none"),
        ("json", "gzip"),
    ] {
        let e = exporter(&format!("{{endpoint: \"http://127.0.0.1:{port}\", protocol: http, encoding: {encoding}, compression: {compression}}}"));
        e.export(&mut traces(2))
            .await
            .unwrap_or_else(|err| panic!("{encoding}/{compression}: {err}"));
    }
    assert_eq!(backend.spans(), 8);
    assert_eq!(
        *backend
            .encodings
            .lock()
            .unwrap_or_else(PoisonError::into_inner),
        ["gzip", "zstd", "", "gzip"]
    );
}

#[tokio::test]
async fn http_errors_are_classified_and_retry_after_is_honoured() {
    let (port, _) = http_backend((503, vec![("retry-after", "7")], "")).await;
    let e = exporter(&format!(
        "{{endpoint: \"http://127.0.0.1:{port}\", protocol: http}}"
    ));
    let err = e.export(&mut traces(1)).await.expect_err("503");
    assert_eq!(
        (err.kind(), err.retry_after()),
        (ErrorKind::Retryable, Some(Duration::from_secs(7)))
    );

    let (port, _) = http_backend((429, vec![], "")).await;
    let e = exporter(&format!(
        "{{endpoint: \"http://127.0.0.1:{port}\", protocol: http}}"
    ));
    assert!(e
        .export(&mut traces(1))
        .await
        .expect_err("429")
        .is_retryable());

    let (port, _) = http_backend((
        400,
        vec![("content-type", "application/json")],
        "{\"code\":3,\"message\":\"span too large\"}",
    ))
    .await;
    let e = exporter(&format!(
        "{{endpoint: \"http://127.0.0.1:{port}\", protocol: http}}"
    ));
    let err = e.export(&mut traces(1)).await.expect_err("400");
    assert_eq!(err.kind(), ErrorKind::Permanent);
    assert_eq!(
        err.to_string(),
        "HTTP export failed with status 400: span too large"
    );

    let e = exporter(&format!(
        "{{endpoint: \"http://127.0.0.1:{}\", protocol: http, timeout: 1s}}",
        free_port()
    ));
    assert!(e
        .export(&mut traces(1))
        .await
        .expect_err("refused")
        .is_retryable());
}

/// What grpc-go servers (the Collector, Jaeger, Tempo) and tonic servers answer a message
/// over their limit: a refusal for size with the limit they state, not a retry, not a
/// loss. Other OUT_OF_RANGE answers stay retryable, as the OTLP spec says.
#[tokio::test]
async fn grpc_refusals_for_size_say_so_with_the_stated_limit() {
    let (port, backend) = grpc_backend(None).await;
    let e = exporter(&format!("{{endpoint: \"http://127.0.0.1:{port}\"}}"));
    let cases = [
        (
            Status::resource_exhausted("grpc: received message after decompression larger than max 4194304"),
            Some(Some(4_194_304)),
        ),
        (
            Status::resource_exhausted("grpc: received message larger than max (5500000 vs. 4194304)"),
            Some(Some(4_194_304)),
        ),
        (
            Status::out_of_range("Error, decoded message length too large: found 5500000 bytes, the limit is: 4194304 bytes"),
            Some(Some(4_194_304)),
        ),
        (
            Status::resource_exhausted("Error decompressing: size limit, of 4194304 bytes, exceeded while decompressing message"),
            Some(Some(4_194_304)),
        ),
        (Status::out_of_range("seek past end"), None),
        (Status::resource_exhausted("memory limit reached"), None),
    ];
    for (status, expected) in cases {
        let message = status.message().to_string();
        *backend
            .answer
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(status);
        let err = e.export(&mut traces(1)).await.expect_err("fails");
        assert_eq!(err.too_large().map(|t| t.limit), expected, "{message}");
        if expected.is_some() {
            assert!(!err.is_retryable(), "{message}");
        }
    }
}

/// A request larger than `max_request_size` in the encoding sent (JSON is larger than the
/// protobuf the queue measures) is not sent: the queue gets it back to cut.
#[tokio::test]
async fn a_body_over_max_request_size_is_handed_back_unsent() {
    let (port, backend) = http_backend((200, vec![], "")).await;
    let e = exporter(&format!("{{endpoint: \"http://127.0.0.1:{port}\", protocol: http, encoding: json, max_request_size: 2KiB}}"));
    assert_eq!(e.max_request_size(), Some(2048));
    let err = e.export(&mut traces(20)).await.expect_err("too large");
    assert_eq!(err.too_large().map(|t| t.limit), Some(None));
    assert!(
        err.to_string()
            .contains("larger than `max_request_size` (2048 bytes)"),
        "{err}"
    );
    e.export(&mut traces(1)).await.expect("one span fits");
    assert_eq!(backend.spans(), 1, "the large request was never sent");
    let defaults = exporter(&format!("{{endpoint: \"127.0.0.1:{port}\"}}"));
    assert_eq!(defaults.max_request_size(), Some(4 * 1024 * 1024));
    let http = exporter(&format!(
        "{{endpoint: \"http://127.0.0.1:{port}\", protocol: http}}"
    ));
    assert_eq!(http.max_request_size(), Some(20 * 1024 * 1024));
    let off = exporter(&format!(
        "{{endpoint: \"127.0.0.1:{port}\", max_request_size: 0}}"
    ));
    assert_eq!(off.max_request_size(), None);
}

#[tokio::test]
async fn http_413_is_a_refusal_for_size() {
    let (port, _) = http_backend((413, vec![], "request entity too large")).await;
    let e = exporter(&format!(
        "{{endpoint: \"http://127.0.0.1:{port}\", protocol: http}}"
    ));
    let err = e.export(&mut traces(1)).await.expect_err("413");
    assert_eq!(err.too_large().map(|t| t.limit), Some(None));
}

#[test]
fn header_values_never_show_in_debug_output() {
    let block: Value = llamacol_api::serde_yaml::from_str(
        "{endpoint: x:1, headers: {authorization: \"Bearer s3cret\"}}",
    )
    .expect("yaml");
    let config: OtlpExporterConfig = llamacol_api::config::parse(&block).expect("parse");
    let shown = format!("{config:?}");
    assert!(
        shown.contains("authorization") && !shown.contains("s3cret"),
        "{shown}"
    );
}

/// `otlp_http` / `otlphttp` are this exporter over HTTP unless the block says otherwise.
#[test]
fn the_http_type_names_mean_protocol_http() {
    use llamacol_api::config::parse_block;
    let block: llamacol_api::serde_yaml::Value =
        llamacol_api::serde_yaml::from_str("endpoint: https://example.com:4318").expect("yaml");
    let http = parse_block::<super::OtlpHttpExporterConfig>(&block).expect("config");
    assert_eq!(http.0.protocol, super::Protocol::Http);
    assert_eq!(
        http.0.request_limit(),
        Some(super::config::HTTP_MAX_REQUEST)
    );
    let grpc_block: llamacol_api::serde_yaml::Value =
        llamacol_api::serde_yaml::from_str("{endpoint: 'h:4317', protocol: grpc}").expect("yaml");
    let told = parse_block::<super::OtlpHttpExporterConfig>(&grpc_block).expect("config");
    assert_eq!(told.0.protocol, super::Protocol::Grpc);
    assert_eq!(
        llamacol_api::config::parse::<super::OtlpHttpExporterConfig>(
            &llamacol_api::serde_yaml::Value::Null
        )
        .expect("default")
        .0
        .protocol,
        super::Protocol::Http
    );
    assert_eq!(super::factory_http().type_name, "otlp_http");
}

/// configgrpc's client keys: `balancer_name: round_robin` (a connection per resolved
/// address) and `keepalive` deliver like the default; the buffer sizes load.
#[tokio::test]
async fn grpc_round_robin_and_keepalive_deliver() {
    let (port, backend) = grpc_backend(None).await;
    let exporter = exporter(&format!(
        "{{endpoint: \"127.0.0.1:{port}\", tls: {{insecure: true}}, balancer_name: round_robin, \
          keepalive: {{time: 10s, timeout: 2s, permit_without_stream: true}}, \
          read_buffer_size: 524288, write_buffer_size: 524288}}"
    ));
    for _ in 0..4 {
        exporter.export(&mut traces(2)).await.expect("export");
    }
    assert_eq!(backend.spans(), 8);
    let parsed: super::config::OtlpExporterConfig = llamacol_api::config::parse_block(
        &llamacol_api::serde_yaml::from_str("{endpoint: x, balancer_name: pick_first}")
            .expect("yaml"),
    )
    .expect("pick_first");
    assert_eq!(
        parsed.balancer_name,
        Some(super::config::Balancer::PickFirst)
    );
}
