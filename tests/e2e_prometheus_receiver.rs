//! The `prometheus` receiver against real exporters: Prometheus' own `/metrics`,
//! Alertmanager's, node exporter's and llama-server's, scraped directly; and, for an exact
//! comparison, Prometheus' `/federate` of its own scrape of that node exporter (hundreds of
//! series of a real machine, changing every scrape): the samples llamacol reads there
//! carry the timestamps Prometheus stored them under, so each value llamacol writes must
//! equal what Prometheus' query API answers at that instant. Needs `prometheus`,
//! `alertmanager`, `node-exporter` and `llama-server`, which `scripts/test` installs.

mod common;

use common::arr;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::alertmanager::start_alertmanager;
use common::llama_server::LlamaServer;
use common::node_exporter::start_node_exporter;
use common::prometheus::start_prometheus;
use common::{lines, Collector};

fn resource_attr(r: &serde_json::Value, key: &str) -> Option<String> {
    arr(&r["resource"]["attributes"])
        .iter()
        .find(|a| a["key"] == key)
        .and_then(|a| a["value"]["stringValue"].as_str().map(str::to_string))
}

/// (job, metric name, attributes, value, time ns) of every gauge and sum point written.
type Point = (String, String, BTreeMap<String, String>, f64, u64);

fn points(path: &std::path::Path) -> Vec<Point> {
    written(path)
        .into_iter()
        .filter(|r| r.3 == "gauge" || r.3 == "sum")
        .map(|(time, job, name, _, attrs, value, _)| (job, name, attrs, value, time))
        .collect()
}

fn up(points: &[Point], job: &str) -> Option<f64> {
    points
        .iter()
        .rev()
        .find(|p| p.0 == job && p.1 == "up")
        .map(|p| p.3)
}

#[test]
#[ignore = "needs prometheus, alertmanager, node-exporter and llama-server: run scripts/test"]
fn scrapes_real_exporters_and_matches_prometheus_exactly() {
    let alertmanager = start_alertmanager();
    let node = start_node_exporter();
    // The real llama-server, after one completion.
    let llama = LlamaServer::start();
    let (prompt_n, predicted_n) = llama.complete(
        "/completion",
        serde_json::json!({"prompt": "The capital of France is", "n_predict": 4}),
    );
    // Prometheus scrapes the node exporter every second as job `llamacol` (the helper's job).
    let prometheus = start_prometheus(node.port);
    let mut collector = Collector::from_yaml(&format!(
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
        - job_name: node
          static_configs: [{{targets: ['127.0.0.1:{node}']}}]
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
        llama = llama.port,
        node = node.port
    ));

    // Federated samples of a scrape Prometheus has stored, with their timestamps.
    let deadline = Instant::now() + Duration::from_secs(40);
    let federated = loop {
        let all = points(&collector.file);
        let federated: Vec<Point> = all
            .iter()
            // With `honor_labels` the federated series keep their own job (Prometheus'
            // job for Alertmanager), and so their own resource, as in the Collector.
            .filter(|p| p.0 == "llamacol" && !p.1.starts_with("scrape_") && p.1 != "up")
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
    // A real machine's node exporter: CPU, memory, filesystems, network, hundreds of series.
    assert!(compared >= 200, "{compared} compared");
    assert!(at.iter().any(|p| p.1 == "node_cpu_seconds_total"));

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
    assert!(all
        .iter()
        .any(|p| p.0 == "node" && p.1 == "node_memory_MemTotal_bytes"));
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

/// (time ns, job, metric name, type, attributes, value or count, start ns) of one point.
type Row = (
    u64,
    String,
    String,
    &'static str,
    BTreeMap<String, String>,
    f64,
    u64,
);

/// (job, metric name, type, attributes) -> (value, start ns), of the points at `time` ns.
type Written = BTreeMap<(String, String, &'static str, BTreeMap<String, String>), (f64, u64)>;

/// Every point of every metric in an OTLP/JSON file (llamacol's or the Collector's file
/// exporter), keyed for comparison; histograms by their count and summaries too.
fn written(path: &std::path::Path) -> Vec<Row> {
    let mut out = Vec::new();
    for line in lines(path) {
        for r in arr(&line["resourceMetrics"]) {
            let job = resource_attr(r, "service.name").unwrap_or_default();
            for s in arr(&r["scopeMetrics"]) {
                for m in arr(&s["metrics"]) {
                    let name = m["name"].as_str().unwrap_or_default().to_string();
                    for (kind, key) in [
                        ("gauge", "gauge"),
                        ("sum", "sum"),
                        ("histogram", "histogram"),
                        ("summary", "summary"),
                    ] {
                        for p in arr(&m[key]["dataPoints"]) {
                            let number = |v: &serde_json::Value| {
                                v.as_f64()
                                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                            };
                            let value = number(&p["asDouble"])
                                .or_else(|| number(&p["asInt"]))
                                .or_else(|| number(&p["count"]))
                                .unwrap_or(f64::NAN);
                            let attrs = arr(&p["attributes"])
                                .iter()
                                .filter_map(|a| {
                                    Some((
                                        a["key"].as_str()?.to_string(),
                                        a["value"]["stringValue"].as_str()?.to_string(),
                                    ))
                                })
                                .collect();
                            let ns =
                                |k: &str| p[k].as_str().and_then(|t| t.parse().ok()).unwrap_or(0);
                            out.push((
                                ns("timeUnixNano"),
                                job.clone(),
                                name.clone(),
                                kind,
                                attrs,
                                value,
                                ns("startTimeUnixNano"),
                            ));
                        }
                    }
                }
            }
        }
    }
    out
}

fn at_time(all: &[Row], time: u64) -> Written {
    all.iter()
        .filter(|p| p.0 == time)
        .map(|p| ((p.1.clone(), p.2.clone(), p.3, p.4.clone()), (p.5, p.6)))
        .collect()
}

/// The real Collector's `prometheus` receiver and llamacol's scrape the same federated
/// samples (same timestamps, so the same values): every metric either writes must be in
/// the other with the same type, attributes and value.
#[test]
#[ignore = "needs otelcol, prometheus and alertmanager: run scripts/test"]
fn the_collectors_prometheus_receiver_and_llamacols_write_the_same_metrics() {
    let alertmanager = start_alertmanager();
    let prometheus = start_prometheus(alertmanager.port);
    let scrape = format!(
        r#"    config:
      global: {{scrape_interval: 1s}}
      scrape_configs:
        - job_name: federate
          honor_labels: true
          metrics_path: /federate
          params: {{'match[]': ['{{job="llamacol"}}']}}
          static_configs: [{{targets: ['127.0.0.1:{prom}']}}]
        - job_name: alertmanager
          static_configs: [{{targets: ['127.0.0.1:{am}']}}]
"#,
        prom = prometheus.port,
        am = alertmanager.port
    );
    let mut collector = Collector::from_yaml(&format!(
            "receivers:\n  prometheus:\n{scrape}exporters:\n  file: {{path: \"${{env:LLAMACOL_FILE_PATH}}\"}}\nservice:\n  telemetry: {{admin: {{endpoint: \"${{env:LLAMACOL_ADMIN_ENDPOINT}}\"}}}}\n  pipelines:\n    metrics: {{receivers: [prometheus], exporters: [file]}}\n"
        ));
    let mut otelcol = common::otelcol::Otelcol::start(
        &format!(
            "receivers:\n  otlp:\n    protocols:\n      grpc: {{endpoint: \"${{env:OTELCOL_GRPC}}\"}}\n      http: {{endpoint: \"${{env:OTELCOL_HTTP}}\"}}\n  prometheus:\n{scrape}exporters:\n  file: {{path: \"${{env:OTELCOL_FILE}}\"}}\n  nop: {{}}\nservice:\n  pipelines:\n    metrics: {{receivers: [prometheus], exporters: [file]}}\n    traces: {{receivers: [otlp], exporters: [nop]}}\n"
        ),
        &[],
    );
    // A federated scrape both wrote: the same Prometheus samples, the same timestamp.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (theirs, mine) = loop {
        let theirs = written(&otelcol.file);
        let mine = written(&collector.file);
        let times: std::collections::BTreeSet<u64> = theirs
            .iter()
            .filter(|p| p.2 != "up" && !p.2.starts_with("scrape_"))
            .map(|p| p.0)
            .collect();
        let shared = mine
            .iter()
            .filter(|p| p.2 != "up" && !p.2.starts_with("scrape_"))
            .map(|p| p.0)
            .find(|t| times.contains(t));
        if let Some(t) = shared {
            break (at_time(&theirs, t), at_time(&mine, t));
        }
        assert!(
            Instant::now() < deadline,
            "no shared scrape: collector {} points, llamacol {}",
            theirs.len(),
            mine.len()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let only = |a: &Written, b: &Written| -> Vec<String> {
        a.keys()
            .filter(|k| !b.contains_key(*k))
            .map(|k| format!("{} {} {:?}", k.1, k.2, k.3))
            .collect()
    };
    let missing = only(&theirs, &mine);
    let extra = only(&mine, &theirs);
    assert!(
        missing.is_empty() && extra.is_empty(),
        "the Collector wrote, llamacol did not: {missing:#?}\nllamacol wrote, the Collector did not: {extra:#?}"
    );
    for (key, (value, _)) in &theirs {
        let (mine_value, _) = mine[key];
        assert!(
            mine_value == *value || (value.is_nan() && mine_value.is_nan()),
            "{key:?}: Collector {value}, llamacol {mine_value}"
        );
    }
    assert!(theirs.len() >= 20, "{} compared", theirs.len());
    eprintln!(
        "{} points written alike by the Collector and llamacol",
        theirs.len()
    );

    // Alertmanager scraped directly (typed families): the same metrics, types and
    // attribute sets (values differ by when each scraped), and the same resource keys.
    let shape = |path: &std::path::Path| -> std::collections::BTreeSet<String> {
        written(path)
            .into_iter()
            .filter(|p| p.1 == "alertmanager")
            .map(|p| format!("{} {} {:?}", p.2, p.3, p.4.keys().collect::<Vec<_>>()))
            .collect()
    };
    // Each scrapes at its own offset in the interval and writes its file in its own
    // time: wait until both have written a complete scrape (their sets stop differing).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (theirs, mine) = (shape(&otelcol.file), shape(&collector.file));
        if theirs.len() >= 20 && theirs == mine {
            break;
        }
        if Instant::now() > deadline {
            let missing: Vec<&String> = theirs.difference(&mine).collect();
            let extra: Vec<&String> = mine.difference(&theirs).collect();
            panic!("direct scrape: the Collector only: {missing:#?}\nllamacol only: {extra:#?}");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let resource_keys = |path: &std::path::Path| -> std::collections::BTreeSet<String> {
        lines(path)
            .iter()
            .flat_map(|l| arr(&l["resourceMetrics"]).to_vec())
            .filter(|r| resource_attr(r, "service.name").as_deref() == Some("alertmanager"))
            .flat_map(|r| {
                arr(&r["resource"]["attributes"])
                    .iter()
                    .filter_map(|a| a["key"].as_str().map(str::to_string))
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    assert_eq!(resource_keys(&otelcol.file), resource_keys(&collector.file));
    otelcol.terminate();
    let (status, _) = collector.terminate();
    assert!(status.success(), "{}", collector.stderr());
}
