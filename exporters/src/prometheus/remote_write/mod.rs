//! `prometheusremotewrite` exporter: pushes metrics to a Prometheus remote-write
//! endpoint, snappy-compressed protobuf: Remote Write 1.0 (`prometheus.WriteRequest`) by
//! default, 2.0 (`io.prometheus.write.v2.Request`: metadata, start times, native
//! histograms, exemplars) with `protobuf_message`. Translation and delta accumulation are
//! the `prometheus` exporter's; each request carries the series the batch touched,
//! samples sorted by time. Retries go through the pipeline's queue:
//! 5xx and 429 are retryable, other 4xx permanent.

mod config;
mod proto;
mod proto_v2;
mod series;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use llamacol_api::config::{parse_block, ConfigSpec};
use llamacol_api::serde_yaml::Value;
use llamacol_api::{
    Batch, BoxError, BuildContext, ConsumeError, Exporter, ExporterFactory, Signal,
};

pub use config::{ProtobufMessage, RemoteWriteConfig, TargetInfo};
pub use proto::{Label, Sample, TimeSeries, WriteRequest};

use crate::prometheus::model::observe::Options;
use crate::prometheus::model::Ingest;
use llamacol_api::http::{classify, parse_retry_after, read_refusal};
use reqwest::header::HeaderMap;
use series::{Carried, Series, Shape};

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
    fn series(&self, batch: &mut Batch) -> Result<Vec<Series>, ConsumeError> {
        let applied = self.ingest.ingest(&self.id, batch, &self.options)?;
        self.ingest
            .store
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .expire(Instant::now(), FORGET_AFTER);
        Ok(series::series(
            applied,
            &Shape {
                external_labels: &self.config.external_labels,
                native_histograms: self.config.protobuf_message == ProtobufMessage::V2,
            },
        ))
    }

    fn size(&self, s: &Series) -> usize {
        match self.config.protobuf_message {
            ProtobufMessage::V1 => series::size_v1(s),
            ProtobufMessage::V2 => series::size_v2(s),
        }
    }
}

#[async_trait]
impl Exporter for RemoteWriteExporter {
    /// The batch's series, in requests of at most `max_batch_size_bytes` (or the smaller
    /// size learned from a 413). Cut here, after translation, not by the queue: the queue
    /// would export the pieces again, and translating a batch twice would count its
    /// deltas twice.
    async fn export(&self, batch: &mut Batch) -> Result<(), ConsumeError> {
        let all = self.series(batch)?;
        let limit = self
            .config
            .max_batch_size_bytes
            .min(self.learned_limit.load(Ordering::Relaxed));
        let mut pending: VecDeque<Vec<Series>> = self.chunks(all, limit).into();
        while let Some(mut request) = pending.pop_front() {
            match self.post(&request).await {
                Ok(()) => {}
                Err((e, size)) if e.too_large().is_some() && request.len() > 1 => {
                    if size / 2 < self.learned_limit.fetch_min(size / 2, Ordering::Relaxed) {
                        tracing::warn!(component = %self.id, refused_bytes = size, error = %e, "remote-write endpoint refused a request for its size; sending requests of at most {} bytes from now on", size / 2);
                    }
                    let second = request.split_off(request.len() / 2);
                    pending.push_front(second);
                    pending.push_front(request);
                }
                // One series alone too large: the queue must not cut and translate again.
                Err((e, _)) if e.too_large().is_some() => return Err(ConsumeError::permanent(e)),
                Err((e, _)) => return Err(e),
            }
        }
        Ok(())
    }
}

impl RemoteWriteExporter {
    /// `series` in requests of at most `limit` encoded bytes, in order; a series larger
    /// than the limit goes alone.
    fn chunks(&self, series: Vec<Series>, limit: usize) -> Vec<Vec<Series>> {
        let mut out = Vec::new();
        let mut current = Vec::new();
        let mut size = 0;
        for s in series {
            let bytes = self.size(&s);
            if size + bytes > limit && !current.is_empty() {
                out.push(std::mem::take(&mut current));
                size = 0;
            }
            size += bytes;
            current.push(s);
        }
        if !current.is_empty() {
            out.push(current);
        }
        out
    }

    /// One remote-write request; on failure, the error and the request's encoded size.
    async fn post(&self, series: &[Series]) -> Result<(), (ConsumeError, usize)> {
        let version = self.config.protobuf_message;
        let (encoded, carried) = match version {
            ProtobufMessage::V1 => (series::encode_v1(series), None),
            ProtobufMessage::V2 => {
                let (bytes, carried) = series::encode_v2(series);
                (bytes, Some(carried))
            }
        };
        let size = encoded.len();
        let body = snap::raw::Encoder::new()
            .compress_vec(&encoded)
            .map_err(|e| (ConsumeError::permanent(format!("snappy: {e}")), size))?;
        let response = self
            .client
            .post(&self.config.endpoint)
            .header("Content-Encoding", "snappy")
            .header("Content-Type", version.content_type())
            .header(
                "X-Prometheus-Remote-Write-Version",
                version.version_header(),
            )
            .header(
                "User-Agent",
                concat!("llamacol/", env!("CARGO_PKG_VERSION")),
            )
            .body(body);
        let response = llamacol_api::auth::with_auth(response, self.auth.as_ref(), &None)
            .send()
            .await
            .map_err(|e| {
                let e = ConsumeError::retryable(format!(
                    "remote write to {}: {e}",
                    self.config.endpoint
                ));
                (e, size)
            })?;
        if response.status().is_success() {
            return match carried {
                Some(carried) => self.check_written(&carried, response.headers()),
                None => Ok(()),
            }
            .map_err(|e| (e, size));
        }
        let (status, retry_after, message) = read_refusal(response).await;
        // Remote write: every 5xx is retryable too, not only the OTLP set.
        if status >= 500 {
            let e = ConsumeError::retryable(format!(
                "remote write failed with status {status}: {message}"
            ));
            return Err((
                match retry_after.as_deref().and_then(parse_retry_after) {
                    Some(d) => e.with_retry_after(d),
                    None => e,
                },
                size,
            ));
        }
        if status == 415 && version == ProtobufMessage::V2 {
            return Err((
                ConsumeError::permanent(format!(
                    "{} does not accept Remote Write 2.0 (415: {message}); set `protobuf_message: prometheus.WriteRequest`, or on Prometheus 3 allow `io.prometheus.write.v2.Request` in `--web.remote-write-receiver.accepted-protobuf-messages`",
                    self.config.endpoint
                )),
                size,
            ));
        }
        Err((classify(status, retry_after.as_deref(), message), size))
    }

    /// A 2.0 receiver says in `X-Prometheus-Remote-Write-*-Written` what it wrote. A 2xx
    /// that wrote nothing of a request that carried data is a 1.0 receiver that decoded
    /// the 2.0 message as an empty 1.0 one (Prometheus 2.x does): a failure, as the
    /// Prometheus sender treats it, never a silent success.
    fn check_written(&self, carried: &Carried, headers: &HeaderMap) -> Result<(), ConsumeError> {
        let written = |name: &str| -> usize {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0)
        };
        let samples = written("X-Prometheus-Remote-Write-Samples-Written");
        let histograms = written("X-Prometheus-Remote-Write-Histograms-Written");
        let exemplars = written("X-Prometheus-Remote-Write-Exemplars-Written");
        let sent = carried.samples + carried.histograms + carried.exemplars;
        if sent > 0 && samples + histograms + exemplars == 0 {
            return Err(ConsumeError::permanent(format!(
                "{} answered 2xx to a Remote Write 2.0 request of {} samples, {} histograms and {} exemplars but says it wrote none: it speaks only Remote Write 1.0 (Prometheus before 3.0 does); set `protobuf_message: prometheus.WriteRequest`",
                self.config.endpoint, carried.samples, carried.histograms, carried.exemplars
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
