//! The real node exporter (Debian's `prometheus-node-exporter`, from `scripts/test`) on
//! loopback, with its default collectors.

use std::process::Command;

use llamacol_pipeline::testing::{external_program, free_port};

use super::process::Running;

pub struct NodeExporter {
    _process: Running,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl NodeExporter {
    /// The exporter's process id (its own `process_*` metrics are about this process).
    pub fn pid(&self) -> u32 {
        self._process.id()
    }
}

pub fn start_node_exporter() -> NodeExporter {
    let dir = tempfile::tempdir().expect("tmp");
    let port = free_port();
    let mut command = Command::new(external_program("node-exporter"));
    command.arg(format!("--web.listen-address=127.0.0.1:{port}"));
    let log = dir.path().join("node-exporter.log");
    let mut process = Running::spawn("node-exporter", &mut command, log);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while super::http_get(port, "/metrics").0 != 200 {
        process.assert_running();
        assert!(
            std::time::Instant::now() < deadline,
            "node exporter not serving: {}",
            process.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    NodeExporter {
        _process: process,
        port,
        _dir: dir,
    }
}
