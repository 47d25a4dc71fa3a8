//! The `loadbalancing` exporter with real processes: one llamacol agent routes traces by
//! trace id to two llamacol gateways (each writing what it receives to a file). Every
//! span of a trace lands on one gateway, both get a share; one gateway is stopped
//! mid-run: its share moves to the other and nothing the agent acknowledged is lost.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{lines, spans, Collector};
use llamacol_api::otlp::collector::trace::v1::ExportTraceServiceRequest;
use llamacol_api::otlp::resource::v1::Resource;
use llamacol_api::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

/// `traces` traces of 3 spans each, numbered from `first`; every request holds one span
/// of each of 100 traces, so a trace's spans arrive in three different requests.
fn requests(first: u64, traces: u64) -> Vec<ExportTraceServiceRequest> {
    let mut out = Vec::new();
    for block in (first..first + traces).step_by(100) {
        for s in 0..3u64 {
            let spans: Vec<Span> = (block..(block + 100).min(first + traces))
                .map(|t| Span {
                    trace_id: [t.to_be_bytes(), (t * 7919).to_be_bytes()].concat(),
                    span_id: ((t << 4) | (s + 1)).to_be_bytes().to_vec(),
                    name: "chat".into(),
                    ..Default::default()
                })
                .collect();
            out.push(ExportTraceServiceRequest {
                resource_spans: vec![ResourceSpans {
                    resource: Some(Resource::default()),
                    scope_spans: vec![ScopeSpans {
                        spans,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
            });
        }
    }
    out
}

fn send(port: u16, requests: &[ExportTraceServiceRequest]) {
    let client = reqwest::blocking::Client::new();
    for r in requests {
        let status = client
            .post(format!("http://127.0.0.1:{port}/v1/traces"))
            .header("content-type", "application/x-protobuf")
            .body(r.encode_to_vec())
            .send()
            .expect("post")
            .status();
        assert!(status.is_success(), "{status}");
    }
}

/// trace id -> span ids received, from a gateway's file.
fn received(path: &std::path::Path) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for s in spans(&lines(path)) {
        let text = |k: &str| s[k].as_str().unwrap_or_default().to_string();
        out.entry(text("traceId")).or_default().push(text("spanId"));
    }
    out
}

/// An agent taking OTLP/HTTP and routing `signal` with `routing_key` over the two
/// gateways' gRPC ports, through the exporter type `type_name`.
fn agent(type_name: &str, routing_key: &str, signal: &str, gateways: [u16; 2]) -> Collector {
    let dir = tempfile::tempdir().expect("tmp");
    let config = dir.path().join("agent.yaml");
    let [a, b] = gateways;
    std::fs::write(
        &config,
        format!(
            "receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: ${{env:LLAMACOL_OTLP_HTTP_ENDPOINT}}\nexporters:\n  {type_name}:\n    routing_key: {routing_key}\n    protocol:\n      otlp:\n        timeout: 2s\n        tls: {{insecure: true}}\n    resolver:\n      static:\n        hostnames: [127.0.0.1:{a}, 127.0.0.1:{b}]\nservice:\n  telemetry:\n    admin:\n      endpoint: ${{env:LLAMACOL_ADMIN_ENDPOINT}}\n  pipelines:\n    {signal}:\n      receivers: [otlp]\n      exporters: [{type_name}]\n"
        ),
    )
    .expect("write agent config");
    // The config is read at start; the directory may go.
    Collector::launch(&[&config.to_string_lossy()], &[])
}

#[test]
fn traces_stay_whole_per_gateway_and_a_stopped_gateway_loses_nothing() {
    let mut a = Collector::start("configs/otlp-to-file.yaml");
    let mut b = Collector::start("configs/otlp-to-file.yaml");
    let mut agent = agent("loadbalancing", "traceID", "traces", [a.grpc, b.grpc]);

    // Phase 1: both gateways up.
    send(agent.http, &requests(0, 2_000));
    // Let the agent's queue deliver phase 1 before B stops.
    std::thread::sleep(std::time::Duration::from_secs(2));
    let (status, _) = b.terminate();
    assert!(status.success());
    // Phase 2: B is gone.
    send(agent.http, &requests(2_000, 2_000));
    std::thread::sleep(std::time::Duration::from_secs(1));
    let (_, metrics) = common::http_get(agent.admin, "/metrics");
    let sent_to = |port: u16| {
        metrics
            .lines()
            .find(|l| {
                l.starts_with("llamacol_exporter_backend_items_total")
                    && l.contains(&format!("backend=\"127.0.0.1:{port}\""))
                    && l.contains("outcome=\"sent\"")
            })
            .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    assert!(
        sent_to(a.grpc) > 0 && sent_to(b.grpc) > 0,
        "per-backend counts:\n{metrics}"
    );
    let (status, _) = agent.terminate();
    assert!(status.success(), "{}", agent.stderr());
    let (status, _) = a.terminate();
    assert!(status.success());

    let on_a = received(&a.file);
    let on_b = received(&b.file);
    let phase1 = |m: &BTreeMap<String, Vec<String>>| {
        m.keys()
            .filter(|t| u64::from_str_radix(&t[..16], 16).is_ok_and(|n| n < 2_000))
            .count()
    };
    eprintln!(
        "phase 1 traces: {} on A, {} on B; phase 2 traces: {} on A, {} on B",
        phase1(&on_a),
        phase1(&on_b),
        on_a.len() - phase1(&on_a),
        on_b.len() - phase1(&on_b)
    );
    // Both got a share while both were up.
    assert!(phase1(&on_a) > 600 && phase1(&on_b) > 600, "uneven split");
    // Nothing lost: every span sent arrived somewhere.
    let all: BTreeSet<(String, String)> = on_a
        .iter()
        .chain(&on_b)
        .flat_map(|(t, ids)| ids.iter().map(move |s| (t.clone(), s.clone())))
        .collect();
    assert_eq!(all.len(), 4_000 * 3, "every span arrived");
    // A phase-1 trace is whole on one gateway (B's stop moved only traces sent after it).
    let split: Vec<&String> = on_a
        .keys()
        .filter(|t| on_b.contains_key(*t))
        .filter(|t| u64::from_str_radix(&t[..16], 16).is_ok_and(|n| n < 2_000))
        .collect();
    assert!(
        split.is_empty(),
        "{} phase-1 traces split across gateways",
        split.len()
    );
    assert!(
        on_b.keys()
            .all(|t| u64::from_str_radix(&t[..16], 16).is_ok_and(|n| n < 2_000)),
        "B got data after it stopped"
    );
}

/// GPU gauges of 40 streams (one per `gpu`), sent twice: `streamID` routing gives each
/// gateway a share, every point arrives once, and each stream goes to the same gateway
/// both times (what a gateway aggregating per stream needs).
#[test]
fn metric_streams_go_to_one_gateway_each() {
    use llamacol_api::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
    use llamacol_api::otlp::common::v1::{any_value, AnyValue, KeyValue};
    use llamacol_api::otlp::metrics::v1::{
        metric, number_data_point, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
    };
    let a = Collector::start("configs/otlp-to-file.yaml");
    let b = Collector::start("configs/otlp-to-file.yaml");
    let mut agent = agent("load_balancing", "streamID", "metrics", [a.grpc, b.grpc]);
    let request = |round: i64| ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "gpu.utilization".into(),
                    data: Some(metric::Data::Gauge(Gauge {
                        data_points: (0..40)
                            .map(|gpu| NumberDataPoint {
                                attributes: vec![KeyValue {
                                    key: "gpu".into(),
                                    value: Some(AnyValue {
                                        value: Some(any_value::Value::IntValue(gpu)),
                                    }),
                                    ..KeyValue::default()
                                }],
                                value: Some(number_data_point::Value::AsInt(round)),
                                ..NumberDataPoint::default()
                            })
                            .collect(),
                    })),
                    ..Metric::default()
                }],
                ..ScopeMetrics::default()
            }],
            ..ResourceMetrics::default()
        }],
    };
    let client = reqwest::blocking::Client::new();
    for round in [1, 2] {
        let status = client
            .post(format!("http://127.0.0.1:{}/v1/metrics", agent.http))
            .header("content-type", "application/x-protobuf")
            .body(request(round).encode_to_vec())
            .send()
            .expect("post")
            .status();
        assert!(status.is_success(), "{status}");
    }
    let (status, _) = agent.terminate();
    assert!(status.success(), "{}", agent.stderr());
    let streams = |gateway: &Collector| {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for m in common::metrics(&lines(std::path::Path::new(&gateway.file))) {
            for p in m["gauge"]["dataPoints"].as_array().into_iter().flatten() {
                out.entry(p["attributes"][0]["value"]["intValue"].to_string())
                    .or_default()
                    .push(p["asInt"].to_string());
            }
        }
        out
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let (mut on_a, mut on_b) = (streams(&a), streams(&b));
    while on_a
        .values()
        .chain(on_b.values())
        .map(Vec::len)
        .sum::<usize>()
        < 80
    {
        assert!(std::time::Instant::now() < deadline, "{on_a:?} {on_b:?}");
        std::thread::sleep(std::time::Duration::from_millis(100));
        (on_a, on_b) = (streams(&a), streams(&b));
    }
    assert!(
        !on_a.is_empty() && !on_b.is_empty(),
        "both gateways get streams"
    );
    assert_eq!(
        on_a.len() + on_b.len(),
        40,
        "each stream on one gateway only"
    );
    assert!(
        on_a.values()
            .chain(on_b.values())
            .all(|points| points.len() == 2),
        "both rounds of a stream on its gateway: {on_a:?} {on_b:?}"
    );
}
