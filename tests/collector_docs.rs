//! Configs from the Collector's own docs and testdata (origins in each file's header and
//! in tests/testdata/collector-docs/README.md) load as they are: the current type names
//! (`otlp_grpc`, `otlp_http`, `load_balancing`, `span_metrics`) and the previous ones
//! (`otlp`, `otlphttp`, `loadbalancing`, `spanmetrics`), the deprecated `logging` exporter
//! (as `debug`, with a warning), the debug exporter's sampling and output keys, ids with
//! `/` in the name, and `${VAR}` / `${file:...}` references. `otlphttp` sends OTLP/HTTP.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{lines, spans, validate, Collector};

const DIR: &str = "tests/testdata/collector-docs";

#[test]
fn every_collector_docs_config_validates() {
    let dir = tempfile::tempdir().expect("tmp");
    let (cert, key) = (dir.path().join("file.cert"), dir.path().join("file.key"));
    std::fs::write(&cert, "").expect("cert");
    std::fs::write(&key, "").expect("key");
    let env = [
        ("CERT_FILE", cert.to_str().unwrap_or_default()),
        ("KEY_FILE", key.to_str().unwrap_or_default()),
        ("CA_FILE", cert.to_str().unwrap_or_default()),
        ("LISTEN", "127.0.0.1:5317"),
    ];
    let mut checked = 0;
    for entry in std::fs::read_dir(DIR).expect("dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let (valid, shown) = validate(&path, &env);
        assert!(valid, "{}: {shown}", path.display());
        let deprecated = shown.contains("the `logging` exporter is deprecated");
        assert_eq!(
            deprecated,
            path.ends_with("logging.yaml"),
            "{}: {shown}",
            path.display()
        );
        checked += 1;
    }
    assert_eq!(checked, 12);
}

#[test]
fn the_debug_exporters_checks_are_the_collectors() {
    let dir = tempfile::tempdir().expect("tmp");
    let config = dir.path().join("c.yaml");
    std::fs::write(
        &config,
        "receivers: {otlp: {protocols: {grpc: }}}\n\
         exporters:\n  debug: {output_paths: [stdout]}\n  debug/2: {use_internal_logger: false, output_paths: []}\n\
         service: {pipelines: {traces: {receivers: [otlp], exporters: [debug, debug/2]}}}\n",
    )
    .expect("write");
    let (valid, shown) = validate(&config, &[]);
    assert!(!valid);
    assert!(
        shown.contains("output_paths is not supported when use_internal_logger is true"),
        "{shown}"
    );
    assert!(
        shown.contains("must not be empty when use_internal_logger is false"),
        "{shown}"
    );
}

/// `otlphttp` is the OTLP exporter over HTTP: a second llamacol with only an HTTP
/// receiver gets what the first one sends.
#[test]
fn otlphttp_sends_otlp_over_http() {
    let dir = tempfile::tempdir().expect("tmp");
    let receiver_config = dir.path().join("receiver.yaml");
    std::fs::write(
        &receiver_config,
        "receivers: {otlp: {protocols: {http: {endpoint: \"${env:LLAMACOL_OTLP_HTTP_ENDPOINT}\"}}}}\n\
         exporters: {file: {path: \"${env:LLAMACOL_FILE_PATH}\"}}\n\
         service:\n  telemetry: {admin: {endpoint: \"${env:LLAMACOL_ADMIN_ENDPOINT}\"}}\n  pipelines: {traces: {receivers: [otlp], exporters: [file]}}\n",
    )
    .expect("write");
    let mut receiving = Collector::start(&receiver_config.to_string_lossy());
    let config = dir.path().join("sender.yaml");
    std::fs::write(
        &config,
        format!(
            "receivers: {{otlp: {{protocols: {{http: {{endpoint: \"${{env:LLAMACOL_OTLP_HTTP_ENDPOINT}}\"}}}}}}}}\n\
             exporters: {{otlphttp: {{endpoint: \"http://127.0.0.1:{}\"}}}}\n\
             service:\n  telemetry: {{admin: {{endpoint: \"${{env:LLAMACOL_ADMIN_ENDPOINT}}\"}}}}\n  pipelines: {{traces: {{receivers: [otlp], exporters: [otlphttp]}}}}\n",
            receiving.http
        ),
    )
    .expect("write");
    let mut sending = Collector::start(&config.to_string_lossy());
    common::post_example_trace(sending.http);
    let deadline = Instant::now() + Duration::from_secs(20);
    while spans(&lines(Path::new(&receiving.file))).is_empty() {
        assert!(
            Instant::now() < deadline,
            "nothing arrived: {}\n{}",
            sending.stderr(),
            receiving.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    sending.terminate();
    receiving.terminate();
}

/// `--config` takes the Collector's URIs (`file:`, `env:`, `yaml:`) and `--set` sets one
/// value over them, later ones winning; a missing variable or a bad `--set` says which.
#[test]
fn config_uris_and_set_merge_in_order() {
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_llamacol"))
            .args(args)
            .envs(env.iter().copied())
            .output()
            .expect("llamacol");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let base = "receivers: {otlp: {protocols: {grpc: {endpoint: 127.0.0.1:5999}}}}\n\
                exporters: {debug: }\n\
                service: {pipelines: {traces: {receivers: [otlp], exporters: [debug]}}}\n";
    let (ok, shown) = run(
        &[
            "validate",
            "-c",
            "env:LLAMACOL_TEST_CONFIG",
            "-c",
            "yaml:exporters::debug::verbosity: detailed",
            "--set",
            "exporters::debug::sampling_initial=5",
            "--set",
            "processors.batch.timeout=2s",
        ],
        &[("LLAMACOL_TEST_CONFIG", base)],
    );
    // The batch processor is defined by --set but in no pipeline: a warning, still valid.
    assert!(ok, "{shown}");
    assert!(
        shown.contains("processor `batch` is defined but not used"),
        "{shown}"
    );
    // Later values win: verbosity set twice, the second one wrong.
    let (ok, shown) = run(
        &[
            "validate",
            "-c",
            "env:LLAMACOL_TEST_CONFIG",
            "--set",
            "exporters::debug::verbosity=loud",
        ],
        &[("LLAMACOL_TEST_CONFIG", base)],
    );
    assert!(
        !ok && shown.contains("exporters.debug.verbosity"),
        "{shown}"
    );
    let (ok, shown) = run(&["validate", "-c", "env:LLAMACOL_NOT_SET_ANYWHERE"], &[]);
    assert!(
        !ok && shown.contains("`LLAMACOL_NOT_SET_ANYWHERE` is not set"),
        "{shown}"
    );
    let (ok, shown) = run(
        &[
            "validate",
            "-c",
            "file:tests/testdata/collector-docs/otlp_http.yaml",
            "--set",
            "novalue",
        ],
        &[],
    );
    assert!(
        !ok && shown.contains("expected `key::path=value`"),
        "{shown}"
    );
}

/// The Collector's own `sending_queue` testdata (exporterhelper's `queuebatch`), with what
/// its `config_test.go` expects of each: whether batching is on, and what queue and batch
/// count.
#[test]
fn sending_queue_batch_blocks_from_the_collectors_testdata_mean_the_same() {
    use llamacol_pipeline::config::{QueueSettings, Sizer};
    let cases = [
        (
            "batch_set_empty_explicit_sizer",
            Sizer::Bytes,
            Some((Sizer::Items, 8192)),
        ),
        (
            "batch_set_empty_no_explicit_sizer",
            Sizer::Requests,
            Some((Sizer::Items, 8192)),
        ),
        (
            "batch_set_nonempty_explicit_sizer",
            Sizer::Bytes,
            Some((Sizer::Bytes, 100)),
        ),
        (
            "batch_set_nonempty_no_explicit_sizer",
            Sizer::Requests,
            Some((Sizer::Items, 100)),
        ),
        ("batch_unset", Sizer::Requests, None),
        ("batch_disabled_explicit_sizer", Sizer::Requests, None),
    ];
    for (name, queue_sizer, batch) in cases {
        let path = Path::new(DIR)
            .join("queuebatch")
            .join(format!("{name}.yaml"));
        let text = std::fs::read_to_string(&path).expect("read");
        let settings: QueueSettings = llamacol_api::serde_yaml::from_str(&text).expect(name);
        assert_eq!(settings.sizer(), queue_sizer, "{name}");
        let got = settings
            .batch
            .as_ref()
            .map(|b| (settings.batch_sizer(), b.min_size));
        assert_eq!(got, batch, "{name}");
        assert_eq!(settings.problems(), Vec::new(), "{name}");
    }
}

/// Each component llamacol has answers to the Collector's current name and its previous
/// one (contrib issue #45339's snake_case renames), as the same component.
#[test]
fn current_and_previous_type_names_are_the_same_component() {
    use llamacol_api::Kind;
    let registry = llamacol::builtins();
    let pairs = [
        (Kind::Exporter, "otlp_grpc", "otlp"),
        (Kind::Exporter, "otlp_http", "otlphttp"),
        (Kind::Exporter, "load_balancing", "loadbalancing"),
        (
            Kind::Exporter,
            "prometheus_remote_write",
            "prometheusremotewrite",
        ),
        (Kind::Connector, "span_metrics", "spanmetrics"),
    ];
    for (kind, current, previous) in pairs {
        let (a, b) = (
            registry.lookup(kind, current),
            registry.lookup(kind, previous),
        );
        let (Some((signals_a, _)), Some((signals_b, _))) = (a, b) else {
            panic!("{kind} `{current}` / `{previous}`: both must be registered");
        };
        assert_eq!(signals_a, signals_b, "{current}");
    }
}
