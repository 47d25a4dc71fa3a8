//! The real llama.cpp `llama-server` (built by `scripts/peers.sh`) serving a tiny model
//! made by `tests/peers/python/tiny_llama.py`, on a loopback port.

use std::process::Command;
use std::time::{Duration, Instant};

use llamacol_pipeline::testing::{external_program, free_port};

use super::process::Running;

/// A running `llama-server` with the tiny model and 2 slots.
pub struct LlamaServer {
    pub process: Running,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl LlamaServer {
    pub fn start() -> LlamaServer {
        LlamaServer::start_with(&[])
    }

    /// With more arguments (e.g. `--embeddings`).
    pub fn start_with(extra: &[&str]) -> LlamaServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let model = dir.path().join("tiny-llama.gguf");
        let made = Command::new(external_program("peers-python"))
            .arg("tests/peers/python/tiny_llama.py")
            .arg(&model)
            .output()
            .expect("python");
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );
        let port = free_port();
        let mut command = Command::new(external_program("llama-server"));
        command
            .arg("-m")
            .arg(&model)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--metrics", "--slots", "-np", "2", "-c", "1024", "-t", "1"])
            .args(extra);
        let log = dir.path().join("server.log");
        let mut server = LlamaServer {
            process: Running::spawn("llama-server", &mut command, log),
            port,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while super::http_get(port, "/health").0 != 200 {
            server.process.assert_running();
            assert!(Instant::now() < deadline, "llama-server not healthy in 60s");
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    /// POSTs a completion; returns the (prompt_n, predicted_n) its `timings` report.
    pub fn complete(&self, path: &str, body: serde_json::Value) -> (f64, f64) {
        let response: serde_json::Value = reqwest::blocking::Client::new()
            .post(format!("http://127.0.0.1:{}{path}", self.port))
            .json(&body)
            .send()
            .and_then(|r| r.error_for_status())
            .and_then(|r| r.json())
            .expect("completion");
        let t = &response["timings"];
        (
            t["prompt_n"].as_f64().expect("prompt_n"),
            t["predicted_n"].as_f64().expect("predicted_n"),
        )
    }
}
