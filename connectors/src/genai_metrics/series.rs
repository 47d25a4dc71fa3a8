//! What one GenAI span adds to its series, and the bounded table of series.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use super::live::GenAiCall;

use super::config::Buckets;
use super::facts::Facts;

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

/// Text all series keys may hold together. Keys are a service name and a few attribute
/// values (under 200 bytes each, so 10,000 series hold about 2 MiB); without a bound in
/// bytes, `max_series` keys of a long service name or model would hold `max_series` times
/// it (10,000 x a 2 MiB service name is 20 GiB, from one request of a few MiB).
pub const MAX_KEY_BYTES: usize = 64 << 20;

/// Every series, bounded by `max_series` and `MAX_KEY_BYTES`; the rest share one overflow
/// series.
pub struct Table {
    max_series: usize,
    max_key_bytes: usize,
    /// Bytes of text the keys of `series` hold.
    key_bytes: usize,
    index: HashMap<u64, Vec<usize>>,
    pub series: Vec<Series>,
    pub overflow: Option<Aggregates>,
    /// Spans counted into the overflow series (for the log line saying so once).
    pub overflowed_spans: u64,
}

impl Table {
    pub fn new(max_series: usize) -> Table {
        Table::within(max_series, MAX_KEY_BYTES)
    }

    /// A table of at most `max_series` series whose keys hold at most `max_key_bytes`.
    pub fn within(max_series: usize, max_key_bytes: usize) -> Table {
        Table {
            max_series,
            max_key_bytes,
            key_bytes: 0,
            index: HashMap::new(),
            series: Vec::new(),
            overflow: None,
            overflowed_spans: 0,
        }
    }

    /// Adds one GenAI span (`call`: its measurements, [`call`] of the same facts).
    pub fn record(&mut self, facts: &Facts<'_>, call: &GenAiCall, buckets: &Buckets, now: u64) {
        let values = self.find_or_insert(&facts.key, now);
        add(values, call, buckets);
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
        // Measured only for a key not found (a new series), not on every span.
        let key_bytes = || -> usize { key.iter().flatten().map(|p| p.len()).sum() };
        let slot = match found {
            Some(i) => i,
            None if self.series.len() < self.max_series
                && self.key_bytes.saturating_add(key_bytes()) <= self.max_key_bytes =>
            {
                self.key_bytes += key_bytes();
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

/// What one span measured, in seconds: read once, added to its series and to the live
/// page's totals.
pub fn call(facts: &Facts<'_>) -> GenAiCall {
    let seconds = |ns: u64| ns as f64 / 1e9;
    let duration = facts.end.checked_sub(facts.start).map(seconds);
    let first_chunk = facts
        .first_chunk_at
        .and_then(|t| t.checked_sub(facts.start))
        .map(seconds);
    GenAiCall {
        failed: facts.failed,
        input_tokens: facts.input_tokens,
        output_tokens: facts.output_tokens,
        cost: facts.cost,
        duration,
        time_to_first_token: facts.time_to_first_chunk.or(first_chunk),
    }
}

fn add(values: &mut Aggregates, call: &GenAiCall, buckets: &Buckets) {
    values.requests += 1;
    if let Some(n) = call.input_tokens {
        values.input_tokens.record(&buckets.token_usage, n);
    }
    if let Some(n) = call.output_tokens {
        values.output_tokens.record(&buckets.token_usage, n);
    }
    let (duration, ttft) = (call.duration, call.time_to_first_token);
    if let Some(d) = duration {
        values.duration.record(&buckets.operation_duration, d);
    }
    if let Some(t) = ttft {
        values
            .time_to_first_token
            .record(&buckets.time_to_first_token, t);
    }
    if let (Some(d), Some(t), Some(out)) = (duration, ttft, call.output_tokens) {
        if out > 1.0 && d >= t {
            let per_token = (d - t) / (out - 1.0);
            values
                .time_per_output_token
                .record(&buckets.time_per_output_token, per_token);
        }
    }
    if let Some(cost) = call.cost {
        *values.cost.get_or_insert(0.0) += cost;
    }
}
