//! Every exporter sits behind a queue, workers and a retry loop. One concern per file:
//! the [`Queue`] interface and the exporter wrapper that counts (here), the in-memory
//! queue (`memory.rs`), the retry loop (`retry.rs`), and keeping requests within the far
//! side's size limit (`fit.rs`). A queue implementation only
//! stores batches; waiting, counting and retrying are the same for every one. The
//! persistent queue lives in a storage extension (`file_storage`) behind [`QueueStorage`],
//! the same API a user's own storage would implement.

mod fit;
mod memory;
mod retry;
mod room;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use tokio::task::JoinSet;

use crate::batch::Batch;
use crate::component::{ComponentId, Exporter, Kind};
use crate::config::{QueueSettings, RetrySettings};
use crate::consumer::{BoxError, ConsumeError, Consumer};
use crate::signal::Signal;
use crate::telemetry::{Counters, QueueGauge, RequestLimitGauge, Scope, Telemetry};

pub use memory::MemoryQueue;
use retry::{Delivery, Retrier};
pub use room::{Reservation, Room};

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

/// Why a queue did not take a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// No room within the wait (in batches or bytes).
    Full,
    /// The queue is closed (shutting down).
    Closed,
    /// A persistent queue could not write the batch (disk full, I/O error).
    Storage,
}

/// Where an exporter's batches wait for a worker: in memory, or on disk behind the same
/// calls. A batch taken by [`Queue::pop`] keeps its room until its [`Queued`] is dropped,
/// after delivery, so the bound covers what is being exported too.
#[async_trait]
pub trait Queue: Send + Sync {
    /// Adds `batch`, waiting up to `wait` for room (zero: only if there is room now).
    /// A refused batch is handed back.
    async fn push(&self, batch: Batch, wait: Duration) -> Result<(), (Refused, Batch)>;
    /// The next batch; `None` once closed and empty.
    async fn pop(&self) -> Option<Queued>;
    /// Takes every batch still waiting (to count them at the shutdown deadline).
    fn take_all(&self) -> Vec<Batch>;
    /// Refuses new batches (waiting pushers too); `pop` drains what is left.
    fn close(&self);
    /// Batches waiting (not counting those being exported).
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Encoded bytes held, waiting or being exported.
    fn bytes(&self) -> u64;
    /// Whether what is left at shutdown survives for the next start (on disk), instead
    /// of being counted as dropped.
    fn persistent(&self) -> bool {
        false
    }
    /// Bytes found corrupt on disk and skipped (persistent queues).
    fn corrupt_bytes(&self) -> u64 {
        0
    }
}

/// Opens persistent exporter queues: implemented by storage extensions.
pub trait QueueStorage: Send + Sync {
    /// The queue of `spec.owner`, with whatever an earlier run left unacknowledged in it.
    fn open_queue(&self, spec: &QueueSpec) -> Result<Arc<dyn Queue>, BoxError>;
}

/// Who a queue is for and how much it may hold.
#[derive(Debug, Clone)]
pub struct QueueSpec {
    pub owner: ComponentId,
    /// Batches held, waiting or being exported.
    pub batches: usize,
    /// Encoded bytes held, waiting or being exported; 0: no byte bound.
    pub max_bytes: u64,
}

/// A batch out of a queue. Dropping it, once the batch was delivered or given up,
/// releases its room (a persistent queue acknowledges it there); [`Queued::keep`]
/// releases the room but leaves it unacknowledged, to be sent again on the next start.
pub struct Queued {
    pub batch: Option<Batch>,
    done: Option<Box<dyn FnOnce(bool) + Send>>,
}

impl Queued {
    /// `done(acknowledged)` runs once, when this is dropped or kept.
    pub fn new(batch: Batch, done: impl FnOnce(bool) + Send + 'static) -> Queued {
        Queued {
            batch: Some(batch),
            done: Some(Box::new(done)),
        }
    }

    /// Not delivered (cut off at shutdown): a persistent queue sends it again next start.
    pub fn keep(mut self) {
        if let Some(done) = self.done.take() {
            done(false);
        }
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        if let Some(done) = self.done.take() {
            done(true);
        }
    }
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
        let spec = QueueSpec {
            owner: id.clone(),
            batches: settings.queue_size.max(1),
            max_bytes: settings.queue_size_mib.saturating_mul(1024 * 1024),
        };
        let queue: Arc<dyn Queue> = match storage {
            Some(storage) if settings.enabled => storage.open_queue(&spec)?,
            _ => Arc::new(MemoryQueue::new(spec.batches, spec.max_bytes)),
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
        if self.settings.enabled {
            let mut workers = self.workers.lock().unwrap_or_else(PoisonError::into_inner);
            for _ in 0..self.settings.num_consumers.max(1) {
                let me = self.clone();
                workers.spawn(async move {
                    while let Some(mut queued) = me.queue.pop().await {
                        let Some(batch) = queued.batch.take() else {
                            continue;
                        };
                        let counters = me.counter(batch.signal());
                        if me.retrier.hard_stop.is_cancelled() {
                            if me.queue.persistent() {
                                queued.keep();
                            } else {
                                // Past the deadline: never sent, so dropped (not unknown).
                                Counters::add(&counters.dropped, batch.items());
                            }
                            continue;
                        }
                        let delivery = me
                            .retrier
                            .deliver(me.exporter.as_ref(), batch, counters)
                            .await;
                        if matches!(delivery, Delivery::Kept(_)) {
                            queued.keep();
                        }
                    }
                });
            }
        }
        Ok(())
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
