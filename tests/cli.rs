//! The real binary: `validate` over every shipped config and bad files, `components`,
//! the admin endpoints, and a SIGTERM under load that loses nothing acknowledged.

mod common;

use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use common::{http_get, lines, spans, Collector};
use prost::Message;

fn llamacol(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_llamacol"))
        .args(args)
        .output()
        .expect("run llamacol");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_shipped_config_validates() {
    let mut checked = 0;
    for entry in std::fs::read_dir("configs").expect("configs/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            let (code, _, stderr) = llamacol(&["validate", "-c", &path.display().to_string()]);
            assert_eq!(code, 0, "{}: {stderr}", path.display());
            assert!(stderr.contains("configuration is valid"), "{stderr}");
            assert!(!stderr.contains("warning"), "{}: {stderr}", path.display());
            checked += 1;
        }
    }
    assert!(checked >= 3, "only {checked} configs found");
    let (code, _, stderr) = llamacol(&["validate"]);
    assert_eq!(code, 0, "the embedded default is valid: {stderr}");
}

#[test]
fn validate_exits_2_and_prints_every_error() {
    let (code, _, stderr) = llamacol(&["validate", "-c", "tests/testdata/config/many_errors.yaml"]);
    assert_eq!(code, 2);
    assert!(
        stderr.starts_with("invalid configuration (5 errors):"),
        "{stderr}"
    );
    assert_eq!(stderr.matches("\n  error: ").count(), 5, "{stderr}");
    let (code, _, stderr) = llamacol(&["validate", "-c", "no/such/file.yaml"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("cannot read config file `no/such/file.yaml`"),
        "{stderr}"
    );
}

#[test]
fn components_lists_every_registered_type() {
    let (code, stdout, _) = llamacol(&["components"]);
    assert_eq!(code, 0);
    let rows: Vec<Vec<&str>> = stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    for row in [
        ["receiver", "otlp", "traces,metrics,logs"],
        ["exporter", "debug", "traces,metrics,logs"],
        ["exporter", "prometheusremotewrite", "metrics"],
        [
            "connector",
            "forward",
            "traces->traces,metrics->metrics,logs->logs",
        ],
    ] {
        assert!(
            rows.contains(&row.to_vec()),
            "missing `{row:?}` in:\n{stdout}"
        );
    }
    // Every column starts where its heading does, the longest type name included.
    let heading = stdout.lines().next().expect("heading");
    let signals_at = heading.find("SIGNALS").expect("SIGNALS column");
    for line in stdout.lines().skip(1) {
        let cell = &line[signals_at..];
        assert!(
            !cell.starts_with(' ') && !line[..signals_at].ends_with(|c: char| c != ' '),
            "misaligned: `{line}`"
        );
    }
}

#[test]
fn components_as_json_for_scripts() {
    let (code, stdout, _) = llamacol(&["components", "--output", "json"]);
    assert_eq!(code, 0);
    let all: Vec<serde_json::Value> = serde_json::from_str(&stdout).expect("a JSON array");
    let find = |kind: &str, name: &str| {
        all.iter()
            .find(|c| c["kind"] == kind && c["type"] == name)
            .unwrap_or_else(|| panic!("{kind} {name} missing: {stdout}"))
            .clone()
    };
    assert_eq!(
        find("exporter", "prometheusremotewrite")["signals"],
        serde_json::json!(["metrics"])
    );
    assert_eq!(
        find("connector", "genai_metrics")["pairs"],
        serde_json::json!(["traces->metrics"])
    );
    assert_eq!(
        find("extension", "health_check")["signals"],
        serde_json::json!([])
    );
}

#[test]
fn admin_endpoints_serve_health_metrics_and_the_graph() {
    let mut collector = Collector::start("configs/otlp-to-file.yaml");
    assert_eq!(http_get(collector.admin, "/healthz").0, 200);
    assert_eq!(http_get(collector.admin, "/readyz").0, 200);
    let body = llamacol_pipeline::testing::sample_traces(1, 7).encode_to_vec();
    let resp = otlp_http::post(collector.http, body);
    assert_eq!(resp, 200);
    let (status, metrics) = http_get(collector.admin, "/metrics");
    assert_eq!(status, 200);
    assert!(
        metrics.contains(
            "llamacol_receiver_accepted_items_total{component=\"otlp\",signal=\"traces\"} 7"
        ),
        "{metrics}"
    );
    assert!(metrics.contains("llamacol_exporter_accepted_items_total{component=\"file\",signal=\"traces\",pipeline=\"traces\"} 7"), "{metrics}");
    assert!(
        metrics.contains("llamacol_exporter_queue_capacity{component=\"file\"} 1000"),
        "{metrics}"
    );
    let (status, graph) = http_get(collector.admin, "/debug/pipelines");
    assert_eq!(status, 200);
    let graph: serde_json::Value = serde_json::from_str(&graph).expect("json");
    assert_eq!(graph["ready"], true);
    assert_eq!(graph["pipelines"][0]["id"], "traces");
    assert_eq!(graph["pipelines"][0]["exporters"][0], "file");
    assert_eq!(graph["queues"][0]["capacity"], 1000);
    let (status, _) = collector.terminate();
    assert!(status.success());
}

#[test]
fn sigterm_under_load_exits_0_and_writes_everything_acknowledged() {
    let mut collector = Collector::start("configs/otlp-to-file.yaml");
    let port = collector.http;
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let senders: Vec<_> = (0..4)
        .map(|_| {
            let (ack, stop) = (acknowledged.clone(), stop.clone());
            std::thread::spawn(move || {
                let body = llamacol_pipeline::testing::sample_traces(2, 10).encode_to_vec();
                while !stop.load(Ordering::SeqCst) {
                    match otlp_http::post(port, body.clone()) {
                        200 => {
                            ack.fetch_add(20, Ordering::SeqCst);
                        }
                        0 => break, // the collector closed its listener
                        _ => {}
                    }
                }
            })
        })
        .collect();
    while acknowledged.load(Ordering::SeqCst) < 2000 {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let (status, took) = collector.terminate();
    stop.store(true, Ordering::SeqCst);
    for s in senders {
        let _ = s.join();
    }
    assert!(status.success(), "exit {status}: {}", collector.stderr());
    assert!(took.as_secs() < 10, "within the 10s deadline: {took:?}");
    let written = spans(&lines(&collector.file)).len();
    assert_eq!(
        written,
        acknowledged.load(Ordering::SeqCst),
        "every acknowledged span was written"
    );
}

/// A minimal blocking OTLP/HTTP protobuf POST (std only): returns the status, 0 on failure.
mod otlp_http {
    use std::io::{Read, Write};
    use std::net::TcpStream;

    pub fn post(port: u16, body: Vec<u8>) -> u16 {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
            return 0;
        };
        let head = format!(
            "POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        if s.write_all(head.as_bytes())
            .and_then(|()| s.write_all(&body))
            .is_err()
        {
            return 0;
        }
        let mut resp = String::new();
        let _ = s.read_to_string(&mut resp);
        resp.split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0)
    }
}

#[test]
fn a_second_signal_forces_exit_and_readyz_turns_503_while_draining() {
    let dead = llamacol_pipeline::testing::free_port();
    let mut collector = Collector::launch(
        &["tests/testdata/e2e/slow-drain.yaml"],
        &[("LLAMACOL_DEAD_ENDPOINT", format!("127.0.0.1:{dead}"))],
    );
    let body = llamacol_pipeline::testing::sample_traces(1, 3).encode_to_vec();
    assert_eq!(
        otlp_http::post(collector.http, body),
        200,
        "queued for the dead backend"
    );
    common::signal(collector.pid(), "TERM");
    // The drain waits on the dead backend (deadline 60 s): not ready, still alive.
    let started = std::time::Instant::now();
    let mut saw_503 = false;
    while started.elapsed() < std::time::Duration::from_secs(5) && !saw_503 {
        saw_503 = http_get(collector.admin, "/readyz").0 == 503;
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(saw_503, "readyz must say 503 while shutting down");
    let (status, took) = collector.terminate();
    assert_eq!(
        status.code(),
        Some(130),
        "the second signal forces the exit: {}",
        collector.stderr()
    );
    assert!(
        took.as_secs() < 5,
        "forced exit is immediate, not the 60 s deadline: {took:?}"
    );
    assert!(
        collector.stderr().contains("second signal"),
        "{}",
        collector.stderr()
    );
}
