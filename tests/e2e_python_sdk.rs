//! The real binary, fed by the OpenTelemetry Python SDK (from PyPI) doing what LLM apps
//! do, over gRPC and over HTTP/protobuf. Needs the SDK's virtualenv (`peers-python`),
//! which `scripts/test` builds.

mod common;

use std::process::Command;

use common::{attr, lines, log_records, metrics, spans, Collector};
use llamacol_pipeline::testing::external_program;

#[test]
#[ignore = "needs the OpenTelemetry Python SDK (peers-python): run scripts/test"]
fn python_sdk_over_grpc_and_http_reaches_the_file_exporter() {
    let python = external_program("peers-python");
    let mut collector = Collector::start("configs/otlp-to-file.yaml");
    for (transport, endpoint) in [
        ("grpc", format!("http://127.0.0.1:{}", collector.grpc)),
        ("http", format!("http://127.0.0.1:{}", collector.http)),
    ] {
        let out = Command::new(&python)
            .args(["tests/python/llm_app.py", transport, &endpoint])
            .output()
            .expect("python3");
        assert!(
            out.status.success(),
            "{transport} app failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains("Failed to export"),
            "{transport}: {stderr}"
        );
    }
    let (status, _) = collector.terminate();
    assert!(status.success(), "exit {status}: {}", collector.stderr());

    let written = lines(&collector.file);
    let spans = spans(&written);
    for transport in ["grpc", "http"] {
        let mine: Vec<_> = spans
            .iter()
            .filter(|s| s["name"] == format!("chat {transport}"))
            .collect();
        assert_eq!(mine.len(), 3, "{transport} spans");
        assert!(mine
            .iter()
            .all(|s| attr(s, "llm.model").as_deref() == Some("llama-3-8b-instruct")));
        let inputs: Vec<_> = mine
            .iter()
            .filter_map(|s| attr(s, "llm.usage.input_tokens"))
            .collect();
        assert_eq!(inputs.len(), 3);
        assert!(inputs.contains(&"122".to_string()), "{inputs:?}");
        let failed: Vec<_> = mine.iter().filter(|s| s["status"]["code"] == 2).collect();
        assert_eq!(failed.len(), 1, "one error span");
        let event = &failed[0]["events"][0];
        assert_eq!(event["name"], "exception");
        assert_eq!(
            attr(event, "exception.message").as_deref(),
            Some("CUDA out of memory")
        );
    }
    assert_eq!(spans.len(), 6, "nothing else, nothing twice");

    let metrics = metrics(&written);
    let tokens: Vec<_> = metrics
        .iter()
        .filter(|m| m["name"] == "llm.usage.tokens")
        .collect();
    assert_eq!(tokens.len(), 2, "one counter per app run");
    for t in &tokens {
        assert_eq!(t["sum"]["dataPoints"][0]["asInt"], "453", "150+151+152");
    }
    let latency: Vec<_> = metrics
        .iter()
        .filter(|m| m["name"] == "llm.request.duration")
        .collect();
    assert_eq!(latency.len(), 2);
    assert_eq!(latency[0]["histogram"]["dataPoints"][0]["count"], "3");

    let logs = log_records(&written);
    assert_eq!(logs.len(), 4, "2 log records per run");
    let warning = logs
        .iter()
        .find(|l| l["body"]["stringValue"] == "slot queue is long")
        .expect("warning record");
    assert_eq!(warning["severityNumber"], 13, "SEVERITY_NUMBER_WARN");
}
