use std::sync::Arc;

use llamacol_api::attributes::{int, string};
use llamacol_api::config::{parse_block, ComponentConfig};
use llamacol_api::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use llamacol_api::otlp::collector::trace::v1::ExportTraceServiceRequest;
use llamacol_api::otlp::common::v1::{any_value, KeyValue};
use llamacol_api::otlp::metrics::v1::{metric, number_data_point, Metric};
use llamacol_api::otlp::resource::v1::Resource;
use llamacol_api::otlp::trace::v1::{span::Event, ResourceSpans, ScopeSpans, Span, Status};
use llamacol_api::serde_yaml;
use llamacol_pipeline::testing::Capture;

use super::*;

const START: u64 = 1_700_000_000_000_000_000;
const MS: u64 = 1_000_000;

fn config(yaml: &str) -> SpanMetricsConfig {
    let value: serde_yaml::Value = serde_yaml::from_str(yaml).expect("yaml");
    parse_block::<SpanMetricsConfig>(&value).expect("config")
}

fn connector(yaml: &str) -> (SpanMetrics, Arc<Capture>) {
    let capture = Arc::new(Capture::default());
    (
        SpanMetrics::new(
            "span_metrics".into(),
            config(yaml),
            capture.clone(),
            OutcomeCounter::default(),
            "instance-1".into(),
        ),
        capture,
    )
}

fn span(name: &str, millis: u64, attributes: Vec<KeyValue>) -> Span {
    Span {
        name: name.into(),
        kind: 2,
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        start_time_unix_nano: START,
        end_time_unix_nano: START + millis * MS,
        attributes,
        ..Default::default()
    }
}

fn traces(resource: Vec<KeyValue>, spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: resource,
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

async fn flushed(c: &SpanMetrics, out: &Capture) -> ExportMetricsServiceRequest {
    c.flush().await.expect("flushed");
    match out.last() {
        Some(Batch::Metrics(p)) => p.into_message().expect("decoded"),
        other => panic!("no metrics: {other:?}"),
    }
}

fn metric<'a>(r: &'a ExportMetricsServiceRequest, name: &str) -> &'a Metric {
    r.resource_metrics
        .iter()
        .flat_map(|rm| &rm.scope_metrics)
        .flat_map(|s| &s.metrics)
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("no {name}"))
}

fn attr(attrs: &[KeyValue], key: &str) -> Option<any_value::Value> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.clone()?.value)
}

fn s(v: &str) -> Option<any_value::Value> {
    Some(any_value::Value::StringValue(v.into()))
}

/// calls (sum, value by key) of a request.
fn calls(r: &ExportMetricsServiceRequest, name: &str) -> Vec<(Vec<KeyValue>, i64)> {
    match &metric(r, name).data {
        Some(metric::Data::Sum(sum)) => sum
            .data_points
            .iter()
            .map(|p| {
                let v = match p.value {
                    Some(number_data_point::Value::AsInt(i)) => i,
                    _ => -1,
                };
                (p.attributes.clone(), v)
            })
            .collect(),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn defaults_as_the_collector_ms_buckets_the_four_dimensions_and_the_instance() {
    let (c, out) = connector("{}");
    let service = vec![string("service.name", "chat"), string("host.name", "n1")];
    let mut failed = span("GET /", 120, vec![]);
    failed.status = Some(Status {
        code: 2,
        ..Default::default()
    });
    c.record(&traces(
        service.clone(),
        vec![span("GET /", 3, vec![]), span("GET /", 50, vec![]), failed],
    ));
    let r = flushed(&c, &out).await;
    assert_eq!(r.resource_metrics.len(), 1);
    let resource = &r.resource_metrics[0]
        .resource
        .as_ref()
        .expect("resource")
        .attributes;
    assert_eq!(resource, &service, "the resource as it came");
    let first = calls(&r, "traces.span.metrics.calls");
    assert_eq!(first.len(), 2);
    assert!(
        first.iter().all(|(_, v)| *v == 0),
        "a new cumulative series starts at 0"
    );
    let ok = &first
        .iter()
        .find(|(a, _)| attr(a, "status.code") == s("STATUS_CODE_UNSET"))
        .expect("unset")
        .0;
    assert_eq!(attr(ok, "service.name"), s("chat"));
    assert_eq!(attr(ok, "span.name"), s("GET /"));
    assert_eq!(attr(ok, "span.kind"), s("SPAN_KIND_SERVER"));
    assert_eq!(attr(ok, "collector.instance.id"), s("instance-1"));
    let duration = metric(&r, "traces.span.metrics.duration");
    assert_eq!(duration.unit, "ms");
    let Some(metric::Data::Histogram(h)) = &duration.data else {
        panic!()
    };
    let point = h
        .data_points
        .iter()
        .find(|p| attr(&p.attributes, "status.code") == s("STATUS_CODE_UNSET"))
        .expect("point");
    assert_eq!(point.explicit_bounds, config::DEFAULT_BUCKETS_MS);
    assert_eq!((point.count, point.sum), (2, Some(53.0)));
    // 3 ms in (2, 4], 50 ms in (10, 50].
    assert_eq!(point.bucket_counts[1], 1);
    assert_eq!(point.bucket_counts[5], 1);
    let second = flushed(&c, &out).await;
    let total: i64 = calls(&second, "traces.span.metrics.calls")
        .iter()
        .map(|(_, v)| v)
        .sum();
    assert_eq!(total, 3, "then the counts");
}

#[tokio::test]
async fn dimensions_defaults_globs_and_per_metric_dimensions() {
    let (c, out) = connector(
        r#"
dimensions:
  - {name: http.method, default: GET}
  - {name: host.name}
  - {glob: "gen_ai.*"}
calls_dimensions: [{name: http.route}]
exclude_dimensions: [span.kind]
"#,
    );
    c.record(&traces(
        vec![string("service.name", "chat"), string("host.name", "n1")],
        vec![span(
            "POST /v1",
            10,
            vec![
                string("gen_ai.model", "qwen"),
                string("gen_ai.usage.input_tokens.x", "deep: not a `*` match"),
                string("http.route", "/v1"),
                int("gen_ai.usage_count", 3),
            ],
        )],
    ));
    let r = flushed(&c, &out).await;
    let (attrs, _) = &calls(&r, "traces.span.metrics.calls")[0];
    assert_eq!(attr(attrs, "http.method"), s("GET"), "the default");
    assert_eq!(attr(attrs, "host.name"), s("n1"), "from the resource");
    assert_eq!(attr(attrs, "gen_ai.model"), s("qwen"));
    assert_eq!(
        attr(attrs, "gen_ai.usage_count"),
        Some(any_value::Value::IntValue(3))
    );
    assert_eq!(attr(attrs, "gen_ai.usage.input_tokens.x"), None);
    assert_eq!(attr(attrs, "http.route"), s("/v1"));
    assert_eq!(attr(attrs, "span.kind"), None, "excluded");
    let Some(metric::Data::Histogram(h)) = &metric(&r, "traces.span.metrics.duration").data else {
        panic!()
    };
    assert_eq!(
        attr(&h.data_points[0].attributes, "http.route"),
        None,
        "calls only"
    );
}

#[tokio::test]
async fn events_exemplars_and_the_cardinality_limit() {
    let (c, out) = connector(
        r#"
exemplars: {enabled: true, max_per_data_point: 1}
events: {enabled: true, dimensions: [{name: exception.type}]}
aggregation_cardinality_limit: 2
"#,
    );
    let mut with_event = span("a", 5, vec![]);
    with_event.events.push(Event {
        name: "exception".into(),
        attributes: vec![string("exception.type", "Timeout")],
        ..Default::default()
    });
    c.record(&traces(
        vec![string("service.name", "chat")],
        vec![
            with_event,
            span("a", 6, vec![]),
            span("b", 5, vec![]),
            span("c", 5, vec![]),
            span("d", 5, vec![]),
        ],
    ));
    let r = flushed(&c, &out).await;
    let events = calls(&r, "traces.span.metrics.events");
    assert_eq!(attr(&events[0].0, "exception.type"), s("Timeout"));
    let all = calls(&r, "traces.span.metrics.calls");
    assert_eq!(all.len(), 3, "two series, then the overflow one");
    assert!(all
        .iter()
        .any(|(a, _)| attr(a, "otel.metric.overflow") == Some(any_value::Value::BoolValue(true))));
    let Some(metric::Data::Sum(sum)) = &metric(&r, "traces.span.metrics.calls").data else {
        panic!()
    };
    let a = sum
        .data_points
        .iter()
        .find(|p| attr(&p.attributes, "span.name") == s("a"))
        .expect("a");
    assert_eq!(a.exemplars.len(), 1, "max_per_data_point");
    assert_eq!(a.exemplars[0].trace_id, vec![1; 16]);
    // Exemplars belong to one flush.
    let again = flushed(&c, &out).await;
    let Some(metric::Data::Sum(sum)) = &metric(&again, "traces.span.metrics.calls").data else {
        panic!()
    };
    assert!(sum.data_points.iter().all(|p| p.exemplars.is_empty()));
}

#[tokio::test]
async fn delta_starts_each_point_at_the_previous_flush() {
    let (c, out) = connector("aggregation_temporality: AGGREGATION_TEMPORALITY_DELTA");
    let request = traces(
        vec![string("service.name", "chat")],
        vec![span("a", 5, vec![])],
    );
    c.record(&request);
    let first = flushed(&c, &out).await;
    let Some(metric::Data::Sum(sum)) = &metric(&first, "traces.span.metrics.calls").data else {
        panic!()
    };
    assert_eq!(sum.aggregation_temporality, 1);
    let p1 = sum.data_points[0].clone();
    assert_eq!(
        p1.value,
        Some(number_data_point::Value::AsInt(1)),
        "no 0 first point in delta"
    );
    c.record(&request);
    c.record(&request);
    let second = flushed(&c, &out).await;
    let Some(metric::Data::Sum(sum)) = &metric(&second, "traces.span.metrics.calls").data else {
        panic!()
    };
    let p2 = &sum.data_points[0];
    assert_eq!(p2.value, Some(number_data_point::Value::AsInt(2)));
    assert_eq!(p2.start_time_unix_nano, p1.time_unix_nano);
}

#[tokio::test]
async fn a_sampling_threshold_scales_the_counts() {
    let (c, out) = connector("{enable_metrics_sampling_method: true, aggregation_temporality: AGGREGATION_TEMPORALITY_DELTA}");
    let mut sampled = span("a", 5, vec![]);
    // th:c = a threshold of 0.75 x 2^56: one span in four kept, each stands for 4.
    sampled.trace_state = "ot=th:c".into();
    c.record(&traces(
        vec![string("service.name", "chat")],
        vec![sampled, span("a", 5, vec![])],
    ));
    let r = flushed(&c, &out).await;
    let mut by_method: Vec<_> = calls(&r, "traces.span.metrics.calls")
        .into_iter()
        .map(|(a, v)| (attr(&a, "sampling.method"), v))
        .collect();
    by_method.sort_by_key(|(_, v)| *v);
    assert_eq!(by_method, [(s("counted"), 1), (s("extrapolated"), 4)]);
}

#[tokio::test]
async fn exponential_histograms_in_seconds() {
    let (c, out) = connector("histogram: {unit: s, exponential: {max_size: 10}}");
    let spans = [1, 10, 100, 1000, 10_000]
        .map(|ms| span("a", ms, vec![]))
        .to_vec();
    c.record(&traces(vec![string("service.name", "chat")], spans));
    let r = flushed(&c, &out).await;
    let duration = metric(&r, "traces.span.metrics.duration");
    assert_eq!(duration.unit, "s");
    let Some(metric::Data::ExponentialHistogram(h)) = &duration.data else {
        panic!("{duration:?}")
    };
    let p = &h.data_points[0];
    assert_eq!((p.count, p.min, p.max), (5, Some(0.001), Some(10.0)));
    let buckets = p.positive.as_ref().expect("positive");
    assert!(buckets.bucket_counts.len() <= 10);
    assert_eq!(buckets.bucket_counts.iter().sum::<u64>(), 5);
    assert!((p.sum.unwrap_or_default() - 11.111).abs() < 1e-9);
}

#[tokio::test]
async fn resources_keyed_by_the_key_attributes_only() {
    let (c, out) = connector("resource_metrics_key_attributes: [service.name]");
    for pod in ["p1", "p2"] {
        c.record(&traces(
            vec![string("service.name", "chat"), string("k8s.pod.name", pod)],
            vec![span("a", 5, vec![])],
        ));
    }
    let r = flushed(&c, &out).await;
    assert_eq!(
        r.resource_metrics.len(),
        1,
        "one resource: service.name alone tells them apart"
    );
}

#[test]
fn the_collectors_config_checks() {
    let issues = |yaml: &str| -> Vec<String> {
        config(yaml)
            .validate()
            .into_iter()
            .map(|i| i.path)
            .collect()
    };
    assert_eq!(
        issues("dimensions: [{name: span.name}]"),
        ["dimensions[0].name"]
    );
    assert_eq!(
        issues("dimensions: [{name: a, glob: b}]"),
        ["dimensions[0]"]
    );
    assert_eq!(
        issues("dimensions: [{glob: 'a*', default: x}]"),
        ["dimensions[0].default"]
    );
    assert_eq!(
        issues("dimensions: [{glob: 'service.*'}]"),
        ["dimensions[0].glob"]
    );
    assert_eq!(issues("events: {enabled: true}"), ["events.dimensions"]);
    assert_eq!(
        issues("histogram: {explicit: {buckets: [1ms]}, exponential: {max_size: 10}}"),
        ["histogram"]
    );
    assert_eq!(
        issues("exclude_dimensions: [http.method]"),
        ["exclude_dimensions[0]"]
    );
    assert!(issues("histogram: {explicit: {buckets: [2ms, 1s]}}").is_empty());
}
