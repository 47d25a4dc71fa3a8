//! `parquet` exporter (traces, metrics, logs): fixed, documented tables (`schema.rs`)
//! written with `arrow` and `parquet` into hive-partitioned files
//! (`<path>/<signal>/date=YYYY-MM-DD/hour=HH/part-<unix-ms>-<id>.parquet`, by the data's
//! time; the arrival time when an item has none), closed atomically (`writer.rs`) by size
//! or age and at shutdown, into a local directory or an object store (`remote.rs`:
//! S3, GCS, Azure Blob).

mod config;
mod raw;
mod remote;
mod schema;
mod spans;
mod writer;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use llamacol_api::clock::unix_nanos as now_nanos;
use llamacol_api::config::{parse_block, ConfigSpec};
use llamacol_api::log_once::LogOnce;
use llamacol_api::otlp::metrics::v1::metric::Data;
use llamacol_api::serde_yaml::Value;
use llamacol_api::task::Background;
use llamacol_api::{
    Batch, BoxError, BuildContext, ConsumeError, Exporter, ExporterFactory, Signal,
};
use prost::Message;

pub use config::{ParquetCompression, ParquetConfig};
use schema::{LogRow, Point, PointRow};
use writer::{partition, remove_leftovers, Files};

use llamacol_api::repeated::Repeated;

pub fn factory() -> ExporterFactory {
    ExporterFactory {
        type_name: "parquet",
        signals: &Signal::ALL,
        config: ConfigSpec::of::<ParquetConfig>(),
        build,
    }
}

fn build(ctx: &BuildContext, block: &Value) -> Result<Arc<dyn Exporter>, BoxError> {
    let config = parse_block::<ParquetConfig>(block)?;
    let id = ctx.id.to_string();
    let remote = if config.path.contains("://") {
        let staging = config.staging_directory.clone().map_or_else(
            || std::env::temp_dir().join(format!("llamacol-parquet-{}", id.replace('/', "-"))),
            std::path::PathBuf::from,
        );
        Some(Arc::new(remote::Remote::new(&config.path, staging)?))
    } else {
        None
    };
    let root = remote.as_ref().map_or_else(
        || std::path::PathBuf::from(&config.path),
        |r| r.staging.clone(),
    );
    Ok(Arc::new(ParquetExporter {
        files: Arc::new(Mutex::new(Files::new(&config, root.clone())?)),
        root,
        remote,
        ticker: Background::new(),
        failures: LogOnce::new(),
        config,
        id,
    }))
}

pub struct ParquetExporter {
    id: String,
    config: ParquetConfig,
    /// Where files are written: `path`, or the staging directory for object storage.
    root: std::path::PathBuf,
    /// Uploads closed files when `path` is an object storage URL.
    remote: Option<Arc<remote::Remote>>,
    files: Arc<Mutex<Files>>,
    /// Closes files past `max_file_age` even when no data comes.
    ticker: Background,
    failures: LogOnce,
}

/// The data's time, else the arrival time.
fn time_or_now(ns: u64, now: u64) -> u64 {
    if ns == 0 {
        now
    } else {
        ns
    }
}

#[async_trait]
impl Exporter for ParquetExporter {
    async fn start(&self) -> Result<(), BoxError> {
        let removed = remove_leftovers(&self.root);
        if removed > 0 {
            tracing::warn!(component = %self.id, removed, path = %self.root.display(), "removed unfinished .parquet.tmp files left by an earlier run that did not shut down");
        }
        if let Some(remote) = &self.remote {
            // Closed files an earlier run staged and did not upload.
            let uploaded = remote.upload_staged(&self.id, true).await;
            if uploaded > 0 {
                tracing::info!(component = %self.id, uploaded, "uploaded files staged by an earlier run");
            }
        }
        let files = self.files.clone();
        let remote = self.remote.clone();
        let id = self.id.clone();
        let every = self.config.max_file_age.min(Duration::from_secs(1));
        self.ticker.spawn(move |cancel| async move {
            loop {
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = tokio::time::sleep(every) => {}
                }
                let result = files
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .close_old();
                if let Err(e) = result {
                    tracing::warn!(component = %id, error = %e, "could not close a parquet file");
                }
                if let Some(remote) = &remote {
                    remote.upload_staged(&id, false).await;
                }
            }
        });
        Ok(())
    }

    async fn export(&self, batch: &mut Batch) -> Result<(), ConsumeError> {
        let now = now_nanos();
        let result = match batch {
            Batch::Traces(p) => {
                // Read in place (`raw`): a batch another component decoded is encoded once.
                let bytes = p.bytes();
                // A batch whose table cannot be built never will be: refused, not retried
                // (the queue logs it and counts it as failed).
                let tables = spans::tables(&bytes, p.items(), now).map_err(|e| {
                    ConsumeError::permanent(format!("building the spans table: {e}"))
                })?;
                self.write_tables("traces", tables)
            }
            Batch::Logs(p) => {
                let request = p.message().map_err(ConsumeError::permanent)?;
                let mut parts: BTreeMap<String, Vec<LogRow>> = BTreeMap::new();
                let mut repeated = repeated_text();
                for rl in &request.resource_logs {
                    let resource = rl.resource.as_ref().map_or(0, Message::encoded_len);
                    for sl in &rl.scope_logs {
                        let scope = sl.scope.as_ref().map_or(0, Message::encoded_len);
                        repeated
                            .add("log record", resource + scope, sl.log_records.len())
                            .map_err(ConsumeError::permanent)?;
                        for record in &sl.log_records {
                            let t = if record.time_unix_nano != 0 {
                                record.time_unix_nano
                            } else {
                                record.observed_time_unix_nano
                            };
                            parts
                                .entry(partition(time_or_now(t, now)))
                                .or_default()
                                .push(LogRow {
                                    resource: rl.resource.as_ref(),
                                    scope: sl.scope.as_ref(),
                                    record,
                                });
                        }
                    }
                }
                let tables = tables_of(parts, |rows| schema::logs(rows))?;
                self.write_tables("logs", tables)
            }
            Batch::Metrics(p) => {
                let request = p.message().map_err(ConsumeError::permanent)?;
                let mut parts: BTreeMap<String, Vec<PointRow>> = BTreeMap::new();
                let mut repeated = repeated_text();
                for rm in &request.resource_metrics {
                    let resource = rm.resource.as_ref().map_or(0, Message::encoded_len);
                    for sm in &rm.scope_metrics {
                        let scope = sm.scope.as_ref().map_or(0, Message::encoded_len);
                        for metric in &sm.metrics {
                            let points: Vec<(u64, Point)> = match &metric.data {
                                Some(Data::Gauge(g)) => g
                                    .data_points
                                    .iter()
                                    .map(|p| (p.time_unix_nano, Point::Number(p)))
                                    .collect(),
                                Some(Data::Sum(s)) => s
                                    .data_points
                                    .iter()
                                    .map(|p| (p.time_unix_nano, Point::Number(p)))
                                    .collect(),
                                Some(Data::Histogram(h)) => h
                                    .data_points
                                    .iter()
                                    .map(|p| (p.time_unix_nano, Point::Histogram(p)))
                                    .collect(),
                                Some(Data::ExponentialHistogram(h)) => h
                                    .data_points
                                    .iter()
                                    .map(|p| (p.time_unix_nano, Point::Exponential(p)))
                                    .collect(),
                                Some(Data::Summary(s)) => s
                                    .data_points
                                    .iter()
                                    .map(|p| (p.time_unix_nano, Point::Summary(p)))
                                    .collect(),
                                None => Vec::new(),
                            };
                            // Each point also repeats its metric's name, unit and description.
                            let metric_text =
                                metric.name.len() + metric.unit.len() + metric.description.len();
                            repeated
                                .add("data point", resource + scope + metric_text, points.len())
                                .map_err(ConsumeError::permanent)?;
                            for (time, point) in points {
                                parts
                                    .entry(partition(time_or_now(time, now)))
                                    .or_default()
                                    .push(PointRow {
                                        resource: rm.resource.as_ref(),
                                        scope: sm.scope.as_ref(),
                                        metric,
                                        point,
                                    });
                            }
                        }
                    }
                }
                let tables = tables_of(parts, |rows| schema::metrics(rows))?;
                self.write_tables("metrics", tables)
            }
        };
        match result {
            Ok(()) => {
                if self.failures.cleared() {
                    tracing::info!(component = %self.id, "parquet files are being written again");
                }
                Ok(())
            }
            Err(e) => {
                let message = format!("writing parquet under `{}`: {e}", self.config.path);
                if self.failures.is_new(&message) {
                    tracing::error!(component = %self.id, error = %message, "cannot write; retrying (logged once until it works)");
                }
                // A full disk or a permission problem can pass: retried by the queue.
                Err(ConsumeError::retryable(message))
            }
        }
    }

    async fn shutdown(&self) -> Result<(), BoxError> {
        self.ticker.stop().await;
        self.files
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .close_all()?;
        if let Some(remote) = &self.remote {
            remote.upload_staged(&self.id, true).await;
            let left = remote::staged_count(&remote.staging);
            if left > 0 {
                tracing::warn!(component = %self.id, files = left, staging = %remote.staging.display(), "files not uploaded at shutdown stay staged and are uploaded at the next start");
            }
        }
        Ok(())
    }
}

impl ParquetExporter {
    /// Appends each partition's table to its open file.
    fn write_tables(
        &self,
        signal: &str,
        tables: Vec<(String, arrow::array::RecordBatch)>,
    ) -> std::io::Result<()> {
        let mut files = self.files.lock().unwrap_or_else(PoisonError::into_inner);
        for (partition, batch) in tables {
            files.write(signal, &partition, &batch)?;
        }
        Ok(())
    }
}

/// Each partition's table; a table that cannot be built never will be, so the batch is
/// refused, not retried (the queue logs it and counts it as failed).
fn tables_of<R>(
    parts: BTreeMap<String, Vec<R>>,
    table: impl Fn(&[R]) -> Result<arrow::array::RecordBatch, arrow::error::ArrowError>,
) -> Result<Vec<(String, arrow::array::RecordBatch)>, ConsumeError> {
    parts
        .into_iter()
        .map(|(partition, rows)| Ok((partition, table(&rows)?)))
        .collect::<Result<Vec<_>, arrow::error::ArrowError>>()
        .map_err(|e| ConsumeError::permanent(format!("building the table: {e}")))
}

/// The resource and scope text a batch's rows repeat (every row carries them), bounded
/// as the spans table bounds it; a batch past the bound is refused, not retried.
fn repeated_text() -> Repeated {
    Repeated::new(spans::REPEATED_TEXT)
}

#[cfg(test)]
mod tests;
