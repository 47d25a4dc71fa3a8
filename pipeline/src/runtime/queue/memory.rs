//! The in-memory exporter queue: a channel of batches, each holding its [`Reservation`]
//! of room until it is delivered.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::{Queue, Queued, Refused};
use crate::batch::Batch;
use llamacol_api::queue::{Reservation, Room};

pub struct MemoryQueue {
    room: Arc<Room>,
    /// `sizer: items`: each batch takes room for its items, not one slot.
    count_items: bool,
    tx: async_channel::Sender<(Batch, Reservation)>,
    rx: async_channel::Receiver<(Batch, Reservation)>,
}

impl MemoryQueue {
    /// A queue of at most `count` batches (items with `count_items`) and `max_bytes`
    /// encoded bytes (0: no byte bound), counting both the batches waiting and those
    /// being exported (what is in memory).
    pub fn new(count: usize, count_items: bool, max_bytes: u64) -> MemoryQueue {
        // Unbounded here because the room bounds it.
        let (tx, rx) = async_channel::unbounded();
        MemoryQueue {
            room: Room::new(count, max_bytes),
            count_items,
            tx,
            rx,
        }
    }
}

#[async_trait]
impl Queue for MemoryQueue {
    async fn push(&self, batch: Batch, wait: Duration) -> Result<(), (Refused, Batch)> {
        if self.tx.is_closed() {
            return Err((Refused::Closed, batch));
        }
        let size = batch.encoded_len() as u64;
        let count = if self.count_items { batch.items() } else { 1 };
        let held = match self.room.reserve(count, size, wait).await {
            Ok(h) => h,
            Err(refused) => return Err((refused, batch)),
        };
        self.tx
            .try_send((batch, held))
            .map_err(|e| (Refused::Closed, e.into_inner().0))
    }

    async fn pop(&self) -> Option<Queued> {
        let (batch, held) = self.rx.recv().await.ok()?;
        Some(Queued::new(batch, move |_| drop(held)))
    }

    fn take_all(&self) -> Vec<Batch> {
        std::iter::from_fn(|| self.rx.try_recv().ok())
            .map(|(batch, _held)| batch)
            .collect()
    }

    fn close(&self) {
        self.tx.close();
        // Wake pushers waiting for room: they are refused as closed.
        self.room.close();
    }

    fn len(&self) -> usize {
        self.rx.len()
    }

    fn bytes(&self) -> u64 {
        self.room.held_bytes()
    }
}
