//! Files written for every signal and read back with the parquet crate's Arrow reader:
//! hive layout, no `.tmp` left, row counts and values as sent.

use std::fs::File;

use arrow::array::{Array, AsArray, MapArray, RecordBatch};
use arrow::datatypes::TimestampNanosecondType;
use llamacol_api::attributes::{int, string};
use llamacol_api::otlp::collector::trace::v1::ExportTraceServiceRequest;
use llamacol_api::otlp::trace::v1::{span::Event, Span};
use llamacol_api::{BuildContext, ComponentId, Payload};
use llamacol_pipeline::testing::{sample_logs, sample_metrics, traces_of};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::*;

fn exporter(dir: &std::path::Path) -> Arc<dyn Exporter> {
    let yaml = format!("{{path: \"{}\", max_file_age: 1h}}", dir.display());
    let block: Value = llamacol_api::serde_yaml::from_str(&yaml).expect("yaml");
    let ctx = BuildContext::new(
        ComponentId::parse("parquet").expect("id"),
        Signal::ALL.to_vec(),
    );
    (factory().build)(&ctx, &block).expect("builds")
}

fn files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).expect("dir").flatten() {
            if e.path().is_dir() {
                dirs.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

fn read(path: &std::path::Path) -> Vec<RecordBatch> {
    ParquetRecordBatchReaderBuilder::try_new(File::open(path).expect("open"))
        .expect("a parquet file")
        .build()
        .expect("reader")
        .map(|b| b.expect("batch"))
        .collect()
}

/// A directory holding what the exporter wrote for one traces request, after shutdown.
async fn traces_written(request: ExportTraceServiceRequest) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tmp");
    let e = exporter(dir.path());
    e.start().await.expect("starts");
    let mut batch = Batch::Traces(Payload::from_message(request));
    e.export(&mut batch).await.expect("written");
    e.shutdown().await.expect("closes");
    dir
}

#[tokio::test(flavor = "multi_thread")]
async fn every_signal_is_written_in_hive_partitions_and_reads_back() {
    let dir = tempfile::tempdir().expect("tmp");
    let e = exporter(dir.path());
    e.start().await.expect("starts");
    let span = Span {
        trace_id: vec![0xab; 16],
        span_id: vec![0xcd; 8],
        name: "chat qwen".into(),
        // 2026-11-26T03:40:00Z plus 5 ns.
        start_time_unix_nano: 1_795_664_400_000_000_005,
        end_time_unix_nano: 1_795_664_401_000_000_005,
        attributes: vec![
            string("gen_ai.operation.name", "chat"),
            int("gen_ai.usage.output_tokens", 42),
            int("retries", 3),
        ],
        events: vec![Event {
            name: "gen_ai.choice".into(),
            time_unix_nano: 1_795_664_400_500_000_000,
            ..Default::default()
        }],
        ..Default::default()
    };
    let mut traces = Batch::Traces(Payload::from_message(traces_of(vec![span])));
    e.export(&mut traces).await.expect("traces");
    let mut metrics = Batch::Metrics(Payload::from_message(sample_metrics(3)));
    e.export(&mut metrics).await.expect("metrics");
    let mut logs = Batch::Logs(Payload::from_message(sample_logs(4)));
    e.export(&mut logs).await.expect("logs");
    assert!(
        files(dir.path())
            .iter()
            .all(|f| f.to_string_lossy().ends_with(".parquet.tmp")),
        "nothing final before close"
    );
    e.shutdown().await.expect("closes");

    let all = files(dir.path());
    assert!(
        all.iter()
            .all(|f| f.extension().is_some_and(|x| x == "parquet")),
        "{all:?}"
    );
    let trace_file = all
        .iter()
        .find(|f| {
            f.to_string_lossy()
                .contains("/traces/date=2026-11-26/hour=03/part-")
        })
        .expect("a traces file in its partition");
    let batches = read(trace_file);
    let b = &batches[0];
    assert_eq!(b.num_rows(), 1);
    let col = |name: &str| {
        b.column_by_name(name)
            .unwrap_or_else(|| panic!("column {name}"))
    };
    assert_eq!(
        col("trace_id").as_string::<i32>().value(0),
        "abababababababababababababababab"
    );
    assert_eq!(
        col("start_time")
            .as_primitive::<TimestampNanosecondType>()
            .value(0),
        1_795_664_400_000_000_005
    );
    assert_eq!(
        col("duration_ns")
            .as_primitive::<arrow::datatypes::Int64Type>()
            .value(0),
        1_000_000_000
    );
    assert_eq!(
        col("gen_ai_usage_output_tokens")
            .as_primitive::<arrow::datatypes::Int64Type>()
            .value(0),
        42
    );
    assert!(col("parent_span_id").is_null(0), "an empty parent is null");
    let attrs = col("attributes")
        .as_any()
        .downcast_ref::<MapArray>()
        .expect("a map");
    let keys = attrs.keys().as_string::<i32>();
    let values = attrs.values().as_string::<i32>();
    let pairs: Vec<(String, String)> = (0..keys.len())
        .map(|i| (keys.value(i).into(), values.value(i).into()))
        .collect();
    assert!(pairs.contains(&("retries".into(), "3".into())), "{pairs:?}");
    let events = col("events").as_list::<i32>();
    assert_eq!(events.value(0).len(), 1);

    let rows = |signal: &str| -> usize {
        all.iter()
            .filter(|f| f.to_string_lossy().contains(&format!("/{signal}/date=")))
            .flat_map(|f| read(f))
            .map(|b| b.num_rows())
            .sum()
    };
    assert_eq!(rows("logs"), 4);
    let points: usize = sample_metrics(3)
        .resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .map(llamacol_api::batch::data_points)
        .sum();
    assert_eq!(rows("metrics"), points);
}

#[tokio::test(flavor = "multi_thread")]
async fn leftover_tmp_files_are_removed_at_start() {
    let dir = tempfile::tempdir().expect("tmp");
    let part = dir.path().join("traces/date=2026-01-01/hour=00");
    std::fs::create_dir_all(&part).expect("dirs");
    std::fs::write(part.join("part-1-x.parquet.tmp"), b"cut short").expect("write");
    std::fs::write(part.join("part-1-y.parquet"), b"kept").expect("write");
    let e = exporter(dir.path());
    e.start().await.expect("starts");
    e.shutdown().await.expect("stops");
    let left: Vec<String> = files(dir.path())
        .iter()
        .map(|f| {
            f.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(left, vec!["part-1-y.parquet"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn one_batch_across_an_hour_fills_two_partitions() {
    let span = |name: &str, start: u64| Span {
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        name: name.into(),
        start_time_unix_nano: start,
        end_time_unix_nano: start + 1,
        attributes: vec![string("gen_ai.request.model", "tiny")],
        ..Default::default()
    };
    // 2026-11-26T03:59:59.999999999Z and 04:00:00Z, then 03:00:00Z again.
    let request = traces_of(vec![
        span("first", 1_795_665_599_999_999_999),
        span("second", 1_795_665_600_000_000_000),
        span("third", 1_795_662_000_000_000_000),
    ]);
    let dir = traces_written(request).await;

    let in_hour = |hour: &str| -> RecordBatch {
        let file = files(dir.path())
            .into_iter()
            .find(|f| {
                f.to_string_lossy()
                    .contains(&format!("/traces/date=2026-11-26/hour={hour}/part-"))
            })
            .unwrap_or_else(|| panic!("a file for hour {hour}"));
        read(&file).remove(0)
    };
    let names = |b: &RecordBatch| -> Vec<String> {
        let column = b.column_by_name("name").expect("name").as_string::<i32>();
        column.iter().flatten().map(String::from).collect()
    };
    let (three, four) = (in_hour("03"), in_hour("04"));
    assert_eq!(names(&three), ["first", "third"]);
    assert_eq!(names(&four), ["second"]);
    assert_eq!(
        four.column_by_name("gen_ai_request_model")
            .expect("model")
            .as_string::<i32>()
            .value(0),
        "tiny"
    );
}

/// Each row carries its own resource's attributes and service name, with resources of
/// different sizes (none, one, three) in one batch.
#[tokio::test(flavor = "multi_thread")]
async fn each_row_has_its_own_resource_attributes() {
    use llamacol_api::otlp::resource::v1::Resource;
    use llamacol_api::otlp::trace::v1::{ResourceSpans, ScopeSpans};
    let resources = [
        vec![],
        vec![string("service.name", "svc-a")],
        vec![
            string("host.name", "gpu-1"),
            string("service.name", "svc-b"),
            int("process.pid", 42),
        ],
    ];
    let request = ExportTraceServiceRequest {
        resource_spans: resources
            .iter()
            .map(|attributes| ResourceSpans {
                resource: Some(Resource {
                    attributes: attributes.clone(),
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans: (0..2)
                        .map(|_| Span {
                            trace_id: vec![1; 16],
                            span_id: vec![2; 8],
                            start_time_unix_nano: 1_795_662_000_000_000_000,
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect(),
    };
    let dir = traces_written(request).await;
    let b = read(&files(dir.path())[0]).remove(0);
    let map = b
        .column_by_name("resource_attributes")
        .expect("column")
        .as_map();
    let entries = |row: usize| -> Vec<(String, String)> {
        let entry = map.value(row);
        let (k, v) = (
            entry.column(0).as_string::<i32>(),
            entry.column(1).as_string::<i32>(),
        );
        (0..entry.len())
            .map(|i| (k.value(i).to_string(), v.value(i).to_string()))
            .collect()
    };
    let service = b
        .column_by_name("service_name")
        .expect("column")
        .as_string::<i32>();
    let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
    for row in 0..2 {
        assert_eq!(entries(row), []);
        assert!(service.is_null(row));
    }
    for row in 2..4 {
        assert_eq!(entries(row), [pair("service.name", "svc-a")]);
        assert_eq!(service.value(row), "svc-a");
    }
    for row in 4..6 {
        assert_eq!(
            entries(row),
            [
                pair("host.name", "gpu-1"),
                pair("service.name", "svc-b"),
                pair("process.pid", "42")
            ]
        );
        assert_eq!(service.value(row), "svc-b");
    }
}

/// Min/max statistics where queries filter (times, names), none on `trace_id` (random ids:
/// nothing to prune) or on map entries.
#[tokio::test(flavor = "multi_thread")]
async fn statistics_only_where_they_can_prune() {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let span = Span {
        trace_id: vec![7; 16],
        span_id: vec![8; 8],
        name: "chat".into(),
        start_time_unix_nano: 1_795_662_000_000_000_000,
        attributes: vec![string("gen_ai.request.model", "tiny")],
        ..Default::default()
    };
    let dir = traces_written(traces_of(vec![span])).await;
    let reader = SerializedFileReader::new(File::open(&files(dir.path())[0]).expect("open"))
        .expect("a parquet file");
    let group = reader.metadata().row_group(0);
    let stats = |path: &str| {
        group
            .columns()
            .iter()
            .find(|c| c.column_path().string() == path)
            .unwrap_or_else(|| panic!("column {path}"))
            .statistics()
            .is_some_and(|s| s.min_bytes_opt().is_some())
    };
    for path in ["start_time", "name", "gen_ai_request_model"] {
        assert!(stats(path), "{path} has min/max");
    }
    for path in [
        "trace_id",
        "attributes.entries.key",
        "attributes.entries.value",
    ] {
        assert!(!stats(path), "{path} has no min/max");
    }
}

/// Logs rows repeat their resource as spans do: a 1 MiB resource on 1,100 log records
/// (1.1 GiB of repeated text from a request of about 1 MiB) is refused as a permanent
/// error naming the cause, before any table is built, and nothing is written.
#[tokio::test(flavor = "multi_thread")]
async fn logs_repeating_a_large_resource_past_the_bound_are_refused() {
    let mut request = sample_logs(1);
    let rl = &mut request.resource_logs[0];
    let record = rl.scope_logs[0].log_records[0].clone();
    rl.scope_logs[0].log_records = vec![record; 1_100];
    rl.resource
        .get_or_insert_with(Default::default)
        .attributes
        .push(string("big", &"x".repeat(1 << 20)));
    let dir = tempfile::tempdir().expect("tmp");
    let e = exporter(dir.path());
    e.start().await.expect("starts");
    let mut batch = Batch::Logs(Payload::from_message(request));
    let error = e.export(&mut batch).await.expect_err("refused");
    assert_eq!(error.kind(), llamacol_api::ErrorKind::Permanent);
    assert!(
        error
            .to_string()
            .contains("resource and scope text repeated on every log record"),
        "{error}"
    );
    e.shutdown().await.expect("closes");
    assert!(files(dir.path()).is_empty(), "{:?}", files(dir.path()));
}
