use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;
use llamacol_api::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use llamacol_api::otlp::common::v1::any_value;
use llamacol_api::otlp::metrics::v1::{metric, Metric, NumberDataPoint};
use llamacol_pipeline::testing::{
    fixtures_dir, free_port, number_points as points, number_value as value,
};

use super::*;
use llamacol_api::Batch;

/// A stand-in llama-server answering each path with a scripted status, body and delay.
/// Status, body, delay before answering, `Process-Start-Time-Unix` header.
type Route = (u16, String, Duration, Option<String>);

#[derive(Default)]
struct FakeServer {
    routes: Mutex<HashMap<String, Route>>,
}

impl FakeServer {
    fn set(&self, path: &str, status: u16, body: &str) {
        self.routes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(path.into(), (status, body.into(), Duration::ZERO, None));
    }
    fn set_with_start(&self, path: &str, body: &str, start: &str) {
        self.routes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                path.into(),
                (200, body.into(), Duration::ZERO, Some(start.into())),
            );
    }
    fn hang(&self, path: &str) {
        self.routes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                path.into(),
                (200, String::new(), Duration::from_secs(30), None),
            );
    }
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(fixtures_dir().join("llamacpp").join(name))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

async fn serve(fake: Arc<FakeServer>) -> String {
    let port = free_port();
    let app = axum::Router::new().fallback(move |uri: Uri| {
        let fake = fake.clone();
        async move {
            let route = fake
                .routes
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(uri.path())
                .cloned();
            match route {
                Some((status, body, delay, start)) => {
                    tokio::time::sleep(delay).await;
                    let mut response =
                        (StatusCode::from_u16(status).unwrap_or(StatusCode::OK), body)
                            .into_response();
                    if let Some(start) = start {
                        response.headers_mut().insert(
                            "Process-Start-Time-Unix",
                            start
                                .parse()
                                .unwrap_or_else(|_| axum::http::HeaderValue::from_static("0")),
                        );
                    }
                    response
                }
                None => (StatusCode::NOT_FOUND, "not found".to_string()).into_response(),
            }
        }
    });
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://127.0.0.1:{port}")
}

fn real_server() -> Arc<FakeServer> {
    let fake = Arc::new(FakeServer::default());
    fake.set_with_start("/metrics", &fixture("metrics_during.txt"), "3494559420");
    fake.set("/slots", 200, &fixture("slots_busy.json"));
    fake.set("/health", 200, &fixture("health.json"));
    fake.set("/props", 200, &fixture("props.json"));
    fake
}

fn scraper(endpoint: &str, timeout_ms: u64) -> TargetScraper {
    let config: LlamaCppConfig = llamacol_api::config::parse(
        &llamacol_api::serde_yaml::from_str(&format!(
            "{{targets: [{{endpoint: \"{endpoint}\", name: llama-8b}}], timeout: {timeout_ms}ms}}"
        ))
        .expect("yaml"),
    )
    .expect("config");
    TargetScraper::new(&config.targets[0], &config).expect("scraper")
}

fn metrics(r: &ExportMetricsServiceRequest) -> &[Metric] {
    &r.resource_metrics[0].scope_metrics[0].metrics
}

fn find<'a>(r: &'a ExportMetricsServiceRequest, name: &str) -> Option<&'a Metric> {
    metrics(r).iter().find(|m| m.name == name)
}

fn only(r: &ExportMetricsServiceRequest, name: &str) -> f64 {
    let m = find(r, name).unwrap_or_else(|| {
        panic!(
            "no {name} in {:?}",
            metrics(r).iter().map(|m| &m.name).collect::<Vec<_>>()
        )
    });
    value(&points(m)[0])
}

/// The health states reported as current (value 1) in one scrape.
fn current_health(r: &ExportMetricsServiceRequest) -> Vec<String> {
    points(find(r, "llamacpp.health.status").expect("health"))
        .iter()
        .filter(|p| value(p) == 1.0)
        .filter_map(|p| match attr(p, "llamacpp.health.state") {
            Some(any_value::Value::StringValue(s)) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

fn attr<'a>(p: &'a NumberDataPoint, key: &str) -> Option<&'a any_value::Value> {
    p.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

fn resource(r: &ExportMetricsServiceRequest, key: &str) -> Option<any_value::Value> {
    r.resource_metrics[0]
        .resource
        .as_ref()?
        .attributes
        .iter()
        .find(|kv| kv.key == key)?
        .value
        .clone()?
        .value
}

#[tokio::test]
async fn real_server_outputs_become_otlp_metrics() {
    let base = serve(real_server()).await;
    let node = llamacol_api::NodeContext::new();
    let mut s = scraper(&base, 2000).publishing_to(node.clone());
    let (r, failures) = s.cycle().await;
    assert_eq!(failures, 0);
    // What /props said is on the node context for other components.
    let published = node.snapshot();
    let server = published.llama_servers.values().next().expect("published");
    assert_eq!(server.endpoint, base);
    assert!(
        server.model.is_some() && server.build.is_some(),
        "{server:?}"
    );
    assert!(server.context_size.is_some_and(|n| n > 0));
    // And the live page's row for this target, read from the metrics just made.
    let live = node.live().json_since(0.0);
    let target = &live["llamacpp"]["series"][base.as_str()];
    assert_eq!(target["info"]["health"], "ok", "{live:#}");
    assert_eq!(
        target["info"]["model"],
        server.model.clone().expect("model").as_str()
    );
    assert_eq!(target["rows"]["up"][0], 1.0);
    assert_eq!(
        target["rows"]["slots_total"][0],
        only(&r, "llamacpp.slots.total")
    );
    assert_eq!(
        target["rows"]["requests_deferred"][0],
        only(&r, "llamacpp.requests_deferred")
    );

    let prompt = find(&r, "llamacpp.prompt_tokens").expect("counter");
    assert_eq!(prompt.unit, "{token}");
    match &prompt.data {
        Some(metric::Data::Sum(sum)) => {
            assert!(sum.is_monotonic && sum.aggregation_temporality == 2)
        }
        other => panic!("not a sum: {other:?}"),
    }
    assert_eq!(value(&points(prompt)[0]), 21.0);
    // The header says 3494559420 (decades ahead): not trusted, first sight used instead.
    let start = points(prompt)[0].start_time_unix_nano;
    assert!(
        start > 0 && start <= points(prompt)[0].time_unix_nano,
        "start {start}"
    );
    assert_eq!(
        find(&r, "llamacpp.prompt_seconds").map(|m| m.unit.as_str()),
        Some("s")
    );
    assert_eq!(
        find(&r, "llamacpp.prompt_tokens_seconds").map(|m| m.unit.as_str()),
        Some("{token}/s")
    );
    assert_eq!(only(&r, "llamacpp.prompt_tokens_seconds"), 3636.99);
    assert!(
        matches!(
            find(&r, "llamacpp.n_tokens_max").and_then(|m| m.data.as_ref()),
            Some(metric::Data::Gauge(_))
        ),
        "no `_total`: a gauge"
    );
    assert_eq!(only(&r, "llamacpp.n_tokens_max"), 307.0);
    assert_eq!(only(&r, "llamacpp.n_busy_slots_per_decode"), 1.0);
    assert_eq!(only(&r, "llamacpp.spec_decode_num_drafts"), 0.0);

    let processing = find(&r, "llamacpp.slot.processing").expect("slots");
    let by_slot: Vec<(Option<&any_value::Value>, f64)> = points(processing)
        .iter()
        .map(|p| (attr(p, "llamacpp.slot.id"), value(p)))
        .collect();
    assert_eq!(
        by_slot,
        vec![
            (Some(&any_value::Value::IntValue(0)), 0.0),
            (Some(&any_value::Value::IntValue(1)), 1.0)
        ]
    );
    let decoded = points(find(&r, "llamacpp.slot.decoded").expect("decoded"));
    assert_eq!(
        decoded.len(),
        1,
        "the idle slot never ran a task: no n_decoded"
    );
    assert_eq!(value(&decoded[0]), 284.0);
    assert_eq!(
        value(&points(find(&r, "llamacpp.slot.remaining").expect("remaining"))[0]),
        716.0
    );
    assert_eq!(only(&r, "llamacpp.slot.context"), 1024.0);
    assert_eq!(
        (
            only(&r, "llamacpp.slots.busy"),
            only(&r, "llamacpp.slots.total")
        ),
        (1.0, 2.0)
    );
    // The busy slot holds its 289-token prompt and 284 generated tokens of 2 x 1024.
    assert_eq!(
        only(&r, "llamacpp.kv_cache.usage"),
        (289.0 + 284.0) / 2048.0
    );

    assert_eq!(only(&r, "llamacpp.up"), 1.0);
    let states: Vec<(String, f64)> = points(find(&r, "llamacpp.health.status").expect("health"))
        .iter()
        .map(|p| (format!("{:?}", attr(p, "llamacpp.health.state")), value(p)))
        .collect();
    assert_eq!(states.iter().filter(|(_, v)| *v == 1.0).count(), 1);
    assert!(
        states[0].0.contains("\"ok\"") && states[0].1 == 1.0,
        "{states:?}"
    );

    assert_eq!(
        resource(&r, "service.name"),
        Some(any_value::Value::StringValue("llama.cpp".into()))
    );
    assert_eq!(
        resource(&r, "llamacpp.model"),
        Some(any_value::Value::StringValue(
            "/models/tiny-llama.gguf".into()
        ))
    );
    assert_eq!(
        resource(&r, "llamacpp.slots.total"),
        Some(any_value::Value::IntValue(2))
    );
    assert_eq!(
        resource(&r, "llamacpp.context_size"),
        Some(any_value::Value::IntValue(1024))
    );
    assert_eq!(
        resource(&r, "llamacpp.endpoints"),
        Some(any_value::Value::StringValue("metrics,slots".into()))
    );
    assert_eq!(
        resource(&r, "llamacpp.target"),
        Some(any_value::Value::StringValue("llama-8b".into()))
    );
    assert!(matches!(resource(&r, "server.port"), Some(any_value::Value::IntValue(p)) if p > 0));
}

#[tokio::test]
async fn throughput_from_deltas_and_restarts_give_a_new_start() {
    let fake = real_server();
    let base = serve(fake.clone()).await;
    let mut s = scraper(&base, 2000);
    fake.set("/metrics", 200, &fixture("metrics_before.txt"));
    let (first, _) = s.cycle().await;
    assert!(
        find(&first, "llamacpp.prompt_tokens.rate").is_none(),
        "needs two scrapes"
    );
    let start_before =
        points(find(&first, "llamacpp.prompt_tokens").expect("counter"))[0].start_time_unix_nano;
    tokio::time::sleep(Duration::from_millis(100)).await;
    fake.set("/metrics", 200, &fixture("metrics_after.txt"));
    let (second, _) = s.cycle().await;
    assert!(only(&second, "llamacpp.prompt_tokens.rate") > 0.0);
    assert!(only(&second, "llamacpp.generated_tokens.rate") > 0.0);
    assert_eq!(
        points(find(&second, "llamacpp.prompt_tokens").expect("counter"))[0].start_time_unix_nano,
        start_before,
        "same process, same start"
    );
    // The server restarted: counters are back near zero.
    tokio::time::sleep(Duration::from_millis(20)).await;
    fake.set("/metrics", 200, &fixture("metrics_before.txt"));
    let (third, _) = s.cycle().await;
    assert!(
        find(&third, "llamacpp.prompt_tokens.rate").is_none(),
        "no negative rate across a restart"
    );
    assert!(
        points(find(&third, "llamacpp.prompt_tokens").expect("counter"))[0].start_time_unix_nano
            > start_before,
        "new start time"
    );
}

#[tokio::test]
async fn the_process_start_header_is_never_the_counter_start() {
    // A real build on a node up ~600 s sent 600874937 (its monotonic clock in
    // microseconds): read as Unix seconds it is 1989. The first scrape is the start.
    let fake = real_server();
    fake.set_with_start("/metrics", &fixture("metrics_during.txt"), "600874937");
    let base = serve(fake).await;
    let before = now_ns();
    let (r, _) = scraper(&base, 2000).cycle().await;
    let start =
        points(find(&r, "llamacpp.prompt_tokens").expect("counter"))[0].start_time_unix_nano;
    assert!(
        start >= before && start <= now_ns(),
        "start {start} is the first scrape"
    );
}

#[test]
fn an_unset_timeout_follows_a_short_interval_and_a_written_one_is_checked() {
    use llamacol_api::config::ComponentConfig;
    let parse = |yaml: &str| -> LlamaCppConfig {
        llamacol_api::config::parse(&llamacol_api::serde_yaml::from_str(yaml).expect("yaml"))
            .expect("config")
    };
    let short = parse("{collection_interval: 1s}");
    assert!(short.validate().is_empty(), "{:?}", short.validate());
    assert_eq!(short.effective_timeout(), Duration::from_secs(1));
    assert_eq!(
        parse("{}").effective_timeout(),
        Duration::from_secs(2),
        "the default interval (10s) keeps the 2s default"
    );
    let written = parse("{collection_interval: 1s, timeout: 3s}");
    let issues = written.validate();
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert!(
        format!("{issues:?}").contains("must not exceed"),
        "{issues:?}"
    );
}

#[tokio::test]
async fn a_slot_without_a_limit_has_no_remaining_point() {
    // After a task, the real server reports `n_remain: -1` (no limit): not a count.
    let fake = real_server();
    fake.set("/slots", 200, &fixture("slots_after.json"));
    let base = serve(fake).await;
    let (r, _) = scraper(&base, 2000).cycle().await;
    assert!(find(&r, "llamacpp.slot.remaining").is_none());
    assert_eq!(
        points(find(&r, "llamacpp.slot.context").expect("context")).len(),
        2
    );
}

#[tokio::test]
async fn older_and_newer_llama_cpp_versions_both_read() {
    let fake = real_server();
    // Older builds: kv-cache series; newer: speculative counters with a `position` label.
    fake.set(
        "/metrics",
        200,
        "# TYPE llamacpp:kv_cache_usage_ratio gauge\nllamacpp:kv_cache_usage_ratio 0.25\nllamacpp:kv_cache_tokens 512\nllamacpp:spec_decode_accepted_total{position=\"0\"} 7\nllamacpp:spec_decode_accepted_total{position=\"1\"} 3\nllamacpp:some_future_series 42\n",
    );
    // Older `/slots`: `next_token` is an object; older `/health`: `loading model`.
    fake.set(
        "/slots",
        200,
        r#"[{"id":0,"n_ctx":512,"is_processing":true,"next_token":{"n_decoded":9,"n_remain":-1}}]"#,
    );
    fake.set("/health", 503, r#"{"status":"loading model"}"#);
    let base = serve(fake.clone()).await;
    let mut s = scraper(&base, 2000);
    let (r, _) = s.cycle().await;
    assert_eq!(only(&r, "llamacpp.kv_cache_usage_ratio"), 0.25);
    assert_eq!(
        find(&r, "llamacpp.kv_cache_usage_ratio").map(|m| m.unit.as_str()),
        Some("1")
    );
    assert_eq!(only(&r, "llamacpp.kv_cache_tokens"), 512.0);
    assert_eq!(
        only(&r, "llamacpp.some_future_series"),
        42.0,
        "unknown series pass through"
    );
    let accepted = points(find(&r, "llamacpp.spec_decode_accepted").expect("spec"));
    assert_eq!(accepted.len(), 2);
    assert_eq!(
        attr(&accepted[1], "position"),
        Some(&any_value::Value::StringValue("1".into()))
    );
    assert_eq!(only(&r, "llamacpp.slot.decoded"), 9.0);
    assert_eq!(only(&r, "llamacpp.up"), 0.0);
    assert_eq!(current_health(&r), ["loading"]);

    // Newer `/health` while loading: 503 with an error object.
    fake.set(
        "/health",
        503,
        r#"{"error":{"code":503,"message":"Loading model","type":"unavailable_error"}}"#,
    );
    let (r, _) = s.cycle().await;
    assert_eq!(current_health(&r), ["loading"]);
    // An old "ok" body with extra fields.
    fake.set(
        "/health",
        200,
        r#"{"status":"ok","slots_idle":1,"slots_processing":0}"#,
    );
    let (r, _) = s.cycle().await;
    assert_eq!(only(&r, "llamacpp.up"), 1.0);
}

#[tokio::test]
async fn disabled_endpoints_are_counted_and_the_others_keep_working() {
    let fake = real_server();
    fake.set(
        "/metrics",
        501,
        r#"{"error":{"code":501,"message":"This server does not support metrics endpoint."}}"#,
    );
    fake.set("/slots", 404, "not found");
    let base = serve(fake).await;
    let (r, failures) = scraper(&base, 2000).cycle().await;
    assert_eq!(failures, 2);
    assert!(find(&r, "llamacpp.prompt_tokens").is_none());
    assert!(find(&r, "llamacpp.slots.total").is_none());
    assert_eq!(only(&r, "llamacpp.up"), 1.0, "health still answers");
}

#[tokio::test]
async fn garbage_bodies_are_errors_not_panics() {
    let fake = real_server();
    fake.set(
        "/metrics",
        200,
        "llamacpp:prompt_tokens_total{oops 3\n\u{0}\u{1}garbage",
    );
    fake.set("/slots", 200, "<html>not json</html>");
    fake.set("/props", 200, "[1,2,3]");
    fake.set("/health", 200, "\u{0}\u{ff}");
    let base = serve(fake).await;
    let (r, failures) = scraper(&base, 2000).cycle().await;
    assert_eq!(failures, 3, "metrics, slots and props unreadable");
    assert_eq!(
        only(&r, "llamacpp.up"),
        1.0,
        "a 200 on /health is up, whatever the body"
    );
    assert!(parse::prometheus_text("llamacpp:x{a=\"1\"} 1\nbad line here\n").is_err());
    assert!(
        parse::prometheus_text("llamacpp:x{a=\"q\\\"uote\",b=\"2\"} NaN 1700000000000\n").is_ok()
    );
}

#[tokio::test]
async fn a_hanging_target_does_not_delay_the_others() {
    let hanging = Arc::new(FakeServer::default());
    for path in ["/metrics", "/slots", "/health", "/props"] {
        hanging.hang(path);
    }
    let slow = serve(hanging).await;
    let fast = serve(real_server()).await;
    let yaml = format!(
        "receivers:\n  llamacpp:\n    collection_interval: 1s\n    timeout: 300ms\n    targets:\n      - {{endpoint: \"{slow}\", name: slow}}\n      - {{endpoint: \"{fast}\", name: fast}}\nexporters:\n  sink: {{name: llamacpp-hang}}\nservice:\n  pipelines:\n    metrics: {{receivers: [llamacpp], exporters: [sink]}}\n"
    );
    let registry = llamacol_pipeline::Registry::new()
        .receiver(factory())
        .exporter(llamacol_pipeline::testing::sink_factory());
    let (config, _) = llamacol_pipeline::config::load(
        &[llamacol_pipeline::config::ConfigText {
            name: "t.yaml".into(),
            text: yaml,
        }],
        &registry,
        &|_| None,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let telemetry = llamacol_pipeline::telemetry::Telemetry::new();
    let mut service =
        llamacol_pipeline::runtime::Service::build(&config, &registry, telemetry.clone())
            .expect("build");
    let started = Instant::now();
    service.start().await.expect("start");
    let sink = llamacol_pipeline::testing::Sink::named("llamacpp-hang");
    assert!(
        sink.wait_for(Signal::Metrics, 20, Duration::from_secs(5))
            .await
    );
    assert!(
        started.elapsed() < Duration::from_millis(250),
        "the fast target's first cycle did not wait for the slow one: {:?}",
        started.elapsed()
    );
    // The slow target's cycle ends at its timeout, reporting it unreachable.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ups: Vec<(String, f64)> = sink
        .batches()
        .into_iter()
        .filter_map(|b| match b {
            Batch::Metrics(mut p) => p.message().ok().map(|m| {
                let target = format!("{:?}", resource(m, "llamacpp.target"));
                (target, only(m, "llamacpp.up"))
            }),
            _ => None,
        })
        .collect();
    assert!(
        ups.iter().any(|(t, up)| t.contains("slow") && *up == 0.0),
        "{ups:?}"
    );
    assert!(
        ups.iter().any(|(t, up)| t.contains("fast") && *up == 1.0),
        "{ups:?}"
    );
    service.shutdown().await;
    let failed: u64 = telemetry
        .snapshot()
        .iter()
        .filter(|(s, _)| s.component == "llamacpp")
        .map(|(_, v)| v[3])
        .sum();
    assert!(
        failed >= 4,
        "the slow target's failed fetches are counted: {failed}"
    );
}

use llamacol_api::clock::unix_nanos as now_ns;
