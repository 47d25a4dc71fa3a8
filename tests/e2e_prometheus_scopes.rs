//! Scopes through Prometheus: an app instrumented with the OpenTelemetry Python SDK serves
//! its metrics with the SDK's own Prometheus exporter, which writes each series' scope as
//! `otel_scope_name`/`_version`/`_schema_url` and `otel_scope_<key>` labels. llamacol's
//! `prometheus` receiver and the real Collector's scrape it: both must put each metric in
//! the same scope (name, version, schema URL, attributes), with no `otel_scope_*` left on
//! the points, and give the same resource attributes. Needs `peers-python` (with
//! `opentelemetry-exporter-prometheus`) and `otelcol`, which `scripts/test` installs.

mod common;

use common::{arr, string_attrs as attrs};

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::{Duration, Instant};

use common::process::Running;
use common::{lines, Collector};
use llamacol_pipeline::testing::{external_program, free_port};

/// (scope name, version, schema URL, attributes) -> metric names, of the job's resource.
type Scopes = BTreeMap<(String, String, String, BTreeMap<String, String>), BTreeSet<String>>;

/// The scopes of the app's metrics, the resource attribute keys, and any point
/// attribute still named `otel_scope_*`.
fn read(path: &std::path::Path) -> (Scopes, BTreeSet<String>, Vec<String>) {
    let (mut scopes, mut resource, mut leftover) = (Scopes::new(), BTreeSet::new(), Vec::new());
    for line in lines(path) {
        for r in arr(&line["resourceMetrics"]) {
            let resource_attrs = attrs(&r["resource"]["attributes"]);
            if resource_attrs.get("service.name").map(String::as_str) != Some("app") {
                continue;
            }
            resource.extend(resource_attrs.into_keys());
            for s in arr(&r["scopeMetrics"]) {
                let scope = &s["scope"];
                let name = scope["name"].as_str().unwrap_or_default().to_string();
                // The receiver's own scope (`up`, `scrape_*`) differs by design.
                if name.contains("prometheus") {
                    continue;
                }
                let key = (
                    name,
                    scope["version"].as_str().unwrap_or_default().to_string(),
                    s["schemaUrl"].as_str().unwrap_or_default().to_string(),
                    attrs(&scope["attributes"]),
                );
                for m in arr(&s["metrics"]) {
                    scopes
                        .entry(key.clone())
                        .or_default()
                        .insert(m["name"].as_str().unwrap_or_default().to_string());
                    for kind in ["sum", "gauge", "histogram"] {
                        for p in arr(&m[kind]["dataPoints"]) {
                            leftover.extend(
                                attrs(&p["attributes"])
                                    .into_keys()
                                    .filter(|k| k.starts_with("otel_scope_")),
                            );
                        }
                    }
                }
            }
        }
    }
    (scopes, resource, leftover)
}

#[test]
#[ignore = "needs peers-python and otelcol: run scripts/test"]
fn sdk_scopes_survive_prometheus_as_in_the_collector() {
    let dir = tempfile::tempdir().expect("tmp");
    let port = free_port();
    let mut command = Command::new(external_program("peers-python"));
    command
        .arg("tests/python/prometheus_exporter_app.py")
        .arg(port.to_string());
    let mut app = Running::spawn(
        "prometheus_exporter_app",
        &mut command,
        dir.path().join("app.log"),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while common::http_get(port, "/metrics").0 != 200 {
        app.assert_running();
        assert!(Instant::now() < deadline, "the app does not serve /metrics");
        std::thread::sleep(Duration::from_millis(100));
    }
    let scrape = format!(
        "    config:\n      global: {{scrape_interval: 1s}}\n      scrape_configs:\n        - job_name: app\n          static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n"
    );
    let collector = Collector::from_yaml(&format!(
            "receivers:\n  prometheus:\n{scrape}exporters:\n  file: {{path: \"${{env:LLAMACOL_FILE_PATH}}\"}}\nservice:\n  telemetry: {{admin: {{endpoint: \"${{env:LLAMACOL_ADMIN_ENDPOINT}}\"}}}}\n  pipelines:\n    metrics: {{receivers: [prometheus], exporters: [file]}}\n"
        ));
    let otelcol = common::otelcol::Otelcol::start(
        &format!(
            "receivers:\n  otlp:\n    protocols:\n      grpc: {{endpoint: \"${{env:OTELCOL_GRPC}}\"}}\n      http: {{endpoint: \"${{env:OTELCOL_HTTP}}\"}}\n  prometheus:\n{scrape}exporters:\n  file: {{path: \"${{env:OTELCOL_FILE}}\"}}\n  nop: {{}}\nservice:\n  pipelines:\n    metrics: {{receivers: [prometheus], exporters: [file]}}\n    traces: {{receivers: [otlp], exporters: [nop]}}\n"
        ),
        &[],
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mine, theirs) = loop {
        let (mine, theirs) = (read(&collector.file), read(&otelcol.file));
        if mine.0.len() >= 2 && mine.0 == theirs.0 && mine.1 == theirs.1 {
            break (mine, theirs);
        }
        assert!(
            Instant::now() < deadline,
            "scopes differ:\nllamacol {:#?}\nthe Collector {:#?}\nresource: {:?} vs {:?}\n{}",
            mine.0,
            theirs.0,
            mine.1,
            theirs.1,
            collector.stderr()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let app_scope = mine
        .0
        .iter()
        .find(|(k, _)| k.0 == "llm.app")
        .expect("the llm.app scope");
    assert_eq!(app_scope.0 .1, "1.2.0");
    assert_eq!(app_scope.0 .2, "https://opentelemetry.io/schemas/1.26.0");
    assert_eq!(
        app_scope.0 .3.get("team").map(String::as_str),
        Some("inference")
    );
    assert!(
        app_scope.1.iter().any(|m| m.starts_with("llm_requests")),
        "{:?}",
        app_scope.1
    );
    let db = mine
        .0
        .iter()
        .find(|(k, _)| k.0 == "db.client")
        .expect("db.client");
    assert_eq!(db.0 .1, "0.3.1");
    assert!(
        db.1.iter().any(|m| m.starts_with("db_queries")),
        "{:?}",
        db.1
    );
    assert!(
        mine.2.is_empty(),
        "otel_scope_* left on points: {:?}",
        mine.2
    );
    assert!(theirs.2.is_empty());
    eprintln!(
        "{} scopes alike: {:?}",
        mine.0.len(),
        mine.0.keys().map(|k| &k.0).collect::<Vec<_>>()
    );
}
