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
    assert_eq!(attr("server.address"), None, "loopback: left out");
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

/// Bad targets, each in its own job: a body over `body_size_limit`, one that never ends,
/// one that is not UTF-8, one that is not an exposition, a gzip body that expands past
/// the limit. Each fails alone (`up` 0, a
/// failed read counted); the good target beside them is scraped every time.
#[tokio::test]
async fn bad_targets_fail_alone_and_are_counted() {
    let good = serve(Arc::new(Mutex::new((
        200,
        "text/plain; version=0.0.4",
        "ok_gauge 1\n".to_string(),
    ))))
    .await;
    let big = serve(Arc::new(Mutex::new((
        200,
        "text/plain; version=0.0.4",
        "big_gauge 1\n".repeat(300_000),
    ))))
    .await;
    let garbage = serve(Arc::new(Mutex::new((
        200,
        "text/plain; version=0.0.4",
        "<html>not metrics</html>\n".to_string(),
    ))))
    .await;
    // Not UTF-8, and a body that never ends, served raw.
    let raw = |bytes: Vec<u8>, endless: bool, headers: &'static str| async move {
        let port = free_port();
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind");
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let bytes = bytes.clone();
                tokio::spawn(async move {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    let mut request = [0u8; 4096];
                    let _ = socket.read(&mut request).await;
                    let head = if endless {
                        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n".to_string()
                    } else {
                        format!("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n{headers}content-length: {}\r\n\r\n", bytes.len())
                    };
                    let _ = socket.write_all(head.as_bytes()).await;
                    if endless {
                        loop {
                            if socket.write_all(b"6\r\nx 1\n\n\r\n").await.is_err() {
                                return;
                            }
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    }
                    let _ = socket.write_all(&bytes).await;
                });
            }
        });
        port
    };
    let latin1 = raw(b"caf\xe9_gauge 1\n".to_vec(), false, "").await;
    let endless = raw(Vec::new(), true, "").await;
    // gzip, as most exporters answer `Accept-Encoding: gzip`: one good body, and one of a
    // few KiB that decompresses past its job's 1MB limit.
    let gz = |text: &str| {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(text.as_bytes()).expect("gzip");
        e.finish().expect("gzip")
    };
    let gzipped = raw(gz("zipped_gauge 7\n"), false, "content-encoding: gzip\r\n").await;
    let bomb_body = gz(&"bomb_gauge 1\n".repeat(200_000));
    assert!(bomb_body.len() < 64 * 1024, "{}", bomb_body.len());
    let bomb = raw(bomb_body, false, "content-encoding: gzip\r\n").await;
    let job = |name: &str, port: u16, extra: &str| {
        format!("    - job_name: {name}\n      scrape_interval: 300ms\n      static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n{extra}")
    };
    let yaml = format!(
        "config:\n  scrape_configs:\n{}{}{}{}{}{}{}",
        job("good", good, ""),
        job("gzipped", gzipped, ""),
        job("bomb", bomb, "      body_size_limit: 1MB\n"),
        job("big", big, "      body_size_limit: 1MB\n"),
        job("garbage", garbage, ""),
        job("latin1", latin1, ""),
        job("endless", endless, "      scrape_timeout: 200ms\n"),
    );
    let block: Value = llamacol_api::serde_yaml::from_str(&yaml).expect("yaml");
    let mut ctx = BuildContext::new(
        ComponentId::parse("prometheus").expect("id"),
        vec![Signal::Metrics],
    );
    let counters = Arc::new(llamacol_api::outcome::Counters::default());
    ctx.failures = OutcomeCounter::new(counters.clone(), llamacol_api::outcome::Outcome::Failed);
    let failures = ctx.failures.clone();
    let mut r = build(&ctx, &block).expect("build");
    let capture = Arc::new(Capture::default());
    r.start(capture.clone()).await.expect("start");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    r.shutdown().await.expect("shutdown");
    let got = requests(&capture);
    let up_of = |job: &str| -> Vec<f64> {
        got.iter()
            .filter(|req| {
                req.resource_metrics[0]
                    .resource
                    .as_ref()
                    .is_some_and(|r| {
                        r.attributes.iter().any(|kv| {
                            kv.key == "service.name"
                                && matches!(kv.value.as_ref().and_then(|v| v.value.as_ref()), Some(any_value::Value::StringValue(s)) if s == job)
                        })
                    })
            })
            .filter_map(|req| gauge_value(req, "up"))
            .collect()
    };
    let good_ups = up_of("good");
    assert!(
        good_ups.len() >= 3 && good_ups.iter().all(|u| *u == 1.0),
        "{good_ups:?}"
    );
    let zipped: Vec<f64> = got
        .iter()
        .filter_map(|req| gauge_value(req, "zipped_gauge"))
        .collect();
    assert!(
        !zipped.is_empty() && zipped.iter().all(|v| *v == 7.0),
        "{zipped:?}"
    );
    assert!(up_of("gzipped").iter().all(|u| *u == 1.0));
    for bad in ["big", "garbage", "latin1", "endless", "bomb"] {
        let ups = up_of(bad);
        assert!(
            !ups.is_empty() && ups.iter().all(|u| *u == 0.0),
            "{bad}: {ups:?}"
        );
    }
    assert!(
        failures.get() >= 8,
        "failed reads counted: {}",
        failures.get()
    );
}

/// The first point's flags of a gauge, across the request's resources.
fn gauge_flags(request: &ExportMetricsServiceRequest, name: &str) -> Option<u32> {
    request
        .resource_metrics
        .iter()
        .flat_map(|r| r.scope_metrics.iter())
        .flat_map(|s| s.metrics.iter())
        .find(|m| m.name == name)
        .and_then(|m| match &m.data {
            Some(metric::Data::Gauge(g)) => g.data_points.first().map(|p| p.flags),
            _ => None,
        })
}

/// A target its `file_sd_configs` file no longer lists ends as in Prometheus: one last
/// batch with a stale marker for each of its series (its own `up` and `scrape_*` too),
/// then no more scrapes of it.
#[tokio::test]
async fn a_target_dropped_from_its_file_ends_with_stale_markers() {
    let port = serve(Arc::new(Mutex::new((
        200,
        "text/plain; version=0.0.4",
        "kept_gauge 1\n".to_string(),
    ))))
    .await;
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("targets.yaml");
    std::fs::write(&file, format!("- targets: ['127.0.0.1:{port}']\n")).expect("write");
    let mut r = receiver(&format!(
        "config:\n  scrape_configs:\n    - job_name: files\n      scrape_interval: 200ms\n      file_sd_configs: [{{files: ['{}']}}]\n",
        file.display()
    ));
    let capture = Arc::new(Capture::default());
    r.start(capture.clone()).await.expect("start");
    let got = wait_for(&capture, 2).await;
    assert_eq!(gauge_value(&got[0], "kept_gauge"), Some(1.0));

    std::fs::write(&file, "[]\n").expect("rewrite");
    let deadline = Instant::now() + Duration::from_secs(15);
    let last = loop {
        let got = requests(&capture);
        if let Some(last) = got.iter().find(|r| gauge_flags(r, "up") == Some(1)) {
            break last.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no stale markers after the file dropped the target"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for name in [
        "kept_gauge",
        "up",
        "scrape_duration_seconds",
        "scrape_series_added",
    ] {
        assert_eq!(gauge_flags(&last, name), Some(1), "{name}");
    }
    let after = requests(&capture).len();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        requests(&capture).len(),
        after,
        "the target is scraped no more"
    );
    r.shutdown().await.expect("shutdown");
}
