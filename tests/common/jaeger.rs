//! The real Jaeger v2 (`jaeger`, built by `scripts/peers.sh` from the Go module in
//! `tests/peers/jaeger`), started with its all-in-one configuration (memory storage) on
//! ports the test picks, and read back through its query API.

use std::process::Command;
use std::time::{Duration, Instant};

use llamacol_pipeline::testing::{external_program, free_port};

use super::process::Running;

pub struct Jaeger {
    process: Running,
    /// OTLP/gRPC (4317 in Jaeger's defaults).
    pub otlp_grpc: u16,
    /// OTLP/HTTP (4318).
    pub otlp_http: u16,
    /// Jaeger's `api_v2` gRPC collector (14250).
    pub grpc: u16,
    /// The query service's HTTP API (16686).
    pub query: u16,
    /// Jaeger's own metrics (Prometheus text on `/metrics`), when started with them.
    pub metrics: Option<u16>,
    _dir: tempfile::TempDir,
}

impl Jaeger {
    pub fn start() -> Jaeger {
        Jaeger::start_config("all-in-one.yaml", None)
    }

    /// Started with its own metrics served on a free port (`metrics`).
    pub fn start_with_metrics() -> Jaeger {
        Jaeger::start_config("all-in-one-metrics.yaml", Some(free_port()))
    }

    fn start_config(file: &str, metrics: Option<u16>) -> Jaeger {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = format!(
            "{}/tests/testdata/jaeger/{file}",
            env!("CARGO_MANIFEST_DIR")
        );
        let (otlp_grpc, otlp_http, grpc, query, query_grpc) = (
            free_port(),
            free_port(),
            free_port(),
            free_port(),
            free_port(),
        );
        let mut command = Command::new(external_program("jaeger"));
        command
            .arg(format!("--config={config}"))
            .env("JAEGER_OTLP_GRPC_PORT", otlp_grpc.to_string())
            .env("JAEGER_OTLP_HTTP_PORT", otlp_http.to_string())
            .env("JAEGER_GRPC_PORT", grpc.to_string())
            .env("JAEGER_QUERY_HTTP_PORT", query.to_string())
            .env("JAEGER_QUERY_GRPC_PORT", query_grpc.to_string())
            .env(
                "JAEGER_METRICS_PORT",
                metrics.unwrap_or_default().to_string(),
            );
        let mut process = Running::spawn("jaeger", &mut command, dir.path().join("jaeger.log"));
        let deadline = Instant::now() + Duration::from_secs(30);
        while ![otlp_grpc, grpc, query]
            .iter()
            .all(|p| std::net::TcpStream::connect(("127.0.0.1", *p)).is_ok())
        {
            process.assert_running();
            assert!(
                Instant::now() < deadline,
                "jaeger not listening in 30s: {}",
                process.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Jaeger {
            process,
            otlp_grpc,
            otlp_http,
            grpc,
            query,
            metrics,
            _dir: dir,
        }
    }

    /// `GET` on the query API: (status, body). Its answers are chunked when large, so
    /// this is a real HTTP client, not the tests' one-shot `http_get`.
    fn get(&self, path: &str) -> (u16, String) {
        match reqwest::blocking::get(format!("http://127.0.0.1:{}{path}", self.query)) {
            Ok(r) => (r.status().as_u16(), r.text().unwrap_or_default()),
            Err(e) => (0, e.to_string()),
        }
    }

    /// The JSON answer's `data` for `path`.
    pub fn query(&self, path: &str) -> serde_json::Value {
        let (status, body) = self.get(path);
        assert_eq!(status, 200, "GET {path}: {body}\n{}", self.process.log());
        let v: serde_json::Value = serde_json::from_str(&body).expect("query API JSON");
        v["data"].clone()
    }

    /// The trace `trace_id` (hex) once it has `spans` spans; panics after 30 s.
    pub fn wait_for_trace(&self, trace_id: &str, spans: usize) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (status, body) = self.get(&format!("/api/traces/{trace_id}"));
            if status == 200 {
                let v: serde_json::Value = serde_json::from_str(&body).expect("JSON");
                let trace = &v["data"][0];
                if trace["spans"].as_array().map_or(0, Vec::len) >= spans {
                    return trace.clone();
                }
            }
            assert!(
                Instant::now() < deadline,
                "trace {trace_id} with {spans} spans not in Jaeger after 30s (last: {status} {body})"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// The Collector's `jaeger` and `zipkin` receivers as built into Jaeger v2
/// (`tests/testdata/jaeger/collector-receivers.yaml`), every protocol on a port the test
/// picks, forwarding what they translate as OTLP/gRPC to `otlp`.
pub struct CollectorReceivers {
    process: Running,
    pub grpc: u16,
    pub thrift_http: u16,
    pub thrift_compact: u16,
    pub thrift_binary: u16,
    pub zipkin: u16,
    _dir: tempfile::TempDir,
}

impl CollectorReceivers {
    pub fn start(otlp: u16) -> CollectorReceivers {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = format!(
            "{}/tests/testdata/jaeger/collector-receivers.yaml",
            env!("CARGO_MANIFEST_DIR")
        );
        let ports = [
            free_port(),
            free_port(),
            free_port(),
            free_port(),
            free_port(),
        ];
        let [grpc, thrift_http, thrift_compact, thrift_binary, zipkin] = ports;
        let mut command = Command::new(external_program("jaeger"));
        command
            .arg(format!("--config={config}"))
            .env("REF_JAEGER_GRPC_PORT", grpc.to_string())
            .env("REF_JAEGER_HTTP_PORT", thrift_http.to_string())
            .env("REF_JAEGER_COMPACT_PORT", thrift_compact.to_string())
            .env("REF_JAEGER_BINARY_PORT", thrift_binary.to_string())
            .env("REF_ZIPKIN_PORT", zipkin.to_string())
            .env("REF_OTLP_PORT", otlp.to_string());
        let mut process = Running::spawn("jaeger", &mut command, dir.path().join("jaeger.log"));
        let deadline = Instant::now() + Duration::from_secs(30);
        // The UDP ports open with the TCP ones ("Everything is ready" follows them all).
        while !process.log().contains("Everything is ready") {
            process.assert_running();
            assert!(
                Instant::now() < deadline,
                "jaeger not ready in 30s: {}",
                process.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        CollectorReceivers {
            process,
            grpc,
            thrift_http,
            thrift_compact,
            thrift_binary,
            zipkin,
            _dir: dir,
        }
    }

    pub fn log(&self) -> String {
        self.process.log()
    }
}
