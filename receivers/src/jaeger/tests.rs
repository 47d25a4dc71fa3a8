//! The `jaeger` receiver in a running service, fed what real clients put on the wire
//! (testdata/tracing-clients/), and its UDP ports' counting.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use llamacol_api::formats::jaeger::model;
use llamacol_api::formats::thrift::Protocol;
use llamacol_api::{Batch, ConsumeError, Consumer, NodeContext, Signal};
use llamacol_pipeline::runtime::Service;
use llamacol_pipeline::testing::{free_port, Sink};

use super::udp::{self, UDP_PACKETS};
use super::UdpConfig;
use crate::server::config::JaegerCompactPort;
use crate::server::Servers;

const WAIT: Duration = Duration::from_secs(5);
const UDP_PACKET: &[u8] = include_bytes!(
    "../../../testdata/tracing-clients/otel-python-1.21.0-jaeger-thrift-compact-udp.bin"
);
const HTTP_BODY: &[u8] = include_bytes!(
    "../../../testdata/tracing-clients/otel-python-1.21.0-jaeger-thrift-binary-http.bin"
);

struct Running {
    service: Service,
    ports: [u16; 4],
    sink: Arc<Sink>,
}

async fn start(name: &str, queue_size: usize) -> Running {
    let ports = [free_port(), free_port(), free_port(), free_port()];
    let [g, h, c, b] = ports;
    let yaml = format!(
        r#"
receivers:
  jaeger:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{g}"}}
      thrift_http: {{endpoint: "127.0.0.1:{h}"}}
      thrift_compact: {{endpoint: "127.0.0.1:{c}"}}
      thrift_binary: {{endpoint: "127.0.0.1:{b}"}}
exporters:
  sink: {{name: {name}, sending_queue: {{queue_size: {queue_size}, num_consumers: 1, block_timeout: 100ms}}}}
service:
  telemetry: {{admin: {{endpoint: "127.0.0.1:0"}}, shutdown_timeout: 200ms}}
  pipelines:
    traces: {{receivers: [jaeger], exporters: [sink]}}
"#
    );
    let service = crate::test_service::run(super::factory(), yaml).await;
    Running {
        service,
        ports,
        sink: Sink::named(name),
    }
}

async fn post(port: u16, content_type: &str, body: &[u8]) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(format!(
            "http://127.0.0.1:{port}/api/traces?format=jaeger.thrift"
        ))
        .header("content-type", content_type)
        .body(body.to_vec())
        .send()
        .await
        .expect("request");
    (
        response.status().as_u16(),
        response.text().await.unwrap_or_default(),
    )
}

#[tokio::test]
async fn every_protocol_takes_what_real_clients_send() {
    let r = start("jaeger-all", 100).await;
    let [grpc, http, compact, binary] = r.ports;
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    socket
        .send_to(UDP_PACKET, ("127.0.0.1", compact))
        .await
        .expect("send");
    assert!(
        r.sink.wait_for(Signal::Traces, 5, WAIT).await,
        "the agent packet's 5 spans"
    );
    assert_eq!(post(http, "application/x-thrift", HTTP_BODY).await.0, 202);
    assert!(
        r.sink.wait_for(Signal::Traces, 10, WAIT).await,
        "the HTTP body's 5 spans"
    );
    // A binary-protocol agent packet: the HTTP body's batch as an `emitBatch` call.
    let mut packet = vec![0x80, 0x01, 0x00, 0x04, 0, 0, 0, 9];
    packet.extend_from_slice(b"emitBatch");
    packet.extend_from_slice(&[0, 0, 0, 0, 0x0C, 0, 1]);
    packet.extend_from_slice(HTTP_BODY);
    packet.push(0);
    socket
        .send_to(&packet, ("127.0.0.1", binary))
        .await
        .expect("send");
    assert!(
        r.sink.wait_for(Signal::Traces, 15, WAIT).await,
        "the binary packet's 5 spans"
    );
    // gRPC PostSpans.
    let request = model::PostSpansRequest {
        batch: Some(model::Batch {
            spans: vec![model::Span {
                trace_id: vec![1; 16],
                span_id: vec![2; 8],
                operation_name: "op".into(),
                ..Default::default()
            }],
            process: Some(model::Process {
                service_name: "svc".into(),
                tags: Vec::new(),
            }),
        }),
    };
    let channel = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{grpc}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    let mut client = tonic::client::Grpc::new(channel);
    client.ready().await.expect("ready");
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(model::POST_SPANS);
    let codec =
        tonic_prost::ProstCodec::<model::PostSpansRequest, model::PostSpansResponse>::default();
    client
        .unary(tonic::Request::new(request), path, codec)
        .await
        .expect("PostSpans");
    assert!(r.sink.wait_for(Signal::Traces, 16, WAIT).await);
    r.service.shutdown().await;
}

#[tokio::test]
async fn the_http_endpoint_says_what_is_wrong() {
    let r = start("jaeger-http-errors", 1).await;
    let http = r.ports[1];
    let (status, body) = post(http, "application/json", b"{}").await;
    assert_eq!(
        (status, body.as_str()),
        (
            400,
            "Unsupported content type: application/json; send application/x-thrift"
        )
    );
    let (status, body) = post(http, "application/x-thrift", &HTTP_BODY[..40]).await;
    assert_eq!(status, 400);
    assert!(
        body.starts_with("Unable to process request body: thrift:"),
        "{body}"
    );
    // A full pipeline: 503 with Retry-After, for the client to send again.
    r.sink.stall(true);
    let mut refused = None;
    for _ in 0..5 {
        let (status, body) = post(http, "application/vnd.apache.thrift.binary", HTTP_BODY).await;
        if status != 202 {
            refused = Some((status, body));
            break;
        }
    }
    let (status, body) = refused.expect("refused once the queue is full");
    assert_eq!(status, 503);
    assert!(body.contains("retry later"), "{body}");
    r.sink.stall(false);
    r.service.shutdown().await;
}

/// Refuses retryably `refusals` times, then takes (or, `hang`, never answers).
#[derive(Default)]
struct Next {
    refusals: AtomicUsize,
    calls: AtomicUsize,
    spans: AtomicUsize,
    hang: bool,
}

#[async_trait]
impl Consumer for Next {
    async fn consume(&self, batch: Batch) -> Result<(), ConsumeError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.hang {
            std::future::pending::<()>().await;
        }
        if self.refusals.load(Ordering::SeqCst) > 0 {
            self.refusals.fetch_sub(1, Ordering::SeqCst);
            return Err(ConsumeError::retryable("queue is full"));
        }
        self.spans.fetch_add(batch.items(), Ordering::SeqCst);
        Ok(())
    }
}

/// One UDP port served as the receiver serves it, with its counters.
async fn serve(next: Arc<Next>, queue_size: usize) -> (Servers, u16) {
    let mut config = UdpConfig::<JaegerCompactPort>::default();
    config.endpoint = "127.0.0.1:0".into();
    config.queue_size = queue_size;
    config.workers = 1;
    let (socket, settings) = udp::bind(&config, "jaeger", "test").await.expect("bind");
    let port = socket.local_addr().expect("addr").port();
    let mut servers = Servers::new("jaeger".into(), Default::default(), NodeContext::new());
    udp::serve(
        &mut servers,
        socket,
        settings,
        Protocol::Compact,
        "thrift_compact",
        next,
    );
    (servers, port)
}

async fn send(port: u16, packets: &[&[u8]]) {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    for p in packets {
        socket.send_to(p, ("127.0.0.1", port)).await.expect("send");
    }
}

async fn until(check: impl Fn() -> bool) {
    tokio::time::timeout(WAIT, async {
        while !check() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("in time");
}

#[tokio::test]
async fn udp_retries_a_retryable_refusal_and_counts_what_it_cannot_read() {
    let next = Arc::new(Next {
        refusals: AtomicUsize::new(2),
        ..Default::default()
    });
    let (mut servers, port) = serve(next.clone(), 10).await;
    let counters = servers
        .node
        .target_counters(UDP_PACKETS, "jaeger", "thrift_compact");
    send(port, &[UDP_PACKET, b"not thrift", UDP_PACKET]).await;
    until(|| next.spans.load(Ordering::SeqCst) == 10).await;
    until(|| counters.sent.load(Ordering::SeqCst) == 2).await;
    assert_eq!(
        counters.failed.load(Ordering::SeqCst),
        1,
        "the packet that is not thrift"
    );
    assert_eq!(
        next.calls.load(Ordering::SeqCst),
        4,
        "two refusals, then both packets"
    );
    servers.shutdown().await;
}

#[tokio::test]
async fn udp_counts_the_packets_a_full_queue_drops() {
    let next = Arc::new(Next {
        hang: true,
        ..Default::default()
    });
    let (mut servers, port) = serve(next.clone(), 1).await;
    let counters = servers
        .node
        .target_counters(UDP_PACKETS, "jaeger", "thrift_compact");
    // One held by the worker, one queued; the rest dropped, each counted.
    for _ in 0..6 {
        send(port, &[UDP_PACKET]).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    until(|| counters.dropped.load(Ordering::SeqCst) == 4).await;
    assert_eq!(next.calls.load(Ordering::SeqCst), 1);
    // The worker waits on a consumer that never answers (the runtime's shutdown deadline
    // ends that in a service): stop the reader and abort the worker here.
    servers.cancel.cancel();
    servers.tasks.abort_all();
}

#[test]
fn config_errors_name_the_fix() {
    use llamacol_api::config::parse;
    let issues = |yaml: &str| match parse::<super::JaegerConfig>(
        &llamacol_api::serde_yaml::from_str(yaml).expect("yaml"),
    ) {
        Ok(c) => llamacol_api::config::ComponentConfig::validate(&c)
            .into_iter()
            .map(|i| format!("{}: {}", i.path, i.message))
            .collect::<Vec<_>>(),
        Err(e) => e
            .into_iter()
            .map(|i| format!("{}: {}", i.path, i.message))
            .collect(),
    };
    assert_eq!(
        issues("protocols: {}"),
        ["protocols: must specify at least one protocol when using the Jaeger receiver: add `grpc:`, `thrift_http:`, `thrift_compact:` and/or `thrift_binary:` under `protocols`"]
    );
    let typo = issues("protocols: {thrift_compact: {queue_sise: 5}}");
    assert!(
        typo[0].contains("unknown key `queue_sise` (did you mean `queue_size`?)"),
        "{typo:?}"
    );
    assert_eq!(
        issues("protocols: {thrift_binary: {workers: 0}}"),
        ["protocols.thrift_binary.workers: must be at least 1"]
    );
    let defaults = parse::<super::JaegerConfig>(
        &llamacol_api::serde_yaml::from_str(
            "protocols: {grpc: , thrift_http: , thrift_compact: , thrift_binary: }",
        )
        .expect("yaml"),
    )
    .expect("valid");
    let p = defaults.protocols;
    let endpoints = [
        p.grpc.map(|g| g.endpoint),
        p.thrift_http.map(|h| h.endpoint),
        p.thrift_compact.map(|u| u.endpoint),
        p.thrift_binary.map(|u| u.endpoint),
    ];
    assert_eq!(
        endpoints,
        [
            "localhost:14250",
            "localhost:14268",
            "localhost:6831",
            "localhost:6832"
        ]
        .map(|e| Some(e.to_string()))
    );
}
