//! OTLP metrics to observations: one value per Prometheus series, with its labels,
//! ready to be accumulated (`store.rs`) and rendered or pushed.

use llamacol_api::wire::hex;
use std::collections::BTreeMap;

use llamacol_api::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use llamacol_api::otlp::common::v1::{InstrumentationScope, KeyValue};
use llamacol_api::otlp::metrics::v1::{
    exemplar, metric, number_data_point, AggregationTemporality, Metric,
};

use llamacol_api::attributes::{job_instance, value_string};
use llamacol_api::batch::data_points;

use llamacol_api::repeated::{Repeated, TooMuchRepeated};

use super::native::NativeHistogram;
use super::translate::{label_name, metric_name, FamilyType, MetricKind, TranslationStrategy};

/// Translation settings shared by the pull and remote-write exporters.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub namespace: Option<String>,
    pub const_labels: Vec<(String, String)>,
    pub strategy: TranslationStrategy,
    /// Copy every resource attribute onto every series.
    pub resource_to_telemetry: bool,
    /// Leave out `otel_scope_name` / `otel_scope_version`.
    pub without_scope_info: bool,
    /// Emit `target_info` with the resource attributes that are not job/instance.
    pub target_info: bool,
}

/// Sorted label pairs, `__name__` excluded.
pub type Labels = Vec<(String, String)>;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Number(f64),
    /// Per-bucket (not cumulative) counts; `counts.len() == bounds.len() + 1`.
    Histogram {
        count: u64,
        sum: Option<f64>,
        bounds: Vec<f64>,
        counts: Vec<u64>,
    },
    Summary {
        count: u64,
        sum: f64,
        quantiles: Vec<(f64, f64)>,
    },
    /// An exponential histogram, served natively where the reader takes native
    /// histograms, as classic buckets elsewhere (`Value::classic`).
    Native(Box<NativeHistogram>),
}

impl Value {
    /// The value as the text formats and Remote Write 1.0 carry it: native histograms
    /// as classic buckets (`None` only for one too wide to list, refused at ingest).
    pub fn classic(&self) -> Option<std::borrow::Cow<'_, Value>> {
        match self {
            Value::Native(h) => h.to_classic().map(std::borrow::Cow::Owned),
            other => Some(std::borrow::Cow::Borrowed(other)),
        }
    }
}

/// `(le, cumulative count)` per bucket of a histogram, `+Inf` last, as Prometheus wants.
pub fn cumulative_buckets(bounds: &[f64], counts: &[u64]) -> Vec<(String, u64)> {
    let mut total = 0;
    counts
        .iter()
        .enumerate()
        .map(|(i, c)| {
            total += c;
            (
                bounds.get(i).map_or_else(
                    || "+Inf".to_string(),
                    |b| llamacol_api::exposition::number(*b),
                ),
                total,
            )
        })
        .collect()
}

/// The index of the bucket (`le` bound, or the `+Inf` one past the bounds) that `value`
/// falls in: where an exemplar of that value goes.
pub fn bucket_of(bounds: &[f64], value: f64) -> usize {
    bounds
        .iter()
        .position(|b| value <= *b)
        .unwrap_or(bounds.len())
}

#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar {
    pub value: f64,
    pub time_ms: i64,
    pub trace_id: String,
    pub span_id: String,
}

#[derive(Debug, Clone)]
pub struct Observation {
    pub name: String,
    pub family: FamilyType,
    pub help: String,
    pub unit: String,
    pub labels: Labels,
    pub value: Value,
    pub time_ms: i64,
    /// The point's own time in ns (ordering and de-duplication need more than ms).
    pub time_ns: u64,
    pub start_ns: u64,
    /// Delta temporality: to be added to what was accumulated.
    pub delta: bool,
    pub exemplar: Option<Exemplar>,
}

/// What could not be translated: (metric name, reason, points).
pub type Dropped = Vec<(String, &'static str, usize)>;

/// The observations of a request's points, and what could not be translated. Every point
/// carries its metric's name, help and unit and the scope (and resource) labels: a request
/// that would so repeat more than `repeated::LIMIT` bytes is refused
/// (`llamacol_api::repeated`).
pub fn observe(
    request: &ExportMetricsServiceRequest,
    options: &Options,
    now_ms: i64,
) -> Result<(Vec<Observation>, Dropped), TooMuchRepeated> {
    let mut out = Vec::new();
    let mut dropped = Vec::new();
    let mut repeated = Repeated::new("metric name, help, unit and scope and resource labels");
    let label_bytes = |labels: &[(String, String)]| -> usize {
        labels.iter().map(|(k, v)| k.len() + v.len()).sum()
    };
    let shared = label_bytes(&options.const_labels);
    for rm in &request.resource_metrics {
        let resource = rm
            .resource
            .as_ref()
            .map(|r| r.attributes.as_slice())
            .unwrap_or_default();
        let (job, instance) = job_instance(resource);
        let mut base: BTreeMap<String, (String, String)> = BTreeMap::new();
        if options.resource_to_telemetry {
            add_attributes(&mut base, resource, options.strategy);
        }
        let mut identity: Vec<(String, String)> = Vec::new();
        if let Some(job) = job.filter(|j| !j.is_empty()) {
            identity.push(("job".into(), job));
        }
        if let Some(instance) = instance.filter(|i| !i.is_empty()) {
            identity.push(("instance".into(), instance));
        }
        if options.target_info {
            let mut info: BTreeMap<String, (String, String)> = BTreeMap::new();
            let others: Vec<KeyValue> = resource
                .iter()
                .filter(|kv| {
                    !matches!(
                        kv.key.as_str(),
                        "service.name" | "service.namespace" | "service.instance.id"
                    )
                })
                .cloned()
                .collect();
            if !others.is_empty() {
                add_attributes(&mut info, &others, options.strategy);
                out.push(Observation {
                    name: "target_info".to_string(),
                    family: FamilyType::Gauge,
                    help: "Target metadata".into(),
                    unit: String::new(),
                    labels: finish(info, &identity, &options.const_labels),
                    value: Value::Number(1.0),
                    time_ms: now_ms,
                    time_ns: (now_ms as u64).saturating_mul(1_000_000),
                    start_ns: 0,
                    delta: false,
                    exemplar: None,
                });
            }
        }
        for sm in &rm.scope_metrics {
            let mut scope_base = base.clone();
            if !options.without_scope_info {
                add_scope(&mut scope_base, sm.scope.as_ref());
            }
            let scope_bytes: usize = scope_base.iter().map(|(k, (_, v))| k.len() + v.len()).sum();
            let labels = shared + label_bytes(&identity) + scope_bytes;
            for m in &sm.metrics {
                let help = if m.description.is_empty() {
                    m.name.len()
                } else {
                    m.description.len()
                };
                let per_point = labels + m.name.len() + help + m.unit.len();
                repeated.add("data point", per_point, data_points(m))?;
                metric_observations(
                    m,
                    &scope_base,
                    &identity,
                    options,
                    now_ms,
                    &mut out,
                    &mut dropped,
                );
            }
        }
    }
    Ok((out, dropped))
}

fn add_scope(
    labels: &mut BTreeMap<String, (String, String)>,
    scope: Option<&InstrumentationScope>,
) {
    if let Some(scope) = scope {
        if !scope.name.is_empty() {
            labels.insert(
                "otel_scope_name".into(),
                ("otel.scope.name".into(), scope.name.clone()),
            );
        }
        if !scope.version.is_empty() {
            labels.insert(
                "otel_scope_version".into(),
                ("otel.scope.version".into(), scope.version.clone()),
            );
        }
    }
}

/// Adds attributes as labels. Keys that sanitise to the same label are joined with `;`
/// in the order of their original keys, as the spec requires.
fn add_attributes(
    labels: &mut BTreeMap<String, (String, String)>,
    attributes: &[KeyValue],
    strategy: TranslationStrategy,
) {
    let mut sorted: Vec<&KeyValue> = attributes.iter().collect();
    sorted.sort_by(|a, b| a.key.cmp(&b.key));
    let mut fresh: BTreeMap<String, (String, String)> = BTreeMap::new();
    for kv in sorted {
        // A key that translates to nothing (empty, only underscores) cannot be a label.
        let Ok(name) = label_name(&kv.key, strategy) else {
            continue;
        };
        let value = kv.value.as_ref().map(value_string).unwrap_or_default();
        match fresh.get_mut(&name) {
            Some((_, existing)) => {
                existing.push(';');
                existing.push_str(&value);
            }
            None => {
                fresh.insert(name, (kv.key.clone(), value));
            }
        }
    }
    labels.extend(fresh);
}

fn finish(
    mut labels: BTreeMap<String, (String, String)>,
    identity: &[(String, String)],
    consts: &[(String, String)],
) -> Labels {
    for (k, v) in identity.iter().chain(consts) {
        labels.insert(k.clone(), (k.clone(), v.clone()));
    }
    labels
        .into_iter()
        .filter(|(_, (_, v))| !v.is_empty())
        .map(|(k, (_, v))| (k, v))
        .collect()
}

fn ms(ns: u64, now_ms: i64) -> i64 {
    if ns == 0 {
        now_ms
    } else {
        (ns / 1_000_000) as i64
    }
}

/// OTLP data point flag: no value was recorded (a staleness marker).
const NO_RECORDED_VALUE: u32 = 1;

fn metric_observations(
    m: &Metric,
    base: &BTreeMap<String, (String, String)>,
    identity: &[(String, String)],
    options: &Options,
    now_ms: i64,
    out: &mut Vec<Observation>,
    dropped: &mut Dropped,
) {
    let ns = options.namespace.as_deref();
    let kind = match &m.data {
        Some(metric::Data::Sum(s)) if s.is_monotonic => MetricKind::MonotonicCounter,
        Some(metric::Data::Sum(_)) => MetricKind::NonMonotonicCounter,
        Some(metric::Data::Histogram(_)) => MetricKind::Histogram,
        Some(metric::Data::ExponentialHistogram(_)) => MetricKind::ExponentialHistogram,
        Some(metric::Data::Summary(_)) => MetricKind::Summary,
        Some(metric::Data::Gauge(_)) | None => MetricKind::Gauge,
    };
    let name = match metric_name(&m.name, &m.unit, kind, ns, options.strategy) {
        Ok(name) => name,
        Err(_) => {
            dropped.push((
                m.name.clone(),
                "the name is empty or only underscores in Prometheus form",
                data_points(m),
            ));
            return;
        }
    };
    let labels_of = |attributes: &[KeyValue]| {
        let mut labels = base.clone();
        add_attributes(&mut labels, attributes, options.strategy);
        finish(labels, identity, &options.const_labels)
    };
    let delta = |t: i32| t == AggregationTemporality::Delta as i32;
    let mut push = |family: FamilyType,
                    attributes: &[KeyValue],
                    value: Value,
                    time: u64,
                    start: u64,
                    is_delta: bool,
                    exemplar: Option<Exemplar>| {
        out.push(Observation {
            name: name.clone(),
            family,
            // promtool (and people) want HELP; the OTLP name is the best fallback.
            help: if m.description.is_empty() {
                m.name.clone()
            } else {
                m.description.clone()
            },
            unit: m.unit.clone(),
            labels: labels_of(attributes),
            value,
            time_ms: ms(time, now_ms),
            time_ns: if time == 0 {
                (now_ms as u64).saturating_mul(1_000_000)
            } else {
                time
            },
            start_ns: start,
            delta: is_delta,
            exemplar,
        });
    };
    let number = |v: &Option<number_data_point::Value>| match v {
        Some(number_data_point::Value::AsDouble(d)) => *d,
        Some(number_data_point::Value::AsInt(i)) => *i as f64,
        None => 0.0,
    };
    match &m.data {
        Some(metric::Data::Gauge(g)) => {
            for p in g
                .data_points
                .iter()
                .filter(|p| p.flags & NO_RECORDED_VALUE == 0)
            {
                push(
                    FamilyType::Gauge,
                    &p.attributes,
                    Value::Number(number(&p.value)),
                    p.time_unix_nano,
                    p.start_time_unix_nano,
                    false,
                    None,
                );
            }
        }
        Some(metric::Data::Sum(s)) => {
            let family = if s.is_monotonic {
                FamilyType::Counter
            } else {
                FamilyType::Gauge
            };
            if delta(s.aggregation_temporality) && !s.is_monotonic {
                dropped.push((
                    m.name.clone(),
                    "non-monotonic delta sums cannot be converted (the spec says drop)",
                    s.data_points.len(),
                ));
                return;
            }
            for p in s
                .data_points
                .iter()
                .filter(|p| p.flags & NO_RECORDED_VALUE == 0)
            {
                let exemplar = p.exemplars.last().map(|e| to_exemplar(e, now_ms));
                push(
                    family,
                    &p.attributes,
                    Value::Number(number(&p.value)),
                    p.time_unix_nano,
                    p.start_time_unix_nano,
                    delta(s.aggregation_temporality),
                    exemplar,
                );
            }
        }
        Some(metric::Data::Histogram(h)) => {
            for p in h
                .data_points
                .iter()
                .filter(|p| p.flags & NO_RECORDED_VALUE == 0)
            {
                let mut counts = p.bucket_counts.clone();
                counts.resize(p.explicit_bounds.len() + 1, 0);
                let value = Value::Histogram {
                    count: p.count,
                    sum: p.sum,
                    bounds: p.explicit_bounds.clone(),
                    counts,
                };
                let exemplar = p.exemplars.last().map(|e| to_exemplar(e, now_ms));
                push(
                    FamilyType::Histogram,
                    &p.attributes,
                    value,
                    p.time_unix_nano,
                    p.start_time_unix_nano,
                    delta(h.aggregation_temporality),
                    exemplar,
                );
            }
        }
        Some(metric::Data::ExponentialHistogram(h)) => {
            if delta(h.aggregation_temporality) {
                dropped.push((
                    m.name.clone(),
                    "delta exponential histograms are dropped (the spec says so)",
                    h.data_points.len(),
                ));
                return;
            }
            for p in h
                .data_points
                .iter()
                .filter(|p| p.flags & NO_RECORDED_VALUE == 0)
            {
                let native = NativeHistogram::from_otlp(p);
                if !native.classic_fits() {
                    dropped.push((
                        m.name.clone(),
                        "exponential histogram with too many buckets to convert",
                        1,
                    ));
                    continue;
                }
                push(
                    FamilyType::Histogram,
                    &p.attributes,
                    Value::Native(Box::new(native)),
                    p.time_unix_nano,
                    p.start_time_unix_nano,
                    false,
                    p.exemplars.last().map(|e| to_exemplar(e, now_ms)),
                );
            }
        }
        Some(metric::Data::Summary(s)) => {
            for p in s
                .data_points
                .iter()
                .filter(|p| p.flags & NO_RECORDED_VALUE == 0)
            {
                let quantiles = p
                    .quantile_values
                    .iter()
                    .map(|q| (q.quantile, q.value))
                    .collect();
                push(
                    FamilyType::Summary,
                    &p.attributes,
                    Value::Summary {
                        count: p.count,
                        sum: p.sum,
                        quantiles,
                    },
                    p.time_unix_nano,
                    p.start_time_unix_nano,
                    false,
                    None,
                );
            }
        }
        None => {}
    }
}

fn to_exemplar(e: &llamacol_api::otlp::metrics::v1::Exemplar, now_ms: i64) -> Exemplar {
    let value = match e.value {
        Some(exemplar::Value::AsDouble(d)) => d,
        Some(exemplar::Value::AsInt(i)) => i as f64,
        None => 0.0,
    };
    Exemplar {
        value,
        time_ms: ms(e.time_unix_nano, now_ms),
        trace_id: hex(&e.trace_id),
        span_id: hex(&e.span_id),
    }
}
