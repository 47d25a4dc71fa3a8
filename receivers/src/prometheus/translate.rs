//! One scrape's families to OTLP metrics, as the Collector's `prometheus` receiver
//! translates them: counters to monotonic cumulative sums, gauges and untyped samples to
//! gauges, histograms and summaries to their OTLP twins, `job`/`instance` to the resource.
//! A target's state between scrapes gives every cumulative series its start time (its
//! `_created` sample, else when it was first seen; a decrease is a reset, and the point
//! that shows it starts anew) and ends series that disappear (a point flagged "no
//! recorded value", which is how OTLP says stale).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};

use llamacol_api::otlp::common::v1::KeyValue;
use llamacol_api::otlp::metrics::v1::{
    exemplar, metric, number_data_point, summary_data_point::ValueAtQuantile,
    AggregationTemporality, Exemplar as OtlpExemplar, ExponentialHistogram,
    ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    Sum, Summary, SummaryDataPoint,
};

use super::parse::{Exemplar, Family, Kind, Native};
use super::relabel::{self, LabelSet, Rule};

mod native;

/// OTLP's `DataPointFlags.FLAG_NO_RECORDED_VALUE`.
const NO_RECORDED_VALUE: u32 = 1;

/// How the samples of one target become series (the scrape config's settings).
pub struct Options<'a> {
    pub honor_labels: bool,
    pub honor_timestamps: bool,
    pub metric_relabel: &'a [Rule],
    /// 0: no limit. More samples after metric relabeling fail the scrape.
    pub sample_limit: usize,
    /// 0: no limit. A series with more labels fails the scrape.
    pub label_limit: usize,
}

/// What one scrape gave.
#[derive(Debug, Default)]
pub struct Translated {
    /// Each metric with the (`job`, `instance`) its series carry: the target's, or with
    /// `honor_labels` the scraped ones (federation), one resource each.
    pub metrics: Vec<(Placement, Metric)>,
    pub samples_scraped: usize,
    pub samples_post_relabeling: usize,
    pub series_added: usize,
    /// Series left out, by reason (logged once per reason and counted by the scraper).
    pub dropped: Vec<(String, &'static str)>,
    /// The labels of `target_info` (less `job` and `instance`): resource attributes, as
    /// the Collector's receiver takes them; the series itself is not a metric.
    pub target_info: Vec<(ResourceKey, Attrs)>,
    /// The labels of `otel_scope_info` (less `job`, `instance` and the scope's own):
    /// attributes of that scope, as the Collector's receiver takes them.
    pub scope_info: Vec<(Placement, Attrs)>,
}

/// (`job`, `instance`): which resource a series belongs to.
pub type ResourceKey = (String, String);

/// The scope a series names with `otel_scope_name`, `otel_scope_version`,
/// `otel_scope_schema_url` and other `otel_scope_<key>` labels (attributes), as an
/// OpenTelemetry SDK's Prometheus exporter writes them; all empty: the receiver's own.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ScopeKey {
    pub name: String,
    pub version: String,
    pub schema_url: String,
    pub attributes: Attrs,
}

/// Where a series goes: its resource and its scope.
pub type Placement = (ResourceKey, ScopeKey);

#[derive(Debug)]
struct SeriesState {
    start_ns: u64,
    /// The last value (counters) or count (histograms, summaries), to see resets.
    last: f64,
    scrape: u64,
    /// The series' metric with one point, flagged, for its stale marker.
    stale: (Placement, Metric),
}

/// The series state of one target.
#[derive(Debug, Default)]
pub struct TargetState {
    /// By [`series_id`]: a 64-bit hash of name and labels, as Prometheus' scrape cache
    /// keys series, so a lookup copies no strings (two series colliding would share a
    /// start time; at 64 bits, not in practice).
    series: HashMap<u64, SeriesState>,
    scrape: u64,
}

pub type Attrs = Vec<(String, String)>;

enum Acc {
    Number {
        value: f64,
        time_ns: u64,
        created_ns: Option<u64>,
        exemplar: Option<Exemplar>,
    },
    Histogram {
        buckets: Vec<(f64, f64)>,
        sum: f64,
        count: Option<f64>,
        time_ns: u64,
        created_ns: Option<u64>,
        exemplars: Vec<Exemplar>,
    },
    Summary {
        quantiles: Vec<(f64, f64)>,
        sum: f64,
        count: f64,
        time_ns: u64,
        created_ns: Option<u64>,
    },
    Exponential {
        histogram: Native,
        time_ns: u64,
        created_ns: Option<u64>,
        exemplars: Vec<Exemplar>,
    },
}

/// A family's series in the order first seen, found by a hash of their labels, so that
/// the many samples of one series (a histogram's buckets) neither copy nor compare label
/// strings to find it.
#[derive(Default)]
struct SeriesMap {
    index: HashMap<u64, usize>,
    entries: Vec<(Attrs, Acc)>,
}

impl SeriesMap {
    /// The series of `labels` less `own` (`le`, `quantile`), made by `make` when new.
    fn slot(&mut self, labels: LabelSet, own: &[&str], make: impl FnOnce() -> Acc) -> &mut Acc {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        for (k, v) in labels.iter().filter(|(k, _)| !own.contains(&k.as_str())) {
            k.hash(&mut h);
            v.hash(&mut h);
        }
        let i = *self.index.entry(h.finish()).or_insert_with(|| {
            self.entries.push((attributes(labels, own), make()));
            self.entries.len() - 1
        });
        &mut self.entries[i].1
    }
}

struct Pending {
    name: String,
    kind: Kind,
    help: String,
    unit: String,
    series: SeriesMap,
    /// Native histograms: an OTLP exponential histogram.
    native: bool,
}

impl TargetState {
    /// Translates one scrape taken at `now_ns`; `Err` (with the reason) when a limit
    /// fails the whole scrape, as Prometheus fails it.
    pub fn translate(
        &mut self,
        families: Vec<Family>,
        target: &LabelSet,
        options: &Options<'_>,
        now_ns: u64,
    ) -> Result<Translated, String> {
        self.scrape += 1;
        let mut out = Translated::default();
        let mut pending: Vec<Pending> = Vec::new();
        let mut seen: HashSet<u64> = HashSet::new();
        for family in families {
            let mut p = Pending {
                name: family.name.clone(),
                kind: family.kind,
                help: family.help.clone(),
                unit: family.unit.clone(),
                series: SeriesMap::default(),
                native: false,
            };
            let mut loose: Vec<Pending> = Vec::new();
            for sample in family.samples {
                let Some(mut labels) = series_labels(
                    &sample.labels,
                    &sample.name,
                    target,
                    options,
                    &mut seen,
                    &mut out,
                )?
                else {
                    continue;
                };
                let name = labels.remove("__name__").unwrap_or_default();
                if name == "target_info" {
                    let ((resource, _), attrs) = split_placement(attributes(labels, &[]));
                    out.target_info.push((resource, attrs));
                    continue;
                }
                if name == "otel_scope_info" {
                    let (placement, attrs) = split_placement(attributes(labels, &[]));
                    out.scope_info.push((placement, attrs));
                    continue;
                }
                let time_ns = match (options.honor_timestamps, sample.timestamp_ms) {
                    (true, Some(ms)) => (ms.max(0) as u64) * 1_000_000,
                    _ => now_ns,
                };
                let suffix = name.strip_prefix(family.name.as_str());
                let grouped =
                    matches!(family.kind, Kind::Histogram | Kind::Summary | Kind::Counter);
                match (grouped, suffix) {
                    (true, Some(suffix))
                        if suffix.is_empty() || family_suffix(family.kind, suffix) =>
                    {
                        if family.kind == Kind::Counter && suffix != "_created" {
                            // A 0.0.4 counter's samples are named like its family; an
                            // OpenMetrics one's add `_total`: the series keeps its name.
                            p.name.clone_from(&name);
                        }
                        add(
                            &mut p,
                            suffix,
                            labels,
                            sample.value,
                            time_ns,
                            sample.exemplar,
                            sample.created_ns,
                        );
                    }
                    _ => {
                        // A gauge, an untyped sample, or one relabeling renamed: its own gauge.
                        let mut own = Pending {
                            name: name.clone(),
                            kind: Kind::Gauge,
                            help: family.help.clone(),
                            unit: family.unit.clone(),
                            series: SeriesMap::default(),
                            native: false,
                        };
                        let target = if name == family.name {
                            &mut p
                        } else {
                            &mut own
                        };
                        *target.series.slot(labels, &[], || Acc::Number {
                            value: 0.0,
                            time_ns,
                            created_ns: None,
                            exemplar: None,
                        }) = Acc::Number {
                            value: sample.value,
                            time_ns,
                            created_ns: None,
                            exemplar: sample.exemplar,
                        };
                        if name != family.name {
                            loose.push(own);
                        }
                    }
                }
            }
            let mut native = Pending {
                name: family.name.clone(),
                kind: family.kind,
                help: family.help.clone(),
                unit: family.unit.clone(),
                series: SeriesMap::default(),
                native: true,
            };
            for n in family.native {
                let Some(mut labels) = series_labels(
                    &n.labels,
                    &family.name,
                    target,
                    options,
                    &mut seen,
                    &mut out,
                )?
                else {
                    continue;
                };
                if let Some(reason) = native::unsupported(&n.histogram) {
                    out.dropped.push((family.name.clone(), reason));
                    continue;
                }
                labels.remove("__name__");
                let time_ns = match (options.honor_timestamps, n.timestamp_ms) {
                    (true, Some(ms)) => (ms.max(0) as u64) * 1_000_000,
                    _ => now_ns,
                };
                let acc = Acc::Exponential {
                    histogram: n.histogram,
                    time_ns,
                    created_ns: n.created_ns,
                    exemplars: n.exemplars,
                };
                // New: a series given twice was left out above.
                native.series.slot(labels, &[], move || acc);
            }
            pending.push(p);
            pending.extend(loose);
            if !native.series.entries.is_empty() {
                pending.push(native);
            }
        }
        if options.sample_limit > 0 && out.samples_post_relabeling > options.sample_limit {
            return Err(format!(
                "{} samples after metric relabeling, over sample_limit {}",
                out.samples_post_relabeling, options.sample_limit
            ));
        }
        for p in pending {
            let metrics = self.finish(p, &mut out);
            out.metrics.extend(metrics);
        }
        Ok(out)
    }

    /// Stale markers, at `now_ns`, for every series not in the last scrape (all of them
    /// when the target is down), which are then forgotten.
    pub fn stale(&mut self, now_ns: u64, target_down: bool) -> Vec<(Placement, Metric)> {
        let current = self.scrape;
        let mut out = Vec::new();
        self.series.retain(|_, s| {
            if !target_down && s.scrape == current {
                return true;
            }
            let (resource, mut m) = s.stale.clone();
            set_time(&mut m, now_ns);
            out.push((resource, m));
            false
        });
        out
    }

    fn finish(&mut self, p: Pending, out: &mut Translated) -> Vec<(Placement, Metric)> {
        let mut points = Vec::new();
        let name = p.name.clone();
        let counter = p.kind == Kind::Counter;
        let data = match p.kind {
            _ if p.native => metric::Data::ExponentialHistogram(ExponentialHistogram {
                data_points: Vec::new(),
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
            }),
            Kind::Counter => metric::Data::Sum(Sum {
                data_points: Vec::new(),
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
                is_monotonic: true,
            }),
            Kind::Histogram => metric::Data::Histogram(Histogram {
                data_points: Vec::new(),
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
            }),
            Kind::Summary => metric::Data::Summary(Summary::default()),
            _ => metric::Data::Gauge(Gauge::default()),
        };
        for (attrs, acc) in p.series.entries {
            let key = series_id(&name, &attrs);
            let (resource, own) = split_placement(attrs);
            let attributes: Vec<KeyValue> = own.into_iter().map(|(k, v)| kv(k, v)).collect();
            match acc {
                Acc::Number {
                    value,
                    time_ns,
                    created_ns,
                    exemplar,
                } => {
                    // Gauges are tracked too, for their stale markers; only sums start.
                    let start = self.start(key, value, time_ns, created_ns, out);
                    let start = if counter { start } else { 0 };
                    points.push((
                        key,
                        resource.clone(),
                        Point::Number(NumberDataPoint {
                            attributes,
                            start_time_unix_nano: start,
                            time_unix_nano: time_ns,
                            value: Some(number_data_point::Value::AsDouble(value)),
                            exemplars: exemplar.iter().map(otlp_exemplar).collect(),
                            flags: 0,
                        }),
                    ));
                }
                Acc::Histogram {
                    mut buckets,
                    sum,
                    count,
                    time_ns,
                    created_ns,
                    exemplars,
                } => {
                    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
                    if buckets.last().map(|b| b.0) != Some(f64::INFINITY) {
                        out.dropped
                            .push((name.clone(), "histogram without a `+Inf` bucket"));
                        continue;
                    }
                    if buckets.windows(2).any(|w| w[1].1 < w[0].1) {
                        out.dropped
                            .push((name.clone(), "histogram buckets that decrease"));
                        continue;
                    }
                    let total = count.unwrap_or(buckets[buckets.len() - 1].1);
                    let start = self.start(key, total, time_ns, created_ns, out);
                    let mut previous = 0.0;
                    let bucket_counts = buckets
                        .iter()
                        .map(|(_, c)| {
                            let n = (c - previous).max(0.0) as u64;
                            previous = *c;
                            n
                        })
                        .collect();
                    points.push((
                        key,
                        resource.clone(),
                        Point::Histogram(HistogramDataPoint {
                            attributes,
                            start_time_unix_nano: start,
                            time_unix_nano: time_ns,
                            count: total as u64,
                            sum: Some(sum),
                            bucket_counts,
                            explicit_bounds: buckets[..buckets.len() - 1]
                                .iter()
                                .map(|b| b.0)
                                .collect(),
                            exemplars: exemplars.iter().map(otlp_exemplar).collect(),
                            ..HistogramDataPoint::default()
                        }),
                    ));
                }
                Acc::Exponential {
                    histogram,
                    time_ns,
                    created_ns,
                    exemplars,
                } => {
                    let start = self.start(key, histogram.count, time_ns, created_ns, out);
                    points.push((
                        key,
                        resource.clone(),
                        Point::Exponential(native::point(
                            &histogram,
                            attributes,
                            start,
                            time_ns,
                            exemplars.iter().map(otlp_exemplar).collect(),
                        )),
                    ));
                }
                Acc::Summary {
                    mut quantiles,
                    sum,
                    count,
                    time_ns,
                    created_ns,
                } => {
                    quantiles.sort_by(|a, b| a.0.total_cmp(&b.0));
                    let start = self.start(key, count, time_ns, created_ns, out);
                    points.push((
                        key,
                        resource.clone(),
                        Point::Summary(SummaryDataPoint {
                            attributes,
                            start_time_unix_nano: start,
                            time_unix_nano: time_ns,
                            count: count as u64,
                            sum,
                            quantile_values: quantiles
                                .into_iter()
                                .map(|(quantile, value)| ValueAtQuantile { quantile, value })
                                .collect(),
                            flags: 0,
                        }),
                    ));
                }
            }
        }
        let template = Metric {
            name,
            description: p.help,
            unit: p.unit,
            ..Metric::default()
        };
        let mut by_resource: BTreeMap<Placement, metric::Data> = BTreeMap::new();
        for (key, resource, point) in points {
            // The stale marker is made once, when the series is first seen.
            if let Some(state) = self
                .series
                .get_mut(&key)
                .filter(|s| s.stale.1.data.is_none())
            {
                let mut stale = template.clone();
                stale.data = Some(point.stale_data(&data));
                state.stale = (resource.clone(), stale);
            }
            point.push_into(
                by_resource
                    .entry(resource)
                    .or_insert_with(|| empty_like(&data)),
            );
        }
        by_resource
            .into_iter()
            .map(|(resource, data)| {
                (
                    resource,
                    Metric {
                        data: Some(data),
                        ..template.clone()
                    },
                )
            })
            .collect()
    }

    /// The start time of a cumulative series' point, recording the series as seen.
    fn start(
        &mut self,
        key: u64,
        value: f64,
        time_ns: u64,
        created_ns: Option<u64>,
        out: &mut Translated,
    ) -> u64 {
        let scrape = self.scrape;
        match self.series.get_mut(&key) {
            Some(s) => {
                if let Some(created) = created_ns {
                    s.start_ns = created;
                } else if value < s.last {
                    s.start_ns = time_ns;
                }
                s.last = value;
                s.scrape = scrape;
                s.start_ns
            }
            None => {
                out.series_added += 1;
                let start_ns = created_ns.unwrap_or(time_ns);
                self.series.insert(
                    key,
                    SeriesState {
                        start_ns,
                        last: value,
                        scrape,
                        stale: (Placement::default(), Metric::default()),
                    },
                );
                start_ns
            }
        }
    }
}

enum Point {
    Number(NumberDataPoint),
    Histogram(HistogramDataPoint),
    Summary(SummaryDataPoint),
    Exponential(ExponentialHistogramDataPoint),
}

impl Point {
    /// The same series with no recorded value, in a copy of `data`'s shape.
    fn stale_data(&self, data: &metric::Data) -> metric::Data {
        let mut data = empty_like(data);
        match self {
            Point::Number(p) => Point::Number(NumberDataPoint {
                attributes: p.attributes.clone(),
                start_time_unix_nano: p.start_time_unix_nano,
                flags: NO_RECORDED_VALUE,
                ..NumberDataPoint::default()
            }),
            Point::Histogram(p) => Point::Histogram(HistogramDataPoint {
                attributes: p.attributes.clone(),
                start_time_unix_nano: p.start_time_unix_nano,
                flags: NO_RECORDED_VALUE,
                ..HistogramDataPoint::default()
            }),
            Point::Summary(p) => Point::Summary(SummaryDataPoint {
                attributes: p.attributes.clone(),
                start_time_unix_nano: p.start_time_unix_nano,
                flags: NO_RECORDED_VALUE,
                ..SummaryDataPoint::default()
            }),
            Point::Exponential(p) => Point::Exponential(ExponentialHistogramDataPoint {
                attributes: p.attributes.clone(),
                start_time_unix_nano: p.start_time_unix_nano,
                flags: NO_RECORDED_VALUE,
                ..ExponentialHistogramDataPoint::default()
            }),
        }
        .push_into(&mut data);
        data
    }

    fn push_into(self, data: &mut metric::Data) {
        match (self, data) {
            (Point::Number(p), metric::Data::Sum(s)) => s.data_points.push(p),
            (Point::Number(p), metric::Data::Gauge(g)) => g.data_points.push(p),
            (Point::Histogram(p), metric::Data::Histogram(h)) => h.data_points.push(p),
            (Point::Summary(p), metric::Data::Summary(s)) => s.data_points.push(p),
            (Point::Exponential(p), metric::Data::ExponentialHistogram(h)) => h.data_points.push(p),
            // A point always goes into the data made for its family's kind.
            _ => {}
        }
    }
}

fn empty_like(data: &metric::Data) -> metric::Data {
    match data {
        metric::Data::Sum(s) => metric::Data::Sum(Sum {
            data_points: Vec::new(),
            ..s.clone()
        }),
        metric::Data::Histogram(h) => metric::Data::Histogram(Histogram {
            data_points: Vec::new(),
            aggregation_temporality: h.aggregation_temporality,
        }),
        metric::Data::Summary(_) => metric::Data::Summary(Summary::default()),
        metric::Data::ExponentialHistogram(h) => {
            metric::Data::ExponentialHistogram(ExponentialHistogram {
                data_points: Vec::new(),
                aggregation_temporality: h.aggregation_temporality,
            })
        }
        _ => metric::Data::Gauge(Gauge::default()),
    }
}

fn set_time(m: &mut Metric, now_ns: u64) {
    match &mut m.data {
        Some(metric::Data::Sum(s)) => s
            .data_points
            .iter_mut()
            .for_each(|p| p.time_unix_nano = now_ns),
        Some(metric::Data::Gauge(g)) => g
            .data_points
            .iter_mut()
            .for_each(|p| p.time_unix_nano = now_ns),
        Some(metric::Data::Histogram(h)) => h
            .data_points
            .iter_mut()
            .for_each(|p| p.time_unix_nano = now_ns),
        Some(metric::Data::Summary(s)) => s
            .data_points
            .iter_mut()
            .for_each(|p| p.time_unix_nano = now_ns),
        Some(metric::Data::ExponentialHistogram(h)) => h
            .data_points
            .iter_mut()
            .for_each(|p| p.time_unix_nano = now_ns),
        _ => {}
    }
}

fn family_suffix(kind: Kind, suffix: &str) -> bool {
    match kind {
        Kind::Counter => matches!(suffix, "_total" | "_created"),
        Kind::Histogram => matches!(suffix, "_bucket" | "_sum" | "_count" | "_created"),
        Kind::Summary => matches!(suffix, "_sum" | "_count" | "_created"),
        _ => false,
    }
}

/// One sample of a counter, histogram or summary family into its series.
fn add(
    p: &mut Pending,
    suffix: &str,
    labels: LabelSet,
    value: f64,
    time_ns: u64,
    exemplar: Option<Exemplar>,
    created_ns: Option<u64>,
) {
    let special = match (p.kind, suffix) {
        (Kind::Histogram, "_bucket") => labels.get("le").cloned(),
        (Kind::Summary, "") => labels.get("quantile").cloned(),
        _ => None,
    };
    let created = |v: f64| Some((v.max(0.0) * 1e9) as u64);
    let given = created_ns;
    let acc = p.series.slot(labels, &["le", "quantile"], || match p.kind {
        Kind::Histogram => Acc::Histogram {
            buckets: Vec::new(),
            sum: 0.0,
            count: None,
            time_ns,
            created_ns: None,
            exemplars: Vec::new(),
        },
        Kind::Summary => Acc::Summary {
            quantiles: Vec::new(),
            sum: 0.0,
            count: 0.0,
            time_ns,
            created_ns: None,
        },
        _ => Acc::Number {
            value: 0.0,
            time_ns,
            created_ns: None,
            exemplar: None,
        },
    });
    // The protobuf format carries the created time on the value itself.
    if let Some(ns) = given {
        match acc {
            Acc::Number { created_ns, .. }
            | Acc::Histogram { created_ns, .. }
            | Acc::Summary { created_ns, .. }
            | Acc::Exponential { created_ns, .. } => *created_ns = Some(ns),
        }
    }
    match (acc, suffix) {
        (Acc::Number { created_ns, .. }, "_created")
        | (Acc::Histogram { created_ns, .. }, "_created")
        | (Acc::Summary { created_ns, .. }, "_created") => *created_ns = created(value),
        (
            Acc::Number {
                value: v,
                time_ns: t,
                exemplar: e,
                ..
            },
            _,
        ) => {
            *v = value;
            *t = time_ns;
            *e = exemplar;
        }
        (
            Acc::Histogram {
                buckets, exemplars, ..
            },
            "_bucket",
        ) => {
            if let Some(le) = special
                .as_deref()
                .and_then(|le| le.parse::<f64>().ok().or_else(|| le_special(le)))
            {
                buckets.push((le, value));
            }
            exemplars.extend(exemplar);
        }
        (Acc::Histogram { sum, .. }, "_sum") | (Acc::Summary { sum, .. }, "_sum") => *sum = value,
        (Acc::Histogram { count, .. }, "_count") => *count = Some(value),
        (Acc::Summary { count, .. }, "_count") => *count = value,
        (Acc::Summary { quantiles, .. }, "") => {
            if let Some(q) = special.as_deref().and_then(|q| q.parse::<f64>().ok()) {
                quantiles.push((q, value));
            }
        }
        _ => {}
    }
}

fn le_special(text: &str) -> Option<f64> {
    match text {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        _ => None,
    }
}

/// A series' identity in [`TargetState`]: its name and labels, hashed.
fn series_id(name: &str, attrs: &Attrs) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    name.hash(&mut h);
    attrs.hash(&mut h);
    h.finish()
}

/// A label set's hash, to notice a series given twice.
fn identity(labels: &LabelSet) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    labels.hash(&mut h);
    h.finish()
}

/// A sample's labels (empty values dropped) with `__name__`, the target's labels merged in
/// and metric relabeling applied, counted in `out`; `None` when relabeling drops the
/// sample or its series was already given in this body (the first sample counts, as in
/// Prometheus: its "duplicate sample for timestamp"); `Err` past `label_limit`, which
/// fails the scrape.
fn series_labels(
    raw: &[(String, String)],
    name: &str,
    target: &LabelSet,
    options: &Options<'_>,
    seen: &mut HashSet<u64>,
    out: &mut Translated,
) -> Result<Option<LabelSet>, String> {
    out.samples_scraped += 1;
    let mut labels: LabelSet = raw.iter().filter(|(_, v)| !v.is_empty()).cloned().collect();
    labels.insert("__name__".into(), name.to_string());
    merge_target(&mut labels, target, options.honor_labels);
    if !relabel::process(options.metric_relabel, &mut labels) {
        return Ok(None);
    }
    out.samples_post_relabeling += 1;
    if !seen.insert(identity(&labels)) {
        out.dropped.push((
            labels.get("__name__").cloned().unwrap_or_default(),
            "the same series twice in one scrape",
        ));
        return Ok(None);
    }
    if options.label_limit > 0 && labels.len() - 1 > options.label_limit {
        return Err(format!(
            "a series has {} labels, over label_limit {}",
            labels.len() - 1,
            options.label_limit
        ));
    }
    Ok(Some(labels))
}

/// Target labels onto a sample's: with `honor_labels` the sample's own win; otherwise the
/// target's win and a clashing scraped label is kept as `exported_<name>`.
fn merge_target(labels: &mut LabelSet, target: &LabelSet, honor_labels: bool) {
    for (k, v) in target {
        match labels.get(k) {
            None => {
                labels.insert(k.clone(), v.clone());
            }
            Some(_) if honor_labels => {}
            Some(existing) if existing == v => {}
            Some(_) => {
                let scraped = labels.remove(k).unwrap_or_default();
                labels.insert(format!("exported_{k}"), scraped);
                labels.insert(k.clone(), v.clone());
            }
        }
    }
}

/// A series' labels less the family's own (`le`, `quantile`); `job` and `instance` stay
/// until [`split_placement`].
fn attributes(labels: LabelSet, own: &[&str]) -> Attrs {
    labels
        .into_iter()
        .filter(|(k, _)| !own.contains(&k.as_str()))
        .collect()
}

/// `job` and `instance` (the resource) apart from the point's own attributes.
fn split_placement(attrs: Attrs) -> (Placement, Attrs) {
    let (mut resource, mut scope) = (ResourceKey::default(), ScopeKey::default());
    let own = attrs
        .into_iter()
        .filter_map(|(k, v)| {
            match k.as_str() {
                "job" => resource.0 = v,
                "instance" => resource.1 = v,
                "otel_scope_name" => scope.name = v,
                "otel_scope_version" => scope.version = v,
                "otel_scope_schema_url" => scope.schema_url = v,
                _ => match k.strip_prefix("otel_scope_") {
                    Some(key) => scope.attributes.push((key.to_string(), v)),
                    None => return Some((k, v)),
                },
            }
            None
        })
        .collect();
    ((resource, scope), own)
}

/// The label's own strings moved into the attribute, not copied (two allocations less
/// per label of every point).
fn kv(key: String, value: String) -> KeyValue {
    KeyValue {
        key,
        value: Some(llamacol_api::otlp::common::v1::AnyValue {
            value: Some(llamacol_api::otlp::common::v1::any_value::Value::StringValue(value)),
        }),
        ..KeyValue::default()
    }
}

/// `trace_id` / `span_id` labels become the exemplar's ids; the rest stay attributes.
fn otlp_exemplar(e: &Exemplar) -> OtlpExemplar {
    let mut out = OtlpExemplar {
        time_unix_nano: e.timestamp_s.map_or(0, |s| (s.max(0.0) * 1e9) as u64),
        value: Some(exemplar::Value::AsDouble(e.value)),
        ..OtlpExemplar::default()
    };
    for (k, v) in &e.labels {
        match (k.as_str(), hex_bytes(v)) {
            ("trace_id", Some(b)) if b.len() == 16 => out.trace_id = b,
            ("span_id", Some(b)) if b.len() == 8 => out.span_id = b,
            _ => out.filtered_attributes.push(kv(k.clone(), v.clone())),
        }
    }
    out
}

fn hex_bytes(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests;
