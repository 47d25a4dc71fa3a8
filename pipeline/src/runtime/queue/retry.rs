//! Sending one batch to an exporter, retrying what is retryable with exponential backoff
//! and jitter (the Collector's `retry_on_failure`), until success, a permanent error,
//! `max_elapsed_time`, or the shutdown deadline. Outcomes are counted by the caller's
//! counters; repeated failures are logged once per distinct error.

use std::time::{Duration, Instant};

use rand::Rng;
use tokio_util::sync::CancellationToken;

use super::QueueError;
use crate::batch::Batch;
use crate::component::{ComponentId, Exporter};
use crate::config::RetrySettings;
use crate::consumer::ConsumeError;
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
            id,
            settings,
            hard_stop: CancellationToken::new(),
            persistent,
            failures: LogOnce::new(),
        }
    }

    /// Exports `batch`, counting it as sent, failed, dropped or unknown in `counters`.
    pub async fn deliver(
        &self,
        exporter: &dyn Exporter,
        mut batch: Batch,
        counters: &Counters,
    ) -> Delivery {
        let items = batch.items();
        let started = Instant::now();
        let mut interval = self.settings.initial_interval;
        let closed = || {
            ConsumeError::retryable(QueueError::Closed {
                exporter: self.id.to_string(),
            })
        };
        loop {
            let result = tokio::select! {
                r = exporter.export(&mut batch) => r,
                () = self.hard_stop.cancelled() => {
                    if self.persistent {
                        // Sent again on the next start: a duplicate at worst, never a loss.
                        return Delivery::Kept(closed());
                    }
                    // Cut off mid-request: the backend may already have it. Not `dropped`
                    // (that would double-count what it got), not `sent` (it may not have).
                    Counters::add(&counters.unknown, items);
                    tracing::warn!(component = %self.id, items, "export in flight at the shutdown deadline; outcome unknown");
                    return Delivery::GivenUp(closed());
                }
            };
            let error = match result {
                Ok(()) => {
                    Counters::add(&counters.sent, items);
                    self.note_recovered();
                    return Delivery::Sent;
                }
                Err(e) => e,
            };
            if !error.is_retryable() || !self.settings.enabled {
                Counters::add(&counters.failed, items);
                tracing::warn!(component = %self.id, error = %error, items, "export failed permanently; data dropped");
                return Delivery::GivenUp(error);
            }
            let wait = error
                .retry_after()
                .unwrap_or_else(|| jitter(interval, self.settings.randomization_factor));
            let max = self.settings.max_elapsed_time;
            if !max.is_zero() && started.elapsed() + wait > max {
                Counters::add(&counters.failed, items);
                tracing::warn!(component = %self.id, error = %error, items, "export still failing after {max:?} of retries; data dropped");
                return Delivery::GivenUp(error);
            }
            self.note_failure(&error, wait);
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.hard_stop.cancelled() => {
                    if self.persistent {
                        return Delivery::Kept(error);
                    }
                    Counters::add(&counters.dropped, items);
                    return Delivery::GivenUp(error);
                }
            }
            interval = interval
                .mul_f64(self.settings.multiplier)
                .min(self.settings.max_interval);
        }
    }

    /// Logs a failure once per distinct error, not once per retry.
    fn note_failure(&self, error: &ConsumeError, wait: Duration) {
        let message = error.to_string();
        if self.failures.is_new(&message) {
            tracing::warn!(component = %self.id, error = %message, "export failed; will retry (in {wait:?}); repeats are not logged");
        }
    }

    fn note_recovered(&self) {
        if self.failures.cleared() {
            tracing::info!(component = %self.id, "export recovered");
        }
    }
}

/// `interval` spread uniformly over +/- `factor` of itself.
pub fn jitter(interval: Duration, factor: f64) -> Duration {
    let factor = factor.clamp(0.0, 1.0);
    if factor == 0.0 {
        return interval;
    }
    let scale = rand::rng().random_range((1.0 - factor)..=(1.0 + factor));
    interval.mul_f64(scale)
}
