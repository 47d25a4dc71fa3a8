//! For this crate's tests: a receiver in a running service, to the test sink.

use llamacol_api::ReceiverFactory;
use llamacol_pipeline::config::{load, ConfigText};
use llamacol_pipeline::runtime::Service;
use llamacol_pipeline::telemetry::Telemetry;
use llamacol_pipeline::Registry;

/// The service `yaml` describes, with `receiver` and the test sink registered, started.
pub async fn run(receiver: ReceiverFactory, yaml: String) -> Service {
    let registry = Registry::new()
        .receiver(receiver)
        .exporter(llamacol_pipeline::testing::sink_factory());
    let (config, _) = load(
        &[ConfigText {
            name: "t.yaml".into(),
            text: yaml,
        }],
        &registry,
        &|_| None,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut service = Service::build(&config, &registry, Telemetry::new()).expect("build");
    service.start().await.expect("start");
    service
}
