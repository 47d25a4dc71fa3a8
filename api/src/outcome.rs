//! Counting what became of items, the one way every component does it: the engine's
//! wrapper counts accepted/refused/sent/failed for every component; a component counts
//! only what the wrapper cannot see (items it accepted and later dropped, items a
//! sampler decided not to pass on, failed scrapes) through the [`OutcomeCounter`] its
//! build context hands it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Item counters of one scope. Only the ones that make sense for the scope move.
#[derive(Debug, Default)]
pub struct Counters {
    pub accepted: AtomicU64,
    pub refused: AtomicU64,
    pub sent: AtomicU64,
    pub failed: AtomicU64,
    pub dropped: AtomicU64,
    /// Exports cut off at the shutdown deadline while in flight: the backend may or may
    /// not have them, so they are neither `sent` nor `dropped`.
    pub unknown: AtomicU64,
    /// Items a sampling processor decided not to pass on: a decision, not a loss.
    pub sampled_out: AtomicU64,
    /// Items a tail sampler decided before their trace's `decision_wait` was over, because
    /// a bound was reached (traces, spans per trace, bytes held).
    pub decided_early: AtomicU64,
    /// Items a filter processor's conditions removed: a configured decision, not a loss.
    pub filtered: AtomicU64,
}

impl Counters {
    pub fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// Which of a scope's [`Counters`] an [`OutcomeCounter`] moves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted, then discarded: can no longer be delivered (a loss, always logged).
    #[default]
    Dropped,
    /// Not passed on by a sampling decision (not a loss).
    SampledOut,
    /// A scrape or fetch that failed (shown as a receiver's `failed`).
    Failed,
    /// Removed by a filter's conditions (not a loss).
    Filtered,
}

/// Counts one outcome of one component. Detached (counting nowhere) when built outside
/// a running service, e.g. with `BuildContext::new` in a test.
#[derive(Debug, Clone, Default)]
pub struct OutcomeCounter {
    counters: Option<Arc<Counters>>,
    outcome: Outcome,
}

impl OutcomeCounter {
    pub fn new(counters: Arc<Counters>, outcome: Outcome) -> OutcomeCounter {
        OutcomeCounter {
            counters: Some(counters),
            outcome,
        }
    }

    fn counter(&self) -> Option<&AtomicU64> {
        let c = self.counters.as_deref()?;
        Some(match self.outcome {
            Outcome::Dropped => &c.dropped,
            Outcome::SampledOut => &c.sampled_out,
            Outcome::Failed => &c.failed,
            Outcome::Filtered => &c.filtered,
        })
    }

    pub fn add(&self, items: usize) {
        if let Some(counter) = self.counter() {
            Counters::add(counter, items);
        }
    }

    /// Items counted so far (0 when detached).
    pub fn get(&self) -> u64 {
        self.counter().map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// A tail sampler's decision taken before its trace's `decision_wait` was over,
    /// because a bound was reached: counted beside the outcome, in `decided_early`.
    pub fn decided_early(&self, items: usize) {
        if let Some(c) = &self.counters {
            Counters::add(&c.decided_early, items);
        }
    }
}
