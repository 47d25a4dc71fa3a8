//! What one rule keeps of the points it selects: per group (the `by` values), per series
//! (the point's and resource's attribute set), the samples inside the rule's window.
//!
//! Time is llamacol's clock at arrival (Unix seconds), as Prometheus uses its scrape
//! time. Counters (sums read with `rate`/`increase`, SLIs) and histograms are kept as
//! "counted since llamacol started watching": resets and delta temporality are folded in,
//! and a series that started before llamacol did counts from its first sight, so before
//! its first sample every series is at 0 and increases are differences of two samples.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};

use llamacol_pipeline::attributes::value_string;
use llamacol_pipeline::otlp::common::v1::KeyValue;

/// Which source (Prometheus `job` / `instance`) a group's series came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Source {
    #[default]
    None,
    One(Option<String>, Option<String>),
    /// Series from several sources: the alert carries neither label.
    Mixed,
}

impl Source {
    fn add(&mut self, job: &Option<String>, instance: &Option<String>) {
        match self {
            Source::None => *self = Source::One(job.clone(), instance.clone()),
            Source::One(j, i) if j != job || i != instance => *self = Source::Mixed,
            _ => {}
        }
    }
}

/// How a store keeps each series' samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// The value as received (gauges; cumulative sums as they are, delta sums summed).
    Value,
    /// Counted since watching (for `rate`, `increase`, SLI counters).
    Counter,
    /// Bucket counts counted since watching.
    Histogram,
}

/// One point as the store takes it.
pub enum Reading<'a> {
    Number {
        value: f64,
        /// A sum, and whether its points are deltas.
        sum: Option<bool>,
        monotonic: bool,
    },
    Histogram {
        bounds: &'a [f64],
        counts: &'a [u64],
        delta: bool,
    },
}

#[derive(Debug, Default)]
pub struct Store {
    pub groups: HashMap<Vec<String>, Group>,
}

#[derive(Debug, Default)]
pub struct Group {
    pub series: HashMap<u64, Series>,
    pub last_seen: f64,
    pub source: Source,
}

#[derive(Debug)]
pub struct Series {
    /// (time, value) oldest first; for histograms `value` is the total count.
    pub samples: VecDeque<(f64, f64)>,
    /// For histograms: per sample, the bucket counts (parallel to `samples`).
    pub buckets: VecDeque<Vec<f64>>,
    pub bounds: Vec<f64>,
    last_raw: f64,
    last_raw_buckets: Vec<f64>,
    start_nanos: u64,
    pub last_seen: f64,
}

/// Identity of a series: its point attributes and its resource's, hashed.
pub fn series_id(point: &[KeyValue], resource: &[KeyValue]) -> u64 {
    let mut h = DefaultHasher::new();
    for kv in point.iter().chain(resource) {
        kv.key.hash(&mut h);
        if let Some(v) = &kv.value {
            value_string(v).hash(&mut h);
        }
    }
    h.finish()
}

impl Store {
    /// Records one point at `now`. `watching_since` is when llamacol started (Unix ns):
    /// a counter that started later is counted from zero.
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &mut self,
        key: Vec<String>,
        id: u64,
        source: (&Option<String>, &Option<String>),
        keep: Keep,
        reading: Reading,
        start_nanos: u64,
        watching_since: u64,
        now: f64,
    ) {
        let group = self.groups.entry(key).or_default();
        group.last_seen = now;
        group.source.add(source.0, source.1);
        let fresh = !group.series.contains_key(&id);
        let series = group.series.entry(id).or_insert_with(|| Series {
            samples: VecDeque::new(),
            buckets: VecDeque::new(),
            bounds: Vec::new(),
            last_raw: 0.0,
            last_raw_buckets: Vec::new(),
            start_nanos,
            last_seen: now,
        });
        series.last_seen = now;
        let born_watched = start_nanos != 0 && start_nanos >= watching_since;
        match (keep, reading) {
            (Keep::Value, Reading::Number { value, sum, .. }) => {
                let v = match sum {
                    Some(true) => series.samples.back().map_or(0.0, |s| s.1) + value,
                    _ => value,
                };
                series.samples.push_back((now, v));
            }
            (
                Keep::Counter,
                Reading::Number {
                    value,
                    sum,
                    monotonic,
                },
            ) => {
                let previous = series.samples.back().map_or(0.0, |s| s.1);
                let total = if sum == Some(true) {
                    previous + value
                } else if fresh {
                    if born_watched {
                        value
                    } else {
                        0.0
                    }
                } else if (monotonic && value < series.last_raw)
                    || start_nanos != series.start_nanos
                {
                    // A reset: everything it shows now is new.
                    previous + value
                } else {
                    previous + (value - series.last_raw)
                };
                series.last_raw = value;
                series.start_nanos = start_nanos;
                series.samples.push_back((now, total));
            }
            (
                Keep::Histogram,
                Reading::Histogram {
                    bounds,
                    counts,
                    delta,
                },
            ) => {
                let raw: Vec<f64> = counts.iter().map(|&c| c as f64).collect();
                if series.bounds.as_slice() != bounds {
                    // New or changed buckets: start this series over.
                    series.bounds = bounds.to_vec();
                    series.samples.clear();
                    series.buckets.clear();
                    series.last_raw_buckets = vec![0.0; raw.len()];
                }
                let previous = series
                    .buckets
                    .back()
                    .cloned()
                    .unwrap_or_else(|| vec![0.0; raw.len()]);
                let reset = raw.iter().zip(&series.last_raw_buckets).any(|(r, l)| r < l)
                    || start_nanos != series.start_nanos;
                let next: Vec<f64> = if delta {
                    previous.iter().zip(&raw).map(|(p, r)| p + r).collect()
                } else if series.samples.is_empty() {
                    if born_watched {
                        raw.clone()
                    } else {
                        vec![0.0; raw.len()]
                    }
                } else if reset {
                    previous.iter().zip(&raw).map(|(p, r)| p + r).collect()
                } else {
                    previous
                        .iter()
                        .zip(raw.iter().zip(&series.last_raw_buckets))
                        .map(|(p, (r, l))| p + (r - l))
                        .collect()
                };
                series.last_raw_buckets = raw;
                series.start_nanos = start_nanos;
                series.samples.push_back((now, next.iter().sum()));
                series.buckets.push_back(next);
            }
            _ => {}
        }
    }

    /// Drops samples older than the window (keeping the last one before it, the base of
    /// increases and the value of a series that went quiet), series unseen for `stale`,
    /// and groups with no series left.
    pub fn prune(&mut self, now: f64, window: f64, stale: f64) {
        let start = now - window;
        self.groups.retain(|_, group| {
            group.series.retain(|_, s| {
                while s.samples.len() >= 2 && s.samples[1].0 <= start {
                    s.samples.pop_front();
                    s.buckets.pop_front();
                }
                now - s.last_seen <= stale
            });
            !group.series.is_empty()
        });
    }
}

impl Series {
    /// The last sample at or before `t` (0 before the first: counted since watching).
    pub fn at(&self, t: f64) -> f64 {
        self.samples
            .iter()
            .rev()
            .find(|s| s.0 <= t)
            .map_or(0.0, |s| s.1)
    }

    /// Bucket counts at or before `t`.
    pub fn buckets_at(&self, t: f64) -> Vec<f64> {
        self.samples
            .iter()
            .zip(&self.buckets)
            .rev()
            .find(|(s, _)| s.0 <= t)
            .map_or_else(|| vec![0.0; self.bounds.len() + 1], |(_, b)| b.clone())
    }

    pub fn latest(&self) -> Option<(f64, f64)> {
        self.samples.back().copied()
    }

    /// Values inside `(start, now]`; the latest when none is (a quiet series holds its
    /// last value).
    pub fn in_window(&self, start: f64) -> impl Iterator<Item = f64> + '_ {
        let any = self.samples.iter().any(|s| s.0 > start);
        self.samples
            .iter()
            .enumerate()
            .filter(move |(i, s)| s.0 > start || (!any && *i + 1 == self.samples.len()))
            .map(|(_, s)| s.1)
    }
}
