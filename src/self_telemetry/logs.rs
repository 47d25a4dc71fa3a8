//! `service.telemetry.logs.processors`: llamacol's own log events pushed as OTLP log
//! records. A layer turns each event into a record and hands it to a bounded channel (a
//! full channel drops the record and counts it: logging never waits on the network); a
//! task sends them in batches (`batch`) or one by one (`simple`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use llamacol_api::log_once::LogOnce;
use llamacol_api::otlp::collector::logs::v1::ExportLogsServiceRequest;
use llamacol_api::otlp::common::v1::{any_value, AnyValue, KeyValue};
use llamacol_api::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use llamacol_api::{Batch, BoxError, Exporter, Signal};
use llamacol_pipeline::config::LogProcessor;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

use super::otlp;

/// Hands every event (but this module's own) to one push.
pub struct LogLayer {
    tx: mpsc::Sender<LogRecord>,
    dropped: Arc<AtomicU64>,
}

/// One `logs.processors` entry: where its records go and how they are grouped.
pub struct LogPush {
    rx: mpsc::Receiver<LogRecord>,
    processor: LogProcessor,
    index: usize,
    dropped: Arc<AtomicU64>,
}

/// The layer and the push of `processor` (the `index`th).
pub fn pair(processor: LogProcessor, index: usize) -> (LogLayer, LogPush) {
    let capacity = processor
        .batch
        .as_ref()
        .map_or(2048, |b| b.max_queue_size.max(1));
    let (tx, rx) = mpsc::channel(capacity);
    let dropped = Arc::new(AtomicU64::new(0));
    (
        LogLayer {
            tx,
            dropped: dropped.clone(),
        },
        LogPush {
            rx,
            processor,
            index,
            dropped,
        },
    )
}

impl<S: Subscriber> Layer<S> for LogLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        if meta.target().starts_with(super::TARGET) {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let (number, text) = severity(*meta.level());
        let now = otlp::now_nanos();
        let mut attributes = fields.attributes;
        attributes.push(otlp::string_attribute("code.namespace", meta.target()));
        let record = LogRecord {
            time_unix_nano: now,
            observed_time_unix_nano: now,
            severity_number: number,
            severity_text: text.into(),
            body: Some(AnyValue {
                value: Some(any_value::Value::StringValue(fields.message)),
            }),
            attributes,
            ..LogRecord::default()
        };
        if self.tx.try_send(record).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// OpenTelemetry's severity numbers for tracing's levels.
fn severity(level: Level) -> (i32, &'static str) {
    match level {
        Level::TRACE => (1, "TRACE"),
        Level::DEBUG => (5, "DEBUG"),
        Level::INFO => (9, "INFO"),
        Level::WARN => (13, "WARN"),
        Level::ERROR => (17, "ERROR"),
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    attributes: Vec<KeyValue>,
}

impl Fields {
    fn put(&mut self, field: &Field, value: any_value::Value) {
        self.attributes.push(KeyValue {
            key: field.name().into(),
            value: Some(AnyValue { value: Some(value) }),
            ..KeyValue::default()
        });
    }
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let text = format!("{value:?}");
        if field.name() == "message" {
            self.message = text;
        } else {
            self.put(field, any_value::Value::StringValue(text));
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_string();
        } else {
            self.put(field, any_value::Value::StringValue(value.into()));
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, any_value::Value::IntValue(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, any_value::Value::IntValue(value as i64));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, any_value::Value::DoubleValue(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, any_value::Value::BoolValue(value));
    }
}

impl LogPush {
    /// Builds the exporter (an error names the place in the config).
    pub fn exporter(&self) -> Result<Option<Arc<dyn Exporter>>, BoxError> {
        let place = format!("service.telemetry.logs.processors[{}]", self.index);
        let Some((protocol, push)) = self
            .processor
            .exporter()
            .and_then(|e| e.target())
            .map_err(|e| format!("{place}: {e}"))?
        else {
            // `console`: the records are llamacol's log lines already.
            return Ok(None);
        };
        otlp::exporter("telemetry/logs", protocol, push, Signal::Logs)
            .map(Some)
            .map_err(|e| format!("{place}.exporter: {e}").into())
    }

    /// Sends records until `cancel`, then what is left, within `export_timeout` each; at
    /// the end says how many were not delivered (queue full, push failed).
    pub async fn run(
        mut self,
        exporter: Arc<dyn Exporter>,
        resource: Vec<(String, String)>,
        cancel: CancellationToken,
    ) {
        let (delay, max, timeout) = match &self.processor.batch {
            Some(b) => (
                Duration::from_millis(b.schedule_delay),
                b.max_export_batch_size.max(1),
                Duration::from_millis(b.export_timeout),
            ),
            None => (Duration::ZERO, 1, Duration::from_secs(30)),
        };
        let resource = otlp::resource(&resource);
        let failures = LogOnce::new();
        let mut pending = Vec::new();
        // Records whose push failed (each failure logged once per distinct error).
        let mut failed = 0u64;
        if let Err(e) = exporter.start().await {
            tracing::warn!(target: super::TARGET, error = %e, "cannot start the OTLP exporter of service.telemetry.logs.processors; llamacol's logs are not pushed");
            return;
        }
        loop {
            let done = tokio::select! {
                record = self.rx.recv() => match record {
                    Some(r) => { pending.push(r); false }
                    None => true,
                },
                () = cancel.cancelled() => true,
            };
            if !done && pending.len() < max {
                // Wait for more up to the schedule delay.
                let deadline = tokio::time::Instant::now() + delay;
                while pending.len() < max {
                    match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                        Ok(Some(r)) => pending.push(r),
                        _ => break,
                    }
                }
            }
            if done {
                while let Ok(r) = self.rx.try_recv() {
                    pending.push(r);
                }
            }
            while !pending.is_empty() {
                let rest = pending.split_off(pending.len().min(max));
                let records = std::mem::replace(&mut pending, rest);
                let count = records.len() as u64;
                if !send(exporter.as_ref(), &resource, records, timeout, &failures).await {
                    failed += count;
                }
            }
            if done {
                break;
            }
        }
        let dropped = self.dropped.load(Ordering::Relaxed);
        if dropped + failed > 0 {
            tracing::warn!(target: super::TARGET, queue_full = dropped, push_failed = failed, "llamacol's own log records not delivered: the push queue was full (max_queue_size), or the push failed");
        }
        let _ = exporter.shutdown().await;
    }
}

async fn send(
    exporter: &dyn Exporter,
    resource: &llamacol_api::otlp::resource::v1::Resource,
    records: Vec<LogRecord>,
    timeout: Duration,
    failures: &LogOnce,
) -> bool {
    let request = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(resource.clone()),
            scope_logs: vec![ScopeLogs {
                scope: Some(otlp::scope()),
                log_records: records,
                ..ScopeLogs::default()
            }],
            ..ResourceLogs::default()
        }],
    };
    let mut batch = Batch::from(request);
    let error = match tokio::time::timeout(timeout, exporter.export(&mut batch)).await {
        Ok(Ok(())) => return true,
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("no answer within export_timeout ({timeout:?})"),
    };
    if failures.is_new(&error) {
        tracing::warn!(target: super::TARGET, %error, "pushing llamacol's logs failed (service.telemetry.logs.processors); those records are dropped and counted");
    }
    false
}
