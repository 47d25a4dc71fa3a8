//! The queue an exporter's batches wait in, as an interface: the engine's in-memory queue
//! and a storage extension's persistent one (`file_storage`) implement the same calls, so
//! a user's own storage is one more [`QueueStorage`]. Waiting, counting and retrying are
//! the engine's, the same for every queue; a queue only stores batches.

mod room;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::batch::Batch;
use crate::component::ComponentId;
use crate::consumer::BoxError;

pub use room::{Reservation, Room};

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
    /// The next batch; `None` once closed and empty. Must be cancel-safe (dropping the
    /// future before it completes loses no batch): `sending_queue.batch` races it against
    /// its flush timer.
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
