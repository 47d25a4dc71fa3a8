//! TLS and mTLS on the OTLP receiver, with the OpenTelemetry Python SDK as the client
//! (tests/python/tls_send.py) over gRPC and HTTP: a CA made in the test, a client
//! certificate required under mTLS, and a server certificate replaced on disk mid-run.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{lines, spans, Collector};
use llamacol_pipeline::testing::external_program;
use llamacol_pipeline::testing::tls::{Leaf, TestCa};
use serde_json::Value;

/// llamacol with OTLP/gRPC and OTLP/HTTP over TLS (`client_ca` makes it mTLS), spans to
/// a file.
fn collector(
    dir: &std::path::Path,
    server: &Leaf,
    client_ca: Option<&std::path::Path>,
) -> Collector {
    let client_ca = client_ca
        .map(|p| format!(", client_ca_file: \"{}\"", p.display()))
        .unwrap_or_default();
    let tls = format!(
        "{{cert_file: \"{}\", key_file: \"{}\", reload_interval: 100ms{client_ca}}}",
        server.cert.display(),
        server.key.display()
    );
    let config = dir.join("tls.yaml");
    std::fs::write(
        &config,
        format!(
            "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: ${{env:LLAMACOL_OTLP_GRPC_ENDPOINT}}\n        tls: {tls}\n      http:\n        endpoint: ${{env:LLAMACOL_OTLP_HTTP_ENDPOINT}}\n        tls: {tls}\nexporters:\n  file:\n    path: ${{env:LLAMACOL_FILE_PATH}}\nservice:\n  telemetry:\n    admin:\n      endpoint: ${{env:LLAMACOL_ADMIN_ENDPOINT}}\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [file]\n"
        ),
    )
    .expect("write config");
    Collector::launch(&[&config.to_string_lossy()], &[])
}

/// The SDK's export result (`SUCCESS` / `FAILURE`) and the trace id it sent.
fn send(
    protocol: &str,
    port: u16,
    ca: &std::path::Path,
    client: Option<&Leaf>,
) -> (String, String) {
    let mut command = Command::new(external_program("peers-python"));
    // requests lets these override the exporter's own `certificate_file` (a Session's
    // `verify` loses to them), so the SDK would not trust the test CA.
    command
        .env_remove("REQUESTS_CA_BUNDLE")
        .env_remove("CURL_CA_BUNDLE");
    command.args([
        "tests/python/tls_send.py",
        protocol,
        &format!("localhost:{port}"),
        &ca.to_string_lossy(),
    ]);
    if let Some(c) = client {
        command.arg(&c.cert).arg(&c.key);
    }
    let out = command.output().expect("python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    (
        v["result"].as_str().unwrap_or_default().to_string(),
        v["trace_id"].as_str().unwrap_or_default().to_string(),
    )
}

fn received(collector: &Collector, trace_id: &str) -> bool {
    for _ in 0..50 {
        if spans(&lines(&collector.file))
            .iter()
            .any(|s| s["traceId"] == trace_id)
        {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
#[ignore = "needs peers-python (OpenTelemetry SDK): run scripts/test"]
fn the_python_sdk_sends_over_tls_on_both_protocols_and_a_renewed_certificate_is_picked_up() {
    let dir = tempfile::tempdir().expect("tmp");
    let ca = TestCa::new();
    let ca_file = ca.write_ca(dir.path(), "ca.pem");
    let server = ca.leaf(dir.path(), "server", &["localhost"], false);
    let mut collector = collector(dir.path(), &server, None);
    for (protocol, port) in [("grpc", collector.grpc), ("http", collector.http)] {
        let (result, trace) = send(protocol, port, &ca_file, None);
        assert_eq!(
            result,
            "SUCCESS",
            "{protocol} over TLS: {}",
            collector.stderr()
        );
        assert!(received(&collector, &trace), "{protocol}: the span arrived");
    }

    // Renewal by a new CA (so the old trust cannot accept it by accident): written over
    // the same files while llamacol runs.
    let renewed_ca = TestCa::new();
    let renewed_ca_file = renewed_ca.write_ca(dir.path(), "renewed-ca.pem");
    let staging = tempfile::tempdir().expect("tmp");
    let renewed = renewed_ca.leaf(staging.path(), "server", &["localhost"], false);
    std::fs::copy(&renewed.key, &server.key).expect("key");
    std::fs::copy(&renewed.cert, &server.cert).expect("cert");
    std::thread::sleep(Duration::from_millis(300));
    for (protocol, port) in [("grpc", collector.grpc), ("http", collector.http)] {
        // The first handshake after the interval notices the change.
        let _ = send(protocol, port, &renewed_ca_file, None);
        let (result, trace) = send(protocol, port, &renewed_ca_file, None);
        assert_eq!(
            result,
            "SUCCESS",
            "{protocol} with the renewed certificate: {}",
            collector.stderr()
        );
        assert!(received(&collector, &trace));
        let (old_trust, _) = send(protocol, port, &ca_file, None);
        assert_eq!(
            old_trust, "FAILURE",
            "{protocol}: the old certificate is gone"
        );
    }
    assert!(
        collector.stderr().contains("TLS certificate reloaded"),
        "{}",
        collector.stderr()
    );
    let (status, _) = collector.terminate();
    assert!(status.success());
}

#[test]
#[ignore = "needs peers-python (OpenTelemetry SDK): run scripts/test"]
fn mtls_takes_a_client_certificate_from_the_ca_and_refuses_a_client_without_one() {
    let dir = tempfile::tempdir().expect("tmp");
    let ca = TestCa::new();
    let ca_file = ca.write_ca(dir.path(), "ca.pem");
    let server = ca.leaf(dir.path(), "server", &["localhost"], false);
    let client = ca.leaf(dir.path(), "client", &["llm-app"], false);
    let mut collector = collector(dir.path(), &server, Some(&ca_file));
    for (protocol, port) in [("grpc", collector.grpc), ("http", collector.http)] {
        let (result, trace) = send(protocol, port, &ca_file, Some(&client));
        assert_eq!(
            result,
            "SUCCESS",
            "{protocol} with a client certificate: {}",
            collector.stderr()
        );
        assert!(received(&collector, &trace));
        let (result, trace) = send(protocol, port, &ca_file, None);
        assert_eq!(result, "FAILURE", "{protocol} without a client certificate");
        assert!(
            !received(&collector, &trace),
            "{protocol}: nothing from the refused client"
        );
    }
    let (status, _) = collector.terminate();
    assert!(status.success());
}
