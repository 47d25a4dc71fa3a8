//! The `slo` processor in the real binary, against a real Alertmanager and a real
//! Prometheus (both from `scripts/test`): a GPU temperature sent over OTLP fires an alert
//! that Alertmanager holds with our labels and annotations, and resolves there; the same
//! rule written for Prometheus, evaluated on what Prometheus scrapes from our exporter,
//! goes pending and firing within one evaluation interval of ours; a scripted error
//! ratio fires the burn-rate page when, and only when, both windows burn.

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::alertmanager::{start_alertmanager, Alertmanager};
use common::prometheus::start_prometheus_with;
use common::{http_get, Collector};
use llamacol_pipeline::testing::free_port;

const INTERVAL_S: f64 = 1.0;

fn config(dir: &std::path::Path, am_port: u16, scrape_port: u16) -> String {
    let path = dir.join("slo.yaml");
    std::fs::write(
        &path,
        format!(
            r#"
receivers:
  otlp:
    protocols:
      http:
        endpoint: ${{env:LLAMACOL_OTLP_HTTP_ENDPOINT}}
processors:
  slo:
    evaluation_interval: 1s
    resend_delay: 2s
    rules:
      - alert: GPUTemperatureHigh
        metric: hw.temperature
        where: {{hw.type: gpu}}
        by: [hw.id]
        aggregate: max
        window: 2s
        op: ">"
        threshold: 85
        for: 3s
        severity: warning
        annotations: {{summary: "GPU {{{{hw.id}}}} at {{{{value}}}} C"}}
    slos:
      - name: chat-availability
        objective: 99
        sli:
          ratio:
            errors: {{metric: gen_ai.requests, where: {{error.type: {{regex: ".+"}}}}}}
            total: {{metric: gen_ai.requests}}
        alerting:
          page: [{{long: 20s, short: 4s, burn_rate: 10}}]
          ticket: []
    notify:
      alertmanager: {{endpoint: "http://127.0.0.1:{am_port}"}}
exporters:
  prometheus:
    endpoint: 127.0.0.1:{scrape_port}
service:
  telemetry:
    admin:
      endpoint: ${{env:LLAMACOL_ADMIN_ENDPOINT}}
  pipelines:
    metrics:
      receivers: [otlp]
      processors: [slo]
      exporters: [prometheus]
"#
        ),
    )
    .expect("write config");
    path.to_string_lossy().to_string()
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_nanos()
}

fn post(collector: &Collector, body: String) {
    let status = reqwest::blocking::Client::new()
        .post(format!("http://127.0.0.1:{}/v1/metrics", collector.http))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .expect("post")
        .status();
    assert_eq!(status, 200);
}

fn temperature(celsius: f64) -> String {
    let t = now_ns();
    format!(
        r#"{{"resourceMetrics":[{{"resource":{{"attributes":[
            {{"key":"service.name","value":{{"stringValue":"gpu-node"}}}},
            {{"key":"service.instance.id","value":{{"stringValue":"node-7"}}}}]}},
          "scopeMetrics":[{{"metrics":[
            {{"name":"hw.temperature","unit":"Cel","gauge":{{"dataPoints":[{{"asDouble":{celsius},"timeUnixNano":"{t}","attributes":[
              {{"key":"hw.id","value":{{"stringValue":"GPU-0"}}}},{{"key":"hw.type","value":{{"stringValue":"gpu"}}}}]}}]}}}}
          ]}}]}}]}}"#
    )
}

fn requests(errors: f64, ok: f64, start_ns: u128) -> String {
    let t = now_ns();
    format!(
        r#"{{"resourceMetrics":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"chat"}}}}]}},
          "scopeMetrics":[{{"metrics":[
            {{"name":"gen_ai.requests","sum":{{"aggregationTemporality":2,"isMonotonic":true,"dataPoints":[
              {{"asDouble":{errors},"startTimeUnixNano":"{start_ns}","timeUnixNano":"{t}","attributes":[{{"key":"error.type","value":{{"stringValue":"500"}}}}]}},
              {{"asDouble":{ok},"startTimeUnixNano":"{start_ns}","timeUnixNano":"{t}"}}]}}}}
          ]}}]}}]}}"#
    )
}

/// Our `/debug/alerts` entries for `alertname`.
fn ours(collector: &Collector, alertname: &str) -> Vec<serde_json::Value> {
    let (status, body) = http_get(collector.admin, "/debug/alerts");
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    v["slo"]["alerts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|a| a["labels"]["alertname"] == alertname)
        .collect()
}

fn our_state(collector: &Collector, alertname: &str) -> Option<String> {
    ours(collector, alertname)
        .first()
        .and_then(|a| a["state"].as_str().map(String::from))
}

fn prometheus_state(port: u16, alertname: &str) -> Option<String> {
    let v: serde_json::Value =
        reqwest::blocking::get(format!("http://127.0.0.1:{port}/api/v1/alerts"))
            .ok()?
            .json()
            .ok()?;
    v["data"]["alerts"]
        .as_array()?
        .iter()
        .find(|a| a["labels"]["alertname"] == alertname)
        .and_then(|a| a["state"].as_str().map(String::from))
}

fn am_alert(am: &Alertmanager, alertname: &str) -> Option<serde_json::Value> {
    am.alerts()
        .into_iter()
        .find(|a| a["labels"]["alertname"] == alertname)
}

/// Seconds since `since` at which `state` was first seen, per observer.
#[derive(Default, Debug)]
struct Seen {
    ours_pending: Option<f64>,
    ours_firing: Option<f64>,
    prom_pending: Option<f64>,
    prom_firing: Option<f64>,
}

#[test]
#[ignore = "needs alertmanager and prometheus: run scripts/test"]
fn a_threshold_alert_reaches_alertmanager_and_agrees_with_prometheus() {
    let am = start_alertmanager();
    let scrape_port = free_port();
    // The same rule as Prometheus writes it, on what it scrapes from our exporter.
    let rules = "groups:\n  - name: llm\n    interval: 1s\n    rules:\n      - alert: GPUTemperatureHigh\n        expr: max by (hw_id) (max_over_time(hw_temperature_celsius{hw_type=\"gpu\"}[2s])) > 85\n        for: 3s\n";
    let prometheus = start_prometheus_with(scrape_port, "250ms", &[("llm.rules.yml", rules)]);
    let dir = tempfile::tempdir().expect("tmp");
    let collector = Collector::launch(&[&config(dir.path(), am.port, scrape_port)], &[]);

    // Healthy first, so both have seen the series before it breaches.
    let calm_until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < calm_until {
        post(&collector, temperature(70.0));
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(our_state(&collector, "GPUTemperatureHigh"), None);

    let hot = Instant::now();
    let mut seen = Seen::default();
    let deadline = hot + Duration::from_secs(30);
    let mut in_alertmanager = None;
    while Instant::now() < deadline {
        post(&collector, temperature(90.0));
        let at = hot.elapsed().as_secs_f64();
        let mine = our_state(&collector, "GPUTemperatureHigh");
        let theirs = prometheus_state(prometheus.port, "GPUTemperatureHigh");
        let first = |slot: &mut Option<f64>, state: &Option<String>, want: &str| {
            if slot.is_none()
                && (state.as_deref() == Some(want)
                    || (want == "pending" && state.as_deref() == Some("firing")))
            {
                *slot = Some(at);
            }
        };
        first(&mut seen.ours_pending, &mine, "pending");
        first(&mut seen.ours_firing, &mine, "firing");
        first(&mut seen.prom_pending, &theirs, "pending");
        first(&mut seen.prom_firing, &theirs, "firing");
        if in_alertmanager.is_none() {
            in_alertmanager = am_alert(&am, "GPUTemperatureHigh");
        }
        if seen.ours_firing.is_some() && seen.prom_firing.is_some() && in_alertmanager.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!("seconds after the first hot sample: {seen:?}");
    let alert = in_alertmanager.unwrap_or_else(|| {
        panic!(
            "Alertmanager never got the alert; llamacol: {}",
            collector.stderr()
        )
    });
    let labels = &alert["labels"];
    assert_eq!(labels["severity"], "warning");
    assert_eq!(labels["hw_id"], "GPU-0");
    assert_eq!(labels["job"], "gpu-node");
    assert_eq!(labels["instance"], "node-7");
    assert_eq!(alert["annotations"]["summary"], "GPU GPU-0 at 90 C");
    assert_eq!(alert["status"]["state"], "active");

    let (ours_pending, ours_firing) = (
        seen.ours_pending.expect("ours pending"),
        seen.ours_firing.expect("ours firing"),
    );
    let (prom_pending, prom_firing) = (
        seen.prom_pending.expect("Prometheus pending"),
        seen.prom_firing.expect("Prometheus firing"),
    );
    assert!(
        ours_firing - ours_pending >= 3.0 - INTERVAL_S,
        "`for: 3s` held: {seen:?}"
    );
    // One evaluation interval, plus the scrape interval and our polling (0.25 s each)
    // that only Prometheus's view goes through.
    let slack = INTERVAL_S + 0.5;
    assert!(
        (prom_pending - ours_pending).abs() <= slack,
        "pending apart by more than one interval: {seen:?}"
    );
    assert!(
        (prom_firing - ours_firing).abs() <= slack,
        "firing apart by more than one interval: {seen:?}"
    );

    // Our ALERTS series reached Prometheus through the exporter.
    let alerts = common::prometheus::query(
        prometheus.port,
        "ALERTS{alertname=\"GPUTemperatureHigh\",alertstate=\"firing\",job=\"gpu-node\"}",
    );
    assert_eq!(alerts[0]["metric"]["hw_id"], "GPU-0");

    // Cool down: resolved here, and Alertmanager drops it from its active alerts.
    let cool = Instant::now();
    let deadline = cool + Duration::from_secs(30);
    loop {
        post(&collector, temperature(60.0));
        let mine = our_state(&collector, "GPUTemperatureHigh");
        let gone = am_alert(&am, "GPUTemperatureHigh").is_none();
        if mine.as_deref() == Some("resolved") && gone {
            eprintln!(
                "resolved in Alertmanager {:.1}s after cooling",
                cool.elapsed().as_secs_f64()
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not resolved: ours {mine:?}, Alertmanager still has it: {}",
            !gone
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let (status, metrics) = http_get(collector.admin, "/metrics");
    assert_eq!(status, 200);
    let sent = metrics
        .lines()
        .find(|l| {
            l.starts_with("llamacol_alert_notifications_total")
                && l.contains("target=\"alertmanager\"")
                && l.contains("outcome=\"sent\"")
        })
        .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .unwrap_or(0);
    assert!(
        sent >= 2,
        "a firing and a resolved notification counted as sent:\n{metrics}"
    );
}

#[test]
#[ignore = "needs alertmanager and prometheus: run scripts/test"]
fn the_burn_rate_page_fires_when_both_windows_burn_and_not_before() {
    let am = start_alertmanager();
    let dir = tempfile::tempdir().expect("tmp");
    let collector = Collector::launch(&[&config(dir.path(), am.port, free_port())], &[]);
    let start = now_ns();
    let (mut errors, mut ok) = (0.0, 0.0);
    // 100 requests a second; 5% errors against a 1% budget is a burn rate of 5, under 10.
    let mut send = |share: f64| {
        errors += 100.0 * share;
        ok += 100.0 * (1.0 - share);
        post(&collector, requests(errors, ok, start));
    };
    // Longer than the long window, so it is full when the ratio changes.
    for _ in 0..22 {
        send(0.05);
        std::thread::sleep(Duration::from_secs(1));
        assert!(
            am_alert(&am, "SLOErrorBudgetBurn").is_none(),
            "paged at burn rate 5"
        );
        assert_eq!(our_state(&collector, "SLOErrorBudgetBurn"), None);
    }
    // 30% (burn 30): the 4s window crosses 10 at once, the 20s one once its average
    // passes 10%: (5 x (20 - x) + 30 x) / 20 > 10, after x = 4 s.
    let switched = Instant::now();
    let deadline = switched + Duration::from_secs(30);
    let mut next_send = Instant::now();
    let alert = loop {
        if Instant::now() >= next_send {
            send(0.30);
            next_send += Duration::from_secs(1);
        }
        if let Some(a) = am_alert(&am, "SLOErrorBudgetBurn") {
            break a;
        }
        assert!(Instant::now() < deadline, "no page: {}", collector.stderr());
        std::thread::sleep(Duration::from_millis(100));
    };
    let after = switched.elapsed().as_secs_f64();
    eprintln!("paged {after:.1}s after the error ratio went to 30%");
    assert!(
        after >= 3.0,
        "paged before the long window could burn: {after:.1}s"
    );
    assert_eq!(alert["labels"]["slo"], "chat-availability");
    assert_eq!(alert["labels"]["severity"], "page");
    let (_, body) = http_get(collector.admin, "/debug/alerts");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    let rates = &v["slo"]["slos"][0]["burn_rates"];
    let long = rates
        .as_array()
        .and_then(|r| r.iter().find(|w| w["window"] == "20s"))
        .and_then(|w| w["burn_rate"].as_f64())
        .expect("20s burn rate");
    assert!(long > 10.0, "{body}");
}
