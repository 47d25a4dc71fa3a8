use std::sync::Arc;
use std::time::Instant;

use prost::Message;

use super::*;
use crate::prometheus::model::native::{Buckets, NativeHistogram};
use llamacol_api::client_model::MetricFamily;

/// The `Accept` headers Prometheus v3.16.0 sends (`scrape/scrape.go` `acceptHeader` over
/// `config.ScrapeProtocolsHeaders`): with `scrape_native_histograms: true` (protobuf
/// first), and by default.
const PROMETHEUS_NATIVE: &str = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
const PROMETHEUS_DEFAULT: &str = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";

#[test]
fn protobuf_is_served_only_to_a_scraper_that_prefers_it() {
    assert!(preferred(PROMETHEUS_NATIVE));
    assert!(!preferred(PROMETHEUS_DEFAULT));
    assert!(!preferred("*/*"));
    assert!(!preferred(""));
    // The delimited encoding only: `encoding=text` is another format.
    assert!(!preferred(
        "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text"
    ));
    assert!(!preferred(
        "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.1,text/plain;q=0.9"
    ));
}

fn point(value: Value, exemplar: Option<Observed>) -> Arc<Point> {
    Arc::new(Point {
        value,
        time_ms: 1_700_000_010_000,
        time_ns: 1_700_000_010_000_000_000,
        start_ns: 1_700_000_000_500_000_000,
        updated: Instant::now(),
        exemplar,
    })
}

fn family(name: &str, family: FamilyType, unit: &str, p: Arc<Point>) -> FamilySnapshot {
    FamilySnapshot {
        name: name.into(),
        family,
        help: format!("{name} help"),
        unit: unit.into(),
        series: vec![(Arc::new(vec![("model".into(), "qwen".into())]), p)],
    }
}

fn decode(mut bytes: &[u8]) -> Vec<MetricFamily> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        out.push(MetricFamily::decode_length_delimited(&mut bytes).expect("delimited family"));
    }
    out
}

#[test]
fn exponential_histograms_go_out_native_and_the_rest_as_in_text() {
    let trace = Observed {
        value: 0.3,
        time_ms: 1_700_000_009_000,
        trace_id: "0af7651916cd43dd8448eb211c80319c".into(),
        span_id: "b7ad6b7169203331".into(),
    };
    let native_value = Value::Native(Box::new(NativeHistogram {
        count: 6,
        sum: Some(2.5),
        scale: 3,
        zero_threshold: 1e-9,
        zero_count: 1,
        positive: Buckets {
            offset: -10,
            counts: vec![2, 0, 3],
        },
        negative: Buckets::default(),
    }));
    let families = vec![
        family(
            "llm_requests_total",
            FamilyType::Counter,
            "{request}",
            point(Value::Number(7.0), Some(trace.clone())),
        ),
        family(
            "llm_ttft_seconds",
            FamilyType::Histogram,
            "s",
            point(native_value, Some(trace)),
        ),
        family(
            "llm_queue_seconds",
            FamilyType::Histogram,
            "s",
            point(
                Value::Histogram {
                    count: 4,
                    sum: Some(1.0),
                    bounds: vec![0.1, 1.0],
                    counts: vec![1, 2, 1],
                },
                None,
            ),
        ),
    ];
    let got = decode(&render(&families, false));
    assert_eq!(got.len(), 3);

    let counter = &got[0];
    assert_eq!(counter.name.as_deref(), Some("llm_requests_total"));
    assert_eq!(counter.r#type, Some(MetricType::Counter as i32));
    assert_eq!(counter.unit, None, "annotations are no unit");
    assert_eq!(counter.metric[0].label, vec![label("model", "qwen")]);
    let c = counter.metric[0].counter.as_ref().expect("counter");
    assert_eq!(c.value, Some(7.0));
    assert_eq!(
        c.created_timestamp,
        Some(Timestamp {
            seconds: 1_700_000_000,
            nanos: 500_000_000
        })
    );
    assert_eq!(c.exemplar.as_ref().expect("exemplar").label.len(), 2);
    assert_eq!(counter.metric[0].timestamp_ms, None);

    let h = got[1].metric[0].histogram.as_ref().expect("histogram");
    assert_eq!(got[1].unit.as_deref(), Some("seconds"));
    assert_eq!(
        (h.schema, h.zero_count, h.sample_count),
        (Some(3), Some(1), Some(6))
    );
    assert!(h.bucket.is_empty(), "native only");
    assert_eq!(
        h.positive_span,
        vec![BucketSpan {
            offset: Some(-9),
            length: Some(3)
        }]
    );
    assert_eq!(h.positive_delta, vec![2, -2, 3]);
    assert_eq!(h.exemplars.len(), 1);

    let classic = got[2].metric[0].histogram.as_ref().expect("histogram");
    assert_eq!(classic.schema, None);
    let buckets: Vec<(f64, u64)> = classic
        .bucket
        .iter()
        .map(|b| {
            (
                b.upper_bound.unwrap_or(f64::NAN),
                b.cumulative_count.unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        buckets,
        vec![(0.1, 1), (1.0, 3)],
        "+Inf implied by the count"
    );
}

#[test]
fn an_empty_native_histogram_still_says_it_is_native() {
    let empty = Value::Native(Box::new(NativeHistogram {
        count: 0,
        sum: Some(0.0),
        scale: 0,
        zero_threshold: 0.0,
        zero_count: 0,
        positive: Buckets::default(),
        negative: Buckets::default(),
    }));
    let got = decode(&render(
        &[family(
            "idle_seconds",
            FamilyType::Histogram,
            "s",
            point(empty, None),
        )],
        true,
    ));
    let m = &got[0].metric[0];
    assert_eq!(m.timestamp_ms, Some(1_700_000_010_000));
    let h = m.histogram.as_ref().expect("histogram");
    assert_eq!(
        h.positive_span,
        vec![BucketSpan {
            offset: Some(0),
            length: Some(0)
        }]
    );
}
