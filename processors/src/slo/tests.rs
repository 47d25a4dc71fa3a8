//! The engine driven with made-up times: state transitions, aggregates, ratios, burn
//! rates, label and template rules, config errors, and every rule of the shipped pack
//! firing and resolving on the metrics llamacol's receivers and connector produce.

use std::cell::RefCell;
use std::collections::BTreeMap;

use llamacol_api::attributes::string;
use llamacol_api::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use llamacol_api::otlp::common::v1::KeyValue;
use llamacol_api::otlp::metrics::v1::{
    metric, number_data_point, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics,
};
use llamacol_api::otlp::resource::v1::Resource;

use super::alert::Notice;
use super::config::{load_rule_file, SloConfig};
use super::engine::Engine;
use super::*;
use llamacol_api::config::{parse, ComponentConfig};
use llamacol_api::testing::{counter_metric as counter, gauge_metric as gauge};

/// Unix seconds the tests start at (a counter with a later start time is "new").
const T0: f64 = 1_800_000_000.0;

fn config(yaml: &str) -> SloConfig {
    let value: serde_yaml::Value = serde_yaml::from_str(yaml).expect("yaml");
    let config = parse::<SloConfig>(&value).expect("parses");
    let issues = config.validate();
    assert!(issues.is_empty(), "{issues:?}");
    config
}

fn engine(yaml: &str) -> Engine {
    let c = config(yaml);
    Engine::new(&c, c.rules.clone(), c.slos.clone(), (T0 * 1e9) as u64)
}

fn issues(yaml: &str) -> Vec<String> {
    let value: serde_yaml::Value = serde_yaml::from_str(yaml).expect("yaml");
    match parse::<SloConfig>(&value) {
        Err(issues) => issues,
        Ok(c) => c.validate(),
    }
    .into_iter()
    .map(|i| format!("{}: {}", i.path, i.message))
    .collect()
}

fn attrs(pairs: &[(&str, &str)]) -> Vec<KeyValue> {
    pairs.iter().map(|(k, v)| string(k, v)).collect()
}

fn request(resource: &[(&str, &str)], metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: attrs(resource),
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn point(point_attrs: &[(&str, &str)], value: f64, start: f64) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attrs(point_attrs),
        start_time_unix_nano: (start * 1e9) as u64,
        value: Some(number_data_point::Value::AsDouble(value)),
        ..Default::default()
    }
}

/// A cumulative histogram point: per-bucket counts.
fn histogram(
    name: &str,
    point_attrs: &[(&str, &str)],
    bounds: &[f64],
    counts: &[u64],
    start: f64,
) -> Metric {
    Metric {
        name: name.into(),
        data: Some(metric::Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                attributes: attrs(point_attrs),
                start_time_unix_nano: (start * 1e9) as u64,
                count: counts.iter().sum(),
                bucket_counts: counts.to_vec(),
                explicit_bounds: bounds.to_vec(),
                ..Default::default()
            }],
            aggregation_temporality: 2,
        })),
        ..Default::default()
    }
}

const NVML_RESOURCE: &[(&str, &str)] = &[
    ("service.name", "llamacol"),
    ("service.instance.id", "gpu-node-1"),
];

fn temperature(celsius: f64) -> ExportMetricsServiceRequest {
    request(
        NVML_RESOURCE,
        vec![gauge(
            "hw.temperature",
            vec![point(
                &[("hw.id", "GPU-1"), ("hw.type", "gpu")],
                celsius,
                0.0,
            )],
        )],
    )
}

const TEMPERATURE_RULE: &str = r#"
evaluation_interval: 15s
resend_delay: 1m
rules:
  - alert: GPUTemperatureHigh
    metric: hw.temperature
    where: {hw.type: gpu}
    by: [hw.id]
    aggregate: max
    window: 1m
    op: ">"
    threshold: 85
    for: 2m
    severity: warning
    labels: {team: inference}
    annotations: {summary: "GPU {{hw.id}} at {{value}} C"}
"#;

fn names(notices: &[Notice]) -> Vec<(String, bool)> {
    notices
        .iter()
        .map(|n| (n.labels["alertname"].clone(), n.firing))
        .collect()
}

#[test]
fn a_threshold_alert_goes_pending_fires_after_for_is_resent_and_resolves() {
    let mut e = engine(TEMPERATURE_RULE);
    e.ingest(&temperature(90.0), T0);
    let first = e.evaluate(T0);
    assert!(first.notices.is_empty(), "pending alerts are not sent");
    let alerts = first.metrics.expect("ALERTS");
    let m = &alerts.resource_metrics[0].scope_metrics[0].metrics[0];
    assert_eq!(m.name, "ALERTS");
    let Some(metric::Data::Gauge(g)) = &m.data else {
        panic!("gauge")
    };
    let state: Vec<_> = g.data_points[0]
        .attributes
        .iter()
        .filter(|kv| kv.key == "alertstate")
        .collect();
    assert_eq!(state[0].value, string("alertstate", "pending").value);

    e.ingest(&temperature(91.0), T0 + 60.0);
    assert!(
        e.evaluate(T0 + 60.0).notices.is_empty(),
        "still pending at 1m of `for: 2m`"
    );
    e.ingest(&temperature(92.0), T0 + 120.0);
    let fired = e.evaluate(T0 + 120.0).notices;
    assert_eq!(fired.len(), 1, "fires once `for` has passed");
    let n = &fired[0];
    assert!(n.firing);
    let expected: BTreeMap<String, String> = [
        ("alertname", "GPUTemperatureHigh"),
        ("severity", "warning"),
        ("hw_id", "GPU-1"),
        ("team", "inference"),
        ("job", "llamacol"),
        ("instance", "gpu-node-1"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(n.labels, expected);
    assert_eq!(
        n.annotations["summary"], "GPU GPU-1 at 92 C",
        "max over the 1m window"
    );
    assert_eq!(
        n.starts_at, T0,
        "startsAt is the first breaching evaluation"
    );
    assert_eq!(
        n.ends_at,
        T0 + 120.0 + 240.0,
        "endsAt = 4 x resend_delay ahead"
    );

    e.ingest(&temperature(92.0), T0 + 135.0);
    assert!(
        e.evaluate(T0 + 135.0).notices.is_empty(),
        "not re-sent before resend_delay"
    );
    e.ingest(&temperature(92.0), T0 + 180.0);
    assert_eq!(
        e.evaluate(T0 + 180.0).notices.len(),
        1,
        "re-sent after resend_delay"
    );

    // Below the threshold for a whole window: resolved.
    e.ingest(&temperature(70.0), T0 + 200.0);
    e.ingest(&temperature(70.0), T0 + 250.0);
    let resolved = e.evaluate(T0 + 250.0).notices;
    assert_eq!(
        names(&resolved),
        vec![("GPUTemperatureHigh".to_string(), false)]
    );
    assert_eq!(
        resolved[0].ends_at,
        T0 + 250.0,
        "a resolved alert ends when it resolved"
    );
    assert!(e.evaluate(T0 + 265.0).notices.is_empty());
    assert!(
        e.evaluate(T0 + 265.0).metrics.is_none(),
        "no ALERTS once nothing is active"
    );
}

#[test]
fn a_pending_alert_that_stops_breaching_is_never_sent() {
    let mut e = engine(TEMPERATURE_RULE);
    e.ingest(&temperature(90.0), T0);
    e.evaluate(T0);
    e.ingest(&temperature(60.0), T0 + 61.0);
    e.evaluate(T0 + 61.0);
    e.ingest(&temperature(90.0), T0 + 122.0);
    assert!(
        e.evaluate(T0 + 122.0).notices.is_empty(),
        "`for` counts again from the new breach"
    );
    e.ingest(&temperature(90.0), T0 + 242.0);
    assert_eq!(e.evaluate(T0 + 242.0).notices.len(), 1);
}

#[test]
fn a_group_whose_series_disappear_for_two_windows_resolves() {
    let mut e = engine(&TEMPERATURE_RULE.replace("for: 2m", "for: 0s"));
    e.ingest(&temperature(95.0), T0);
    assert_eq!(e.evaluate(T0).notices.len(), 1, "for: 0 fires at once");
    let quiet = e.evaluate(T0 + 100.0).notices;
    assert!(
        quiet.iter().all(|n| n.firing),
        "a quiet series holds its value (re-sent firing)"
    );
    let gone = e.evaluate(T0 + 121.0).notices;
    assert_eq!(
        names(&gone),
        vec![("GPUTemperatureHigh".to_string(), false)]
    );
}

#[test]
fn quantile_rules_read_the_buckets_accumulated_in_the_window() {
    let mut e = engine(
        r#"
rules:
  - alert: TTFTHigh
    metric: gen_ai.server.time_to_first_token
    aggregate: quantile
    quantile: 0.99
    by: [gen_ai.request.model]
    window: 5m
    op: ">"
    threshold: 0.5
    severity: warning
    annotations: {summary: "p99 {{value}}"}
"#,
    );
    let bounds = [0.1, 0.5, 1.0];
    let model = [("gen_ai.request.model", "qwen")];
    // Started before llamacol: the first sight is the baseline, not an increase.
    e.ingest(
        &request(
            &[],
            vec![histogram(
                "gen_ai.server.time_to_first_token",
                &model,
                &bounds,
                &[1000, 0, 100, 0],
                T0 - 3600.0,
            )],
        ),
        T0,
    );
    assert!(
        e.evaluate(T0).notices.is_empty(),
        "old observations do not count"
    );
    // 100 fast ones in 5 minutes: p99 in the first bucket.
    e.ingest(
        &request(
            &[],
            vec![histogram(
                "gen_ai.server.time_to_first_token",
                &model,
                &bounds,
                &[1100, 0, 100, 0],
                T0 - 3600.0,
            )],
        ),
        T0 + 60.0,
    );
    assert!(e.evaluate(T0 + 60.0).notices.is_empty());
    // Then 10 slow ones: 10 of 110 above 0.5 s, so p99 is in (0.5, 1].
    e.ingest(
        &request(
            &[],
            vec![histogram(
                "gen_ai.server.time_to_first_token",
                &model,
                &bounds,
                &[1100, 0, 110, 0],
                T0 - 3600.0,
            )],
        ),
        T0 + 120.0,
    );
    let n = e.evaluate(T0 + 120.0).notices;
    assert_eq!(n.len(), 1);
    assert_eq!(n[0].labels["gen_ai_request_model"], "qwen");
    // rank 108.9 of 110; 100 below 0.5; 8.9/10 of the way to 1.0.
    let p99: f64 = n[0].annotations["summary"][4..].parse().expect("a number");
    assert!((p99 - 0.945).abs() < 1e-9, "{p99}");
}

#[test]
fn ratio_rules_divide_per_group() {
    let mut e = engine(
        r#"
rules:
  - alert: GPUMemoryHigh
    ratio: {numerator: {metric: hw.gpu.memory.usage}, denominator: {metric: hw.gpu.memory.limit}}
    by: [hw.id]
    op: ">"
    threshold: 0.95
    severity: high
    annotations: {summary: "{{value}}"}
"#,
    );
    let memory = |gpu: &str, used: f64| {
        vec![
            gauge(
                "hw.gpu.memory.usage",
                vec![point(&[("hw.id", gpu)], used, 0.0)],
            ),
            gauge(
                "hw.gpu.memory.limit",
                vec![point(&[("hw.id", gpu)], 100.0, 0.0)],
            ),
        ]
    };
    let mut metrics = memory("GPU-1", 97.0);
    metrics.extend(memory("GPU-2", 50.0));
    e.ingest(&request(NVML_RESOURCE, metrics), T0);
    let n = e.evaluate(T0).notices;
    assert_eq!(n.len(), 1, "only GPU-1 is above 95%");
    assert_eq!(n[0].labels["hw_id"], "GPU-1");
    assert_eq!(n[0].annotations["summary"], "0.97");
}

#[test]
fn rate_rules_use_counter_increases_and_count_a_reset_as_new() {
    let mut e = engine(
        r#"
rules:
  - alert: Errors
    metric: gen_ai.requests
    where: {error.type: {regex: ".+"}}
    aggregate: increase
    window: 1m
    op: ">="
    threshold: 5
"#,
    );
    let requests = |errors: f64, ok: f64| {
        request(
            &[],
            vec![counter(
                "gen_ai.requests",
                vec![
                    point(&[("error.type", "timeout")], errors, T0 - 100.0),
                    point(&[], ok, T0 - 100.0),
                ],
            )],
        )
    };
    e.ingest(&requests(100.0, 1000.0), T0);
    assert!(
        e.evaluate(T0).notices.is_empty(),
        "the value at first sight is a baseline"
    );
    e.ingest(&requests(103.0, 5000.0), T0 + 20.0);
    assert!(
        e.evaluate(T0 + 20.0).notices.is_empty(),
        "3 errors, and `ok` points do not match"
    );
    // The sender restarted: 2 more since then.
    e.ingest(&requests(2.0, 10.0), T0 + 40.0);
    assert_eq!(
        e.evaluate(T0 + 40.0).notices.len(),
        1,
        "3 + 2 after a reset = 5"
    );
}

#[test]
fn a_rule_reading_the_wrong_type_is_logged_once_and_counted() {
    let mut e = engine(
        r#"
rules:
  - {alert: BadQuantile, metric: hw.temperature, aggregate: quantile, quantile: 0.9, op: ">", threshold: 1}
"#,
    );
    e.ingest(&temperature(90.0), T0);
    e.ingest(&temperature(90.0), T0 + 1.0);
    assert_eq!(e.mismatches["BadQuantile"].count, 2);
    assert!(e.mismatches["BadQuantile"]
        .message
        .contains("need a histogram"));
    let report = e.report();
    assert_eq!(report["rule_errors"]["BadQuantile"]["count"], 2);
}

/// The workbook's arithmetic: an error ratio of 1.44% against a 99.9% objective is a
/// burn rate of 14.4.
#[test]
fn burn_rates_fire_the_page_alert_only_when_both_windows_burn() {
    let mut e = engine(
        r#"
evaluation_interval: 5s
slos:
  - name: chat-availability
    objective: 99.9
    period: 30d
    sli:
      ratio: {errors: {metric: gen_ai.requests, where: {error.type: {regex: ".+"}}}, total: {metric: gen_ai.requests}}
    alerting:
      page: [{long: 60s, short: 10s, burn_rate: 14.4}]
      ticket: []
"#,
    );
    let (mut errors, mut total) = (0.0, 0.0);
    let mut fired_at = None;
    let mut t = T0;
    // Counters born after llamacol started count from zero.
    let mut step = |e: &mut Engine, t: f64, per_request_errors: f64| {
        total += 1000.0;
        errors += 1000.0 * per_request_errors;
        // `total` counts every request, errors included: one series each.
        let m = counter(
            "gen_ai.requests",
            vec![
                point(&[("error.type", "500")], errors, T0 + 1.0),
                point(&[], total - errors, T0 + 1.0),
            ],
        );
        e.ingest(&request(&[], vec![m]), t);
        e.evaluate(t)
    };
    // Two minutes at 1%: a burn rate of 10, under 14.4.
    for _ in 0..24 {
        t += 5.0;
        let ev = step(&mut e, t, 0.01);
        assert!(ev.notices.is_empty(), "no page at burn rate 10");
    }
    let report = e.report();
    let rate = report["slos"][0]["burn_rates"][0]["burn_rate"]
        .as_f64()
        .expect("rate");
    assert!((rate - 10.0).abs() < 1e-6, "{rate}");
    // Then 3% (burn 30): the short window crosses at once, the long one after about a
    // quarter of its length (60s x (14.4-10)/(30-10) = 13s).
    for i in 0..12 {
        t += 5.0;
        let ev = step(&mut e, t, 0.03);
        if !ev.notices.is_empty() && fired_at.is_none() {
            fired_at = Some(i);
            assert_eq!(ev.notices[0].labels["severity"], "page");
            assert_eq!(ev.notices[0].labels["slo"], "chat-availability");
        }
    }
    assert_eq!(
        fired_at,
        Some(2),
        "fires on the third evaluation at 3% (15s in), not before"
    );
    let budget = e.report()["slos"][0]["error_budget_remaining"]
        .as_f64()
        .expect("budget");
    // 180 s of traffic: 24 x 10 + 12 x 30 errors of 36,000 requests; budget 36.
    let spent = (24.0 * 10.0 + 12.0 * 30.0) / 36_000.0 / 0.001;
    assert!(
        (budget - (1.0 - spent)).abs() < 1e-9,
        "{budget} vs {}",
        1.0 - spent
    );
}

#[test]
fn a_latency_sli_counts_observations_above_the_threshold_as_bad() {
    let mut e = engine(
        r#"
slos:
  - name: ttft
    objective: 99
    sli: {latency: {metric: gen_ai.server.time_to_first_token, threshold: 0.5}}
    alerting: {page: [{long: 60s, short: 10s, burn_rate: 2}], ticket: []}
"#,
    );
    let bounds = [0.1, 0.5, 1.0];
    e.ingest(
        &request(
            &[],
            vec![histogram(
                "gen_ai.server.time_to_first_token",
                &[],
                &bounds,
                &[90, 5, 5, 0],
                T0 + 1.0,
            )],
        ),
        T0 + 5.0,
    );
    let ev = e.evaluate(T0 + 5.0);
    // 5 of 100 slow: an error ratio of 5% against a 1% budget.
    let rate = e.report()["slos"][0]["burn_rates"][0]["burn_rate"]
        .as_f64()
        .expect("rate");
    assert!((rate - 5.0).abs() < 1e-9, "{rate}");
    assert_eq!(
        names(&ev.notices),
        vec![("SLOErrorBudgetBurn".to_string(), true)]
    );
}

#[test]
fn config_mistakes_are_named_with_their_place_and_fix() {
    let cases = [
        ("rules: [{alert: A, metric: m, aggregate: median, op: '>', threshold: 1}]", "rules[0].aggregate: unknown value `median`"),
        ("rules: [{alert: A, metric: m, aggregate: quantile, op: '>', threshold: 1}]", "rules[0].quantile: `aggregate: quantile` needs `quantile`"),
        ("rules: [{alert: A, metric: m, aggregate: quantile, quantile: 1.5, op: '>', threshold: 1}]", "rules[0].quantile: 1.5 is outside 0..1"),
        ("rules: [{alert: A, metric: m, op: '>'}]", "rules[0].threshold: give the number"),
        ("rules: [{alert: A, metric: m, threshold: 1}]", "rules[0].op: give a comparison"),
        ("rules: [{alert: A, metric: m, op: '>', threshold: 1, window: 5 minutes please}]", "rules[0].window"),
        ("rules: [{alert: A, metric: m, by: [hw.id], op: '>', threshold: 1, annotations: {s: '{{gpu}}'}}]", "rules[0].annotations.s: `{{gpu}}` is not a label this alert can have"),
        ("rules: [{alert: A, op: '>', threshold: 1}]", "rules[0]: give `metric`"),
        ("rules: [{alert: A, metric: m, op: '>', threshold: 1, where: {x: {regex: '('}}}]", "rules[0].where.x.regex: not a valid regex"),
        ("slos: [{name: s, objective: 100, sli: {latency: {metric: m, threshold: 1}}}]", "slos[0].objective: 100 is not a percentage"),
        ("slos: [{name: s, objective: 99, sli: {}}]", "slos[0].sli: give `ratio"),
        ("rules: [{alert: A, metric: m, op: '>', threshold: 1}]\nnotify: {alertmanager: {endpoint: 'localhost:9093'}}", "notify.alertmanager.endpoint: `localhost:9093` is not an http"),
        ("{}", "no rules"),
    ];
    for (yaml, expected) in cases {
        let found = issues(yaml);
        assert!(
            found.iter().any(|i| i.contains(expected)),
            "{yaml}\nexpected {expected:?}\ngot {found:?}"
        );
    }
}

#[test]
fn rule_file_errors_name_the_file_line_and_column() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("rules.yaml");
    std::fs::write(&path, "rules:\n  - alert: A\n    metric: m\n    op: '>'\n    threshold: 1\n  - alert: B\n    metric: m\n    aggregate: quantile\n    op: '>'\n    threshold: 1\n").expect("write");
    let path = path.to_string_lossy().to_string();
    let errors = load_rule_file(&path).expect_err("B has no quantile");
    assert_eq!(errors.len(), 1, "{errors:?}");
    // A missing key is placed at its rule (line 6).
    assert!(
        errors[0].starts_with(&format!("{path}:6:")),
        "{}",
        errors[0]
    );
    assert!(
        errors[0].contains("rules[1].quantile: `aggregate: quantile` needs"),
        "{}",
        errors[0]
    );
    std::fs::write(
        dir.path().join("rules.yaml"),
        "rules:\n  - alert: A\n    metric: m\n    op: '>'\n    threshold: 1\n    window: soon\n",
    )
    .expect("write");
    let errors = load_rule_file(&path).expect_err("bad duration");
    assert!(
        errors[0].starts_with(&format!("{path}:6:5: rules[0].window")),
        "{}",
        errors[0]
    );
    let found = issues(&format!("rule_files: ['{path}']"));
    assert!(
        found[0].starts_with(&format!("rule_files[0]: {path}:6:5")),
        "{found:?}"
    );
    let missing = issues("rule_files: [/nonexistent/rules.yaml]");
    assert!(
        missing[0].contains("cannot read rule file `/nonexistent/rules.yaml`"),
        "{missing:?}"
    );
}

#[test]
fn notification_payloads_have_alertmanagers_shapes() {
    let notice = Notice {
        labels: BTreeMap::from([
            ("alertname".to_string(), "A".to_string()),
            ("hw_id".to_string(), "GPU-1".to_string()),
        ]),
        annotations: BTreeMap::from([("summary".to_string(), "hot".to_string())]),
        starts_at: T0,
        ends_at: T0 + 240.0,
        firing: true,
    };
    let am = notify::alertmanager_body(std::slice::from_ref(&notice));
    assert_eq!(am[0]["labels"]["hw_id"], "GPU-1");
    assert_eq!(am[0]["startsAt"], "2027-01-15T08:00:00.000Z");
    assert_eq!(am[0]["endsAt"], "2027-01-15T08:04:00.000Z");
    let hook = notify::webhook_body(std::slice::from_ref(&notice));
    assert_eq!(hook["version"], "4");
    assert_eq!(hook["status"], "firing");
    assert_eq!(hook["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
    assert_eq!(hook["commonLabels"]["alertname"], "A");
    let slack = notify::slack_body(&[notice]);
    assert_eq!(slack["text"], "[FIRING] A {hw_id=GPU-1}: hot");
}

// ---- the shipped rule pack: every rule fires and resolves -------------------------

fn pack() -> Engine {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../configs/rules/llm-node.yaml"
    );
    let file = load_rule_file(path).expect("the pack loads");
    let c = SloConfig::default();
    Engine::new(&c, file.rules, file.slos, (T0 * 1e9) as u64)
}

/// The resource the llamacpp receiver puts on a target's metrics.
fn llamacpp(target: &str, metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    request(
        &[("service.name", "llama.cpp"), ("llamacpp.target", target)],
        metrics,
    )
}

/// Feeds `data(t)` every 15 s from `from` to `to` and returns what was sent, by time.
fn run(
    e: &mut Engine,
    from: f64,
    to: f64,
    data: &dyn Fn(f64) -> Vec<ExportMetricsServiceRequest>,
) -> Vec<(f64, Notice)> {
    let mut sent = Vec::new();
    let mut t = from;
    while t <= to {
        for r in data(t) {
            e.ingest(&r, t);
        }
        sent.extend(e.evaluate(t).notices.into_iter().map(|n| (t, n)));
        t += 15.0;
    }
    sent
}

/// Drives one pack rule: `bad` for `bad_for` seconds, then `good`; asserts the alert
/// fired (only that alert, not before `hold`) and then resolved.
fn fires_and_resolves(
    alert: &str,
    hold: f64,
    bad_for: f64,
    bad: &dyn Fn(f64) -> Vec<ExportMetricsServiceRequest>,
    good: &dyn Fn(f64) -> Vec<ExportMetricsServiceRequest>,
) {
    let mut e = pack();
    let warmup = run(&mut e, T0, T0 + 600.0, good);
    assert!(
        warmup.is_empty(),
        "{alert}: healthy data fired {:?}",
        warmup.iter().map(|(_, n)| &n.labels).collect::<Vec<_>>()
    );
    let start = T0 + 615.0;
    let sent = run(&mut e, start, start + bad_for, bad);
    let firing: Vec<&(f64, Notice)> = sent.iter().filter(|(_, n)| n.firing).collect();
    assert!(!firing.is_empty(), "{alert} did not fire");
    assert!(
        firing.iter().all(|(_, n)| n.labels["alertname"] == alert),
        "{alert}: others fired too: {:?}",
        firing
            .iter()
            .map(|(_, n)| &n.labels["alertname"])
            .collect::<Vec<_>>()
    );
    assert!(
        firing[0].0 - start >= hold,
        "{alert} fired {}s in, before its `for` ({hold}s)",
        firing[0].0 - start
    );
    let after = start + bad_for + 15.0;
    let resolved = run(&mut e, after, after + 1800.0, good);
    assert!(
        resolved
            .iter()
            .any(|(_, n)| !n.firing && n.labels["alertname"] == alert),
        "{alert} did not resolve"
    );
}

#[test]
fn pack_ttft_high() {
    let bounds = [0.1, 0.25, 0.5, 1.0, 2.5];
    let model = [("gen_ai.request.model", "qwen")];
    // Cumulative bucket counts; each evaluation adds 10 fast (<= 0.1 s) or 10 slow
    // ((1, 2.5] s) first tokens.
    let counts = RefCell::new([0u64; 6]);
    let add = |bucket: usize| {
        let mut c = counts.borrow_mut();
        c[bucket] += 10;
        vec![request(
            &[("service.name", "chat")],
            vec![histogram(
                "gen_ai.client.operation.time_to_first_chunk",
                &model,
                &bounds,
                &*c,
                T0 + 1.0,
            )],
        )]
    };
    fires_and_resolves("TTFTHigh", 300.0, 600.0, &|_| add(4), &|_| add(0));
}

#[test]
fn pack_inference_error_rate_high() {
    // 100 requests per evaluation; 5% fail while bad.
    let totals = RefCell::new((0.0, 0.0));
    let add = |error_share: f64| {
        let mut t = totals.borrow_mut();
        t.0 += 100.0 * error_share;
        t.1 += 100.0 * (1.0 - error_share);
        let model = ("gen_ai.request.model", "qwen");
        vec![request(
            &[("service.name", "chat")],
            vec![counter(
                "gen_ai.requests",
                vec![
                    point(&[model, ("error.type", "500")], t.0, T0 + 1.0),
                    point(&[model], t.1, T0 + 1.0),
                ],
            )],
        )]
    };
    fires_and_resolves(
        "InferenceErrorRateHigh",
        300.0,
        600.0,
        &|_| add(0.05),
        &|_| add(0.0),
    );
}

fn up_series(t: f64, down: &[&str], now_down: bool) -> Vec<ExportMetricsServiceRequest> {
    let _ = t;
    ["llama-8b", "llama-70b"]
        .iter()
        .map(|target| {
            let up = if now_down && down.contains(target) {
                0.0
            } else {
                1.0
            };
            llamacpp(
                target,
                vec![gauge("llamacpp.up", vec![point(&[], up, 0.0)])],
            )
        })
        .collect()
}

#[test]
fn pack_llama_server_down() {
    fires_and_resolves(
        "LlamaServerDown",
        60.0,
        300.0,
        &|t| up_series(t, &["llama-8b"], true),
        &|t| up_series(t, &[], false),
    );
}

#[test]
fn pack_all_llama_servers_down() {
    let mut e = pack();
    let both_down = |t: f64| up_series(t, &["llama-8b", "llama-70b"], true);
    assert!(run(&mut e, T0, T0 + 300.0, &|t| up_series(t, &[], false)).is_empty());
    let sent = run(&mut e, T0 + 315.0, T0 + 615.0, &both_down);
    let fired: Vec<&String> = sent
        .iter()
        .filter(|(_, n)| n.firing)
        .map(|(_, n)| &n.labels["alertname"])
        .collect();
    assert!(
        fired.contains(&&"AllLlamaServersDown".to_string()),
        "{fired:?}"
    );
    assert!(
        fired.contains(&&"LlamaServerDown".to_string()),
        "each server's own alert fires too"
    );
    let all = sent
        .iter()
        .find(|(_, n)| n.labels["alertname"] == "AllLlamaServersDown")
        .expect("sent");
    assert!(all.0 - (T0 + 315.0) >= 60.0);
    assert_eq!(
        all.1.labels.get("severity").map(String::as_str),
        Some("critical")
    );
    assert!(
        !all.1.labels.contains_key("instance"),
        "aggregated over instances"
    );
    let after = run(&mut e, T0 + 630.0, T0 + 900.0, &|t| {
        up_series(t, &[], false)
    });
    assert!(after
        .iter()
        .any(|(_, n)| !n.firing && n.labels["alertname"] == "AllLlamaServersDown"));
}

/// One gauge of the `llama-8b` target, at `value` on every evaluation.
fn llamacpp_gauge(
    name: &'static str,
    value: f64,
) -> impl Fn(f64) -> Vec<ExportMetricsServiceRequest> {
    move |_| {
        vec![llamacpp(
            "llama-8b",
            vec![gauge(name, vec![point(&[], value, 0.0)])],
        )]
    }
}

#[test]
fn pack_request_queue_deep() {
    let q = |deferred| llamacpp_gauge("llamacpp.requests_deferred", deferred);
    fires_and_resolves("RequestQueueDeep", 300.0, 600.0, &q(1500.0), &q(3.0));
}

#[test]
fn pack_kv_cache_nearly_full() {
    let kv = |ratio| llamacpp_gauge("llamacpp.kv_cache_usage_ratio", ratio);
    fires_and_resolves("KVCacheNearlyFull", 60.0, 300.0, &kv(0.97), &kv(0.5));
}

fn gpu(metrics: Vec<Metric>) -> Vec<ExportMetricsServiceRequest> {
    vec![request(NVML_RESOURCE, metrics)]
}

fn gpu_attrs() -> [(&'static str, &'static str); 2] {
    [("hw.id", "GPU-1"), ("hw.type", "gpu")]
}

#[test]
fn pack_gpu_temperature_high() {
    let temp = |c: f64| {
        move |_t: f64| {
            gpu(vec![gauge(
                "hw.temperature",
                vec![point(&gpu_attrs(), c, 0.0)],
            )])
        }
    };
    fires_and_resolves("GPUTemperatureHigh", 120.0, 300.0, &temp(90.0), &temp(60.0));
}

#[test]
fn pack_gpu_memory_high() {
    let mem = |used: f64| {
        move |_t: f64| {
            gpu(vec![
                gauge("hw.gpu.memory.usage", vec![point(&gpu_attrs(), used, 0.0)]),
                gauge("hw.gpu.memory.limit", vec![point(&gpu_attrs(), 80e9, 0.0)]),
            ])
        }
    };
    fires_and_resolves("GPUMemoryHigh", 60.0, 300.0, &mem(79e9), &mem(20e9));
}

#[test]
fn pack_gpu_underutilized() {
    let util = |u: f64| {
        move |_t: f64| {
            let attrs = [
                ("hw.id", "GPU-1"),
                ("hw.type", "gpu"),
                ("hw.gpu.task", "general"),
            ];
            let decoder = [
                ("hw.id", "GPU-1"),
                ("hw.type", "gpu"),
                ("hw.gpu.task", "decoder"),
            ];
            gpu(vec![gauge(
                "hw.gpu.utilization",
                vec![point(&attrs, u, 0.0), point(&decoder, 0.0, 0.0)],
            )])
        }
    };
    // An hour's average must fall under 30% and stay there for an hour.
    fires_and_resolves(
        "GPUUnderutilized",
        3600.0,
        3.0 * 3600.0,
        &util(0.05),
        &util(0.9),
    );
}

#[test]
fn every_pack_rule_has_a_test() {
    let tested = [
        "TTFTHigh",
        "InferenceErrorRateHigh",
        "LlamaServerDown",
        "AllLlamaServersDown",
        "RequestQueueDeep",
        "KVCacheNearlyFull",
        "GPUTemperatureHigh",
        "GPUMemoryHigh",
        "GPUUnderutilized",
    ];
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../configs/rules/llm-node.yaml"
    );
    let file = load_rule_file(path).expect("loads");
    let names: Vec<&str> = file.rules.iter().map(|r| r.alert.as_str()).collect();
    assert_eq!(names, tested);
}

#[test]
fn only_requests_holding_a_read_metric_need_decoding() {
    use prost::Message;
    let e = engine(TEMPERATURE_RULE);
    assert!(e.reads_any(&temperature(90.0).encode_to_vec()));
    let other = request(
        NVML_RESOURCE,
        vec![gauge("hw.power", vec![point(&[], 300.0, 0.0)])],
    );
    assert!(!e.reads_any(&other.encode_to_vec()));
    assert!(!e.reads_any(&[]));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_processor_passes_batches_on_as_they_came_and_adds_alerts() {
    use std::sync::Arc;

    use llamacol_api::{BuildContext, ComponentId};
    use llamacol_pipeline::testing::Capture;
    use prost::Message;

    let yaml = TEMPERATURE_RULE
        .replace("for: 2m", "for: 0s")
        .replace("evaluation_interval: 15s", "evaluation_interval: 100ms");
    let block: serde_yaml::Value = serde_yaml::from_str(&yaml).expect("yaml");
    let ctx = BuildContext::new(
        ComponentId::parse("slo").expect("id"),
        vec![Signal::Metrics],
    );
    let capture = Arc::new(Capture::default());
    let processor = (factory().build)(&ctx, &block, capture.clone()).expect("builds");
    processor.start().await.expect("starts");
    let bytes = bytes::Bytes::from(temperature(95.0).encode_to_vec());
    let batch = Batch::from_bytes(Signal::Metrics, bytes.clone()).expect("valid");
    processor.consume(batch).await.expect("accepted");
    tokio::time::sleep(Duration::from_millis(350)).await;
    processor.shutdown().await.expect("stops");

    let batches = capture.batches();
    let Batch::Metrics(first) = &batches[0] else {
        panic!("metrics")
    };
    assert_eq!(
        first.encoded(),
        Some(&bytes),
        "the batch goes on as it came"
    );
    assert!(first.decoded().is_none(), "no decoded copy rides along");
    let alerts: Vec<&Batch> = batches[1..].iter().collect();
    assert!(!alerts.is_empty(), "an ALERTS batch after the evaluation");
    let Batch::Metrics(p) = alerts[0] else {
        panic!("metrics")
    };
    let m = &p.decoded().expect("built decoded").resource_metrics[0].scope_metrics[0].metrics[0];
    assert_eq!(m.name, "ALERTS");
    let board = ctx.node.alerts();
    assert_eq!(board["slo"]["alerts"][0]["state"], "firing", "{board}");
    assert_eq!(board["slo"]["alerts"][0]["labels"]["hw_id"], "GPU-1");
}

#[tokio::test(flavor = "multi_thread")]
async fn notifications_to_a_target_that_is_down_are_retried_then_counted_failed() {
    use llamacol_api::NodeContext;
    use llamacol_pipeline::testing::free_port;
    use std::sync::atomic::Ordering;

    let port = free_port();
    let c = config(&format!(
        "rules: [{{alert: A, metric: m, op: '>', threshold: 1}}]\nnotify: {{alertmanager: {{endpoint: 'http://127.0.0.1:{port}', timeout: 1s}}}}"
    ));
    let node = NodeContext::new();
    let n = notify::targets(&c.notify, "slo", &node)
        .expect("builds")
        .expect("one target");
    let targets: Vec<_> = n
        .targets
        .into_iter()
        .map(|t| t.with_backoff(Duration::from_millis(10)))
        .collect();
    let task = tokio::spawn(notify::run(n.inbox, targets));
    let notice = Notice {
        labels: BTreeMap::from([("alertname".to_string(), "A".to_string())]),
        annotations: BTreeMap::new(),
        starts_at: T0,
        ends_at: T0 + 60.0,
        firing: true,
    };
    n.sender.send(vec![notice.clone(), notice]);
    drop(n.sender);
    tokio::time::timeout(Duration::from_secs(20), task)
        .await
        .expect("gives up in time")
        .expect("task");
    let counters = node.target_counters(super::notify::NOTIFICATIONS, "slo", "alertmanager");
    assert_eq!(
        counters.failed.load(Ordering::Relaxed),
        2,
        "both alerts counted failed"
    );
    assert_eq!(counters.sent.load(Ordering::Relaxed), 0);
    assert_eq!(node.target_snapshot()[0].3, [0, 2, 0]);
}

/// The SRE workbook's default pairs: a steady 0.7% error ratio against 99.9% is a burn
/// rate of 7: above the 6h/30m page (6) and both tickets (3, 1), under the 1h/5m page
/// (14.4); the summary names the first pair that burns.
#[test]
fn the_workbook_defaults_page_and_ticket_at_their_rates() {
    let mut e = engine(
        r#"
slos:
  - name: api
    objective: 99.9
    sli:
      ratio: {errors: {metric: requests, where: {code: "500"}}, total: {metric: requests}}
"#,
    );
    let (mut bad, mut good) = (0.0, 0.0);
    let mut last = Vec::new();
    for minute in 1..=60 {
        bad += 7.0;
        good += 993.0;
        let m = counter(
            "requests",
            vec![
                point(&[("code", "500")], bad, T0 + 1.0),
                point(&[("code", "200")], good, T0 + 1.0),
            ],
        );
        let t = T0 + 60.0 * f64::from(minute);
        e.ingest(&request(&[], vec![m]), t);
        last = e.evaluate(t).notices;
    }
    let _ = last;
    let report = e.report();
    let alerts = report["alerts"].as_array().expect("alerts").clone();
    let firing: Vec<(String, String)> = alerts
        .iter()
        .filter(|a| a["state"] == "firing")
        .map(|a| {
            (
                a["labels"]["severity"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                a["annotations"]["summary"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(firing.len(), 2, "{alerts:?}");
    assert_eq!(firing[0].0, "page");
    assert!(firing[0].1.contains("7x over 6h"), "{}", firing[0].1);
    assert_eq!(firing[1].0, "ticket");
    assert!(
        firing[1].1.contains("over 1day") || firing[1].1.contains("over 1d"),
        "{}",
        firing[1].1
    );
    let rates = report["slos"][0]["burn_rates"].as_array().expect("rates");
    assert!(
        rates
            .iter()
            .all(|r| (r["burn_rate"].as_f64().unwrap_or(0.0) - 7.0).abs() < 1e-9),
        "{rates:?}"
    );
}

/// Values of `slo.overflow.points` by (name, outcome).
fn overflow_points(metrics: &ExportMetricsServiceRequest) -> BTreeMap<(String, String), f64> {
    let mut out = BTreeMap::new();
    for m in metrics.resource_metrics[0].scope_metrics[0].metrics.iter() {
        if m.name != "slo.overflow.points" {
            continue;
        }
        let Some(metric::Data::Sum(s)) = &m.data else {
            panic!("a sum")
        };
        assert!(s.is_monotonic);
        for p in &s.data_points {
            let get = |k: &str| {
                p.attributes
                    .iter()
                    .find(|kv| kv.key == k)
                    .map(|kv| {
                        llamacol_api::attributes::value_string(kv.value.as_ref().expect("value"))
                    })
                    .unwrap_or_default()
            };
            let Some(number_data_point::Value::AsDouble(v)) = p.value else {
                panic!("a double")
            };
            out.insert((get("alertname"), get("outcome")), v);
        }
    }
    out
}

/// A cardinality burst: groups past `max_groups` are evaluated together in one overflow
/// group, whose alert carries `otel_metric_overflow="true"` and no `by` label; series past
/// `max_series` are left out; both are counted, and the store stays bounded.
#[test]
fn groups_and_series_past_their_bounds_overflow_and_are_counted() {
    let mut e = engine(
        r#"
evaluation_interval: 15s
max_groups: 3
max_series: 5
rules:
  - alert: GPUTemperatureHigh
    metric: hw.temperature
    by: [hw.id]
    aggregate: max
    window: 1m
    op: ">"
    threshold: 85
"#,
    );
    // Ten GPUs, each its own group and series; all hot.
    let points = (0..10)
        .map(|i| point(&[("hw.id", &format!("GPU-{i}"))], 90.0, 0.0))
        .collect();
    e.ingest(
        &request(NVML_RESOURCE, vec![gauge("hw.temperature", points)]),
        T0,
    );
    let evaluation = e.evaluate(T0);
    let metrics = evaluation.metrics.expect("metrics");
    let alerts = &metrics.resource_metrics[0].scope_metrics[0].metrics[0];
    let Some(metric::Data::Gauge(g)) = &alerts.data else {
        panic!("ALERTS gauge")
    };
    let labels: Vec<BTreeMap<String, String>> = g
        .data_points
        .iter()
        .map(|p| {
            p.attributes
                .iter()
                .map(|kv| {
                    (
                        kv.key.clone(),
                        llamacol_api::attributes::value_string(kv.value.as_ref().expect("v")),
                    )
                })
                .collect()
        })
        .collect();
    // Three groups of their own, and the overflow group (holding two series: 5 in all).
    assert_eq!(labels.len(), 4, "{labels:#?}");
    let overflow: Vec<_> = labels
        .iter()
        .filter(|l| l.get("otel_metric_overflow").map(String::as_str) == Some("true"))
        .collect();
    assert_eq!(overflow.len(), 1, "{labels:#?}");
    assert!(!overflow[0].contains_key("hw_id"), "{labels:#?}");
    assert_eq!(labels.iter().filter(|l| l.contains_key("hw_id")).count(), 3);
    let counted = overflow_points(&metrics);
    let key = |o: &str| ("GPUTemperatureHigh".to_string(), o.to_string());
    // GPUs 3..9 went to the overflow group: 2 kept there, 5 past max_series left out.
    assert_eq!(
        counted.get(&key("overflow_group")),
        Some(&7.0),
        "{counted:?}"
    );
    assert_eq!(counted.get(&key("left_out")), Some(&5.0), "{counted:?}");
}

#[test]
fn max_groups_and_max_series_of_0_are_refused() {
    let found = issues("{max_groups: 0, max_series: 0}");
    assert!(
        found
            .iter()
            .any(|i| i.starts_with("max_groups: must be at least 1")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|i| i.starts_with("max_series: must be at least 1")),
        "{found:?}"
    );
}
