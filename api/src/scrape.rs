//! The loop every scraping receiver runs (the Collector's `scraperhelper`): a task per
//! [`Scraper`] that waits a start offset, then on every tick of its interval runs one
//! cycle under a deadline, counts the cycle's failed reads in the receiver's `failed`,
//! and hands the metrics on. A cycle over its deadline is abandoned, counted as one
//! failed read and logged once until a cycle finishes in time again; a cycle the
//! pipeline refuses (memory limit, full queue) is skipped, and the pipeline's wrapper
//! has counted it refused. Cancellation stops every task between or during cycles.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rand::Rng;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::batch::Batch;
use crate::consumer::Consumer;
use crate::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use crate::outcome::OutcomeCounter;

/// What one cycle read.
#[derive(Debug, Default)]
pub struct Scraped {
    /// The metrics; nothing is sent when it holds no resource.
    pub request: ExportMetricsServiceRequest,
    /// Reads that failed this cycle (endpoints that did not answer, readings that
    /// errored): counted in the receiver's `failed`.
    pub failed: usize,
}

/// One scrape target's reading: state kept between cycles lives in the implementor.
/// Failures worth a log line are logged by the scraper (once per change, it knows what
/// changed); the controller logs only what it sees (deadlines, refusals).
#[async_trait]
pub trait Scraper: Send + 'static {
    /// The target, as logs name it (`target_name`).
    fn name(&self) -> &str;
    async fn scrape(&mut self) -> Scraped;
    /// What the target's removal leaves behind, sent once when its controller retires it
    /// ([`ScrapeController::retire`]): Prometheus' stale markers for every series the
    /// target had. Nothing by default; not called on shutdown, where Prometheus writes
    /// no markers either.
    fn retired(&mut self) -> Option<ExportMetricsServiceRequest> {
        None
    }
}

/// When cycles run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub interval: Duration,
    /// The most one cycle may take; the interval is the usual choice (a longer cycle
    /// would overlap the next).
    pub timeout: Duration,
    /// The first cycle runs after a random wait below this (zero: at once), so that many
    /// targets of one receiver do not all fetch in the same instant.
    pub start_jitter: Duration,
    /// A fixed wait before the first cycle, before the jitter (the Collector's
    /// `initial_delay`).
    pub start_delay: Duration,
}

impl Schedule {
    /// Every `interval`, each cycle within it, the first at once.
    pub fn every(interval: Duration) -> Schedule {
        Schedule {
            interval,
            timeout: interval,
            start_jitter: Duration::ZERO,
            start_delay: Duration::ZERO,
        }
    }
}

/// The tasks of one receiver's scrapers.
pub struct ScrapeController {
    component: String,
    failures: OutcomeCounter,
    cancel: CancellationToken,
    /// Cancelled when the targets are removed rather than the receiver stopped.
    retiring: CancellationToken,
    tasks: JoinSet<()>,
}

impl ScrapeController {
    /// For the receiver `component`, counting failed reads in `failures` (its build
    /// context's `failures`).
    pub fn new(component: &str, failures: OutcomeCounter) -> ScrapeController {
        ScrapeController {
            component: component.to_string(),
            failures,
            cancel: CancellationToken::new(),
            retiring: CancellationToken::new(),
            tasks: JoinSet::new(),
        }
    }

    /// Runs `scraper` on `schedule` until [`ScrapeController::shutdown`].
    pub fn spawn(
        &mut self,
        mut scraper: impl Scraper,
        schedule: Schedule,
        next: Arc<dyn Consumer>,
    ) {
        let (component, failures, cancel, retiring) = (
            self.component.clone(),
            self.failures.clone(),
            self.cancel.clone(),
            self.retiring.clone(),
        );
        self.tasks.spawn(async move {
            let offset = schedule.start_delay
                + if schedule.start_jitter.is_zero() {
                    Duration::ZERO
                } else {
                    schedule.start_jitter.mul_f64(rand::rng().random_range(0.0..1.0))
                };
            let mut ticker =
                tokio::time::interval_at(tokio::time::Instant::now() + offset, schedule.interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let mut late = false;
            loop {
                tokio::select! {
                    _ = ticker.tick() => {}
                    () = cancel.cancelled() => return,
                    () = retiring.cancelled() => break,
                }
                let cycle = tokio::select! {
                    r = tokio::time::timeout(schedule.timeout, scraper.scrape()) => r,
                    () = cancel.cancelled() => return,
                    () = retiring.cancelled() => break,
                };
                let Ok(scraped) = cycle else {
                    failures.add(1);
                    if !late {
                        late = true;
                        tracing::warn!(component = %component, target_name = %scraper.name(), timeout = ?schedule.timeout, "scrape cycle did not finish in time; abandoned and counted (logged again only after a cycle finishes in time)");
                    }
                    continue;
                };
                if late {
                    late = false;
                    tracing::info!(component = %component, target_name = %scraper.name(), "scrape cycles finish in time again");
                }
                failures.add(scraped.failed);
                if scraped.request.resource_metrics.is_empty() {
                    continue;
                }
                if let Err(e) = next.consume(Batch::from(scraped.request)).await {
                    tracing::debug!(component = %component, target_name = %scraper.name(), error = %e, "scrape cycle refused by the pipeline; skipped");
                }
            }
            if let Some(request) = scraper.retired() {
                if let Err(e) = next.consume(Batch::from(request)).await {
                    tracing::debug!(component = %component, target_name = %scraper.name(), error = %e, "a retired target's last batch refused by the pipeline");
                }
            }
        });
    }

    /// Stops every scraper because its target is gone (not because the receiver stops):
    /// each sends what [`Scraper::retired`] leaves behind, then its task ends.
    pub async fn retire(&mut self) {
        self.retiring.cancel();
        while self.tasks.join_next().await.is_some() {}
    }

    /// Stops every scraper and waits for their tasks.
    pub async fn shutdown(&mut self) {
        self.cancel.cancel();
        while self.tasks.join_next().await.is_some() {}
    }
}

#[cfg(all(test, feature = "testing"))]
mod tests;
