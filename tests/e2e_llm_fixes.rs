//! The shipped `configs/llm-fixes.yaml` on the real binary: apps send traces with and
//! without an `X-Tenant` header; two llamacol backends (`configs/otlp-to-file.yaml`)
//! stand for the shared and the `acme` backend. Health checks are gone, the model alias
//! is named, keys in prompts are masked, each span carries its tenant, and the acme
//! tenant's spans reach only its own backend.

mod common;

use std::time::{Duration, Instant};

use common::{attr, lines, spans, Collector};
use llamacol_api::attributes::{int, string};
use llamacol_api::otlp::collector::trace::v1::trace_service_client::TraceServiceClient;
use llamacol_api::otlp::collector::trace::v1::ExportTraceServiceRequest;
use llamacol_api::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};

fn span(id: u8, name: &str, attributes: Vec<llamacol_api::otlp::common::v1::KeyValue>) -> Span {
    Span {
        trace_id: vec![id; 16],
        span_id: vec![id; 8],
        name: name.into(),
        start_time_unix_nano: 1_700_000_000_000_000_000,
        end_time_unix_nano: 1_700_000_001_000_000_000,
        attributes,
        ..Default::default()
    }
}

fn request(first: u8) -> ExportTraceServiceRequest {
    let chat = |id: u8| {
        span(
            id,
            "chat gpt-3.5-turbo",
            vec![
                string("gen_ai.request.model", "gpt-3.5-turbo"),
                string(
                    "gen_ai.prompt.0.content",
                    "my key is sk-abcdefghijklmnopqrstuvwx, summarize",
                ),
                int("gen_ai.usage.input_tokens", 120),
                int("gen_ai.usage.output_tokens", 30),
            ],
        )
    };
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![
                    chat(first),
                    chat(first + 1),
                    span(
                        first + 2,
                        "GET /health",
                        vec![string("url.path", "/health")],
                    ),
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn send(port: u16, tenant: Option<&str>, first: u8) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let mut client = TraceServiceClient::connect(format!("http://127.0.0.1:{port}"))
            .await
            .expect("connect");
        let mut r = tonic::Request::new(request(first));
        if let Some(t) = tenant {
            r.metadata_mut()
                .insert("x-tenant", t.parse().expect("header"));
        }
        client.export(r).await.expect("accepted");
    });
}

fn wait_spans(path: &std::path::Path, n: usize) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let found = spans(&lines(path));
        if found.len() >= n || Instant::now() > deadline {
            return found;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn llm_fixes_filter_rename_mask_tag_and_route_by_tenant() {
    let mut shared = Collector::start("configs/otlp-to-file.yaml");
    let mut acme = Collector::start("configs/otlp-to-file.yaml");
    let mut fixes = Collector::launch(
        &["configs/llm-fixes.yaml"],
        &[
            (
                "LLAMACOL_BACKEND_ENDPOINT",
                format!("127.0.0.1:{}", shared.grpc),
            ),
            ("LLAMACOL_ACME_ENDPOINT", format!("127.0.0.1:{}", acme.grpc)),
        ],
    );
    send(fixes.grpc, Some("acme"), 1);
    send(fixes.grpc, None, 11);
    send(fixes.grpc, Some("globex"), 21);
    let acme_spans = wait_spans(&acme.file, 2);
    let shared_spans = wait_spans(&shared.file, 4);
    let log = fixes.stderr();
    fixes.terminate();
    shared.terminate();
    acme.terminate();
    assert_eq!(acme_spans.len(), 2, "acme's two chat spans: {log}");
    assert_eq!(
        shared_spans.len(),
        4,
        "the others' chat spans, no health checks"
    );
    for s in &acme_spans {
        assert_eq!(attr(s, "tenant").as_deref(), Some("acme"));
    }
    let tenants: Vec<String> = shared_spans
        .iter()
        .filter_map(|s| attr(s, "tenant"))
        .collect();
    assert_eq!(
        tenants.iter().filter(|t| *t == "shared").count(),
        2,
        "{tenants:?}"
    );
    assert_eq!(
        tenants.iter().filter(|t| *t == "globex").count(),
        2,
        "{tenants:?}"
    );
    for s in acme_spans.iter().chain(&shared_spans) {
        assert_eq!(
            attr(s, "gen_ai.request.model").as_deref(),
            Some("llama-3.1-8b-instruct")
        );
        assert_eq!(
            attr(s, "gen_ai.prompt.0.content").as_deref(),
            Some("my key is sk-***, summarize")
        );
        assert_eq!(attr(s, "gen_ai.usage.total_tokens").as_deref(), Some("150"));
        assert_ne!(s["name"], "GET /health");
    }
}
