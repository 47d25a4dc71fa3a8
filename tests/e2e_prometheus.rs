//! A real Prometheus (Debian's 2.42, and Prometheus 3 built from its module) scrapes llamacol's
//! `prometheus` exporter and receives its remote writes; the test reads both back through
//! Prometheus's query API, a PromQL histogram_quantile included. Needs `prometheus`,
//! which `scripts/test` installs.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use common::prometheus::{query, start_flavor, start_prometheus, value, Flavor, DEBIAN};
use common::Collector;
use llamacol_pipeline::testing::free_port;

/// A counter (started 5 s before, with an exemplar), a gauge, a classic histogram and an
/// exponential one (scale 2: zero bucket 1, buckets (0.59, 0.71] 2 and (0.84, 1] 3).
const V1: &str = "prometheus.WriteRequest";
const V2: &str = "io.prometheus.write.v2.Request";

fn metrics_json(now_ns: u128) -> String {
    let t = now_ns.to_string();
    let start = (now_ns - 5_000_000_000).to_string();
    format!(
        r#"{{"resourceMetrics":[{{"resource":{{"attributes":[
            {{"key":"service.name","value":{{"stringValue":"llama-server"}}}},
            {{"key":"service.instance.id","value":{{"stringValue":"gpu-node-7:8080"}}}},
            {{"key":"host.name","value":{{"stringValue":"gpu-node-7"}}}}]}},
          "scopeMetrics":[{{"scope":{{"name":"llamacol.e2e","version":"1.0"}},"metrics":[
            {{"name":"llm.tokens","unit":"{{token}}","sum":{{"aggregationTemporality":2,"isMonotonic":true,"dataPoints":[
              {{"asInt":"1234","startTimeUnixNano":"{start}","timeUnixNano":"{t}","attributes":[{{"key":"gen_ai.token.type","value":{{"stringValue":"input"}}}}],
               "exemplars":[{{"asDouble":812,"timeUnixNano":"{t}","traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331"}}]}}]}}}},
            {{"name":"gpu.temperature","unit":"Cel","gauge":{{"dataPoints":[{{"asDouble":71.5,"timeUnixNano":"{t}"}}]}}}},
            {{"name":"http.server.request.duration","unit":"s","histogram":{{"aggregationTemporality":2,"dataPoints":[
              {{"count":"10","sum":4.2,"bucketCounts":["2","5","3","0"],"explicitBounds":[0.1,0.5,1.0],"timeUnixNano":"{t}"}}]}}}},
            {{"name":"llm.ttft","unit":"s","exponentialHistogram":{{"aggregationTemporality":2,"dataPoints":[
              {{"count":"6","sum":4.0,"scale":2,"zeroCount":"1","positive":{{"offset":-3,"bucketCounts":["2","0","3"]}},"startTimeUnixNano":"{start}","timeUnixNano":"{t}"}}]}}}}
          ]}}]}}]}}"#
    )
}

/// llamacol on `configs/prometheus.yaml`, serving /metrics on `scrape_port` and remote
/// writing `message` to Prometheus on `prometheus_port`, after one OTLP post of
/// `metrics_json`.
fn collector_with_metrics(scrape_port: u16, prometheus_port: u16, message: &str) -> Collector {
    let collector = Collector::launch(
        &["configs/prometheus.yaml"],
        &[
            (
                "LLAMACOL_PROMETHEUS_ENDPOINT",
                format!("127.0.0.1:{scrape_port}"),
            ),
            (
                "LLAMACOL_REMOTE_WRITE_URL",
                format!("http://127.0.0.1:{prometheus_port}/api/v1/write"),
            ),
            ("LLAMACOL_REMOTE_WRITE_MESSAGE", message.to_string()),
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
    collector
}

/// PromQL over the scraped classic buckets: rank 9.9 of 10 lies in (0.5, 1] holding 7..10.
fn assert_classic_p99(port: u16) {
    let p99 = value(
        &query(
            port,
            r#"histogram_quantile(0.99, http_server_request_duration_seconds_bucket{via="scrape"})"#,
        )[0],
    );
    assert!((p99 - (0.5 + 0.5 * 2.9 / 3.0)).abs() < 1e-9, "p99 {p99}");
}

#[test]
#[ignore = "needs prometheus: run scripts/test"]
fn prometheus_scrapes_and_receives_remote_writes() {
    let scrape_port = free_port();
    let prometheus = start_prometheus(scrape_port);
    let mut collector = collector_with_metrics(scrape_port, prometheus.port, V1);
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
    assert_classic_p99(port);

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
    // The exponential histogram as classic buckets both ways (no native histograms here):
    // 3 of 6 observations at or below 2^-0.5, the upper bound of bucket -3 at scale 2.
    for via in ["scrape", "remote_write"] {
        let le = query(
            port,
            &format!(r#"llm_ttft_seconds_bucket{{via="{via}",le="0.7071067811865476"}}"#),
        );
        assert_eq!(value(&le[0]), 3.0, "{via}");
    }

    let (status, _) = collector.terminate();
    assert!(status.success(), "{}", collector.stderr());
}

/// Prometheus 3 as a user who wants everything Remote Write 2.0 carries runs it: native
/// histograms scraped (`scrape_native_histograms`), exemplars stored, metadata as
/// `__type__`/`__unit__` labels, start times as zero samples.
const PROMETHEUS_3: Flavor = Flavor {
    program: "prometheus3",
    flags: &[
        "--enable-feature=exemplar-storage,type-and-unit-labels,created-timestamp-zero-ingestion",
    ],
    scrape: "    scrape_native_histograms: true\n",
};

#[test]
#[ignore = "needs prometheus3: run scripts/test"]
fn prometheus_3_takes_remote_write_2_0_and_native_histograms_both_ways() {
    let scrape_port = free_port();
    let prometheus = start_flavor(&PROMETHEUS_3, &[scrape_port], "1s", &[]);
    let mut collector = collector_with_metrics(scrape_port, prometheus.port, V2);
    let port = prometheus.port;

    // One native series both ways, the same numbers: count, sum, and the 0.75 quantile
    // (rank 4.5 of 6: half way through bucket (2^-0.25, 1] holding ranks 4 to 6, which
    // Prometheus interpolates exponentially: 2^-0.125).
    for via in ["scrape", "remote_write"] {
        let count = query(
            port,
            &format!(r#"histogram_count(llm_ttft_seconds{{via="{via}"}})"#),
        );
        assert_eq!(value(&count[0]), 6.0, "{via}");
        let sum = query(
            port,
            &format!(r#"histogram_sum(llm_ttft_seconds{{via="{via}"}})"#),
        );
        assert_eq!(value(&sum[0]), 4.0, "{via}");
        let q75 = value(
            &query(
                port,
                &format!(r#"histogram_quantile(0.75, llm_ttft_seconds{{via="{via}"}})"#),
            )[0],
        );
        assert!((q75 - 2f64.powf(-0.125)).abs() < 1e-9, "{via}: q75 {q75}");
    }

    // Metadata arrived: type and unit per series.
    let ttft = query(port, r#"llm_ttft_seconds{via="remote_write"}"#);
    assert_eq!(
        (
            ttft[0]["metric"]["__type__"].as_str(),
            ttft[0]["metric"]["__unit__"].as_str()
        ),
        (Some("histogram"), Some("seconds"))
    );
    let gauge = query(port, r#"gpu_temperature_celsius{via="remote_write"}"#);
    assert_eq!(gauge[0]["metric"]["__type__"], "gauge");
    assert_eq!(gauge[0]["metric"]["__unit__"], "celsius");
    let tokens = query(port, r#"llm_tokens_total{via="remote_write"}"#);
    assert_eq!(value(&tokens[0]), 1234.0);
    assert_eq!(tokens[0]["metric"]["__type__"], "counter");

    // The start time: a zero sample 5 s before the point.
    let range = query(port, r#"llm_tokens_total{via="remote_write"}[1m]"#);
    let values: Vec<f64> = range[0]["values"]
        .as_array()
        .expect("range")
        .iter()
        .map(|v| {
            v[1].as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or(f64::NAN)
        })
        .collect();
    assert_eq!(values, vec![0.0, 1234.0], "{range:?}");

    // The exemplar, with its trace.
    let exemplars = common::prometheus::exemplars(port, r#"llm_tokens_total{via="remote_write"}"#);
    assert_eq!(
        exemplars[0]["exemplars"][0]["labels"]["trace_id"],
        "0af7651916cd43dd8448eb211c80319c"
    );

    let (status, _) = collector.terminate();
    assert!(status.success(), "{}", collector.stderr());
}

#[test]
#[ignore = "needs prometheus: run scripts/test"]
fn prometheus_2_42_scrapes_native_histograms_by_protobuf() {
    const NATIVE: Flavor = Flavor {
        flags: &["--enable-feature=native-histograms"],
        ..DEBIAN
    };
    let scrape_port = free_port();
    let prometheus = start_flavor(&NATIVE, &[scrape_port], "1s", &[]);
    let mut collector = collector_with_metrics(scrape_port, prometheus.port, V1);
    let port = prometheus.port;
    let count = query(port, r#"histogram_count(llm_ttft_seconds{via="scrape"})"#);
    assert_eq!(value(&count[0]), 6.0);
    // The other types through the protobuf format as through text.
    assert_eq!(
        value(&query(port, r#"llm_tokens_total{via="scrape"}"#)[0]),
        1234.0
    );
    assert_classic_p99(port);
    let (status, _) = collector.terminate();
    assert!(status.success(), "{}", collector.stderr());
}

/// Prometheus 2.42 answers 204 to a 2.0 request, having decoded it as an empty 1.0 one:
/// llamacol sees from the missing `-Written` headers that nothing was written and says so,
/// once, without retrying.
#[test]
#[ignore = "needs prometheus: run scripts/test"]
fn remote_write_2_0_into_a_1_0_receiver_is_an_error_not_a_silent_loss() {
    let scrape_port = free_port();
    let prometheus = start_prometheus(scrape_port);
    let mut collector = collector_with_metrics(scrape_port, prometheus.port, V2);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !collector.stderr().contains("speaks only Remote Write 1.0") {
        assert!(
            std::time::Instant::now() < deadline,
            "{}",
            collector.stderr()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(collector
        .stderr()
        .contains("protobuf_message: prometheus.WriteRequest"));
    let (status, _) = collector.terminate();
    assert!(status.success(), "{}", collector.stderr());
    assert_eq!(
        collector
            .stderr()
            .matches("speaks only Remote Write 1.0")
            .count(),
        1,
        "permanent: not retried"
    );
}
