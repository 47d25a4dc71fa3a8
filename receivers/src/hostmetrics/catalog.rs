//! What each scraper may emit: the Collector's own metric tables (its scrapers'
//! `metadata.yaml` files, kept as data in `metadata/`, origin in `testdata/README.md`),
//! read at build time, so names, units, types, attribute keys and the default
//! enabled/disabled state are the Collector's by construction, not by transcription.
//! [`Recorder`] collects one cycle's points and turns the enabled metrics into OTLP.

use std::collections::BTreeMap;

use llamacol_api::attributes;
use llamacol_api::otlp::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Gauge, Metric, NumberDataPoint, Sum,
};
use serde::Deserialize;

use super::config::{Aggregation, Switch};

/// One scraper's table.
#[derive(Debug)]
pub struct Catalog {
    pub metrics: Vec<MetricDef>,
    /// Resource attribute -> enabled by default (the process scraper's).
    pub resource_attributes: BTreeMap<String, bool>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MetricDef {
    pub name: String,
    pub description: String,
    pub unit: String,
    pub shape: Shape,
    /// The keys its points carry, in the order [`Recorder::point`] takes their values
    /// (an attribute's `name_override` applied).
    pub attributes: Vec<String>,
    /// Which of `attributes` points keep by default: all but the `opt_in` ones.
    pub default_attributes: Vec<bool>,
    pub enabled: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Gauge { int: bool },
    Sum { int: bool, monotonic: bool },
}

/// The scrapers, each with its embedded table.
pub const SCRAPERS: [(&str, &str); 10] = [
    ("cpu", include_str!("metadata/cpu.yaml")),
    ("disk", include_str!("metadata/disk.yaml")),
    ("filesystem", include_str!("metadata/filesystem.yaml")),
    ("load", include_str!("metadata/load.yaml")),
    ("memory", include_str!("metadata/memory.yaml")),
    ("network", include_str!("metadata/network.yaml")),
    ("paging", include_str!("metadata/paging.yaml")),
    ("processes", include_str!("metadata/processes.yaml")),
    ("process", include_str!("metadata/process.yaml")),
    ("system", include_str!("metadata/system.yaml")),
];

/// The table of `scraper` (one of [`SCRAPERS`]).
pub fn catalog(scraper: &str) -> Catalog {
    let text = SCRAPERS
        .iter()
        .find(|(name, _)| *name == scraper)
        .map(|(_, text)| *text)
        .unwrap_or_default();
    parse(text).unwrap_or_else(|e| {
        // The files are part of the build and tested (`every_embedded_table_parses`).
        tracing::error!(scraper, error = %e, "embedded hostmetrics table does not parse");
        Catalog {
            metrics: Vec::new(),
            resource_attributes: BTreeMap::new(),
        }
    })
}

#[derive(Deserialize)]
struct File {
    #[serde(default)]
    attributes: BTreeMap<String, AttributeEntry>,
    #[serde(default)]
    resource_attributes: BTreeMap<String, ResourceEntry>,
    #[serde(default)]
    metrics: BTreeMap<String, MetricEntry>,
}

#[derive(Deserialize)]
struct AttributeEntry {
    #[serde(default)]
    name_override: Option<String>,
    #[serde(default)]
    requirement_level: Option<String>,
}

#[derive(Deserialize)]
struct ResourceEntry {
    enabled: bool,
}

#[derive(Deserialize)]
struct MetricEntry {
    enabled: bool,
    #[serde(default)]
    description: String,
    unit: String,
    gauge: Option<ValueEntry>,
    sum: Option<ValueEntry>,
    #[serde(default)]
    attributes: Vec<String>,
}

#[derive(Deserialize)]
struct ValueEntry {
    value_type: String,
    #[serde(default)]
    monotonic: bool,
}

pub fn parse(text: &str) -> Result<Catalog, llamacol_api::serde_yaml::Error> {
    let file: File = llamacol_api::serde_yaml::from_str(text)?;
    let metrics = file
        .metrics
        .into_iter()
        // `name@v1`: the next semantic-convention names, behind Collector feature gates
        // llamacol does not have.
        .filter(|(name, _)| !name.contains('@'))
        .filter_map(|(name, m)| {
            let shape = match (&m.gauge, &m.sum) {
                (Some(g), _) => Shape::Gauge {
                    int: g.value_type == "int",
                },
                (None, Some(s)) => Shape::Sum {
                    int: s.value_type == "int",
                    monotonic: s.monotonic,
                },
                (None, None) => return None,
            };
            let attributes = m
                .attributes
                .iter()
                .map(|a| {
                    file.attributes
                        .get(a)
                        .and_then(|e| e.name_override.clone())
                        .unwrap_or_else(|| a.clone())
                })
                .collect();
            let default_attributes = m
                .attributes
                .iter()
                .map(|a| {
                    file.attributes
                        .get(a)
                        .and_then(|e| e.requirement_level.as_deref())
                        != Some("opt_in")
                })
                .collect();
            Some(MetricDef {
                name,
                description: m.description.trim().to_string(),
                unit: m.unit,
                shape,
                attributes,
                default_attributes,
                enabled: m.enabled,
            })
        })
        .collect();
    Ok(Catalog {
        metrics,
        resource_attributes: file
            .resource_attributes
            .into_iter()
            .map(|(k, v)| (k, v.enabled))
            .collect(),
    })
}

impl Catalog {
    pub fn names(&self) -> Vec<&str> {
        self.metrics.iter().map(|m| m.name.as_str()).collect()
    }

    /// Whether `name` is on, given the user's switches.
    pub fn enabled(&self, name: &str, switches: &BTreeMap<String, Switch>) -> bool {
        switches
            .get(name)
            .and_then(|s| s.enabled)
            .or_else(|| {
                self.metrics
                    .iter()
                    .find(|m| m.name == name)
                    .map(|m| m.enabled)
            })
            .unwrap_or(false)
    }

    pub fn resource_enabled(&self, name: &str, switches: &BTreeMap<String, Switch>) -> bool {
        switches
            .get(name)
            .and_then(|s| s.enabled)
            .or_else(|| self.resource_attributes.get(name).copied())
            .unwrap_or(false)
    }
}

/// A value as the metric's type wants it.
#[derive(Debug, Clone, Copy)]
pub enum Value {
    Int(i64),
    Double(f64),
}

impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Int(v)
    }
}

impl From<u64> for Value {
    fn from(v: u64) -> Value {
        Value::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value::Double(v)
    }
}

/// One cycle's points for one scraper (or one process), in the table's order.
pub struct Recorder<'a> {
    catalog: &'a Catalog,
    on: Vec<bool>,
    /// Per metric: which attributes its points keep, and how equal points merge.
    kept: Vec<(Vec<bool>, Aggregation)>,
    points: Vec<Vec<NumberDataPoint>>,
    start: u64,
    now: u64,
}

impl<'a> Recorder<'a> {
    /// Points stamped `now`, with `start` as their start time (boot, or the process's
    /// creation, as the Collector does).
    pub fn new(
        catalog: &'a Catalog,
        switches: &BTreeMap<String, Switch>,
        start: u64,
        now: u64,
    ) -> Recorder<'a> {
        Recorder {
            on: catalog
                .metrics
                .iter()
                .map(|m| catalog.enabled(&m.name, switches))
                .collect(),
            kept: catalog
                .metrics
                .iter()
                .map(|m| {
                    let switch = switches.get(&m.name);
                    let mask = match switch.and_then(|s| s.attributes.as_ref()) {
                        Some(chosen) => m.attributes.iter().map(|a| chosen.contains(a)).collect(),
                        None => m.default_attributes.clone(),
                    };
                    let merge =
                        switch
                            .and_then(|s| s.aggregation_strategy)
                            .unwrap_or(match m.shape {
                                Shape::Gauge { .. } => Aggregation::Avg,
                                Shape::Sum { .. } => Aggregation::Sum,
                            });
                    (mask, merge)
                })
                .collect(),
            points: vec![Vec::new(); catalog.metrics.len()],
            catalog,
            start,
            now,
        }
    }

    /// Whether any of `names` is enabled (to skip a read nobody wants).
    pub fn wants(&self, names: &[&str]) -> bool {
        self.catalog
            .metrics
            .iter()
            .zip(&self.on)
            .any(|(m, on)| *on && names.contains(&m.name.as_str()))
    }

    /// Records `value` for `name` with the values of its attributes, in table order.
    /// Nothing happens for a metric that is off (or not in the table).
    pub fn point(&mut self, name: &str, value: impl Into<Value>, attributes: &[&str]) {
        let Some(i) = self.catalog.metrics.iter().position(|m| m.name == name) else {
            return;
        };
        if !self.on[i] {
            return;
        }
        let def = &self.catalog.metrics[i];
        let int = match def.shape {
            Shape::Gauge { int } | Shape::Sum { int, .. } => int,
        };
        let value = match (value.into(), int) {
            (Value::Int(v), true) => number_data_point::Value::AsInt(v),
            (Value::Int(v), false) => number_data_point::Value::AsDouble(v as f64),
            (Value::Double(v), false) => number_data_point::Value::AsDouble(v),
            (Value::Double(v), true) => number_data_point::Value::AsInt(v as i64),
        };
        self.points[i].push(NumberDataPoint {
            attributes: def
                .attributes
                .iter()
                .zip(attributes)
                .zip(&self.kept[i].0)
                .filter(|(_, kept)| **kept)
                .map(|((k, v), _)| attributes::string(k, v))
                .collect(),
            start_time_unix_nano: self.start,
            time_unix_nano: self.now,
            value: Some(value),
            ..Default::default()
        });
    }

    /// The enabled metrics that got points, in table order.
    pub fn finish(self) -> Vec<Metric> {
        self.catalog
            .metrics
            .iter()
            .zip(self.points)
            .zip(self.kept)
            .filter(|((_, points), _)| !points.is_empty())
            .map(|((def, points), (_, merge))| (def, merged(points, merge)))
            .map(|(def, data_points)| Metric {
                name: def.name.clone(),
                description: def.description.clone(),
                unit: def.unit.clone(),
                data: Some(match def.shape {
                    Shape::Gauge { .. } => metric::Data::Gauge(Gauge { data_points }),
                    Shape::Sum { monotonic, .. } => metric::Data::Sum(Sum {
                        data_points,
                        aggregation_temporality: AggregationTemporality::Cumulative as i32,
                        is_monotonic: monotonic,
                    }),
                }),
                ..Default::default()
            })
            .collect()
    }
}

/// Points whose kept attributes are equal become one (the Collector's
/// `aggregation_strategy`), in first-seen order.
fn merged(points: Vec<NumberDataPoint>, merge: Aggregation) -> Vec<NumberDataPoint> {
    let mut out: Vec<(NumberDataPoint, f64)> = Vec::with_capacity(points.len());
    for p in points {
        let Some((into, count)) = out.iter_mut().find(|(q, _)| q.attributes == p.attributes) else {
            out.push((p, 1.0));
            continue;
        };
        *count += 1.0;
        let (a, b) = (number(into), number(&p));
        let v = match merge {
            Aggregation::Sum | Aggregation::Avg => a + b,
            Aggregation::Min => a.min(b),
            Aggregation::Max => a.max(b),
        };
        set_number(into, v);
    }
    out.into_iter()
        .map(|(mut p, count)| {
            if merge == Aggregation::Avg && count > 1.0 {
                let v = number(&p) / count;
                set_number(&mut p, v);
            }
            p
        })
        .collect()
}

fn number(p: &NumberDataPoint) -> f64 {
    match p.value {
        Some(number_data_point::Value::AsInt(v)) => v as f64,
        Some(number_data_point::Value::AsDouble(v)) => v,
        None => 0.0,
    }
}

fn set_number(p: &mut NumberDataPoint, v: f64) {
    p.value = Some(match p.value {
        Some(number_data_point::Value::AsInt(_)) => number_data_point::Value::AsInt(v as i64),
        _ => number_data_point::Value::AsDouble(v),
    });
}
