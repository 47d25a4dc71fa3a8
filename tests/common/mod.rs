//! Starting the real `llamacol` binary for end-to-end tests, and reading what it wrote.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use llamacol_pipeline::testing::free_port;

pub mod alertmanager;
pub mod cloud_metadata;
pub mod fake_nvml;
pub mod helm;
pub mod jaeger;
pub mod kube;
pub mod llama_server;
pub mod llm_app;
pub mod llm_load;
pub mod node_exporter;
pub mod otelcol;
pub mod process;
pub mod prometheus;

use process::Running;

pub struct Collector {
    process: Running,
    pub grpc: u16,
    pub http: u16,
    pub admin: u16,
    pub file: PathBuf,
    _dir: tempfile::TempDir,
}

impl Collector {
    /// Starts `llamacol -c <config>` with ports and output file set through the
    /// environment variables the shipped configs read, and waits for `/readyz`.
    pub fn start(config: &str) -> Collector {
        Collector::launch(&[config], &[])
    }

    /// Starts `llamacol -c A -c B ...` (merged in order) with extra environment variables.
    pub fn launch(configs: &[&str], env: &[(&str, String)]) -> Collector {
        Collector::launch_at_level(configs, env, "info")
    }

    /// Starts llamacol on `yaml`, written to a file of its own (kept as long as the
    /// returned collector).
    pub fn from_yaml(yaml: &str) -> Collector {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("config.yaml");
        std::fs::write(&config, yaml).expect("write config");
        Collector::launch_in(dir, &[&config.display().to_string()], &[], "info")
    }

    /// `launch` with `--log-level level`.
    pub fn launch_at_level(configs: &[&str], env: &[(&str, String)], level: &str) -> Collector {
        Collector::launch_in(tempfile::tempdir().expect("tempdir"), configs, env, level)
    }

    fn launch_in(
        dir: tempfile::TempDir,
        configs: &[&str],
        env: &[(&str, String)],
        level: &str,
    ) -> Collector {
        // A port given in `env` (e.g. a gateway restarted where an agent sends) wins.
        let port = |var: &str| {
            env.iter()
                .find(|(k, _)| *k == var)
                .and_then(|(_, v)| v.rsplit(':').next()?.parse().ok())
                .unwrap_or_else(free_port)
        };
        let grpc = port("LLAMACOL_OTLP_GRPC_ENDPOINT");
        let (http, admin) = (free_port(), free_port());
        let file = dir.path().join("out.jsonl");
        let mut command = Command::new(env!("CARGO_BIN_EXE_llamacol"));
        command.args(["run", "--log-level", level]);
        for config in configs {
            command.args(["-c", config]);
        }
        command
            .env("LLAMACOL_OTLP_GRPC_ENDPOINT", format!("127.0.0.1:{grpc}"))
            .env("LLAMACOL_OTLP_HTTP_ENDPOINT", format!("127.0.0.1:{http}"))
            .env("LLAMACOL_ADMIN_ENDPOINT", format!("127.0.0.1:{admin}"))
            .env("LLAMACOL_FILE_PATH", &file)
            .env(
                "LLAMACOL_HEALTH_ENDPOINT",
                format!("127.0.0.1:{}", free_port()),
            )
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())));
        let process = Running::spawn("llamacol", &mut command, dir.path().join("stderr.log"));
        let mut collector = Collector {
            process,
            grpc,
            http,
            admin,
            file,
            _dir: dir,
        };
        collector.wait_ready();
        collector
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            self.process.assert_running();
            if http_get(self.admin, "/readyz").0 == 200 {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("llamacol not ready in 20s: {}", self.stderr());
    }

    pub fn pid(&self) -> u32 {
        self.process.id()
    }

    pub fn stderr(&self) -> String {
        self.process.log()
    }

    /// SIGKILL: no shutdown, no flush; what survives is what was on disk.
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// Sends SIGTERM and waits for the exit; returns the status and how long it took.
    pub fn terminate(&mut self) -> (ExitStatus, Duration) {
        self.process.terminate()
    }
}

/// A JSON array as a slice (empty when absent or not an array).
pub fn arr(v: &serde_json::Value) -> &[serde_json::Value] {
    v.as_array().map(Vec::as_slice).unwrap_or_default()
}

/// An OTLP/JSON value's content as text (`{"intValue":"3"}` -> `3`), its type dropped.
pub fn scalar(v: &serde_json::Value) -> String {
    let inner = v
        .as_object()
        .and_then(|o| o.values().next())
        .cloned()
        .unwrap_or_default();
    inner
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| inner.to_string())
}

/// The string-valued attributes of an OTLP/JSON attribute list, by key.
pub fn string_attrs(list: &serde_json::Value) -> std::collections::BTreeMap<String, String> {
    arr(list)
        .iter()
        .filter_map(|a| {
            Some((
                a["key"].as_str()?.to_string(),
                a["value"]["stringValue"].as_str()?.to_string(),
            ))
        })
        .collect()
}

/// A plain HTTP/1.1 GET on loopback: (status, body). Status 0 when nothing answers.
pub fn http_get(port: u16, path: &str) -> (u16, String) {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return (0, String::new());
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Every complete line a file exporter wrote, parsed. A last line still being written
/// (no newline yet) is left for the next read; every complete line must be JSON.
pub fn lines(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let complete = text.rfind('\n').map_or("", |end| &text[..end]);
    complete
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// Every span of every line.
pub fn spans(lines: &[serde_json::Value]) -> Vec<serde_json::Value> {
    lines
        .iter()
        .flat_map(|l| arr(&l["resourceSpans"]))
        .flat_map(|r| arr(&r["scopeSpans"]))
        .flat_map(|s| arr(&s["spans"]))
        .cloned()
        .collect()
}

/// Every metric of every line.
pub fn metrics(lines: &[serde_json::Value]) -> Vec<serde_json::Value> {
    lines
        .iter()
        .flat_map(|l| arr(&l["resourceMetrics"]))
        .flat_map(|r| arr(&r["scopeMetrics"]))
        .flat_map(|s| arr(&s["metrics"]))
        .cloned()
        .collect()
}

/// Every log record of every line.
pub fn log_records(lines: &[serde_json::Value]) -> Vec<serde_json::Value> {
    lines
        .iter()
        .flat_map(|l| arr(&l["resourceLogs"]))
        .flat_map(|r| arr(&r["scopeLogs"]))
        .flat_map(|s| arr(&s["logRecords"]))
        .cloned()
        .collect()
}

/// Each log record's body text (empty when it is not a string).
pub fn log_bodies(records: &[serde_json::Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| {
            r["body"]["stringValue"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

/// A span attribute's value as a string (`stringValue` or `intValue`).
pub fn attr(span: &serde_json::Value, key: &str) -> Option<String> {
    arr(&span["attributes"])
        .iter()
        .find(|a| a["key"] == key)
        .map(|a| {
            let v = &a["value"];
            v["stringValue"]
                .as_str()
                .map(str::to_string)
                .or_else(|| v["intValue"].as_str().map(str::to_string))
                .or_else(|| v["intValue"].as_i64().map(|i| i.to_string()))
                .unwrap_or_else(|| v.to_string())
        })
}

/// Posts the OTLP spec's example trace (`testdata/otlp-json/trace.json`) as OTLP/JSON to
/// an OTLP/HTTP receiver on `port`; it must be accepted.
pub fn post_example_trace(port: u16) {
    let body = std::fs::read("testdata/otlp-json/trace.json").expect("trace.json");
    let status = reqwest::blocking::Client::new()
        .post(format!("http://127.0.0.1:{port}/v1/traces"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .expect("post")
        .status();
    assert!(status.is_success(), "{status}");
}

/// Sends signal `name` (`TERM`, `KILL`...) to process `pid`.
pub fn signal(pid: u32, name: &str) {
    let sent = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .expect("kill");
    assert!(sent.success(), "kill -{name} {pid}");
}

/// Runs a script of `tests/python/` with the peers' Python (the OpenTelemetry SDK,
/// pyarrow ...): `args` are the script and its arguments. It must exit 0; returns its
/// stdout and stderr.
pub fn python(args: &[&str]) -> (Vec<u8>, String) {
    let out = Command::new(llamacol_pipeline::testing::external_program("peers-python"))
        .args(args)
        .output()
        .expect("python");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{args:?}: {stderr}");
    (out.stdout, stderr)
}

/// [`python`] for a script that prints JSON and whose SDK exports must all succeed.
pub fn python_json(args: &[&str]) -> serde_json::Value {
    let (stdout, stderr) = python(args);
    assert!(!stderr.contains("Failed to export"), "{args:?}: {stderr}");
    serde_json::from_slice(&stdout).expect("the script's JSON")
}

/// `llamacol validate -c config` with `env`: (valid, everything it printed).
pub fn validate(config: &Path, env: &[(&str, &str)]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_llamacol"))
        .args(["validate", "-c", &config.to_string_lossy()])
        .envs(env.iter().copied())
        .output()
        .expect("llamacol validate");
    let shown = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), shown)
}
