use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::{Schedule, ScrapeController, Scraped, Scraper};
use crate::outcome::{Counters, Outcome, OutcomeCounter};
use crate::testing::{sample_metrics, Capture};

/// Cycle n reads `sample_metrics(1)` with n % 3 failed reads, nothing on every 4th
/// cycle, and takes `slow` on the cycles `slow_on` lists.
struct Counting {
    cycle: usize,
    slow: Duration,
    slow_on: Vec<usize>,
}

#[async_trait]
impl Scraper for Counting {
    fn name(&self) -> &str {
        "counting"
    }

    async fn scrape(&mut self) -> Scraped {
        self.cycle += 1;
        if self.slow_on.contains(&self.cycle) {
            tokio::time::sleep(self.slow).await;
        }
        Scraped {
            request: if self.cycle.is_multiple_of(4) {
                Default::default()
            } else {
                sample_metrics(1)
            },
            failed: self.cycle % 3,
        }
    }
}

fn controller() -> (ScrapeController, Arc<Counters>) {
    let counters = Arc::new(Counters::default());
    let failures = OutcomeCounter::new(counters.clone(), Outcome::Failed);
    (ScrapeController::new("test", failures), counters)
}

#[tokio::test(start_paused = true)]
async fn every_tick_runs_a_cycle_counts_failed_reads_and_sends_what_was_read() {
    let (mut c, counters) = controller();
    let sink = Arc::new(Capture::default());
    let scraper = Counting {
        cycle: 0,
        slow: Duration::ZERO,
        slow_on: vec![],
    };
    c.spawn(
        scraper,
        Schedule::every(Duration::from_secs(10)),
        sink.clone(),
    );
    // Cycles at 0, 10, 20, 30, 40 s.
    tokio::time::sleep(Duration::from_secs(45)).await;
    c.shutdown().await;
    // Failed reads 1+2+0+1+2; cycle 4 read nothing and sent nothing.
    assert_eq!(counters.failed.load(Ordering::Relaxed), 6);
    assert_eq!(sink.batches().len(), 4);
}

#[tokio::test(start_paused = true)]
async fn a_cycle_over_its_deadline_is_abandoned_and_counted_once() {
    let (mut c, counters) = controller();
    let sink = Arc::new(Capture::default());
    let scraper = Counting {
        cycle: 0,
        slow: Duration::from_secs(60),
        slow_on: vec![2],
    };
    let schedule = Schedule {
        timeout: Duration::from_secs(3),
        ..Schedule::every(Duration::from_secs(10))
    };
    c.spawn(scraper, schedule, sink.clone());
    // Cycle 1 at 0 s; cycle 2 at 10 s times out at 13 s; cycle 3 at 20 s.
    tokio::time::sleep(Duration::from_secs(25)).await;
    c.shutdown().await;
    // Failed: 1 (cycle 1) + 1 (the abandoned cycle) + 0 (cycle 3).
    assert_eq!(counters.failed.load(Ordering::Relaxed), 2);
    assert_eq!(sink.batches().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn the_first_cycle_waits_below_the_start_jitter() {
    let (mut c, _) = controller();
    let sink = Arc::new(Capture::default());
    let scraper = Counting {
        cycle: 0,
        slow: Duration::ZERO,
        slow_on: vec![],
    };
    let schedule = Schedule {
        start_jitter: Duration::from_secs(5),
        start_delay: Duration::ZERO,
        ..Schedule::every(Duration::from_secs(60))
    };
    c.spawn(scraper, schedule, sink.clone());
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(sink.batches().len(), 1, "one cycle within the jitter");
    c.shutdown().await;
}

/// A scraper that leaves a last batch behind when retired.
struct Leaving;

#[async_trait]
impl Scraper for Leaving {
    fn name(&self) -> &str {
        "leaving"
    }

    async fn scrape(&mut self) -> Scraped {
        Scraped::default()
    }

    fn retired(
        &mut self,
    ) -> Option<crate::otlp::collector::metrics::v1::ExportMetricsServiceRequest> {
        Some(sample_metrics(2))
    }
}

#[tokio::test(start_paused = true)]
async fn a_retired_scraper_sends_its_last_batch_and_a_stopped_one_does_not() {
    let sink = Arc::new(Capture::default());
    let (mut retired, _) = controller();
    retired.spawn(
        Leaving,
        Schedule::every(Duration::from_secs(10)),
        sink.clone(),
    );
    tokio::time::sleep(Duration::from_secs(15)).await;
    retired.retire().await;
    assert_eq!(sink.batches().len(), 1, "the retired target's last batch");

    let (mut stopped, _) = controller();
    stopped.spawn(
        Leaving,
        Schedule::every(Duration::from_secs(10)),
        sink.clone(),
    );
    tokio::time::sleep(Duration::from_secs(15)).await;
    stopped.shutdown().await;
    assert_eq!(sink.batches().len(), 1, "nothing more on shutdown");
}
