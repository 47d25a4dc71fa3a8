//! The one retry schedule every retry loop uses (exporter queues, the stateful worker,
//! alert notifications, graphistry uploads): exponential backoff with jitter, bounded per
//! wait and in total, where a server's `Retry-After` replaces the computed wait (the
//! Collector's `retry_on_failure` and its `backoff` package).

use std::time::{Duration, Instant};

use rand::Rng;

/// How waits grow. The Collector's exporter defaults are
/// [`BackoffPolicy::COLLECTOR_EXPORTER`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackoffPolicy {
    /// The wait after the first failure.
    pub initial: Duration,
    /// Upper bound of one wait.
    pub max_interval: Duration,
    /// Each wait is this many times the one before.
    pub multiplier: f64,
    /// Each wait is drawn within +/- this fraction of its nominal value (0: exact).
    pub randomization_factor: f64,
    /// Retrying stops once this long has passed since the first attempt; zero: never.
    pub max_elapsed: Duration,
}

impl BackoffPolicy {
    /// `retry_on_failure`'s defaults: 5s, growing 1.5x with +/-50% jitter to 30s, for 300s.
    pub const COLLECTOR_EXPORTER: BackoffPolicy = BackoffPolicy {
        initial: Duration::from_secs(5),
        max_interval: Duration::from_secs(30),
        multiplier: 1.5,
        randomization_factor: 0.5,
        max_elapsed: Duration::from_secs(300),
    };

    /// Doubling from `initial` to `max_interval`, no jitter, no overall bound (a caller
    /// that bounds attempts itself).
    pub const fn doubling(initial: Duration, max_interval: Duration) -> BackoffPolicy {
        BackoffPolicy {
            initial,
            max_interval,
            multiplier: 2.0,
            randomization_factor: 0.0,
            max_elapsed: Duration::ZERO,
        }
    }
}

/// One retry sequence: created at the first attempt, asked for the wait after each
/// failure, reset after a success.
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: BackoffPolicy,
    interval: Duration,
    started: Instant,
    /// Set by [`Backoff::failed`]: no attempt before this.
    not_before: Option<Instant>,
}

impl Backoff {
    pub fn new(policy: BackoffPolicy) -> Backoff {
        Backoff::started_at(policy, Instant::now())
    }

    /// A sequence whose `max_elapsed` counts from `started` (the first attempt of a
    /// request whose pieces are retried one by one).
    pub fn started_at(policy: BackoffPolicy, started: Instant) -> Backoff {
        Backoff {
            policy,
            interval: policy.initial,
            started,
            not_before: None,
        }
    }

    /// The wait before the next attempt: the server's `retry_after` when it gave one,
    /// else the next step of the schedule. `None` when waiting would pass `max_elapsed`:
    /// give up.
    pub fn next_wait(&mut self, retry_after: Option<Duration>) -> Option<Duration> {
        let wait =
            retry_after.unwrap_or_else(|| jitter(self.interval, self.policy.randomization_factor));
        let max = self.policy.max_elapsed;
        if !max.is_zero() && self.started.elapsed() + wait > max {
            return None;
        }
        self.interval = self
            .interval
            .mul_f64(self.policy.multiplier)
            .min(self.policy.max_interval);
        Some(wait)
    }

    /// After a success: the next failure starts the schedule again.
    pub fn reset(&mut self) {
        self.interval = self.policy.initial;
        self.started = Instant::now();
        self.not_before = None;
    }

    /// For a task that tries again on its own timer (a background upload): notes a
    /// failure and returns the wait, after which [`Backoff::due`] is true again. Past
    /// `max_elapsed` it keeps waiting `max_interval` (the caller decides when to give up).
    pub fn failed(&mut self, retry_after: Option<Duration>) -> Duration {
        let wait = self
            .next_wait(retry_after)
            .unwrap_or(self.policy.max_interval);
        self.not_before = Some(Instant::now() + wait);
        wait
    }

    /// Whether the wait after the last failure is over (always, before any failure).
    pub fn due(&self) -> bool {
        self.not_before.is_none_or(|t| Instant::now() >= t)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_by_the_multiplier_up_to_the_bound() {
        let mut b = Backoff::new(BackoffPolicy::doubling(
            Duration::from_secs(1),
            Duration::from_secs(5),
        ));
        let waits: Vec<u64> = (0..5)
            .map(|_| b.next_wait(None).map_or(0, |d| d.as_secs()))
            .collect();
        assert_eq!(waits, [1, 2, 4, 5, 5]);
        b.reset();
        assert_eq!(b.next_wait(None), Some(Duration::from_secs(1)));
    }

    #[test]
    fn retry_after_replaces_the_wait_and_the_schedule_still_advances() {
        let mut b = Backoff::new(BackoffPolicy::doubling(
            Duration::from_secs(1),
            Duration::from_secs(60),
        ));
        assert_eq!(
            b.next_wait(Some(Duration::from_secs(7))),
            Some(Duration::from_secs(7))
        );
        assert_eq!(b.next_wait(None), Some(Duration::from_secs(2)));
    }

    #[test]
    fn gives_up_when_the_wait_would_pass_max_elapsed() {
        let mut b = Backoff::new(BackoffPolicy {
            max_elapsed: Duration::from_secs(10),
            ..BackoffPolicy::doubling(Duration::from_secs(4), Duration::from_secs(60))
        });
        assert_eq!(b.next_wait(None), Some(Duration::from_secs(4)));
        assert_eq!(b.next_wait(Some(Duration::from_secs(11))), None);
    }

    #[test]
    fn a_failure_makes_it_not_due_until_the_wait_is_over_and_a_success_clears_it() {
        let mut b = Backoff::new(BackoffPolicy::doubling(
            Duration::from_millis(20),
            Duration::from_secs(1),
        ));
        assert!(b.due(), "due before any failure");
        assert_eq!(b.failed(None), Duration::from_millis(20));
        assert!(!b.due());
        std::thread::sleep(Duration::from_millis(25));
        assert!(b.due());
        assert_eq!(b.failed(None), Duration::from_millis(40));
        b.reset();
        assert!(b.due(), "a success clears the wait");
        assert_eq!(
            b.failed(None),
            Duration::from_millis(20),
            "and the schedule"
        );
    }

    #[test]
    fn jitter_stays_within_the_factor() {
        for _ in 0..1000 {
            let d = jitter(Duration::from_secs(10), 0.5);
            assert!(d >= Duration::from_secs(5) && d <= Duration::from_secs(15));
        }
        assert_eq!(jitter(Duration::from_secs(3), 0.0), Duration::from_secs(3));
    }
}
