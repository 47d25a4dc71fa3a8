use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use llamacol_api::otlp::collector::trace::v1::trace_service_client::TraceServiceClient;
use llamacol_api::Signal;
use llamacol_pipeline::runtime::Service;
use llamacol_pipeline::testing::{
    fixtures_dir, free_port, sample_logs, sample_metrics, sample_traces, Sink,
};
use prost::Message;
use tonic::codec::CompressionEncoding;

const WAIT: Duration = Duration::from_secs(5);

struct Running {
    service: Service,
    grpc: String,
    http: String,
    sink: Arc<Sink>,
}

/// The real otlp receiver in a pipeline to a capturing sink with a small queue.
async fn start(name: &str, queue_size: usize) -> Running {
    let (g, h) = (free_port(), free_port());
    let yaml = format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{g}", max_recv_msg_size_mib: 1}}
      http: {{endpoint: "127.0.0.1:{h}", max_request_body_size: 1048576}}
exporters:
  sink: {{name: {name}, sending_queue: {{queue_size: {queue_size}, num_consumers: 1, block_timeout: 100ms}}}}
service:
  telemetry: {{admin: {{endpoint: "127.0.0.1:0"}}, shutdown_timeout: 200ms}}
  pipelines:
    traces: {{receivers: [otlp], exporters: [sink]}}
    metrics: {{receivers: [otlp], exporters: [sink]}}
    logs: {{receivers: [otlp], exporters: [sink]}}
"#
    );
    let service = run(yaml).await;
    Running {
        service,
        grpc: format!("http://127.0.0.1:{g}"),
        http: format!("http://127.0.0.1:{h}"),
        sink: Sink::named(name),
    }
}

/// The otlp receiver and the test sink in a running service from `yaml`.
async fn run(yaml: String) -> Service {
    crate::test_service::run(super::factory(), yaml).await
}

async fn post(
    url: String,
    content_type: &str,
    encoding: Option<&str>,
    body: Vec<u8>,
) -> (u16, Option<String>, Vec<u8>) {
    let mut req = reqwest::Client::new()
        .post(url)
        .header("content-type", content_type)
        .body(body);
    if let Some(e) = encoding {
        req = req.header("content-encoding", e);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap_or_default().to_string());
    (
        status,
        retry_after,
        resp.bytes().await.expect("body").to_vec(),
    )
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).expect("gzip");
    enc.finish().expect("gzip")
}

#[tokio::test]
async fn accepts_the_otlp_spec_json_examples() {
    let r = start("otlp-json", 100).await;
    let dir = fixtures_dir().join("otlp-json");
    for (file, path) in [
        ("trace.json", "traces"),
        ("metrics.json", "metrics"),
        ("logs.json", "logs"),
        ("events.json", "logs"),
    ] {
        let body = std::fs::read(dir.join(file)).expect("fixture");
        let (status, _, resp) = post(
            format!("{}/v1/{path}", r.http),
            "application/json",
            None,
            body,
        )
        .await;
        assert_eq!(status, 200, "{file}: {}", String::from_utf8_lossy(&resp));
        assert_eq!(resp, b"{}");
    }
    assert!(r.sink.wait_for(Signal::Traces, 1, WAIT).await);
    assert!(r.sink.wait_for(Signal::Logs, 2, WAIT).await);
    assert!(r.sink.wait_for(Signal::Metrics, 1, WAIT).await);
    let batches = r.sink.batches();
    let mut traces = batches
        .into_iter()
        .find_map(|b| match b {
            llamacol_api::Batch::Traces(t) => Some(t),
            _ => None,
        })
        .expect("traces batch");
    let span = &traces.message().expect("decoded").resource_spans[0].scope_spans[0].spans[0];
    // Hex ids from the JSON arrive as their bytes.
    assert_eq!(
        span.trace_id,
        [
            0x5B, 0x8E, 0xFF, 0xF7, 0x98, 0x03, 0x81, 0x03, 0xD2, 0x69, 0xB6, 0x33, 0x81, 0x3F,
            0xC6, 0x0C
        ]
    );
    assert_eq!(span.start_time_unix_nano, 1_544_712_660_000_000_000);
    assert_eq!(span.kind, 2);
    r.service.shutdown().await;
}

#[tokio::test]
async fn accepts_protobuf_plain_and_gzip_over_http() {
    let r = start("otlp-http-pb", 100).await;
    let body = sample_traces(2, 5).encode_to_vec();
    let (status, _, resp) = post(
        format!("{}/v1/traces", r.http),
        "application/x-protobuf",
        None,
        body.clone(),
    )
    .await;
    assert_eq!((status, resp.len()), (200, 0));
    let (status, _, _) = post(
        format!("{}/v1/traces", r.http),
        "application/x-protobuf",
        Some("gzip"),
        gzip(&body),
    )
    .await;
    assert_eq!(status, 200);
    let zstd = zstd::bulk::compress(&body, 3).expect("zstd");
    let (status, _, _) = post(
        format!("{}/v1/traces", r.http),
        "application/x-protobuf",
        Some("zstd"),
        zstd,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _, _) = post(
        format!("{}/v1/logs", r.http),
        "application/x-protobuf",
        None,
        sample_logs(3).encode_to_vec(),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        r.sink.wait_for(Signal::Traces, 30, WAIT).await,
        "got {}",
        r.sink.items(Signal::Traces)
    );
    assert!(r.sink.wait_for(Signal::Logs, 3, WAIT).await);
    r.service.shutdown().await;
}

#[tokio::test]
async fn accepts_grpc_with_and_without_gzip() {
    let r = start("otlp-grpc", 100).await;
    let mut client = TraceServiceClient::connect(r.grpc.clone())
        .await
        .expect("connect");
    client
        .export(sample_traces(1, 4))
        .await
        .expect("plain export");
    let mut gz = client
        .clone()
        .send_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Gzip);
    gz.export(sample_traces(1, 6)).await.expect("gzip export");
    let mut zs = client.clone().send_compressed(CompressionEncoding::Zstd);
    zs.export(sample_traces(1, 5)).await.expect("zstd export");
    let mut metrics = llamacol_api::otlp::collector::metrics::v1::metrics_service_client::MetricsServiceClient::connect(r.grpc.clone()).await.expect("connect");
    metrics
        .export(sample_metrics(2))
        .await
        .expect("metrics export");
    assert!(r.sink.wait_for(Signal::Traces, 15, WAIT).await);
    assert!(r.sink.wait_for(Signal::Metrics, 8, WAIT).await);
    r.service.shutdown().await;
}

#[tokio::test]
async fn bad_http_input_gets_its_status_and_the_receiver_keeps_serving() {
    let r = start("otlp-bad-http", 100).await;
    let url = format!("{}/v1/traces", r.http);

    let (status, _, body) = post(
        url.clone(),
        "application/x-protobuf",
        None,
        b"\xff\xff\xff garbage".to_vec(),
    )
    .await;
    assert_eq!(status, 400);
    let decoded = super::http_status_message(&body);
    assert!(
        decoded.starts_with("invalid OTLP traces export request: malformed protobuf at byte"),
        "{decoded}"
    );

    let truncated = sample_traces(1, 3).encode_to_vec();
    let (status, _, _) = post(
        url.clone(),
        "application/x-protobuf",
        None,
        truncated[..truncated.len() - 5].to_vec(),
    )
    .await;
    assert_eq!(status, 400);

    let (status, _, body) = post(
        url.clone(),
        "application/json",
        None,
        b"{\"resourceSpans\": [".to_vec(),
    )
    .await;
    assert_eq!(status, 400);
    let json: serde_json::Value = serde_json::from_slice(&body).expect("json error body");
    assert_eq!(json["code"], 3);
    assert!(json["message"]
        .as_str()
        .unwrap_or_default()
        .starts_with("invalid OTLP/JSON traces export request"));

    let (status, _, body) = post(url.clone(), "text/plain", None, b"hello".to_vec()).await;
    assert_eq!(status, 415);
    assert!(String::from_utf8_lossy(&body).contains("unsupported content type `text/plain`"));

    let (status, _, _) = post(
        url.clone(),
        "application/x-protobuf",
        None,
        vec![0u8; 2 * 1024 * 1024],
    )
    .await;
    assert_eq!(status, 413);

    // A gzip bomb: small on the wire, over the limit once inflated.
    let (status, _, _) = post(
        url.clone(),
        "application/x-protobuf",
        Some("gzip"),
        gzip(&vec![0u8; 3 * 1024 * 1024]),
    )
    .await;
    assert_eq!(status, 413);

    let (status, _, _) = post(
        url.clone(),
        "application/x-protobuf",
        Some("br"),
        b"x".to_vec(),
    )
    .await;
    assert_eq!(status, 400);

    let status = reqwest::get(url.clone())
        .await
        .expect("get")
        .status()
        .as_u16();
    assert_eq!(status, 405);
    let (status, _, _) = post(
        format!("{}/v1/nothing", r.http),
        "application/x-protobuf",
        None,
        vec![],
    )
    .await;
    assert_eq!(status, 404);

    let (status, _, _) = post(
        url,
        "application/x-protobuf",
        None,
        sample_traces(1, 2).encode_to_vec(),
    )
    .await;
    assert_eq!(status, 200, "still serving");
    assert!(r.sink.wait_for(Signal::Traces, 2, WAIT).await);
    assert_eq!(
        r.sink.items(Signal::Traces),
        2,
        "nothing from the bad requests got through"
    );
    r.service.shutdown().await;
}

#[tokio::test]
async fn bad_grpc_input_gets_invalid_argument_or_resource_exhausted() {
    let r = start("otlp-bad-grpc", 100).await;
    let status = raw_grpc_export(&r.grpc, Bytes::from_static(b"\x0a\xff\xff\xff\x0f junk"))
        .await
        .expect_err("garbage");
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(
        status.message().contains("malformed protobuf"),
        "{}",
        status.message()
    );

    let status = raw_grpc_export(&r.grpc, Bytes::from(vec![0u8; 2 * 1024 * 1024]))
        .await
        .expect_err("too large");
    assert_eq!(
        status.code(),
        tonic::Code::ResourceExhausted,
        "{}",
        status.message()
    );

    raw_grpc_export(&r.grpc, Bytes::from(sample_traces(1, 1).encode_to_vec()))
        .await
        .expect("still serving");
    assert!(r.sink.wait_for(Signal::Traces, 1, WAIT).await);
    r.service.shutdown().await;
}

#[tokio::test]
async fn full_pipeline_answers_retryable_statuses() {
    let r = start("otlp-full", 1).await;
    r.sink.stall(true);
    let url = format!("{}/v1/traces", r.http);
    let body = sample_traces(1, 1).encode_to_vec();
    // One batch is taken by the stalled worker, one fills the queue; the next is refused.
    let mut refused = None;
    for _ in 0..5 {
        let (status, retry_after, _) =
            post(url.clone(), "application/x-protobuf", None, body.clone()).await;
        if status != 200 {
            refused = Some((status, retry_after));
            break;
        }
    }
    assert_eq!(refused, Some((503, Some("1".to_string()))));
    let mut client = TraceServiceClient::connect(r.grpc.clone())
        .await
        .expect("connect");
    let status = client
        .export(sample_traces(1, 1))
        .await
        .expect_err("queue full");
    assert_eq!(status.code(), tonic::Code::Unavailable);
    use tonic_types::StatusExt;
    assert_eq!(
        status.get_details_retry_info().and_then(|r| r.retry_delay),
        Some(Duration::from_secs(1)),
        "RetryInfo says when to retry"
    );
    assert!(
        status.message().contains("queue is full"),
        "{}",
        status.message()
    );
    r.sink.stall(false);
    r.service.shutdown().await;
}

/// An OTLP/gRPC traces export of arbitrary bytes, as a buggy client would send.
async fn raw_grpc_export(endpoint: &str, payload: Bytes) -> Result<(), tonic::Status> {
    let channel = tonic::transport::Endpoint::from_shared(endpoint.to_string())
        .map_err(|e| tonic::Status::internal(e.to_string()))?
        .connect()
        .await
        .map_err(|e| tonic::Status::internal(e.to_string()))?;
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|e| tonic::Status::internal(e.to_string()))?;
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(
        "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    );
    grpc.unary(tonic::Request::new(payload), path, BytesCodec)
        .await
        .map(|_| ())
}

#[derive(Default)]
struct BytesCodec;
struct BytesCoder;

impl tonic::codec::Codec for BytesCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = BytesCoder;
    type Decoder = BytesCoder;
    fn encoder(&mut self) -> BytesCoder {
        BytesCoder
    }
    fn decoder(&mut self) -> BytesCoder {
        BytesCoder
    }
}

impl tonic::codec::Encoder for BytesCoder {
    type Item = Bytes;
    type Error = tonic::Status;
    fn encode(
        &mut self,
        item: Bytes,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        bytes::BufMut::put(dst, item);
        Ok(())
    }
}

impl tonic::codec::Decoder for BytesCoder {
    type Item = Bytes;
    type Error = tonic::Status;
    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Bytes>, tonic::Status> {
        use bytes::Buf;
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

#[tokio::test]
async fn cors_answers_preflights_for_allowed_origins_only() {
    let h = free_port();
    let yaml = format!(
        r#"
receivers:
  otlp:
    protocols:
      http:
        endpoint: "127.0.0.1:{h}"
        cors: {{allowed_origins: ["https://*.example.com"], allowed_headers: [X-Tenant], max_age: 600}}
exporters:
  sink: {{name: cors}}
service:
  telemetry: {{admin: {{endpoint: "127.0.0.1:0"}}, shutdown_timeout: 200ms}}
  pipelines:
    traces: {{receivers: [otlp], exporters: [sink]}}
"#
    );
    let service = run(yaml).await;
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{h}/v1/traces");
    let preflight = |origin: &'static str| {
        client
            .request(reqwest::Method::OPTIONS, &url)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type,x-tenant")
            .send()
    };
    let allowed = preflight("https://app.example.com")
        .await
        .expect("preflight");
    assert!(allowed.status().is_success(), "{}", allowed.status());
    let h = allowed.headers();
    assert_eq!(h["access-control-allow-origin"], "https://app.example.com");
    assert!(h["access-control-allow-methods"]
        .to_str()
        .expect("ascii")
        .contains("POST"));
    assert!(h["access-control-allow-headers"]
        .to_str()
        .expect("ascii")
        .contains("x-tenant"));
    assert_eq!(h["access-control-max-age"], "600");
    let refused = preflight("https://evil.io").await.expect("preflight");
    assert!(refused
        .headers()
        .get("access-control-allow-origin")
        .is_none());

    // The export itself carries the header back to the page.
    let response = client
        .post(&url)
        .header("origin", "https://app.example.com")
        .header("content-type", "application/x-protobuf")
        .body(sample_traces(1, 1).encode_to_vec())
        .send()
        .await
        .expect("post");
    assert!(response.status().is_success());
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    service.shutdown().await;
}

/// `transport: unix` (configgrpc's and confighttp's): the receiver listens on socket
/// files, replacing one a crash left behind; the HTTP/2 options (`max_concurrent_streams`,
/// `keepalive`) load.
#[tokio::test]
async fn grpc_on_a_unix_socket_with_the_collectors_server_options() {
    let dir = tempfile::tempdir().expect("tmp");
    let socket = dir.path().join("otlp.sock");
    let http_socket = dir.path().join("otlp-http.sock");
    // A stale socket from an earlier run.
    drop(std::os::unix::net::UnixListener::bind(&socket).expect("stale socket"));
    let yaml = format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc:
        transport: unix
        endpoint: "{}"
        max_concurrent_streams: 16
        read_buffer_size: 524288
        keepalive:
          server_parameters: {{max_connection_idle: 11s, max_connection_age: 60s, max_connection_age_grace: 5s, time: 30s, timeout: 5s}}
          enforcement_policy: {{min_time: 10s, permit_without_stream: true}}
      http:
        transport: unix
        endpoint: "{}"
        traces_url_path: traces
exporters:
  sink: {{name: otlp-unix}}
service:
  telemetry: {{admin: {{endpoint: "127.0.0.1:0"}}, shutdown_timeout: 200ms}}
  pipelines:
    traces: {{receivers: [otlp], exporters: [sink]}}
"#,
        socket.display(),
        http_socket.display()
    );
    let service = run(yaml).await;
    let mut client = TraceServiceClient::connect(format!("unix://{}", socket.display()))
        .await
        .expect("connect over the socket");
    client
        .export(sample_traces(1, 3))
        .await
        .expect("export over the socket");
    assert!(
        Sink::named("otlp-unix")
            .wait_for(Signal::Traces, 3, WAIT)
            .await
    );
    service.shutdown().await;
}

/// A double in an OTLP/JSON request is the double it denotes, to the last bit (serde_json
/// parses to the nearest only with its `float_roundtrip` feature; without it this value
/// came out one unit in the last place low).
#[test]
fn json_doubles_keep_every_bit() {
    let text = r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"d","gauge":{"dataPoints":[{"asDouble":0.015001941000000001}]}}]}]}]}"#;
    let llamacol_api::Batch::Metrics(mut payload) =
        super::body::json(Signal::Metrics, text.as_bytes()).expect("valid")
    else {
        panic!("metrics")
    };
    let request = payload.message().expect("decoded");
    let Some(llamacol_api::otlp::metrics::v1::metric::Data::Gauge(g)) =
        &request.resource_metrics[0].scope_metrics[0].metrics[0].data
    else {
        panic!("gauge")
    };
    let expected: f64 = "0.015001941000000001".parse().expect("f64");
    assert_eq!(
        g.data_points[0].value,
        Some(llamacol_api::otlp::metrics::v1::number_data_point::Value::AsDouble(expected))
    );
}
