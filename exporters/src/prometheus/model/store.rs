//! Accumulated series: cumulative points replace, delta points add up (delta to
//! cumulative, as the Collector does), series not updated for `metric_expiration`
//! disappear. Points are immutable `Arc`s so a scrape copies pointers under the lock and
//! formats outside it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::observe::{Exemplar, Labels, Observation, Value};
use super::translate::FamilyType;

#[derive(Debug)]
pub struct Point {
    pub value: Value,
    pub time_ms: i64,
    pub time_ns: u64,
    pub start_ns: u64,
    pub updated: Instant,
    pub exemplar: Option<Exemplar>,
}

#[derive(Debug)]
pub struct Family {
    pub family: FamilyType,
    pub help: String,
    pub unit: String,
    pub series: HashMap<Arc<Labels>, Arc<Point>>,
}

/// A scrape's view of one family.
pub struct FamilySnapshot {
    pub name: String,
    pub family: FamilyType,
    pub help: String,
    pub unit: String,
    pub series: Vec<(Arc<Labels>, Arc<Point>)>,
}

#[derive(Debug, PartialEq)]
pub enum Refused {
    /// Another metric already has this name with another type.
    TypeConflict { existing: FamilyType },
}

#[derive(Debug, Default)]
pub struct Store {
    families: HashMap<String, Family>,
}

impl Store {
    pub fn series_count(&self) -> usize {
        self.families.values().map(|f| f.series.len()).sum()
    }

    /// Applies one observation; returns the series' resulting (cumulative) point.
    pub fn apply(&mut self, obs: Observation, now: Instant) -> Result<Arc<Point>, Refused> {
        let family = self.families.entry(obs.name).or_insert_with(|| Family {
            family: obs.family,
            help: obs.help.clone(),
            unit: obs.unit.clone(),
            series: HashMap::new(),
        });
        if family.family != obs.family {
            return Err(Refused::TypeConflict {
                existing: family.family,
            });
        }
        let key = Arc::new(obs.labels);
        let previous = family.series.get(&key);
        let value = match (previous, obs.delta) {
            // Out of order or repeated: keep what we have.
            (Some(prev), _) if obs.time_ns < prev.time_ns => return Ok(prev.clone()),
            (Some(prev), true) if obs.time_ns == prev.time_ns => return Ok(prev.clone()),
            (Some(prev), true) => add(&prev.value, obs.value),
            _ => obs.value,
        };
        let start_ns = match (previous, obs.delta) {
            (Some(prev), true) => prev.start_ns,
            _ => obs.start_ns,
        };
        let exemplar = obs
            .exemplar
            .or_else(|| previous.and_then(|p| p.exemplar.clone()));
        let point = Arc::new(Point {
            value,
            time_ms: obs.time_ms,
            time_ns: obs.time_ns,
            start_ns,
            updated: now,
            exemplar,
        });
        family.series.insert(key, point.clone());
        Ok(point)
    }

    /// Removes series not updated within `ttl`, and families left empty.
    pub fn expire(&mut self, now: Instant, ttl: Duration) {
        for family in self.families.values_mut() {
            family
                .series
                .retain(|_, p| now.duration_since(p.updated) < ttl);
        }
        self.families.retain(|_, f| !f.series.is_empty());
    }

    /// Pointers to every series, sorted by family name (labels sorted at render).
    pub fn snapshot(&self) -> Vec<FamilySnapshot> {
        let mut out: Vec<FamilySnapshot> = self
            .families
            .iter()
            .map(|(name, f)| FamilySnapshot {
                name: name.clone(),
                family: f.family,
                help: f.help.clone(),
                unit: f.unit.clone(),
                series: f
                    .series
                    .iter()
                    .map(|(l, p)| (l.clone(), p.clone()))
                    .collect(),
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }
}

/// A delta point added onto the accumulated value. Histograms with different bounds
/// restart from the new point (their buckets cannot be added).
fn add(prev: &Value, delta: Value) -> Value {
    match (prev, delta) {
        (Value::Number(a), Value::Number(b)) => Value::Number(a + b),
        (
            Value::Histogram {
                count: c1,
                sum: s1,
                bounds: b1,
                counts: k1,
            },
            Value::Histogram {
                count: c2,
                sum: s2,
                bounds: b2,
                counts: k2,
            },
        ) if *b1 == b2 => Value::Histogram {
            count: c1 + c2,
            sum: match (s1, s2) {
                (Some(a), Some(b)) => Some(a + b),
                (a, b) => a.or(b),
            },
            counts: k1.iter().zip(&k2).map(|(a, b)| a + b).collect(),
            bounds: b2,
        },
        (_, other) => other,
    }
}
