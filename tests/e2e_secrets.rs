//! Secrets never shown: every secret-bearing key is set to a marker, and every path that
//! prints config or errors is run (validate with an error beside them, a start that fails
//! on a key file, a run at debug log level with every backend down so exports,
//! notifications, uploads and scrapes fail and are retried, requests refused by the
//! authenticator and accepted with the marker as the token, the admin pages); no output
//! may contain a marker.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{http_get, Collector};
use llamacol_pipeline::testing::free_port;

const MARK: &str = "sekr3t-mark";

fn marker(n: u32) -> String {
    format!("{MARK}-{n}")
}

/// Every secret-bearing key set to a marker; every backend on a port nothing listens on.
fn config(extra: &str) -> String {
    let dead = free_port();
    format!(
        r#"extensions:
  bearertokenauth/in:
    token: {m1}
  bearertokenauth/out:
    token: {m2}
  basicauth/out:
    client_auth: {{username: exporter, password: {m4}}}
  basicauth/unused-check:
    htpasswd: {{inline: "user:{m3}"}}
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: ${{env:LLAMACOL_OTLP_GRPC_ENDPOINT}}
        auth: {{authenticator: bearertokenauth/in}}
      http:
        endpoint: ${{env:LLAMACOL_OTLP_HTTP_ENDPOINT}}
        auth: {{authenticator: bearertokenauth/in}}
  llamacpp:
    collection_interval: 1s
    targets:
      - endpoint: http://127.0.0.1:{dead}
        headers: {{authorization: "Bearer {m5}"}}
processors:
  slo:
    evaluation_interval: 1s
    resend_delay: 1s
    rules:
      - {{alert: AlwaysFiring, metric: llamacpp.up, op: "==", threshold: 0, for: 0s}}
    notify:
      alertmanager:
        endpoint: http://127.0.0.1:{dead}
        headers: {{authorization: "Bearer {m9}"}}
exporters:
  otlp:
    endpoint: 127.0.0.1:{dead}
    tls: {{insecure: true}}
    headers: {{x-api-key: {m6}}}
    auth: {{authenticator: bearertokenauth/out}}
    retry_on_failure: {{initial_interval: 100ms, max_elapsed_time: 2s}}
  prometheusremotewrite:
    endpoint: http://127.0.0.1:{dead}/api/v1/write
    headers: {{x-scope-orgid: {m7}}}
    auth: {{authenticator: basicauth/out}}
    retry_on_failure: {{initial_interval: 100ms, max_elapsed_time: 2s}}
  graphistry:
    server: 127.0.0.1:{dead}
    protocol: http
    username: alice
    password: {m8}
    max_spans: 1
{extra}service:
  extensions: [bearertokenauth/in, bearertokenauth/out, basicauth/out, basicauth/unused-check]
  telemetry:
    admin:
      endpoint: ${{env:LLAMACOL_ADMIN_ENDPOINT}}
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlp, graphistry]
    metrics:
      receivers: [otlp, llamacpp]
      processors: [slo]
      exporters: [prometheusremotewrite]
"#,
        m1 = marker(1),
        m2 = marker(2),
        m3 = marker(3),
        m4 = marker(4),
        m5 = marker(5),
        m6 = marker(6),
        m7 = marker(7),
        m8 = marker(8),
        m9 = marker(9),
    )
}

fn assert_clean(what: &str, text: &str) {
    if let Some(at) = text.find(MARK) {
        let start = at.saturating_sub(300);
        panic!(
            "{what} shows a secret: ...{}...",
            &text[start..(at + 40).min(text.len())]
        );
    }
}

#[test]
fn no_secret_reaches_validate_output_start_errors_logs_or_admin_pages() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("secrets.yaml");
    let llamacol = env!("CARGO_BIN_EXE_llamacol");
    let env = [
        ("LLAMACOL_OTLP_GRPC_ENDPOINT", "127.0.0.1:4317"),
        ("LLAMACOL_OTLP_HTTP_ENDPOINT", "127.0.0.1:4318"),
        ("LLAMACOL_ADMIN_ENDPOINT", "127.0.0.1:8888"),
    ];

    // 1. validate, with an error next to the secrets (and one in a secret's own block).
    std::fs::write(
        &path,
        config("  otlp/typo:\n    endpont: x\n    headers: {authorization: sekr3t-mark-10}\n"),
    )
    .expect("write");
    let (_, shown) = common::validate(&path, &env);
    assert!(shown.contains("did you mean `endpoint`"), "{shown}");
    assert_clean("validate", &shown);

    // 2. A start that fails on a TLS key file whose contents are a secret.
    let key = dir.path().join("key.pem");
    std::fs::write(&key, format!("{}\n", marker(11))).expect("write");
    let leaf = llamacol_pipeline::testing::tls::TestCa::new().leaf(
        dir.path(),
        "server",
        &["localhost"],
        false,
    );
    let tls_config = dir.path().join("tls.yaml");
    std::fs::write(
        &tls_config,
        format!(
            "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:{}\n        tls: {{cert_file: \"{}\", key_file: \"{}\"}}\nexporters:\n  debug: {{}}\nservice:\n  telemetry: {{admin: {{endpoint: \"127.0.0.1:{}\"}}}}\n  pipelines:\n    traces: {{receivers: [otlp], exporters: [debug]}}\n",
            free_port(),
            leaf.cert.display(),
            key.display(),
            free_port()
        ),
    )
    .expect("write");
    let out = Command::new(llamacol)
        .args([
            "run",
            "--log-level",
            "debug",
            "-c",
            &tls_config.to_string_lossy(),
        ])
        .output()
        .expect("run");
    let shown = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !out.status.success() && shown.contains("key.pem"),
        "{shown}"
    );
    assert_clean("a failed start", &shown);

    // 3. A run at debug level where everything that can fail does.
    std::fs::write(&path, config("")).expect("write");
    let mut collector = Collector::launch_at_level(&[&path.to_string_lossy()], &[], "debug");
    let client = reqwest::blocking::Client::new();
    let traces = prost::Message::encode_to_vec(&llamacol_pipeline::testing::sample_traces(1, 2));
    let metrics = prost::Message::encode_to_vec(&llamacol_pipeline::testing::sample_metrics(3));
    for (path, body, token) in [
        ("/v1/traces", &traces, "Bearer wrong"),
        ("/v1/traces", &traces, &*format!("Bearer {}", marker(1))),
        ("/v1/metrics", &metrics, &*format!("Bearer {}", marker(1))),
    ] {
        let _ = client
            .post(format!("http://127.0.0.1:{}{path}", collector.http))
            .header("content-type", "application/x-protobuf")
            .header("authorization", token)
            .body(body.clone())
            .send();
    }
    std::thread::sleep(Duration::from_secs(4));
    for page in ["/debug/pipelines", "/debug/alerts", "/metrics"] {
        let (_, body) = http_get(collector.admin, page);
        assert_clean(page, &body);
    }
    let (status, _) = collector.terminate();
    assert!(status.success());
    let logs = collector.stderr();
    // What ran: refused auth, failing exports, scrapes, notifications and uploads.
    for expected in ["unauthenticated", "llamacpp", "alertmanager", "graphistry"] {
        assert!(
            logs.to_lowercase().contains(expected),
            "the run exercised {expected}: {logs}"
        );
    }
    assert_clean("the debug log", &logs);
}
