//! What one GenAI span adds to its series, and the bounded table of series.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use super::live::GenAiCall;

use super::config::Buckets;
use super::facts::{Attr, Facts};

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
    /// Adds `other`'s observations (same bounds).
    pub fn merge(&mut self, other: &Histogram) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = other.clone();
            return;
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

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
    /// First chunk (client) or first token (server).
    pub time_to_first_token: Histogram,
    /// Per output chunk after the first (client) or per output token (server).
    pub time_per_output_token: Histogram,
    /// USD, when any span carried `gen_ai.usage.cost`.
    pub cost: Option<f64>,
}

/// One series: the resource keys, the side, the fixed attributes, then the dimensions
/// (`None`: absent).
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

    fn find_or_insert(&mut self, key: &[Option<Attr<'_>>], now: u64) -> &mut Aggregates {
        let mut hasher = Fnv(0xcbf2_9ce4_8422_2325);
        for part in key {
            match part {
                Some(a) => a.with_text(|t| Some(t).hash(&mut hasher)),
                None => None::<&str>.hash(&mut hasher),
            }
        }
        let hash = hasher.finish();
        let same = |s: &Series| {
            s.key.len() == key.len()
                && s.key
                    .iter()
                    .zip(key)
                    .all(|(stored, part)| match (stored, part) {
                        (None, None) => true,
                        (Some(s), Some(a)) => a.with_text(|t| t == s),
                        _ => false,
                    })
        };
        let found = self
            .index
            .get(&hash)
            .and_then(|slots| slots.iter().copied().find(|&i| same(&self.series[i])));
        // Measured only for a key not found (a new series), not on every span.
        let key_bytes = || -> usize { key.iter().flatten().map(|p| p.with_text(str::len)).sum() };
        let slot = match found {
            Some(i) => i,
            None if self.series.len() < self.max_series
                && self.key_bytes.saturating_add(key_bytes()) <= self.max_key_bytes =>
            {
                self.key_bytes += key_bytes();
                self.series.push(Series {
                    key: key
                        .iter()
                        .map(|p| p.map(|a| a.with_text(str::to_string)))
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
///
/// A first chunk is measured only for a streaming call (`gen_ai.request.stream`, a
/// first-chunk or per-chunk event, or `gen_ai.response.time_to_first_chunk`), and only
/// when it falls within the span: a time before its start or after its end is no
/// observation. A SERVER span's first token and time per token count only when it
/// succeeded, as the conventions define them.
pub fn call(facts: &Facts<'_>) -> GenAiCall {
    let seconds = |ns: u64| ns as f64 / 1e9;
    let duration = facts.end.checked_sub(facts.start).map(seconds);
    let within = |t: &f64| duration.is_some_and(|d| (0.0..=d).contains(t));
    let streaming =
        facts.streaming || facts.first_chunk_at.is_some() || facts.time_to_first_chunk.is_some();
    let from_event = facts
        .first_chunk_at
        .and_then(|t| t.checked_sub(facts.start))
        .map(seconds);
    let counts = streaming && !(facts.server() && facts.failed);
    let first = counts
        .then(|| {
            facts
                .time_to_first_chunk
                .filter(within)
                .or(from_event.filter(within))
        })
        .flatten();
    let mut per_output = Vec::new();
    if let Some(t) = first {
        if facts.chunks.len() >= 2 && !facts.server() {
            // Each chunk after the first: the time since the one before it.
            let mut times: Vec<u64> = facts
                .chunks
                .iter()
                .copied()
                .filter(|c| (facts.start..=facts.end).contains(c))
                .collect();
            times.sort_unstable();
            per_output.extend(times.windows(2).map(|w| seconds(w[1] - w[0])));
        } else if let (Some(d), Some(out)) = (duration, facts.output_tokens) {
            // No chunk events: the mean time per token after the first.
            if out > 1.0 && d >= t {
                per_output.push((d - t) / (out - 1.0));
            }
        }
    }
    GenAiCall {
        failed: facts.failed,
        input_tokens: facts.input_tokens,
        output_tokens: facts.output_tokens,
        cost: facts.cost,
        duration,
        time_to_first_token: first,
        per_output,
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
    if let Some(d) = call.duration {
        values.duration.record(&buckets.operation_duration, d);
    }
    if let Some(t) = call.time_to_first_token {
        values
            .time_to_first_token
            .record(&buckets.time_to_first_token, t);
    }
    for gap in &call.per_output {
        values
            .time_per_output_token
            .record(&buckets.time_per_output_token, *gap);
    }
    if let Some(cost) = call.cost {
        *values.cost.get_or_insert(0.0) += cost;
    }
}
