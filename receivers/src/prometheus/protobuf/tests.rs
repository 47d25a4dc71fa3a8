//! The delimited protobuf body decoded into families. The histogram is the
//! `test_histogram` family of Prometheus' own parser test
//! (`model/textparse/protobufparse_test.go`, Go module `github.com/prometheus/prometheus`
//! v0.316.0), its values taken as data and encoded here with the same messages.

use llamacol_api::client_model::{
    Bucket, BucketSpan, Counter, Histogram, LabelPair, Metric, MetricFamily, MetricType, Timestamp,
};
use prost::Message;

use super::*;

fn span(offset: i32, length: u32) -> BucketSpan {
    BucketSpan {
        offset: Some(offset),
        length: Some(length),
    }
}

/// Prometheus' `test_histogram` (three of its classic buckets, its native spans).
fn test_histogram() -> MetricFamily {
    MetricFamily {
        name: Some("test_histogram".into()),
        help: Some(
            "Test histogram with many buckets removed to keep it manageable in size.".into(),
        ),
        r#type: Some(MetricType::Histogram as i32),
        metric: vec![Metric {
            histogram: Some(Histogram {
                sample_count: Some(175),
                sample_sum: Some(0.0008280461746287094),
                bucket: vec![
                    Bucket {
                        cumulative_count: Some(2),
                        upper_bound: Some(-0.0004899999999999998),
                        ..Bucket::default()
                    },
                    Bucket {
                        cumulative_count: Some(4),
                        upper_bound: Some(-0.0003899999999999998),
                        ..Bucket::default()
                    },
                    Bucket {
                        cumulative_count: Some(16),
                        upper_bound: Some(-0.0002899999999999998),
                        ..Bucket::default()
                    },
                ],
                schema: Some(3),
                zero_threshold: Some(2.938735877055719e-39),
                zero_count: Some(2),
                negative_span: vec![span(-162, 1), span(23, 4)],
                negative_delta: vec![1, 3, -2, -1, 1],
                positive_span: vec![span(-161, 1), span(8, 3)],
                positive_delta: vec![1, 2, -1, -1],
                ..Histogram::default()
            }),
            timestamp_ms: Some(1234568),
            ..Metric::default()
        }],
        ..MetricFamily::default()
    }
}

fn counter() -> MetricFamily {
    MetricFamily {
        name: Some("reqs_total".into()),
        r#type: Some(MetricType::Counter as i32),
        metric: vec![Metric {
            label: vec![LabelPair {
                name: Some("code".into()),
                value: Some("200".into()),
            }],
            counter: Some(Counter {
                value: Some(42.0),
                exemplar: None,
                created_timestamp: Some(Timestamp {
                    seconds: 1_700_000_000,
                    nanos: 5,
                }),
            }),
            ..Metric::default()
        }],
        ..MetricFamily::default()
    }
}

fn body(families: &[MetricFamily]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in families {
        f.encode_length_delimited(&mut out).expect("encode");
    }
    out
}

#[test]
fn a_native_histogram_becomes_one_run_of_buckets_per_sign() {
    let families = parse(&body(&[test_histogram()]), false).expect("parses");
    let f = &families[0];
    assert!(f.samples.is_empty(), "native only: {:?}", f.samples);
    let n = &f.native[0];
    assert_eq!(n.timestamp_ms, Some(1234568));
    let h = &n.histogram;
    assert_eq!((h.schema, h.count, h.zero_count), (3, 175.0, 2.0));
    // Spans {-161, 1}, {8, 3}: bucket -161, a gap of 8, then -152..-150; deltas 1, 2, -1, -1.
    let mut positive = vec![1.0];
    positive.extend([0.0; 8]);
    positive.extend([3.0, 2.0, 1.0]);
    assert_eq!(h.positive, (-161, positive));
    let mut negative = vec![1.0];
    negative.extend([0.0; 23]);
    negative.extend([4.0, 2.0, 1.0, 2.0]);
    assert_eq!(h.negative, (-162, negative));
}

#[test]
fn classic_buckets_are_kept_when_asked_and_get_their_inf_bucket() {
    let families = parse(&body(&[test_histogram()]), true).expect("parses");
    let f = &families[0];
    assert_eq!(f.native.len(), 1);
    let names: Vec<(&str, Option<&str>, f64)> = f
        .samples
        .iter()
        .map(|s| {
            (
                s.name.as_str(),
                s.labels
                    .iter()
                    .find(|(k, _)| k == "le")
                    .map(|(_, v)| v.as_str()),
                s.value,
            )
        })
        .collect();
    assert_eq!(names.len(), 6, "{names:?}");
    assert_eq!(names[3], ("test_histogram_bucket", Some("+Inf"), 175.0));
    assert_eq!(names[4].0, "test_histogram_sum");
    assert_eq!(names[5], ("test_histogram_count", None, 175.0));
}

#[test]
fn counters_keep_their_created_time_and_a_bad_body_is_an_error() {
    let families = parse(&body(&[counter(), test_histogram()]), false).expect("parses");
    let s = &families[0].samples[0];
    assert_eq!((s.name.as_str(), s.value), ("reqs_total", 42.0));
    assert_eq!(s.created_ns, Some(1_700_000_000_000_000_005));
    let mut cut = body(&[counter()]);
    cut.truncate(cut.len() - 3);
    let err = parse(&cut, false).expect_err("truncated");
    assert!(err.contains("family 1"), "{err}");
}

#[test]
fn spans_and_counts_that_disagree_are_refused() {
    let mut h = test_histogram();
    if let Some(hist) = h.metric[0].histogram.as_mut() {
        hist.positive_delta.pop();
    }
    let err = parse(&body(&[h]), false).expect_err("short counts");
    assert!(err.contains("spans longer"), "{err}");
}
