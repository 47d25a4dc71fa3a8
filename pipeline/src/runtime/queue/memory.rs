//! The in-memory exporter queue: bounded in batches and in encoded bytes, with room
//! reserved by awaitable permits, so a full queue makes the caller wait (bounded) and
//! refills the moment a worker finishes a batch, instead of refusing and being polled.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{Queue, Queued, Refused};
use crate::batch::Batch;

pub struct MemoryQueue {
    /// One permit per batch held (waiting or being exported).
    slots: Arc<Semaphore>,
    /// One permit per encoded byte held.
    room: Arc<Semaphore>,
    /// The most one batch can take: the whole bound, or what one acquire can ask for.
    room_units: u32,
    tx: async_channel::Sender<(Batch, Held)>,
    rx: async_channel::Receiver<(Batch, Held)>,
    bytes: Arc<AtomicU64>,
}

/// The room one batch holds until it is delivered (or given up).
struct Held {
    _slot: OwnedSemaphorePermit,
    _room: OwnedSemaphorePermit,
    bytes: u64,
    total: Arc<AtomicU64>,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.total.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

impl MemoryQueue {
    /// A queue of at most `batches` batches and `max_bytes` encoded bytes (0: no byte
    /// bound), counting both the batches waiting and those being exported (what is in
    /// memory).
    pub fn new(batches: usize, max_bytes: u64) -> MemoryQueue {
        let (tx, rx) = async_channel::unbounded();
        let room = match max_bytes {
            0 => Semaphore::MAX_PERMITS,
            b => usize::try_from(b)
                .unwrap_or(usize::MAX)
                .min(Semaphore::MAX_PERMITS),
        };
        let room_units = u32::try_from(room).unwrap_or(u32::MAX);
        MemoryQueue {
            slots: Arc::new(Semaphore::new(batches.max(1))),
            room: Arc::new(Semaphore::new(room)),
            room_units,
            tx,
            rx,
            bytes: Arc::new(AtomicU64::new(0)),
        }
    }

    async fn reserve(&self, units: u32) -> Result<Held, Refused> {
        let slot = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Refused::Closed)?;
        let room = self
            .room
            .clone()
            .acquire_many_owned(units)
            .await
            .map_err(|_| Refused::Closed)?;
        Ok(Held {
            _slot: slot,
            _room: room,
            bytes: 0,
            total: self.bytes.clone(),
        })
    }

    fn try_reserve(&self, units: u32) -> Result<Held, Refused> {
        let full = |e| match e {
            tokio::sync::TryAcquireError::Closed => Refused::Closed,
            tokio::sync::TryAcquireError::NoPermits => Refused::Full,
        };
        let slot = self.slots.clone().try_acquire_owned().map_err(full)?;
        let room = self
            .room
            .clone()
            .try_acquire_many_owned(units)
            .map_err(full)?;
        Ok(Held {
            _slot: slot,
            _room: room,
            bytes: 0,
            total: self.bytes.clone(),
        })
    }
}

#[async_trait]
impl Queue for MemoryQueue {
    async fn push(&self, batch: Batch, wait: Duration) -> Result<(), (Refused, Batch)> {
        if self.tx.is_closed() {
            return Err((Refused::Closed, batch));
        }
        let size = batch.encoded_len() as u64;
        // A batch larger than the whole bound may still pass alone, when the queue is empty.
        let units = u32::try_from(size.max(1))
            .unwrap_or(u32::MAX)
            .min(self.room_units);
        let held = if wait.is_zero() {
            self.try_reserve(units)
        } else {
            tokio::time::timeout(wait, self.reserve(units))
                .await
                .unwrap_or(Err(Refused::Full))
        };
        let mut held = match held {
            Ok(h) => h,
            Err(refused) => return Err((refused, batch)),
        };
        held.bytes = size;
        self.bytes.fetch_add(size, Ordering::Relaxed);
        self.tx
            .try_send((batch, held))
            .map_err(|e| (Refused::Closed, e.into_inner().0))
    }

    async fn pop(&self) -> Option<Queued> {
        let (batch, held) = self.rx.recv().await.ok()?;
        Some(Queued::new(batch, move || drop(held)))
    }

    fn take_all(&self) -> Vec<Batch> {
        std::iter::from_fn(|| self.rx.try_recv().ok())
            .map(|(batch, _held)| batch)
            .collect()
    }

    fn close(&self) {
        self.tx.close();
        // Wake pushers waiting for room: they are refused as closed.
        self.slots.close();
        self.room.close();
    }

    fn len(&self) -> usize {
        self.rx.len()
    }

    fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
}
