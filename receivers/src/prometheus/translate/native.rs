//! A native histogram as an OTLP exponential histogram point, as the Collector's receiver
//! converts it: the schema is the scale, Prometheus' bucket `i` (`(base^(i-1), base^i]`)
//! is OTLP's bucket `i - 1` (`(base^k, base^(k+1)]`), so the offset moves down by one.

use llamacol_api::otlp::common::v1::KeyValue;
use llamacol_api::otlp::metrics::v1::{
    exponential_histogram_data_point::Buckets, Exemplar, ExponentialHistogramDataPoint,
};

use crate::prometheus::parse::Native;

/// Why a native histogram cannot be an OTLP exponential histogram, if it cannot.
pub fn unsupported(h: &Native) -> Option<&'static str> {
    if h.gauge {
        Some("native gauge histogram (OTLP has no gauge exponential histogram)")
    } else if !(-4..=8).contains(&h.schema) {
        // -53 is Prometheus' custom-bucket schema (NHCB), which has no OTLP form.
        Some("native histogram schema outside -4..8")
    } else {
        None
    }
}

fn buckets((index, counts): &(i32, Vec<f64>)) -> Option<Buckets> {
    (!counts.is_empty()).then(|| Buckets {
        offset: index - 1,
        bucket_counts: counts.iter().map(|c| c.max(0.0) as u64).collect(),
    })
}

pub fn point(
    h: &Native,
    attributes: Vec<KeyValue>,
    start_ns: u64,
    time_ns: u64,
    exemplars: Vec<Exemplar>,
) -> ExponentialHistogramDataPoint {
    ExponentialHistogramDataPoint {
        attributes,
        start_time_unix_nano: start_ns,
        time_unix_nano: time_ns,
        count: h.count.max(0.0) as u64,
        sum: Some(h.sum),
        scale: h.schema,
        zero_count: h.zero_count.max(0.0) as u64,
        positive: buckets(&h.positive),
        negative: buckets(&h.negative),
        flags: 0,
        exemplars,
        min: None,
        max: None,
        zero_threshold: h.zero_threshold,
    }
}
