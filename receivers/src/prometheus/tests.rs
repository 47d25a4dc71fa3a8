use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::response::IntoResponse;
use llamacol_api::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use llamacol_api::otlp::common::v1::any_value;
use llamacol_api::otlp::metrics::v1::metric;
use llamacol_api::testing::Capture;
use llamacol_api::{Batch, ComponentId};
use llamacol_pipeline::testing::free_port;

use super::*;

const OM_PROMETHEUS: &str =
    include_str!("../../../testdata/prometheus/exposition/prometheus.om1.txt");

/// A target answering with a scripted status, content type and body.
type Answer = (u16, &'static str, String);

async fn serve(answer: Arc<Mutex<Answer>>) -> u16 {
    let port = free_port();
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let answer = answer.clone();
            async move {
                let (status, content_type, body) = answer
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                (
                    StatusCode::from_u16(status).expect("status"),
                    [("content-type", content_type)],
                    body,
                )
                    .into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind");
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

fn receiver(yaml: &str) -> Box<dyn Receiver> {
    let block: Value = llamacol_api::serde_yaml::from_str(yaml).expect("yaml");
    build(
        &BuildContext::new(
            ComponentId::parse("prometheus").expect("id"),
            vec![Signal::Metrics],
        ),
        &block,
    )
    .expect("build")
}

fn requests(capture: &Capture) -> Vec<ExportMetricsServiceRequest> {
    capture
        .batches()
        .into_iter()
        .filter_map(|b| match b {
            Batch::Metrics(mut p) => p.message().ok().cloned(),
            _ => None,
        })
        .collect()
}

fn gauge_value(request: &ExportMetricsServiceRequest, name: &str) -> Option<f64> {
    request.resource_metrics[0].scope_metrics[0]
        .metrics
        .iter()
        .find(|m| m.name == name)
        .and_then(|m| match &m.data {
            Some(metric::Data::Gauge(g)) => g.data_points[0].value.as_ref().map(|v| match v {
                number_data_point::Value::AsDouble(d) => *d,
                number_data_point::Value::AsInt(i) => *i as f64,
            }),
            _ => None,
        })
}

use llamacol_api::otlp::metrics::v1::number_data_point;

async fn wait_for(capture: &Capture, n: usize) -> Vec<ExportMetricsServiceRequest> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = requests(capture);
        if got.len() >= n || Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Prometheus' own `/metrics` (OpenMetrics, from its repository) scraped from a target:
/// the resource from job/instance, `up` 1 and the scrape's own series, then `up` 0 and
/// every series stale when the target starts failing, the reason logged once.
#[tokio::test]
async fn scrapes_a_target_and_marks_it_down_when_it_fails() {
    let answer = Arc::new(Mutex::new((
        200,
        "application/openmetrics-text; version=1.0.0; charset=utf-8",
        OM_PROMETHEUS.to_string(),
    )));
    let port = serve(answer.clone()).await;
    let mut r = receiver(&format!(
        "config:\n  scrape_configs:\n    - job_name: prom\n      scrape_interval: 200ms\n      static_configs:\n        - targets: ['127.0.0.1:{port}']\n          labels: {{rack: r1}}\n"
    ));
    let capture = Arc::new(Capture::default());
    r.start(capture.clone()).await.expect("start");
    let got = wait_for(&capture, 1).await;
    let first = &got[0];
    let resource = first.resource_metrics[0]
        .resource
        .as_ref()
        .expect("resource");
    let attr = |k: &str| {
        resource
            .attributes
            .iter()
            .find(|kv| kv.key == k)
            .and_then(
                |kv| match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                    Some(any_value::Value::StringValue(s)) => Some(s.clone()),
                    _ => None,
                },
            )
    };
    assert_eq!(attr("service.name").as_deref(), Some("prom"));
    assert_eq!(
        attr("service.instance.id"),
        Some(format!("127.0.0.1:{port}"))
    );
    assert_eq!(attr("server.port"), Some(port.to_string()));
    assert_eq!(gauge_value(first, "up"), Some(1.0));
    assert_eq!(gauge_value(first, "scrape_samples_scraped"), Some(2531.0));
    let metrics = &first.resource_metrics[0].scope_metrics[0].metrics;
    assert!(metrics.len() > 200, "{}", metrics.len());

    answer.lock().unwrap_or_else(PoisonError::into_inner).0 = 503;
    let before = requests(&capture).len();
    let got = wait_for(&capture, before + 2).await;
    let down = got.last().expect("a scrape after the failure");
    assert_eq!(gauge_value(down, "up"), Some(0.0));
    r.shutdown().await.expect("shutdown");
    // The first failed scrape ended every series: stale markers for all of them.
    let stale_scrape = got[before..]
        .iter()
        .find(|r| gauge_value(r, "up") == Some(0.0))
        .expect("down");
    assert!(
        stale_scrape.resource_metrics[0].scope_metrics[0]
            .metrics
            .len()
            > 200
    );
}

#[test]
fn configs_that_cannot_work_are_refused_with_the_place() {
    for (yaml, place) in [
        ("config: {scrape_configs: []}", "config.scrape_configs"),
        (
            "config: {scrape_configs: [{job_name: a, static_configs: [{targets: ['http://h:1']}]}]}",
            "static_configs[0].targets",
        ),
        (
            "config: {scrape_configs: [{job_name: a, scrape_interval: 5s, scrape_timeout: 10s}]}",
            "scrape_timeout",
        ),
        (
            "config: {scrape_configs: [{job_name: a, relabel_configs: [{action: hashmod, target_label: x}]}]}",
            "relabel_configs[0]",
        ),
        (
            "config: {scrape_configs: [{job_name: a, kubernetes_sd_configs: [{role: pod}]}]}",
            "kubernetes_sd_configs",
        ),
        ("target_allocator: {endpoint: x}\nconfig: {scrape_configs: [{job_name: a}]}", "target_allocator"),
    ] {
        let block: Value = llamacol_api::serde_yaml::from_str(yaml).expect("yaml");
        let issues = (factory().config.check)(&block)
            .err()
            .unwrap_or_else(|| panic!("{yaml} accepted"));
        let text = format!("{issues:?}");
        assert!(text.contains(place), "{yaml}: {text}");
    }
}
