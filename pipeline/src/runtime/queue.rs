//! The bounded queue, workers and retry loop in front of every exporter.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rand::Rng;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::batch::Batch;
use crate::component::{ComponentId, Exporter, Kind};
use crate::config::{QueueSettings, RetrySettings};
use crate::consumer::{BoxError, ConsumeError, Consumer};
use crate::signal::Signal;
use crate::telemetry::{Counters, QueueGauge, Scope, Telemetry};

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("exporter `{exporter}` queue is full ({capacity} batches); retry later")]
    Full { exporter: String, capacity: usize },
    #[error("exporter `{exporter}` is shutting down")]
    Closed { exporter: String },
    #[error("exporter `{exporter}` queue holds {queued_mib} MiB, at its {limit_mib} MiB limit (`queue_size_mib`); retry later")]
    FullBytes {
        exporter: String,
        queued_mib: u64,
        limit_mib: u64,
    },
}

/// One exporter instance behind its queue, shared by every pipeline that names it.
pub struct ExporterQueue {
    id: ComponentId,
    exporter: Arc<dyn Exporter>,
    settings: QueueSettings,
    retry: RetrySettings,
    tx: async_channel::Sender<Batch>,
    rx: async_channel::Receiver<Batch>,
    counters: [Arc<Counters>; 3],
    workers: Mutex<JoinSet<()>>,
    /// Cancelled at the shutdown deadline: in-flight retries stop and are counted dropped.
    hard_stop: CancellationToken,
    last_error: Mutex<Option<String>>,
    /// Encoded bytes of the batches waiting in the queue (for `queue_size_mib`).
    queued_bytes: std::sync::atomic::AtomicU64,
}

impl ExporterQueue {
    pub fn new(
        id: ComponentId,
        exporter: Arc<dyn Exporter>,
        settings: QueueSettings,
        retry: RetrySettings,
        telemetry: &Telemetry,
    ) -> Arc<ExporterQueue> {
        let (tx, rx) = async_channel::bounded(settings.queue_size.max(1));
        let counters = Signal::ALL.map(|signal| {
            telemetry.counters(Scope {
                kind: Kind::Exporter,
                component: id.to_string(),
                signal,
                pipeline: None,
            })
        });
        if settings.enabled {
            let probe = rx.clone();
            telemetry.register_queue(QueueGauge {
                component: id.to_string(),
                capacity: settings.queue_size.max(1),
                len: Box::new(move || probe.len()),
            });
        }
        Arc::new(ExporterQueue {
            id,
            exporter,
            settings,
            retry,
            tx,
            rx,
            counters,
            workers: Mutex::new(JoinSet::new()),
            hard_stop: CancellationToken::new(),
            last_error: Mutex::new(None),
            queued_bytes: std::sync::atomic::AtomicU64::new(0),
        })
    }

    pub fn id(&self) -> &ComponentId {
        &self.id
    }

    /// Starts the exporter, then its queue workers.
    pub async fn start(self: &Arc<Self>) -> Result<(), BoxError> {
        self.exporter.start().await?;
        if self.settings.enabled {
            let mut workers = self.workers.lock().unwrap_or_else(PoisonError::into_inner);
            for _ in 0..self.settings.num_consumers.max(1) {
                let me = self.clone();
                workers.spawn(async move {
                    while let Ok(batch) = me.rx.recv().await {
                        me.queued_bytes.fetch_sub(
                            batch.encoded_len() as u64,
                            std::sync::atomic::Ordering::Relaxed,
                        );
                        let _ = me.deliver(batch).await;
                    }
                });
            }
        }
        Ok(())
    }

    /// Stops taking data, lets the workers drain the queue until `deadline`, then drops
    /// (and counts) whatever is left, and shuts the exporter down.
    pub async fn shutdown(&self, deadline: Duration) -> Result<(), BoxError> {
        self.tx.close();
        let mut workers =
            std::mem::take(&mut *self.workers.lock().unwrap_or_else(PoisonError::into_inner));
        let drained = tokio::time::timeout(deadline, async {
            while workers.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            self.hard_stop.cancel();
            while workers.join_next().await.is_some() {}
            let mut left = 0;
            while let Ok(batch) = self.rx.try_recv() {
                left += batch.items();
                Counters::add(&self.counter(batch.signal()).dropped, batch.items());
            }
            tracing::warn!(
                component = %self.id,
                dropped_in_queue = left,
                "exporter did not drain before the shutdown deadline; remaining data counted as dropped"
            );
        }
        self.exporter.shutdown().await
    }

    fn counter(&self, signal: Signal) -> &Counters {
        &self.counters[signal as usize]
    }

    /// Exports one batch, retrying retryable errors with exponential backoff and jitter.
    async fn deliver(&self, mut batch: Batch) -> Result<(), ConsumeError> {
        let items = batch.items();
        let counters = self.counter(batch.signal());
        let started = Instant::now();
        let mut interval = self.retry.initial_interval;
        loop {
            let result = tokio::select! {
                r = self.exporter.export(&mut batch) => r,
                () = self.hard_stop.cancelled() => {
                    Counters::add(&counters.dropped, items);
                    return Err(ConsumeError::retryable(QueueError::Closed { exporter: self.id.to_string() }));
                }
            };
            let error = match result {
                Ok(()) => {
                    Counters::add(&counters.sent, items);
                    self.note_recovered();
                    return Ok(());
                }
                Err(e) => e,
            };
            if !error.is_retryable() || !self.retry.enabled {
                Counters::add(&counters.failed, items);
                tracing::warn!(component = %self.id, error = %error, items, "export failed permanently; data dropped");
                return Err(error);
            }
            let wait = error
                .retry_after()
                .unwrap_or_else(|| jitter(interval, self.retry.randomization_factor));
            let max = self.retry.max_elapsed_time;
            if !max.is_zero() && started.elapsed() + wait > max {
                Counters::add(&counters.failed, items);
                tracing::warn!(component = %self.id, error = %error, items, "export still failing after {max:?} of retries; data dropped");
                return Err(error);
            }
            self.note_failure(&error, wait);
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.hard_stop.cancelled() => {
                    Counters::add(&counters.dropped, items);
                    return Err(error);
                }
            }
            interval = interval
                .mul_f64(self.retry.multiplier)
                .min(self.retry.max_interval);
        }
    }

    /// Logs a failure once per distinct error, not once per retry.
    fn note_failure(&self, error: &ConsumeError, wait: Duration) {
        let message = error.to_string();
        let mut last = self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if last.as_deref() != Some(message.as_str()) {
            tracing::warn!(component = %self.id, error = %message, "export failed; will retry (in {wait:?}); repeats are not logged");
            *last = Some(message);
        }
    }

    fn note_recovered(&self) {
        let mut last = self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if last.take().is_some() {
            tracing::info!(component = %self.id, "export recovered");
        }
    }
}

#[async_trait]
impl Consumer for ExporterQueue {
    async fn consume(&self, batch: Batch) -> Result<(), ConsumeError> {
        if !self.settings.enabled {
            return self.deliver(batch).await;
        }
        use std::sync::atomic::Ordering;
        let size = batch.encoded_len() as u64;
        let limit = self.settings.queue_size_mib.saturating_mul(1024 * 1024);
        if limit > 0 {
            // Reserve the bytes first so concurrent callers cannot overshoot together.
            let before = self.queued_bytes.fetch_add(size, Ordering::Relaxed);
            if before > 0 && before + size > limit {
                self.queued_bytes.fetch_sub(size, Ordering::Relaxed);
                return Err(ConsumeError::retryable(QueueError::FullBytes {
                    exporter: self.id.to_string(),
                    queued_mib: before >> 20,
                    limit_mib: self.settings.queue_size_mib,
                }));
            }
        } else {
            self.queued_bytes.fetch_add(size, Ordering::Relaxed);
        }
        self.tx.try_send(batch).map_err(|e| {
            self.queued_bytes.fetch_sub(size, Ordering::Relaxed);
            match e {
                async_channel::TrySendError::Full(_) => ConsumeError::retryable(QueueError::Full {
                    exporter: self.id.to_string(),
                    capacity: self.settings.queue_size,
                }),
                async_channel::TrySendError::Closed(_) => {
                    ConsumeError::retryable(QueueError::Closed {
                        exporter: self.id.to_string(),
                    })
                }
            }
        })
    }
}

/// `interval` spread uniformly over +/- `factor` of itself.
fn jitter(interval: Duration, factor: f64) -> Duration {
    let factor = factor.clamp(0.0, 1.0);
    if factor == 0.0 {
        return interval;
    }
    let scale = rand::rng().random_range((1.0 - factor)..=(1.0 + factor));
    interval.mul_f64(scale)
}
