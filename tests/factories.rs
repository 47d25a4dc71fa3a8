//! One generic test over every registered factory (the Collector's generated component
//! test): build from the default config, start, pass data where it takes data, shut down.

use llamacol_pipeline::config::{load, Source};
use llamacol_pipeline::runtime::Service;
use llamacol_pipeline::telemetry::Telemetry;
use llamacol_pipeline::testing::{self, sample_traces, Sink};
use llamacol_pipeline::{Kind, Signal};

/// Types whose defaults leave a required key unset, with the smallest block that sets it.
fn required_keys(kind: Kind, type_name: &str, dir: &std::path::Path) -> Option<String> {
    match (kind, type_name) {
        (Kind::Exporter, "prometheusremotewrite") => Some(format!(
            "{{endpoint: \"http://127.0.0.1:{}/api/v1/write\"}}",
            testing::free_port()
        )),
        (Kind::Processor, "memory_limiter") => Some("{limit_mib: 8192}".to_string()),
        (Kind::Exporter, "file") => {
            Some(format!("{{path: \"{}\"}}", dir.join("out.jsonl").display()))
        }
        // Exports to a port nothing listens on: start and shutdown must still be clean
        // (the batch sent is retried until the shutdown deadline, then counted dropped).
        (Kind::Exporter, "otlp") => Some(format!(
            "{{endpoint: \"127.0.0.1:{}\", tls: {{insecure: true}}, timeout: 1s}}",
            testing::free_port()
        )),
        _ => None,
    }
}

/// Blocks that keep a type's side effects inside the test (its own port or directory).
fn isolated(kind: Kind, type_name: &str, dir: &std::path::Path) -> Option<String> {
    match (kind, type_name) {
        (Kind::Extension, "file_storage") => Some(format!(
            "{{directory: \"{}\", create_directory: true}}",
            dir.join("queue").display()
        )),
        (Kind::Extension, "health_check") => Some(format!(
            "{{endpoint: \"127.0.0.1:{}\"}}",
            testing::free_port()
        )),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_factory_builds_from_defaults_starts_and_shuts_down() {
    let registry = llamacol::builtins()
        .receiver(testing::source_factory())
        .exporter(testing::sink_factory());
    let dir = tempfile::tempdir().expect("tmp");
    let built_ins = llamacol::builtins().list();
    assert!(built_ins.len() >= 3);
    for listed in built_ins {
        let (kind, name) = (listed.kind, listed.type_name);
        // Extensions serve no signal: they run beside a traces pipeline. A connector
        // joins a pipeline of its first pair's signals.
        let pair = listed.pairs.first().copied();
        let signal = listed
            .signals
            .first()
            .copied()
            .or(pair.map(|p| p.from))
            .unwrap_or(Signal::Traces);
        let tag = format!("generic-{kind}-{name}");
        let block = required_keys(kind, name, dir.path()).unwrap_or_default();
        let isolated_block = isolated(kind, name, dir.path()).unwrap_or_default();
        if !block.is_empty() {
            let bare = format!("{kind}s:\n  {name}:\nservice: {{pipelines: {{{signal}: {{receivers: [x], exporters: [y]}}}}}}");
            let rejected = load(
                &[Source {
                    name: "d.yaml".into(),
                    text: bare,
                }],
                &registry,
                &|_| None,
            );
            assert!(
                rejected.is_err(),
                "{name}: listed as having required keys but its default is valid"
            );
        }
        let (receiver, processor, exporter) = match kind {
            Kind::Receiver => (
                format!("{name}: {block}"),
                None,
                format!("sink: {{name: {tag}}}"),
            ),
            Kind::Processor => (
                format!("source: {{name: {tag}}}"),
                Some(format!("{name}: {block}")),
                format!("sink: {{name: {tag}}}"),
            ),
            Kind::Exporter => (
                format!("source: {{name: {tag}}}"),
                None,
                format!("{name}: {block}"),
            ),
            // A storage extension holds the sink's queue.
            Kind::Extension if name == "file_storage" => (
                format!("source: {{name: {tag}}}"),
                None,
                format!("sink: {{name: {tag}, sending_queue: {{storage: {name}}}}}"),
            ),
            Kind::Extension | Kind::Connector => (
                format!("source: {{name: {tag}}}"),
                None,
                format!("sink: {{name: {tag}}}"),
            ),
        };
        let (extensions, listed) = if kind == Kind::Extension {
            (
                format!("extensions:\n  {name}: {isolated_block}\n"),
                name.to_string(),
            )
        } else {
            (String::new(), String::new())
        };
        let id = |s: &str| s.split(':').next().unwrap_or_default().to_string();
        let yaml = match pair {
            Some(pair) => format!(
                "connectors:\n  {name}: {block}\nreceivers:\n  {receiver}\nexporters:\n  {exporter}\nservice:\n  telemetry: {{shutdown_timeout: 1s}}\n  pipelines:\n    {}/in: {{receivers: [source], exporters: [{name}]}}\n    {}/out: {{receivers: [{name}], exporters: [sink]}}\n",
                pair.from, pair.to
            ),
            None => format!(
            "{extensions}receivers:\n  {receiver}\n{}exporters:\n  {exporter}\nservice:\n  extensions: [{listed}]\n  telemetry: {{shutdown_timeout: 1s}}\n  pipelines:\n    {signal}:\n      receivers: [{}]\n      processors: [{}]\n      exporters: [{}]\n",
            processor.as_ref().map(|p| format!("processors:\n  {p}\n")).unwrap_or_default(),
            id(&receiver),
            processor.as_deref().map(id).unwrap_or_default(),
            id(&exporter),
        ),
        };
        let (config, _) = load(
            &[Source {
                name: format!("{tag}.yaml"),
                text: yaml,
            }],
            &registry,
            &|_| None,
        )
        .unwrap_or_else(|e| panic!("{kind} {name}: default config invalid: {e}"));
        let telemetry = Telemetry::new();
        let mut service =
            Service::build(&config, &registry, telemetry.clone()).unwrap_or_else(|e| panic!("{e}"));
        service
            .start()
            .await
            .unwrap_or_else(|e| panic!("{kind} {name}: start failed: {e}"));
        if kind != Kind::Receiver && signal == Signal::Traces {
            testing::Source::named(&tag)
                .send(sample_traces(1, 2))
                .await
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        let report = service.shutdown().await;
        // Nothing accepted by an exporter's queue is lost without being counted.
        for (scope, [_, _, sent, failed, dropped, unknown]) in telemetry.snapshot() {
            if scope.kind == Kind::Exporter && scope.pipeline.is_none() {
                let queued: u64 = telemetry
                    .snapshot()
                    .iter()
                    .filter(|(s, _)| {
                        s.kind == Kind::Exporter
                            && s.component == scope.component
                            && s.signal == scope.signal
                            && s.pipeline.is_some()
                    })
                    .map(|(_, v)| v[0])
                    .sum();
                assert_eq!(
                    sent + failed + dropped + unknown,
                    queued,
                    "{kind} {name}: {scope:?}"
                );
            }
        }
        assert!(
            report.problems.is_empty(),
            "{kind} {name}: {:?}",
            report.problems
        );
        let passes_through = matches!(kind, Kind::Processor | Kind::Extension) || name == "forward";
        if passes_through {
            assert_eq!(
                Sink::named(&tag).items(Signal::Traces),
                2,
                "{name} passes data through"
            );
        }
    }
}
