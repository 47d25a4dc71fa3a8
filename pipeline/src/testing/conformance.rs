//! The conformance kit: the contract every component must meet, run against a factory in
//! a real service between a `source` receiver and a `sink` exporter. Every built-in is
//! checked by it (`tests/factories.rs`), and a plugin author checks theirs the same way:
//!
//! ```ignore
//! #[tokio::test(flavor = "multi_thread")]
//! async fn redact_meets_the_contract() {
//!     check_processor(redact::factory(), "{patterns: ['\\d+']}", Flow::PassesThrough)
//!         .await
//!         .unwrap();
//! }
//! ```
//!
//! What is checked, per kind:
//! - the block given is valid, and the same block with an unknown key is refused with an
//!   "unknown key" message;
//! - the component builds, starts and shuts down inside a service without a problem;
//! - it takes an empty batch and a batch of each signal it supports without failing;
//! - nothing is lost or counted twice: every item the component accepted is delivered,
//!   or counted as dropped (stateful processors) or failed (exporters), exactly once,
//!   including what a processor still held at shutdown (`Flow::PassesThrough`);
//! - a retryable refusal downstream is retried until delivered, and a permanent one
//!   travels back to the sender or is counted, never both and never neither.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::{
    sample_logs, sample_metrics, sample_traces, sink_factory, source_factory, Sink, Source,
};
use crate::batch::Batch;
use crate::component::{
    ConnectorFactory, ExporterFactory, Kind, ProcessorFactory, ReceiverFactory, SignalPair,
};
use crate::config::{load, ConfigText};
use crate::extension::ExtensionFactory;
use crate::registry::Registry;
use crate::runtime::Service;
use crate::signal::Signal;
use crate::telemetry::Telemetry;

/// What a processor or connector promises to do with the items it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Every accepted item reaches the next stage (or is counted dropped).
    PassesThrough,
    /// It may hold back items by design (a sampler) or emit other items (a connector
    /// deriving metrics): only the counting and lifecycle rules are checked.
    MayFilter,
}

/// Where a check failed, and why.
pub type Outcome = Result<(), String>;

/// A receiver: config, lifecycle and counting (it produces its own data, so the kit does
/// not feed it). Give it a block that keeps it on free ports.
pub async fn check_receiver(factory: ReceiverFactory, block: &str) -> Outcome {
    config_rules(Kind::Receiver, factory.type_name, factory.config, block)?;
    let signal = factory.signals.first().copied().unwrap_or(Signal::Traces);
    let tag = tag(factory.type_name);
    let yaml = format!(
        "receivers:\n  {name}: {block}\nexporters:\n  sink: {{name: {tag}}}\nservice:\n  telemetry: {{shutdown_timeout: 2s, admin: {{endpoint: \"127.0.0.1:0\"}}}}\n  pipelines:\n    {signal}: {{receivers: [{name}], exporters: [sink]}}\n",
        name = factory.type_name
    );
    let registry = base().receiver(factory);
    run(&registry, &yaml, &tag, &[], Expect::Counted).await
}

/// A processor, in a pipeline of each signal it supports.
pub async fn check_processor(factory: ProcessorFactory, block: &str, flow: Flow) -> Outcome {
    config_rules(Kind::Processor, factory.type_name, factory.config, block)?;
    let (name, signals) = (factory.type_name, factory.signals);
    let registry = base().processor(factory);
    for &signal in signals {
        for sink_mode in SinkMode::ALL {
            let tag = tag(name);
            let yaml = format!(
                "receivers:\n  source: {{name: {tag}}}\nprocessors:\n  {name}: {block}\nexporters:\n  sink: {{name: {tag}, {FAST_RETRY}}}\nservice:\n  telemetry: {{shutdown_timeout: 2s, admin: {{endpoint: \"127.0.0.1:0\"}}}}\n  pipelines:\n    {signal}: {{receivers: [source], processors: [{name}], exporters: [sink]}}\n"
            );
            sink_mode.apply(&tag);
            let expect = match flow {
                Flow::PassesThrough => Expect::Delivered(sink_mode),
                Flow::MayFilter => Expect::Counted,
            };
            run(&registry, &yaml, &tag, &[signal], expect)
                .await
                .map_err(|e| format!("{signal}, {}: {e}", sink_mode.says()))?;
        }
    }
    Ok(())
}

/// An exporter (give it a block whose backend is reachable or refuses cleanly).
pub async fn check_exporter(factory: ExporterFactory, block: &str) -> Outcome {
    config_rules(Kind::Exporter, factory.type_name, factory.config, block)?;
    let (name, signals) = (factory.type_name, factory.signals);
    let registry = base().exporter(factory);
    for &signal in signals {
        let tag = tag(name);
        let yaml = format!(
            "receivers:\n  source: {{name: {tag}}}\nexporters:\n  {name}: {block}\nservice:\n  telemetry: {{shutdown_timeout: 2s, admin: {{endpoint: \"127.0.0.1:0\"}}}}\n  pipelines:\n    {signal}: {{receivers: [source], exporters: [{name}]}}\n"
        );
        run(&registry, &yaml, &tag, &[signal], Expect::Counted)
            .await
            .map_err(|e| format!("{signal}: {e}"))?;
    }
    Ok(())
}

/// A connector, between pipelines of each signal pair it supports.
pub async fn check_connector(factory: ConnectorFactory, block: &str, flow: Flow) -> Outcome {
    config_rules(Kind::Connector, factory.type_name, factory.config, block)?;
    let (name, pairs) = (factory.type_name, factory.pairs);
    let registry = base().connector(factory);
    for &SignalPair { from, to } in pairs {
        let tag = tag(name);
        let yaml = format!(
            "receivers:\n  source: {{name: {tag}}}\nconnectors:\n  {name}: {block}\nexporters:\n  sink: {{name: {tag}}}\nservice:\n  telemetry: {{shutdown_timeout: 2s, admin: {{endpoint: \"127.0.0.1:0\"}}}}\n  pipelines:\n    {from}/in: {{receivers: [source], exporters: [{name}]}}\n    {to}/out: {{receivers: [{name}], exporters: [sink]}}\n"
        );
        let expect = match flow {
            Flow::PassesThrough => Expect::Delivered(SinkMode::Takes),
            Flow::MayFilter => Expect::Counted,
        };
        run(&registry, &yaml, &tag, &[from], expect)
            .await
            .map_err(|e| format!("{from}->{to}: {e}"))?;
    }
    Ok(())
}

/// An extension, running beside a traces pipeline; a storage extension holds the sink's
/// queue (give it a block with its own directory).
pub async fn check_extension(factory: ExtensionFactory, block: &str) -> Outcome {
    config_rules(Kind::Extension, factory.type_name, factory.config, block)?;
    let name = factory.type_name;
    let queue = if factory.storage {
        format!(", sending_queue: {{storage: {name}}}")
    } else {
        String::new()
    };
    let tag = tag(name);
    let yaml = format!(
        "extensions:\n  {name}: {block}\nreceivers:\n  source: {{name: {tag}}}\nexporters:\n  sink: {{name: {tag}{queue}}}\nservice:\n  extensions: [{name}]\n  telemetry: {{shutdown_timeout: 2s, admin: {{endpoint: \"127.0.0.1:0\"}}}}\n  pipelines:\n    traces: {{receivers: [source], exporters: [sink]}}\n"
    );
    let registry = base().extension(factory);
    run(
        &registry,
        &yaml,
        &tag,
        &[Signal::Traces],
        Expect::Delivered(SinkMode::Takes),
    )
    .await
}

/// The sink retries a retryable refusal within the check's shutdown deadline.
const FAST_RETRY: &str = "retry_on_failure: {initial_interval: 10ms, max_interval: 50ms}";

fn base() -> Registry {
    Registry::new()
        .receiver(source_factory())
        .exporter(sink_factory())
}

/// A name no other check uses (sources and sinks are found by name).
fn tag(type_name: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "conformance-{type_name}-{}",
        N.fetch_add(1, Ordering::SeqCst)
    )
}

fn config_rules(kind: Kind, name: &str, spec: crate::config::ConfigSpec, block: &str) -> Outcome {
    let value: serde_yaml::Value = serde_yaml::from_str(block)
        .map_err(|e| format!("{kind} {name}: the block given is not YAML: {e}"))?;
    (spec.check)(&value)
        .map_err(|issues| format!("{kind} {name}: the block given is refused: {issues:?}"))?;
    let mut with_unknown = match value {
        serde_yaml::Value::Mapping(m) => m,
        _ => serde_yaml::Mapping::new(),
    };
    with_unknown.insert("conformance_no_such_key".into(), 1.into());
    match (spec.check)(&serde_yaml::Value::Mapping(with_unknown)) {
        Err(issues) if issues.iter().any(|i| i.message.contains("unknown")) => Ok(()),
        Err(issues) => Err(format!("{kind} {name}: an unknown key is refused, but the message does not say it is unknown: {issues:?}")),
        Ok(_) => Err(format!("{kind} {name}: an unknown key is accepted; derive `#[serde(deny_unknown_fields)]` on its config")),
    }
}

/// How the sink behaves during a processor check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SinkMode {
    Takes,
    RefusesOnceRetryably,
    RefusesPermanently,
}

impl SinkMode {
    const ALL: [SinkMode; 3] = [
        SinkMode::Takes,
        SinkMode::RefusesOnceRetryably,
        SinkMode::RefusesPermanently,
    ];

    fn apply(self, tag: &str) {
        let sink = Sink::named(tag);
        match self {
            SinkMode::Takes => {}
            SinkMode::RefusesOnceRetryably => sink.fail_next(1),
            SinkMode::RefusesPermanently => sink.fail_permanently(true),
        }
    }

    /// What the next stage does, for failure messages.
    fn says(self) -> &'static str {
        match self {
            SinkMode::Takes => "the next stage takes everything",
            SinkMode::RefusesOnceRetryably => "the next stage refuses once, retryably",
            SinkMode::RefusesPermanently => "the next stage refuses permanently",
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Every item accepted from the source arrives at the sink, or is counted once as
    /// dropped or failed.
    Delivered(SinkMode),
    /// Only the counting rules.
    Counted,
}

fn batches(signal: Signal) -> Vec<Batch> {
    match signal {
        Signal::Traces => vec![sample_traces(0, 0).into(), sample_traces(2, 3).into()],
        Signal::Metrics => vec![sample_metrics(0).into(), sample_metrics(3).into()],
        Signal::Logs => vec![sample_logs(0).into(), sample_logs(4).into()],
    }
}

async fn run(
    registry: &Registry,
    yaml: &str,
    tag: &str,
    feed: &[Signal],
    expect: Expect,
) -> Outcome {
    let (config, _) = load(
        &[ConfigText {
            name: format!("{tag}.yaml"),
            text: yaml.to_string(),
        }],
        registry,
        &|_| None,
    )
    .map_err(|e| format!("the config does not load: {e}\n{yaml}"))?;
    let telemetry = Telemetry::new();
    let mut service = Service::build(&config, registry, telemetry.clone())
        .map_err(|e| format!("does not build: {e}"))?;
    service
        .start()
        .await
        .map_err(|e| format!("does not start: {e}"))?;
    let source = Source::named(tag);
    let mut accepted = 0;
    for &signal in feed {
        for batch in batches(signal) {
            let items = batch.items();
            match source.send(batch).await {
                Ok(()) => accepted += items,
                Err(e) if items == 0 => {
                    return Err(format!("refuses an empty {signal} batch: {e}"))
                }
                Err(_) => {}
            }
        }
    }
    let report = service.shutdown().await;
    if !report.problems.is_empty() {
        return Err(format!("shutdown problems: {:?}", report.problems));
    }
    let snapshot = telemetry.snapshot();
    let sum = |kind: Kind, pipeline: bool, outcome: usize| -> u64 {
        snapshot
            .iter()
            .filter(|(s, _)| s.kind == kind && s.pipeline.is_some() == pipeline)
            .map(|(_, v)| v[outcome])
            .sum()
    };
    // Exporter queues: what each took is sent, failed, dropped or unknown, once.
    for (scope, [_, _, sent, failed, dropped, unknown, _, _, _]) in &snapshot {
        if scope.kind == Kind::Exporter && scope.pipeline.is_none() {
            let queued: u64 = snapshot
                .iter()
                .filter(|(s, _)| {
                    s.kind == Kind::Exporter
                        && s.component == scope.component
                        && s.signal == scope.signal
                        && s.pipeline.is_some()
                })
                .map(|(_, v)| v[0])
                .sum();
            if sent + failed + dropped + unknown != queued {
                return Err(format!("exporter `{}` queued {queued} items but accounts for {} (sent {sent}, failed {failed}, dropped {dropped}, unknown {unknown})", scope.component, sent + failed + dropped + unknown));
            }
        }
    }
    if let Expect::Delivered(mode) = expect {
        let delivered: usize = feed.iter().map(|s| Sink::named(tag).items(*s)).sum();
        let dropped = sum(Kind::Processor, true, 4) + sum(Kind::Connector, false, 4);
        let failed = sum(Kind::Exporter, false, 3);
        let accounted = delivered as u64 + dropped + failed;
        if accounted != accepted as u64 {
            return Err(format!("accepted {accepted} items; delivered {delivered}, counted dropped {dropped}, failed {failed}: {} (held at shutdown and lost, or counted twice)", if accounted < accepted as u64 { "items lost" } else { "items counted twice" }));
        }
        if mode != SinkMode::RefusesPermanently && delivered != accepted {
            return Err(format!("accepted {accepted} items but delivered {delivered} although the next stage took them (or refused only retryably)"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex, PoisonError};

    use async_trait::async_trait;

    use super::*;
    use crate::component::{BuildContext, Processor};
    use crate::config::{ComponentConfig, ConfigSpec};
    use crate::consumer::{BoxError, ConsumeError, Consumer};
    use crate::testing::{hold_factory, EmptyConfig};
    use llamacol_api::outcome::OutcomeCounter;

    /// Holds batches like `hold`, but forgets them at shutdown.
    struct Forgets(Mutex<Vec<Batch>>);

    #[async_trait]
    impl Consumer for Forgets {
        async fn consume(&self, batch: Batch) -> Result<(), ConsumeError> {
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(batch);
            Ok(())
        }
    }

    #[async_trait]
    impl Processor for Forgets {
        async fn shutdown(&self) -> Result<(), BoxError> {
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clear();
            Ok(())
        }
    }

    /// Passes every batch on and also counts it as dropped.
    struct CountsTwice {
        next: Arc<dyn Consumer>,
        dropped: OutcomeCounter,
    }

    #[async_trait]
    impl Consumer for CountsTwice {
        async fn consume(&self, batch: Batch) -> Result<(), ConsumeError> {
            self.dropped.add(batch.items());
            self.next.consume(batch).await
        }
    }

    impl Processor for CountsTwice {}

    /// Takes any key.
    #[derive(Debug, Default, serde::Deserialize)]
    struct Lenient {}

    impl ComponentConfig for Lenient {}

    fn processor(
        type_name: &'static str,
        config: ConfigSpec,
        build: crate::component::BuildProcessor,
    ) -> ProcessorFactory {
        ProcessorFactory {
            type_name,
            signals: &[Signal::Traces],
            config,
            build,
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_correct_processor_passes() {
        check_processor(hold_factory(), "{}", Flow::PassesThrough)
            .await
            .expect("hold keeps the contract");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_processor_that_drops_on_shutdown_fails() {
        let forgets = processor(
            "forgets",
            ConfigSpec::of::<EmptyConfig>(),
            |_: &BuildContext, _, _| Ok(Arc::new(Forgets(Mutex::new(Vec::new())))),
        );
        let e = check_processor(forgets, "{}", Flow::PassesThrough)
            .await
            .expect_err("loses what it held");
        assert!(e.contains("items lost"), "{e}");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_processor_that_counts_twice_fails() {
        let twice = processor(
            "twice",
            ConfigSpec::of::<EmptyConfig>(),
            |ctx: &BuildContext, _, next| {
                Ok(Arc::new(CountsTwice {
                    next,
                    dropped: ctx.dropped.clone(),
                }))
            },
        );
        let e = check_processor(twice, "{}", Flow::PassesThrough)
            .await
            .expect_err("counts delivered items as dropped");
        assert!(e.contains("counted twice"), "{e}");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_config_that_takes_unknown_keys_fails() {
        let lenient = processor(
            "lenient",
            ConfigSpec::of::<Lenient>(),
            |_: &BuildContext, _, _| Ok(Arc::new(Forgets(Mutex::new(Vec::new())))),
        );
        let e = check_processor(lenient, "{}", Flow::PassesThrough)
            .await
            .expect_err("unknown keys accepted");
        assert!(e.contains("deny_unknown_fields"), "{e}");
    }
}
