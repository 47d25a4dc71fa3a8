//! Forwarding LLM-sized traces with every default on both sides: no exporter may send a
//! request larger than the far side accepts (4 MiB for every gRPC server). llamacol on
//! `otlp -> batch -> otlp`, all defaults, into a second llamacol, the real Collector and
//! the real Jaeger v2 on their defaults: every span accepted is delivered, none failed.
//! And the shipped configs that forward OTLP, through the same check.

mod common;

use common::jaeger::Jaeger;
use common::llm_load::{metric, requests, scrape, send, spans, wait_for};
use common::otelcol::Otelcol;
use common::Collector;

/// What one sender did, read from its `/metrics` after the load.
#[derive(Debug, PartialEq, Eq)]
struct Sent {
    accepted: u64,
    sent: u64,
    failed: u64,
    dropped: u64,
}

fn sender_counts(admin: u16) -> Sent {
    let page = scrape(admin, "/metrics");
    let exporter = |outcome: &str| {
        metric(
            &page,
            &format!("llamacol_exporter_{outcome}_items_total"),
            &["signal=\"traces\""],
        )
    };
    Sent {
        accepted: metric(
            &page,
            "llamacol_receiver_accepted_items_total",
            &["component=\"otlp\"", "signal=\"traces\""],
        ),
        sent: exporter("sent"),
        failed: exporter("failed"),
        dropped: exporter("dropped"),
    }
}

/// A llamacol receiving on every default.
fn llamacol_receiver() -> Collector {
    Collector::start("tests/testdata/e2e/default-receiver.yaml")
}

fn llamacol_received(receiver: &Collector) -> u64 {
    metric(
        &scrape(receiver.admin, "/metrics"),
        "llamacol_receiver_accepted_items_total",
        &["component=\"otlp\"", "signal=\"traces\""],
    )
}

/// Sends the LLM load through `sender` and checks that `received()` ends with every span
/// the sender accepted, and that the sender failed and dropped none.
fn check_delivery(sender: &mut Collector, received: &mut dyn FnMut() -> u64, what: &str) {
    let load = requests(40, 30);
    let total = spans(&load) as u64;
    send(sender.grpc, &load);
    let got = wait_for(total, received);
    let counts = sender_counts(sender.admin);
    assert_eq!(
        (got, counts.failed, counts.dropped),
        (total, 0, 0),
        "{what}: {counts:?}\nsender log:\n{}",
        tail(&sender.stderr())
    );
    assert_eq!(counts.accepted, total);
    assert!(
        !sender.stderr().contains("export failed"),
        "{what}: {}",
        tail(&sender.stderr())
    );
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

fn forwarder(next_hop: String) -> Collector {
    Collector::launch(
        &["tests/testdata/e2e/forward-defaults.yaml"],
        &[("NEXT_HOP", next_hop)],
    )
}

#[test]
fn llamacol_forwards_llm_traces_to_llamacol_on_defaults_without_loss() {
    let receiver = llamacol_receiver();
    let mut sender = forwarder(format!("127.0.0.1:{}", receiver.grpc));
    check_delivery(
        &mut sender,
        &mut || llamacol_received(&receiver),
        "llamacol -> llamacol",
    );
    let page = scrape(sender.admin, "/metrics");
    assert!(
        metric(&page, "llamacol_exporter_requests_split_total", &[]) > 0,
        "batches of 8192 LLM spans are over 4 MiB and must have been cut"
    );
    assert_eq!(
        metric(&page, "llamacol_exporter_request_size_limit_bytes", &[]),
        4 * 1024 * 1024
    );
}

#[test]
fn over_http_too_the_requests_stay_within_the_receivers_body_limit() {
    let receiver = llamacol_receiver();
    let mut sender = Collector::launch(
        &["tests/testdata/e2e/forward-defaults.yaml"],
        &[
            ("NEXT_HOP", format!("http://127.0.0.1:{}", receiver.http)),
            ("NEXT_HOP_PROTOCOL", "http".to_string()),
        ],
    );
    check_delivery(
        &mut sender,
        &mut || llamacol_received(&receiver),
        "llamacol -> llamacol over HTTP",
    );
}

/// A span larger than the far side's limit, among normal ones (sent to the forwarder over
/// HTTP, whose 20 MiB body limit takes it): that span alone is counted failed, with a log
/// line naming the limit; the rest is delivered.
#[test]
fn a_span_over_the_limit_alone_fails_and_the_rest_is_delivered() {
    let receiver = llamacol_receiver();
    let sender = forwarder(format!("127.0.0.1:{}", receiver.grpc));
    let mut load = requests(4, 0);
    let normal = spans(&load) as u64;
    load[2].resource_spans[0].scope_spans[0].spans[17]
        .attributes
        .push(llamacol_pipeline::testing::string_attr(
            "gen_ai.prompt.0.content",
            &"a long document ".repeat(300_000),
        ));
    let client = reqwest::blocking::Client::new();
    for request in &load {
        let status = client
            .post(format!("http://127.0.0.1:{}/v1/traces", sender.http))
            .header("content-type", "application/x-protobuf")
            .body(prost::Message::encode_to_vec(request))
            .send()
            .expect("post")
            .status();
        assert_eq!(status, 200);
    }
    let got = wait_for(normal - 1, || llamacol_received(&receiver));
    std::thread::sleep(std::time::Duration::from_millis(500));
    let counts = sender_counts(sender.admin);
    assert_eq!(
        (got, counts.sent, counts.failed),
        (normal - 1, normal - 1, 1),
        "{}",
        tail(&sender.stderr())
    );
    let log = sender.stderr();
    assert!(
        log.contains("1 item(s) left out") && log.contains("at most 4194304 bytes"),
        "{}",
        tail(&log)
    );
}

#[test]
#[ignore = "needs otelcol: run scripts/test"]
fn llamacol_forwards_llm_traces_to_the_collector_on_defaults_without_loss() {
    let metrics_port = llamacol_pipeline::testing::free_port();
    let config = format!(
        "receivers:\n  otlp:\n    protocols:\n      grpc: {{endpoint: \"${{env:OTELCOL_GRPC}}\"}}\n      http: {{endpoint: \"${{env:OTELCOL_HTTP}}\"}}\nexporters:\n  nop:\nservice:\n  telemetry:\n    metrics:\n      level: basic\n      readers:\n        - pull:\n            exporter:\n              prometheus: {{host: 127.0.0.1, port: {metrics_port}}}\n  pipelines:\n    traces: {{receivers: [otlp], exporters: [nop]}}\n"
    );
    let collector = Otelcol::start(&config, &[]);
    let mut sender = forwarder(format!("127.0.0.1:{}", collector.grpc));
    let received = || {
        metric(
            &scrape(metrics_port, "/metrics"),
            "otelcol_receiver_accepted_spans",
            &[],
        )
    };
    check_delivery(&mut sender, &mut { received }, "llamacol -> otelcol");
    let refused = metric(
        &scrape(metrics_port, "/metrics"),
        "otelcol_receiver_refused_spans",
        &[],
    );
    assert_eq!(refused, 0);
}

#[test]
#[ignore = "needs jaeger: run scripts/test"]
fn llamacol_forwards_llm_traces_to_jaeger_on_defaults_without_loss() {
    let jaeger = Jaeger::start_with_metrics();
    let mut sender = forwarder(format!("127.0.0.1:{}", jaeger.otlp_grpc));
    let port = jaeger.metrics.expect("metrics port");
    let received = || {
        metric(
            &scrape(port, "/metrics"),
            "otelcol_receiver_accepted_spans",
            &["receiver=\"otlp\""],
        )
    };
    check_delivery(&mut sender, &mut { received }, "llamacol -> jaeger");
}
