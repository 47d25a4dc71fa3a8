//! What one GenAI span adds to its series, and the bounded table of series.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use llamacol_pipeline::otlp::common::v1::{any_value::Value, KeyValue};
use llamacol_pipeline::otlp::trace::v1::{status::StatusCode, Span};

use super::config::{Buckets, Dimension};

/// The attributes every data point may carry, in this order (after the resource's
/// `service.name`).
pub const FIXED_ATTRIBUTES: [&str; 6] = [
    "gen_ai.operation.name",
    "gen_ai.provider.name",
    "gen_ai.request.model",
    "gen_ai.response.model",
    "server.address",
    "error.type",
];
const OPERATION: usize = 0;
const ERROR_TYPE: usize = 5;

/// Span events whose time marks the first chunk or completion of a response.
const FIRST_CHUNK_EVENTS: [&str; 5] = [
    "gen_ai.first_chunk",
    "gen_ai.choice",
    "gen_ai.content.completion",
    "llm.content.completion.chunk",
    "first_token",
];

/// An explicit-bucket histogram: `counts[i]` counts values in `(bounds[i-1], bounds[i]]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    pub counts: Vec<u64>,
    pub count: u64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
}

impl Histogram {
    fn record(&mut self, bounds: &[f64], value: f64) {
        if self.counts.is_empty() {
            self.counts = vec![0; bounds.len() + 1];
            self.min = value;
            self.max = value;
        }
        self.counts[bounds.partition_point(|b| *b < value)] += 1;
        self.count += 1;
        self.sum += value;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
    }
}

/// One series' cumulative values.
#[derive(Debug, Clone, Default)]
pub struct Aggregates {
    /// When the series was first seen (the points' start time).
    pub start: u64,
    pub requests: u64,
    pub input_tokens: Histogram,
    pub output_tokens: Histogram,
    pub duration: Histogram,
    pub time_to_first_token: Histogram,
    pub time_per_output_token: Histogram,
    /// USD, when any span carried `gen_ai.usage.cost`.
    pub cost: Option<f64>,
}

/// One series: `service.name`, the fixed attributes, then the dimensions (`None`: absent).
pub struct Series {
    pub key: Vec<Option<String>>,
    pub values: Aggregates,
}

/// Every series, bounded by `max_series`; the rest share one overflow series.
pub struct Table {
    max_series: usize,
    index: HashMap<u64, Vec<usize>>,
    pub series: Vec<Series>,
    pub overflow: Option<Aggregates>,
    /// Spans counted into the overflow series (for the log line saying so once).
    pub overflowed_spans: u64,
}

impl Table {
    pub fn new(max_series: usize) -> Table {
        Table {
            max_series,
            index: HashMap::new(),
            series: Vec::new(),
            overflow: None,
            overflowed_spans: 0,
        }
    }

    /// Adds one span; returns false when it is not a GenAI span (no operation name).
    /// `key` is scratch space, reused across the spans of one request.
    pub fn record<'a>(
        &mut self,
        span: &'a Span,
        resource: Resource<'a>,
        dimensions: &'a [Dimension],
        buckets: &Buckets,
        now: u64,
        key: &mut Vec<Option<Cow<'a, str>>>,
    ) -> bool {
        key_of(span, resource, dimensions, key);
        if key[1 + OPERATION].is_none() {
            return false;
        }
        let values = self.find_or_insert(key, now);
        add(values, span, buckets);
        true
    }

    fn find_or_insert(&mut self, key: &[Option<Cow<'_, str>>], now: u64) -> &mut Aggregates {
        let mut hasher = Fnv(0xcbf2_9ce4_8422_2325);
        for part in key {
            part.as_deref().hash(&mut hasher);
        }
        let hash = hasher.finish();
        let same = |s: &Series| {
            s.key.len() == key.len()
                && s.key
                    .iter()
                    .zip(key)
                    .all(|(a, b)| a.as_deref() == b.as_deref())
        };
        let found = self
            .index
            .get(&hash)
            .and_then(|slots| slots.iter().copied().find(|&i| same(&self.series[i])));
        let slot = match found {
            Some(i) => i,
            None if self.series.len() < self.max_series => {
                self.series.push(Series {
                    key: key
                        .iter()
                        .map(|p| p.as_deref().map(str::to_string))
                        .collect(),
                    values: Aggregates {
                        start: now,
                        ..Default::default()
                    },
                });
                let i = self.series.len() - 1;
                self.index.entry(hash).or_default().push(i);
                i
            }
            None => {
                self.overflowed_spans += 1;
                return self.overflow.get_or_insert_with(|| Aggregates {
                    start: now,
                    ..Default::default()
                });
            }
        };
        &mut self.series[slot].values
    }
}

fn text(value: Option<&Value>) -> Option<Cow<'_, str>> {
    match value? {
        Value::StringValue(s) => Some(Cow::Borrowed(s.as_str())),
        Value::IntValue(i) => Some(Cow::Owned(i.to_string())),
        Value::DoubleValue(d) => Some(Cow::Owned(d.to_string())),
        Value::BoolValue(b) => Some(Cow::Owned(b.to_string())),
        _ => None,
    }
}

fn value_of(kv: &KeyValue) -> Option<&Value> {
    kv.value.as_ref().and_then(|v| v.value.as_ref())
}

fn find<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attrs.iter().find(|kv| kv.key == key).and_then(value_of)
}

/// A span's resource: its attributes and its `service.name`, found once per resource.
#[derive(Clone, Copy)]
pub struct Resource<'a> {
    pub attributes: &'a [KeyValue],
    pub service: Option<&'a Value>,
}

impl<'a> Resource<'a> {
    pub fn new(attributes: &'a [KeyValue]) -> Resource<'a> {
        Resource {
            attributes,
            service: find(attributes, "service.name"),
        }
    }
}

/// FNV-1a: series keys are short strings hashed once per span; SipHash's defence
/// against chosen keys buys nothing for a table that is bounded anyway.
struct Fnv(u64);

impl Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// `service.name`, the fixed attributes, the dimensions, into `key`: one pass over the
/// span's attributes for the fixed ones.
fn key_of<'a>(
    span: &'a Span,
    resource: Resource<'a>,
    dimensions: &'a [Dimension],
    key: &mut Vec<Option<Cow<'a, str>>>,
) {
    key.clear();
    key.push(text(resource.service));
    key.extend(std::iter::repeat_n(None, FIXED_ATTRIBUTES.len()));
    for kv in &span.attributes {
        if let Some(i) = FIXED_ATTRIBUTES.iter().position(|k| *k == kv.key) {
            key[1 + i] = text(value_of(kv));
        }
    }
    let failed = span
        .status
        .as_ref()
        .is_some_and(|s| s.code == StatusCode::Error as i32);
    if failed && key[1 + ERROR_TYPE].is_none() {
        key[1 + ERROR_TYPE] = Some(Cow::Borrowed("_OTHER"));
    }
    for d in dimensions {
        let v =
            text(find(&span.attributes, &d.name).or_else(|| find(resource.attributes, &d.name)))
                .or_else(|| d.default.as_deref().map(Cow::Borrowed));
        key.push(v);
    }
}

fn number(value: Option<&Value>) -> Option<f64> {
    match value? {
        Value::IntValue(i) => Some(*i as f64),
        Value::DoubleValue(d) => Some(*d),
        Value::StringValue(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn add(values: &mut Aggregates, span: &Span, buckets: &Buckets) {
    values.requests += 1;
    let attr = |k: &str| number(find(&span.attributes, k)).filter(|v| v.is_finite() && *v >= 0.0);
    let input = attr("gen_ai.usage.input_tokens");
    let output = attr("gen_ai.usage.output_tokens");
    if let Some(n) = input {
        values.input_tokens.record(&buckets.token_usage, n);
    }
    if let Some(n) = output {
        values.output_tokens.record(&buckets.token_usage, n);
    }
    let seconds = |ns: u64| ns as f64 / 1e9;
    let duration = span
        .end_time_unix_nano
        .checked_sub(span.start_time_unix_nano)
        .map(seconds);
    if let Some(d) = duration {
        values.duration.record(&buckets.operation_duration, d);
    }
    let first_chunk = span
        .events
        .iter()
        .filter(|e| FIRST_CHUNK_EVENTS.contains(&e.name.as_str()))
        .filter_map(|e| e.time_unix_nano.checked_sub(span.start_time_unix_nano))
        .min()
        .map(seconds);
    let ttft = attr("gen_ai.response.time_to_first_chunk").or(first_chunk);
    if let Some(t) = ttft {
        values
            .time_to_first_token
            .record(&buckets.time_to_first_token, t);
    }
    if let (Some(d), Some(t), Some(out)) = (duration, ttft, output) {
        if out > 1.0 && d >= t {
            let per_token = (d - t) / (out - 1.0);
            values
                .time_per_output_token
                .record(&buckets.time_per_output_token, per_token);
        }
    }
    if let Some(cost) = attr("gen_ai.usage.cost") {
        *values.cost.get_or_insert(0.0) += cost;
    }
}
