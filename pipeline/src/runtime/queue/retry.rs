//! Sending one batch to an exporter, retrying what is retryable with exponential backoff
//! and jitter (the Collector's `retry_on_failure`), until success, a permanent error,
//! `max_elapsed_time`, or the shutdown deadline. Outcomes are counted by the caller's
//! counters; repeated failures are logged once per distinct error.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use llamacol_api::backoff::Backoff;
use tokio_util::sync::CancellationToken;

use super::fit::RequestFit;
use super::QueueError;
use crate::batch::Batch;
use crate::component::{ComponentId, Exporter};
use crate::config::RetrySettings;
use crate::consumer::{ConsumeError, RequestTooLarge};
use crate::log_once::LogOnce;
use crate::telemetry::Counters;

pub struct Retrier {
    id: ComponentId,
    settings: RetrySettings,
    /// Cancelled at the shutdown deadline: in-flight retries stop.
    pub hard_stop: CancellationToken,
    /// Batches cut off at the deadline stay in a persistent queue (not counted here).
    persistent: bool,
    failures: LogOnce,
    /// Requests failing now (between their first failure and their end): failures are
    /// over, and said so once, when this returns to zero through a delivery.
    retrying: AtomicUsize,
    /// Failed attempts since failures started, for the recovery line.
    failed_attempts: AtomicU64,
    /// The request-size limit, configured and learned.
    pub fit: Arc<RequestFit>,
}

/// How one batch's delivery ended; every outcome but `Kept` is counted by `deliver`.
pub enum Delivery {
    Sent,
    /// Failed for good, or dropped at the shutdown deadline.
    GivenUp(ConsumeError),
    /// Cut off at the shutdown deadline, to be sent again from a persistent queue.
    Kept(ConsumeError),
}

impl Delivery {
    pub fn into_result(self) -> Result<(), ConsumeError> {
        match self {
            Delivery::Sent => Ok(()),
            Delivery::GivenUp(e) | Delivery::Kept(e) => Err(e),
        }
    }
}

impl Retrier {
    pub fn new(id: ComponentId, settings: RetrySettings, persistent: bool) -> Retrier {
        Retrier {
            fit: Arc::new(RequestFit::new(id.clone())),
            id,
            settings,
            hard_stop: CancellationToken::new(),
            persistent,
            failures: LogOnce::new(),
            retrying: AtomicUsize::new(0),
            failed_attempts: AtomicU64::new(0),
        }
    }

    /// Exports `batch`, counting it as sent, failed, dropped or unknown in `counters`.
    /// It goes out in requests the far side accepts (see `fit.rs`), each retried on its
    /// own; `max_elapsed_time` counts from the first attempt at the batch.
    pub async fn deliver(
        &self,
        exporter: &dyn Exporter,
        batch: Batch,
        counters: &Counters,
    ) -> Delivery {
        let started = Instant::now();
        let limit = self.fit.limit(exporter.max_request_size());
        let (mut pending, oversize) = self
            .fit
            .pieces(batch, limit, counters, "`max_request_size`");
        let mut outcome = oversize.map_or(Delivery::Sent, Delivery::GivenUp);
        while let Some(piece) = pending.pop_front() {
            let given_up = match self.attempt(exporter, piece, counters, started).await {
                Attempt::Sent => None,
                Attempt::TooLarge(piece, too_large, error) => {
                    let (smaller, oversize) = self.fit.refused(piece, too_large, &error, counters);
                    for p in smaller.into_iter().rev() {
                        pending.push_front(p);
                    }
                    oversize
                }
                Attempt::GivenUp(e) => Some(e),
                Attempt::Kept(e) => return Delivery::Kept(e),
                Attempt::Stopped(e) => {
                    // Cut off at the deadline: the pieces not tried were never sent.
                    for p in pending {
                        Counters::add(&counters.dropped, p.items());
                    }
                    return Delivery::GivenUp(e);
                }
            };
            if let (Some(e), Delivery::Sent) = (given_up, &outcome) {
                outcome = Delivery::GivenUp(e);
            }
        }
        outcome
    }

    /// Exports one request, retrying what is retryable; counts its outcome (but a refusal
    /// for size, which the caller cuts and sends again).
    async fn attempt(
        &self,
        exporter: &dyn Exporter,
        mut batch: Batch,
        counters: &Counters,
        started: Instant,
    ) -> Attempt {
        let mut items = batch.items();
        let mut backoff = Backoff::started_at(self.settings.policy(), started);
        let mut failing = false;
        let closed = || {
            ConsumeError::retryable(QueueError::Closed {
                exporter: self.id.to_string(),
            })
        };
        loop {
            let result = tokio::select! {
                r = exporter.export(&mut batch) => r,
                () = self.hard_stop.cancelled() => {
                    self.stop_failing(failing);
                    if self.persistent {
                        // Sent again on the next start: a duplicate at worst, never a loss.
                        return Attempt::Kept(closed());
                    }
                    // Cut off mid-request: the backend may already have it. Not `dropped`
                    // (that would double-count what it got), not `sent` (it may not have).
                    Counters::add(&counters.unknown, items);
                    tracing::warn!(component = %self.id, items, "export in flight at the shutdown deadline; outcome unknown");
                    return Attempt::Stopped(closed());
                }
            };
            let error = match result {
                Ok(()) => {
                    Counters::add(&counters.sent, items);
                    self.fit.delivered(&batch);
                    self.recovered(failing);
                    return Attempt::Sent;
                }
                Err(e) => e,
            };
            // An exporter that delivered part of the batch keeps only the rest in it.
            let left = batch.items();
            if left < items {
                Counters::add(&counters.sent, items - left);
                items = left;
            }
            if let Some(too_large) = error.too_large() {
                self.stop_failing(failing);
                return Attempt::TooLarge(batch, too_large, error);
            }
            if !error.is_retryable() || !self.settings.enabled {
                self.stop_failing(failing);
                Counters::add(&counters.failed, items);
                tracing::warn!(component = %self.id, error = %error, items, "export failed permanently; data dropped");
                return Attempt::GivenUp(error);
            }
            let Some(wait) = backoff.next_wait(error.retry_after()) else {
                self.stop_failing(failing);
                Counters::add(&counters.failed, items);
                let max = self.settings.max_elapsed_time;
                tracing::warn!(component = %self.id, error = %error, items, "export still failing after {max:?} of retries; data dropped");
                return Attempt::GivenUp(error);
            };
            if !failing {
                failing = true;
                self.retrying.fetch_add(1, Ordering::Relaxed);
            }
            self.note_failure(&error, wait);
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.hard_stop.cancelled() => {
                    self.stop_failing(failing);
                    if self.persistent {
                        return Attempt::Kept(error);
                    }
                    Counters::add(&counters.dropped, items);
                    return Attempt::Stopped(error);
                }
            }
        }
    }

    /// Logs a failure once per distinct error while failures last, not once per retry.
    fn note_failure(&self, error: &ConsumeError, wait: Duration) {
        self.failed_attempts.fetch_add(1, Ordering::Relaxed);
        let message = error.to_string();
        if self.failures.is_new(&message) {
            tracing::warn!(component = %self.id, error = %message, "export failed; will retry (in {wait:?}); repeats are not logged until it recovers");
        }
    }

    /// A request that had failed is over without delivery (given up, cut off).
    fn stop_failing(&self, failing: bool) {
        if failing {
            self.retrying.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// A request that had failed was delivered: when no other is still failing, the
    /// failures are over, said once with how many attempts failed meanwhile.
    fn recovered(&self, failing: bool) {
        if failing && self.retrying.fetch_sub(1, Ordering::Relaxed) == 1 && self.failures.cleared()
        {
            let failed_attempts = self.failed_attempts.swap(0, Ordering::Relaxed);
            tracing::info!(component = %self.id, failed_attempts, "export recovered");
        }
    }
}

/// How one request's export ended.
enum Attempt {
    Sent,
    /// Refused for its size: counted by whoever sends its pieces.
    TooLarge(Batch, RequestTooLarge, ConsumeError),
    /// Counted failed.
    GivenUp(ConsumeError),
    /// Cut off at the shutdown deadline; a persistent queue sends the batch again.
    Kept(ConsumeError),
    /// Cut off at the shutdown deadline (in memory): counted unknown or dropped.
    Stopped(ConsumeError),
}
