//! The table as one OTLP metrics request, as the Collector's spanmetrics builds it:
//! per resource (its attributes as seen), `{namespace}.calls` (monotonic sum),
//! `{namespace}.duration` (histogram in `ms` or `s`) and `{namespace}.events`.

use llamacol_api::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use llamacol_api::otlp::common::v1::InstrumentationScope;
use llamacol_api::otlp::metrics::v1::{
    exemplar, exponential_histogram_data_point::Buckets, metric, number_data_point,
    AggregationTemporality, Exemplar as OtlpExemplar, ExponentialHistogram,
    ExponentialHistogramDataPoint, Histogram as OtlpHistogram, HistogramDataPoint, Metric,
    NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use llamacol_api::otlp::resource::v1::Resource as OtlpResource;

use super::config::SpanMetricsConfig;
use super::table::{Aggregate, Exemplar, Histogram, Resources, Series, SeriesMap};

/// When each series' next point starts: the series' start (cumulative), or the time of
/// its previous flush (delta).
pub trait StartTimes {
    fn start(&mut self, resource: Option<&String>, metric: &str, key: &str, series: &Series)
        -> u64;
}

pub fn request(
    config: &SpanMetricsConfig,
    resources: &mut Resources,
    bounds: &[f64],
    now: u64,
    starts: &mut dyn StartTimes,
) -> ExportMetricsServiceRequest {
    let temporality = if config.delta() {
        AggregationTemporality::Delta
    } else {
        AggregationTemporality::Cumulative
    } as i32;
    let name = |n: &str| {
        if config.namespace.is_empty() {
            n.to_string()
        } else {
            format!("{}.{n}", config.namespace)
        }
    };
    let mut out = Vec::new();
    let evicted = std::mem::take(&mut resources.evicted);
    let all = resources
        .live
        .iter()
        .map(|(k, r)| (Some(k), r))
        .chain(evicted.iter().map(|r| (None, r)));
    // The names, once for every resource.
    let (calls, duration, events) = (name("calls"), name("duration"), name("events"));
    let unit = config.histogram.unit.name();
    for (key, resource) in all {
        let metrics: Vec<Metric> = [
            sums(&calls, &resource.calls, key, temporality, now, starts),
            (!config.histogram.disable)
                .then(|| {
                    histograms(
                        &duration,
                        unit,
                        &resource.durations,
                        key,
                        bounds,
                        temporality,
                        now,
                        starts,
                    )
                })
                .flatten(),
            config
                .events
                .enabled
                .then(|| sums(&events, &resource.events, key, temporality, now, starts))
                .flatten(),
        ]
        .into_iter()
        .flatten()
        .collect();
        if metrics.is_empty() {
            continue;
        }
        out.push(ResourceMetrics {
            resource: Some(OtlpResource {
                attributes: resource.attributes.clone(),
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: "llamacol/span_metrics".into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    ..Default::default()
                }),
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        });
    }
    // A cumulative sum's first point (0) is behind it now.
    for resource in resources.live.values_mut() {
        for series in resource
            .calls
            .series
            .values_mut()
            .chain(resource.events.series.values_mut())
        {
            series.first = false;
        }
    }
    ExportMetricsServiceRequest {
        resource_metrics: out,
    }
}

fn exemplars(list: &[Exemplar], now: u64) -> Vec<OtlpExemplar> {
    list.iter()
        .map(|e| OtlpExemplar {
            time_unix_nano: now,
            trace_id: e.trace_id.clone(),
            span_id: e.span_id.clone(),
            value: Some(exemplar::Value::AsDouble(e.value)),
            ..Default::default()
        })
        .collect()
}

fn sums(
    name: &str,
    map: &SeriesMap,
    resource: Option<&String>,
    temporality: i32,
    now: u64,
    starts: &mut dyn StartTimes,
) -> Option<Metric> {
    if map.series.is_empty() {
        return None;
    }
    let cumulative = temporality == AggregationTemporality::Cumulative as i32;
    let data_points = map
        .series
        .iter()
        .map(|(key, s)| {
            let count = match s.value {
                Aggregate::Count(n) => n,
                Aggregate::Histogram(_) => 0,
            };
            NumberDataPoint {
                attributes: s.attributes.clone(),
                start_time_unix_nano: starts.start(resource, name, key, s),
                time_unix_nano: now,
                value: Some(number_data_point::Value::AsInt(if cumulative && s.first {
                    0
                } else {
                    count as i64
                })),
                exemplars: exemplars(&s.exemplars, now),
                ..Default::default()
            }
        })
        .collect();
    Some(Metric {
        name: name.into(),
        data: Some(metric::Data::Sum(Sum {
            data_points,
            aggregation_temporality: temporality,
            is_monotonic: true,
        })),
        ..Default::default()
    })
}

#[allow(clippy::too_many_arguments)]
fn histograms(
    name: &str,
    unit: &str,
    map: &SeriesMap,
    resource: Option<&String>,
    bounds: &[f64],
    temporality: i32,
    now: u64,
    starts: &mut dyn StartTimes,
) -> Option<Metric> {
    if map.series.is_empty() {
        return None;
    }
    let mut explicit = Vec::new();
    let mut exponential = Vec::new();
    for (key, s) in &map.series {
        let start = starts.start(resource, name, key, s);
        match &s.value {
            Aggregate::Histogram(Histogram::Explicit { counts, count, sum }) => {
                explicit.push(HistogramDataPoint {
                    attributes: s.attributes.clone(),
                    start_time_unix_nano: start,
                    time_unix_nano: now,
                    count: *count,
                    sum: Some(*sum),
                    bucket_counts: counts.clone(),
                    explicit_bounds: bounds.to_vec(),
                    exemplars: exemplars(&s.exemplars, now),
                    ..Default::default()
                })
            }
            Aggregate::Histogram(Histogram::Exponential(h)) => {
                exponential.push(ExponentialHistogramDataPoint {
                    attributes: s.attributes.clone(),
                    start_time_unix_nano: start,
                    time_unix_nano: now,
                    count: h.count,
                    sum: Some(h.sum),
                    scale: h.scale,
                    zero_count: h.zero_count,
                    positive: Some(Buckets {
                        offset: h.offset,
                        bucket_counts: h.counts.clone(),
                    }),
                    negative: Some(Buckets::default()),
                    min: (h.count > 0).then_some(h.min),
                    max: (h.count > 0).then_some(h.max),
                    exemplars: exemplars(&s.exemplars, now),
                    ..Default::default()
                })
            }
            Aggregate::Count(_) => {}
        }
    }
    let data = if exponential.is_empty() {
        metric::Data::Histogram(OtlpHistogram {
            data_points: explicit,
            aggregation_temporality: temporality,
        })
    } else {
        metric::Data::ExponentialHistogram(ExponentialHistogram {
            data_points: exponential,
            aggregation_temporality: temporality,
        })
    };
    Some(Metric {
        name: name.into(),
        unit: unit.into(),
        data: Some(data),
        ..Default::default()
    })
}
