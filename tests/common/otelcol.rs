//! The real OpenTelemetry Collector (`otelcol`, built by `scripts/peers.sh` from the
//! Go module in `tests/peers/otelcol`), started on loopback ports for a test.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use llamacol_pipeline::testing::{external_program, free_port};

use super::process::Running;

pub struct Otelcol {
    process: Running,
    pub grpc: u16,
    pub http: u16,
    /// Where a config's `${env:OTELCOL_FILE}` points (its file exporter's output).
    pub file: PathBuf,
    _dir: tempfile::TempDir,
}

impl Otelcol {
    /// Starts the Collector with `config` (YAML). The config reads its ports and paths
    /// from `${env:OTELCOL_GRPC}`, `${env:OTELCOL_HTTP}` and `${env:OTELCOL_FILE}`, plus
    /// whatever `env` adds. Returns once its OTLP ports accept connections.
    pub fn start(config: &str, env: &[(&str, String)]) -> Otelcol {
        let dir = tempfile::tempdir().expect("tempdir");
        let config_path = dir.path().join("otelcol.yaml");
        std::fs::write(&config_path, config).expect("write config");
        let (grpc, http) = (free_port(), free_port());
        let file = dir.path().join("otelcol-out.jsonl");
        let mut command = Command::new(external_program("otelcol"));
        command
            .arg(format!("--config={}", config_path.display()))
            .env("OTELCOL_GRPC", format!("127.0.0.1:{grpc}"))
            .env("OTELCOL_HTTP", format!("127.0.0.1:{http}"))
            .env("OTELCOL_FILE", &file)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())));
        let mut process = Running::spawn("otelcol", &mut command, dir.path().join("otelcol.log"));
        let deadline = Instant::now() + Duration::from_secs(30);
        while ![grpc, http]
            .iter()
            .all(|p| std::net::TcpStream::connect(("127.0.0.1", *p)).is_ok())
        {
            process.assert_running();
            assert!(
                Instant::now() < deadline,
                "otelcol not listening in 30s: {}",
                process.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Otelcol {
            process,
            grpc,
            http,
            file,
            _dir: dir,
        }
    }

    /// SIGTERM; the Collector must flush and exit 0.
    pub fn terminate(&mut self) {
        let (status, _) = self.process.terminate();
        assert!(
            status.success(),
            "otelcol exit {status}: {}",
            self.process.log()
        );
    }
}

/// The Collector's `service.telemetry` block that turns its own metrics off, so that several
/// instances never clash on its default :8888.
pub const QUIET_TELEMETRY: &str = "  telemetry:\n    metrics:\n      level: none\n";
