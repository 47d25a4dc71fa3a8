//! Every exporter sits behind a queue, workers and a retry loop. One concern per file:
//! the exporter wrapper that counts (here; the [`Queue`] interface is the API's,
//! `llamacol_api::queue`), the in-memory queue (`memory.rs`), merging queued batches
//! (`batcher.rs`, `sending_queue.batch`), the retry loop (`retry.rs`), and keeping
//! requests within the far side's size limit (`fit.rs`). A queue implementation only
//! stores batches; waiting, counting and retrying are the same for every one. The
//! persistent queue lives in a storage extension (`file_storage`) behind [`QueueStorage`],
//! the same API a user's own storage would implement.

mod batcher;
mod fit;
mod memory;
mod retry;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use tokio::task::JoinSet;

use crate::batch::Batch;
use crate::component::{ComponentId, Exporter, Kind};
use crate::config::{QueueSettings, RetrySettings, Sizer};
use crate::consumer::{BoxError, ConsumeError, Consumer};
use crate::signal::Signal;
use crate::telemetry::{Counters, QueueGauge, RequestLimitGauge, Scope, Telemetry};

pub use llamacol_api::queue::{Queue, QueueSpec, QueueStorage, Queued, Refused, Reservation, Room};
pub use memory::MemoryQueue;
use retry::{Delivery, Retrier};

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("exporter `{exporter}` queue is full ({capacity} batches, {limit_mib} MiB; waited {waited:?} for room); retry later")]
    Full {
        exporter: String,
        capacity: usize,
        limit_mib: u64,
        waited: Duration,
    },
    #[error("exporter `{exporter}` is shutting down")]
    Closed { exporter: String },
    #[error("exporter `{exporter}` cannot write its persistent queue (disk full or unwritable; the log says which); retry later")]
    Storage { exporter: String },
}

/// One exporter instance behind its queue, shared by every pipeline that names it.
pub struct ExporterQueue {
    id: ComponentId,
    exporter: Arc<dyn Exporter>,
    settings: QueueSettings,
    queue: Arc<dyn Queue>,
    retrier: Retrier,
    counters: [Arc<Counters>; 3],
    workers: Mutex<JoinSet<()>>,
}

impl ExporterQueue {
    /// `storage`: the persistent queue's opener (`sending_queue.storage`); in memory without.
    pub fn new(
        id: ComponentId,
        exporter: Arc<dyn Exporter>,
        settings: QueueSettings,
        retry: RetrySettings,
        storage: Option<&dyn QueueStorage>,
        telemetry: &Telemetry,
    ) -> Result<Arc<ExporterQueue>, BoxError> {
        let mib_bound = settings.queue_size_mib.saturating_mul(1024 * 1024);
        // `queue_size` in the sizer's unit; `queue_size_mib` bounds bytes in every case.
        let (count, max_bytes) = match settings.sizer() {
            Sizer::Requests | Sizer::Items => (settings.queue_size.max(1), mib_bound),
            Sizer::Bytes => {
                let bytes = settings.queue_size.max(1) as u64;
                (
                    usize::MAX,
                    if mib_bound == 0 {
                        bytes
                    } else {
                        bytes.min(mib_bound)
                    },
                )
            }
        };
        let spec = QueueSpec {
            owner: id.clone(),
            batches: count,
            max_bytes,
        };
        let queue: Arc<dyn Queue> = match storage {
            // Validation refuses `sizer: items` with a persistent queue.
            Some(storage) if settings.enabled => storage.open_queue(&spec)?,
            _ => Arc::new(MemoryQueue::new(
                count,
                settings.sizer() == Sizer::Items,
                max_bytes,
            )),
        };
        let counters = Signal::ALL.map(|signal| {
            telemetry.counters(Scope {
                kind: Kind::Exporter,
                component: id.to_string(),
                signal,
                pipeline: None,
            })
        });
        if settings.enabled {
            let probe = queue.clone();
            let bytes = queue.clone();
            let corrupt = queue.clone();
            telemetry.register_queue(QueueGauge {
                component: id.to_string(),
                capacity: settings.queue_size.max(1),
                len: Box::new(move || probe.len()),
                capacity_bytes: settings.queue_size_mib.saturating_mul(1024 * 1024),
                bytes: Box::new(move || bytes.bytes()),
                corrupt_bytes: Box::new(move || corrupt.corrupt_bytes()),
            });
        }
        let retrier = Retrier::new(id.clone(), retry, queue.persistent());
        let (fit, limited) = (retrier.fit.clone(), exporter.clone());
        let split = retrier.fit.clone();
        telemetry.register_request_limit(RequestLimitGauge {
            component: id.to_string(),
            limit: Box::new(move || {
                fit.limit(limited.max_request_size())
                    .map_or(0, |l| l as u64)
            }),
            split: Box::new(move || split.split.load(std::sync::atomic::Ordering::Relaxed)),
        });
        Ok(Arc::new(ExporterQueue {
            retrier,
            id,
            exporter,
            settings,
            queue,
            counters,
            workers: Mutex::new(JoinSet::new()),
        }))
    }

    pub fn id(&self) -> &ComponentId {
        &self.id
    }

    /// Starts the exporter, then its queue workers.
    pub async fn start(self: &Arc<Self>) -> Result<(), BoxError> {
        self.exporter.start().await?;
        if !self.settings.enabled {
            return Ok(());
        }
        let mut workers = self.workers.lock().unwrap_or_else(PoisonError::into_inner);
        let consumers = self.settings.num_consumers.max(1);
        let Some(batch) = &self.settings.batch else {
            for _ in 0..consumers {
                let me = self.clone();
                workers.spawn(async move {
                    while let Some(mut queued) = me.queue.pop().await {
                        if let Some(batch) = queued.batch.take() {
                            if me.export(batch).await {
                                queued.keep();
                            }
                        }
                    }
                });
            }
            return Ok(());
        };
        let cut = batcher::Cut::new(batch, self.settings.batch_sizer());
        let (out, flushed) = async_channel::bounded(consumers);
        let partition = batch.partition.metadata_keys.clone();
        workers.spawn(batcher::run(self.queue.clone(), cut, partition, out));
        for _ in 0..consumers {
            let (me, flushed) = (self.clone(), flushed.clone());
            workers.spawn(async move {
                while let Ok(batcher::Flushed { batch, held }) = flushed.recv().await {
                    if me.export(batch).await {
                        held.keep();
                    }
                }
            });
        }
        Ok(())
    }

    /// Exports one batch taken from the queue; true when it is to stay in a persistent
    /// queue (cut off at the shutdown deadline).
    async fn export(&self, batch: Batch) -> bool {
        let counters = self.counter(batch.signal());
        if self.retrier.hard_stop.is_cancelled() {
            if self.queue.persistent() {
                return true;
            }
            // Past the deadline: never sent, so dropped (not unknown).
            Counters::add(&counters.dropped, batch.items());
            return false;
        }
        let delivery = self
            .retrier
            .deliver(self.exporter.as_ref(), batch, counters)
            .await;
        matches!(delivery, Delivery::Kept(_))
    }

    /// Stops taking data, lets the workers drain the queue until `deadline`, then drops
    /// (and counts) whatever is left, and shuts the exporter down.
    pub async fn shutdown(&self, deadline: Duration) -> Result<(), BoxError> {
        self.queue.close();
        let mut workers =
            std::mem::take(&mut *self.workers.lock().unwrap_or_else(PoisonError::into_inner));
        let drained = tokio::time::timeout(deadline, async {
            while workers.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            self.retrier.hard_stop.cancel();
            while workers.join_next().await.is_some() {}
            if self.queue.persistent() {
                tracing::warn!(
                    component = %self.id,
                    batches = self.queue.len(),
                    bytes = self.queue.bytes(),
                    "exporter did not drain before the shutdown deadline; what is left stays in the persistent queue and is sent on the next start"
                );
            } else {
                let mut left = 0;
                for batch in self.queue.take_all() {
                    left += batch.items();
                    Counters::add(&self.counter(batch.signal()).dropped, batch.items());
                }
                tracing::warn!(
                    component = %self.id,
                    dropped_in_queue = left,
                    "exporter did not drain before the shutdown deadline; remaining data counted as dropped"
                );
            }
        }
        self.exporter.shutdown().await
    }

    fn counter(&self, signal: Signal) -> &Counters {
        &self.counters[signal as usize]
    }
}

#[async_trait]
impl Consumer for ExporterQueue {
    /// Queues `batch`. A full queue makes the caller wait for room, up to
    /// `block_timeout` (`block_on_overflow`), before refusing retryably.
    async fn consume(&self, batch: Batch) -> Result<(), ConsumeError> {
        if !self.settings.enabled {
            let counters = self.counter(batch.signal());
            return self
                .retrier
                .deliver(self.exporter.as_ref(), batch, counters)
                .await
                .into_result();
        }
        let wait = if self.settings.block_on_overflow {
            self.settings.block_timeout
        } else {
            Duration::ZERO
        };
        self.queue.push(batch, wait).await.map_err(|(refused, _)| {
            ConsumeError::retryable(match refused {
                Refused::Full => QueueError::Full {
                    exporter: self.id.to_string(),
                    capacity: self.settings.queue_size,
                    limit_mib: self.settings.queue_size_mib,
                    waited: wait,
                },
                Refused::Closed => QueueError::Closed {
                    exporter: self.id.to_string(),
                },
                Refused::Storage => QueueError::Storage {
                    exporter: self.id.to_string(),
                },
            })
        })
    }
}

#[cfg(test)]
mod tests;
