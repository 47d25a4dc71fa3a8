//! A real Prometheus (Debian's `prometheus` 2.42, or Prometheus 3 built from its pinned
//! module, both from `scripts/test`) on loopback, scraping one target every second, with
//! its remote-write receiver on; and its query API.

use std::process::Command;
use std::time::{Duration, Instant};

use llamacol_pipeline::testing::{external_program, free_port};

use super::process::Running;

pub struct Prometheus {
    _process: Running,
    pub port: u16,
    _dir: tempfile::TempDir,
}

pub fn start_prometheus(scrape_port: u16) -> Prometheus {
    start_prometheus_with(scrape_port, "1s", &[])
}

/// Prometheus scraping `scrape_port` every `scrape_interval`, evaluating the rule files
/// given as `(file name, YAML)` every second.
pub fn start_prometheus_with(
    scrape_port: u16,
    scrape_interval: &str,
    rule_files: &[(&str, &str)],
) -> Prometheus {
    start_prometheus_scraping(&[scrape_port], scrape_interval, rule_files)
}

/// Which Prometheus runs, with which extra flags and per-job scrape settings.
pub struct Flavor {
    /// `prometheus` (Debian's 2.42) or `prometheus3` (3.16, built by `scripts/peers.sh`).
    pub program: &'static str,
    pub flags: &'static [&'static str],
    /// YAML lines added to the scrape job (indented by 4).
    pub scrape: &'static str,
}

pub const DEBIAN: Flavor = Flavor {
    program: "prometheus",
    flags: &[],
    scrape: "",
};

/// Prometheus scraping every port of `scrape_ports` (one job) every `scrape_interval`.
pub fn start_prometheus_scraping(
    scrape_ports: &[u16],
    scrape_interval: &str,
    rule_files: &[(&str, &str)],
) -> Prometheus {
    start_flavor(&DEBIAN, scrape_ports, scrape_interval, rule_files)
}

/// `flavor` scraping every port of `scrape_ports` (one job) every `scrape_interval`.
pub fn start_flavor(
    flavor: &Flavor,
    scrape_ports: &[u16],
    scrape_interval: &str,
    rule_files: &[(&str, &str)],
) -> Prometheus {
    let dir = tempfile::tempdir().expect("tmp");
    let config = dir.path().join("prometheus.yml");
    let mut rules = String::new();
    if !rule_files.is_empty() {
        rules.push_str("rule_files:\n");
        for (name, text) in rule_files {
            let path = dir.path().join(name);
            std::fs::write(&path, text).expect("write rules");
            rules.push_str(&format!("  - {}\n", path.display()));
        }
    }
    let targets: Vec<String> = scrape_ports
        .iter()
        .map(|p| format!("'127.0.0.1:{p}'"))
        .collect();
    let targets = targets.join(", ");
    std::fs::write(
        &config,
        format!("global:\n  scrape_interval: {scrape_interval}\n  evaluation_interval: 1s\n{rules}scrape_configs:\n  - job_name: llamacol\n    honor_labels: true\n{}    static_configs:\n      - targets: [{targets}]\n", flavor.scrape),
    )
    .expect("write config");
    let port = free_port();
    let mut command = Command::new(external_program(flavor.program));
    command
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--web.enable-remote-write-receiver")
        .args(flavor.flags);
    let log = dir.path().join("prometheus.log");
    Prometheus {
        _process: Running::spawn("prometheus", &mut command, log),
        port,
        _dir: dir,
    }
}

/// `/api/v1/query` result vector, retried until it is non-empty or 30 s pass.
pub fn query(port: u16, promql: &str) -> Vec<serde_json::Value> {
    let client = reqwest::blocking::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let response = client
            .get(format!("http://127.0.0.1:{port}/api/v1/query"))
            .query(&[("query", promql)])
            .send();
        if let Ok(r) = response {
            if let Ok(v) = r.json::<serde_json::Value>() {
                let result = v["data"]["result"].as_array().cloned().unwrap_or_default();
                if !result.is_empty() {
                    return result;
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "no result for `{promql}` within 30 s"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// How many series `/api/v1/query` returns for `promql`, asked once (an error while
/// Prometheus is still starting, or for a query it refuses).
pub fn series(port: u16, promql: &str) -> Result<usize, String> {
    let v: serde_json::Value = reqwest::blocking::Client::new()
        .get(format!("http://127.0.0.1:{port}/api/v1/query"))
        .query(&[("query", promql)])
        .send()
        .and_then(|r| r.json())
        .map_err(|e| e.to_string())?;
    if v["status"] != "success" {
        return Err(v.to_string());
    }
    Ok(v["data"]["result"].as_array().map_or(0, Vec::len))
}

pub fn value(sample: &serde_json::Value) -> f64 {
    sample["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

/// `/api/v1/query_exemplars` over the last hour, retried until non-empty or 30 s pass.
pub fn exemplars(port: u16, promql: &str) -> Vec<serde_json::Value> {
    let client = reqwest::blocking::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let response = client
            .get(format!("http://127.0.0.1:{port}/api/v1/query_exemplars"))
            .query(&[
                ("query", promql.to_string()),
                ("start", (now - 3600).to_string()),
                ("end", (now + 60).to_string()),
            ])
            .send();
        if let Ok(v) = response.and_then(|r| r.json::<serde_json::Value>()) {
            let data = v["data"].as_array().cloned().unwrap_or_default();
            if !data.is_empty() {
                return data;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no exemplars for `{promql}` within 30 s"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}
