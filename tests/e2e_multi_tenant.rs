//! Multi-tenant forwarding, the Collector's way: the receiver keeps each request's
//! headers (`include_metadata`), the batch processor keeps tenants apart
//! (`metadata_keys`), and `headers_setter` sends each batch's tenant on
//! (`from_context`). Two tenants' requests, interleaved, reach the backend (an OTLP/HTTP
//! endpoint in the test that records each request's `X-Scope-OrgID` and span count) with
//! every span under its own tenant's header and none without one.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Collector;
use llamacol_api::otlp::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;

type Seen = Arc<Mutex<Vec<(Option<String>, usize)>>>;

/// An OTLP/HTTP traces endpoint recording (tenant header, spans) per request.
fn backend() -> (u16, Seen) {
    let seen: Seen = Arc::default();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    listener.set_nonblocking(true).expect("nonblocking");
    let record = seen.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let app = axum::Router::new().route(
                "/v1/traces",
                axum::routing::post(
                    move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                        let record = record.clone();
                        async move {
                            let request =
                                ExportTraceServiceRequest::decode(body).expect("protobuf");
                            let spans = request
                                .resource_spans
                                .iter()
                                .flat_map(|r| &r.scope_spans)
                                .map(|s| s.spans.len())
                                .sum();
                            let tenant = headers
                                .get("x-scope-orgid")
                                .and_then(|v| v.to_str().ok())
                                .map(str::to_string);
                            record.lock().expect("lock").push((tenant, spans));
                            (
                                [("content-type", "application/x-protobuf")],
                                ExportTraceServiceResponse::default().encode_to_vec(),
                            )
                        }
                    },
                ),
            );
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            axum::serve(listener, app).await.expect("serve");
        });
    });
    (port, seen)
}

#[test]
fn each_tenants_spans_reach_the_backend_under_its_own_header() {
    tenants_kept_apart(
        "processors:\n  batch:\n    timeout: 300ms\n    metadata_keys: [X-Scope-OrgID]\n",
        "",
        "[batch]",
    );
}

/// The same with the exporter's own batching (`sending_queue.batch.partition`).
#[test]
fn exporter_side_batching_keeps_tenants_apart_too() {
    tenants_kept_apart(
        "",
        "    sending_queue:\n      batch:\n        flush_timeout: 300ms\n        partition:\n          metadata_keys: [X-Scope-OrgID]\n",
        "[]",
    );
}

/// Runs the agent with `processors` (a block), `queue` (lines under the exporter) and
/// the pipeline's `chain` of processors, sends both tenants, checks what arrived.
fn tenants_kept_apart(processors: &str, queue: &str, chain: &str) {
    let (port, seen) = backend();
    let dir = tempfile::tempdir().expect("tmp");
    let config = dir.path().join("agent.yaml");
    std::fs::write(
        &config,
        format!(
            "receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: ${{env:LLAMACOL_OTLP_HTTP_ENDPOINT}}\n        include_metadata: true\n\
             {processors}\
             exporters:\n  otlp_http:\n    endpoint: http://127.0.0.1:{port}\n    compression: none\n    auth:\n      authenticator: headers_setter\n{queue}\
             extensions:\n  headers_setter:\n    headers:\n      - action: upsert\n        key: X-Scope-OrgID\n        from_context: x-scope-orgid\n\
             service:\n  extensions: [headers_setter]\n  telemetry:\n    admin:\n      endpoint: ${{env:LLAMACOL_ADMIN_ENDPOINT}}\n  pipelines:\n    traces:\n      receivers: [otlp]\n      processors: {chain}\n      exporters: [otlp_http]\n"
        ),
    )
    .expect("write");
    let mut agent = Collector::launch(&[&config.to_string_lossy()], &[]);
    let body = std::fs::read("testdata/otlp-json/trace.json").expect("trace.json");
    let client = reqwest::blocking::Client::new();
    let tenants = ["tenant-a", "tenant-b", "tenant-a", "tenant-b", "tenant-a"];
    for tenant in tenants {
        let status = client
            .post(format!("http://127.0.0.1:{}/v1/traces", agent.http))
            .header("content-type", "application/json")
            .header("X-Scope-OrgID", tenant)
            .body(body.clone())
            .send()
            .expect("post")
            .status();
        assert!(status.is_success(), "{status}");
    }
    let spans_of = |tenant: Option<&str>| {
        seen.lock()
            .expect("lock")
            .iter()
            .filter(|(t, _)| t.as_deref() == tenant)
            .map(|(_, n)| n)
            .sum::<usize>()
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    while spans_of(Some("tenant-a")) == 0 || spans_of(Some("tenant-b")) == 0 {
        assert!(
            Instant::now() < deadline,
            "{:?}\n{}",
            seen.lock().expect("lock"),
            agent.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, _) = agent.terminate();
    assert!(status.success(), "{}", agent.stderr());
    let per_request = spans_of(Some("tenant-a")) / 3;
    assert!(per_request > 0);
    assert_eq!(
        spans_of(Some("tenant-a")),
        3 * per_request,
        "{:?}",
        seen.lock().expect("lock")
    );
    assert_eq!(
        spans_of(Some("tenant-b")),
        2 * per_request,
        "{:?}",
        seen.lock().expect("lock")
    );
    assert_eq!(spans_of(None), 0, "no batch lost its tenant");
}
