//! `sending_queue.batch`: the Collector's exporter-side batching. One task takes batches
//! from the queue and merges them per signal (equal resources and scopes become one
//! block, as in the batch processor, without decoding), then hands merged batches to the
//! queue's workers when `min_size` is pending or `flush_timeout` after the first of them,
//! split at `max_size`. With `partition.metadata_keys`, batches of different values of
//! those client metadata keys are merged apart and carry their values on.
//!
//! The queue's room stays held until the merged batch that carries an item is exported:
//! every queued batch merged into a flush is released when the last piece of that flush
//! is done (or kept together, for a persistent queue cut off at shutdown). Unlike the
//! Collector, which keeps a last piece below `min_size` pending, a flush sends everything
//! pending: a queued batch then never waits on a later flush to release its room.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use std::collections::BTreeMap;

use llamacol_api::client_metadata::{ClientMetadata, Metadata};
use llamacol_api::groups::Groups;
use tokio::time::Instant;

use super::{Queue, Queued};
use crate::batch::Batch;
use crate::config::{QueueBatch, Sizer};
use crate::signal::Signal;

/// How merged batches are cut: resolved from `sending_queue.batch`.
#[derive(Debug, Clone, Copy)]
pub struct Cut {
    pub flush_timeout: Duration,
    pub min_size: usize,
    /// 0: no bound.
    pub max_size: usize,
    /// `Items` or `Bytes`.
    pub sizer: Sizer,
}

impl Cut {
    pub fn new(batch: &QueueBatch, sizer: Sizer) -> Cut {
        let size = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        Cut {
            flush_timeout: batch.flush_timeout,
            min_size: size(batch.min_size),
            max_size: size(batch.max_size),
            sizer,
        }
    }

    fn reached(&self, groups: &Groups) -> bool {
        let pending = match self.sizer {
            Sizer::Bytes => groups.bytes(),
            Sizer::Items | Sizer::Requests => groups.items(),
        };
        pending >= self.min_size
    }

    /// The next piece: at most `max_size` items or bytes (never empty while items remain).
    fn take(&self, groups: &mut Groups) -> Batch {
        let (bytes, items) = match self.sizer {
            Sizer::Bytes => groups.take(0, self.max_size),
            Sizer::Items | Sizer::Requests => groups.take(self.max_size, 0),
        };
        Batch::from_encoded_parts(groups.signal(), bytes, items)
    }
}

/// A merged batch on its way to a worker, with the queued batches it came from.
pub struct Flushed {
    pub batch: Batch,
    pub held: Arc<Held>,
}

/// The queued batches merged into one flush: their room is released (and, in a
/// persistent queue, they are acknowledged) when every piece of the flush is done.
pub struct Held {
    queued: Mutex<Vec<Queued>>,
    kept: AtomicBool,
}

impl Held {
    fn new(queued: Vec<Queued>) -> Arc<Held> {
        Arc::new(Held {
            queued: Mutex::new(queued),
            kept: AtomicBool::new(false),
        })
    }

    /// A piece was cut off at shutdown: every queued batch of the flush stays
    /// unacknowledged in the persistent queue, to be sent again on the next start.
    pub fn keep(&self) {
        self.kept.store(true, Ordering::Relaxed);
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let queued = std::mem::take(
            self.queued
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner),
        );
        if self.kept.load(Ordering::Relaxed) {
            queued.into_iter().for_each(Queued::keep);
        }
    }
}

/// What is pending for one signal (and one combination of `partition.metadata_keys`
/// values, which the flushed batches carry on).
struct Pending {
    groups: Groups,
    queued: Vec<Queued>,
    deadline: Option<Instant>,
    metadata: Metadata,
}

/// Takes batches from `queue` until it is closed and empty, merges them, and sends the
/// flushes to `out`; sends what is pending at the end, then closes `out`.
pub async fn run(
    queue: Arc<dyn Queue>,
    cut: Cut,
    partition: Vec<String>,
    out: async_channel::Sender<Flushed>,
) {
    let mut pending: BTreeMap<(Signal, ClientMetadata), Pending> = BTreeMap::new();
    loop {
        let deadline = pending.values().filter_map(|p| p.deadline).min();
        let popped = match deadline {
            // `pop` is cancel-safe (the `Queue` contract): the timer may win.
            Some(at) => tokio::select! {
                popped = queue.pop() => Some(popped),
                () = tokio::time::sleep_until(at) => None,
            },
            None => Some(queue.pop().await),
        };
        match popped {
            None => {
                let now = Instant::now();
                for p in pending
                    .values_mut()
                    .filter(|p| p.deadline.is_some_and(|d| d <= now))
                {
                    flush(p, &cut, &out).await;
                }
                pending.retain(|_, p| !p.groups.is_empty());
            }
            Some(Some(mut queued)) => {
                let Some(mut batch) = queued.batch.take() else {
                    continue;
                };
                let signal = batch.signal();
                let key = match batch.metadata() {
                    Some(m) if !partition.is_empty() => m.only(&partition),
                    _ => ClientMetadata::default(),
                };
                let metadata = (!partition.is_empty()).then(|| Arc::new(key.clone()));
                let p = pending.entry((signal, key)).or_insert_with(|| Pending {
                    groups: Groups::new(signal),
                    queued: Vec::new(),
                    deadline: None,
                    metadata,
                });
                if let Err(e) = p.groups.add(&batch.bytes()) {
                    // Cannot happen for a batch that passed a receiver; sent as it is.
                    tracing::warn!(error = %e, "a queued batch could not be merged; exported on its own");
                    let held = Held::new(vec![queued]);
                    if out.send(Flushed { batch, held }).await.is_err() {
                        return;
                    }
                    continue;
                }
                p.queued.push(queued);
                if p.deadline.is_none() {
                    p.deadline = Some(Instant::now() + cut.flush_timeout);
                }
                if cut.reached(&p.groups) {
                    flush(p, &cut, &out).await;
                }
                pending.retain(|_, p| !p.groups.is_empty());
            }
            Some(None) => {
                for p in pending.values_mut() {
                    flush(p, &cut, &out).await;
                }
                return;
            }
        }
    }
}

/// Sends everything pending in pieces of at most `max_size`.
async fn flush(p: &mut Pending, cut: &Cut, out: &async_channel::Sender<Flushed>) {
    p.deadline = None;
    if p.groups.is_empty() {
        return;
    }
    let held = Held::new(std::mem::take(&mut p.queued));
    while !p.groups.is_empty() {
        let mut batch = cut.take(&mut p.groups);
        batch.set_metadata(p.metadata.clone());
        // Cannot fail: the workers run until this task drops the sender.
        if out
            .send(Flushed {
                batch,
                held: held.clone(),
            })
            .await
            .is_err()
        {
            return;
        }
    }
}
