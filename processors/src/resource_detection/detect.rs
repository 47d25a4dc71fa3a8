//! One detection: every detector at once, each retried on its own schedule, the results
//! merged in the configured order (the first detector to set an attribute wins), the
//! whole bounded by `timeout` or `retry.max_elapsed_time` as the Collector bounds it.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use llamacol_api::backoff::{Backoff, BackoffPolicy};
use llamacol_api::otlp::common::v1::KeyValue;
use llamacol_api::BoxError;

use super::config::RetryConfig;

/// What one detector (or the merge of all) found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Detected {
    pub attributes: Vec<KeyValue>,
    /// The semantic-conventions schema the names follow; empty when unknown (`env`).
    pub schema_url: String,
}

/// A source of resource attributes. A detector that finds it is not on its platform (no
/// metadata service answers) returns an empty [`Detected`], not an error, unless told to
/// fail on missing metadata.
#[async_trait]
pub trait Detector: Send + Sync {
    fn name(&self) -> &'static str;
    async fn detect(&self) -> Result<Detected, BoxError>;
}

/// A detector that gave up.
#[derive(Debug, thiserror::Error)]
#[error("detector `{detector}`: {source}")]
pub struct DetectorFailed {
    pub detector: &'static str,
    #[source]
    pub source: BoxError,
}

/// Every detector that gave up in one detection.
#[derive(Debug, thiserror::Error)]
#[error("resource detection failed: {}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
pub struct DetectionFailed(pub Vec<DetectorFailed>);

/// How long one detection may take and how its detectors retry.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub timeout: Duration,
    pub retry: RetryConfig,
}

impl Schedule {
    /// The bound on the whole detection: `max_elapsed_time` when set, else `timeout`.
    fn session(&self) -> Option<Duration> {
        let max = self.retry.max_elapsed_time;
        if self.retry.enabled && !max.is_zero() {
            Some(max)
        } else {
            Some(self.timeout).filter(|t| !t.is_zero())
        }
    }

    fn policy(&self) -> BackoffPolicy {
        BackoffPolicy {
            initial: self.retry.initial_interval,
            max_interval: self.retry.max_interval,
            multiplier: self.retry.multiplier,
            randomization_factor: self.retry.randomization_factor,
            // The session deadline bounds the retries.
            max_elapsed: Duration::ZERO,
        }
    }
}

/// Runs every detector concurrently and merges what succeeded, in `detectors` order.
/// Returns the merge and, when any detector gave up, why.
pub async fn detect_all(
    detectors: &[Arc<dyn Detector>],
    schedule: &Schedule,
) -> (Detected, Option<DetectionFailed>) {
    let mut tasks = tokio::task::JoinSet::new();
    for (i, detector) in detectors.iter().enumerate() {
        let detector = detector.clone();
        let schedule = schedule.clone();
        tasks.spawn(async move { (i, with_retry(detector.as_ref(), &schedule).await) });
    }
    let mut results: Vec<Option<Result<Detected, BoxError>>> =
        (0..detectors.len()).map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        if let Ok((i, result)) = joined {
            results[i] = Some(result);
        }
    }
    let mut merged = Detected::default();
    let mut failures = Vec::new();
    for (detector, result) in detectors.iter().zip(results) {
        match result {
            Some(Ok(found)) => {
                merge(&mut merged.attributes, &found.attributes, false);
                if merged.schema_url.is_empty() {
                    merged.schema_url = found.schema_url;
                }
            }
            Some(Err(source)) => failures.push(DetectorFailed {
                detector: detector.name(),
                source,
            }),
            None => failures.push(DetectorFailed {
                detector: detector.name(),
                source: "the detection task panicked".into(),
            }),
        }
    }
    let failed = (!failures.is_empty()).then_some(DetectionFailed(failures));
    (merged, failed)
}

/// Attempts until one succeeds, retrying on the schedule, within the session bound; a
/// detector that gives up reports its last error and why it stopped.
async fn with_retry(detector: &dyn Detector, schedule: &Schedule) -> Result<Detected, BoxError> {
    let bound = schedule.session();
    let deadline = bound.map(|b| tokio::time::Instant::now() + b);
    let spelled = |b: Duration| humantime::format_duration(b).to_string();
    let mut backoff = Backoff::new(schedule.policy());
    let mut last: Option<BoxError> = None;
    loop {
        let attempt = detector.detect();
        let result = match deadline {
            Some(d) => match tokio::time::timeout_at(d, attempt).await {
                Ok(result) => result,
                Err(_) => {
                    let bound = spelled(bound.unwrap_or_default());
                    return Err(match last {
                        Some(e) => format!("{e} (still failing after {bound}: raise `timeout` or set `retry.max_elapsed_time`)"),
                        None => format!("no answer within {bound} (raise `timeout` or set `retry.max_elapsed_time`)"),
                    }
                    .into());
                }
            },
            None => attempt.await,
        };
        let e = match result {
            Ok(found) => return Ok(found),
            Err(e) if !schedule.retry.enabled => return Err(e),
            Err(e) => e,
        };
        let Some(wait) = backoff.next_wait(None) else {
            return Err(e);
        };
        if deadline.is_some_and(|d| tokio::time::Instant::now() + wait > d) {
            let bound = spelled(bound.unwrap_or_default());
            return Err(format!(
                "{e} (still failing after retries within {bound}: raise `timeout` or set `retry.max_elapsed_time`)"
            )
            .into());
        }
        tracing::warn!(detector = detector.name(), error = %e, retry_in = ?wait, "resource detection failed; will retry");
        last = Some(e);
        tokio::time::sleep(wait).await;
    }
}

/// Puts `from` into `to`: every attribute when `to` is empty; otherwise a key `to` already
/// has is replaced only with `override_existing` (the Collector's `MergeResource`).
pub fn merge(to: &mut Vec<KeyValue>, from: &[KeyValue], override_existing: bool) {
    for kv in from {
        match to.iter_mut().find(|t| t.key == kv.key) {
            Some(existing) if override_existing => existing.value = kv.value.clone(),
            Some(_) => {}
            None => to.push(kv.clone()),
        }
    }
}
