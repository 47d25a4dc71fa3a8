//! The real OpenTelemetry Collector (`otelcol`, built by `scripts/peers.sh` from the
//! Go module in `tests/peers/otelcol`), started on loopback ports for a test.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use llamacol_pipeline::testing::{external_program, free_port};

pub struct Otelcol {
    child: Option<Child>,
    pub grpc: u16,
    pub http: u16,
    /// Where a config's `${env:OTELCOL_FILE}` points (its file exporter's output).
    pub file: PathBuf,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Otelcol {
    /// Starts the Collector with `config` (YAML). The config reads its ports and paths
    /// from `${env:OTELCOL_GRPC}`, `${env:OTELCOL_HTTP}` and `${env:OTELCOL_FILE}`, plus
    /// whatever `env` adds; the Collector's own telemetry is off so that several
    /// instances never clash on its :8888. Returns once its OTLP ports accept connections.
    pub fn start(config: &str, env: &[(&str, String)]) -> Otelcol {
        let program = external_program("otelcol");
        let dir = tempfile::tempdir().expect("tempdir");
        let config_path = dir.path().join("otelcol.yaml");
        std::fs::write(&config_path, config).expect("write config");
        let (grpc, http) = (free_port(), free_port());
        let file = dir.path().join("otelcol-out.jsonl");
        let log = dir.path().join("otelcol.log");
        let child = Command::new(program)
            .arg(format!("--config={}", config_path.display()))
            .env("OTELCOL_GRPC", format!("127.0.0.1:{grpc}"))
            .env("OTELCOL_HTTP", format!("127.0.0.1:{http}"))
            .env("OTELCOL_FILE", &file)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("spawn otelcol");
        let mut otelcol = Otelcol {
            child: Some(child),
            grpc,
            http,
            file,
            log,
            _dir: dir,
        };
        otelcol.wait_listening();
        otelcol
    }

    fn wait_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("otelcol exited early ({status}): {}", self.log());
            }
            if [self.grpc, self.http]
                .iter()
                .all(|p| std::net::TcpStream::connect(("127.0.0.1", *p)).is_ok())
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("otelcol not listening in 30s: {}", self.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, and wait for the Collector to flush and exit cleanly.
    pub fn terminate(&mut self) {
        let mut child = self.child.take().expect("running");
        super::signal(child.id(), "TERM");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                assert!(status.success(), "otelcol exit {status}: {}", self.log());
                return;
            }
            assert!(
                Instant::now() < deadline,
                "otelcol did not stop: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Otelcol {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The Collector's `service.telemetry` block that turns its own metrics off.
pub const QUIET_TELEMETRY: &str = "  telemetry:\n    metrics:\n      level: none\n";
