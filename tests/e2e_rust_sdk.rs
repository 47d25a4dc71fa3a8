//! The real binary, fed by the `opentelemetry-otlp` Rust SDK (a client no one here wrote)
//! over gRPC and over HTTP/protobuf; checked at the file exporter after SIGTERM.

mod common;

use common::{attr, lines, metrics, spans, Collector};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::{Span as _, Status, Tracer as _, TracerProvider as _};
use opentelemetry::KeyValue;
use opentelemetry_otlp::{MetricExporter, SpanExporter, WithExportConfig};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;

fn send_spans(exporter: SpanExporter, transport: &str, n: usize) {
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name(format!("sdk-{transport}"))
                .build(),
        )
        .build();
    let tracer = provider.tracer("e2e");
    for i in 0..n {
        let mut span = tracer.start(format!("chat {transport}"));
        span.set_attribute(KeyValue::new("llm.model", "llama-3-8b"));
        span.set_attribute(KeyValue::new("llm.usage.input_tokens", 100 + i as i64));
        if i == 0 {
            span.set_status(Status::error("model overloaded"));
        }
        span.end();
    }
    provider.shutdown().expect("tracer provider shutdown");
}

fn send_metrics(exporter: MetricExporter) {
    let provider = SdkMeterProvider::builder()
        .with_periodic_exporter(exporter)
        .with_resource(Resource::builder().with_service_name("sdk-metrics").build())
        .build();
    let meter = provider.meter("e2e");
    let tokens = meter.u64_counter("llm.tokens").build();
    tokens.add(42, &[KeyValue::new("llm.model", "llama-3-8b")]);
    let latency = meter.f64_histogram("llm.latency").with_unit("s").build();
    latency.record(0.25, &[]);
    latency.record(1.5, &[]);
    provider.shutdown().expect("meter provider shutdown");
}

#[test]
fn rust_sdk_over_grpc_and_http_reaches_the_file_exporter() {
    // The SDK's HTTP client is reqwest 0.13, which in this workspace takes the process's
    // rustls provider (see the workspace Cargo.toml): ring, as llamacol installs it.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut collector = Collector::start("configs/otlp-to-file.yaml");
    let grpc = format!("http://127.0.0.1:{}", collector.grpc);
    let http = format!("http://127.0.0.1:{}", collector.http);

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let exporter = SpanExporter::builder()
            .with_tonic()
            .with_endpoint(grpc.clone())
            .build()
            .expect("grpc exporter");
        tokio::task::spawn_blocking(move || send_spans(exporter, "grpc", 4))
            .await
            .expect("grpc spans");
        let exporter = MetricExporter::builder()
            .with_tonic()
            .with_endpoint(grpc.clone())
            .build()
            .expect("grpc metrics");
        tokio::task::spawn_blocking(move || send_metrics(exporter))
            .await
            .expect("grpc metrics");
        // The SDK's async HTTP client needs the runtime too.
        let exporter = SpanExporter::builder()
            .with_http()
            .with_endpoint(format!("{http}/v1/traces"))
            .build()
            .expect("http exporter");
        tokio::task::spawn_blocking(move || send_spans(exporter, "http", 3))
            .await
            .expect("http spans");
    });

    let (status, took) = collector.terminate();
    assert!(status.success(), "exit {status}: {}", collector.stderr());
    assert!(took.as_secs() < 10, "shutdown took {took:?}");

    let written = lines(&collector.file);
    let spans = spans(&written);
    let by_transport = |t: &str| {
        spans
            .iter()
            .filter(|s| s["name"] == format!("chat {t}"))
            .count()
    };
    assert_eq!(
        (by_transport("grpc"), by_transport("http")),
        (4, 3),
        "exact span counts"
    );
    let first = spans
        .iter()
        .find(|s| s["name"] == "chat grpc")
        .expect("grpc span");
    assert_eq!(attr(first, "llm.model").as_deref(), Some("llama-3-8b"));
    assert!(spans
        .iter()
        .any(|s| s["status"]["code"] == 2 && s["status"]["message"] == "model overloaded"));
    let tokens: Vec<_> = spans
        .iter()
        .filter_map(|s| attr(s, "llm.usage.input_tokens"))
        .collect();
    assert!(tokens.contains(&"103".to_string()), "{tokens:?}");

    let metrics = metrics(&written);
    let counter = metrics
        .iter()
        .find(|m| m["name"] == "llm.tokens")
        .expect("counter");
    assert_eq!(counter["sum"]["dataPoints"][0]["asInt"], "42");
    assert_eq!(counter["sum"]["isMonotonic"], true);
    let histogram = metrics
        .iter()
        .find(|m| m["name"] == "llm.latency")
        .expect("histogram");
    assert_eq!(histogram["histogram"]["dataPoints"][0]["count"], "2");
    assert_eq!(histogram["unit"], "s");
}
