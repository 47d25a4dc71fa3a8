//! Metrics over the ring, by the Collector's metric routing keys: `service` (the
//! resource's `service.name`, its default) and `resource` (every resource attribute) keep
//! a resource block whole; `metric` sends each metric (by name) to its owner; `streamID`
//! sends each data point by its stream (resource, scope, metric name and the point's
//! attributes), so one stream's points always reach the same backend.

use std::collections::BTreeMap;

use llamacol_api::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use llamacol_api::otlp::common::v1::{InstrumentationScope, KeyValue};
use llamacol_api::otlp::metrics::v1::{metric, Metric, ResourceMetrics, ScopeMetrics};
use llamacol_api::otlp::resource::v1::Resource;

use super::config::RoutingKey;
use super::ring::hash;

/// `request` split into one request per owner (`owners` of them; empty ones included),
/// `owner` mapping a key hash to its backend.
pub fn split(
    request: ExportMetricsServiceRequest,
    key: RoutingKey,
    owners: usize,
    owner: impl Fn(u64) -> usize,
) -> Vec<ExportMetricsServiceRequest> {
    let mut out = vec![ExportMetricsServiceRequest::default(); owners];
    for rm in request.resource_metrics {
        match key {
            RoutingKey::Resource => {
                let o = owner(hash(attributes_key(resource_attributes(&rm)).as_bytes()));
                out[o].resource_metrics.push(rm);
            }
            RoutingKey::Metric | RoutingKey::StreamId => {
                for (o, piece) in by_metric_or_stream(rm, key, &owner) {
                    out[o].resource_metrics.push(piece);
                }
            }
            // `service` (and `traceID`, refused for metrics at build).
            RoutingKey::Service | RoutingKey::TraceId => {
                let service = service_name(resource_attributes(&rm));
                out[owner(hash(service.as_bytes()))]
                    .resource_metrics
                    .push(rm);
            }
        }
    }
    out
}

/// One resource block cut per owner, each with the scopes and metrics (or points) it owns.
fn by_metric_or_stream(
    rm: ResourceMetrics,
    key: RoutingKey,
    owner: &impl Fn(u64) -> usize,
) -> BTreeMap<usize, ResourceMetrics> {
    let resource_key = attributes_key(resource_attributes(&rm));
    let mut pieces: BTreeMap<usize, ResourceMetrics> = BTreeMap::new();
    let shell = |rm: &ResourceMetrics| ResourceMetrics {
        resource: rm.resource.clone(),
        schema_url: rm.schema_url.clone(),
        scope_metrics: Vec::new(),
    };
    let mut scope_pieces: Vec<BTreeMap<usize, ScopeMetrics>> = Vec::new();
    for sm in &rm.scope_metrics {
        let mut per: BTreeMap<usize, ScopeMetrics> = BTreeMap::new();
        let scope_key = scope_key(sm.scope.as_ref());
        for m in &sm.metrics {
            let cut: Vec<(usize, Metric)> = match key {
                RoutingKey::Metric => vec![(owner(hash(m.name.as_bytes())), m.clone())],
                _ => {
                    // The stream key: what is the same for every point, then its attributes.
                    let prefix = format!("{resource_key}|{scope_key}|{}|", m.name);
                    by_stream(m, |point_attributes| {
                        let mut key = prefix.clone();
                        key.push_str(&attributes_key(point_attributes));
                        owner(hash(key.as_bytes()))
                    })
                }
            };
            for (o, piece) in cut {
                per.entry(o)
                    .or_insert_with(|| ScopeMetrics {
                        scope: sm.scope.clone(),
                        schema_url: sm.schema_url.clone(),
                        metrics: Vec::new(),
                    })
                    .metrics
                    .push(piece);
            }
        }
        scope_pieces.push(per);
    }
    for per in scope_pieces {
        for (o, scope) in per {
            pieces
                .entry(o)
                .or_insert_with(|| shell(&rm))
                .scope_metrics
                .push(scope);
        }
    }
    pieces
}

/// `m` cut into one metric per owner of its points (`owner` of a point's attributes).
fn by_stream(m: &Metric, owner: impl Fn(&[KeyValue]) -> usize) -> Vec<(usize, Metric)> {
    fn cut<P: Clone>(
        points: &[P],
        attributes: impl Fn(&P) -> &[KeyValue],
        owner: &impl Fn(&[KeyValue]) -> usize,
    ) -> BTreeMap<usize, Vec<P>> {
        let mut out: BTreeMap<usize, Vec<P>> = BTreeMap::new();
        for p in points {
            out.entry(owner(attributes(p))).or_default().push(p.clone());
        }
        out
    }
    // The metric with other data, its points not copied twice.
    let with = |data: metric::Data| Metric {
        name: m.name.clone(),
        description: m.description.clone(),
        unit: m.unit.clone(),
        metadata: m.metadata.clone(),
        data: Some(data),
    };
    // The same cut for every kind of data: its points split by owner, the rest kept.
    macro_rules! per_owner {
        ($variant:ident, $data:expr) => {
            cut(&$data.data_points, |p| &p.attributes, &owner)
                .into_iter()
                .map(|(o, points)| {
                    let mut data = $data.clone();
                    data.data_points = points;
                    (o, with(metric::Data::$variant(data)))
                })
                .collect()
        };
    }
    match &m.data {
        Some(metric::Data::Gauge(g)) => per_owner!(Gauge, g),
        Some(metric::Data::Sum(s)) => per_owner!(Sum, s),
        Some(metric::Data::Histogram(h)) => per_owner!(Histogram, h),
        Some(metric::Data::ExponentialHistogram(h)) => per_owner!(ExponentialHistogram, h),
        Some(metric::Data::Summary(s)) => per_owner!(Summary, s),
        // No points: it goes with the metric's own stream key.
        None => vec![(owner(&[]), m.clone())],
    }
}

fn resource_attributes(rm: &ResourceMetrics) -> &[KeyValue] {
    rm.resource
        .as_ref()
        .map_or(&[][..], |r: &Resource| &r.attributes)
}

fn service_name(attributes: &[KeyValue]) -> String {
    use llamacol_api::otlp::common::v1::any_value::Value;
    attributes
        .iter()
        .find(|kv| kv.key == "service.name")
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| match &v.value {
            Some(Value::StringValue(s)) => Some(s.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

/// Attributes as a key independent of their order.
fn attributes_key(attributes: &[KeyValue]) -> String {
    let mut pairs: Vec<String> = attributes
        .iter()
        .map(|kv| format!("{}={:?}", kv.key, kv.value))
        .collect();
    pairs.sort_unstable();
    pairs.join(",")
}

fn scope_key(scope: Option<&InstrumentationScope>) -> String {
    scope.map_or(String::new(), |s| {
        format!(
            "{}@{}[{}]",
            s.name,
            s.version,
            attributes_key(&s.attributes)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use llamacol_api::otlp::metrics::v1::{Gauge, NumberDataPoint};

    fn kv(k: &str, v: &str) -> KeyValue {
        use llamacol_api::otlp::common::v1::{any_value::Value, AnyValue};
        KeyValue {
            key: k.into(),
            value: Some(AnyValue {
                value: Some(Value::StringValue(v.into())),
            }),
            ..KeyValue::default()
        }
    }

    fn request(service: &str, streams: usize) -> ExportMetricsServiceRequest {
        let points = (0..streams)
            .map(|i| NumberDataPoint {
                attributes: vec![kv("gpu", &i.to_string())],
                ..NumberDataPoint::default()
            })
            .collect();
        ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(Resource {
                    attributes: vec![kv("service.name", service)],
                    ..Resource::default()
                }),
                scope_metrics: vec![ScopeMetrics {
                    metrics: vec![Metric {
                        name: "gpu.utilization".into(),
                        data: Some(metric::Data::Gauge(Gauge {
                            data_points: points,
                        })),
                        ..Metric::default()
                    }],
                    ..ScopeMetrics::default()
                }],
                ..ResourceMetrics::default()
            }],
        }
    }

    fn points(r: &ExportMetricsServiceRequest) -> usize {
        r.resource_metrics
            .iter()
            .flat_map(|rm| &rm.scope_metrics)
            .flat_map(|sm| &sm.metrics)
            .map(|m| match &m.data {
                Some(metric::Data::Gauge(g)) => g.data_points.len(),
                _ => 0,
            })
            .sum()
    }

    /// Every point arrives once; a stream always goes to the same owner; `service` keeps
    /// a resource whole.
    #[test]
    fn streams_spread_and_stay_put_and_services_stay_whole() {
        let owner = |h: u64| (h % 4) as usize;
        let by_stream = split(request("llm", 64), RoutingKey::StreamId, 4, owner);
        assert_eq!(by_stream.iter().map(points).sum::<usize>(), 64);
        assert!(
            by_stream.iter().filter(|r| points(r) > 0).count() > 1,
            "spread"
        );
        let again = split(request("llm", 64), RoutingKey::StreamId, 4, owner);
        assert_eq!(by_stream, again, "the same streams, the same owners");
        let by_service = split(request("llm", 64), RoutingKey::Service, 4, owner);
        assert_eq!(by_service.iter().filter(|r| points(r) > 0).count(), 1);
        let by_metric = split(request("llm", 64), RoutingKey::Metric, 4, owner);
        assert_eq!(by_metric.iter().filter(|r| points(r) > 0).count(), 1);
    }
}
