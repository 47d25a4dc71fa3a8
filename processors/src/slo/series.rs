//! What one rule keeps of the points it selects: per group (the `by` values), per series
//! (the point's and resource's attribute set), the samples inside the rule's window.
//!
//! Time is llamacol's clock at arrival (Unix seconds), as Prometheus uses its scrape
//! time. Counters (sums read with `rate`/`increase`, SLIs) and histograms are kept as
//! "counted since llamacol started watching": resets and delta temporality are folded in,
//! and a series that started before llamacol did counts from its first sight, so before
//! its first sample every series is at 0 and increases are differences of two samples.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

use llamacol_api::attributes::value_string;
use llamacol_api::otlp::common::v1::{any_value, AnyValue, KeyValue};

/// Which source (Prometheus `job` / `instance`) a group's series came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Origin {
    #[default]
    None,
    One(Option<String>, Option<String>),
    /// Series from several sources: the alert carries neither label.
    Mixed,
}

impl Origin {
    fn add(&mut self, job: &Option<String>, instance: &Option<String>) {
        match self {
            Origin::None => *self = Origin::One(job.clone(), instance.clone()),
            Origin::One(j, i) if j != job || i != instance => *self = Origin::Mixed,
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

/// A map keyed by a hash we computed already: the key is used as it is.
pub type ByHash<V> = HashMap<u64, V, BuildHasherDefault<Prehashed>>;

/// Passes a `u64` key through (it is an FNV hash already).
#[derive(Default)]
pub struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[derive(Debug, Default)]
pub struct Store {
    /// By a hash of the group's `by` values (the values themselves are in the group).
    pub groups: ByHash<Group>,
    pub limits: Limits,
    /// Series held, over every group.
    series: usize,
    /// Bytes of text the groups hold (their `by` values, `job` and `instance`).
    group_bytes: usize,
    /// Points of groups past `max_groups` (or the text bound), kept in the overflow group.
    pub overflow_group_points: u64,
    /// Points left out because their series would pass `max_series`.
    pub left_out_points: u64,
    /// Whether the overflow was logged (once per store).
    pub overflow_said: bool,
}

/// How much one rule's (or SLO's) store may hold: groups past `max_groups`, or past
/// `MAX_GROUP_BYTES` of their text, share one overflow group; series past `max_series`
/// are left out (both counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_groups: usize,
    pub max_series: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_groups: 1_000,
            max_series: 10_000,
        }
    }
}

/// Text the groups of one store may hold (a long service name on many groups).
pub const MAX_GROUP_BYTES: usize = 16 << 20;

/// The key of the overflow group: no `by` values (a real key has one per `by` label).
pub const OVERFLOW: u64 = 0x6f76_6572_666c_6f77;

/// Whether `key` is the overflow group's (alerts over it say `otel_metric_overflow`).
pub fn is_overflow(key: &[String], by: &[String]) -> bool {
    key.is_empty() && !by.is_empty()
}

#[derive(Debug, Default)]
pub struct Group {
    /// The `by` values.
    pub key: Vec<String>,
    pub series: ByHash<Series>,
    pub last_seen: f64,
    pub source: Origin,
}

impl Group {
    /// Bytes of text this group holds.
    fn text_bytes(&self) -> usize {
        let source = match &self.source {
            Origin::One(j, i) => {
                j.as_ref().map_or(0, String::len) + i.as_ref().map_or(0, String::len)
            }
            Origin::None | Origin::Mixed => 0,
        };
        self.key.iter().map(String::len).sum::<usize>() + source
    }
}

#[derive(Debug)]
pub struct Series {
    /// (time, value) oldest first; for histograms `value` is the total count.
    pub samples: VecDeque<(f64, f64)>,
    /// Histograms only: kept apart so number series stay small.
    hist: Option<Box<Hist>>,
    last_raw: f64,
    start_nanos: u64,
    pub last_seen: f64,
}

#[derive(Debug, Default)]
struct Hist {
    /// Per sample, the bucket counts (parallel to `samples`).
    buckets: VecDeque<Vec<f64>>,
    bounds: Vec<f64>,
    last_raw: Vec<f64>,
}

/// FNV-1a, 64 bits: series and group identities without allocating.
#[derive(Clone, Copy)]
pub struct Fnv(u64);

impl Fnv {
    pub fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    pub fn bytes(mut self, bytes: &[u8]) -> Fnv {
        for b in bytes.iter().chain([&0xff]) {
            // 0xff ends each field, so ("ab", "c") and ("a", "bc") differ.
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
        self
    }

    /// An attribute value by its text (as labels compare), allocating only for values
    /// that are not strings.
    pub fn value(self, value: Option<&AnyValue>) -> Fnv {
        match value.and_then(|v| v.value.as_ref()) {
            Some(any_value::Value::StringValue(s)) => self.bytes(s.as_bytes()),
            Some(_) => self.bytes(value.map(value_string).unwrap_or_default().as_bytes()),
            None => self.bytes(&[]),
        }
    }

    pub fn finish(self) -> u64 {
        self.0
    }
}

impl Default for Fnv {
    fn default() -> Self {
        Fnv::new()
    }
}

/// Hashes attributes (keys and values) onto `h`: a resource's once, then each point's
/// onto it, gives a series its identity.
pub fn hash_attributes(h: Fnv, attributes: &[KeyValue]) -> Fnv {
    attributes.iter().fold(h, |h, kv| {
        h.bytes(kv.key.as_bytes()).value(kv.value.as_ref())
    })
}

impl Store {
    pub fn bounded(limits: Limits) -> Store {
        Store {
            limits,
            ..Store::default()
        }
    }

    /// Records one point at `now`. `watching_since` is when llamacol started (Unix ns):
    /// a counter that started later is counted from zero.
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &mut self,
        group: u64,
        key: impl FnOnce() -> Vec<String>,
        id: u64,
        source: (&Option<String>, &Option<String>),
        keep: Keep,
        reading: Reading,
        start_nanos: u64,
        watching_since: u64,
        now: f64,
    ) {
        let text = |s: &Option<String>| s.as_ref().map_or(0, String::len);
        let mut group = group;
        if !self.groups.contains_key(&group) {
            let key = key();
            let bytes =
                key.iter().map(String::len).sum::<usize>() + text(source.0) + text(source.1);
            if self.groups.len() >= self.limits.max_groups
                || self.group_bytes + bytes > MAX_GROUP_BYTES
            {
                group = OVERFLOW;
                self.overflow_group_points += 1;
            } else {
                self.group_bytes += bytes;
                self.groups.insert(
                    group,
                    Group {
                        key,
                        ..Group::default()
                    },
                );
            }
        }
        let group = self.groups.entry(group).or_default();
        let fresh = !group.series.contains_key(&id);
        if fresh && self.series >= self.limits.max_series {
            self.left_out_points += 1;
            return;
        }
        if fresh {
            self.series += 1;
        }
        group.last_seen = now;
        group.source.add(source.0, source.1);
        let series = group.series.entry(id).or_insert_with(|| Series {
            samples: VecDeque::new(),
            hist: None,
            last_raw: 0.0,
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
                let hist = series.hist.get_or_insert_with(Box::default);
                if hist.bounds.as_slice() != bounds {
                    // New or changed buckets: start this series over.
                    hist.bounds = bounds.to_vec();
                    hist.buckets.clear();
                    hist.last_raw = vec![0.0; raw.len()];
                    series.samples.clear();
                }
                let previous = hist
                    .buckets
                    .back()
                    .cloned()
                    .unwrap_or_else(|| vec![0.0; raw.len()]);
                let reset = raw.iter().zip(&hist.last_raw).any(|(r, l)| r < l)
                    || start_nanos != series.start_nanos;
                let next: Vec<f64> = if delta || (reset && !series.samples.is_empty()) {
                    previous.iter().zip(&raw).map(|(p, r)| p + r).collect()
                } else if series.samples.is_empty() {
                    if born_watched {
                        raw.clone()
                    } else {
                        vec![0.0; raw.len()]
                    }
                } else {
                    previous
                        .iter()
                        .zip(raw.iter().zip(&hist.last_raw))
                        .map(|(p, (r, l))| p + (r - l))
                        .collect()
                };
                hist.last_raw = raw;
                series.start_nanos = start_nanos;
                series.samples.push_back((now, next.iter().sum()));
                hist.buckets.push_back(next);
            }
            _ => {}
        }
    }

    /// Drops samples older than the window (keeping the last one before it, the base of
    /// increases and the value of a series that went quiet), series unseen for `stale`,
    /// and groups with no series left.
    pub fn prune(&mut self, now: f64, window: f64, stale: f64) {
        let start = now - window;
        let (mut series, mut group_bytes) = (0, 0);
        self.groups.retain(|_, group| {
            group.series.retain(|_, s| {
                while s.samples.len() >= 2 && s.samples[1].0 <= start {
                    s.samples.pop_front();
                    if let Some(h) = &mut s.hist {
                        h.buckets.pop_front();
                    }
                }
                now - s.last_seen <= stale
            });
            let keep = !group.series.is_empty();
            if keep {
                series += group.series.len();
                group_bytes += group.text_bytes();
            }
            keep
        });
        (self.series, self.group_bytes) = (series, group_bytes);
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

    /// A histogram's bucket bounds (empty for number series).
    pub fn bounds(&self) -> &[f64] {
        self.hist.as_ref().map_or(&[], |h| &h.bounds)
    }

    /// A histogram's latest bucket counts.
    pub fn latest_buckets(&self) -> Option<&Vec<f64>> {
        self.hist.as_ref()?.buckets.back()
    }

    /// Bucket counts at or before `t` (zeros before the first sample).
    pub fn buckets_at(&self, t: f64) -> Vec<f64> {
        let zeros = || vec![0.0; self.bounds().len() + 1];
        let Some(h) = &self.hist else {
            return zeros();
        };
        self.samples
            .iter()
            .zip(&h.buckets)
            .rev()
            .find(|(s, _)| s.0 <= t)
            .map_or_else(zeros, |(_, b)| b.clone())
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
