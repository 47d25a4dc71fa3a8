//! Test helpers for component authors and for llamacol's own tests: sample OTLP data,
//! a capturing `sink` exporter, a `source` receiver tests push into, and a `hold`
//! processor that keeps batches until shutdown (to test the drain cascade).
//! Instances are found by the `name` in their config, so a test can reach them.
//! [`external`] finds the real programs (peers) that some tests run beside llamacol.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics,
    ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use serde::Deserialize;

mod external;
pub mod tls;
pub use external::{external_program, find_program, peers_dir};

use crate::batch::Batch;
use crate::component::{
    BuildContext, Exporter, ExporterFactory, Processor, ProcessorFactory, Receiver, ReceiverFactory,
};
use crate::config::{ComponentConfig, ConfigSpec};
use crate::consumer::{BoxError, ConsumeError, Consumer};
use crate::signal::Signal;

pub fn string_attr(key: &str, value: &str) -> KeyValue {
    crate::attributes::string(key, value)
}

fn resource(i: usize) -> Option<Resource> {
    Some(Resource {
        attributes: vec![string_attr("service.name", &format!("svc-{i}"))],
        ..Default::default()
    })
}

fn scope() -> Option<InstrumentationScope> {
    Some(InstrumentationScope {
        name: "llamacol.testing".into(),
        version: "1".into(),
        ..Default::default()
    })
}

/// Damaged copies of an encoded message, for wire readers that must never panic: every
/// truncation, and every byte set to 0x00, 0x80 and 0xff in turn.
pub fn damaged(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = (0..bytes.len()).map(|n| bytes[..n].to_vec()).collect();
    for i in 0..bytes.len() {
        for b in [0x00, 0x80, 0xff] {
            let mut d = bytes.to_vec();
            d[i] = b;
            out.push(d);
        }
    }
    out
}

/// One resource block (no attributes) with one scope holding `spans`.
pub fn traces_of(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// `resources` resource blocks of `spans_per` spans each.
pub fn sample_traces(resources: usize, spans_per: usize) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: (0..resources)
            .map(|r| ResourceSpans {
                resource: resource(r),
                scope_spans: vec![ScopeSpans {
                    scope: scope(),
                    spans: (0..spans_per)
                        .map(|s| Span {
                            trace_id: (r as u128 + 1).to_be_bytes().to_vec(),
                            span_id: (s as u64 + 1).to_be_bytes().to_vec(),
                            name: format!("span-{s}"),
                            start_time_unix_nano: 1_700_000_000_000_000_000,
                            end_time_unix_nano: 1_700_000_000_500_000_000,
                            attributes: vec![string_attr("gen_ai.request.model", "llama-3")],
                            ..Default::default()
                        })
                        .collect(),
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            })
            .collect(),
    }
}

/// `n` metrics per kind: a gauge (1 point), a sum (2 points), a histogram (1 point).
pub fn sample_metrics(n: usize) -> ExportMetricsServiceRequest {
    let point = |v: f64| NumberDataPoint {
        time_unix_nano: 1_700_000_000_000_000_000,
        value: Some(opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsDouble(v)),
        ..Default::default()
    };
    let mut metrics = Vec::new();
    for i in 0..n {
        metrics.push(Metric {
            name: format!("gpu.util.{i}"),
            unit: "1".into(),
            data: Some(metric::Data::Gauge(Gauge {
                data_points: vec![point(0.5)],
            })),
            ..Default::default()
        });
        metrics.push(Metric {
            name: format!("tokens.{i}"),
            unit: "{token}".into(),
            data: Some(metric::Data::Sum(Sum {
                data_points: vec![point(1.0), point(2.0)],
                aggregation_temporality: 2,
                is_monotonic: true,
            })),
            ..Default::default()
        });
        metrics.push(Metric {
            name: format!("latency.{i}"),
            unit: "s".into(),
            data: Some(metric::Data::Histogram(Histogram {
                data_points: vec![HistogramDataPoint {
                    count: 3,
                    sum: Some(1.5),
                    bucket_counts: vec![1, 2, 0],
                    explicit_bounds: vec![0.1, 1.0],
                    ..Default::default()
                }],
                aggregation_temporality: 2,
            })),
            ..Default::default()
        });
    }
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource(0),
            scope_metrics: vec![ScopeMetrics {
                scope: scope(),
                metrics,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

pub fn sample_logs(n: usize) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource(0),
            scope_logs: vec![ScopeLogs {
                scope: scope(),
                log_records: (0..n)
                    .map(|i| LogRecord {
                        time_unix_nano: 1_700_000_000_000_000_000,
                        severity_number: 9,
                        severity_text: "INFO".into(),
                        body: Some(AnyValue {
                            value: Some(any_value::Value::StringValue(format!("log {i}"))),
                        }),
                        ..Default::default()
                    })
                    .collect(),
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

/// A gauge of `points`.
pub fn gauge_metric(name: &str, points: Vec<NumberDataPoint>) -> Metric {
    Metric {
        name: name.into(),
        data: Some(metric::Data::Gauge(
            opentelemetry_proto::tonic::metrics::v1::Gauge {
                data_points: points,
            },
        )),
        ..Default::default()
    }
}

/// A cumulative monotonic sum (a Prometheus counter) of `points`.
pub fn counter_metric(name: &str, points: Vec<NumberDataPoint>) -> Metric {
    Metric {
        name: name.into(),
        data: Some(metric::Data::Sum(
            opentelemetry_proto::tonic::metrics::v1::Sum {
                data_points: points,
                aggregation_temporality:
                    opentelemetry_proto::tonic::metrics::v1::AggregationTemporality::Cumulative
                        as i32,
                is_monotonic: true,
            },
        )),
        ..Default::default()
    }
}

/// The number data points of a gauge or sum (empty for other types).
pub fn number_points(m: &Metric) -> &[NumberDataPoint] {
    match &m.data {
        Some(metric::Data::Gauge(g)) => &g.data_points,
        Some(metric::Data::Sum(s)) => &s.data_points,
        _ => &[],
    }
}

/// A number data point's value as f64 (NaN when unset).
pub fn number_value(p: &NumberDataPoint) -> f64 {
    match p.value {
        Some(opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsDouble(d)) => d,
        Some(opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsInt(i)) => {
            i as f64
        }
        None => f64::NAN,
    }
}

pub use crate::net::free_port;

/// The repository's `testdata/` folder: fixtures no one here wrote (real llama.cpp
/// captures, the OTLP specification's JSON examples), each folder with a README
/// saying where it came from. Nothing outside the repository is ever read.
pub fn fixtures_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata")
}

fn named<T: Default + Send + Sync + 'static>(
    map: &'static OnceLock<Mutex<HashMap<String, Arc<T>>>>,
    name: &str,
) -> Arc<T> {
    let mut all = map
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    all.entry(name.to_string()).or_default().clone()
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NameConfig {
    /// The handle tests use to reach this instance.
    pub name: String,
}

impl ComponentConfig for NameConfig {}

fn name_of(block: &serde_yaml::Value) -> Result<String, BoxError> {
    crate::config::parse::<NameConfig>(block)
        .map(|c| c.name)
        .map_err(|issues| format!("{issues:?}").into())
}

/// The `next` of a component under test: keeps every batch it is given, and takes it.
#[derive(Default)]
pub struct Capture {
    batches: Mutex<Vec<Batch>>,
}

impl Capture {
    /// Every batch so far, in order.
    pub fn batches(&self) -> Vec<Batch> {
        self.batches
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The latest batch, if any.
    pub fn last(&self) -> Option<Batch> {
        self.batches
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .last()
            .cloned()
    }
}

#[async_trait]
impl Consumer for Capture {
    async fn consume(&self, batch: Batch) -> Result<(), ConsumeError> {
        self.batches
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(batch);
        Ok(())
    }
}

/// Captures everything exported to it. Can be told to stall (never return) or to fail.
#[derive(Default)]
pub struct Sink {
    batches: Mutex<Vec<Batch>>,
    items: [AtomicUsize; 3],
    stalled: AtomicBool,
    fail_retryable: AtomicUsize,
    fail_permanent: AtomicBool,
    attempts: AtomicUsize,
    changed: tokio::sync::Notify,
}

static SINKS: OnceLock<Mutex<HashMap<String, Arc<Sink>>>> = OnceLock::new();

impl Sink {
    pub fn named(name: &str) -> Arc<Sink> {
        named(&SINKS, name)
    }

    pub fn items(&self, signal: Signal) -> usize {
        self.items[signal as usize].load(Ordering::SeqCst)
    }

    pub fn batches(&self) -> Vec<Batch> {
        self.batches
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Export calls seen, including failed ones.
    pub fn attempts(&self) -> usize {
        self.attempts.load(Ordering::SeqCst)
    }

    /// While stalled, every export call hangs.
    pub fn stall(&self, stalled: bool) {
        self.stalled.store(stalled, Ordering::SeqCst);
        self.changed.notify_waiters();
    }

    /// The next `n` exports fail with a retryable error.
    pub fn fail_next(&self, n: usize) {
        self.fail_retryable.store(n, Ordering::SeqCst);
    }

    /// Every export fails with a permanent error.
    pub fn fail_permanently(&self, on: bool) {
        self.fail_permanent.store(on, Ordering::SeqCst);
    }

    /// Waits until at least `n` items of `signal` arrived; false on timeout.
    pub async fn wait_for(&self, signal: Signal, n: usize, timeout: Duration) -> bool {
        tokio::time::timeout(timeout, async {
            loop {
                let notified = self.changed.notified();
                if self.items(signal) >= n {
                    return;
                }
                notified.await;
            }
        })
        .await
        .is_ok()
    }
}

struct SinkExporter(Arc<Sink>);

#[derive(Debug, thiserror::Error)]
#[error("sink told to fail")]
struct SinkFailure;

#[async_trait]
impl Exporter for SinkExporter {
    async fn export(&self, batch: &mut Batch) -> Result<(), ConsumeError> {
        let sink = &self.0;
        sink.attempts.fetch_add(1, Ordering::SeqCst);
        while sink.stalled.load(Ordering::SeqCst) {
            let notified = sink.changed.notified();
            if !sink.stalled.load(Ordering::SeqCst) {
                break;
            }
            notified.await;
        }
        if sink.fail_permanent.load(Ordering::SeqCst) {
            return Err(ConsumeError::permanent(SinkFailure));
        }
        if sink
            .fail_retryable
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(ConsumeError::retryable(SinkFailure));
        }
        sink.items[batch.signal() as usize].fetch_add(batch.items(), Ordering::SeqCst);
        sink.batches
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(batch.clone());
        sink.changed.notify_waiters();
        Ok(())
    }
}

pub fn sink_factory() -> ExporterFactory {
    ExporterFactory {
        type_name: "sink",
        signals: &Signal::ALL,
        config: ConfigSpec::of::<NameConfig>(),
        build: |_, block| Ok(Arc::new(SinkExporter(Sink::named(&name_of(block)?)))),
    }
}

/// A receiver tests push batches into, as a network client would.
#[derive(Default)]
pub struct Source {
    next: Mutex<Option<Arc<dyn Consumer>>>,
}

static SOURCES: OnceLock<Mutex<HashMap<String, Arc<Source>>>> = OnceLock::new();

#[derive(Debug, thiserror::Error)]
#[error("source receiver not started")]
struct NotStarted;

impl Source {
    pub fn named(name: &str) -> Arc<Source> {
        named(&SOURCES, name)
    }

    /// Sends one batch down the pipelines, returning what a client would be told.
    pub async fn send(&self, batch: impl Into<Batch>) -> Result<(), ConsumeError> {
        let next = self
            .next
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        match next {
            Some(next) => next.consume(batch.into()).await,
            None => Err(ConsumeError::retryable(NotStarted)),
        }
    }
}

struct SourceReceiver(Arc<Source>);

#[async_trait]
impl Receiver for SourceReceiver {
    async fn start(&mut self, next: Arc<dyn Consumer>) -> Result<(), BoxError> {
        *self.0.next.lock().unwrap_or_else(PoisonError::into_inner) = Some(next);
        Ok(())
    }
    async fn shutdown(&mut self) -> Result<(), BoxError> {
        self.0
            .next
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        Ok(())
    }
}

pub fn source_factory() -> ReceiverFactory {
    ReceiverFactory {
        type_name: "source",
        signals: &Signal::ALL,
        config: ConfigSpec::of::<NameConfig>(),
        build: |_, block| Ok(Box::new(SourceReceiver(Source::named(&name_of(block)?)))),
    }
}

/// Holds every batch until shutdown, then flushes them downstream.
struct HoldProcessor {
    next: Arc<dyn Consumer>,
    held: Mutex<Vec<Batch>>,
}

#[async_trait]
impl Consumer for HoldProcessor {
    async fn consume(&self, batch: Batch) -> Result<(), ConsumeError> {
        self.held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(batch);
        Ok(())
    }
}

#[async_trait]
impl Processor for HoldProcessor {
    async fn shutdown(&self) -> Result<(), BoxError> {
        let held = std::mem::take(&mut *self.held.lock().unwrap_or_else(PoisonError::into_inner));
        for batch in held {
            self.next.consume(batch).await?;
        }
        Ok(())
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmptyConfig {}

impl ComponentConfig for EmptyConfig {}

pub fn hold_factory() -> ProcessorFactory {
    ProcessorFactory {
        type_name: "hold",
        signals: &Signal::ALL,
        config: ConfigSpec::of::<EmptyConfig>(),
        build: |_: &BuildContext, _, next| {
            Ok(Arc::new(HoldProcessor {
                next,
                held: Mutex::new(Vec::new()),
            }))
        },
    }
}
