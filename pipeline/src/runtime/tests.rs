use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::config::{load, ConfigText};
use crate::testing::{registry, sample_traces, Sink, Source};
use llamacol_api::Batch;

const WAIT: Duration = Duration::from_secs(5);

fn service(yaml: &str) -> (Service, Arc<Telemetry>) {
    let sources = [ConfigText {
        name: "test.yaml".into(),
        text: yaml.into(),
    }];
    let (config, _) = load(&sources, &registry(), &|_| None).unwrap_or_else(|e| panic!("{e}"));
    let telemetry = Telemetry::new();
    let svc =
        Service::build(&config, &registry(), telemetry.clone()).unwrap_or_else(|e| panic!("{e}"));
    (svc, telemetry)
}

fn counter(
    t: &Telemetry,
    kind: Kind,
    component: &str,
    pipeline: Option<&str>,
    outcome: usize,
) -> u64 {
    t.snapshot()
        .into_iter()
        .filter(|(s, _)| {
            s.kind == kind && s.component == component && s.pipeline.as_deref() == pipeline
        })
        .map(|(_, v)| v[outcome])
        .sum()
}

#[tokio::test]
async fn fan_out_and_fan_in_deliver_once_per_path() {
    let (mut svc, t) = service(
        r#"
receivers:
  source: {name: fan-src}
exporters:
  sink/x: {name: fan-x}
  sink/y: {name: fan-y}
service:
  telemetry: {admin: {endpoint: "127.0.0.1:0"}}
  pipelines:
    traces/a: {receivers: [source], exporters: [sink/x, sink/y]}
    traces/b: {receivers: [source], exporters: [sink/y]}
"#,
    );
    svc.start().await.expect("start");
    for _ in 0..10 {
        Source::named("fan-src")
            .send(sample_traces(1, 3))
            .await
            .expect("accepted");
    }
    let (x, y) = (Sink::named("fan-x"), Sink::named("fan-y"));
    assert!(x.wait_for(Signal::Traces, 30, WAIT).await);
    assert!(y.wait_for(Signal::Traces, 60, WAIT).await);
    svc.shutdown().await;
    assert_eq!(x.items(Signal::Traces), 30, "one copy on the x path");
    assert_eq!(
        y.items(Signal::Traces),
        60,
        "one copy per pipeline into the shared y"
    );
    assert_eq!(
        counter(&t, Kind::Receiver, "source", None, 0),
        30,
        "receiver counts once before fan-out"
    );
    assert_eq!(
        counter(&t, Kind::Exporter, "sink/y", None, 2),
        60,
        "sent by the one shared queue"
    );
}

#[tokio::test]
async fn stalled_exporter_does_not_block_a_healthy_one() {
    let (mut svc, _) = service(
        r#"
receivers:
  source: {name: stall-src}
exporters:
  sink/slow: {name: stall-slow}
  sink/ok: {name: stall-ok}
service:
  telemetry: {admin: {endpoint: "127.0.0.1:0"}, shutdown_timeout: 200ms}
  pipelines:
    traces: {receivers: [source], exporters: [sink/slow, sink/ok]}
"#,
    );
    Sink::named("stall-slow").stall(true);
    svc.start().await.expect("start");
    for _ in 0..20 {
        Source::named("stall-src")
            .send(sample_traces(1, 1))
            .await
            .expect("queued");
    }
    assert!(
        Sink::named("stall-ok")
            .wait_for(Signal::Traces, 20, WAIT)
            .await,
        "healthy exporter got everything"
    );
    assert_eq!(Sink::named("stall-slow").items(Signal::Traces), 0);
    svc.shutdown().await;
    Sink::named("stall-slow").stall(false);
}

#[tokio::test]
async fn full_queue_is_a_retryable_error_at_the_receiver_and_is_counted() {
    let (mut svc, t) = service(
        r#"
receivers:
  source: {name: full-src}
exporters:
  sink: {name: full-sink, sending_queue: {queue_size: 2, num_consumers: 1, block_timeout: 200ms}}
service:
  telemetry: {admin: {endpoint: "127.0.0.1:0"}, shutdown_timeout: 100ms}
  pipelines:
    traces: {receivers: [source], exporters: [sink]}
"#,
    );
    let sink = Sink::named("full-sink");
    sink.stall(true);
    svc.start().await.expect("start");
    let src = Source::named("full-src");
    src.send(sample_traces(1, 1))
        .await
        .expect("taken by the worker");
    while sink.attempts() == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    src.send(sample_traces(1, 2))
        .await
        .expect("queued: 2 of 2 with the one in flight");
    let started = std::time::Instant::now();
    let err = src.send(sample_traces(1, 4)).await.expect_err("queue full");
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "waited for room first"
    );
    assert!(err.is_retryable());
    assert_eq!(
        err.to_string(),
        "exporter `sink` queue is full (2 batches, 64 MiB; waited 200ms for room); retry later"
    );
    assert_eq!(
        counter(&t, Kind::Receiver, "source", None, 1),
        4,
        "refused at the receiver"
    );
    assert_eq!(
        counter(&t, Kind::Exporter, "sink", Some("traces"), 1),
        4,
        "refused at the exporter edge"
    );
    // The deadline passes with 3 accepted items stuck (1 in flight, 2 queued): they are
    // counted, not lost silently.
    svc.shutdown().await;
    assert_eq!(
        counter(&t, Kind::Exporter, "sink", None, 5),
        1,
        "in flight at the deadline: the backend may have it, outcome unknown"
    );
    assert_eq!(
        counter(&t, Kind::Exporter, "sink", None, 4),
        2,
        "still queued at the deadline: dropped"
    );
    sink.stall(false);
}

#[tokio::test]
async fn shutdown_flushes_everything_accepted() {
    let (mut svc, t) = service(
        r#"
receivers:
  source: {name: drain-src}
processors:
  hold:
exporters:
  sink: {name: drain-sink}
service:
  telemetry: {admin: {endpoint: "127.0.0.1:0"}}
  pipelines:
    traces: {receivers: [source], processors: [hold], exporters: [sink]}
"#,
    );
    svc.start().await.expect("start");
    let mut sent = 0;
    for i in 1..=25 {
        Source::named("drain-src")
            .send(sample_traces(1, i % 4 + 1))
            .await
            .expect("accepted");
        sent += i % 4 + 1;
    }
    let sink = Sink::named("drain-sink");
    assert_eq!(
        sink.items(Signal::Traces),
        0,
        "held by the processor until shutdown"
    );
    let report = svc.shutdown().await;
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(sink.items(Signal::Traces), sent);
    assert_eq!(counter(&t, Kind::Exporter, "sink", None, 2) as usize, sent);
}

#[tokio::test]
async fn retryable_export_errors_are_retried_and_permanent_ones_counted() {
    let (mut svc, t) = service(
        r#"
receivers:
  source: {name: retry-src}
exporters:
  sink/flaky:
    name: retry-flaky
    retry_on_failure: {initial_interval: 10ms, max_interval: 20ms}
  sink/broken: {name: retry-broken}
service:
  telemetry: {admin: {endpoint: "127.0.0.1:0"}}
  pipelines:
    traces: {receivers: [source], exporters: [sink/flaky, sink/broken]}
"#,
    );
    let flaky = Sink::named("retry-flaky");
    flaky.fail_next(3);
    Sink::named("retry-broken").fail_permanently(true);
    svc.start().await.expect("start");
    Source::named("retry-src")
        .send(sample_traces(1, 5))
        .await
        .expect("queued");
    assert!(flaky.wait_for(Signal::Traces, 5, WAIT).await);
    assert_eq!(flaky.attempts(), 4, "three failures then success");
    svc.shutdown().await;
    assert_eq!(counter(&t, Kind::Exporter, "sink/flaky", None, 2), 5);
    assert_eq!(
        counter(&t, Kind::Exporter, "sink/broken", None, 3),
        5,
        "failed, not retried"
    );
    assert!(t.render().contains(
        "llamacol_exporter_failed_items_total{component=\"sink/broken\",signal=\"traces\"} 5"
    ));
}

#[tokio::test]
async fn queue_size_mib_bounds_the_queue_by_bytes_in_flight_included() {
    let (mut svc, t) = service(
        r#"
receivers:
  source: {name: bytes-src}
exporters:
  sink: {name: bytes-sink, sending_queue: {queue_size: 100, num_consumers: 1, queue_size_mib: 1, block_on_overflow: false}}
service:
  telemetry: {admin: {endpoint: "127.0.0.1:0"}, shutdown_timeout: 100ms}
  pipelines:
    traces: {receivers: [source], exporters: [sink]}
"#,
    );
    let sink = Sink::named("bytes-sink");
    sink.stall(true);
    svc.start().await.expect("start");
    let src = Source::named("bytes-src");
    let big = || sample_traces(1, 7500); // about 0.67 MiB encoded
    let size = Batch::from(big()).encoded_len();
    assert!(size > 600 * 1024 && size < 1024 * 1024, "{size}");
    src.send(big()).await.expect("taken by the worker");
    while sink.attempts() == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let err = src
        .send(big())
        .await
        .expect_err("0.67 MiB being exported + 0.67 would pass 1 MiB");
    assert!(err.is_retryable());
    assert_eq!(
        err.to_string(),
        "exporter `sink` queue is full (100 batches, 1 MiB; waited 0ns for room); retry later"
    );
    src.send(sample_traces(1, 10))
        .await
        .expect("a small batch still fits");
    assert!(t
        .render()
        .contains("llamacol_exporter_queue_capacity_bytes{component=\"sink\"} 1048576"));
    assert_eq!(
        counter(&t, Kind::Exporter, "sink", Some("traces"), 1),
        7500,
        "the refused batch is counted"
    );
    svc.shutdown().await;
    sink.stall(false);
}
