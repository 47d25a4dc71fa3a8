//! The `prometheus` receiver reading native histograms over the protobuf format
//! (`scrape_native_histograms`), against Prometheus 3 itself: one Prometheus 3 (B) whose
//! own `/metrics` has native histograms (`prometheus_http_request_duration_seconds`),
//! another (A) scraping B with native histograms on and storing them. llamacol reads A's
//! `/federate` (the stored histograms, with their timestamps) and B directly; each
//! federated exponential histogram must equal what A's query API answers at that instant:
//! count, sum, zero bucket and every bucket's bounds and count. Needs `prometheus3`, which
//! `scripts/test` builds.

mod common;

use common::{arr, string_attrs as text_attrs};

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::prometheus::{start_flavor, Flavor};
use common::{lines, Collector};
use llamacol_pipeline::testing::free_port;

const PLAIN_3: Flavor = Flavor {
    program: "prometheus3",
    flags: &[],
    scrape: "",
};

const NATIVE_3: Flavor = Flavor {
    program: "prometheus3",
    flags: &[],
    scrape: "    scrape_native_histograms: true\n",
};

fn num(v: &serde_json::Value) -> f64 {
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or(f64::NAN)
}

/// A histogram as Prometheus' query API gives it: count, sum, and each bucket as
/// (lower, upper, count); the zero bucket is the one around 0.
#[derive(Debug, Clone, PartialEq)]
struct Native {
    count: f64,
    sum: f64,
    buckets: Vec<(f64, f64, f64)>,
}

/// (job, attributes, time ns, histogram) of every exponential histogram point written.
fn exponential(
    path: &std::path::Path,
    name: &str,
) -> Vec<(String, BTreeMap<String, String>, u64, Native)> {
    let mut out = Vec::new();
    for line in lines(path) {
        for r in arr(&line["resourceMetrics"]) {
            let job = text_attrs(&r["resource"]["attributes"])
                .remove("service.name")
                .unwrap_or_default();
            for s in arr(&r["scopeMetrics"]) {
                for m in arr(&s["metrics"]).iter().filter(|m| m["name"] == name) {
                    for p in arr(&m["exponentialHistogram"]["dataPoints"]) {
                        if p["flags"].as_u64().unwrap_or(0) & 1 == 1 {
                            continue;
                        }
                        let scale = p["scale"].as_i64().unwrap_or(0) as i32;
                        let base = 2f64.powf(2f64.powi(-scale));
                        let mut buckets = Vec::new();
                        let zero = num(&p["zeroCount"]);
                        if zero > 0.0 {
                            let t = num(&p["zeroThreshold"]).max(0.0);
                            buckets.push((-t, t, zero));
                        }
                        for (sign, key) in [(-1.0, "negative"), (1.0, "positive")] {
                            let offset = p[key]["offset"].as_i64().unwrap_or(0);
                            for (i, c) in arr(&p[key]["bucketCounts"]).iter().enumerate() {
                                let c = num(c);
                                if c == 0.0 {
                                    continue;
                                }
                                let k = (offset + i as i64) as i32;
                                let (lo, hi) = (base.powi(k), base.powi(k + 1));
                                buckets.push(if sign < 0.0 {
                                    (-hi, -lo, c)
                                } else {
                                    (lo, hi, c)
                                });
                            }
                        }
                        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
                        let time = p["timeUnixNano"]
                            .as_str()
                            .and_then(|t| t.parse().ok())
                            .unwrap_or(0);
                        out.push((
                            job.clone(),
                            text_attrs(&p["attributes"]),
                            time,
                            Native {
                                count: num(&p["count"]),
                                sum: num(&p["sum"]),
                                buckets,
                            },
                        ));
                    }
                }
            }
        }
    }
    out
}

/// Bounds computed two ways (Prometheus' table, our powers) agree to the last few bits.
fn close(a: f64, b: f64) -> bool {
    a == b || ((a - b) / b.abs().max(f64::MIN_POSITIVE)).abs() < 1e-12
}

#[test]
#[ignore = "needs prometheus3: run scripts/test"]
fn native_histograms_match_prometheus_3_exactly() {
    // B serves native histograms of its own; A stores them from B's `/metrics`.
    let b = start_flavor(&PLAIN_3, &[free_port()], "1s", &[]);
    let a = start_flavor(&NATIVE_3, &[b.port], "1s", &[]);
    // Requests to a few of B's handlers, so that several of its histograms have buckets.
    let deadline = Instant::now() + Duration::from_secs(30);
    while common::http_get(b.port, "/-/ready").0 != 200 {
        assert!(Instant::now() < deadline, "prometheus3 not ready");
        std::thread::sleep(Duration::from_millis(100));
    }
    for path in [
        "/-/healthy",
        "/api/v1/status/buildinfo",
        "/api/v1/query?query=up",
        "/api/v1/labels",
    ] {
        for _ in 0..3 {
            common::http_get(b.port, path);
        }
    }
    let collector = Collector::from_yaml(&format!(
        r#"receivers:
  prometheus:
    config:
      global: {{scrape_interval: 1s, scrape_native_histograms: true}}
      scrape_configs:
        - job_name: direct
          static_configs: [{{targets: ['127.0.0.1:{b}']}}]
        - job_name: federate
          honor_labels: true
          metrics_path: /federate
          params: {{'match[]': ['prometheus_http_request_duration_seconds{{job="llamacol"}}']}}
          static_configs: [{{targets: ['127.0.0.1:{a}']}}]
exporters:
  file: {{path: "${{env:LLAMACOL_FILE_PATH}}"}}
service:
  telemetry: {{admin: {{endpoint: "${{env:LLAMACOL_ADMIN_ENDPOINT}}"}}}}
  pipelines:
    metrics: {{receivers: [prometheus], exporters: [file]}}
"#,
        a = a.port,
        b = b.port
    ));
    let name = "prometheus_http_request_duration_seconds";
    let deadline = Instant::now() + Duration::from_secs(60);
    let (federated, direct) = loop {
        let all = exponential(&collector.file, name);
        // Federated series keep A's job for B (`llamacol`), as with honor_labels.
        let federated: Vec<_> = all.iter().filter(|p| p.0 == "llamacol").cloned().collect();
        let direct: Vec<_> = all.iter().filter(|p| p.0 == "direct").cloned().collect();
        if !federated.is_empty() && !direct.is_empty() {
            break (federated, direct);
        }
        assert!(
            Instant::now() < deadline,
            "no native histograms read: {} federated, {} direct\n{}",
            federated.len(),
            direct.len(),
            collector.stderr()
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!(direct
        .iter()
        .any(|p| p.3.count > 0.0 && !p.3.buckets.is_empty()));

    // A's answer at the instant of the first federated point.
    let instant = federated[0].2;
    let answer: serde_json::Value = reqwest::blocking::Client::new()
        .get(format!("http://127.0.0.1:{}/api/v1/query", a.port))
        .query(&[
            ("query", format!("{name}{{job=\"llamacol\"}}")),
            ("time", format!("{:.3}", instant as f64 / 1e9)),
        ])
        .send()
        .expect("query")
        .json()
        .expect("json");
    let mut stored: BTreeMap<BTreeMap<String, String>, Native> = BTreeMap::new();
    for s in arr(&answer["data"]["result"]) {
        let mut labels: BTreeMap<String, String> = s["metric"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        for k in ["__name__", "job", "instance"] {
            labels.remove(k);
        }
        let h = &s["histogram"][1];
        let buckets = arr(&h["buckets"])
            .iter()
            .map(|b| (num(&b[1]), num(&b[2]), num(&b[3])))
            .collect();
        stored.insert(
            labels,
            Native {
                count: num(&h["count"]),
                sum: num(&h["sum"]),
                buckets,
            },
        );
    }
    let (mut compared, mut buckets) = (0, 0);
    for (_, attrs, _, ours) in federated.iter().filter(|p| p.2 == instant) {
        let theirs = stored.get(attrs).unwrap_or_else(|| {
            panic!("{attrs:?} read by llamacol, not stored by Prometheus: {stored:?}")
        });
        assert_eq!(
            (ours.count, ours.sum),
            (theirs.count, theirs.sum),
            "{attrs:?}"
        );
        assert_eq!(
            ours.buckets.len(),
            theirs.buckets.len(),
            "{attrs:?}: {ours:?} vs {theirs:?}"
        );
        for (o, t) in ours.buckets.iter().zip(&theirs.buckets) {
            assert!(
                close(o.0, t.0) && close(o.1, t.1) && o.2 == t.2,
                "{attrs:?}: {o:?} vs {t:?}"
            );
        }
        compared += 1;
        buckets += ours.buckets.len();
    }
    assert!(compared >= 5, "{compared} compared");
    eprintln!("compared {compared} native histograms ({buckets} buckets) exactly");
}
