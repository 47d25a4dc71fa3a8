use llamacol_api::{Kind, Signal};
use llamacol_pipeline::config::{load, ConfigText};
use llamacol_pipeline::runtime::Service;
use llamacol_pipeline::telemetry::Telemetry;
use llamacol_pipeline::testing::{registry, sample_traces, Sink, Source};
use llamacol_pipeline::Registry;

fn with_forward() -> Registry {
    registry().connector(super::factory())
}

/// Three pipelines chained by two connectors, each holding its data until shutdown: the
/// data reaches the sink only if every stage stops after the ones that feed it.
#[tokio::test]
async fn chained_pipelines_deliver_everything_and_stop_upstream_first() {
    let yaml = r#"
receivers:
  source: {name: fwd-src}
processors:
  hold:
  hold/2:
  hold/3:
connectors:
  forward:
  forward/2:
exporters:
  sink: {name: fwd-out}
  sink/direct: {name: fwd-direct}
service:
  telemetry: {admin: {endpoint: "127.0.0.1:0"}}
  pipelines:
    traces/out: {receivers: [forward/2], processors: [hold/3], exporters: [sink]}
    traces/mid: {receivers: [forward], processors: [hold/2], exporters: [forward/2]}
    traces/in: {receivers: [source], processors: [hold], exporters: [forward, sink/direct]}
"#;
    let sources = [ConfigText {
        name: "forward.yaml".into(),
        text: yaml.into(),
    }];
    let (config, warnings) =
        load(&sources, &with_forward(), &|_| None).unwrap_or_else(|e| panic!("{e}"));
    assert!(warnings.is_empty(), "{warnings:?}");
    let telemetry = Telemetry::new();
    let mut service = Service::build(&config, &with_forward(), telemetry.clone())
        .unwrap_or_else(|e| panic!("{e}"));
    service.start().await.expect("start");
    for _ in 0..3 {
        Source::named("fwd-src")
            .send(sample_traces(1, 4))
            .await
            .expect("accepted");
    }
    assert_eq!(Sink::named("fwd-out").items(Signal::Traces), 0, "held");
    let report = service.shutdown().await;
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(Sink::named("fwd-out").items(Signal::Traces), 12);
    assert_eq!(Sink::named("fwd-direct").items(Signal::Traces), 12);
    let count = |component: &str, pipeline: Option<&str>| -> u64 {
        telemetry
            .snapshot()
            .into_iter()
            .filter(|(s, _)| {
                s.kind == Kind::Connector
                    && s.component == component
                    && s.pipeline.as_deref() == pipeline
            })
            .map(|(_, v)| v[0])
            .sum()
    };
    assert_eq!(
        count("forward", Some("traces/in")),
        12,
        "taken from traces/in"
    );
    assert_eq!(count("forward", None), 12, "handed to traces/mid");
    assert_eq!(count("forward/2", Some("traces/mid")), 12);
    assert!(telemetry
        .render()
        .contains("llamacol_connector_accepted_items_total{component=\"forward\",signal=\"traces\",pipeline=\"traces/in\"} 12"));
}
