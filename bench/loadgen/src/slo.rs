//! `loadgen slo`: the `slo` processor's rule engine with 1,000 rules over 100,000 series
//! (1,000 gauge metrics of 100 series each, one rule per metric, 10 groups per rule,
//! aggregates `max`, `avg`, `last` and `sum` in turn), one thread: CPU per data point
//! taken in (every point read by a rule) next to the prost decode + re-encode floor of
//! the same requests, CPU of one evaluation cycle, and the process's RSS growth.

use llamacol_api::attributes::string;
use llamacol_api::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use llamacol_api::otlp::metrics::v1::{
    metric, number_data_point, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use llamacol_api::otlp::resource::v1::Resource;
use llamacol_api::serde_yaml;
use llamacol_pipeline::config::parse;
use llamacol_processors::slo::{Engine, SloConfig};
use prost::Message;

use crate::cpu;

pub struct SloReport {
    pub rules: usize,
    pub series: usize,
    pub floor_us_per_point: f64,
    pub ingest_us_per_point: f64,
    /// The same points into an engine whose 1,000 rules read other metrics.
    pub unread_us_per_point: f64,
    pub evaluation_ms: f64,
    pub alerts_firing: usize,
    pub rss_growth_mib: f64,
}

const METRICS: usize = 1000;
const SERIES_PER_METRIC: usize = 100;
/// Metrics per request: 10 x 100 = 1,000 points.
const METRICS_PER_REQUEST: usize = 10;

fn config(prefix: &str) -> SloConfig {
    let aggregates = ["max", "avg", "last", "sum"];
    let rules: Vec<String> = (0..METRICS)
        .map(|i| {
            format!(
                "  - {{alert: Rule{i}, metric: {prefix}.{i}, by: [group], aggregate: {}, window: 1m, op: '>', threshold: 90}}",
                aggregates[i % aggregates.len()]
            )
        })
        .collect();
    let yaml = format!("evaluation_interval: 15s\nrules:\n{}\n", rules.join("\n"));
    let value: serde_yaml::Value = serde_yaml::from_str(&yaml).expect("bench rules are YAML");
    parse::<SloConfig>(&value).expect("bench rules parse")
}

/// Requests carrying one sample of every series; values vary with `round` so some groups
/// breach.
fn requests(round: usize) -> Vec<ExportMetricsServiceRequest> {
    (0..METRICS / METRICS_PER_REQUEST)
        .map(|r| {
            let metrics = (0..METRICS_PER_REQUEST)
                .map(|m| {
                    let i = r * METRICS_PER_REQUEST + m;
                    let data_points = (0..SERIES_PER_METRIC)
                        .map(|s| NumberDataPoint {
                            attributes: vec![
                                string("series", &s.to_string()),
                                string("group", &(s % 10).to_string()),
                                string("hw.type", "gpu"),
                            ],
                            value: Some(number_data_point::Value::AsDouble(
                                ((i * 7 + s * 13 + round * 5) % 100) as f64,
                            )),
                            ..Default::default()
                        })
                        .collect();
                    Metric {
                        name: format!("bench.metric.{i}"),
                        data: Some(metric::Data::Gauge(Gauge { data_points })),
                        ..Default::default()
                    }
                })
                .collect();
            ExportMetricsServiceRequest {
                resource_metrics: vec![ResourceMetrics {
                    resource: Some(Resource {
                        attributes: vec![
                            string("service.name", "bench"),
                            string("service.instance.id", "node-1"),
                        ],
                        ..Default::default()
                    }),
                    scope_metrics: vec![ScopeMetrics {
                        metrics,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
            }
        })
        .collect()
}

pub fn run(rounds: usize) -> SloReport {
    let pid = std::process::id();
    // One round's requests exist before the engine does, so the growth is the engine's
    // (each round's requests reuse that memory).
    let mut next_batch = requests(0);
    let rss_before = cpu::status_mib(pid, "VmRSS:").unwrap_or(0.0);
    let c = config("bench.metric");
    let mut engine = Engine::new(&c, c.rules.clone(), c.slos.clone(), 0);
    let other = config("other.metric");
    let mut unread_engine = Engine::new(&other, other.rules.clone(), other.slos.clone(), 0);
    let mut unread = 0.0;
    let start = 1_800_000_000.0;
    let mut points = 0usize;
    let (mut ingest, mut floor) = (0.0, 0.0);
    let mut evaluation = 0.0;
    let mut cycles = 0usize;
    let mut firing = 0;
    for round in 0..rounds {
        let batch = std::mem::take(&mut next_batch);
        let encoded: Vec<Vec<u8>> = batch.iter().map(Message::encode_to_vec).collect();
        let now = start + 15.0 * round as f64;
        // The floor: what any processor on the metrics path pays to see the points.
        let t = cpu::thread_seconds().unwrap_or(0.0);
        let mut sink = 0usize;
        for bytes in &encoded {
            if let Ok(m) = ExportMetricsServiceRequest::decode(bytes.as_slice()) {
                sink = sink.wrapping_add(m.encode_to_vec().len());
            }
        }
        std::hint::black_box(sink);
        floor += cpu::thread_seconds().unwrap_or(0.0) - t;
        let t = cpu::thread_seconds().unwrap_or(0.0);
        for r in &batch {
            engine.ingest(r, now);
        }
        ingest += cpu::thread_seconds().unwrap_or(0.0) - t;
        let t = cpu::thread_seconds().unwrap_or(0.0);
        for r in &batch {
            unread_engine.ingest(r, now);
        }
        unread += cpu::thread_seconds().unwrap_or(0.0) - t;
        points += METRICS * SERIES_PER_METRIC;
        let t = cpu::thread_seconds().unwrap_or(0.0);
        let e = engine.evaluate(now);
        let spent = cpu::thread_seconds().unwrap_or(0.0) - t;
        // From round 4 on every 1m window is full (4-5 samples per series): the steady
        // state. CPU time moves in scheduler ticks (4 ms here), so cycles are averaged.
        if round >= 4 {
            evaluation += spent;
            cycles += 1;
        }
        firing = e.notices.len();
        drop(batch);
        next_batch = requests(round + 1);
    }
    let rss_after = cpu::status_mib(pid, "VmRSS:").unwrap_or(0.0);
    SloReport {
        rules: METRICS,
        series: METRICS * SERIES_PER_METRIC,
        floor_us_per_point: floor / points as f64 * 1e6,
        ingest_us_per_point: ingest / points as f64 * 1e6,
        unread_us_per_point: unread / points as f64 * 1e6,
        evaluation_ms: evaluation / cycles.max(1) as f64 * 1e3,
        alerts_firing: firing,
        rss_growth_mib: rss_after - rss_before,
    }
}
