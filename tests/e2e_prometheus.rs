//! A real Prometheus (Debian's `prometheus`, started here on loopback) scrapes llamacol's
//! `prometheus` exporter and receives its remote writes; the test reads both back through
//! Prometheus's query API, a PromQL histogram_quantile included. Needs `prometheus`,
//! which `scripts/test` installs.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use common::prometheus::{query, start_prometheus, value};
use common::Collector;
use llamacol_pipeline::testing::free_port;

fn metrics_json(now_ns: u128) -> String {
    let t = now_ns.to_string();
    format!(
        r#"{{"resourceMetrics":[{{"resource":{{"attributes":[
            {{"key":"service.name","value":{{"stringValue":"llama-server"}}}},
            {{"key":"service.instance.id","value":{{"stringValue":"gpu-node-7:8080"}}}},
            {{"key":"host.name","value":{{"stringValue":"gpu-node-7"}}}}]}},
          "scopeMetrics":[{{"scope":{{"name":"llamacol.e2e","version":"1.0"}},"metrics":[
            {{"name":"llm.tokens","unit":"{{token}}","sum":{{"aggregationTemporality":2,"isMonotonic":true,"dataPoints":[
              {{"asInt":"1234","startTimeUnixNano":"{t}","timeUnixNano":"{t}","attributes":[{{"key":"gen_ai.token.type","value":{{"stringValue":"input"}}}}]}}]}}}},
            {{"name":"gpu.temperature","unit":"Cel","gauge":{{"dataPoints":[{{"asDouble":71.5,"timeUnixNano":"{t}"}}]}}}},
            {{"name":"http.server.request.duration","unit":"s","histogram":{{"aggregationTemporality":2,"dataPoints":[
              {{"count":"10","sum":4.2,"bucketCounts":["2","5","3","0"],"explicitBounds":[0.1,0.5,1.0],"timeUnixNano":"{t}"}}]}}}}
          ]}}]}}]}}"#
    )
}

#[test]
#[ignore = "needs prometheus: run scripts/test"]
fn prometheus_scrapes_and_receives_remote_writes() {
    let scrape_port = free_port();
    let prometheus = start_prometheus(scrape_port);
    let mut collector = Collector::launch(
        &["configs/prometheus.yaml"],
        &[
            (
                "LLAMACOL_PROMETHEUS_ENDPOINT",
                format!("127.0.0.1:{scrape_port}"),
            ),
            (
                "LLAMACOL_REMOTE_WRITE_URL",
                format!("http://127.0.0.1:{}/api/v1/write", prometheus.port),
            ),
        ],
    );
    let now_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    let status = reqwest::blocking::Client::new()
        .post(format!("http://127.0.0.1:{}/v1/metrics", collector.http))
        .header("content-type", "application/json")
        .body(metrics_json(now_ns))
        .send()
        .expect("post")
        .status();
    assert_eq!(status, 200);

    let port = prometheus.port;
    // Scraped: names, units, suffixes and labels as translated, job/instance from the resource.
    let tokens = query(port, r#"llm_tokens_total{via="scrape"}"#);
    assert_eq!(value(&tokens[0]), 1234.0);
    let m = &tokens[0]["metric"];
    assert_eq!(
        (
            m["job"].as_str(),
            m["instance"].as_str(),
            m["gen_ai_token_type"].as_str()
        ),
        (Some("llama-server"), Some("gpu-node-7:8080"), Some("input"))
    );
    assert_eq!(m["otel_scope_name"], "llamacol.e2e");
    assert_eq!(
        value(&query(port, r#"gpu_temperature_celsius{via="scrape"}"#)[0]),
        71.5
    );
    let info = query(port, r#"target_info{via="scrape"}"#);
    assert_eq!(info[0]["metric"]["host_name"], "gpu-node-7");
    // PromQL over the exposed buckets: rank 9.9 of 10 lies in (0.5, 1] holding 7..10.
    let p99 = value(
        &query(
            port,
            r#"histogram_quantile(0.99, http_server_request_duration_seconds_bucket{via="scrape"})"#,
        )[0],
    );
    assert!((p99 - (0.5 + 0.5 * 2.9 / 3.0)).abs() < 1e-9, "p99 {p99}");

    // Remote-written: the same series arrive through the write endpoint.
    let written = query(port, r#"llm_tokens_total{via="remote_write"}"#);
    assert_eq!(value(&written[0]), 1234.0);
    assert_eq!(written[0]["metric"]["job"], "llama-server");
    let p99 = value(
        &query(
            port,
            r#"histogram_quantile(0.99, http_server_request_duration_seconds_bucket{via="remote_write"})"#,
        )[0],
    );
    assert!((p99 - 0.98333).abs() < 1e-3, "p99 {p99}");
    assert_eq!(
        value(&query(port, r#"target_info{via="remote_write"}"#)[0]),
        1.0
    );

    let (status, _) = collector.terminate();
    assert!(status.success(), "{}", collector.stderr());
}
