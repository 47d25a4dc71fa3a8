use std::time::Duration;

use llamacol_api::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use llamacol_api::otlp::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use llamacol_api::otlp::metrics::v1::exponential_histogram_data_point::Buckets;
use llamacol_api::otlp::metrics::v1::{
    metric, number_data_point, summary_data_point::ValueAtQuantile, Exemplar as OtlpExemplar,
    ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint,
    Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
};
use llamacol_api::otlp::resource::v1::Resource;
use llamacol_pipeline::testing::external_program;

use super::render::{render, Format};
use super::*;
use crate::prometheus::model::observe::{observe, Options};
use crate::prometheus::model::store::Store;
use crate::prometheus::model::translate::{
    label_name, metric_name, MetricKind, TranslationStrategy,
};

const T: u64 = 1_732_400_000_000_000_000;

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

fn num(v: f64, attrs: Vec<KeyValue>) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attrs,
        time_unix_nano: T,
        start_time_unix_nano: T - 60_000_000_000,
        value: Some(number_data_point::Value::AsDouble(v)),
        ..Default::default()
    }
}

fn metric(name: &str, unit: &str, description: &str, data: metric::Data) -> Metric {
    Metric {
        name: name.into(),
        unit: unit.into(),
        description: description.into(),
        data: Some(data),
        ..Default::default()
    }
}

/// Every metric type, resource and scope attributes, odd names and units.
pub fn rich_input() -> ExportMetricsServiceRequest {
    let metrics = vec![
        metric(
            "gpu.temperature",
            "Cel",
            "GPU die temperature",
            metric::Data::Gauge(Gauge {
                data_points: vec![
                    num(71.0, vec![kv("hw.id", "GPU-0")]),
                    num(65.5, vec![kv("hw.id", "GPU-1")]),
                ],
            }),
        ),
        metric(
            "gpu.utilization",
            "1",
            "",
            metric::Data::Gauge(Gauge {
                data_points: vec![num(0.93, vec![kv("hw.id", "GPU-0")])],
            }),
        ),
        metric(
            "llm.tokens",
            "{token}",
            "Tokens processed",
            metric::Data::Sum(Sum {
                data_points: vec![NumberDataPoint {
                    exemplars: vec![OtlpExemplar {
                        value: Some(llamacol_api::otlp::metrics::v1::exemplar::Value::AsInt(12)),
                        time_unix_nano: T,
                        trace_id: vec![0xab; 16],
                        span_id: vec![0xcd; 8],
                        ..Default::default()
                    }],
                    ..num(1234.0, vec![kv("gen_ai.token.type", "input")])
                }],
                aggregation_temporality: 2,
                is_monotonic: true,
            }),
        ),
        metric(
            "queue.depth",
            "{request}",
            "Requests waiting",
            metric::Data::Sum(Sum {
                data_points: vec![num(3.0, vec![])],
                aggregation_temporality: 2,
                is_monotonic: false,
            }),
        ),
        metric(
            "net.io",
            "By",
            "",
            metric::Data::Sum(Sum {
                data_points: vec![num(2048.0, vec![kv("direction", "rx")])],
                aggregation_temporality: 2,
                is_monotonic: true,
            }),
        ),
        metric(
            "requests_total",
            "",
            "Already suffixed",
            metric::Data::Sum(Sum {
                data_points: vec![num(7.0, vec![])],
                aggregation_temporality: 2,
                is_monotonic: true,
            }),
        ),
        metric(
            "http.server.request.duration",
            "s",
            "Duration of HTTP server requests",
            metric::Data::Histogram(Histogram {
                data_points: vec![HistogramDataPoint {
                    attributes: vec![kv("http.route", "/v1/chat/completions")],
                    time_unix_nano: T,
                    count: 10,
                    sum: Some(4.2),
                    bucket_counts: vec![2, 5, 3, 0],
                    explicit_bounds: vec![0.1, 0.5, 1.0],
                    ..Default::default()
                }],
                aggregation_temporality: 2,
            }),
        ),
        metric(
            "rpc.latency",
            "ms",
            "",
            metric::Data::Summary(Summary {
                data_points: vec![SummaryDataPoint {
                    time_unix_nano: T,
                    count: 100,
                    sum: 2500.0,
                    quantile_values: vec![
                        ValueAtQuantile {
                            quantile: 0.5,
                            value: 20.0,
                        },
                        ValueAtQuantile {
                            quantile: 0.99,
                            value: 90.0,
                        },
                    ],
                    ..Default::default()
                }],
            }),
        ),
        metric(
            "llm.time_to_first_token",
            "s",
            "",
            metric::Data::ExponentialHistogram(ExponentialHistogram {
                data_points: vec![ExponentialHistogramDataPoint {
                    time_unix_nano: T,
                    count: 4,
                    sum: Some(5.0),
                    scale: 0,
                    zero_count: 1,
                    positive: Some(Buckets {
                        offset: 0,
                        bucket_counts: vec![1, 2],
                    }),
                    ..Default::default()
                }],
                aggregation_temporality: 2,
            }),
        ),
        metric(
            "my-metric.name/with spaces",
            "By/s",
            "Odd name",
            metric::Data::Gauge(Gauge {
                data_points: vec![num(
                    1.0,
                    vec![kv("a.b", "x"), kv("a_b", "y"), kv("9lives", "cat")],
                )],
            }),
        ),
    ];
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", "llama-server"),
                    kv("service.namespace", "inference"),
                    kv("service.instance.id", "node-7:8080"),
                    kv("host.name", "gpu-node-7"),
                    kv("k8s.pod.name", "llama-0"),
                ],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: "llamacol.test".into(),
                    version: "1.2.3".into(),
                    ..Default::default()
                }),
                metrics,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

fn exposition(request: &ExportMetricsServiceRequest, options: &Options, format: Format) -> String {
    let mut store = Store::default();
    let (observations, dropped) =
        observe(request, options, 1_732_400_000_000).expect("within the bound");
    assert!(dropped.is_empty(), "{dropped:?}");
    for obs in observations {
        store
            .apply(obs, std::time::Instant::now())
            .expect("no type conflict");
    }
    render(&store.snapshot(), format, false)
}

fn golden(name: &str, actual: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/prometheus/testdata")
        .join(name);
    if std::env::var("LLAMACOL_UPDATE_GOLDEN").is_ok_and(|v| v == "1") {
        std::fs::write(&path, actual).expect("write golden");
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (LLAMACOL_UPDATE_GOLDEN=1 writes it)",
            path.display()
        )
    });
    assert_eq!(actual, expected, "translation differs from {name}");
}

fn defaults() -> Options {
    PrometheusConfig::default().options()
}

#[test]
fn translation_matches_the_golden_exposition() {
    golden(
        "rich.prom",
        &exposition(&rich_input(), &defaults(), Format::Prometheus),
    );
}

#[test]
fn openmetrics_exposition_matches_its_golden_file() {
    golden(
        "rich.openmetrics",
        &exposition(&rich_input(), &defaults(), Format::OpenMetrics),
    );
}

#[test]
fn resource_to_telemetry_namespace_and_const_labels() {
    let options = Options {
        namespace: Some("llamacol".into()),
        const_labels: vec![("cluster".into(), "eu-1".into())],
        resource_to_telemetry: true,
        without_scope_info: true,
        ..defaults()
    };
    golden(
        "rich_resource_labels.prom",
        &exposition(&rich_input(), &options, Format::Prometheus),
    );
}

/// Every case of the upstream translator's own tests (`otlptranslator` v1.0.0, the one
/// the Collector 0.161.0 uses), and each of its metric cases under our three strategies
/// with and without a namespace, as that translator computes them (see the file's
/// `source`).
#[test]
fn names_match_the_upstream_translator_case_for_case() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/prometheus/testdata/otlptranslator-v1.0.0.json"
    ))
    .expect("cases");
    let cases: serde_json::Value = serde_json::from_str(&text).expect("json");
    let mut failures = Vec::new();
    let metric_cases = cases["metric_names"].as_array().expect("metric_names");
    for c in metric_cases {
        let text = |k: &str| c[k].as_str().unwrap_or_default();
        let strategy = match (c["suffixes"].as_bool(), c["utf8"].as_bool()) {
            (Some(true), Some(false)) => TranslationStrategy::UnderscoreEscapingWithSuffixes,
            (Some(false), Some(false)) => TranslationStrategy::UnderscoreEscapingWithoutSuffixes,
            _ => TranslationStrategy::NoTranslation,
        };
        let kind = match text("type") {
            "gauge" => MetricKind::Gauge,
            "counter" => MetricKind::MonotonicCounter,
            "updowncounter" => MetricKind::NonMonotonicCounter,
            "exponential_histogram" => MetricKind::ExponentialHistogram,
            "summary" => MetricKind::Summary,
            // `unknown` gets no type suffix either.
            _ => MetricKind::Histogram,
        };
        let namespace = Some(text("namespace")).filter(|n| !n.is_empty());
        let got = metric_name(text("name"), text("unit"), kind, namespace, strategy);
        let want_error = c["error"].as_bool().unwrap_or(false);
        // Upstream accepts an empty name when it needs no translation; we refuse it.
        let upstream_empty_ok =
            strategy == TranslationStrategy::NoTranslation && text("want").is_empty();
        let ok = match &got {
            Ok(name) => !want_error && name == text("want"),
            Err(_) => want_error || upstream_empty_ok,
        };
        if !ok {
            failures.push(format!(
                "{} [{strategy:?}, namespace {namespace:?}]: {:?} {:?} {} -> {got:?}, upstream {:?}{}",
                text("case"),
                text("name"),
                text("unit"),
                text("type"),
                text("want"),
                if want_error { " (error)" } else { "" }
            ));
        }
    }
    let label_cases = cases["labels"].as_array().expect("labels");
    for c in label_cases {
        let label = c["label"].as_str().unwrap_or_default();
        let got = label_name(label, TranslationStrategy::UnderscoreEscapingWithSuffixes);
        let want_error = c["error"].as_bool().unwrap_or(false);
        let ok = match &got {
            Ok(name) => !want_error && name == c["want"].as_str().unwrap_or_default(),
            Err(_) => want_error,
        };
        if !ok {
            failures.push(format!(
                "label {label:?} -> {got:?}, upstream {}",
                c["want"]
            ));
        }
    }
    assert!(metric_cases.len() > 400 && label_cases.len() > 15);
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        metric_cases.len() + label_cases.len(),
        failures.join("\n")
    );
}

#[test]
fn names_follow_the_spec_in_the_common_cases() {
    let s = TranslationStrategy::UnderscoreEscapingWithSuffixes;
    let name = |n: &str, u: &str, k: MetricKind| metric_name(n, u, k, None, s);
    assert_eq!(
        name("http.server.request.duration", "s", MetricKind::Histogram).as_deref(),
        Ok("http_server_request_duration_seconds")
    );
    assert_eq!(
        name("gpu.utilization", "1", MetricKind::Gauge).as_deref(),
        Ok("gpu_utilization_ratio")
    );
    assert_eq!(
        name("llm.tokens", "{token}", MetricKind::MonotonicCounter).as_deref(),
        Ok("llm_tokens_total")
    );
    assert_eq!(
        name("net.throughput", "By/s", MetricKind::Gauge).as_deref(),
        Ok("net_throughput_bytes_per_second")
    );
    assert_eq!(label_name("http.route", s).as_deref(), Ok("http_route"));
    assert_eq!(label_name("0day", s).as_deref(), Ok("key_0day"));
    assert!(
        name("...", "", MetricKind::Gauge).is_err(),
        "nothing left of the name"
    );
}

fn sum_request(value: f64, start: u64, time: u64, temporality: i32) -> ExportMetricsServiceRequest {
    let mut r = rich_input();
    r.resource_metrics[0].scope_metrics[0].metrics = vec![metric(
        "llm.requests",
        "",
        "",
        metric::Data::Sum(Sum {
            data_points: vec![NumberDataPoint {
                start_time_unix_nano: start,
                time_unix_nano: time,
                value: Some(number_data_point::Value::AsDouble(value)),
                ..Default::default()
            }],
            aggregation_temporality: temporality,
            is_monotonic: true,
        }),
    )];
    r
}

fn apply(store: &mut Store, request: &ExportMetricsServiceRequest) {
    let (obs, _) = observe(request, &defaults(), 0).expect("within the bound");
    for o in obs {
        store.apply(o, std::time::Instant::now()).expect("apply");
    }
}

fn sample(store: &Store, name: &str) -> Option<String> {
    render(&store.snapshot(), Format::Prometheus, false)
        .lines()
        .find(|l| l.starts_with(name))
        .map(|l| l.rsplit(' ').next().unwrap_or_default().to_string())
}

#[test]
fn delta_sums_accumulate_into_a_cumulative_counter() {
    let mut store = Store::default();
    apply(&mut store, &sum_request(5.0, T, T + 10, 1));
    apply(&mut store, &sum_request(7.0, T + 10, T + 20, 1));
    apply(&mut store, &sum_request(7.0, T + 10, T + 20, 1)); // the same point again: ignored
    assert_eq!(sample(&store, "llm_requests_total{").as_deref(), Some("12"));
}

#[test]
fn a_counter_reset_is_exposed_as_prometheus_expects() {
    // A restarted source reports a lower cumulative value with a new start time;
    // Prometheus detects the decrease as a reset, so it is exposed as it is.
    let mut store = Store::default();
    apply(&mut store, &sum_request(100.0, T, T + 10, 2));
    apply(&mut store, &sum_request(3.0, T + 15, T + 20, 2));
    assert_eq!(sample(&store, "llm_requests_total{").as_deref(), Some("3"));
    // An older point arriving late does not overwrite newer data.
    apply(&mut store, &sum_request(50.0, T, T + 12, 2));
    assert_eq!(sample(&store, "llm_requests_total{").as_deref(), Some("3"));
}

#[test]
fn series_expire_after_metric_expiration() {
    let mut store = Store::default();
    let (obs, _) = observe(&rich_input(), &defaults(), 0).expect("within the bound");
    let start = std::time::Instant::now();
    for o in obs {
        store.apply(o, start).expect("apply");
    }
    assert!(store.series_count() > 10);
    store.expire(start + Duration::from_secs(299), Duration::from_secs(300));
    assert!(store.series_count() > 10, "not yet");
    store.expire(start + Duration::from_secs(301), Duration::from_secs(300));
    assert_eq!(store.series_count(), 0);
    assert!(render(&store.snapshot(), Format::Prometheus, false).is_empty());
}

#[test]
fn a_name_reused_with_another_type_is_refused() {
    let mut store = Store::default();
    let mut r = rich_input();
    r.resource_metrics[0].scope_metrics[0].metrics = vec![
        metric(
            "clash",
            "",
            "",
            metric::Data::Gauge(Gauge {
                data_points: vec![num(1.0, vec![])],
            }),
        ),
        metric(
            "clash",
            "",
            "",
            metric::Data::Summary(Summary {
                data_points: vec![SummaryDataPoint {
                    count: 1,
                    ..Default::default()
                }],
            }),
        ),
    ];
    let (obs, _) = observe(&r, &defaults(), 0).expect("within the bound");
    let results: Vec<bool> = obs
        .into_iter()
        .filter(|o| o.name == "clash")
        .map(|o| store.apply(o, std::time::Instant::now()).is_ok())
        .collect();
    assert_eq!(results, [true, false]);
}

#[test]
fn exponential_histograms_become_explicit_buckets_with_exact_counts() {
    let text = exposition(&rich_input(), &defaults(), Format::Prometheus);
    // scale 0: base 2; zero bucket up to 0 holds 1; (1,2] holds 1; (2,4] holds 2.
    for line in [
        "llm_time_to_first_token_seconds_bucket{instance=\"node-7:8080\",job=\"inference/llama-server\",otel_scope_name=\"llamacol.test\",otel_scope_version=\"1.2.3\",le=\"0\"} 1",
        "llm_time_to_first_token_seconds_bucket{instance=\"node-7:8080\",job=\"inference/llama-server\",otel_scope_name=\"llamacol.test\",otel_scope_version=\"1.2.3\",le=\"2\"} 2",
        "llm_time_to_first_token_seconds_bucket{instance=\"node-7:8080\",job=\"inference/llama-server\",otel_scope_name=\"llamacol.test\",otel_scope_version=\"1.2.3\",le=\"4\"} 4",
        "llm_time_to_first_token_seconds_count{instance=\"node-7:8080\",job=\"inference/llama-server\",otel_scope_name=\"llamacol.test\",otel_scope_version=\"1.2.3\"} 4",
    ] {
        assert!(text.contains(line), "missing {line}\n{text}");
    }
}

#[test]
#[ignore = "needs promtool: run scripts/test"]
fn promtool_accepts_the_exposition() {
    let text = exposition(&rich_input(), &defaults(), Format::Prometheus);
    let mut child = std::process::Command::new(external_program("promtool"))
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool starts");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("promtool");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Exit 1 is a parse error; exit 3 lists lints. The only lint allowed is the base-unit
    // one, which the OTel spec's own `ms` -> `milliseconds` rule causes.
    let lints: Vec<&str> = report.lines().filter(|l| !l.trim().is_empty()).collect();
    let only_unit_lints = lints.iter().all(|l| l.contains("use base unit"));
    assert!(
        out.status.success() || (out.status.code() == Some(3) && only_unit_lints),
        "promtool check metrics failed:\n{report}\n{text}"
    );
    assert!(
        !lints.iter().any(|l| l.contains("no help text")),
        "{report}"
    );
}

/// Every point carries its metric's help and the scope labels: a 1 MiB description, or a
/// 1 MiB scope name, on 1,100 points (1.1 GiB of copies from a request of about 1 MiB)
/// refuses the request with the cause instead of asking for the memory; 100 such points
/// are taken.
#[test]
fn text_repeated_on_every_point_past_the_bound_refuses_the_request() {
    let big = "x".repeat(1 << 20);
    let request = |points: usize, description: &str, scope: &str| {
        let data = metric::Data::Gauge(Gauge {
            data_points: (0..points)
                .map(|n| num(1.0, vec![kv("n", &n.to_string())]))
                .collect(),
        });
        ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(InstrumentationScope {
                        name: scope.into(),
                        ..Default::default()
                    }),
                    metrics: vec![metric("queue.depth", "1", description, data)],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    };
    for (description, scope) in [(big.as_str(), "llamacol"), ("Depth", big.as_str())] {
        let error = observe(&request(1_100, description, scope), &defaults(), 0)
            .expect_err("past the bound");
        assert!(
            error.to_string().contains("repeated on every data point"),
            "{error}"
        );
        let (taken, _) =
            observe(&request(100, description, scope), &defaults(), 0).expect("within");
        assert_eq!(taken.len(), 100);
    }
}
