//! `prometheusremotewrite` exporter: pushes metrics to a Prometheus remote-write 1.0
//! endpoint (snappy-compressed protobuf `WriteRequest`). Translation and delta
//! accumulation are the `prometheus` exporter's; each request carries the series the
//! batch touched, samples sorted by time. Retries go through the pipeline's queue:
//! 5xx and 429 are retryable, other 4xx permanent.

mod config;
mod proto;

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use llamacol_api::config::{parse_block, ConfigSpec};
use llamacol_api::serde_yaml::Value;
use llamacol_api::{
    Batch, BoxError, BuildContext, ConsumeError, Exporter, ExporterFactory, Signal,
};
use prost::Message;

pub use config::{RemoteWriteConfig, TargetInfo};
pub use proto::{Label, Sample, TimeSeries, WriteRequest};

use crate::prometheus::model::observe::{cumulative_buckets, Options, Value as PointValue};
use crate::prometheus::model::Ingest;
use llamacol_api::exposition::number;
use llamacol_api::http::{classify, parse_retry_after, read_refusal};

/// Accumulated series not updated for this long are forgotten (bounds the memory that
/// delta-to-cumulative needs).
const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);

pub fn factory() -> ExporterFactory {
    ExporterFactory {
        type_name: "prometheusremotewrite",
        signals: &[Signal::Metrics],
        config: ConfigSpec::of::<RemoteWriteConfig>(),
        build,
    }
}

fn build(ctx: &BuildContext, block: &Value) -> Result<Arc<dyn Exporter>, BoxError> {
    let config = parse_block::<RemoteWriteConfig>(block)?;
    Ok(Arc::new(RemoteWriteExporter {
        id: ctx.id.to_string(),
        client: llamacol_api::http::client(config.timeout, &config.tls, &config.headers)?,
        auth: ctx.auth.resolve(config.auth.as_ref())?,
        options: config.options(),
        ingest: Ingest::new(ctx.dropped.clone()),
        learned_limit: AtomicUsize::new(usize::MAX),
        config,
    }))
}

pub struct RemoteWriteExporter {
    id: String,
    config: RemoteWriteConfig,
    options: Options,
    client: reqwest::Client,
    ingest: Ingest,
    auth: Option<Arc<dyn llamacol_api::auth::Authenticator>>,
    /// Half the size of the smallest request the endpoint refused with 413.
    learned_limit: AtomicUsize,
}

impl RemoteWriteExporter {
    /// The series of one batch, labels sorted, samples sorted by timestamp.
    fn write_request(&self, batch: &mut Batch) -> Result<WriteRequest, ConsumeError> {
        let applied = self.ingest.ingest(&self.id, batch, &self.options)?;
        self.ingest
            .store
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .expire(Instant::now(), FORGET_AFTER);
        let mut series: BTreeMap<Vec<Label>, Vec<Sample>> = BTreeMap::new();
        for (obs, point) in applied {
            let mut add = |suffix: &str, extra: Option<(&str, String)>, value: f64| {
                let mut labels: Vec<Label> = obs
                    .labels
                    .iter()
                    .map(|(k, v)| Label {
                        name: k.clone(),
                        value: v.clone(),
                    })
                    .collect();
                labels.push(Label {
                    name: "__name__".into(),
                    value: format!("{}{suffix}", obs.name),
                });
                if let Some((k, v)) = &extra {
                    labels.push(Label {
                        name: (*k).to_string(),
                        value: v.clone(),
                    });
                }
                for (k, v) in &self.config.external_labels {
                    if !labels.iter().any(|l| &l.name == k) {
                        labels.push(Label {
                            name: k.clone(),
                            value: v.clone(),
                        });
                    }
                }
                labels.sort();
                series.entry(labels).or_default().push(Sample {
                    value,
                    timestamp: point.time_ms,
                });
            };
            match &point.value {
                PointValue::Number(v) => add("", None, *v),
                PointValue::Histogram {
                    count,
                    sum,
                    bounds,
                    counts,
                } => {
                    for (le, cumulative) in cumulative_buckets(bounds, counts) {
                        add("_bucket", Some(("le", le)), cumulative as f64);
                    }
                    if let Some(s) = sum {
                        add("_sum", None, *s);
                    }
                    add("_count", None, *count as f64);
                }
                PointValue::Summary {
                    count,
                    sum,
                    quantiles,
                } => {
                    for (q, v) in quantiles {
                        add("", Some(("quantile", number(*q))), *v);
                    }
                    add("_sum", None, *sum);
                    add("_count", None, *count as f64);
                }
            }
        }
        let timeseries = series
            .into_iter()
            .map(|(labels, mut samples)| {
                samples.sort_by_key(|s| s.timestamp);
                samples.dedup_by_key(|s| s.timestamp);
                TimeSeries { labels, samples }
            })
            .collect();
        Ok(WriteRequest { timeseries })
    }
}

#[async_trait]
impl Exporter for RemoteWriteExporter {
    /// The batch's series, in requests of at most `max_batch_size_bytes` (or the smaller
    /// size learned from a 413). Cut here, after translation, not by the queue: the queue
    /// would export the pieces again, and translating a batch twice would count its
    /// deltas twice.
    async fn export(&self, batch: &mut Batch) -> Result<(), ConsumeError> {
        let request = self.write_request(batch)?;
        let limit = self
            .config
            .max_batch_size_bytes
            .min(self.learned_limit.load(Ordering::Relaxed));
        let mut pending: VecDeque<WriteRequest> = chunks(request.timeseries, limit).into();
        while let Some(request) = pending.pop_front() {
            match self.post(&request).await {
                Ok(()) => {}
                Err(e) if e.too_large().is_some() && request.timeseries.len() > 1 => {
                    let size = request.encoded_len();
                    if size / 2 < self.learned_limit.fetch_min(size / 2, Ordering::Relaxed) {
                        tracing::warn!(component = %self.id, refused_bytes = size, error = %e, "remote-write endpoint refused a request for its size; sending requests of at most {} bytes from now on", size / 2);
                    }
                    let mut first = request.timeseries;
                    let second = first.split_off(first.len() / 2);
                    pending.push_front(WriteRequest { timeseries: second });
                    pending.push_front(WriteRequest { timeseries: first });
                }
                // One series alone too large: the queue must not cut and translate again.
                Err(e) if e.too_large().is_some() => return Err(ConsumeError::permanent(e)),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// `series` in requests of at most `limit` encoded bytes, in order; a series larger than
/// the limit goes alone.
fn chunks(series: Vec<TimeSeries>, limit: usize) -> Vec<WriteRequest> {
    let mut out = Vec::new();
    let mut current = WriteRequest::default();
    let mut size = 0;
    for s in series {
        let field = 1 + prost::length_delimiter_len(s.encoded_len()) + s.encoded_len();
        if size + field > limit && !current.timeseries.is_empty() {
            out.push(std::mem::take(&mut current));
            size = 0;
        }
        size += field;
        current.timeseries.push(s);
    }
    if !current.timeseries.is_empty() {
        out.push(current);
    }
    out
}

impl RemoteWriteExporter {
    /// One remote-write request.
    async fn post(&self, request: &WriteRequest) -> Result<(), ConsumeError> {
        let body = snap::raw::Encoder::new()
            .compress_vec(&request.encode_to_vec())
            .map_err(|e| ConsumeError::permanent(format!("snappy: {e}")))?;
        let response = self
            .client
            .post(&self.config.endpoint)
            .header("Content-Encoding", "snappy")
            .header("Content-Type", "application/x-protobuf")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
            .header(
                "User-Agent",
                concat!("llamacol/", env!("CARGO_PKG_VERSION")),
            )
            .body(body);
        let response = llamacol_api::auth::with_auth(response, self.auth.as_ref(), &None)
            .send()
            .await
            .map_err(|e| {
                ConsumeError::retryable(format!("remote write to {}: {e}", self.config.endpoint))
            })?;
        if response.status().is_success() {
            return Ok(());
        }
        let (status, retry_after, message) = read_refusal(response).await;
        // Remote write: every 5xx is retryable too, not only the OTLP set.
        if status >= 500 {
            let e = ConsumeError::retryable(format!(
                "remote write failed with status {status}: {message}"
            ));
            return Err(match retry_after.as_deref().and_then(parse_retry_after) {
                Some(d) => e.with_retry_after(d),
                None => e,
            });
        }
        Err(classify(status, retry_after.as_deref(), message))
    }
}

#[cfg(test)]
mod tests;
