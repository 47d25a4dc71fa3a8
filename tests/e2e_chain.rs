//! The deployment users run: an agent llamacol on the node forwarding OTLP to a gateway
//! llamacol, both real binaries with the shipped configs. Every span sent to the agent
//! arrives exactly once at the gateway's file exporter.

mod common;

use common::{lines, log_records, spans, Collector};
use llamacol_api::otlp::collector::trace::v1::trace_service_client::TraceServiceClient;
use llamacol_pipeline::testing::{sample_logs, sample_traces};
use prost::Message;

#[test]
fn agent_forwards_to_gateway_with_exact_counts() {
    let mut gateway = Collector::launch(
        &[
            "configs/gateway.yaml",
            "tests/testdata/e2e/gateway-to-file.yaml",
        ],
        &[],
    );
    let mut agent = Collector::launch(
        &["configs/agent.yaml"],
        &[(
            "LLAMACOL_GATEWAY_ENDPOINT",
            format!("127.0.0.1:{}", gateway.grpc),
        )],
    );

    let client = reqwest::blocking::Client::new();
    let mut sent_spans = 0;
    for i in 0..40 {
        let body = sample_traces(1 + i % 3, 25).encode_to_vec();
        sent_spans += (1 + i % 3) * 25;
        let status = client
            .post(format!("http://127.0.0.1:{}/v1/traces", agent.http))
            .header("content-type", "application/x-protobuf")
            .body(body)
            .send()
            .expect("post")
            .status();
        assert_eq!(status, 200);
    }
    let logs = client
        .post(format!("http://127.0.0.1:{}/v1/logs", agent.http))
        .header("content-type", "application/x-protobuf")
        .body(sample_logs(9).encode_to_vec())
        .send()
        .expect("post")
        .status();
    assert_eq!(logs, 200);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let mut grpc = TraceServiceClient::connect(format!("http://127.0.0.1:{}", agent.grpc))
            .await
            .expect("connect");
        for _ in 0..10 {
            grpc.export(sample_traces(2, 10))
                .await
                .expect("grpc export");
        }
    });
    sent_spans += 10 * 20;

    // The agent flushes its batch processor and drains its exporter queue into the
    // gateway before exiting; then the gateway flushes into its file.
    let (status, _) = agent.terminate();
    assert!(status.success(), "agent: {}", agent.stderr());
    let (status, _) = gateway.terminate();
    assert!(status.success(), "gateway: {}", gateway.stderr());

    let written = lines(&gateway.file);
    assert_eq!(
        spans(&written).len(),
        sent_spans,
        "every span exactly once\nagent: {}\ngateway: {}",
        agent.stderr(),
        gateway.stderr()
    );
    assert_eq!(log_records(&written).len(), 9);
    // The agent's batch processor merged requests: far fewer lines than requests, and each
    // resource appears once per line.
    assert!(written.len() < 20, "{} lines", written.len());
    for line in &written {
        let resources: Vec<&serde_json::Value> = line["resourceSpans"]
            .as_array()
            .map(|a| a.iter().map(|r| &r["resource"]).collect())
            .unwrap_or_default();
        let mut unique = resources.clone();
        unique.dedup();
        unique.sort_by_key(|r| r.to_string());
        unique.dedup();
        assert_eq!(
            unique.len(),
            resources.len(),
            "no duplicated resource blocks"
        );
    }
}
