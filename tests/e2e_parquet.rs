//! The `parquet` exporter end to end: the OpenTelemetry Python SDK sends spans (every
//! attribute value type, events, links), metrics (sum, up-down sum, histogram, gauge,
//! exponential histogram) and logs over OTLP/HTTP; the files are read back with DuckDB
//! (`read_parquet(..., hive_partitioning = true)`) and pyarrow (both from PyPI, in the
//! peers' virtualenv), and every column checked against what was sent (ids, times to the
//! nanosecond, attribute maps, bucket counts). And `kill -9` mid-stream: every visible
//! `.parquet` file opens and is complete; after a restart no `.tmp` is left.

mod common;

use std::process::Command;

use common::Collector;
use llamacol_pipeline::testing::external_program;

/// A config writing every signal to `parquet` at `target` (a directory or an s3 URL),
/// with `extra` lines of the exporter's block.
fn config(dir: &std::path::Path, target: &str, max_age: &str, extra: &str) -> String {
    let path = dir.join("parquet.yaml");
    std::fs::write(
        &path,
        format!(
            "receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: ${{env:LLAMACOL_OTLP_HTTP_ENDPOINT}}\nexporters:\n  parquet:\n    path: {target}\n    max_file_age: {max_age}\n{extra}service:\n  telemetry:\n    admin:\n      endpoint: ${{env:LLAMACOL_ADMIN_ENDPOINT}}\n  pipelines:\n    traces: {{receivers: [otlp], exporters: [parquet]}}\n    metrics: {{receivers: [otlp], exporters: [parquet]}}\n    logs: {{receivers: [otlp], exporters: [parquet]}}\n"
        ),
    )
    .expect("write config");
    path.to_string_lossy().to_string()
}

/// Runs the SDK app against `collector`, then stops it (closing its files); returns the
/// record of what was sent.
fn send_with_the_sdk_and_stop(
    collector: &mut Collector,
    dir: &std::path::Path,
) -> std::path::PathBuf {
    let sent = dir.join("sent.json");
    python(&[
        "send",
        &format!("http://127.0.0.1:{}", collector.http),
        &sent.to_string_lossy(),
    ]);
    let (status, _) = collector.terminate();
    assert!(status.success(), "{}", collector.stderr());
    sent
}

fn python(args: &[&str]) -> String {
    let out = Command::new(external_program("peers-python"))
        .arg("tests/python/parquet_roundtrip.py")
        .args(args)
        .output()
        .expect("python");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?}: {stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
#[ignore = "needs the Python SDK, duckdb and pyarrow (peers-python): run scripts/test"]
fn sdk_data_reads_back_the_same_in_duckdb_and_pyarrow() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("parquet");
    let mut collector = Collector::launch(
        &[&config(dir.path(), &out.to_string_lossy(), "1h", "")],
        &[],
    );
    let sent = send_with_the_sdk_and_stop(&mut collector, dir.path());
    let report = python(&["check", &out.to_string_lossy(), &sent.to_string_lossy()]);
    eprintln!("{report}");
    assert!(report.starts_with("ok"), "{report}");
}

/// `files N rows N tmp N` from the verify mode.
fn verify(dir: &std::path::Path) -> (u64, u64, u64) {
    let report = python(&["verify", &dir.to_string_lossy()]);
    let n: Vec<u64> = report
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    (n[0], n[1], n[2])
}

#[test]
#[ignore = "needs pyarrow (peers-python): run scripts/test"]
fn kill_9_mid_stream_leaves_only_complete_files() {
    use llamacol_api::otlp::trace::v1::Span;
    use prost::Message;

    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("parquet");
    let config = config(dir.path(), &out.to_string_lossy(), "1s", "");
    let mut collector = Collector::launch(&[&config], &[]);
    let client = reqwest::blocking::Client::new();
    let started = std::time::Instant::now();
    let mut sent = 0u64;
    while started.elapsed() < std::time::Duration::from_millis(3500) {
        let spans: Vec<Span> = (0..200u64)
            .map(|i| Span {
                trace_id: [(sent + i).to_be_bytes(), 1u64.to_be_bytes()].concat(),
                span_id: (sent + i + 1).to_be_bytes().to_vec(),
                name: "chat".into(),
                start_time_unix_nano: 1_795_664_400_000_000_000 + sent + i,
                end_time_unix_nano: 1_795_664_401_000_000_000,
                ..Default::default()
            })
            .collect();
        let body = llamacol_pipeline::testing::traces_of(spans).encode_to_vec();
        let status = client
            .post(format!("http://127.0.0.1:{}/v1/traces", collector.http))
            .header("content-type", "application/x-protobuf")
            .body(body)
            .send()
            .expect("post")
            .status();
        assert!(status.is_success());
        sent += 200;
    }
    collector.kill();
    let (files, rows, tmp) = verify(&out);
    eprintln!(
        "after kill -9: {files} complete files with {rows} of {sent} spans; {tmp} unfinished .tmp"
    );
    assert!(files >= 1, "files closed by max_file_age before the kill");
    assert!(rows <= sent);
    // Restart: the unfinished files are removed; the complete ones stay as they were.
    let mut again = Collector::launch(&[&config], &[]);
    let (files_after, rows_after, tmp_after) = verify(&out);
    assert_eq!(tmp_after, 0, "no .tmp after a restart");
    assert_eq!((files_after, rows_after), (files, rows));
    let (status, _) = again.terminate();
    assert!(status.success());
}

/// A local object storage server started from the peers.
struct StoreServer {
    _process: common::process::Running,
    endpoint: String,
}

/// Starts `program args` (with `{port}` replaced by a free port) and waits for its port.
fn start_store(dir: &std::path::Path, program: &str, args: &[&str]) -> StoreServer {
    let port = llamacol_pipeline::testing::free_port();
    let mut command = Command::new(external_program(program));
    command.args(args.iter().map(|a| a.replace("{port}", &port.to_string())));
    command.current_dir(dir);
    let log = dir.join(format!("{program}.log"));
    let process = common::process::Running::spawn(program, &mut command, log);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "{program} did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    StoreServer {
        _process: process,
        endpoint: format!("http://127.0.0.1:{port}"),
    }
}

/// A file bigger than one upload part (5 MiB), staged as if an earlier run had left it,
/// so that it goes up as a multipart upload at start; its bytes only need to come back.
const LARGE: &str = "multipart-check/large.parquet";

/// Sends the SDK's data to a collector whose `parquet` path is `url` (with `env` for the
/// store), checks the staging directory is empty after the stop, downloads every object
/// under `prefix` with the store's own client (`<get> ENDPOINT BUCKET PREFIX DIR`) and
/// checks the downloaded files as the local test does. With `multipart`, a 12 MiB file
/// staged before the start must also come back byte for byte.
fn roundtrip_through_store(
    dir: &std::path::Path,
    url: &str,
    env: &[(&str, String)],
    get: &str,
    endpoint: &str,
    multipart: bool,
) {
    let staging = dir.join("staging");
    let large: Vec<u8> = (0..12u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    if multipart {
        let path = staging.join(LARGE);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, &large).expect("stage");
    }
    let path = config(
        dir,
        url,
        "1h",
        &format!("    staging_directory: {}\n", staging.display()),
    );
    let mut collector = Collector::launch(&[&path], env);
    let sent = send_with_the_sdk_and_stop(&mut collector, dir);
    let staged: Vec<_> = walk(&staging);
    assert!(
        staged.is_empty(),
        "uploaded and removed from staging: {staged:?}\n{}",
        collector.stderr()
    );
    let (bucket, prefix) = url
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('/'))
        .expect("bucket/prefix");
    let downloaded = dir.join("downloaded");
    let listing = python(&[get, endpoint, bucket, prefix, &downloaded.to_string_lossy()]);
    eprintln!("{listing}");
    assert_ne!(listing.trim(), "objects 0", "nothing under {url}");
    if multipart {
        let back = std::fs::read(downloaded.join(LARGE)).expect("the large file came back");
        assert!(
            back == large,
            "the multipart upload changed the file's bytes"
        );
    }
    let report = python(&[
        "check",
        &downloaded.to_string_lossy(),
        &sent.to_string_lossy(),
    ]);
    assert!(report.starts_with("ok"), "{report}");
}

#[test]
#[ignore = "needs moto, duckdb and pyarrow (peers-python): run scripts/test"]
fn files_go_to_s3_and_read_back_the_same() {
    let dir = tempfile::tempdir().expect("tmp");
    let moto = start_store(
        dir.path(),
        "peers-python",
        &["-m", "moto.server", "-H", "127.0.0.1", "-p", "{port}"],
    );
    python(&["s3-bucket", &moto.endpoint, "telemetry"]);
    let env = [
        ("AWS_ENDPOINT", moto.endpoint.clone()),
        ("AWS_ALLOW_HTTP", "true".to_string()),
        ("AWS_ACCESS_KEY_ID", "test".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_string()),
        ("AWS_REGION", "us-east-1".to_string()),
    ];
    roundtrip_through_store(
        dir.path(),
        "s3://telemetry/llm/node-1",
        &env,
        "s3-get",
        &moto.endpoint,
        true,
    );
}

#[test]
#[ignore = "needs gcp-storage-emulator, duckdb and pyarrow (peers-python): run scripts/test"]
fn files_go_to_gcs_and_read_back_the_same() {
    let dir = tempfile::tempdir().expect("tmp");
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/gcs_emulator.py");
    let gcs = start_store(
        dir.path(),
        "peers-python",
        &[
            &script.to_string_lossy(),
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            "{port}",
            "--in-memory",
        ],
    );
    python(&["gcs-bucket", &gcs.endpoint, "telemetry"]);
    // object_store's documented way to an emulator: a service account key with the
    // server's base URL and OAuth turned off.
    let key = format!(
        r#"{{"private_key": "", "private_key_id": "", "client_email": "", "disable_oauth": true, "gcs_base_url": "{}"}}"#,
        gcs.endpoint
    );
    roundtrip_through_store(
        dir.path(),
        "gs://telemetry/llm/node-1",
        &[("GOOGLE_SERVICE_ACCOUNT_KEY", key)],
        "gcs-get",
        &gcs.endpoint,
        // The emulator has no XML multipart API (object_store's GCS multipart): files
        // here are all below one part, so they go up in one PUT.
        false,
    );
}

#[test]
#[ignore = "needs azurite (npm), azure-storage-blob, duckdb and pyarrow (peers-python): run scripts/test"]
fn files_go_to_azure_blob_and_read_back_the_same() {
    let dir = tempfile::tempdir().expect("tmp");
    let azurite = start_store(
        dir.path(),
        "azurite-blob",
        &[
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            "{port}",
            "--inMemoryPersistence",
            "--skipApiVersionCheck",
            "--silent",
        ],
    );
    python(&["az-container", &azurite.endpoint, "telemetry"]);
    let env = [
        ("AZURE_STORAGE_USE_EMULATOR", "true".to_string()),
        ("AZURITE_BLOB_STORAGE_URL", azurite.endpoint.clone()),
    ];
    roundtrip_through_store(
        dir.path(),
        "az://telemetry/llm/node-1",
        &env,
        "az-get",
        &azurite.endpoint,
        true,
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                dirs.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out
}
