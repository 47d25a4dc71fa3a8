//! The `zipkin` receiver in a running service: real client bodies (testdata/), every
//! format by path and content type, and its answers.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use llamacol_api::Signal;
use llamacol_pipeline::runtime::Service;
use llamacol_pipeline::testing::{free_port, Sink};

const WAIT: Duration = Duration::from_secs(5);
const V2_PROTO: &[u8] =
    include_bytes!("../../../testdata/tracing-clients/otel-python-1.21.0-zipkin-v2.pb");
const V1_THRIFT: &[u8] =
    include_bytes!("../../../testdata/tracing-clients/py_zipkin-1.0.0-zipkin-v1.thrift");
const V2_JSON: &[u8] = include_bytes!("../../../testdata/zipkin/zipkin_v2_single.json");
const V1_JSON: &[u8] = include_bytes!("../../../testdata/zipkin/zipkin_v1_single_batch.json");

async fn start(name: &str, extra: &str) -> (Service, u16, Arc<Sink>) {
    let port = free_port();
    let yaml = format!(
        r#"
receivers:
  zipkin: {{endpoint: "127.0.0.1:{port}"{extra}}}
exporters:
  sink: {{name: {name}}}
service:
  telemetry: {{admin: {{endpoint: "127.0.0.1:0"}}, shutdown_timeout: 200ms}}
  pipelines:
    traces: {{receivers: [zipkin], exporters: [sink]}}
"#
    );
    let service = crate::test_service::run(super::factory(), yaml).await;
    (service, port, Sink::named(name))
}

async fn post(port: u16, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> (u16, String) {
    let mut request = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}{path}"))
        .body(body);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = request.send().await.expect("request");
    (
        response.status().as_u16(),
        response.text().await.unwrap_or_default(),
    )
}

#[tokio::test]
async fn every_format_by_path_and_content_type() {
    let (service, port, sink) = start("zipkin-formats", "").await;
    let proto = [("content-type", "application/x-protobuf")];
    let thrift = [("content-type", "application/x-thrift")];
    let json = [("content-type", "application/json")];
    assert_eq!(
        post(port, "/api/v2/spans", &proto, V2_PROTO.to_vec())
            .await
            .0,
        202
    );
    assert!(
        sink.wait_for(Signal::Traces, 5, WAIT).await,
        "the SDK's protobuf body: 5 spans"
    );
    assert_eq!(
        post(port, "/api/v1/spans", &thrift, V1_THRIFT.to_vec())
            .await
            .0,
        202
    );
    assert!(
        sink.wait_for(Signal::Traces, 8, WAIT).await,
        "py_zipkin's v1 Thrift: 3 spans"
    );
    // Any path that is not v1 is v2; gzip is read.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(V2_JSON).expect("gzip");
    let gzipped = gz.finish().expect("gzip");
    let (status, _) = post(port, "/", &[json[0], ("content-encoding", "gzip")], gzipped).await;
    assert_eq!(status, 202);
    assert!(sink.wait_for(Signal::Traces, 9, WAIT).await);
    assert_eq!(
        post(port, "/api/v1/spans", &json, V1_JSON.to_vec()).await.0,
        202
    );
    let before = sink.items(Signal::Traces);
    assert!(sink.wait_for(Signal::Traces, before.max(10), WAIT).await);
    service.shutdown().await;
}

#[tokio::test]
async fn a_body_that_cannot_be_read_gets_400_with_the_reason() {
    let (service, port, sink) = start("zipkin-bad", ", parse_string_tags: true").await;
    let (status, body) = post(
        port,
        "/api/v2/spans",
        &[("content-type", "application/json")],
        b"[{\"id\": \"\"}]".to_vec(),
    )
    .await;
    assert_eq!(
        (status, body.as_str()),
        (400, "zipkin v2 JSON: span 0: valid span id required")
    );
    let (status, body) = post(
        port,
        "/api/v2/spans",
        &[("content-type", "application/x-protobuf")],
        b"\x0a\x02\x0a\x01".to_vec(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.starts_with("zipkin v2 protobuf:"), "{body}");
    let (status, body) = post(
        port,
        "/api/v1/spans",
        &[("content-type", "application/x-thrift")],
        b"\x0c\x7f".to_vec(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.starts_with("zipkin v1 thrift:"), "{body}");
    assert_eq!(sink.items(Signal::Traces), 0);
    service.shutdown().await;
}

#[test]
fn config_has_the_collectors_keys() {
    use llamacol_api::config::{parse, ComponentConfig};
    let config = |yaml: &str| {
        parse::<super::ZipkinConfig>(&llamacol_api::serde_yaml::from_str(yaml).expect("yaml"))
    };
    let default = config("{}").expect("valid");
    assert_eq!(
        (default.server.endpoint.as_str(), default.parse_string_tags),
        ("localhost:9411", false)
    );
    let set = config("{endpoint: 0.0.0.0:9412, parse_string_tags: true, include_metadata: true}")
        .expect("valid");
    assert_eq!(
        (
            set.server.endpoint.as_str(),
            set.parse_string_tags,
            set.server.include_metadata
        ),
        ("0.0.0.0:9412", true, true)
    );
    let typo = config("{parse_string_tag: true}").expect_err("typo");
    assert_eq!(
        typo[0].message,
        "unknown key `parse_string_tag` (did you mean `parse_string_tags`?); valid keys: endpoint, max_request_body_size, tls, auth, cors, transport, include_metadata, parse_string_tags"
    );
    let bad = config("{endpoint: nowhere}").expect("parses");
    assert_eq!(bad.validate()[0].path, "endpoint");
}
