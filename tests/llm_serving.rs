//! The `llm_serving` processor on the engines' own `/metrics` captures
//! (testdata/llm-serving/, sources in its README), served over HTTP and scraped by the
//! real binary's `prometheus` receiver: each uniform value must equal the engine's.
//! Hermetic: no external program.

mod common;

use common::arr;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::{lines, Collector};

const FIXTURES: [&str; 4] = [
    "sglang-model_name.prom",
    "sglang-name.prom",
    "triton-trtllm-inflight-batcher.prom",
    "triton-base.prom",
];

/// Serves each fixture at `/<file name>` as Prometheus text 0.0.4.
fn serve_fixtures() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let request = String::from_utf8_lossy(&request);
            let path = request.split_whitespace().nth(1).unwrap_or("/");
            let file = path.trim_start_matches('/');
            let (status, body) = match FIXTURES.iter().find(|f| **f == file) {
                Some(f) => (
                    "200 OK",
                    std::fs::read(format!("testdata/llm-serving/{f}")).expect("fixture"),
                ),
                None => ("404 Not Found", Vec::new()),
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    port
}

/// One uniform point: (job, metric, attributes, value or histogram count, histogram sum).
type Uniform = (String, String, BTreeMap<String, String>, f64, Option<f64>);

fn uniform_points(path: &std::path::Path) -> Vec<Uniform> {
    let number = |v: &serde_json::Value| {
        v.as_f64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
    };
    let mut out = Vec::new();
    for line in lines(path) {
        for r in arr(&line["resourceMetrics"]) {
            let job = arr(&r["resource"]["attributes"])
                .iter()
                .find(|a| a["key"] == "service.name")
                .and_then(|a| a["value"]["stringValue"].as_str())
                .unwrap_or_default()
                .to_string();
            for s in arr(&r["scopeMetrics"]) {
                if s["scope"]["name"] != "llamacol/llm_serving" {
                    continue;
                }
                for m in arr(&s["metrics"]) {
                    for key in ["gauge", "sum", "histogram"] {
                        for p in arr(&m[key]["dataPoints"]) {
                            let attrs = arr(&p["attributes"])
                                .iter()
                                .filter_map(|a| {
                                    Some((
                                        a["key"].as_str()?.to_string(),
                                        a["value"]["stringValue"].as_str()?.to_string(),
                                    ))
                                })
                                .collect();
                            let value = number(&p["asDouble"])
                                .or_else(|| number(&p["count"]))
                                .unwrap_or(f64::NAN);
                            out.push((
                                job.clone(),
                                m["name"].as_str().unwrap_or_default().to_string(),
                                attrs,
                                value,
                                number(&p["sum"]),
                            ));
                        }
                    }
                }
            }
        }
    }
    out
}

/// The last value of a uniform metric for a job (with `gen_ai.token.type` when given).
fn last(
    points: &[Uniform],
    job: &str,
    name: &str,
    token: Option<&str>,
) -> Option<(f64, Option<f64>)> {
    points
        .iter()
        .rev()
        .find(|p| {
            p.0 == job
                && p.1 == name
                && token.is_none_or(|t| p.2.get("gen_ai.token.type").map(String::as_str) == Some(t))
        })
        .map(|p| (p.3, p.4))
}

#[test]
fn engines_own_captures_map_onto_the_uniform_set() {
    let port = serve_fixtures();
    let jobs = ["sglang-now", "sglang-before", "triton-trtllm", "triton"];
    let scrape: String = jobs
        .iter()
        .zip(FIXTURES)
        .map(|(job, file)| {
            format!(
                "        - {{job_name: {job}, metrics_path: /{file}, static_configs: [{{targets: ['127.0.0.1:{port}']}}]}}\n"
            )
        })
        .collect();
    let collector = Collector::from_yaml(&format!(
        r#"receivers:
  prometheus:
    config:
      global: {{scrape_interval: 1s}}
      scrape_configs:
{scrape}processors:
  llm_serving: {{}}
exporters:
  file: {{path: "${{env:LLAMACOL_FILE_PATH}}"}}
service:
  telemetry: {{admin: {{endpoint: "${{env:LLAMACOL_ADMIN_ENDPOINT}}"}}}}
  pipelines:
    metrics: {{receivers: [prometheus], processors: [llm_serving], exporters: [file]}}
"#
    ));
    let deadline = Instant::now() + Duration::from_secs(30);
    let points = loop {
        let points = uniform_points(&collector.file);
        if jobs.iter().all(|j| points.iter().any(|p| p.0 == *j)) {
            break points;
        }
        assert!(
            Instant::now() < deadline,
            "no uniform metrics for every job: {:?}\n{}",
            points.iter().map(|p| (&p.0, &p.1)).collect::<Vec<_>>(),
            collector.stderr()
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    let value = |job: &str, name: &str| last(&points, job, name, None).map(|v| v.0);

    // SGLang as its docs show it now (`model_name`, ratios as fractions).
    let job = "sglang-now";
    assert_eq!(value(job, "llm.server.requests.running"), Some(162.0));
    assert_eq!(value(job, "llm.server.requests.waiting"), Some(2826.0));
    assert_eq!(value(job, "llm.server.kv_cache.usage"), Some(0.28));
    assert_eq!(
        value(job, "llm.server.prefix_cache.hit_ratio"),
        Some(0.007507552643049313)
    );
    assert_eq!(
        last(&points, job, "llm.server.tokens", Some("input")).map(|v| v.0),
        Some(8_128_902.0)
    );
    assert_eq!(
        last(&points, job, "llm.server.tokens", Some("output")).map(|v| v.0),
        Some(7_557_572.0)
    );
    assert_eq!(
        last(&points, job, "gen_ai.server.time_to_first_token", None),
        Some((11008.0, Some(2.3518979474117756e6)))
    );
    assert_eq!(
        value(job, "gen_ai.server.time_per_output_token"),
        Some(7_400_757.0)
    );
    assert_eq!(value(job, "gen_ai.server.request.duration"), Some(11228.0));
    let running = points
        .iter()
        .find(|p| p.0 == job && p.1 == "llm.server.requests.running")
        .expect("running");
    assert_eq!(
        running.2.get("gen_ai.request.model").map(String::as_str),
        Some("meta-llama/Llama-3.1-8B-Instruct")
    );
    assert_eq!(
        running.2.get("llm.server.engine").map(String::as_str),
        Some("sglang")
    );
    assert!(!running.2.contains_key("model_name"));

    // The earlier SGLang (`name` label, other names, the hit rate in percent).
    let job = "sglang-before";
    assert_eq!(value(job, "llm.server.requests.running"), Some(0.0));
    assert_eq!(value(job, "llm.server.kv_cache.usage"), Some(0.01));
    assert_eq!(
        value(job, "llm.server.prefix_cache.hit_ratio"),
        Some(0.1061)
    );
    assert_eq!(value(job, "llm.server.queue.duration"), Some(2104.0));
    assert_eq!(
        last(&points, job, "llm.server.tokens", Some("input")).map(|v| v.0),
        Some(506_780.0)
    );
    let before = points
        .iter()
        .find(|p| p.0 == job && p.1 == "llm.server.kv_cache.usage")
        .expect("kv");
    assert_eq!(
        before.2.get("gen_ai.request.model").map(String::as_str),
        Some("google/gemma-2-9b-it")
    );
    // `sglang:func_latency_seconds{name="generate_request"}` is no uniform metric.
    assert!(!points
        .iter()
        .any(|p| p.2.get("gen_ai.request.model").map(String::as_str) == Some("generate_request")));

    // Triton with the TensorRT-LLM backend, and Triton's core metrics alone.
    let job = "triton-trtllm";
    assert_eq!(value(job, "llm.server.requests.running"), Some(1.0));
    assert_eq!(value(job, "llm.server.requests.waiting"), Some(1.0));
    assert_eq!(value(job, "llm.server.kv_cache.usage"), Some(0.4875));
    assert_eq!(value("triton", "llm.server.requests.waiting"), Some(0.0));
    let kv = points
        .iter()
        .find(|p| p.0 == job && p.1 == "llm.server.kv_cache.usage")
        .expect("kv");
    assert_eq!(
        kv.2.get("gen_ai.request.model").map(String::as_str),
        Some("tensorrt_llm")
    );
    assert!(!kv.2.contains_key("kv_cache_block_type"));
}

/// A counter of llama-server's own `/metrics` (`llamacpp:<name>`).
fn llama_counter(body: &str, name: &str) -> f64 {
    body.lines()
        .find_map(|l| l.strip_prefix(&format!("llamacpp:{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no llamacpp:{name} in\n{body}"))
}

#[test]
#[ignore = "needs llama-server and peers-python: run scripts/test"]
fn the_real_llama_server_maps_alike_through_both_receivers() {
    let llama = common::llama_server::LlamaServer::start();
    // The same prompt twice: the second reuses the slot's cached prefix.
    let prompt =
        serde_json::json!({"prompt": "The capital of France is", "n_predict": 8, "id_slot": 0});
    llama.complete("/completion", prompt.clone());
    llama.complete("/completion", prompt);
    let (_, metrics) = common::http_get(llama.port, "/metrics");
    let input = llama_counter(&metrics, "prompt_tokens_total")
        + llama_counter(&metrics, "prompt_tokens_cached_total");
    let output = llama_counter(&metrics, "tokens_predicted_total");
    assert!(
        llama_counter(&metrics, "prompt_tokens_cached_total") > 0.0,
        "{metrics}"
    );

    let collector = Collector::from_yaml(&format!(
        r#"receivers:
  prometheus:
    config:
      global: {{scrape_interval: 1s}}
      scrape_configs:
        - {{job_name: llama-prom, static_configs: [{{targets: ['127.0.0.1:{port}']}}]}}
  llamacpp:
    collection_interval: 1s
    targets: [{{endpoint: "http://127.0.0.1:{port}"}}]
processors:
  llm_serving: {{}}
exporters:
  file: {{path: "${{env:LLAMACOL_FILE_PATH}}"}}
service:
  telemetry: {{admin: {{endpoint: "${{env:LLAMACOL_ADMIN_ENDPOINT}}"}}}}
  pipelines:
    metrics: {{receivers: [prometheus, llamacpp], processors: [llm_serving], exporters: [file]}}
"#,
        port = llama.port
    ));
    let tokens = |points: &[Uniform], job: &str, t: &str| {
        last(points, job, "llm.server.tokens", Some(t)).map(|v| v.0)
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let points = uniform_points(&collector.file);
        let both = ["llama-prom", "llama.cpp"].map(|job| {
            (
                tokens(&points, job, "input"),
                tokens(&points, job, "output"),
            )
        });
        if both.iter().all(|(i, o)| i.is_some() && o.is_some()) {
            // Prompt tokens include the cached ones, the same through either receiver.
            for (i, o) in both {
                assert_eq!((i, o), (Some(input), Some(output)));
            }
            let hit = last(
                &points,
                "llama-prom",
                "llm.server.prefix_cache.hit_ratio",
                None,
            )
            .expect("hit ratio")
            .0;
            assert!(hit > 0.0 && hit <= 1.0, "{hit}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no uniform tokens from both receivers: {:?}\n{}",
            points.iter().map(|p| (&p.0, &p.1)).collect::<Vec<_>>(),
            collector.stderr()
        );
        std::thread::sleep(Duration::from_millis(300));
    }

    // While completions run back to back, the KV cache the busy slot holds shows (from
    // /slots) and the running request (from /metrics).
    let port = llama.port;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let busy = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let client = reqwest::blocking::Client::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = client
                    .post(format!("http://127.0.0.1:{port}/completion"))
                    .json(&serde_json::json!({"prompt": "Once upon a time", "n_predict": 400, "ignore_eos": true}))
                    .timeout(Duration::from_secs(120))
                    .send();
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut kv_seen, mut running_seen) = (false, false);
    while !(kv_seen && running_seen) {
        let points = uniform_points(&collector.file);
        kv_seen |= points.iter().any(|p| {
            p.0 == "llama.cpp" && p.1 == "llm.server.kv_cache.usage" && p.3 > 0.0 && p.3 <= 1.0
        });
        running_seen |= points
            .iter()
            .any(|p| p.0 == "llama-prom" && p.1 == "llm.server.requests.running" && p.3 == 1.0);
        assert!(
            Instant::now() < deadline,
            "no KV use ({kv_seen}) or running request ({running_seen}) seen while completions ran"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = busy.join();
}
