//! The real binary, fed by the OpenTelemetry Python SDK (from PyPI) doing what LLM apps
//! do, over gRPC and over HTTP/protobuf. Needs the SDK's virtualenv (`peers-python`),
//! which `scripts/test` builds.

mod common;

use common::{lines, llm_app, Collector};

#[test]
#[ignore = "needs the OpenTelemetry Python SDK (peers-python): run scripts/test"]
fn python_sdk_over_grpc_and_http_reaches_the_file_exporter() {
    let mut collector = Collector::start("configs/otlp-to-file.yaml");
    llm_app::run(
        "grpc",
        &format!("http://127.0.0.1:{}", collector.grpc),
        false,
    );
    llm_app::run(
        "http",
        &format!("http://127.0.0.1:{}", collector.http),
        false,
    );
    let (status, _) = collector.terminate();
    assert!(status.success(), "exit {status}: {}", collector.stderr());
    llm_app::assert_arrived(&lines(&collector.file), &["grpc", "http"]);
}
