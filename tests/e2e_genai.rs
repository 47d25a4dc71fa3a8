//! The genai processor and the genai_metrics connector end to end: the OpenTelemetry
//! Python SDK sends LLM spans in every naming scheme (tests/python/genai_schemes.py),
//! the real binary normalizes them and derives the GenAI metrics; a real Prometheus reads
//! those, the real Collector's spanmetrics connector counts the same spans, and on a
//! "node" with the real llama-server and the fake NVML library the spans carry the
//! server's model and the GPUs.

mod common;

use std::time::{Duration, Instant};

use common::fake_nvml::build_fake_nvml;
use common::llama_server::LlamaServer;
use common::otelcol::Otelcol;
use common::prometheus::{start_prometheus, value};
use common::{http_get, lines, metrics, python_json, spans, Collector};
use llamacol_api::otlp::collector::trace::v1::trace_service_client::TraceServiceClient;
use llamacol_api::otlp::collector::trace::v1::ExportTraceServiceRequest;
use llamacol_api::otlp::common::v1::{any_value, AnyValue, KeyValue};
use llamacol_api::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};
use llamacol_pipeline::testing::free_port;
use serde_json::{json, Value};

/// Runs the script against llamacol's gRPC port; returns what it says must arrive.
fn send_schemes(grpc: u16, rounds: usize) -> Value {
    python_json(&[
        "tests/python/genai_schemes.py",
        &format!("127.0.0.1:{grpc}"),
        &rounds.to_string(),
    ])
}

/// A value the Python script wrote, as OTLP/JSON writes the attribute value.
fn otlp_json(v: &Value) -> Value {
    match v {
        Value::Bool(b) => json!({ "boolValue": b }),
        Value::Number(n) if n.is_i64() => json!({ "intValue": n.to_string() }),
        Value::Number(n) => json!({ "doubleValue": n }),
        Value::String(s) => json!({ "stringValue": s }),
        Value::Array(items) => {
            json!({ "arrayValue": { "values": items.iter().map(otlp_json).collect::<Vec<_>>() } })
        }
        other => panic!("unexpected {other}"),
    }
}

fn attribute<'a>(item: &'a Value, key: &str) -> Option<&'a Value> {
    item["attributes"]
        .as_array()?
        .iter()
        .find(|a| a["key"] == key)
        .map(|a| &a["value"])
}

fn wait_for_spans(file: &std::path::Path, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let found = spans(&lines(file));
        if found.len() >= n {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "{} spans of {n} after 20 s",
            found.len()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Polls a PromQL query until its first sample equals `expected` (30 s).
fn eventually(port: u16, promql: &str, expected: f64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = f64::NAN;
    while Instant::now() < deadline {
        let got: Option<f64> = reqwest::blocking::Client::new()
            .get(format!("http://127.0.0.1:{port}/api/v1/query"))
            .query(&[("query", promql)])
            .send()
            .ok()
            .and_then(|r| r.json::<Value>().ok())
            .and_then(|v| {
                v["data"]["result"]
                    .as_array()
                    .and_then(|r| r.first().cloned())
            })
            .map(|s| value(&s));
        if let Some(v) = got {
            last = v;
            if (v - expected).abs() < 1e-9 {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    panic!("`{promql}` = {last}, expected {expected}");
}

#[test]
#[ignore = "needs the OpenTelemetry Python SDK (peers-python) and prometheus: run scripts/test"]
fn every_scheme_arrives_in_current_form_and_its_metrics_reach_prometheus() {
    let scrape = free_port();
    let prometheus = start_prometheus(scrape);
    let mut collector = Collector::launch(
        &["tests/testdata/e2e/genai-prometheus.yaml"],
        &[(
            "LLAMACOL_PROMETHEUS_ENDPOINT",
            format!("127.0.0.1:{scrape}"),
        )],
    );
    let rounds = 2;
    let sent = send_schemes(collector.grpc, rounds);
    let expected = sent["spans"].as_object().expect("spans");
    let secret = sent["secret"].as_str().expect("secret");

    let arrived = wait_for_spans(&collector.file, expected.len() * rounds);
    assert_eq!(arrived.len(), expected.len() * rounds);
    for span in &arrived {
        let name = span["name"].as_str().expect("name");
        let want = &expected[name];
        for (key, value) in want["expect"].as_object().expect("expect") {
            assert_eq!(
                attribute(span, key),
                Some(&otlp_json(value)),
                "{name}: `{key}`"
            );
        }
        for key in want["gone"].as_array().expect("gone") {
            let key = key.as_str().expect("key");
            assert!(
                attribute(span, key).is_none(),
                "{name}: legacy or content key `{key}` arrived"
            );
        }
        if want["error"] == true {
            assert_eq!(
                attribute(span, "error.type"),
                Some(&json!({"stringValue": "_OTHER"}))
            );
        }
        assert!(
            !span.to_string().contains(secret),
            "{name}: prompt content arrived: {span}"
        );
    }

    // Token usage per type and model: sums are the tokens sent, counts the spans.
    let port = prometheus.port;
    for want in expected.values() {
        let e = &want["expect"];
        let model = e["gen_ai.request.model"].as_str().expect("model");
        for (kind, key) in [
            ("input", "gen_ai.usage.input_tokens"),
            ("output", "gen_ai.usage.output_tokens"),
        ] {
            let tokens = e[key].as_f64().expect("tokens");
            let series = format!("gen_ai_client_token_usage{{gen_ai_token_type=\"{kind}\",gen_ai_request_model=\"{model}\"}}");
            let series_sum = series.replacen('{', "_sum{", 1);
            eventually(port, &series_sum, tokens * rounds as f64);
            let series_count = series.replacen('{', "_count{", 1);
            eventually(port, &series_count, rounds as f64);
            // Every count lies in (4, 64]: none at le=4, all at le=64.
            let bucket = |le: &str| series.replacen('{', &format!("_bucket{{le=\"{le}\","), 1);
            eventually(port, &bucket("4"), 0.0);
            eventually(port, &bucket("64"), rounds as f64);
        }
    }
    eventually(
        port,
        r#"sum(gen_ai_requests_total)"#,
        (expected.len() * rounds) as f64,
    );
    eventually(
        port,
        r#"gen_ai_requests_total{error_type="_OTHER"}"#,
        rounds as f64,
    );
    // TTFTs sent: 40, 90, 150, 300, 700 ms: the median lies in the (0.1, 0.25] bucket.
    eventually(
        port,
        "sum(gen_ai_client_operation_time_to_first_chunk_seconds_count)",
        (expected.len() * rounds) as f64,
    );
    let median = common::prometheus::query(
        port,
        "histogram_quantile(0.5, sum by (le) (gen_ai_client_operation_time_to_first_chunk_seconds_bucket))",
    );
    let median = value(&median[0]);
    assert!((0.1..=0.25).contains(&median), "median TTFT {median}");
    let (status, _) = collector.terminate();
    assert!(status.success(), "{}", collector.stderr());
}

/// The last cumulative value per key of a metric in a file exporter's output.
fn latest_points(
    written: &[Value],
    name: &str,
    key: &dyn Fn(&Value) -> String,
) -> std::collections::BTreeMap<String, Value> {
    let mut out: std::collections::BTreeMap<String, (u64, Value)> = Default::default();
    for metric in metrics(written).iter().filter(|m| m["name"] == name) {
        let points = metric["sum"]["dataPoints"]
            .as_array()
            .or(metric["histogram"]["dataPoints"].as_array())
            .cloned()
            .unwrap_or_default();
        for p in points {
            let t: u64 = p["timeUnixNano"]
                .as_str()
                .and_then(|t| t.parse().ok())
                .unwrap_or(0);
            let k = key(&p);
            if out.get(&k).is_none_or(|(seen, _)| *seen <= t) {
                out.insert(k, (t, p));
            }
        }
    }
    out.into_iter().map(|(k, (_, p))| (k, p)).collect()
}

fn text(p: &Value, key: &str) -> String {
    attribute(p, key)
        .and_then(|v| v["stringValue"].as_str())
        .unwrap_or_default()
        .to_string()
}

fn int(v: &Value) -> u64 {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .or(v.as_u64())
        .unwrap_or(0)
}

/// Per span name: calls, and the duration histogram's bucket counts, summed over the
/// other attributes (status code / error type).
fn per_name(
    calls: &std::collections::BTreeMap<String, Value>,
    durations: &std::collections::BTreeMap<String, Value>,
    name_of: &dyn Fn(&str) -> String,
) -> std::collections::BTreeMap<String, (u64, Vec<u64>)> {
    let mut out: std::collections::BTreeMap<String, (u64, Vec<u64>)> = Default::default();
    for (k, p) in calls {
        out.entry(name_of(k)).or_default().0 += int(&p["asInt"]);
    }
    for (k, p) in durations {
        let counts: Vec<u64> = p["bucketCounts"]
            .as_array()
            .expect("buckets")
            .iter()
            .map(int)
            .collect();
        let entry = &mut out.entry(name_of(k)).or_default().1;
        if entry.is_empty() {
            *entry = vec![0; counts.len()];
        }
        for (e, c) in entry.iter_mut().zip(counts) {
            *e += c;
        }
    }
    out
}

#[test]
#[ignore = "needs the OpenTelemetry Python SDK (peers-python) and the real Collector (otelcol): run scripts/test"]
fn genai_metrics_counts_what_the_collectors_spanmetrics_counts() {
    // spanmetrics (its type is `span_metrics` since v0.14x) with genai_metrics' default
    // duration boundaries, in seconds.
    let otelcol_config = r#"
receivers:
  otlp:
    protocols:
      grpc: {endpoint: "${env:OTELCOL_GRPC}"}
      http: {endpoint: "${env:OTELCOL_HTTP}"}
connectors:
  span_metrics:
    metrics_flush_interval: 1s
    histogram:
      unit: s
      explicit:
        buckets: [10ms, 20ms, 40ms, 80ms, 160ms, 320ms, 640ms, 1280ms, 2560ms, 5120ms, 10240ms, 20480ms, 40960ms, 81920ms]
exporters:
  file:
    path: "${env:OTELCOL_FILE}"
service:
  telemetry: {metrics: {level: none}}
  pipelines:
    traces: {receivers: [otlp], exporters: [span_metrics]}
    metrics: {receivers: [span_metrics], exporters: [file]}
"#;
    let mut otelcol = Otelcol::start(otelcol_config, &[]);
    let mut collector = Collector::launch(
        &["tests/testdata/e2e/genai-beside-otelcol.yaml"],
        &[(
            "LLAMACOL_OTELCOL_ENDPOINT",
            format!("127.0.0.1:{}", otelcol.grpc),
        )],
    );
    let rounds = 3;
    let sent = send_schemes(collector.grpc, rounds);
    let names: Vec<String> = sent["spans"]
        .as_object()
        .expect("spans")
        .keys()
        .cloned()
        .collect();
    let model_to_name = |model: &str| -> String {
        sent["spans"]
            .as_object()
            .and_then(|s| {
                s.iter()
                    .find(|(_, v)| v["expect"]["gen_ai.request.model"] == model)
            })
            .map(|(k, _)| k.clone())
            .unwrap_or_else(|| format!("unknown model {model}"))
    };
    let total = (names.len() * rounds) as u64;
    let deadline = Instant::now() + Duration::from_secs(30);
    let (ours, theirs) = loop {
        let ours_written = lines(&collector.file);
        let ours_key = |p: &Value| {
            format!(
                "{}|{}",
                text(p, "gen_ai.request.model"),
                text(p, "error.type")
            )
        };
        let ours = per_name(
            &latest_points(&ours_written, "gen_ai.requests", &ours_key),
            &latest_points(&ours_written, "gen_ai.client.operation.duration", &ours_key),
            &|k| model_to_name(k.split('|').next().unwrap_or_default()),
        );
        let theirs_written = lines(&otelcol.file);
        let theirs_key = |p: &Value| format!("{}|{}", text(p, "span.name"), text(p, "status.code"));
        let theirs = per_name(
            &latest_points(&theirs_written, "traces.span.metrics.calls", &theirs_key),
            &latest_points(&theirs_written, "traces.span.metrics.duration", &theirs_key),
            &|k| k.split('|').next().unwrap_or_default().to_string(),
        );
        let calls = |m: &std::collections::BTreeMap<String, (u64, Vec<u64>)>| {
            m.values().map(|(c, _)| c).sum::<u64>()
        };
        if calls(&ours) == total && calls(&theirs) == total {
            break (ours, theirs);
        }
        assert!(
            Instant::now() < deadline,
            "after 30 s: ours {ours:?}, the Collector's {theirs:?}\n{}",
            collector.stderr()
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(ours.len(), names.len());
    assert_eq!(
        ours, theirs,
        "request counts and duration buckets per span name"
    );
    collector.terminate();
    otelcol.terminate();
}

#[test]
#[ignore = "needs llama-server, peers-python and cc: run scripts/test"]
fn genai_spans_on_a_node_carry_the_llama_servers_model_and_the_gpus() {
    let server = LlamaServer::start();
    let (_, props) = http_get(server.port, "/props");
    let props: Value = serde_json::from_str(&props).expect("props JSON");
    let model = props["model_alias"]
        .as_str()
        .filter(|m| !m.is_empty())
        .or(props["model_path"].as_str())
        .expect("the server names its model")
        .to_string();
    let lib = tempfile::tempdir().expect("tempdir");
    build_fake_nvml(lib.path());
    let mut collector = Collector::launch(
        &["tests/testdata/e2e/genai-node.yaml"],
        &[
            ("LD_LIBRARY_PATH", lib.path().display().to_string()),
            (
                "LLAMACOL_LLAMACPP_ENDPOINT",
                format!("http://127.0.0.1:{}", server.port),
            ),
        ],
    );
    // The first scrape publishes the server; the GPUs are published at start.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !http_get(collector.admin, "/metrics").1.lines().any(|l| {
        l.starts_with("llamacol_receiver_accepted_items_total{component=\"llamacpp\"")
            && !l.ends_with(" 0")
    }) {
        assert!(
            Instant::now() < deadline,
            "no llama.cpp scrape in 20 s: {}",
            collector.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let sent = send_schemes(collector.grpc, 1);
    let n = sent["spans"].as_object().expect("spans").len();
    let deadline = Instant::now() + Duration::from_secs(20);
    let resource = loop {
        let written = lines(&collector.file);
        let with_spans = written
            .iter()
            .flat_map(|l| l["resourceSpans"].as_array().cloned().unwrap_or_default())
            .find(|r| {
                r["scopeSpans"][0]["spans"]
                    .as_array()
                    .is_some_and(|s| !s.is_empty())
            });
        if let Some(r) = with_spans.filter(|_| spans(&written).len() >= n) {
            break r["resource"].clone();
        }
        assert!(
            Instant::now() < deadline,
            "no spans in 20 s: {}",
            collector.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        attribute(&resource, "llamacpp.model"),
        Some(&json!({"stringValue": model}))
    );
    assert!(
        attribute(&resource, "llamacpp.build").is_some(),
        "{resource}"
    );
    let ids = attribute(&resource, "hw.gpu.ids")
        .expect("hw.gpu.ids")
        .to_string();
    for gpu in [
        "GPU-8c7a3b2e-1f4d-4a6b-9e0c-2d5f7a8b9c01",
        "GPU-3f9e2d1c-7b6a-4c5d-8e9f-0a1b2c3d4e5f",
    ] {
        assert!(ids.contains(gpu), "{gpu} not in {ids}");
    }
    assert!(attribute(&resource, "hw.gpu.models").is_some());
    let (status, _) = collector.terminate();
    assert!(status.success(), "{}", collector.stderr());
}

/// One completion on the real server, timed as an instrumented client times its span.
fn timed_completion(server: &LlamaServer) -> (u64, u64) {
    let start = llamacol_api::clock::unix_nanos();
    server.complete(
        "/completion",
        json!({"prompt": "The GPU", "n_predict": 128, "cache_prompt": false}),
    );
    (start, llamacol_api::clock::unix_nanos())
}

/// The GenAI span a client instrumented with the GenAI conventions sends for a request.
fn completion_span(i: usize, (start, end): (u64, u64), port: u16) -> Span {
    let s = |v: &str| AnyValue {
        value: Some(any_value::Value::StringValue(v.into())),
    };
    let kv = |k: &str, v: AnyValue| KeyValue {
        key: k.into(),
        value: Some(v),
        ..Default::default()
    };
    Span {
        trace_id: (i as u128 + 1).to_be_bytes().to_vec(),
        span_id: (i as u64 + 1).to_be_bytes().to_vec(),
        name: "text_completion tiny".into(),
        kind: 3,
        start_time_unix_nano: start,
        end_time_unix_nano: end,
        attributes: vec![
            kv("gen_ai.operation.name", s("text_completion")),
            kv("gen_ai.provider.name", s("llama.cpp")),
            kv("gen_ai.request.model", s("tiny")),
            kv("server.address", s("127.0.0.1")),
            kv(
                "server.port",
                AnyValue {
                    value: Some(any_value::Value::IntValue(i64::from(port))),
                },
            ),
        ],
        ..Default::default()
    }
}

#[test]
#[ignore = "needs llama-server, peers-python and cc: run scripts/test"]
fn the_requests_running_when_the_gpu_raised_an_xid_carry_it() {
    let server = LlamaServer::start();
    let lib = tempfile::tempdir().expect("tempdir");
    build_fake_nvml(lib.path());
    let collector = Collector::launch(
        &["tests/testdata/e2e/genai-node-xid.yaml"],
        &[
            ("LD_LIBRARY_PATH", lib.path().display().to_string()),
            // XID 79 on the H100 three seconds after NVML is loaded.
            ("FAKE_NVML_XIDS", "0:3000:79".into()),
        ],
    );
    // Two clients back to back on the server's two slots from llamacol's start until
    // well after the XID (due 3 s after NVML loads): one of them is inside a request
    // whenever it comes. Nothing else runs in their loops, so the gaps are tiny.
    let until = Instant::now() + Duration::from_secs(6);
    let timings: Vec<(u64, u64)> = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    while Instant::now() < until {
                        done.push(timed_completion(&server));
                    }
                    done
                })
            })
            .collect();
        clients
            .into_iter()
            .flat_map(|c| c.join().expect("client"))
            .collect()
    });
    let xid_time = |path: &std::path::Path| {
        common::log_records(&lines(path))
            .first()
            .and_then(|r| r["timeUnixNano"].as_str()?.parse::<u64>().ok())
    };
    let xid_at = xid_time(&collector.file).expect("the XID's log record");
    let spans_sent: Vec<Span> = timings
        .iter()
        .enumerate()
        .map(|(i, t)| completion_span(i, *t, server.port))
        .collect();
    let overlapping: Vec<usize> = timings
        .iter()
        .enumerate()
        .filter(|(_, (s, e))| (*s..=*e).contains(&xid_at))
        .map(|(i, _)| i)
        .collect();
    assert!(!overlapping.is_empty(), "a request was running at the XID");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let mut client =
            TraceServiceClient::connect(format!("http://127.0.0.1:{}", collector.grpc))
                .await
                .expect("connect");
        let request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: spans_sent,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        client.export(request).await.expect("accepted");
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let written = loop {
        let found = spans(&lines(&collector.file));
        if found.len() >= timings.len() {
            break found;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} spans",
            found.len(),
            timings.len()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let carrying: Vec<usize> = written
        .iter()
        .filter(|s| {
            common::arr(&s["attributes"]).iter().any(|a| {
                a["key"] == "nvml.gpu.xids"
                    && a["value"]["arrayValue"]["values"][0]["intValue"] == "79"
            })
        })
        .map(|s| {
            let id = s["spanId"].as_str().expect("span id");
            usize::from_str_radix(id, 16).expect("hex") - 1
        })
        .collect();
    let mut carrying = carrying;
    carrying.sort_unstable();
    assert_eq!(
        carrying,
        overlapping,
        "exactly the requests running at the XID carry it ({} requests)",
        timings.len()
    );
    // The live page lists the XID with exactly those requests.
    let hex = |i: &usize| format!("{:032x}", i + 1);
    let mut expected: Vec<String> = overlapping.iter().map(hex).collect();
    expected.sort();
    // The nvml receiver republishes the events every cycle (500 ms here).
    let deadline = Instant::now() + Duration::from_secs(5);
    let listed = loop {
        let (_, live) = http_get(collector.admin, "/api/live");
        let live: Value = serde_json::from_str(&live).expect("live JSON");
        let events = &live["panels"]["gpu_events"]["series"]["events"]["info"]["events"];
        let event = common::arr(events)
            .iter()
            .find(|e| e["what"] == "XID 79: GPU has fallen off the bus")
            .unwrap_or_else(|| panic!("no XID event: {events}"));
        let mut listed: Vec<String> = common::arr(&event["traces"])
            .iter()
            .filter_map(|t| t.as_str().map(String::from))
            .collect();
        listed.sort();
        if listed == expected || Instant::now() > deadline {
            break listed;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        listed, expected,
        "the requests the XID overlapped, on the live page"
    );
    // The XID counter's exemplar is one of those requests (`exemplars: true`).
    let deadline = Instant::now() + Duration::from_secs(5);
    let exemplar = loop {
        let found = metrics(&lines(&collector.file))
            .into_iter()
            .filter(|m| m["name"] == "nvml.xid.errors")
            .flat_map(|m| common::arr(&m["sum"]["dataPoints"]).to_vec())
            .flat_map(|p| common::arr(&p["exemplars"]).to_vec())
            .filter_map(|e| e["traceId"].as_str().map(String::from))
            .next_back();
        if let Some(trace) = found {
            break trace;
        }
        assert!(Instant::now() < deadline, "no exemplar on nvml.xid.errors");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        expected.contains(&exemplar),
        "{exemplar} not in {expected:?}"
    );
    // Every request ran while the GPUs were read: the worst reading is on each span.
    assert!(written.iter().all(|s| common::arr(&s["attributes"])
        .iter()
        .any(|a| a["key"] == "nvml.gpu.temperature.max")));
}
