//! The rule engine without I/O or clocks: takes metrics in, evaluates at the time it is
//! given, and returns what to notify and the `ALERTS` / SLO metrics to pass on. The
//! processor runs it on its own task; tests drive it with made-up times.

use std::collections::{BTreeMap, HashMap};

use llamacol_api::attributes::{job_instance, string};
use llamacol_api::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use llamacol_api::otlp::common::v1::{InstrumentationScope, KeyValue};
use llamacol_api::otlp::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Gauge, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum,
};
use llamacol_api::otlp::resource::v1::Resource;
use llamacol_api::wire::fields;

use super::alert::{Book, Notice, Observation, State};
use super::burn::Slo;
use super::config::{RuleSpec, SloConfig, SloSpec};
use super::rule::{Part, Rule};
use super::select::{find, lookup};
use super::series::{hash_attributes, is_overflow, Fnv, Keep, Limits, Origin, Reading};
use super::template::{format_value, label_name, render};

const DELTA: i32 = AggregationTemporality::Delta as i32;

/// A part of a rule or SLO that reads one metric name.
#[derive(Debug, Clone, Copy)]
enum Feed {
    Rule(usize, usize),
    Slo(usize, usize),
}

/// A metric that arrived with a type a rule cannot read (logged once per rule, counted).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Mismatch {
    pub message: String,
    pub count: u64,
}

pub struct Engine {
    rules: Vec<Rule>,
    slos: Vec<Slo>,
    feeds: HashMap<String, Vec<Feed>>,
    book: Book,
    /// Unix ns when this engine started: counters that started later count from zero.
    watching_since: u64,
    resend_delay: f64,
    valid_for: f64,
    /// By rule or SLO name.
    pub mismatches: BTreeMap<String, Mismatch>,
    /// Burn rates and budgets of the last evaluation, by SLO.
    last_burns: Vec<(String, super::burn::Burn)>,
}

/// What one evaluation gives.
pub struct Evaluation {
    pub notices: Vec<Notice>,
    /// `ALERTS` and SLO gauges, when there is any.
    pub metrics: Option<ExportMetricsServiceRequest>,
}

impl Engine {
    /// `rules`/`slos` are the block's plus those of its rule files (already loaded).
    pub fn new(
        config: &SloConfig,
        rules: Vec<RuleSpec>,
        slos: Vec<SloSpec>,
        now_nanos: u64,
    ) -> Engine {
        let limits = Limits {
            max_groups: config.max_groups,
            max_series: config.max_series,
        };
        let rules: Vec<Rule> = rules.into_iter().map(|r| Rule::new(r, limits)).collect();
        let slos: Vec<Slo> = slos.into_iter().map(|s| Slo::new(s, limits)).collect();
        let mut feeds: HashMap<String, Vec<Feed>> = HashMap::new();
        for (i, rule) in rules.iter().enumerate() {
            for (j, part) in rule.parts.iter().enumerate() {
                feeds
                    .entry(part.selector.metric.clone())
                    .or_default()
                    .push(Feed::Rule(i, j));
            }
        }
        for (i, slo) in slos.iter().enumerate() {
            for (j, part) in slo.parts.iter().enumerate() {
                feeds
                    .entry(part.selector.metric.clone())
                    .or_default()
                    .push(Feed::Slo(i, j));
            }
        }
        let interval = config.evaluation_interval.as_secs_f64();
        let resend_delay = config.resend_delay.as_secs_f64();
        Engine {
            rules,
            slos,
            feeds,
            book: Book::default(),
            watching_since: now_nanos,
            resend_delay,
            // Prometheus: 4 x max(resend delay, evaluation interval).
            valid_for: 4.0 * resend_delay.max(interval),
            mismatches: BTreeMap::new(),
            last_burns: Vec::new(),
        }
    }

    /// Whether an encoded request holds a metric some rule or SLO reads, found by reading
    /// only the metric names on the wire: most batches can then pass without a decode.
    pub fn reads_any(&self, encoded: &[u8]) -> bool {
        let within = |buf: &'_ [u8], number: u32| -> Vec<std::ops::Range<usize>> {
            fields(buf)
                .flatten()
                .filter(|f| f.number == number && f.wire_type == 2)
                .map(|f| f.value)
                .collect()
        };
        within(encoded, 1).into_iter().any(|rm| {
            let rm = encoded.get(rm).unwrap_or_default();
            within(rm, 2).into_iter().any(|sm| {
                let sm = rm.get(sm).unwrap_or_default();
                within(sm, 2).into_iter().any(|m| {
                    let m = sm.get(m).unwrap_or_default();
                    within(m, 1).into_iter().any(|name| {
                        std::str::from_utf8(m.get(name).unwrap_or_default())
                            .is_ok_and(|name| self.feeds.contains_key(name))
                    })
                })
            })
        })
    }

    /// Takes in the points of every metric a rule or SLO reads; `now` in Unix seconds.
    pub fn ingest(&mut self, request: &ExportMetricsServiceRequest, now: f64) {
        for rm in &request.resource_metrics {
            let resource: &[KeyValue] = rm
                .resource
                .as_ref()
                .map(|r| r.attributes.as_slice())
                .unwrap_or_default();
            let (job, instance) = job_instance(resource);
            let resource_hash = hash_attributes(Fnv::new(), resource);
            for metric in rm.scope_metrics.iter().flat_map(|s| &s.metrics) {
                let Some(feeds) = self.feeds.get(&metric.name) else {
                    continue;
                };
                for &feed in feeds {
                    let (name, by, keep, part) = match feed {
                        Feed::Rule(i, j) => {
                            let r = &mut self.rules[i];
                            (&r.spec.alert, r.spec.by.as_slice(), r.keep, &mut r.parts[j])
                        }
                        Feed::Slo(i, j) => {
                            let s = &mut self.slos[i];
                            (&s.spec.name, &[][..], s.keep, &mut s.parts[j])
                        }
                    };
                    let source = (&job, &instance);
                    let ctx = Ctx {
                        by,
                        keep,
                        resource,
                        resource_hash,
                        source,
                        watching_since: self.watching_since,
                        now,
                    };
                    if let Err(unreadable) = ingest_metric(&ctx, metric, part) {
                        let message = unreadable.to_string();
                        let m = self.mismatches.entry(name.clone()).or_default();
                        if m.count == 0 {
                            tracing::warn!(rule = %name, metric = %metric.name, "{message}; the rule ignores these points (logged once, counted at /debug/alerts)");
                        }
                        m.message = message;
                        m.count += 1;
                    }
                }
            }
        }
    }

    /// Evaluates every rule and SLO at `now` (Unix seconds).
    pub fn evaluate(&mut self, now: f64) -> Evaluation {
        for (i, rule) in self.rules.iter_mut().enumerate() {
            let values = rule.evaluate(now);
            let spec = &rule.spec;
            let (Some(op), Some(threshold)) = (spec.op, spec.threshold) else {
                continue;
            };
            let observations = values
                .into_iter()
                .map(|(key, (value, source))| {
                    let labels = rule_labels(spec, &key, &source);
                    let annotations = spec
                        .annotations
                        .iter()
                        .map(|(k, t)| (k.clone(), render(t, value, &labels)))
                        .collect();
                    Observation {
                        breaching: op.holds(value, threshold),
                        key,
                        labels,
                        annotations,
                        value,
                    }
                })
                .collect();
            self.book
                .update(i, observations, spec.for_.as_secs_f64(), now);
        }
        self.last_burns.clear();
        let owners = self.rules.len();
        for (i, slo) in self.slos.iter_mut().enumerate() {
            let burn = slo.evaluate(now);
            for (j, (severity, hit)) in burn.burning.iter().enumerate() {
                let mut labels: BTreeMap<String, String> = slo.spec.labels.clone();
                labels.insert("alertname".into(), "SLOErrorBudgetBurn".into());
                labels.insert("slo".into(), slo.spec.name.clone());
                labels.insert("severity".into(), severity.to_string());
                let observations = hit
                    .map(|b| {
                        let summary = format!(
                            "SLO {} burns its error budget {}x over {} and {}x over {} (alert at {}x)",
                            slo.spec.name,
                            format_value(round(b.long_rate)),
                            seconds(b.long),
                            format_value(round(b.short_rate)),
                            seconds(b.short),
                            format_value(b.threshold)
                        );
                        Observation {
                            key: Vec::new(),
                            labels: labels.clone(),
                            annotations: BTreeMap::from([("summary".to_string(), summary)]),
                            value: b.long_rate,
                            breaching: true,
                        }
                    })
                    .into_iter()
                    .collect();
                self.book.update(owners + 2 * i + j, observations, 0.0, now);
            }
            self.last_burns.push((slo.spec.name.clone(), burn));
        }
        for rule in &mut self.rules {
            say_overflow("rule", &rule.spec.alert, &mut rule.parts);
        }
        for slo in &mut self.slos {
            say_overflow("slo", &slo.spec.name, &mut slo.parts);
        }
        Evaluation {
            notices: self.book.due(now, self.resend_delay, self.valid_for),
            metrics: self.metrics(now),
        }
    }

    /// Current alerts (pending, firing, and resolved ones still re-sent) and SLO figures,
    /// for `/debug/alerts`.
    pub fn report(&self) -> serde_json::Value {
        let slos: Vec<serde_json::Value> = self
            .last_burns
            .iter()
            .map(|(name, burn)| {
                serde_json::json!({
                    "slo": name,
                    "error_budget_remaining": burn.budget_remaining,
                    "burn_rates": burn.rates.iter().map(|(w, r)| serde_json::json!({"window": seconds(*w), "burn_rate": r})).collect::<Vec<_>>(),
                })
            })
            .collect();
        serde_json::json!({
            "alerts": self.book.all(),
            "slos": slos,
            "rule_errors": self.mismatches,
        })
    }

    /// `ALERTS{alertstate, ...}` = 1 for every pending and firing alert, as Prometheus
    /// writes it, plus `slo.error_budget.remaining` and `slo.burn_rate` per SLO.
    fn metrics(&self, now: f64) -> Option<ExportMetricsServiceRequest> {
        let time = (now * 1e9) as u64;
        let point = |attributes: Vec<KeyValue>, value: f64| NumberDataPoint {
            attributes,
            time_unix_nano: time,
            value: Some(number_data_point::Value::AsDouble(value)),
            ..Default::default()
        };
        let gauge =
            |name: &str, unit: &str, description: &str, data_points: Vec<NumberDataPoint>| Metric {
                name: name.into(),
                unit: unit.into(),
                description: description.into(),
                data: Some(metric::Data::Gauge(Gauge { data_points })),
                ..Default::default()
            };
        let mut metrics = Vec::new();
        let alerts: Vec<NumberDataPoint> = self
            .book
            .active()
            .into_iter()
            .map(|a| {
                let mut attributes: Vec<KeyValue> =
                    a.labels.iter().map(|(k, v)| string(k, v)).collect();
                let state = if a.state == State::Firing {
                    "firing"
                } else {
                    "pending"
                };
                attributes.push(string("alertstate", state));
                point(attributes, 1.0)
            })
            .collect();
        if !alerts.is_empty() {
            metrics.push(gauge(
                "ALERTS",
                "",
                "Pending and firing alerts of the slo processor.",
                alerts,
            ));
        }
        if !self.last_burns.is_empty() {
            let budgets = self
                .last_burns
                .iter()
                .map(|(name, b)| point(vec![string("slo", name)], b.budget_remaining))
                .collect();
            metrics.push(gauge(
                "slo.error_budget.remaining",
                "1",
                "Fraction of the SLO period's error budget left.",
                budgets,
            ));
            let rates = self
                .last_burns
                .iter()
                .flat_map(|(name, b)| {
                    b.rates.iter().map(move |(w, r)| {
                        point(
                            vec![string("slo", name), string("window", &seconds(*w))],
                            *r,
                        )
                    })
                })
                .collect();
            metrics.push(gauge(
                "slo.burn_rate",
                "1",
                "Error ratio over the window divided by the error budget.",
                rates,
            ));
        }
        let overflow: Vec<NumberDataPoint> = self
            .rules
            .iter()
            .map(|r| ("alertname", &r.spec.alert, &r.parts))
            .chain(self.slos.iter().map(|s| ("slo", &s.spec.name, &s.parts)))
            .flat_map(|(label, name, parts)| {
                let sum = |f: fn(&Part) -> u64| parts.iter().map(f).sum::<u64>();
                [
                    ("overflow_group", sum(|p| p.store.overflow_group_points)),
                    ("left_out", sum(|p| p.store.left_out_points)),
                ]
                .into_iter()
                .filter(|(_, n)| *n > 0)
                .map(move |(outcome, n)| NumberDataPoint {
                    start_time_unix_nano: self.watching_since,
                    ..point(
                        vec![string(label, name), string("outcome", outcome)],
                        n as f64,
                    )
                })
            })
            .collect();
        if !overflow.is_empty() {
            metrics.push(Metric {
                name: "slo.overflow.points".into(),
                unit: "{point}".into(),
                description: "Points of groups past max_groups, evaluated together in the overflow group (outcome overflow_group), and points of series past max_series, left out (outcome left_out).".into(),
                data: Some(metric::Data::Sum(Sum {
                    data_points: overflow,
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                    is_monotonic: true,
                })),
                ..Default::default()
            });
        }
        (!metrics.is_empty()).then(|| ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(Resource::default()),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(InstrumentationScope {
                        name: "llamacol/slo".into(),
                        version: env!("CARGO_PKG_VERSION").into(),
                        ..Default::default()
                    }),
                    metrics,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        })
    }
}

/// What the ingestion of one metric needs to know of its rule.
struct Ctx<'a> {
    by: &'a [String],
    keep: Keep,
    resource: &'a [KeyValue],
    /// The resource's attributes hashed once: where each point's series identity starts.
    resource_hash: Fnv,
    source: (&'a Option<String>, &'a Option<String>),
    watching_since: u64,
    now: f64,
}

/// A metric whose type a rule cannot read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
enum Unreadable {
    #[error("`rate`/`increase` (and SLI counts) need a counter, and this metric is a gauge")]
    GaugeNotCounter,
    #[error("this metric is a histogram: read it with `aggregate: quantile` (or a latency SLI)")]
    Histogram,
    #[error("exponential histograms are not supported yet; send explicit-bucket histograms")]
    Exponential,
    #[error("summaries are not supported; send a histogram")]
    Summary,
    #[error(
        "`aggregate: quantile` (and latency SLIs) need a histogram, and this metric is not one"
    )]
    NotHistogram,
}

fn ingest_metric(ctx: &Ctx, metric: &Metric, part: &mut Part) -> Result<(), Unreadable> {
    let record = |part: &mut Part, attrs: &[KeyValue], start: u64, reading: Reading| {
        if !part.selector.matches(attrs, ctx.resource) {
            return;
        }
        let group = ctx
            .by
            .iter()
            .fold(Fnv::new(), |h, k| h.value(find(k, attrs, ctx.resource)))
            .finish();
        let key = || {
            ctx.by
                .iter()
                .map(|k| lookup(k, attrs, ctx.resource).unwrap_or_default())
                .collect()
        };
        let id = hash_attributes(ctx.resource_hash, attrs).finish();
        part.store.record(
            group,
            key,
            id,
            ctx.source,
            ctx.keep,
            reading,
            start,
            ctx.watching_since,
            ctx.now,
        );
    };
    let number = |p: &NumberDataPoint| match p.value {
        // Flag 1: no recorded value (a staleness marker).
        _ if p.flags & 1 == 1 => None,
        Some(number_data_point::Value::AsDouble(v)) => Some(v),
        Some(number_data_point::Value::AsInt(v)) => Some(v as f64),
        None => None,
    };
    match (&metric.data, ctx.keep) {
        (Some(metric::Data::Gauge(g)), Keep::Value) => {
            for p in &g.data_points {
                if let Some(value) = number(p) {
                    record(
                        part,
                        &p.attributes,
                        0,
                        Reading::Number {
                            value,
                            sum: None,
                            monotonic: false,
                        },
                    );
                }
            }
        }
        (Some(metric::Data::Gauge(_)), Keep::Counter) => return Err(Unreadable::GaugeNotCounter),
        (Some(metric::Data::Sum(s)), Keep::Value | Keep::Counter) => {
            let delta = s.aggregation_temporality == DELTA;
            for p in &s.data_points {
                if let Some(value) = number(p) {
                    let reading = Reading::Number {
                        value,
                        sum: Some(delta),
                        monotonic: s.is_monotonic,
                    };
                    record(part, &p.attributes, p.start_time_unix_nano, reading);
                }
            }
        }
        (Some(metric::Data::Histogram(h)), Keep::Histogram) => {
            let delta = h.aggregation_temporality == DELTA;
            for p in &h.data_points {
                if p.flags & 1 == 1 || p.bucket_counts.len() != p.explicit_bounds.len() + 1 {
                    continue;
                }
                let reading = Reading::Histogram {
                    bounds: &p.explicit_bounds,
                    counts: &p.bucket_counts,
                    delta,
                };
                record(part, &p.attributes, p.start_time_unix_nano, reading);
            }
        }
        (Some(metric::Data::Histogram(_)), _) => return Err(Unreadable::Histogram),
        (Some(metric::Data::ExponentialHistogram(_)), _) => return Err(Unreadable::Exponential),
        (Some(metric::Data::Summary(_)), _) => return Err(Unreadable::Summary),
        (_, Keep::Histogram) => return Err(Unreadable::NotHistogram),
        (None, _) => {}
    }
    Ok(())
}

/// Logs once per store when a rule's or SLO's bounds are first reached.
fn say_overflow(kind: &str, name: &str, parts: &mut [Part]) {
    for part in parts {
        let store = &mut part.store;
        if store.overflow_said || store.overflow_group_points + store.left_out_points == 0 {
            continue;
        }
        store.overflow_said = true;
        tracing::warn!(
            kind,
            name,
            max_groups = store.limits.max_groups,
            max_series = store.limits.max_series,
            "slo: more groups or series than max_groups / max_series (or 16 MiB of group labels): further groups are evaluated together in one overflow group (alerts with otel_metric_overflow=\"true\"), further series are left out; counted in slo.overflow.points (logged once)"
        );
    }
}

/// An alert's labels: `alertname`, `severity`, the `by` attributes as label names, `job`
/// and `instance` of the group's single source, then the rule's own labels.
fn rule_labels(spec: &RuleSpec, key: &[String], source: &Origin) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    if let Origin::One(job, instance) = source {
        for (k, v) in [("job", job), ("instance", instance)] {
            if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
                labels.insert(k.to_string(), v.clone());
            }
        }
    }
    for (k, v) in spec.by.iter().zip(key) {
        if !v.is_empty() {
            labels.insert(label_name(k), v.clone());
        }
    }
    if is_overflow(key, &spec.by) {
        // The groups past `max_groups`, evaluated together (the OTel SDKs' convention).
        labels.insert("otel_metric_overflow".into(), "true".into());
    }
    if let Some(severity) = &spec.severity {
        labels.insert("severity".into(), severity.clone());
    }
    for (k, v) in &spec.labels {
        labels.insert(k.clone(), v.clone());
    }
    labels.insert("alertname".into(), spec.alert.clone());
    labels
}

/// A window as text: `5m`, `1h`, `30s`.
fn seconds(s: f64) -> String {
    humantime::format_duration(std::time::Duration::from_secs_f64(s.max(0.0)))
        .to_string()
        .replace(' ', "")
}

fn round(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}
