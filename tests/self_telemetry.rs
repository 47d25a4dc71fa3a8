//! llamacol's own telemetry as the Collector's `service.telemetry` configures it, sent
//! to the real OpenTelemetry Collector: logs through `logs.processors` (OTLP/HTTP),
//! metrics through a `periodic` reader (OTLP/gRPC), both under `service.telemetry.resource`;
//! `/metrics` serves that resource as `target_info`.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::otelcol::Otelcol;
use common::{attr, http_get, lines, Collector};

const OTELCOL: &str = "receivers:\n  otlp:\n    protocols:\n      grpc: {endpoint: \"${env:OTELCOL_GRPC}\"}\n      http: {endpoint: \"${env:OTELCOL_HTTP}\"}\nexporters:\n  file: {path: \"${env:OTELCOL_FILE}\"}\nservice:\n  telemetry:\n    metrics:\n      level: none\n  pipelines:\n    logs: {receivers: [otlp], exporters: [file]}\n    metrics: {receivers: [otlp], exporters: [file]}\n";

fn resource_of<'a>(line: &'a serde_json::Value, key: &str) -> Option<&'a serde_json::Value> {
    line[key].as_array()?.first()?.get("resource")
}

#[test]
#[ignore = "needs otelcol: run scripts/test"]
fn own_logs_and_metrics_reach_the_collector_under_the_configured_resource() {
    let mut otelcol = Otelcol::start(OTELCOL, &[]);
    let dir = tempfile::tempdir().expect("tmp");
    let config = dir.path().join("llamacol.yaml");
    std::fs::write(
        &config,
        format!(
            "receivers: {{otlp: {{protocols: {{grpc: {{endpoint: \"${{env:LLAMACOL_OTLP_GRPC_ENDPOINT}}\"}}}}}}}}\n\
             exporters: {{debug: {{}}}}\n\
             service:\n\
             \x20 telemetry:\n\
             \x20   admin: {{endpoint: \"${{env:LLAMACOL_ADMIN_ENDPOINT}}\"}}\n\
             \x20   resource:\n\
             \x20     service.name: gpu-gateway\n\
             \x20     deployment.environment.name: test\n\
             \x20     service.instance.id: null\n\
             \x20   logs:\n\
             \x20     sampling: {{enabled: true, tick: 10s, initial: 10, thereafter: 100}}\n\
             \x20     processors:\n\
             \x20       - batch:\n\
             \x20           schedule_delay: 100\n\
             \x20           exporter:\n\
             \x20             otlp: {{protocol: http/protobuf, endpoint: \"http://127.0.0.1:{http}/v1/logs\"}}\n\
             \x20   metrics:\n\
             \x20     readers:\n\
             \x20       - periodic:\n\
             \x20           interval: 300\n\
             \x20           exporter:\n\
             \x20             otlp: {{protocol: grpc, endpoint: \"http://127.0.0.1:{grpc}\"}}\n\
             \x20 pipelines: {{traces: {{receivers: [otlp], exporters: [debug]}}}}\n",
            http = otelcol.http,
            grpc = otelcol.grpc,
        ),
    )
    .expect("write");
    let mut llamacol = Collector::start(&config.to_string_lossy());

    let (status, body) = http_get(llamacol.admin, "/metrics");
    assert_eq!(status, 200);
    let target_info = body
        .lines()
        .find(|l| l.starts_with("target_info{"))
        .unwrap_or_else(|| panic!("no target_info: {body}"));
    assert!(
        target_info.contains("service_name=\"gpu-gateway\"")
            && target_info.contains("deployment_environment_name=\"test\"")
            && !target_info.contains("service_instance_id"),
        "{target_info}"
    );

    let file = Path::new(&otelcol.file).to_path_buf();
    let deadline = Instant::now() + Duration::from_secs(20);
    let (mut logs, mut metrics) = (None, None);
    while logs.is_none() || metrics.is_none() {
        assert!(
            Instant::now() < deadline,
            "not both arrived (logs {}, metrics {}): {}",
            logs.is_some(),
            metrics.is_some(),
            llamacol.stderr()
        );
        std::thread::sleep(Duration::from_millis(200));
        for line in lines(&file) {
            if line.get("resourceLogs").is_some() && logs.is_none() {
                logs = Some(line);
            } else if line.get("resourceMetrics").is_some() && metrics.is_none() {
                metrics = Some(line);
            }
        }
    }
    let (logs, metrics) = (logs.expect("logs"), metrics.expect("metrics"));
    for (line, key) in [(&logs, "resourceLogs"), (&metrics, "resourceMetrics")] {
        let resource = resource_of(line, key).expect("resource");
        assert_eq!(
            attr(resource, "service.name").as_deref(),
            Some("gpu-gateway"),
            "{key}"
        );
        assert_eq!(
            attr(resource, "deployment.environment.name").as_deref(),
            Some("test")
        );
        assert_eq!(
            attr(resource, "service.instance.id"),
            None,
            "removed by null"
        );
        assert!(attr(resource, "service.version").is_some());
    }
    let text = logs.to_string();
    assert!(text.contains("llamacol is ready"), "{text}");
    assert!(text.contains("\"severityText\":\"INFO\""), "{text}");
    let text = metrics.to_string();
    assert!(
        text.contains("\"name\":\"llamacol_build_info\"") && text.contains("\"isMonotonic\":true"),
        "{text}"
    );
    llamacol.terminate();
    otelcol.terminate();
}
