//! The series one batch touched, independent of the wire version: labels sorted, samples
//! sorted by time, with what Remote Write 2.0 adds (type, help, unit, start time,
//! native histograms, exemplars). `encode_v1` / `encode_v2` turn a run of them into one
//! request; `size_v1` / `size_v2` bound a series' share of one, for cutting requests.

use std::collections::{BTreeMap, HashMap};

use prost::Message;

use super::proto::{Label, Sample as SampleV1, TimeSeries as TimeSeriesV1, WriteRequest};
use super::proto_v2::{self as v2, MetricType};
use crate::prometheus::model::native::{Prometheus, Sparse};
use crate::prometheus::model::observe::{
    bucket_of, cumulative_buckets, Exemplar, Observation, Value,
};
use crate::prometheus::model::store::Point;
use crate::prometheus::model::translate::{prometheus_unit, FamilyType};
use llamacol_api::exposition::number;

#[derive(Debug, Clone)]
pub struct Series {
    /// Sorted by name, `__name__` included.
    pub labels: Vec<Label>,
    pub kind: MetricType,
    pub help: String,
    pub unit: String,
    pub samples: Vec<v2::Sample>,
    pub histograms: Vec<v2::Histogram>,
    pub exemplars: Vec<Exemplar>,
}

/// How the points become series.
pub struct Shape<'a> {
    pub external_labels: &'a BTreeMap<String, String>,
    /// Exponential histograms as native histograms (2.0) rather than classic buckets.
    pub native_histograms: bool,
}

/// The series of the applied points, sorted by labels.
pub fn series(
    applied: Vec<(Observation, std::sync::Arc<Point>)>,
    shape: &Shape<'_>,
) -> Vec<Series> {
    let mut out: BTreeMap<Vec<Label>, Series> = BTreeMap::new();
    for (obs, point) in applied {
        let kind = match obs.family {
            FamilyType::Counter => MetricType::Counter,
            FamilyType::Gauge => MetricType::Gauge,
            FamilyType::Histogram => MetricType::Histogram,
            FamilyType::Summary => MetricType::Summary,
        };
        // A gauge has no start; 0 says "unknown" on the wire.
        let start = match (kind, point.start_ns) {
            (MetricType::Gauge, _) | (_, 0) => 0,
            (_, ns) => (ns / 1_000_000) as i64,
        };
        let labels = |suffix: &str, extra: Option<(&str, String)>| -> Vec<Label> {
            let mut labels: Vec<Label> = obs
                .labels
                .iter()
                .map(|(k, v)| Label {
                    name: k.clone(),
                    value: v.clone(),
                })
                .collect();
            labels.push(Label {
                name: "__name__".into(),
                value: format!("{}{suffix}", obs.name),
            });
            if let Some((k, v)) = extra {
                labels.push(Label {
                    name: k.to_string(),
                    value: v,
                });
            }
            for (k, v) in shape.external_labels {
                if !labels.iter().any(|l| &l.name == k) {
                    labels.push(Label {
                        name: k.clone(),
                        value: v.clone(),
                    });
                }
            }
            labels.sort();
            labels
        };
        let template = Series {
            labels: Vec::new(),
            kind,
            help: obs.help.clone(),
            unit: prometheus_unit(&obs.unit),
            samples: Vec::new(),
            histograms: Vec::new(),
            exemplars: Vec::new(),
        };
        let sample = |value: f64| v2::Sample {
            value,
            timestamp: point.time_ms,
            start_timestamp: start,
        };
        // Only the observation's own exemplar: the store keeps the last one for scrapes,
        // and sending it again with every point would repeat it.
        let exemplar = obs.exemplar.clone();
        let native = match (&point.value, shape.native_histograms) {
            (Value::Native(h), true) => h.to_prometheus().map(|p| (h, p)),
            _ => None,
        };
        if let Some((h, p)) = native {
            let s = slot(&mut out, labels("", None), &template);
            s.histograms.push(histogram(
                h.count,
                h.sum.unwrap_or(0.0),
                &p,
                point.time_ms,
                start,
            ));
            s.exemplars.extend(exemplar);
            continue;
        }
        let Some(value) = point.value.classic() else {
            continue;
        };
        match value.as_ref() {
            Value::Number(v) => {
                let s = slot(&mut out, labels("", None), &template);
                s.samples.push(sample(*v));
                s.exemplars.extend(exemplar);
            }
            Value::Histogram {
                count,
                sum,
                bounds,
                counts,
            } => {
                // The exemplar goes on the bucket its value falls in.
                let exemplar_bucket = exemplar.as_ref().map(|e| bucket_of(bounds, e.value));
                for (i, (le, cumulative)) in
                    cumulative_buckets(bounds, counts).into_iter().enumerate()
                {
                    let s = slot(&mut out, labels("_bucket", Some(("le", le))), &template);
                    s.samples.push(sample(cumulative as f64));
                    if exemplar_bucket == Some(i) {
                        s.exemplars.extend(exemplar.clone());
                    }
                }
                if let Some(v) = sum {
                    slot(&mut out, labels("_sum", None), &template)
                        .samples
                        .push(sample(*v));
                }
                slot(&mut out, labels("_count", None), &template)
                    .samples
                    .push(sample(*count as f64));
            }
            Value::Summary {
                count,
                sum,
                quantiles,
            } => {
                for (q, v) in quantiles {
                    slot(
                        &mut out,
                        labels("", Some(("quantile", number(*q)))),
                        &template,
                    )
                    .samples
                    .push(sample(*v));
                }
                slot(&mut out, labels("_sum", None), &template)
                    .samples
                    .push(sample(*sum));
                slot(&mut out, labels("_count", None), &template)
                    .samples
                    .push(sample(*count as f64));
            }
            Value::Native(_) => {}
        }
    }
    out.into_values()
        .map(|mut s| {
            s.samples.sort_by_key(|p| p.timestamp);
            s.samples.dedup_by_key(|p| p.timestamp);
            s.histograms.sort_by_key(|h| h.timestamp);
            s.histograms.dedup_by_key(|h| h.timestamp);
            s
        })
        .collect()
}

/// The series with these labels, made from `template` the first time.
fn slot<'m>(
    out: &'m mut BTreeMap<Vec<Label>, Series>,
    labels: Vec<Label>,
    template: &Series,
) -> &'m mut Series {
    out.entry(labels).or_insert_with_key(|labels| Series {
        labels: labels.clone(),
        ..template.clone()
    })
}

fn histogram(count: u64, sum: f64, p: &Prometheus, time_ms: i64, start: i64) -> v2::Histogram {
    let spans = |s: &Sparse| {
        s.spans
            .iter()
            .map(|span| v2::BucketSpan {
                offset: span.offset,
                length: span.length,
            })
            .collect()
    };
    v2::Histogram {
        count_int: Some(count),
        sum,
        schema: p.schema,
        zero_threshold: p.zero_threshold,
        zero_count_int: Some(p.zero_count),
        negative_spans: spans(&p.negative),
        negative_deltas: p.negative.deltas.clone(),
        positive_spans: spans(&p.positive),
        positive_deltas: p.positive.deltas.clone(),
        timestamp: time_ms,
        start_timestamp: start,
    }
}

/// Encoded bytes of a length-delimited field holding `len` bytes.
fn field(len: usize) -> usize {
    1 + prost::length_delimiter_len(len) + len
}

fn v1_series(s: &Series) -> TimeSeriesV1 {
    TimeSeriesV1 {
        labels: s.labels.clone(),
        samples: s
            .samples
            .iter()
            .map(|p| SampleV1 {
                value: p.value,
                timestamp: p.timestamp,
            })
            .collect(),
    }
}

/// A 1.0 request: labels and float samples (native histograms were made classic).
pub fn encode_v1(series: &[Series]) -> Vec<u8> {
    WriteRequest {
        timeseries: series.iter().map(v1_series).collect(),
    }
    .encode_to_vec()
}

/// This series' bytes in a 1.0 request.
pub fn size_v1(s: &Series) -> usize {
    let labels: usize = s
        .labels
        .iter()
        .map(|l| field(field(l.name.len()) + field(l.value.len())))
        .sum();
    let samples: usize = s
        .samples
        .iter()
        .map(|p| {
            field(
                SampleV1 {
                    value: p.value,
                    timestamp: p.timestamp,
                }
                .encoded_len(),
            )
        })
        .sum();
    field(labels + samples)
}

/// The symbol table of one request.
#[derive(Default)]
struct Symbols {
    list: Vec<String>,
    index: HashMap<String, u32>,
}

impl Symbols {
    fn new() -> Symbols {
        let mut s = Symbols::default();
        s.add("");
        s
    }

    fn add(&mut self, text: &str) -> u32 {
        if let Some(i) = self.index.get(text) {
            return *i;
        }
        let i = self.list.len() as u32;
        self.list.push(text.to_string());
        self.index.insert(text.to_string(), i);
        i
    }
}

/// Counts of what a 2.0 request carries, to hold against the receiver's
/// `X-Prometheus-Remote-Write-*-Written` answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Carried {
    pub samples: usize,
    pub histograms: usize,
    pub exemplars: usize,
}

/// A 2.0 request with its own symbol table.
pub fn encode_v2(series: &[Series]) -> (Vec<u8>, Carried) {
    let mut symbols = Symbols::new();
    let mut carried = Carried::default();
    let timeseries = series
        .iter()
        .map(|s| {
            let labels_refs = s
                .labels
                .iter()
                .flat_map(|l| [symbols.add(&l.name), symbols.add(&l.value)])
                .collect();
            let exemplars = s
                .exemplars
                .iter()
                .map(|e| v2::Exemplar {
                    labels_refs: vec![
                        symbols.add("trace_id"),
                        symbols.add(&e.trace_id),
                        symbols.add("span_id"),
                        symbols.add(&e.span_id),
                    ],
                    value: e.value,
                    timestamp: e.time_ms,
                })
                .collect();
            carried.samples += s.samples.len();
            carried.histograms += s.histograms.len();
            carried.exemplars += s.exemplars.len();
            v2::TimeSeries {
                labels_refs,
                samples: s.samples.clone(),
                histograms: s.histograms.clone(),
                exemplars,
                metadata: Some(v2::Metadata {
                    r#type: s.kind as i32,
                    help_ref: symbols.add(&s.help),
                    unit_ref: symbols.add(&s.unit),
                }),
            }
        })
        .collect();
    let request = v2::Request {
        symbols: symbols.list,
        timeseries,
    };
    (request.encode_to_vec(), carried)
}

/// At most this series' bytes in a 2.0 request: its strings counted as if no other
/// series shared them, every reference as a full 5-byte varint.
pub fn size_v2(s: &Series) -> usize {
    const REF: usize = 5;
    let mut strings: usize = s
        .labels
        .iter()
        .map(|l| field(l.name.len()) + field(l.value.len()))
        .sum();
    strings += field(s.help.len()) + field(s.unit.len());
    let mut body = field(s.labels.len() * 2 * REF);
    body += s
        .samples
        .iter()
        .map(|p| field(p.encoded_len()))
        .sum::<usize>();
    body += s
        .histograms
        .iter()
        .map(|h| field(h.encoded_len()))
        .sum::<usize>();
    for e in &s.exemplars {
        strings += field("trace_id".len())
            + field(e.trace_id.len())
            + field("span_id".len())
            + field(e.span_id.len());
        body += field(field(4 * REF) + 9 + 11);
    }
    body += field(3 * (1 + REF));
    strings + field(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prometheus::model::native::{Buckets, NativeHistogram};
    use std::sync::Arc;
    use std::time::Instant;

    fn applied(value: Value, family: FamilyType, unit: &str) -> (Observation, Arc<Point>) {
        let obs = Observation {
            name: "llm_ttft_seconds".into(),
            family,
            help: "Time to first token".into(),
            unit: unit.into(),
            labels: vec![("model".into(), "qwen".into())],
            value: value.clone(),
            time_ms: 2_000,
            time_ns: 2_000_000_000,
            start_ns: 1_000_000_000,
            delta: false,
            exemplar: Some(Exemplar {
                value: 0.3,
                time_ms: 1_900,
                trace_id: "0af7651916cd43dd8448eb211c80319c".into(),
                span_id: "b7ad6b7169203331".into(),
            }),
        };
        let point = Arc::new(Point {
            value,
            time_ms: 2_000,
            time_ns: 2_000_000_000,
            start_ns: 1_000_000_000,
            updated: Instant::now(),
            exemplar: None,
        });
        (obs, point)
    }

    fn native() -> Value {
        Value::Native(Box::new(NativeHistogram {
            count: 6,
            sum: Some(2.5),
            scale: 2,
            zero_threshold: 0.0,
            zero_count: 1,
            positive: Buckets {
                offset: -3,
                counts: vec![2, 0, 3],
            },
            negative: Buckets::default(),
        }))
    }

    #[test]
    fn native_histograms_are_one_series_in_2_0_and_classic_buckets_in_1_0() {
        let labels = BTreeMap::new();
        let v2_shape = Shape {
            external_labels: &labels,
            native_histograms: true,
        };
        let got = series(
            vec![applied(native(), FamilyType::Histogram, "s")],
            &v2_shape,
        );
        assert_eq!(got.len(), 1);
        let h = &got[0].histograms[0];
        assert_eq!(
            (h.count_int, h.schema, h.zero_count_int, h.start_timestamp),
            (Some(6), 2, Some(1), 1_000)
        );
        // OTLP index -3 is Prometheus' -2; counts 2, 0, 3 as deltas 2, -2, 3.
        assert_eq!(h.positive_spans[0].offset, -2);
        assert_eq!(h.positive_deltas, vec![2, -2, 3]);
        assert_eq!(
            (got[0].unit.as_str(), got[0].exemplars.len()),
            ("seconds", 1)
        );

        let v1_shape = Shape {
            external_labels: &labels,
            native_histograms: false,
        };
        let got = series(
            vec![applied(native(), FamilyType::Histogram, "s")],
            &v1_shape,
        );
        let names: Vec<String> = got
            .iter()
            .map(|s| {
                s.labels
                    .iter()
                    .filter(|l| l.name != "model")
                    .map(|l| format!("{}={}", l.name, l.value))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect();
        assert!(
            names.contains(&"__name__=llm_ttft_seconds_count".to_string()),
            "{names:?}"
        );
        assert!(got.iter().all(|s| s.histograms.is_empty()));
    }

    #[test]
    fn a_2_0_request_shares_strings_and_stays_within_the_size_bound() {
        let labels = BTreeMap::from([("cluster".to_string(), "eu-1".to_string())]);
        let shape = Shape {
            external_labels: &labels,
            native_histograms: true,
        };
        let mut all = Vec::new();
        for family in [FamilyType::Counter, FamilyType::Gauge] {
            all.extend(series(
                vec![applied(Value::Number(4.0), family, "s")],
                &shape,
            ));
        }
        all.extend(series(
            vec![applied(native(), FamilyType::Histogram, "s")],
            &shape,
        ));
        let (bytes, carried) = encode_v2(&all);
        let request = v2::Request::decode(bytes.as_slice()).expect("decodes");
        assert_eq!(request.symbols[0], "");
        let unique: std::collections::HashSet<&String> = request.symbols.iter().collect();
        assert_eq!(unique.len(), request.symbols.len(), "each string once");
        assert_eq!(
            carried,
            Carried {
                samples: 2,
                histograms: 1,
                exemplars: 3
            }
        );
        assert!(bytes.len() <= all.iter().map(size_v2).sum::<usize>());
        let counter = &request.timeseries[0];
        let meta = counter.metadata.as_ref().expect("metadata");
        assert_eq!(
            request.symbols[meta.help_ref as usize],
            "Time to first token"
        );
        assert_eq!(counter.samples[0].start_timestamp, 1_000);
        let v1 = encode_v1(&all);
        assert!(v1.len() <= all.iter().map(size_v1).sum::<usize>());
    }
}
