use llamacol_api::config::parse;
use llamacol_api::otlp::collector::trace::v1::ExportTraceServiceRequest;
use llamacol_api::{Batch, ComponentId};
use llamacol_pipeline::testing::{fixtures_dir, sample_logs, sample_traces};

use super::*;

fn exporter(yaml: &str) -> Arc<dyn Exporter> {
    let block: Value = llamacol_api::serde_yaml::from_str(yaml).expect("yaml");
    let ctx = BuildContext::new(
        ComponentId::parse("file").expect("id"),
        vec![Signal::Traces],
    );
    build(&ctx, &block).expect("build")
}

#[tokio::test]
async fn writes_one_otlp_json_line_per_batch() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("sub/out.json");
    let e = exporter(&format!("path: {}", path.display()));
    e.start().await.expect("start");
    let bytes = prost::Message::encode_to_vec(&sample_traces(1, 2));
    e.export(&mut Batch::from_bytes(Signal::Traces, bytes.into()).expect("valid"))
        .await
        .expect("export");
    e.export(&mut Batch::from(sample_logs(3)))
        .await
        .expect("export");
    e.shutdown().await.expect("shutdown");
    let text = std::fs::read_to_string(&path).expect("read");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines.len(), 2);
    let span = &lines[0]["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
    assert_eq!(span["traceId"], "00000000000000000000000000000001");
    assert_eq!(span["spanId"], "0000000000000001");
    assert_eq!(
        span["startTimeUnixNano"], "1700000000000000000",
        "64-bit integers as strings"
    );
    assert_eq!(
        lines[1]["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );
}

/// What we write must read back as the same data: the spec's examples survive a round trip.
#[tokio::test]
async fn spec_examples_round_trip() {
    let fixture =
        std::fs::read_to_string(fixtures_dir().join("otlp-json/trace.json")).expect("fixture");
    let request: ExportTraceServiceRequest =
        serde_json::from_str(&fixture).expect("spec JSON parses");
    let written = llamacol_api::json::to_json(&mut Batch::from(request.clone())).expect("json");
    let back: ExportTraceServiceRequest = serde_json::from_str(&written).expect("our JSON parses");
    assert_eq!(back, request);
    let ours: serde_json::Value = serde_json::from_str(&written).expect("json");
    let span = &ours["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
    assert_eq!(
        span["traceId"]
            .as_str()
            .map(str::to_ascii_uppercase)
            .as_deref(),
        Some("5B8EFFF798038103D269B633813FC60C")
    );
    assert_eq!(span["kind"], 2, "enums as integers");
}

#[tokio::test]
async fn rotates_by_size_and_keeps_max_backups() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("spans.json");
    let e = exporter(&format!(
        "path: {}\nrotation: {{max_megabytes: 1, max_backups: 2}}",
        path.display()
    ));
    e.start().await.expect("start");
    // ~60 KB per line: 1 MiB holds 17 lines; 80 lines make 4 rotations.
    for _ in 0..80 {
        e.export(&mut Batch::from(sample_traces(1, 300)))
            .await
            .expect("export");
    }
    e.shutdown().await.expect("shutdown");
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 3, "current file plus 2 backups: {names:?}");
    assert!(
        names
            .iter()
            .all(|n| n.starts_with("spans") && n.ends_with(".json")),
        "{names:?}"
    );
    for name in names {
        let size = std::fs::metadata(dir.path().join(&name))
            .expect("meta")
            .len();
        assert!(size <= 1024 * 1024, "{name} is {size} bytes");
    }
}

#[test]
fn path_is_required() {
    let issues = <FileConfig as llamacol_api::config::ComponentConfig>::validate(
        &parse::<FileConfig>(&Value::Null).expect("parse"),
    );
    assert_eq!(issues[0].path, "path");
}
