//! Forwarding LLM-sized traces with every default on both sides: no exporter may send a
//! request larger than the far side accepts (4 MiB for every gRPC server). llamacol on
//! `otlp -> batch -> otlp`, all defaults, into a second llamacol, the real Collector and
//! the real Jaeger v2 on their defaults: every span accepted is delivered, none failed.
//! And the shipped configs that forward OTLP, through the same check.

mod common;

use common::helm::{render, rendered_config};
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
    // The queue's own failure lines (a size refusal's warning quotes its error, which
    // says "export failed" too, and is no failure).
    let log = sender.stderr();
    for line in [
        "export failed;",
        "export failed permanently",
        "still failing",
    ] {
        assert!(!log.contains(line), "{what}: `{line}`:\n{}", tail(&log));
    }
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// The real Collector on its defaults (otlp receiver, nop exporter), counting what its
/// receiver accepted on its own metrics, served on `metrics_port`.
fn counting_collector_config(metrics_port: u16) -> String {
    format!(
        "receivers:\n  otlp:\n    protocols:\n      grpc: {{endpoint: \"${{env:OTELCOL_GRPC}}\"}}\n      http: {{endpoint: \"${{env:OTELCOL_HTTP}}\"}}\nexporters:\n  nop:\nservice:\n  telemetry:\n    metrics:\n      level: basic\n      readers:\n        - pull:\n            exporter:\n              prometheus: {{host: 127.0.0.1, port: {metrics_port}}}\n  pipelines:\n    traces: {{receivers: [otlp], exporters: [nop]}}\n"
    )
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
    let collector = Otelcol::start(&counting_collector_config(metrics_port), &[]);
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

/// How a shipped config names its next hop.
#[derive(Clone, Copy)]
enum Hop {
    Grpc,
    Http,
}

/// Runs shipped `config` with its next hop (`variable`) on a default llamacol receiver,
/// sends the LLM load through it, and checks what its forwarding `exporter` did: every
/// span accepted delivered (or, for a sampling config, everything it sent delivered),
/// nothing failed.
/// What the config does with the spans it accepts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Passes {
    /// Every span: delivered must equal accepted.
    All,
    /// What it samples (tail sampling decides at shutdown too): nothing may fail.
    Sampled,
}

fn shipped_config_delivers(config: &str, variable: &str, hop: Hop, exporter: &str) {
    config_delivers(config, variable, hop, exporter, Passes::All);
}

fn config_delivers(config: &str, variable: &str, hop: Hop, exporter: &str, passes: Passes) {
    let receiver = llamacol_receiver();
    let dir = tempfile::tempdir().expect("tmp");
    let closed = llamacol_pipeline::testing::free_port();
    let next_hop = match hop {
        Hop::Grpc => format!("127.0.0.1:{}", receiver.grpc),
        Hop::Http => format!("http://127.0.0.1:{}", receiver.http),
    };
    let free = || format!("127.0.0.1:{}", llamacol_pipeline::testing::free_port());
    let mut sender = Collector::launch(
        &[config],
        &[
            (variable, next_hop),
            (
                "LLAMACOL_QUEUE_DIR",
                dir.path().join("queue").display().to_string(),
            ),
            ("LLAMACOL_PROMETHEUS_ENDPOINT", free()),
            (
                "LLAMACOL_LLAMACPP_ENDPOINT",
                format!("http://127.0.0.1:{closed}"),
            ),
            ("GRAPHISTRY_SERVER", format!("127.0.0.1:{closed}")),
            (
                "GRAPHISTRY_OFFLINE_DIR",
                dir.path().join("graphs").display().to_string(),
            ),
            // What the chart's downward API and its identity-salt Secret set.
            ("K8S_NODE_NAME", "gpu-node-1".to_string()),
            ("K8S_POD_NAME", "llamacol-abcde".to_string()),
            ("K8S_NAMESPACE", "observability".to_string()),
            ("LLAMACOL_IDENTITY_SALT", "test-salt".to_string()),
        ],
    );
    let load = requests(40, 30);
    let total = spans(&load) as u64;
    send(sender.grpc, &load);
    let component = format!("component=\"{exporter}\"");
    let exporter_count = |page: &str, outcome: &str| {
        metric(
            page,
            &format!("llamacol_exporter_{outcome}_items_total"),
            &[&component, "signal=\"traces\""],
        )
    };
    let page = || scrape(sender.admin, "/metrics");
    if passes == Passes::All {
        let got = wait_for(total, || llamacol_received(&receiver));
        let page = page();
        assert_eq!(
            (
                got,
                exporter_count(&page, "failed"),
                exporter_count(&page, "dropped")
            ),
            (total, 0, 0),
            "{config}:\n{}",
            tail(&sender.stderr())
        );
    }
    // The rest is delivered at shutdown (tail sampling decides what it holds then).
    let (status, _) = sender.terminate();
    assert!(status.success(), "{config}: {}", tail(&sender.stderr()));
    let log = sender.stderr();
    let failures: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(&format!("component={exporter} ")))
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        .collect();
    assert!(failures.is_empty(), "{config}: {failures:#?}");
    assert!(
        llamacol_received(&receiver) > 0,
        "{config}: nothing arrived"
    );
}

#[test]
fn shipped_agent_config_delivers_llm_traces_to_a_default_receiver() {
    shipped_config_delivers(
        "configs/agent.yaml",
        "LLAMACOL_GATEWAY_ENDPOINT",
        Hop::Grpc,
        "otlp/gateway",
    );
}

#[test]
fn shipped_persistent_agent_config_delivers_llm_traces_to_a_default_receiver() {
    shipped_config_delivers(
        "configs/agent-persistent.yaml",
        "LLAMACOL_GATEWAY_ENDPOINT",
        Hop::Grpc,
        "otlp/gateway",
    );
}

#[test]
fn shipped_gateway_config_delivers_llm_traces_to_a_default_receiver() {
    shipped_config_delivers(
        "configs/gateway.yaml",
        "LLAMACOL_BACKEND_ENDPOINT",
        Hop::Http,
        "otlp/backend",
    );
}

#[test]
fn shipped_genai_config_delivers_llm_traces_to_a_default_receiver() {
    shipped_config_delivers(
        "configs/genai.yaml",
        "LLAMACOL_TRACES_ENDPOINT",
        Hop::Grpc,
        "otlp",
    );
}

#[test]
fn shipped_gpu_node_config_delivers_llm_traces_to_a_default_receiver() {
    shipped_config_delivers(
        "configs/gpu-node.yaml",
        "LLAMACOL_GATEWAY_ENDPOINT",
        Hop::Grpc,
        "otlp/gateway",
    );
}

#[test]
fn shipped_trace_graphs_config_delivers_llm_traces_to_a_default_receiver() {
    shipped_config_delivers(
        "configs/trace-graphs.yaml",
        "JAEGER_ENDPOINT",
        Hop::Grpc,
        "jaeger",
    );
}

#[test]
fn shipped_tail_sampling_config_delivers_what_it_samples_to_a_default_receiver() {
    config_delivers(
        "configs/tail-sampling-genai.yaml",
        "LLAMACOL_TRACES_ENDPOINT",
        Hop::Grpc,
        "otlp",
        Passes::Sampled,
    );
}

/// The config the chart renders with `args`, its listeners and its forwarding
/// `exporter`'s endpoint pointed at the variables the test harness sets.
fn helm_config(args: &[String], exporter: &str, dir: &std::path::Path) -> String {
    use llamacol_api::serde_yaml::{self, Value};
    let docs = render(args);
    let mut config: Value =
        serde_yaml::from_str(rendered_config(&docs, exporter)).expect("config YAML");
    let env = |name: &str| Value::from(format!("${{env:{name}}}"));
    let otlp = &mut config["receivers"]["otlp"]["protocols"];
    otlp["grpc"]["endpoint"] = env("LLAMACOL_OTLP_GRPC_ENDPOINT");
    otlp["http"]["endpoint"] = env("LLAMACOL_OTLP_HTTP_ENDPOINT");
    config["service"]["telemetry"]["admin"]["endpoint"] = env("LLAMACOL_ADMIN_ENDPOINT");
    config["exporters"][exporter]["endpoint"] = env("NEXT_HOP");
    if config["exporters"].get("prometheus").is_some() {
        config["exporters"]["prometheus"]["endpoint"] = env("LLAMACOL_PROMETHEUS_ENDPOINT");
    }
    let path = dir.join("rendered.yaml");
    std::fs::write(&path, serde_yaml::to_string(&config).expect("YAML")).expect("write");
    path.display().to_string()
}

#[test]
#[ignore = "needs helm: run scripts/test"]
fn the_charts_agent_config_delivers_llm_traces_to_a_default_receiver() {
    let dir = tempfile::tempdir().expect("tmp");
    // No API server here (tests/e2e_k8s.rs runs the agent's `full` mode against one):
    // `passthrough` keeps the processor in the path without one.
    let args = [
        "--set".to_string(),
        "k8sAttributes.agent=passthrough".to_string(),
    ];
    let config = helm_config(&args, "otlp/gateway", dir.path());
    shipped_config_delivers(&config, "NEXT_HOP", Hop::Grpc, "otlp/gateway");
}

#[test]
#[ignore = "needs helm: run scripts/test"]
fn the_charts_gateway_config_delivers_llm_traces_to_a_default_receiver() {
    let dir = tempfile::tempdir().expect("tmp");
    let args = ["--set".to_string(), "mode=deployment".to_string()];
    let config = helm_config(&args, "otlp/backend", dir.path());
    shipped_config_delivers(&config, "NEXT_HOP", Hop::Http, "otlp/backend");
}

/// `loadbalancing` splits each batch by trace id over two gateways on their defaults:
/// every per-gateway request within 4 MiB, every span delivered once.
#[test]
fn loadbalancing_delivers_llm_traces_to_gateways_on_defaults_without_loss() {
    let (a, b) = (llamacol_receiver(), llamacol_receiver());
    let mut sender = Collector::launch(
        &["tests/testdata/e2e/loadbalance-defaults.yaml"],
        &[
            ("BACKEND_A", format!("127.0.0.1:{}", a.grpc)),
            ("BACKEND_B", format!("127.0.0.1:{}", b.grpc)),
        ],
    );
    check_delivery(
        &mut sender,
        &mut || llamacol_received(&a) + llamacol_received(&b),
        "llamacol loadbalancing -> two llamacol gateways",
    );
    assert!(llamacol_received(&a) > 0 && llamacol_received(&b) > 0);
}

/// Log noise while a backend is down (issue 29): with 10 export workers retrying, one line
/// when failures start and one when they stop, not one per attempt or per batch.
#[test]
fn a_backend_outage_is_logged_once_when_it_starts_and_once_when_it_ends() {
    let port = llamacol_pipeline::testing::free_port();
    let sender = forwarder(format!("127.0.0.1:{port}"));
    let load = requests(12, 0);
    let total = spans(&load) as u64;
    send(sender.grpc, &load);
    std::thread::sleep(std::time::Duration::from_secs(2));
    let receiver = Collector::launch(
        &["tests/testdata/e2e/default-receiver.yaml"],
        &[("LLAMACOL_OTLP_GRPC_ENDPOINT", format!("127.0.0.1:{port}"))],
    );
    let got = wait_for(total, || llamacol_received(&receiver));
    assert_eq!(got, total, "{}", tail(&sender.stderr()));
    // The receiver counts a request before the sender has its answer, and the sender says
    // it recovered on that answer: wait for the line (or give up after 10 s).
    let said = |log: &str| log.contains("export recovered");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !said(&sender.stderr()) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let log = sender.stderr();
    let failed = log.matches("export failed; will retry").count();
    let recovered = log.matches("export recovered").count();
    assert_eq!((failed, recovered), (1, 1), "{}", tail(&log));
}

/// A sender that believes the far side takes 16 MiB: the far side's own refusal (its
/// real message, on its defaults) must teach it the 4 MiB limit, and nothing is lost.
fn learns_the_limit_from_the_refusal(
    next_hop: String,
    received: &mut dyn FnMut() -> u64,
    what: &str,
) {
    let mut sender = Collector::launch(
        &[
            "tests/testdata/e2e/forward-defaults.yaml",
            "tests/testdata/e2e/max-request-16mib.yaml",
        ],
        &[("NEXT_HOP", next_hop)],
    );
    check_delivery(&mut sender, received, what);
    let page = scrape(sender.admin, "/metrics");
    assert_eq!(
        metric(&page, "llamacol_exporter_request_size_limit_bytes", &[]),
        4 * 1024 * 1024,
        "{what}: the limit the far side stated is kept\n{}",
        tail(&sender.stderr())
    );
    assert!(
        sender.stderr().contains("refused a request for its size"),
        "{what}: {}",
        tail(&sender.stderr())
    );
}

#[test]
fn a_limit_set_too_high_is_learned_from_llamacols_refusal() {
    let receiver = llamacol_receiver();
    learns_the_limit_from_the_refusal(
        format!("127.0.0.1:{}", receiver.grpc),
        &mut || llamacol_received(&receiver),
        "llamacol (tonic's message)",
    );
}

#[test]
#[ignore = "needs otelcol: run scripts/test"]
fn a_limit_set_too_high_is_learned_from_the_collectors_refusal() {
    let metrics_port = llamacol_pipeline::testing::free_port();
    let collector = Otelcol::start(&counting_collector_config(metrics_port), &[]);
    learns_the_limit_from_the_refusal(
        format!("127.0.0.1:{}", collector.grpc),
        &mut || {
            metric(
                &scrape(metrics_port, "/metrics"),
                "otelcol_receiver_accepted_spans",
                &[],
            )
        },
        "otelcol (grpc-go's message)",
    );
}

#[test]
#[ignore = "needs jaeger: run scripts/test"]
fn a_limit_set_too_high_is_learned_from_jaegers_refusal() {
    let jaeger = Jaeger::start_with_metrics();
    let port = jaeger.metrics.expect("metrics port");
    learns_the_limit_from_the_refusal(
        format!("127.0.0.1:{}", jaeger.otlp_grpc),
        &mut || {
            metric(
                &scrape(port, "/metrics"),
                "otelcol_receiver_accepted_spans",
                &["receiver=\"otlp\""],
            )
        },
        "jaeger",
    );
}

/// A real client library: the OpenTelemetry Python SDK (its BatchSpanProcessor and OTLP/gRPC
/// exporter on their defaults) sends 6,000 chat spans carrying prompt and completion text
/// (2-7 KB each, about 27 MB) to llamacol on defaults, which forwards them to the real
/// Collector on its defaults: every span the SDK exported arrives.
#[test]
#[ignore = "needs otelcol and peers-python: run scripts/test"]
fn the_python_sdks_content_spans_reach_the_collector_through_llamacol_on_defaults() {
    let metrics_port = llamacol_pipeline::testing::free_port();
    let collector = Otelcol::start(&counting_collector_config(metrics_port), &[]);
    let sender = forwarder(format!("127.0.0.1:{}", collector.grpc));
    let exported = common::python_json(&[
        "tests/python/llm_app_content.py",
        &format!("127.0.0.1:{}", sender.grpc),
        "6000",
    ]);
    assert_eq!(
        exported.as_u64(),
        Some(6000),
        "the SDK's own leg lost nothing"
    );
    let got = wait_for(6000, || {
        metric(
            &scrape(metrics_port, "/metrics"),
            "otelcol_receiver_accepted_spans",
            &[],
        )
    });
    let counts = sender_counts(sender.admin);
    assert_eq!(
        (got, counts.accepted, counts.failed, counts.dropped),
        (6000, 6000, 0, 0),
        "{}",
        tail(&sender.stderr())
    );
    assert!(
        metric(
            &scrape(sender.admin, "/metrics"),
            "llamacol_exporter_requests_split_total",
            &[]
        ) > 0,
        "the SDK's spans made batches over 4 MiB, and they were cut"
    );
    // Cut before sending: the Collector never had to refuse one (a sender without the
    // default limit gets there only through refusals, learnt from).
    assert!(
        !sender.stderr().contains("refused a request for its size"),
        "{}",
        tail(&sender.stderr())
    );
}
