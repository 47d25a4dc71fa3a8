//! The `graphistry` exporter end to end, offline: the OpenTelemetry Python SDK sends LLM
//! request traces (tests/python/jaeger_trace.py) to the real binary, which writes each
//! window's graph as Arrow files; pyarrow reads them back (tests/python/
//! graphistry_offline.py): a node per span sent, an edge per parent -> child pair, the
//! documented columns. (Uploads are tested against a fake Graphistry server in
//! `exporters/src/graphistry/tests.rs`: Graphistry's cloud is not reachable here.)

mod common;

use std::collections::BTreeSet;

use common::{python_json, Collector};
use serde_json::Value;

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

#[test]
#[ignore = "needs peers-python (OpenTelemetry SDK, pyarrow): run scripts/test"]
fn the_sdks_spans_become_arrow_nodes_and_parent_child_edges_that_pyarrow_reads() {
    let dir = tempfile::tempdir().expect("tmp");
    let graphs = dir.path().join("graphs");
    let config = dir.path().join("graphistry.yaml");
    std::fs::write(
        &config,
        format!(
            "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: ${{env:LLAMACOL_OTLP_GRPC_ENDPOINT}}\nexporters:\n  graphistry:\n    offline_dir: {}\n    window: 1s\nservice:\n  telemetry:\n    admin:\n      endpoint: ${{env:LLAMACOL_ADMIN_ENDPOINT}}\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [graphistry]\n",
            graphs.display()
        ),
    )
    .expect("write config");
    let mut collector = Collector::launch(&[&config.to_string_lossy()], &[]);
    let endpoint = format!("127.0.0.1:{}", collector.grpc);
    let sent: Vec<Value> = (0..3)
        .map(|i| {
            python_json(&[
                "tests/python/jaeger_trace.py",
                &endpoint,
                &format!("svc-{i}"),
            ])
        })
        .collect();
    let (status, _) = collector.terminate();
    assert!(status.success(), "{}", collector.stderr());

    let read = python_json(&[
        "tests/python/graphistry_offline.py",
        &graphs.to_string_lossy(),
    ]);
    assert!(read["windows"].as_u64().expect("windows") >= 1, "{read}");
    // Every span sent is one node: root, child and the warm-up span of each trace.
    let expected_nodes: BTreeSet<String> = sent
        .iter()
        .flat_map(|s| [text(&s["root"]), text(&s["child"]), text(&s["other_span"])])
        .collect();
    let nodes: Vec<String> = read["span_ids"]
        .as_array()
        .expect("ids")
        .iter()
        .map(text)
        .collect();
    assert_eq!(nodes.len(), 9, "{read}");
    assert_eq!(
        nodes.iter().cloned().collect::<BTreeSet<_>>(),
        expected_nodes
    );
    // Every parent -> child pair is one edge.
    let expected_pairs: BTreeSet<(String, String)> = sent
        .iter()
        .map(|s| (text(&s["root"]), text(&s["child"])))
        .collect();
    let pairs: BTreeSet<(String, String)> = read["pairs"]
        .as_array()
        .expect("pairs")
        .iter()
        .map(|p| (text(&p[0]), text(&p[1])))
        .collect();
    assert_eq!(pairs, expected_pairs);
    assert_eq!(read["pairs"].as_array().map(Vec::len), Some(3));
    // The failed model call is ERROR, the others UNSET.
    for s in &sent {
        assert_eq!(read["statuses"][text(&s["child"])], "ERROR");
        assert_eq!(read["statuses"][text(&s["root"])], "UNSET");
    }
    assert_eq!(
        read["node_columns"],
        serde_json::json!([
            "node_type",
            "span_id",
            "trace_id",
            "name",
            "service_name",
            "duration_ms",
            "status",
            "model",
            "input_tokens",
            "output_tokens",
            "start_time"
        ])
    );
    assert_eq!(
        read["edge_columns"],
        serde_json::json!([
            "source",
            "destination",
            "trace_id",
            "edge_type",
            "call_count"
        ])
    );
    assert_eq!(read["start_time_type"], "timestamp[ns, tz=UTC]");
    let now_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("now")
        .as_nanos() as i64;
    for start in read["start_times"].as_array().expect("start times") {
        let start = start.as_i64().expect("a span start");
        assert!(
            (now_ns - 600_000_000_000..=now_ns).contains(&start),
            "{start} is the span's start"
        );
    }
    assert_eq!(
        read["bindings"]["node_encodings"]["bindings"]["node"],
        "span_id"
    );
    assert_eq!(
        read["bindings"]["edge_encodings"]["bindings"]["edge_title"],
        "trace_id"
    );
}

/// The password and the personal key secret appear nowhere a user or a log collector
/// can read: not in `validate`'s errors, not in the logs of failed logins, not on the
/// admin server's pages.
#[test]
fn graphistry_secrets_stay_out_of_validate_output_logs_and_admin_pages() {
    const SECRET: &str = "hunter2-do-not-print";
    let dir = tempfile::tempdir().expect("tmp");
    let unreachable = llamacol_pipeline::testing::free_port();
    let config = dir.path().join("graphistry.yaml");
    let write = |extra: &str| {
        std::fs::write(
            &config,
            format!(
                "receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: ${{env:LLAMACOL_OTLP_HTTP_ENDPOINT}}\nexporters:\n  graphistry:\n    server: 127.0.0.1:{unreachable}\n    protocol: http\n    username: alice\n    password: {SECRET}\n    max_spans: 1\n{extra}service:\n  telemetry:\n    admin:\n      endpoint: ${{env:LLAMACOL_ADMIN_ENDPOINT}}\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [graphistry]\n"
            ),
        )
        .expect("write config");
    };
    write("    windw: 1m\n");
    let (_, shown) = common::validate(&config, &[]);
    assert!(shown.contains("did you mean `window`"), "{shown}");
    assert!(!shown.contains(SECRET), "{shown}");

    write("");
    let mut collector = Collector::launch(&[&config.to_string_lossy()], &[]);
    let trace = llamacol_pipeline::testing::sample_traces(1, 1);
    let response = reqwest::blocking::Client::new()
        .post(format!("http://127.0.0.1:{}/v1/traces", collector.http))
        .header("content-type", "application/x-protobuf")
        .body(prost::Message::encode_to_vec(&trace))
        .send()
        .expect("post");
    assert!(response.status().is_success(), "{}", response.status());
    std::thread::sleep(std::time::Duration::from_secs(2));
    for page in ["/debug/pipelines", "/metrics"] {
        let (_, body) = common::http_get(collector.admin, page);
        assert!(!body.contains(SECRET), "{page}: {body}");
    }
    let (status, _) = collector.terminate();
    assert!(status.success());
    let logs = collector.stderr();
    assert!(
        logs.contains("trace graph"),
        "the failed upload is logged: {logs}"
    );
    assert!(!logs.contains(SECRET), "{logs}");
}
