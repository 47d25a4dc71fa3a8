use std::time::{Duration, Instant};

use super::{MemoryQueue, Queue, Refused};
use crate::batch::Batch;
use crate::testing::sample_traces;

fn batch(spans: usize) -> Batch {
    Batch::from(sample_traces(1, spans))
}

#[tokio::test]
async fn a_full_queue_makes_the_pusher_wait_and_wakes_it_when_a_batch_is_done() {
    let q = std::sync::Arc::new(MemoryQueue::new(2, false, 0));
    q.push(batch(1), Duration::ZERO).await.expect("room");
    let held = q.pop().await.expect("popped: being exported");
    q.push(batch(1), Duration::ZERO).await.expect("room");
    let (refused, _) = q.push(batch(1), Duration::ZERO).await.expect_err("full");
    assert_eq!(
        refused,
        Refused::Full,
        "the exported batch still holds its room"
    );

    let waiter = {
        let q = q.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            q.push(batch(1), Duration::from_secs(5))
                .await
                .map_err(|(r, _)| r)?;
            Ok::<Duration, Refused>(started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!waiter.is_finished(), "waits for room");
    drop(held); // delivered: its room is released
    let waited = waiter.await.expect("task").expect("pushed once room freed");
    assert!(
        waited >= Duration::from_millis(100) && waited < Duration::from_secs(1),
        "{waited:?}"
    );
    assert_eq!(q.len(), 2);
}

#[tokio::test]
async fn the_wait_is_bounded_and_the_batch_handed_back() {
    let q = MemoryQueue::new(1, false, 0);
    q.push(batch(3), Duration::ZERO).await.expect("room");
    let started = Instant::now();
    let (refused, back) = q
        .push(batch(7), Duration::from_millis(150))
        .await
        .expect_err("still full");
    assert_eq!(refused, Refused::Full);
    assert_eq!(
        back.items(),
        7,
        "nothing lost: the caller gets the batch back"
    );
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn bytes_bound_the_queue_and_a_batch_larger_than_the_bound_passes_alone() {
    let one = batch(100).encoded_len() as u64;
    let q = MemoryQueue::new(100, false, one * 2 + 10);
    q.push(batch(100), Duration::ZERO).await.expect("1 of 2");
    q.push(batch(100), Duration::ZERO).await.expect("2 of 2");
    assert!(q.bytes() >= 2 * one);
    let (refused, _) = q
        .push(batch(100), Duration::ZERO)
        .await
        .expect_err("bytes full");
    assert_eq!(refused, Refused::Full);
    assert_eq!(q.take_all().len(), 2);
    assert_eq!(q.bytes(), 0, "room released with the batches");

    let huge = batch(1000);
    assert!(huge.encoded_len() as u64 > one * 2 + 10);
    q.push(huge, Duration::ZERO)
        .await
        .expect("alone in an empty queue");
    let (refused, _) = q
        .push(batch(1), Duration::ZERO)
        .await
        .expect_err("it fills the bound");
    assert_eq!(refused, Refused::Full);
}

#[tokio::test]
async fn closing_wakes_waiters_and_pop_drains_what_is_left() {
    let q = std::sync::Arc::new(MemoryQueue::new(1, false, 0));
    q.push(batch(2), Duration::ZERO).await.expect("room");
    let waiter = {
        let q = q.clone();
        tokio::spawn(async move {
            q.push(batch(1), Duration::from_secs(30))
                .await
                .map_err(|(r, _)| r)
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    q.close();
    assert_eq!(waiter.await.expect("task"), Err(Refused::Closed));
    let mut left = q.pop().await.expect("queued before close");
    assert_eq!(left.batch.take().map(|b| b.items()), Some(2));
    drop(left);
    assert!(q.pop().await.is_none(), "closed and empty");
}

/// A far side that refuses requests above `limit` bytes for their size, saying the limit
/// (as grpc-go does) or not (as an HTTP 413 does).
struct Limited {
    declared: Option<usize>,
    limit: usize,
    states_limit: bool,
    seen: std::sync::Mutex<Vec<usize>>,
    delivered: std::sync::atomic::AtomicUsize,
}

impl Limited {
    fn new(declared: Option<usize>, limit: usize, states_limit: bool) -> Limited {
        Limited {
            declared,
            limit,
            states_limit,
            seen: std::sync::Mutex::new(Vec::new()),
            delivered: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    fn delivered(&self) -> usize {
        self.delivered.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn seen(&self) -> Vec<usize> {
        self.seen.lock().expect("lock").clone()
    }
}

#[async_trait::async_trait]
impl crate::component::Exporter for Limited {
    fn max_request_size(&self) -> Option<usize> {
        self.declared
    }

    async fn export(&self, batch: &mut Batch) -> Result<(), llamacol_api::ConsumeError> {
        let size = batch.encoded_len();
        self.seen.lock().expect("lock").push(size);
        if size > self.limit {
            let message = format!(
                "grpc: received message larger than max ({size} vs. {})",
                self.limit
            );
            let stated = self.states_limit.then_some(self.limit);
            return Err(llamacol_api::ConsumeError::request_too_large(
                message, stated,
            ));
        }
        self.delivered
            .fetch_add(batch.items(), std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

fn retrier() -> super::Retrier {
    let id = llamacol_api::ComponentId::parse("otlp/limited").expect("id");
    super::Retrier::new(id, crate::config::RetrySettings::default(), false)
}

fn outcomes(c: &crate::telemetry::Counters) -> [u64; 3] {
    use std::sync::atomic::Ordering::SeqCst;
    [
        c.sent.load(SeqCst),
        c.failed.load(SeqCst),
        c.dropped.load(SeqCst),
    ]
}

#[tokio::test]
async fn batches_are_cut_to_the_exporters_max_request_size() {
    let exporter = Limited::new(Some(4_000), 4_000, true);
    let retrier = retrier();
    let counters = crate::telemetry::Counters::default();
    let big = batch(300);
    assert!(big.encoded_len() > 3 * 4_000);
    let delivery = retrier.deliver(&exporter, big, &counters).await;
    assert!(delivery.into_result().is_ok());
    assert_eq!(exporter.delivered(), 300);
    assert_eq!(outcomes(&counters), [300, 0, 0]);
    assert!(
        exporter.seen().iter().all(|s| *s <= 4_000),
        "{:?}",
        exporter.seen()
    );
    assert_eq!(
        retrier.fit.split.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
}

#[tokio::test]
async fn a_refusal_for_size_is_cut_at_the_stated_limit_and_the_limit_kept() {
    let exporter = Limited::new(None, 5_000, true);
    let retrier = retrier();
    let counters = crate::telemetry::Counters::default();
    let delivery = retrier.deliver(&exporter, batch(300), &counters).await;
    assert!(delivery.into_result().is_ok());
    assert_eq!(
        outcomes(&counters),
        [300, 0, 0],
        "nothing failed, nothing retried as it was"
    );
    assert_eq!(
        retrier.fit.limit(None),
        Some(5_000),
        "learned from the refusal"
    );
    let refused = exporter.seen().iter().filter(|s| **s > 5_000).count();
    assert_eq!(refused, 1, "one refusal: {:?}", exporter.seen());

    // The next batch is cut before it is sent: no refusal at all.
    let before = exporter.seen().len();
    let delivery = retrier.deliver(&exporter, batch(300), &counters).await;
    assert!(delivery.into_result().is_ok());
    assert!(exporter.seen()[before..].iter().all(|s| *s <= 5_000));
    assert_eq!(exporter.delivered(), 600);
}

#[tokio::test]
async fn a_refusal_that_states_no_limit_halves_the_request_until_it_passes() {
    let exporter = Limited::new(None, 3_000, false);
    let retrier = retrier();
    let counters = crate::telemetry::Counters::default();
    let delivery = retrier.deliver(&exporter, batch(300), &counters).await;
    assert!(delivery.into_result().is_ok());
    assert_eq!(outcomes(&counters), [300, 0, 0]);
    let learned = retrier.fit.limit(None).expect("learned");
    assert!(learned <= 3_000 && learned > 3_000 / 4, "{learned}");
}

/// `spans` spans, the one at `index` carrying a prompt of `prompt` bytes.
fn with_a_long_prompt(spans: usize, index: usize, prompt: usize) -> Batch {
    let mut request = sample_traces(1, spans);
    request.resource_spans[0].scope_spans[0].spans[index]
        .attributes
        .push(crate::testing::string_attr(
            "gen_ai.prompt",
            &"p".repeat(prompt),
        ));
    Batch::from(request)
}

#[tokio::test]
async fn an_item_too_large_alone_is_counted_failed_with_the_limit_and_the_rest_delivered() {
    let exporter = Limited::new(Some(20_000), 20_000, true);
    let retrier = retrier();
    let counters = crate::telemetry::Counters::default();
    let delivery = retrier
        .deliver(&exporter, with_a_long_prompt(100, 42, 30_000), &counters)
        .await;
    let error = delivery.into_result().expect_err("one item failed");
    assert!(!error.is_retryable());
    let message = error.to_string();
    assert!(
        message.contains("1 item(s) left out") && message.contains("at most 20000 bytes"),
        "{message}"
    );
    assert_eq!(outcomes(&counters), [99, 1, 0]);
    assert_eq!(exporter.delivered(), 99);
}

#[tokio::test]
async fn a_single_item_refused_for_size_is_failed_not_retried() {
    let exporter = Limited::new(None, 5_000, true);
    let retrier = retrier();
    let counters = crate::telemetry::Counters::default();
    let started = Instant::now();
    let delivery = retrier
        .deliver(&exporter, with_a_long_prompt(1, 0, 10_000), &counters)
        .await;
    assert!(delivery.into_result().is_err());
    assert_eq!(outcomes(&counters), [0, 1, 0]);
    assert_eq!(exporter.seen().len(), 1, "sent once, not retried");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "no backoff wait"
    );
}

/// Records each exported batch's items (and its resource blocks), slowly when asked.
#[derive(Default)]
struct Recording {
    exported: std::sync::Mutex<Vec<(usize, usize)>>,
    delay: Duration,
}

#[async_trait::async_trait]
impl crate::component::Exporter for Recording {
    async fn export(&self, batch: &mut Batch) -> Result<(), llamacol_api::ConsumeError> {
        tokio::time::sleep(self.delay).await;
        let Batch::Traces(traces) = batch.clone() else {
            panic!("traces only here");
        };
        let resources = traces.into_message().expect("decodes").resource_spans.len();
        self.exported
            .lock()
            .expect("lock")
            .push((batch.items(), resources));
        Ok(())
    }
}

fn batching_queue(
    yaml: &str,
    exporter: std::sync::Arc<Recording>,
) -> std::sync::Arc<super::ExporterQueue> {
    let settings: crate::config::QueueSettings = serde_yaml::from_str(yaml).expect("settings");
    assert_eq!(settings.problems(), Vec::new());
    let id = llamacol_api::ComponentId::parse("otlp/batched").expect("id");
    super::ExporterQueue::new(
        id,
        exporter,
        settings,
        crate::config::RetrySettings::default(),
        None,
        &crate::telemetry::Telemetry::new(),
    )
    .expect("queue")
}

async fn push(queue: &super::ExporterQueue, spans: usize, times: usize) {
    use crate::consumer::Consumer;
    for _ in 0..times {
        queue.consume(batch(spans)).await.expect("queued");
    }
}

#[tokio::test]
async fn sending_queue_batch_merges_to_min_size_and_splits_at_max_size() {
    let exporter = std::sync::Arc::new(Recording::default());
    let queue = batching_queue(
        "batch: {min_size: 100, max_size: 120, flush_timeout: 10s}",
        exporter.clone(),
    );
    queue.start().await.expect("start");
    // 10 requests of 30 spans, one resource each (all equal): 300 spans.
    push(&queue, 30, 10).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let exported = exporter.exported.lock().expect("lock").clone();
    // 120 reached at the 4th request: everything pending leaves in pieces of <= 120.
    assert!(
        exported.iter().all(|(items, _)| *items <= 120),
        "{exported:?}"
    );
    assert!(
        exported.iter().all(|(_, resources)| *resources == 1),
        "equal resources merge into one block: {exported:?}"
    );
    assert_eq!(
        exported.iter().map(|e| e.0).sum::<usize>(),
        240,
        "{exported:?}"
    );
    // The last 60 wait for the timeout (10s) or shutdown, which sends them.
    queue
        .shutdown(Duration::from_secs(5))
        .await
        .expect("shutdown");
    let total: usize = exporter
        .exported
        .lock()
        .expect("lock")
        .iter()
        .map(|e| e.0)
        .sum();
    assert_eq!(total, 300);
}

#[tokio::test]
async fn sending_queue_batch_sends_below_min_size_after_flush_timeout() {
    let exporter = std::sync::Arc::new(Recording::default());
    let queue = batching_queue(
        "batch: {flush_timeout: 150ms}", // min_size 8192 by default
        exporter.clone(),
    );
    queue.start().await.expect("start");
    push(&queue, 5, 4).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        exporter.exported.lock().expect("lock").is_empty(),
        "before the timeout"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(*exporter.exported.lock().expect("lock"), vec![(20, 1)]);
    queue
        .shutdown(Duration::from_secs(1))
        .await
        .expect("shutdown");
}

#[tokio::test]
async fn sending_queue_batch_in_bytes_and_the_room_is_held_until_exported() {
    let exporter = std::sync::Arc::new(Recording {
        delay: Duration::from_millis(300),
        ..Recording::default()
    });
    let one = batch(10).encoded_len();
    // Room for 3 requests; a merged export of 2 holds the room of both until it is done.
    let queue = batching_queue(
        &format!(
            // Item bytes (what `min_size` counts) of one request are below `one`, of two above.
            "{{queue_size: 3, block_on_overflow: false, num_consumers: 1, batch: {{sizer: bytes, min_size: {one}, flush_timeout: 10s}}}}",
        ),
        exporter.clone(),
    );
    queue.start().await.expect("start");
    push(&queue, 10, 3).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    use crate::consumer::Consumer;
    let refused = queue.consume(batch(10)).await;
    assert!(
        refused.is_err(),
        "two merged (being exported) and one pending hold all 3 places"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    push(&queue, 10, 1).await; // the export is done: room again
    queue
        .shutdown(Duration::from_secs(5))
        .await
        .expect("shutdown");
    let exported = exporter.exported.lock().expect("lock").clone();
    assert_eq!(
        exported.iter().map(|e| e.0).sum::<usize>(),
        40,
        "{exported:?}"
    );
    assert_eq!(exported[0].0, 20, "merged at the byte size: {exported:?}");
}

#[tokio::test]
async fn a_queue_sized_in_items_counts_items() {
    let exporter = std::sync::Arc::new(Recording {
        delay: Duration::from_secs(10),
        ..Recording::default()
    });
    let queue = batching_queue(
        "{sizer: items, queue_size: 100, block_on_overflow: false, num_consumers: 1}",
        exporter,
    );
    queue.start().await.expect("start");
    push(&queue, 60, 1).await;
    use crate::consumer::Consumer;
    assert!(queue.consume(batch(50)).await.is_err(), "110 items > 100");
    queue.consume(batch(40)).await.expect("100 items fit");
}

#[test]
fn sending_queue_settings_the_collector_refuses_are_refused() {
    let problems = |yaml: &str| {
        serde_yaml::from_str::<crate::config::QueueSettings>(yaml)
            .expect("parses")
            .problems()
            .into_iter()
            .map(|(key, _)| key)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        problems("batch:"),
        Vec::<&str>::new(),
        "`batch:` alone turns it on"
    );
    assert_eq!(
        problems("{sizer: requests, batch: {}}"),
        vec!["batch.sizer"]
    );
    assert_eq!(
        problems("{sizer: bytes, queue_size: 1000, batch: {}}"),
        vec!["batch.min_size"]
    );
    assert_eq!(
        problems("batch: {min_size: 10, max_size: 5}"),
        vec!["batch.max_size"]
    );
    assert_eq!(problems("{enabled: false, batch: {}}"), vec!["batch"]);
    assert_eq!(
        problems("{sizer: items, storage: file_storage}"),
        vec!["sizer"]
    );
    let on: crate::config::QueueSettings = serde_yaml::from_str("batch:").expect("parses");
    assert_eq!(on.batch_sizer(), crate::config::Sizer::Items);
    let off: crate::config::QueueSettings =
        serde_yaml::from_str("batch: {enabled: false}").expect("parses");
    assert_eq!(off.batch, None);
}
