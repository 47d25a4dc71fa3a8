//! The Prometheus protobuf exposition (`io.prometheus.client.MetricFamily`, delimited),
//! served when the scraper asks for it, which Prometheus does when it ingests native
//! histograms: exponential histograms go out as native histograms, so an SDK that rescales
//! does not churn `le` series. Everything else as in the text formats.

use prost::encoding::{self, WireType};
use prost::Message;

use crate::prometheus::model::native::{Prometheus, Sparse};
use crate::prometheus::model::observe::{
    bucket_of, cumulative_buckets, Exemplar as Observed, Labels, Value,
};
use crate::prometheus::model::store::{FamilySnapshot, Point};
use crate::prometheus::model::translate::{prometheus_unit, FamilyType};

pub use llamacol_api::client_model::CONTENT_TYPE;

use llamacol_api::client_model::{
    Bucket, BucketSpan, Counter, Exemplar, Gauge, Histogram, LabelPair, Metric, MetricType,
    Quantile, Summary, Timestamp,
};

fn timestamp_ns(ns: u64) -> Option<Timestamp> {
    (ns > 0).then_some(Timestamp {
        seconds: (ns / 1_000_000_000) as i64,
        nanos: (ns % 1_000_000_000) as i32,
    })
}

fn label(name: &str, value: &str) -> LabelPair {
    LabelPair {
        name: Some(name.to_string()),
        value: Some(value.to_string()),
    }
}

fn exemplar(e: &Observed) -> Exemplar {
    Exemplar {
        label: vec![label("trace_id", &e.trace_id), label("span_id", &e.span_id)],
        value: Some(e.value),
        timestamp: timestamp_ns((e.time_ms.max(0) as u64) * 1_000_000),
    }
}

/// Every family, each a length-delimited `MetricFamily`. The family and its series'
/// labels are written here field by field, straight from the snapshot (building owned
/// messages would copy every label string once more); each series' value is a small
/// message prost encodes.
pub fn render(families: &[FamilySnapshot], timestamps: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(families.iter().map(|f| f.series.len() * 96).sum());
    for f in families {
        let mut series: Vec<_> = f.series.iter().collect();
        series.sort_by(|a, b| a.0.cmp(&b.0));
        let metrics: Vec<(&Labels, Metric, usize)> = series
            .into_iter()
            .filter_map(|(labels, point)| {
                let mut m = metric(f.family, point)?;
                m.timestamp_ms = timestamps.then_some(point.time_ms);
                let len = labels_len(labels) + m.encoded_len();
                Some((labels.as_ref(), m, len))
            })
            .collect();
        let unit = prometheus_unit(&f.unit);
        let family_type = match f.family {
            FamilyType::Counter => MetricType::Counter,
            FamilyType::Gauge => MetricType::Gauge,
            FamilyType::Summary => MetricType::Summary,
            FamilyType::Histogram => MetricType::Histogram,
        } as u64;
        let mut len = field(f.name.len())
            + field(f.help.len())
            + 1
            + encoding::encoded_len_varint(family_type);
        len += metrics.iter().map(|(_, _, l)| field(*l)).sum::<usize>();
        if !unit.is_empty() {
            len += field(unit.len());
        }
        encoding::encode_varint(len as u64, &mut out);
        write_str(1, &f.name, &mut out);
        write_str(2, &f.help, &mut out);
        encoding::encode_key(3, WireType::Varint, &mut out);
        encoding::encode_varint(family_type, &mut out);
        for (labels, m, len) in &metrics {
            encoding::encode_key(4, WireType::LengthDelimited, &mut out);
            encoding::encode_varint(*len as u64, &mut out);
            for (k, v) in *labels {
                encoding::encode_key(1, WireType::LengthDelimited, &mut out);
                encoding::encode_varint((field(k.len()) + field(v.len())) as u64, &mut out);
                write_str(1, k, &mut out);
                write_str(2, v, &mut out);
            }
            // The value's fields follow the labels inside the same `Metric`.
            m.encode_raw(&mut out);
        }
        if !unit.is_empty() {
            write_str(5, &unit, &mut out);
        }
    }
    out
}

/// Encoded bytes of a length-delimited field of `len` bytes (tags below 16).
fn field(len: usize) -> usize {
    1 + encoding::encoded_len_varint(len as u64) + len
}

/// The `label` fields of a `Metric`.
fn labels_len(labels: &Labels) -> usize {
    labels
        .iter()
        .map(|(k, v)| field(field(k.len()) + field(v.len())))
        .sum()
}

fn write_str(tag: u32, text: &str, out: &mut Vec<u8>) {
    encoding::encode_key(tag, WireType::LengthDelimited, out);
    encoding::encode_varint(text.len() as u64, out);
    out.extend_from_slice(text.as_bytes());
}

/// One series' value; `None` for a native histogram too wide for any form (refused at
/// ingest, so never in practice).
fn metric(family: FamilyType, point: &Point) -> Option<Metric> {
    let created = timestamp_ns(point.start_ns);
    let mut m = Metric::default();
    if let Value::Native(h) = &point.value {
        if let Some(p) = h.to_prometheus() {
            m.histogram = Some(native(h.count, h.sum, &p, created, point));
            return Some(m);
        }
    }
    let value = point.value.classic()?;
    match value.as_ref() {
        Value::Number(v) if family == FamilyType::Counter => {
            m.counter = Some(Counter {
                value: Some(*v),
                exemplar: point.exemplar.as_ref().map(exemplar),
                created_timestamp: created,
            });
        }
        Value::Number(v) => {
            m.gauge = Some(Gauge { value: Some(*v) });
        }
        Value::Histogram {
            count,
            sum,
            bounds,
            counts,
        } => {
            let exemplar_bucket = point.exemplar.as_ref().map(|e| bucket_of(bounds, e.value));
            // The `+Inf` bucket is implied by the count, as client libraries leave it.
            let bucket = cumulative_buckets(bounds, counts)
                .into_iter()
                .zip(bounds)
                .enumerate()
                .map(|(i, ((_, cumulative), bound))| Bucket {
                    cumulative_count: Some(cumulative),
                    upper_bound: Some(*bound),
                    exemplar: (exemplar_bucket == Some(i))
                        .then(|| point.exemplar.as_ref().map(exemplar))
                        .flatten(),
                    ..Bucket::default()
                })
                .collect();
            m.histogram = Some(Histogram {
                sample_count: Some(*count),
                sample_sum: Some(sum.unwrap_or(0.0)),
                bucket,
                created_timestamp: created,
                ..Histogram::default()
            });
        }
        Value::Summary {
            count,
            sum,
            quantiles,
        } => {
            m.summary = Some(Summary {
                sample_count: Some(*count),
                sample_sum: Some(*sum),
                quantile: quantiles
                    .iter()
                    .map(|(q, v)| Quantile {
                        quantile: Some(*q),
                        value: Some(*v),
                    })
                    .collect(),
                created_timestamp: created,
            });
        }
        Value::Native(_) => return None,
    }
    Some(m)
}

fn native(
    count: u64,
    sum: Option<f64>,
    p: &Prometheus,
    created: Option<Timestamp>,
    point: &Point,
) -> Histogram {
    let spans = |s: &Sparse| -> Vec<BucketSpan> {
        s.spans
            .iter()
            .map(|span| BucketSpan {
                offset: Some(span.offset),
                length: Some(span.length),
            })
            .collect()
    };
    let mut positive_span = spans(&p.positive);
    let negative_span = spans(&p.negative);
    // A native histogram with no buckets at all still says it is one: an empty span (what
    // client_golang sends), or a scraper would read it as a classic one with no buckets.
    if positive_span.is_empty() && negative_span.is_empty() {
        positive_span.push(BucketSpan {
            offset: Some(0),
            length: Some(0),
        });
    }
    Histogram {
        sample_count: Some(count),
        sample_sum: Some(sum.unwrap_or(0.0)),
        schema: Some(p.schema),
        zero_threshold: Some(p.zero_threshold),
        zero_count: Some(p.zero_count),
        negative_span,
        negative_delta: p.negative.deltas.clone(),
        positive_span,
        positive_delta: p.positive.deltas.clone(),
        created_timestamp: created,
        exemplars: point.exemplar.iter().map(exemplar).collect(),
        ..Histogram::default()
    }
}

/// Whether an `Accept` header prefers the protobuf format to the text ones it names:
/// Prometheus lists it first (highest `q`) only when it ingests native histograms. A
/// wildcard never selects it.
pub fn preferred(accept: &str) -> bool {
    let mut protobuf = None::<f32>;
    let mut best_text = 0f32;
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default().to_ascii_lowercase();
        let mut q = 1f32;
        let mut proto_param = None;
        let mut encoding = None;
        for param in parts {
            let Some((k, v)) = param.split_once('=') else {
                continue;
            };
            match k.trim().to_ascii_lowercase().as_str() {
                "q" => q = v.trim().parse().unwrap_or(0.0),
                "proto" => proto_param = Some(v.trim().to_string()),
                "encoding" => encoding = Some(v.trim().to_ascii_lowercase()),
                _ => {}
            }
        }
        match media.as_str() {
            "application/vnd.google.protobuf"
                if proto_param.as_deref() == Some("io.prometheus.client.MetricFamily")
                    && encoding.as_deref() == Some("delimited") =>
            {
                protobuf = Some(protobuf.unwrap_or(0.0).max(q));
            }
            "application/openmetrics-text" | "text/plain" => best_text = best_text.max(q),
            _ => {}
        }
    }
    protobuf.is_some_and(|q| q > 0.0 && q >= best_text)
}

#[cfg(test)]
mod tests;
