//! The room of a queue, bounded in batches (or items) and in encoded bytes, reserved by awaitable
//! permits: a full queue makes the pusher wait (bounded) and wakes it the moment a
//! reservation is released, instead of refusing and being polled. Shared by every queue
//! implementation (the in-memory one here, the persistent one in `file_storage`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{Semaphore, TryAcquireError};

use super::Refused;

pub struct Room {
    /// One permit per batch held (per item, for a queue sized in items).
    slots: Semaphore,
    /// The most one batch may ask for of `slots`: the whole bound.
    max_count: u32,
    /// One permit per encoded byte held.
    bytes: Semaphore,
    /// The most one batch may ask for: the whole bound, or what one acquire can take.
    max_units: u32,
    held: AtomicU64,
    /// What was taken beyond the bound (a persistent queue reopened with more on disk
    /// than its bound now allows): paid back before permits are returned.
    debt: Mutex<Debt>,
}

#[derive(Default)]
struct Debt {
    slots: usize,
    units: usize,
}

/// Room held by one batch until it is dropped (delivered, given up, or kept on disk).
pub struct Reservation {
    room: Arc<Room>,
    count: u32,
    units: u32,
    bytes: u64,
}

impl Room {
    /// At most `count` batches (or items: what each reservation counts) and `max_bytes`
    /// encoded bytes (0: no byte bound).
    pub fn new(count: usize, max_bytes: u64) -> Arc<Room> {
        let units = match max_bytes {
            0 => Semaphore::MAX_PERMITS,
            b => usize::try_from(b)
                .unwrap_or(usize::MAX)
                .min(Semaphore::MAX_PERMITS),
        };
        let count = count.clamp(1, Semaphore::MAX_PERMITS);
        Arc::new(Room {
            slots: Semaphore::new(count),
            max_count: u32::try_from(count).unwrap_or(u32::MAX),
            bytes: Semaphore::new(units),
            max_units: u32::try_from(units).unwrap_or(u32::MAX),
            held: AtomicU64::new(0),
            debt: Mutex::new(Debt::default()),
        })
    }

    /// Room for a batch counting `count` (1, or its items) of `size` bytes, waiting up to
    /// `wait` (zero: only if free now). A batch larger than the whole bound still passes
    /// alone, when the queue is empty.
    pub async fn reserve(
        self: &Arc<Self>,
        count: usize,
        size: u64,
        wait: Duration,
    ) -> Result<Reservation, Refused> {
        let units = self.units(size);
        let count = self.count(count);
        let acquire = async {
            let slot = self
                .slots
                .acquire_many(count)
                .await
                .map_err(|_| Refused::Closed)?;
            let room = self
                .bytes
                .acquire_many(units)
                .await
                .map_err(|_| Refused::Closed)?;
            slot.forget();
            room.forget();
            Ok(())
        };
        if wait.is_zero() {
            let refused = |e| match e {
                TryAcquireError::Closed => Refused::Closed,
                TryAcquireError::NoPermits => Refused::Full,
            };
            let slot = self.slots.try_acquire_many(count).map_err(refused)?;
            let room = self.bytes.try_acquire_many(units).map_err(refused)?;
            slot.forget();
            room.forget();
        } else {
            tokio::time::timeout(wait, acquire)
                .await
                .unwrap_or(Err(Refused::Full))?;
        }
        Ok(self.held(count, units, size))
    }

    /// Room for a batch found on disk at start: taken even beyond the bound (the excess
    /// is a debt paid back before new batches get room).
    pub fn recovered(self: &Arc<Self>, count: usize, size: u64) -> Reservation {
        let units = self.units(size);
        let count = self.count(count);
        let mut debt = self.debt.lock().unwrap_or_else(PoisonError::into_inner);
        match self.slots.try_acquire_many(count) {
            Ok(p) => p.forget(),
            Err(_) => debt.slots += count as usize,
        }
        match self.bytes.try_acquire_many(units) {
            Ok(p) => p.forget(),
            Err(_) => debt.units += units as usize,
        }
        drop(debt);
        self.held(count, units, size)
    }

    /// Refuses every waiting and later reservation.
    pub fn close(&self) {
        self.slots.close();
        self.bytes.close();
    }

    /// Encoded bytes held by live reservations.
    pub fn held_bytes(&self) -> u64 {
        self.held.load(Ordering::Relaxed)
    }

    fn units(&self, size: u64) -> u32 {
        u32::try_from(size.max(1))
            .unwrap_or(u32::MAX)
            .min(self.max_units)
    }

    fn count(&self, count: usize) -> u32 {
        u32::try_from(count.max(1))
            .unwrap_or(u32::MAX)
            .min(self.max_count)
    }

    fn held(self: &Arc<Self>, count: u32, units: u32, bytes: u64) -> Reservation {
        self.held.fetch_add(bytes, Ordering::Relaxed);
        Reservation {
            room: self.clone(),
            count,
            units,
            bytes,
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let room = &self.room;
        room.held.fetch_sub(self.bytes, Ordering::Relaxed);
        let mut debt = room.debt.lock().unwrap_or_else(PoisonError::into_inner);
        let count = self.count as usize;
        let paid = debt.slots.min(count);
        debt.slots -= paid;
        room.slots.add_permits(count - paid);
        let units = self.units as usize;
        let paid = debt.units.min(units);
        debt.units -= paid;
        room.bytes.add_permits(units - paid);
    }
}
