//! Every config error case gives its own message naming the file, line:column and YAML
//! path. The messages are pinned: changing one is a deliberate, reviewed act.

use std::sync::Arc;

use llamacol_pipeline::config::{load, ConfigSpec, Diagnostic, Severity, Source};
use llamacol_pipeline::testing::{hold_factory, EmptyConfig};
use llamacol_pipeline::{Batch, ConsumeError, Exporter, ExporterFactory, Registry, Signal};

struct Nothing;

#[async_trait::async_trait]
impl Exporter for Nothing {
    async fn export(&self, _: &mut Batch) -> Result<(), ConsumeError> {
        Ok(())
    }
}

/// The built-in table plus two test components for cases no built-in shows yet: an
/// exporter of metrics only, and a processor.
fn registry() -> Registry {
    llamacol::registry()
        .processor(hold_factory())
        .exporter(ExporterFactory {
            type_name: "metrics_only",
            signals: &[Signal::Metrics],
            config: ConfigSpec::of::<EmptyConfig>(),
            build: |_, _| Ok(Arc::new(Nothing)),
        })
}

fn diagnostics(files: &[&str]) -> Result<Vec<String>, Vec<String>> {
    let sources: Vec<Source> = files
        .iter()
        .map(|f| {
            let name = format!("tests/testdata/config/{f}");
            let text = std::fs::read_to_string(&name).unwrap_or_else(|e| panic!("{name}: {e}"));
            Source { name, text }
        })
        .collect();
    let show = |ds: Vec<Diagnostic>| ds.iter().map(ToString::to_string).collect::<Vec<_>>();
    match load(&sources, &registry(), &|name| {
        (name == "LLAMACOL_TEST_PORT").then(|| "4999".to_string())
    }) {
        Ok((_, warnings)) => Ok(show(warnings)),
        Err(e) => Err(show(
            e.0.into_iter()
                .filter(|d| d.severity == Severity::Error)
                .collect(),
        )),
    }
}

fn errors(file: &str) -> Vec<String> {
    diagnostics(&[file]).expect_err("config must be invalid")
}

#[test]
fn yaml_syntax_error() {
    assert_eq!(
        errors("syntax_error.yaml"),
        ["error: tests/testdata/config/syntax_error.yaml:4:10: YAML syntax error: did not find expected ',' or ']'"]
    );
}

#[test]
fn unknown_component_type_suggests_the_right_one() {
    assert_eq!(
        errors("typo_type.yaml"),
        ["error: tests/testdata/config/typo_type.yaml:4:3: exporters.debgu: unknown exporter type `debgu` (did you mean `debug`?); known exporters: otlp, prometheus, prometheusremotewrite, debug, file, metrics_only (`llamacol components` lists them)"]
    );
}

#[test]
fn unknown_key_in_a_component_suggests_the_right_one() {
    assert_eq!(
        errors("typo_key.yaml"),
        ["error: tests/testdata/config/typo_key.yaml:5:9: receivers.otlp.protocols.grpc.endpont: unknown key `endpont` (did you mean `endpoint`?); valid keys: endpoint, max_recv_msg_size_mib"]
    );
}

#[test]
fn pipeline_referencing_an_undefined_component() {
    assert_eq!(
        errors("undefined_reference.yaml"),
        ["error: tests/testdata/config/undefined_reference.yaml:9:26: service.pipelines.traces.exporters[1]: exporter `file/spans` is not defined under `exporters`; define it there or remove it from this pipeline"]
    );
}

#[test]
fn pipeline_without_receivers_or_exporters() {
    assert_eq!(
        errors("no_receivers_no_exporters.yaml"),
        [
            "error: tests/testdata/config/no_receivers_no_exporters.yaml:7:5: service.pipelines.traces: pipeline `traces` has no receivers; list at least one under `receivers`",
            "error: tests/testdata/config/no_receivers_no_exporters.yaml:9:5: service.pipelines.logs: pipeline `logs` has no exporters; list at least one under `exporters`",
        ]
    );
}

#[test]
fn component_in_a_pipeline_of_a_signal_it_does_not_support() {
    assert_eq!(
        errors("unsupported_signal.yaml"),
        ["error: tests/testdata/config/unsupported_signal.yaml:9:19: service.pipelines.traces.exporters[0]: exporter `metrics_only` does not support traces (it supports: metrics); use it in a pipeline of one of those signals"]
    );
}

#[test]
fn same_processor_twice_in_one_pipeline() {
    assert_eq!(
        errors("duplicate_processor.yaml"),
        ["error: tests/testdata/config/duplicate_processor.yaml:11:26: service.pipelines.traces.processors[1]: processor `hold` appears twice in this pipeline (at [0] and [1]); a processor may appear once per pipeline: remove one, or define a second instance as `hold/2`"]
    );
}

#[test]
fn unset_env_var_without_default() {
    assert_eq!(
        errors("unset_env.yaml"),
        ["error: tests/testdata/config/unset_env.yaml:5:9: receivers.otlp.protocols.grpc.endpoint: environment variable `LLAMACOL_TEST_SURELY_UNSET` is not set and `${env:LLAMACOL_TEST_SURELY_UNSET}` has no default; set it or write `${env:LLAMACOL_TEST_SURELY_UNSET:-default}`"]
    );
}

#[test]
fn two_components_binding_the_same_port() {
    assert_eq!(
        errors("port_clash.yaml"),
        ["error: tests/testdata/config/port_clash.yaml:9:9: receivers.otlp/second.protocols.http.endpoint: address `localhost:4317` clashes with `0.0.0.0:4317` at receivers.otlp.protocols.grpc.endpoint: two listeners cannot share a port; change one of them"]
    );
}

#[test]
fn defined_but_unused_is_a_warning_not_an_error() {
    assert_eq!(
        diagnostics(&["unused_component.yaml"]).expect("valid"),
        ["warning: tests/testdata/config/unused_component.yaml:5:3: exporters.file: exporter `file` is defined but not used in any pipeline; it will not run"]
    );
}

#[test]
fn every_error_is_reported_at_once() {
    assert_eq!(
        errors("many_errors.yaml"),
        [
            "error: tests/testdata/config/many_errors.yaml:4:7: receivers.otlp.protocols.htpp: unknown key `htpp` (did you mean `http`?); valid keys: grpc, http",
            "error: tests/testdata/config/many_errors.yaml:7:5: exporters.debug.verbosity: unknown value `loud`; valid values: basic, normal, detailed",
            "error: tests/testdata/config/many_errors.yaml:8:3: exporters.file.path: `path` is required: the file to write OTLP/JSON lines to",
            "error: tests/testdata/config/many_errors.yaml:13:32: service.pipelines.traces.exporters[2]: exporter `missing` is not defined under `exporters`; define it there or remove it from this pipeline",
            "error: tests/testdata/config/many_errors.yaml:14:5: service.pipelines.metrcs: pipeline id `metrcs` must start with a signal: `traces`, `metrics` or `logs` (optionally `/name`) (did you mean `metrics`?)",
        ]
    );
}

#[test]
fn later_files_override_earlier_ones_key_by_key() {
    // unused_component.yaml + a file that uses `file` too: the warning goes away.
    let dir = std::env::temp_dir().join(format!("llamacol-merge-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let overlay = dir.join("overlay.yaml");
    std::fs::write(
        &overlay,
        "service:\n  pipelines:\n    traces:\n      exporters: [debug, file]\n",
    )
    .expect("write");
    let base =
        std::fs::read_to_string("tests/testdata/config/unused_component.yaml").expect("read");
    let sources = [
        Source {
            name: "base.yaml".into(),
            text: base,
        },
        Source {
            name: "overlay.yaml".into(),
            text: std::fs::read_to_string(&overlay).expect("read"),
        },
    ];
    let (config, warnings) = load(&sources, &registry(), &|_| None).expect("valid");
    assert!(warnings.is_empty(), "{warnings:?}");
    let names: Vec<String> = config.pipelines[0]
        .exporters
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(names, ["debug", "file"]);
    assert_eq!(
        config.pipelines[0].receivers.len(),
        1,
        "receivers kept from the base file"
    );
}

#[test]
fn env_var_with_default_and_numbers() {
    let text = "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: \"127.0.0.1:${env:LLAMACOL_TEST_PORT}\"\n        max_recv_msg_size_mib: ${env:LLAMACOL_TEST_MIB:-8}\nexporters:\n  debug:\nservice:\n  pipelines:\n    traces: {receivers: [otlp], exporters: [debug]}\n";
    let sources = [Source {
        name: "env.yaml".into(),
        text: text.into(),
    }];
    let (config, _) = load(&sources, &registry(), &|name| {
        (name == "LLAMACOL_TEST_PORT").then(|| "4999".to_string())
    })
    .expect("valid");
    let block = &config.receivers[0].1;
    assert_eq!(
        block["protocols"]["grpc"]["endpoint"].as_str(),
        Some("127.0.0.1:4999")
    );
    assert_eq!(
        block["protocols"]["grpc"]["max_recv_msg_size_mib"].as_u64(),
        Some(8),
        "a whole reference becomes a number"
    );
}

#[test]
fn telemetry_defaults_apply_without_a_telemetry_block() {
    let text = "receivers:\n  otlp:\nexporters:\n  debug:\nservice:\n  pipelines:\n    traces: {receivers: [otlp], exporters: [debug]}\n";
    let (config, _) = load(
        &[Source {
            name: "t.yaml".into(),
            text: text.into(),
        }],
        &registry(),
        &|_| None,
    )
    .expect("valid");
    assert_eq!(
        config.telemetry.shutdown_timeout,
        std::time::Duration::from_secs(10)
    );
    assert_eq!(config.telemetry.admin.endpoint, "127.0.0.1:8888");
}

#[test]
fn a_receiver_and_an_exporter_may_share_an_id() {
    // Receiver `otlp` is used; exporter `otlp` is not: only the exporter is reported.
    assert_eq!(
        diagnostics(&["same_id_two_kinds.yaml"]).expect("valid"),
        ["warning: tests/testdata/config/same_id_two_kinds.yaml:4:3: exporters.otlp: exporter `otlp` is defined but not used in any pipeline; it will not run"]
    );
}
