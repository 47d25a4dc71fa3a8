//! A real Alertmanager (Debian's `prometheus-alertmanager`, from `scripts/test`) on
//! loopback, clustering off, routing everything to a receiver that sends nothing; and its
//! v2 API's alert list.

use std::process::Command;

use llamacol_pipeline::testing::{external_program, free_port};

use super::process::Running;

pub struct Alertmanager {
    process: Running,
    pub port: u16,
    _dir: tempfile::TempDir,
}

pub fn start_alertmanager() -> Alertmanager {
    let dir = tempfile::tempdir().expect("tmp");
    let config = dir.path().join("alertmanager.yml");
    std::fs::write(
        &config,
        "route:\n  receiver: blackhole\n  group_wait: 0s\nreceivers:\n  - name: blackhole\n",
    )
    .expect("write config");
    let port = free_port();
    let mut command = Command::new(external_program("alertmanager"));
    command
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=");
    let log = dir.path().join("alertmanager.log");
    let mut am = Alertmanager {
        process: Running::spawn("alertmanager", &mut command, log),
        port,
        _dir: dir,
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while super::http_get(port, "/-/ready").0 != 200 {
        am.process.assert_running();
        assert!(
            std::time::Instant::now() < deadline,
            "alertmanager not ready: {}",
            am.process.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    am
}

impl Alertmanager {
    /// `GET /api/v2/alerts`: the alerts Alertmanager holds as active (resolved ones are
    /// left out).
    pub fn alerts(&self) -> Vec<serde_json::Value> {
        let response =
            reqwest::blocking::get(format!("http://127.0.0.1:{}/api/v2/alerts", self.port))
                .expect("alertmanager answers");
        assert!(response.status().is_success(), "{}", response.status());
        response
            .json::<serde_json::Value>()
            .ok()
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
    }
}
