//! What spanmetrics keeps between flushes: per resource (a set of resource attributes, or
//! of the `resource_metrics_key_attributes` among them), its series of calls, durations
//! and events, each keyed as the Collector keys them (service, span name, kind, status,
//! then `name:value` per dimension, NUL-separated). Bounded like the Collector's: at most
//! `resource_metrics_cache_size` resources (the least recently used one is exported once
//! more, then forgotten) and `aggregation_cardinality_limit` series per metric and
//! resource (the rest share one `otel.metric.overflow` series).

use std::collections::HashMap;

use llamacol_api::otlp::common::v1::{any_value::Value, AnyValue, KeyValue};

use super::exponential::ExponentialHistogram;

/// A histogram of one series.
#[derive(Debug, Clone)]
pub enum Histogram {
    Explicit {
        counts: Vec<u64>,
        count: u64,
        sum: f64,
    },
    Exponential(ExponentialHistogram),
}

impl Histogram {
    /// Adds `n` observations of `value`; `bounds`: the explicit boundaries.
    pub fn observe(&mut self, bounds: &[f64], value: f64, n: u64) {
        match self {
            Histogram::Explicit { counts, count, sum } => {
                // The first boundary not below the value: (previous, bound].
                counts[bounds.partition_point(|b| *b < value)] += n;
                *count += n;
                *sum += value * n as f64;
            }
            Histogram::Exponential(h) => h.record(value, n),
        }
    }
}

/// A value one series accumulates.
#[derive(Debug, Clone)]
pub enum Aggregate {
    Count(u64),
    Histogram(Histogram),
}

/// One trace exemplar of a point.
#[derive(Debug, Clone)]
pub struct Exemplar {
    pub trace_id: Vec<u8>,
    pub span_id: Vec<u8>,
    pub value: f64,
}

#[derive(Debug, Clone)]
pub struct Series {
    pub attributes: Vec<KeyValue>,
    pub value: Aggregate,
    pub start: u64,
    pub last_seen: u64,
    pub exemplars: Vec<Exemplar>,
    /// A cumulative sum's first point is 0, as the Collector's: Prometheus drops the
    /// first sample of a new series when computing a rate.
    pub first: bool,
}

/// The key of the series that takes what is past the cardinality limit.
pub const OVERFLOW: &str = "otel.metric.overflow";

/// The series of one metric of one resource.
#[derive(Debug, Clone, Default)]
pub struct SeriesMap {
    pub series: HashMap<String, Series>,
}

impl SeriesMap {
    /// The series for `key`, made from `make()` when new (or the overflow series when
    /// `limit` series exist already); whether the limit sent it to the overflow series.
    pub fn get_or_create(
        &mut self,
        key: &str,
        limit: usize,
        now: u64,
        make: impl FnOnce() -> (Vec<KeyValue>, Aggregate),
    ) -> (&mut Series, bool) {
        let overflow = !self.series.contains_key(key) && limit > 0 && self.series.len() >= limit;
        let key = if overflow { OVERFLOW } else { key };
        if !self.series.contains_key(key) {
            let (attributes, value) = make();
            let attributes = if overflow {
                vec![KeyValue {
                    key: OVERFLOW.into(),
                    value: Some(AnyValue {
                        value: Some(Value::BoolValue(true)),
                    }),
                    ..Default::default()
                }]
            } else {
                attributes
            };
            self.series.insert(
                key.to_string(),
                Series {
                    attributes,
                    value,
                    start: now,
                    last_seen: now,
                    exemplars: Vec::new(),
                    first: true,
                },
            );
        }
        let series = self.series.get_mut(key).expect("inserted above");
        series.last_seen = now;
        (series, overflow)
    }

    pub fn expire(&mut self, older_than: u64) {
        self.series.retain(|_, s| s.last_seen >= older_than);
    }

    pub fn clear_exemplars(&mut self) {
        for s in self.series.values_mut() {
            s.exemplars.clear();
        }
    }
}

/// One resource's metrics.
#[derive(Debug, Clone, Default)]
pub struct Resource {
    pub attributes: Vec<KeyValue>,
    pub calls: SeriesMap,
    pub durations: SeriesMap,
    pub events: SeriesMap,
    pub last_seen: u64,
    /// Recency, for the least-recently-used bound.
    used: u64,
}

/// Every resource, at most `capacity`.
#[derive(Debug, Default)]
pub struct Resources {
    capacity: usize,
    clock: u64,
    pub live: HashMap<String, Resource>,
    /// Pushed out by newer ones: exported at the next flush, then forgotten.
    pub evicted: Vec<Resource>,
}

impl Resources {
    pub fn new(capacity: usize) -> Resources {
        Resources {
            capacity: capacity.max(1),
            ..Resources::default()
        }
    }

    pub fn get_or_create(&mut self, key: &str, attributes: &[KeyValue], now: u64) -> &mut Resource {
        self.clock += 1;
        if !self.live.contains_key(key) {
            if self.live.len() >= self.capacity {
                let oldest = self
                    .live
                    .iter()
                    .min_by_key(|(_, r)| r.used)
                    .map(|(k, _)| k.clone());
                if let Some(r) = oldest.and_then(|k| self.live.remove(&k)) {
                    self.evicted.push(r);
                }
            }
            self.live.insert(
                key.to_string(),
                Resource {
                    attributes: attributes.to_vec(),
                    ..Resource::default()
                },
            );
        }
        let resource = self.live.get_mut(key).expect("inserted above");
        resource.used = self.clock;
        resource.last_seen = now;
        resource
    }
}

/// The text of a value in a key (the Collector's `AsString`).
pub fn text(value: Option<&Value>) -> String {
    match value {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

/// A map of attributes keyed for lookups (later entries win, as a map built from a list).
pub fn lookup(attrs: &[KeyValue]) -> HashMap<&str, &KeyValue> {
    attrs.iter().map(|kv| (kv.key.as_str(), kv)).collect()
}
