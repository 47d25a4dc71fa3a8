//! `tests/python/llm_app.py`: what an LLM app instrumented with the OpenTelemetry Python
//! SDK sends (3 chat spans, one failing; a token counter; a latency histogram; 2 log
//! records), and the exact assertions on what must arrive at the end of a chain.

use std::process::Command;

use llamacol_pipeline::testing::external_program;

use super::{attr, log_records, metrics, spans};

/// Runs the app once over `transport` (`grpc` or `http`) against `endpoint`.
pub fn run(transport: &str, endpoint: &str, gzip: bool) {
    let python = external_program("peers-python");
    let mut args = vec!["tests/python/llm_app.py", transport, endpoint];
    if gzip {
        args.push("gzip");
    }
    let out = Command::new(python).args(&args).output().expect("python");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{transport} app failed: {stderr}");
    assert!(
        !stderr.contains("Failed to export"),
        "{transport}: {stderr}"
    );
}

/// Waits (up to 15 s) until the OTLP/JSON file at `path` holds at least what `runs` app
/// runs send, so that a collector is stopped only after its file exporter wrote them.
pub fn wait_written(path: &std::path::Path, runs: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let written = super::lines(path);
        if spans(&written).len() >= 3 * runs
            && metrics(&written).len() >= 2 * runs
            && log_records(&written).len() >= 2 * runs
        {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} holds {} spans, {} metrics, {} logs after 15 s; expected {runs} app runs",
            path.display(),
            spans(&written).len(),
            metrics(&written).len(),
            log_records(&written).len()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Everything one run per transport in `transports` sent, exactly once each, and nothing
/// else, in the OTLP/JSON lines a file exporter (ours or the Collector's) wrote.
pub fn assert_arrived(written: &[serde_json::Value], transports: &[&str]) {
    let spans = spans(written);
    for transport in transports {
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
    assert_eq!(
        spans.len(),
        3 * transports.len(),
        "nothing else, nothing twice"
    );

    let metrics = metrics(written);
    let tokens: Vec<_> = metrics
        .iter()
        .filter(|m| m["name"] == "llm.usage.tokens")
        .collect();
    assert_eq!(tokens.len(), transports.len(), "one counter per app run");
    for t in &tokens {
        assert_eq!(t["sum"]["dataPoints"][0]["asInt"], "453", "150+151+152");
    }
    let latency: Vec<_> = metrics
        .iter()
        .filter(|m| m["name"] == "llm.request.duration")
        .collect();
    assert_eq!(latency.len(), transports.len());
    for l in &latency {
        assert_eq!(l["histogram"]["dataPoints"][0]["count"], "3");
    }

    let logs = log_records(written);
    assert_eq!(logs.len(), 2 * transports.len(), "2 log records per run");
    let warning = logs
        .iter()
        .find(|l| l["body"]["stringValue"] == "slot queue is long")
        .expect("warning record");
    assert_eq!(warning["severityNumber"], 13, "SEVERITY_NUMBER_WARN");
}
