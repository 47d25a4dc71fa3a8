//! The `prometheus` receiver against real exporters: Prometheus' own `/metrics`,
//! Alertmanager's and llama-server's, scraped directly; and, for an exact comparison, Prometheus'
//! `/federate` of its own scrape of that Alertmanager: the samples llamacol reads there
//! carry the timestamps Prometheus stored them under, so each value llamacol writes must
//! equal what Prometheus' query API answers at that instant. Needs `prometheus`,
//! `alertmanager` and `llama-server`, which `scripts/test` installs.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::alertmanager::start_alertmanager;
use common::llama_server::LlamaServer;
use common::prometheus::start_prometheus;
use common::{lines, Collector};

fn arr(v: &serde_json::Value) -> &[serde_json::Value] {
    v.as_array().map(Vec::as_slice).unwrap_or_default()
}

fn resource_attr(r: &serde_json::Value, key: &str) -> Option<String> {
    arr(&r["resource"]["attributes"])
        .iter()
        .find(|a| a["key"] == key)
        .and_then(|a| a["value"]["stringValue"].as_str().map(str::to_string))
}

/// (job, metric name, attributes, value, time ns) of every gauge and sum point written.
type Point = (String, String, BTreeMap<String, String>, f64, u64);

fn points(path: &std::path::Path) -> Vec<Point> {
    let mut out = Vec::new();
    for line in lines(path) {
        for r in arr(&line["resourceMetrics"]) {
            let job = resource_attr(r, "service.name").unwrap_or_default();
            for s in arr(&r["scopeMetrics"]) {
                for m in arr(&s["metrics"]) {
                    let data = if m["gauge"].is_object() {
                        &m["gauge"]
                    } else {
                        &m["sum"]
                    };
                    for p in arr(&data["dataPoints"]) {
                        let Some(value) = p["asDouble"].as_f64() else {
                            continue;
                        };
                        let attrs = arr(&p["attributes"])
                            .iter()
                            .filter_map(|a| {
                                Some((
                                    a["key"].as_str()?.to_string(),
                                    a["value"]["stringValue"].as_str()?.to_string(),
                                ))
                            })
                            .collect();
                        let time = p["timeUnixNano"]
                            .as_str()
                            .and_then(|t| t.parse().ok())
                            .unwrap_or(0);
                        let name = m["name"].as_str().unwrap_or_default().to_string();
                        out.push((job.clone(), name, attrs, value, time));
                    }
                }
            }
        }
    }
    out
}

fn up(points: &[Point], job: &str) -> Option<f64> {
    points
        .iter()
        .rev()
        .find(|p| p.0 == job && p.1 == "up")
        .map(|p| p.3)
}

#[test]
#[ignore = "needs prometheus, alertmanager and llama-server: run scripts/test"]
fn scrapes_real_exporters_and_matches_prometheus_exactly() {
    let alertmanager = start_alertmanager();
    // The real llama-server, after one completion.
    let llama = LlamaServer::start();
    let (prompt_n, predicted_n) = llama.complete(
        "/completion",
        serde_json::json!({"prompt": "The capital of France is", "n_predict": 4}),
    );
    // Prometheus scrapes Alertmanager every second as job `llamacol` (the helper's job).
    let prometheus = start_prometheus(alertmanager.port);
    let dir = tempfile::tempdir().expect("tmp");
    let config = dir.path().join("scrape.yaml");
    std::fs::write(
        &config,
        format!(
            r#"receivers:
  prometheus:
    config:
      global: {{scrape_interval: 1s}}
      scrape_configs:
        - job_name: prometheus
          static_configs: [{{targets: ['127.0.0.1:{prom}']}}]
        - job_name: alertmanager
          static_configs: [{{targets: ['127.0.0.1:{am}']}}]
        - job_name: llama
          static_configs: [{{targets: ['127.0.0.1:{llama}']}}]
        - job_name: federate
          honor_labels: true
          metrics_path: /federate
          params: {{'match[]': ['{{job="llamacol"}}']}}
          static_configs: [{{targets: ['127.0.0.1:{prom}']}}]
exporters:
  file: {{path: "${{env:LLAMACOL_FILE_PATH}}"}}
service:
  telemetry: {{admin: {{endpoint: "${{env:LLAMACOL_ADMIN_ENDPOINT}}"}}}}
  pipelines:
    metrics: {{receivers: [prometheus], exporters: [file]}}
"#,
            prom = prometheus.port,
            am = alertmanager.port,
            llama = llama.port
        ),
    )
    .expect("write config");
    let config = config.display().to_string();
    let mut collector = Collector::launch(&[config.as_str()], &[]);

    // Federated samples of a scrape Prometheus has stored, with their timestamps.
    let deadline = Instant::now() + Duration::from_secs(40);
    let federated = loop {
        let all = points(&collector.file);
        let federated: Vec<Point> = all
            .iter()
            .filter(|p| p.0 == "federate" && !p.1.starts_with("scrape_") && p.1 != "up")
            .cloned()
            .collect();
        if federated.len() >= 20
            && up(&all, "prometheus") == Some(1.0)
            && up(&all, "alertmanager") == Some(1.0)
        {
            break federated;
        }
        assert!(
            Instant::now() < deadline,
            "no federated samples: {:?} {}",
            all.iter()
                .map(|p| (&p.0, &p.1))
                .take(20)
                .collect::<Vec<_>>(),
            collector.stderr()
        );
        std::thread::sleep(Duration::from_millis(300));
    };

    // Prometheus' own answer at the instant of the first federated scrape.
    let instant = federated[0].4;
    let at: Vec<&Point> = federated.iter().filter(|p| p.4 == instant).collect();
    let answer: serde_json::Value = reqwest::blocking::Client::new()
        .get(format!("http://127.0.0.1:{}/api/v1/query", prometheus.port))
        .query(&[
            ("query", r#"{job="llamacol"}"#.to_string()),
            ("time", format!("{:.3}", instant as f64 / 1e9)),
        ])
        .send()
        .expect("query")
        .json()
        .expect("json");
    let mut stored: BTreeMap<(String, BTreeMap<String, String>), f64> = BTreeMap::new();
    for s in arr(&answer["data"]["result"]) {
        let mut labels: BTreeMap<String, String> = s["metric"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let name = labels.remove("__name__").unwrap_or_default();
        labels.remove("job");
        labels.remove("instance");
        let value = s["value"][1]
            .as_str()
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN);
        stored.insert((name, labels), value);
    }
    let mut compared = 0;
    for (_, name, attrs, value, _) in &at {
        let key = (name.clone(), attrs.clone());
        let Some(expected) = stored.get(&key) else {
            panic!("{name} {attrs:?} written by llamacol, not stored by Prometheus");
        };
        assert!(
            expected == value || (expected.is_nan() && value.is_nan()),
            "{name} {attrs:?}: llamacol {value}, Prometheus {expected}"
        );
        compared += 1;
    }
    assert!(compared >= 20, "{compared} compared");

    // Direct scrapes: names, types and attributes as the targets expose them.
    let all = points(&collector.file);
    let build_info = all
        .iter()
        .find(|p| p.0 == "alertmanager" && p.1 == "alertmanager_build_info")
        .expect("alertmanager_build_info");
    assert!(build_info.2.contains_key("version"), "{:?}", build_info.2);
    assert!(all
        .iter()
        .any(|p| p.0 == "prometheus" && p.1 == "prometheus_tsdb_head_series"));
    // llama-server's counters: the tokens of the one completion.
    let counter = |name: &str| {
        all.iter()
            .rev()
            .find(|p| p.0 == "llama" && p.1 == name)
            .map(|p| p.3)
    };
    assert_eq!(counter("llamacpp:prompt_tokens_total"), Some(prompt_n));
    assert_eq!(
        counter("llamacpp:tokens_predicted_total"),
        Some(predicted_n)
    );

    // The target dies: `up` 0 for it, the others unaffected.
    drop(alertmanager);
    let deadline = Instant::now() + Duration::from_secs(20);
    while up(&points(&collector.file), "alertmanager") != Some(0.0) {
        assert!(
            Instant::now() < deadline,
            "up never 0: {}",
            collector.stderr()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(up(&points(&collector.file), "prometheus"), Some(1.0));
    assert!(collector.stderr().contains("prometheus target failing"));
    let (status, _) = collector.terminate();
    assert!(status.success(), "{}", collector.stderr());
    eprintln!("compared {compared} federated samples exactly");
}
