use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;

use bytes::Bytes;
use llamacol_api::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use llamacol_api::otlp::collector::trace::v1::ExportTraceServiceRequest;
use llamacol_api::outcome::Counters;
use llamacol_api::{ComponentId, ConsumeError, Kind, Outcome, OutcomeCounter, SignalMessage};
use llamacol_pipeline::telemetry::{Scope, Telemetry};
use llamacol_pipeline::testing::{sample_metrics, sample_traces, string_attr};
use prost::Message;

use super::*;

fn encoded(m: &impl Message) -> Bytes {
    Bytes::from(m.encode_to_vec())
}

#[test]
fn equal_resources_merge_into_one_block_and_keep_every_span() {
    let mut groups = Groups::new(Signal::Traces);
    groups.add(&encoded(&sample_traces(1, 3))).expect("add");
    groups.add(&encoded(&sample_traces(1, 2))).expect("add");
    groups.add(&encoded(&sample_traces(2, 1))).expect("add"); // resources svc-0 and svc-1
    assert_eq!(groups.items(), 7);
    let (bytes, items) = groups.take(0, 0);
    assert_eq!(items, 7);
    assert!(groups.is_empty());
    let merged = ExportTraceServiceRequest::decode(bytes).expect("valid protobuf");
    assert_eq!(merged.resource_spans.len(), 2, "svc-0 once, svc-1 once");
    let svc0 = &merged.resource_spans[0];
    assert_eq!(
        svc0.resource.as_ref().map(|r| r.attributes[0].clone()),
        Some(string_attr("service.name", "svc-0"))
    );
    assert_eq!(svc0.scope_spans.len(), 1, "same scope merged too");
    let names: Vec<&str> = svc0.scope_spans[0]
        .spans
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(
        names,
        ["span-0", "span-1", "span-2", "span-0", "span-1", "span-0"],
        "arrival order kept"
    );
    assert_eq!(merged.count_items(), 7);
}

#[test]
fn different_scopes_under_one_resource_stay_apart() {
    let mut a = sample_traces(1, 1);
    let mut b = sample_traces(1, 1);
    if let Some(scope) = b.resource_spans[0].scope_spans[0].scope.as_mut() {
        scope.name = "other".into();
    }
    a.resource_spans[0].schema_url = "https://opentelemetry.io/schemas/1.26.0".into();
    b.resource_spans[0].schema_url = "https://opentelemetry.io/schemas/1.26.0".into();
    let mut groups = Groups::new(Signal::Traces);
    groups.add(&encoded(&a)).expect("add");
    groups.add(&encoded(&b)).expect("add");
    let merged = ExportTraceServiceRequest::decode(groups.take(0, 0).0).expect("valid");
    assert_eq!(merged.resource_spans.len(), 1);
    assert_eq!(
        merged.resource_spans[0].schema_url,
        "https://opentelemetry.io/schemas/1.26.0"
    );
    assert_eq!(merged.resource_spans[0].scope_spans.len(), 2);
}

#[test]
fn take_splits_at_the_maximum() {
    let mut groups = Groups::new(Signal::Traces);
    groups.add(&encoded(&sample_traces(3, 9))).expect("add");
    let mut sizes = Vec::new();
    while !groups.is_empty() {
        let (bytes, items) = groups.take(10, 0);
        let decoded = ExportTraceServiceRequest::decode(bytes).expect("valid");
        assert_eq!(decoded.count_items(), items);
        sizes.push(items);
    }
    assert_eq!(sizes, [10, 10, 7]);
}

#[test]
fn take_stops_at_the_byte_bound_and_an_item_larger_than_it_leaves_alone() {
    let mut groups = Groups::new(Signal::Traces);
    let mut request = sample_traces(3, 40);
    request.resource_spans[1].scope_spans[0].spans[5]
        .attributes
        .push(string_attr("gen_ai.prompt", &"p".repeat(5_000)));
    groups.add(&encoded(&request)).expect("add");
    assert!(groups.bytes() > 10_000);
    let mut total = 0;
    let mut oversize = 0;
    while !groups.is_empty() {
        let (bytes, items) = groups.take(0, 2_000);
        let decoded = ExportTraceServiceRequest::decode(bytes.clone()).expect("valid");
        assert_eq!(decoded.count_items(), items);
        if bytes.len() > 2_000 {
            assert_eq!(items, 1, "only a single item may exceed the bound");
            oversize += 1;
        }
        total += items;
    }
    assert_eq!((total, oversize), (120, 1));
    assert_eq!(groups.bytes(), 0);
}

#[test]
fn metrics_count_data_points_and_split_at_whole_metrics() {
    let mut groups = Groups::new(Signal::Metrics);
    let request = sample_metrics(2); // per i: gauge (1 point), sum (2 points), histogram (1 point)
    groups.add(&encoded(&request)).expect("add");
    assert_eq!(groups.items(), request.count_items());
    let (bytes, items) = groups.take(2, 0);
    let decoded = ExportMetricsServiceRequest::decode(bytes).expect("valid");
    assert_eq!(
        (items, decoded.count_items()),
        (1, 1),
        "gauge alone: the sum's 2 points would exceed 2"
    );
    let (_, items) = groups.take(2, 0);
    assert_eq!(items, 2, "the sum");
}

/// Records what reaches it; refuses retryably `fail` times first, or always permanently.
#[derive(Default)]
struct Capture {
    batches: Mutex<Vec<usize>>,
    resources: Mutex<Vec<usize>>,
    fail: AtomicUsize,
    permanent: std::sync::atomic::AtomicBool,
}

#[derive(Debug, thiserror::Error)]
#[error("refused on purpose")]
struct Refused;

#[async_trait]
impl Consumer for Capture {
    async fn consume(&self, mut batch: Batch) -> Result<(), ConsumeError> {
        if self.permanent.load(Ordering::SeqCst) {
            return Err(ConsumeError::permanent(Refused));
        }
        if self
            .fail
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(ConsumeError::retryable(Refused));
        }
        let resources = match &mut batch {
            Batch::Traces(p) => p
                .message()
                .map(|m| m.resource_spans.len())
                .unwrap_or_default(),
            _ => 0,
        };
        self.resources
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(resources);
        self.batches
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(batch.items());
        Ok(())
    }
}

impl Capture {
    fn batches(&self) -> Vec<usize> {
        self.batches
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

fn processor(yaml: &str, next: Arc<Capture>) -> (Arc<dyn Processor>, Arc<Counters>) {
    let telemetry = Telemetry::new();
    let counters = telemetry.counters(Scope {
        kind: Kind::Processor,
        component: "batch".into(),
        signal: Signal::Traces,
        pipeline: Some("traces".into()),
    });
    let mut ctx = BuildContext::new(
        ComponentId::parse("batch").expect("id"),
        vec![Signal::Traces],
    );
    ctx.dropped = OutcomeCounter::new(counters.clone(), Outcome::Dropped);
    let block: Value = llamacol_api::serde_yaml::from_str(yaml).expect("yaml");
    (build(&ctx, &block, next).expect("build"), counters)
}

fn traces(resources: usize, spans: usize) -> Batch {
    Batch::from_bytes(Signal::Traces, encoded(&sample_traces(resources, spans))).expect("valid")
}

#[tokio::test(start_paused = true)]
async fn sends_at_size_then_on_timeout() {
    let capture = Arc::new(Capture::default());
    let (p, _) = processor("{send_batch_size: 10, timeout: 1s}", capture.clone());
    p.start().await.expect("start");
    for _ in 0..4 {
        p.consume(traces(1, 3)).await.expect("accepted");
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(capture.batches(), [10], "sent once 10 were pending");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(capture.batches(), [10], "the rest waits for the timeout");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(capture.batches(), [10, 2]);
    assert_eq!(
        *capture
            .resources
            .lock()
            .unwrap_or_else(PoisonError::into_inner),
        [1, 1],
        "one resource block, not four"
    );
    p.shutdown().await.expect("shutdown");
}

#[tokio::test(start_paused = true)]
async fn respects_the_maximum_and_flushes_on_shutdown() {
    let capture = Arc::new(Capture::default());
    let (p, _) = processor(
        "{send_batch_size: 100, send_batch_max_size: 100, timeout: 1h}",
        capture.clone(),
    );
    p.start().await.expect("start");
    p.consume(traces(5, 50)).await.expect("accepted");
    p.consume(traces(1, 7)).await.expect("accepted");
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(
        capture.batches(),
        [100, 100],
        "250 pending: two full batches sent"
    );
    p.shutdown().await.expect("shutdown");
    assert_eq!(
        capture.batches(),
        [100, 100, 57],
        "the rest flushed on shutdown"
    );
    assert!(p
        .consume(traces(1, 1))
        .await
        .expect_err("closed")
        .is_retryable());
}

#[tokio::test(start_paused = true)]
async fn send_batch_max_bytes_sends_as_soon_as_that_many_bytes_are_pending() {
    let capture = Arc::new(Capture::default());
    let (p, _) = processor(
        "{send_batch_size: 100000, send_batch_max_bytes: 3KiB, timeout: 1h}",
        capture.clone(),
    );
    p.start().await.expect("start");
    p.consume(traces(2, 100)).await.expect("accepted");
    tokio::time::sleep(Duration::from_millis(10)).await;
    let sent = capture.batches();
    assert!(
        sent.len() >= 4,
        "sent before the timeout, in pieces: {sent:?}"
    );
    p.shutdown().await.expect("shutdown");
    assert_eq!(capture.batches().iter().sum::<usize>(), 200);
}

#[tokio::test(start_paused = true)]
async fn retries_a_retryable_refusal_and_counts_a_permanent_one() {
    let capture = Arc::new(Capture::default());
    capture.fail.store(3, Ordering::SeqCst);
    let (p, counters) = processor("{send_batch_size: 5}", capture.clone());
    p.start().await.expect("start");
    p.consume(traces(1, 5)).await.expect("accepted");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(capture.batches(), [5], "delivered after three refusals");
    capture.permanent.store(true, Ordering::SeqCst);
    p.consume(traces(1, 5)).await.expect("accepted");
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(counters.dropped.load(Ordering::SeqCst), 5);
    p.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn an_abandoned_shutdown_counts_what_is_left_as_dropped() {
    let capture = Arc::new(Capture::default());
    capture.fail.store(usize::MAX, Ordering::SeqCst); // the next stage never takes anything
    let (p, counters) = processor("{send_batch_size: 4}", capture.clone());
    p.start().await.expect("start");
    p.consume(traces(1, 4)).await.expect("accepted");
    p.consume(traces(1, 3)).await.expect("accepted");
    let gave_up = tokio::time::timeout(Duration::from_millis(200), p.shutdown()).await;
    assert!(
        gave_up.is_err(),
        "shutdown cannot finish while the next stage refuses"
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        counters.dropped.load(Ordering::SeqCst),
        7,
        "accepted items counted, not lost silently"
    );
}
