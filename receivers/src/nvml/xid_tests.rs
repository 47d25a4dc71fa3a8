//! XID events through the receiver: counted in the metrics, sent as log records in a logs
//! pipeline, kept and sent again while the pipeline refuses them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use llamacol_api::otlp::collector::logs::v1::ExportLogsServiceRequest;
use llamacol_api::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use llamacol_api::otlp::common::v1::any_value;
use llamacol_api::{Batch, ConsumeError, Consumer, OutcomeCounter, Receiver, Signal};
use llamacol_pipeline::testing::{number_points as points, number_value as value, Capture};
use prost::Message;

use super::fake::FakeGpus;
use super::{xid, NvmlConfig, NvmlReceiver};

/// Refuses the first `refusals` log batches (retryable), then keeps every batch.
#[derive(Default)]
struct Refusing {
    refusals: AtomicUsize,
    capture: Capture,
}

#[async_trait]
impl Consumer for Refusing {
    async fn consume(&self, batch: Batch) -> Result<(), ConsumeError> {
        let refuse = batch.signal() == Signal::Logs
            && self
                .refusals
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
        if refuse {
            return Err(ConsumeError::retryable("memory limit"));
        }
        self.capture.consume(batch).await
    }
}

fn config(yaml: &str) -> NvmlConfig {
    llamacol_api::config::parse(&llamacol_api::serde_yaml::from_str(yaml).expect("yaml"))
        .expect("config")
}

fn logs(batches: &[Batch]) -> Vec<ExportLogsServiceRequest> {
    batches
        .iter()
        .filter(|b| b.signal() == Signal::Logs)
        .map(|b| {
            ExportLogsServiceRequest::decode(b.encoded().expect("encoded").clone()).expect("logs")
        })
        .collect()
}

fn last_metrics(batches: &[Batch]) -> ExportMetricsServiceRequest {
    let mut b = batches
        .iter()
        .rev()
        .find(|b| b.signal() == Signal::Metrics)
        .expect("metrics")
        .clone();
    let Batch::Metrics(p) = &mut b else {
        unreachable!()
    };
    p.message().expect("decoded").clone()
}

#[tokio::test]
async fn xids_are_counted_logged_and_resent_until_the_pipeline_takes_them() {
    let mut gpus = FakeGpus::new(2);
    gpus.xids = vec![
        (Duration::from_millis(20), 1, 79),
        (Duration::from_millis(40), 0, 13),
        (Duration::from_millis(60), 1, 79),
    ];
    let next = Arc::new(Refusing::default());
    next.refusals.store(2, Ordering::SeqCst);
    let mut receiver = NvmlReceiver::new(
        "nvml".into(),
        config("{collection_interval: 50ms}"),
        Some(Arc::new(gpus)),
        OutcomeCounter::default(),
    )
    .for_signals(&[Signal::Metrics, Signal::Logs]);
    receiver.start(next.clone()).await.expect("start");
    // Two refusals, each retried after half a second.
    tokio::time::sleep(Duration::from_millis(1800)).await;
    receiver.shutdown().await.expect("shutdown");

    let batches = next.capture.batches();
    let records: Vec<_> = logs(&batches)
        .into_iter()
        .flat_map(|r| r.resource_logs)
        .flat_map(|r| r.scope_logs)
        .flat_map(|s| s.log_records)
        .collect();
    assert_eq!(
        records.len(),
        3,
        "every XID delivered once, after the refusals"
    );
    let first = &records[0];
    assert_eq!(first.severity_text, "ERROR");
    let body = match first.body.as_ref().and_then(|b| b.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        body,
        "XID 79 on GPU 1 (NVIDIA H200, GPU-00000000-0000-0000-0000-000000000001): GPU has fallen off the bus"
    );
    let xid_attr = first.attributes.iter().find(|kv| kv.key == "nvml.xid");
    assert_eq!(
        xid_attr.and_then(|kv| kv.value.as_ref()?.value.clone()),
        Some(any_value::Value::IntValue(79))
    );

    let metrics = last_metrics(&batches);
    let m = &metrics.resource_metrics[0].scope_metrics[0].metrics;
    let errors = m
        .iter()
        .find(|m| m.name == "nvml.xid.errors")
        .expect("xid counter");
    let per: Vec<(String, f64)> = points(errors)
        .iter()
        .map(|p| {
            let hw = p
                .attributes
                .iter()
                .find(|kv| kv.key == "hw.id")
                .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                    any_value::Value::StringValue(s) => Some(s.clone()),
                    _ => None,
                });
            (hw.unwrap_or_default(), value(p))
        })
        .collect();
    assert!(
        per.contains(&("GPU-00000000-0000-0000-0000-000000000001".into(), 2.0)),
        "{per:?}"
    );
    assert!(
        per.contains(&("GPU-00000000-0000-0000-0000-000000000000".into(), 1.0)),
        "{per:?}"
    );
    let last = m
        .iter()
        .find(|m| m.name == "nvml.xid.last")
        .expect("last xid");
    let mut lasts: Vec<f64> = points(last).iter().map(value).collect();
    lasts.sort_by(f64::total_cmp);
    assert_eq!(lasts, [13.0, 79.0]);
}

#[tokio::test]
async fn without_a_logs_pipeline_xids_are_only_counted() {
    let mut gpus = FakeGpus::new(1);
    gpus.xids = vec![(Duration::from_millis(10), 0, 48)];
    let capture = Arc::new(Capture::default());
    let mut receiver = NvmlReceiver::new(
        "nvml".into(),
        config("{collection_interval: 50ms, naming: dcgm}"),
        Some(Arc::new(gpus)),
        OutcomeCounter::default(),
    );
    receiver.start(capture.clone()).await.expect("start");
    tokio::time::sleep(Duration::from_millis(250)).await;
    receiver.shutdown().await.expect("shutdown");
    let batches = capture.batches();
    assert!(logs(&batches).is_empty());
    let metrics = last_metrics(&batches);
    let m = &metrics.resource_metrics[0].scope_metrics[0].metrics;
    let last = m
        .iter()
        .find(|m| m.name == "DCGM_FI_DEV_XID_ERRORS")
        .expect("dcgm xid");
    assert_eq!(
        value(&points(last)[0]),
        48.0,
        "the latest XID, as dcgm-exporter"
    );
}

#[test]
fn every_xid_of_the_catalog_has_its_description() {
    assert_eq!(xid::description(79), "GPU has fallen off the bus");
    assert_eq!(xid::description(48), "Double Bit ECC Error");
    assert_eq!(xid::description(94), "Contained ECC error");
    assert_eq!(xid::description(100_000), "Unknown XID");
}
