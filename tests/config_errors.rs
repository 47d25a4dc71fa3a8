//! Every config error case gives its own message naming the file, line:column and YAML
//! path. The messages are pinned: changing one is a deliberate, reviewed act.

use std::sync::Arc;

use llamacol_api::{Batch, ConsumeError, Exporter, ExporterFactory, Signal};
use llamacol_pipeline::config::{load, ConfigSpec, ConfigText, Diagnostic, Severity};
use llamacol_pipeline::testing::{hold_factory, EmptyConfig};
use llamacol_pipeline::Registry;

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
    llamacol::builtins()
        .processor(hold_factory())
        .exporter(ExporterFactory {
            type_name: "metrics_only",
            signals: &[Signal::Metrics],
            config: ConfigSpec::of::<EmptyConfig>(),
            build: |_, _| Ok(Arc::new(Nothing)),
        })
}

fn diagnostics(files: &[&str]) -> Result<Vec<String>, Vec<String>> {
    let sources: Vec<ConfigText> = files
        .iter()
        .map(|f| {
            let name = format!("tests/testdata/config/{f}");
            let text = std::fs::read_to_string(&name).unwrap_or_else(|e| panic!("{name}: {e}"));
            ConfigText { name, text }
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
        ["error: tests/testdata/config/typo_type.yaml:4:3: exporters.debgu: unknown exporter type `debgu` (did you mean `debug`?); known exporters: otlp, otlp_grpc, otlp_http, otlphttp, jaeger, graphistry, loadbalancing, load_balancing, parquet, prometheus, prometheusremotewrite, prometheus_remote_write, debug, logging, file, zipkin, metrics_only (`llamacol components` lists them)"]
    );
}

#[test]
fn unknown_key_in_a_component_suggests_the_right_one() {
    assert_eq!(
        errors("typo_key.yaml"),
        ["error: tests/testdata/config/typo_key.yaml:5:9: receivers.otlp.protocols.grpc.endpont: unknown key `endpont` (did you mean `endpoint`?); valid keys: endpoint, max_recv_msg_size_mib, tls, auth, transport, include_metadata, max_concurrent_streams, keepalive, read_buffer_size, write_buffer_size"]
    );
}

#[test]
fn pipeline_referencing_an_undefined_component() {
    assert_eq!(
        errors("undefined_reference.yaml"),
        ["error: tests/testdata/config/undefined_reference.yaml:9:26: service.pipelines.traces.exporters[1]: exporter `file/spans` is not defined under `exporters` or `connectors`; define it there or remove it from this pipeline"]
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
            "error: tests/testdata/config/many_errors.yaml:13:32: service.pipelines.traces.exporters[2]: exporter `missing` is not defined under `exporters` or `connectors`; define it there or remove it from this pipeline",
            "error: tests/testdata/config/many_errors.yaml:14:5: service.pipelines.metrcs: pipeline id `metrcs` must start with a signal: `traces`, `metrics` or `logs` (optionally `/name`) (did you mean `metrics`?)",
        ]
    );
}

#[test]
fn later_files_override_earlier_ones_key_by_key() {
    // unused_component.yaml + a file that uses `file` too: the warning goes away. (The
    // overlay is given as text: it was written to a temp directory that was never removed.)
    let base =
        std::fs::read_to_string("tests/testdata/config/unused_component.yaml").expect("read");
    let sources = [
        ConfigText {
            name: "base.yaml".into(),
            text: base,
        },
        ConfigText {
            name: "overlay.yaml".into(),
            text: "service:\n  pipelines:\n    traces:\n      exporters: [debug, file]\n".into(),
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
    let sources = [ConfigText {
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
        &[ConfigText {
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

#[test]
fn the_collectors_documented_example_loads_as_written() {
    // pprof and zpages included (they were refused before llamacol had them).
    let (config, warnings) = diagnostics_and_config("collector_docs_example.yaml");
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(config.service_extensions.len(), 3);
    assert_eq!(
        config.telemetry.metrics.level,
        llamacol_pipeline::config::MetricsLevel::Detailed
    );
}

fn diagnostics_and_config(file: &str) -> (llamacol_pipeline::config::Config, Vec<String>) {
    let name = format!("tests/testdata/config/{file}");
    let text = std::fs::read_to_string(&name).expect("read");
    let (config, warnings) = load(&[ConfigText { name, text }], &registry(), &|_| None)
        .unwrap_or_else(|e| panic!("{e}"));
    (config, warnings.iter().map(ToString::to_string).collect())
}

#[test]
fn extension_and_storage_mistakes_are_each_named() {
    assert_eq!(
        errors("extension_errors.yaml"),
        [
            "error: tests/testdata/config/extension_errors.yaml:23:13: service.telemetry.metrics.readers[0].periodic.exporter: name one exporter: `otlp`, `otlp_http`, `otlp_grpc` or `console`",
            "error: tests/testdata/config/extension_errors.yaml:18:64: service.extensions[3]: extension `helth_check` is not defined under `extensions` (did you mean `health_check`?); define it there or remove it from this list",
            "error: tests/testdata/config/extension_errors.yaml:13:7: exporters.otlp.sending_queue.storage: storage `file_storag` is not an extension listed in `service.extensions` (did you mean `file_storage`?); define it under `extensions` (e.g. `file_storage: {directory: /var/lib/llamacol/queue}`) and list it in `service.extensions`",
            "error: tests/testdata/config/extension_errors.yaml:16:7: exporters.debug.sending_queue.storage: extension `health_check` does not store queues; name a storage extension such as `file_storage`",
            "error: tests/testdata/config/extension_errors.yaml:5:5: extensions.file_storage/spare.directory: directory `/var/lib/llamacol/queue/` is also used at extensions.file_storage.directory: each storage needs its own directory; change one of them",
        ]
    );
}

#[test]
fn an_unlisted_extension_is_a_warning_and_a_pull_reader_moves_the_admin_server() {
    let (config, warnings) = load(
        &[ConfigText {
            name: "tests/testdata/config/extension_unlisted.yaml".into(),
            text: std::fs::read_to_string("tests/testdata/config/extension_unlisted.yaml")
                .expect("read"),
        }],
        &registry(),
        &|_| None,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let warnings: Vec<String> = warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        ["warning: tests/testdata/config/extension_unlisted.yaml:2:3: extensions.health_check: extension `health_check` is defined but not listed in `service.extensions`; it will not run"]
    );
    assert_eq!(config.telemetry.admin.endpoint, "127.0.0.1:9464");
}

#[test]
fn a_storage_without_a_queue_is_an_error() {
    let text = "extensions:\n  file_storage: {directory: /tmp/q}\nreceivers:\n  otlp:\nexporters:\n  debug:\n    sending_queue: {enabled: false, storage: file_storage}\nservice:\n  extensions: [file_storage]\n  pipelines:\n    traces: {receivers: [otlp], exporters: [debug]}\n";
    let shown = refused("q.yaml", text);
    assert_eq!(
        shown,
        ["error: q.yaml:7:37: exporters.debug.sending_queue.storage: `storage: file_storage` keeps the queue on disk, but `sending_queue.enabled` is false: there is no queue to keep; remove one of the two"]
    );
}

#[test]
fn connectors_used_wrongly_are_each_named() {
    assert_eq!(
        errors("connector_cycle.yaml"),
        ["error: tests/testdata/config/connector_cycle.yaml:10:5: service.pipelines.traces/a: pipelines form a cycle through connectors: traces/a -> [forward] -> traces/b -> [forward/back] -> traces/a; data would go round forever: remove one of these connectors from one side"]
    );
    assert_eq!(
        errors("connector_one_sided.yaml"),
        ["error: tests/testdata/config/connector_one_sided.yaml:4:3: connectors.forward: connector `forward` is used as an exporter but no pipeline lists it under `receivers`: a connector takes data from one pipeline (as its exporter) and feeds another (as its receiver); list it on both sides (traces->traces, metrics->metrics, logs->logs)"]
    );
    assert_eq!(
        errors("connector_signal_pair.yaml"),
        [
            "error: tests/testdata/config/connector_signal_pair.yaml:11:19: service.pipelines.traces.exporters[0]: connector `forward` in this traces pipeline has no pipeline on its other side (`receivers`) that it supports: it supports traces->traces, metrics->metrics, logs->logs; use it between pipelines of one of those pairs",
            "error: tests/testdata/config/connector_signal_pair.yaml:13:19: service.pipelines.metrics.receivers[0]: connector `forward` in this metrics pipeline has no pipeline on its other side (`exporters`) that it supports: it supports traces->traces, metrics->metrics, logs->logs; use it between pipelines of one of those pairs",
        ]
    );
    assert_eq!(
        errors("connector_ambiguous.yaml"),
        [
            "error: tests/testdata/config/connector_ambiguous.yaml:4:3: connectors.otlp: unknown connector type `otlp`; known connectors: forward, genai_metrics, routing, span_metrics, spanmetrics (`llamacol components` lists them)",
            "error: tests/testdata/config/connector_ambiguous.yaml:5:3: connectors.forwrd: unknown connector type `forwrd` (did you mean `forward`?); known connectors: forward, genai_metrics, routing, span_metrics, spanmetrics (`llamacol components` lists them)",
            "error: tests/testdata/config/connector_ambiguous.yaml:4:3: connectors.otlp: `otlp` is defined both as a connector and as a receiver: a pipeline could not tell which one it names; rename one of them (e.g. `otlp/2`)",
        ]
    );
}

#[test]
fn slo_rule_mistakes_name_the_line_in_the_config_and_in_the_rule_file() {
    assert_eq!(
        errors("slo_rule_errors.yaml"),
        [
            // A key that is missing is placed at its rule.
            "error: tests/testdata/config/slo_rule_errors.yaml:7:14: processors.slo.rules[0].quantile: `aggregate: quantile` needs `quantile`, between 0 and 1 (e.g. 0.99)",
            "error: tests/testdata/config/slo_rule_errors.yaml:5:18: processors.slo.rule_files[0]: tests/testdata/config/slo_bad_rules.yaml:6:5: rules[0].for: invalid value: string \"a while\", expected a duration",
        ]
    );
}

#[test]
fn an_authenticator_must_be_a_listed_authenticator_extension() {
    assert_eq!(
        errors("auth_errors.yaml"),
        [
            "error: tests/testdata/config/auth_errors.yaml:13:16: receivers.otlp.protocols.grpc.auth.authenticator: authenticator `bearertokenauth/agent` is not an extension listed in `service.extensions` (did you mean `bearertokenauth/agents`?); define it under `extensions` (e.g. `bearertokenauth: {token: ${env:TOKEN}}`) and list it in `service.extensions`",
            "error: tests/testdata/config/auth_errors.yaml:17:12: exporters.otlp.auth.authenticator: extension `file_storage` does not authenticate; name a `bearertokenauth` or `basicauth` extension",
        ]
    );
}

/// The README promises every problem at once: six mistakes spread over
/// `service.telemetry` (three in two blocks), a pipeline and two components come out
/// together, each at its place.
#[test]
fn six_errors_in_telemetry_pipelines_and_components_come_out_at_once() {
    let errors = errors("six_errors.yaml");
    let places = [
        "processors.batch.timeout",
        "exporters.debug.verbosity",
        "service.telemetry.logs.encoding",
        "service.telemetry.logs.sampling.tick",
        "service.telemetry.metrics.level",
        "service.pipelines.traces.exporters[1]",
    ];
    for place in places {
        assert!(
            errors.iter().any(|e| e.contains(&format!(" {place}: "))),
            "no error at {place}: {errors:#?}"
        );
    }
    assert_eq!(errors.len(), 6, "{errors:#?}");
}

#[test]
fn a_receivers_storage_must_be_a_running_storage_extension() {
    let text = "extensions:\n  health_check:\n  file_storage: {directory: /tmp/q}\nreceivers:\n  filelog/a: {include: [/tmp/*.log], storage: file_storag}\n  filelog/b: {include: [/tmp/*.log], storage: health_check}\nexporters:\n  debug:\nservice:\n  extensions: [file_storage, health_check]\n  pipelines:\n    logs: {receivers: [filelog/a, filelog/b], exporters: [debug]}\n";
    let shown = refused("s.yaml", text);
    assert_eq!(
        shown,
        [
            "error: s.yaml:5:38: receivers.filelog/a.storage: storage `file_storag` is not an extension listed in `service.extensions` (did you mean `file_storage`?); define it under `extensions` (e.g. `file_storage: {directory: /var/lib/llamacol/state}`) and list it in `service.extensions`",
            "error: s.yaml:6:38: receivers.filelog/b.storage: extension `health_check` stores nothing; name a storage extension such as `file_storage`",
        ]
    );
}

/// The errors loading `text` (as file `name`) gives; it must be refused.
fn refused(name: &str, text: &str) -> Vec<String> {
    let errors = load(
        &[ConfigText {
            name: name.into(),
            text: text.into(),
        }],
        &registry(),
        &|_| None,
    )
    .expect_err("refused");
    errors.0.iter().map(ToString::to_string).collect()
}
