//! What one scrape of the `loadgen scrape` target allocates in llamacol: the `prometheus`
//! receiver in this process (fetch, parse, relabel, translate, series state), each batch
//! then encoded to OTLP protobuf as an exporter sends it. Counted by a counting wrapper
//! around the system allocator (bytes requested do not depend on the allocator; the
//! product runs mimalloc). Prints one JSON object; `loadgen scrape` runs it.
//!
//! Usage: scrape_alloc SECONDS

#[path = "../scrape_target.rs"]
mod scrape_target;

use std::alloc::System;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use llamacol_api::{Batch, BuildContext, ComponentId, ConsumeError, Consumer, Signal};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Encodes each batch as the OTLP exporter would, and counts the points.
struct Encoding {
    points: AtomicU64,
}

#[async_trait]
impl Consumer for Encoding {
    async fn consume(&self, mut batch: Batch) -> Result<(), ConsumeError> {
        let bytes = batch.bytes();
        std::hint::black_box(bytes);
        self.points
            .fetch_add(batch.items() as u64, Ordering::Relaxed);
        Ok(())
    }
}

// The JSON line is this program's output.
#[allow(clippy::print_stdout)]
#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let seconds: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let (body, samples) = scrape_target::exposition();
    let (port, served) = scrape_target::serve(Arc::new(body))?;
    let block: llamacol_api::serde_yaml::Value = llamacol_api::serde_yaml::from_str(&format!(
        "config:\n  scrape_configs:\n    - job_name: bench\n      scrape_interval: 1s\n      scrape_timeout: 1s\n      static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n"
    ))?;
    let ctx = BuildContext::new(ComponentId::parse("prometheus")?, vec![Signal::Metrics]);
    let mut receiver = (llamacol_receivers::prometheus::factory().build)(&ctx, &block)
        .map_err(|e| anyhow::anyhow!(e))?;
    let sink = Arc::new(Encoding {
        points: AtomicU64::new(0),
    });
    receiver
        .start(sink.clone())
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
    // Warm-up: the first scrapes create every series' state.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (n0, p0) = (
        served.load(Ordering::Relaxed),
        sink.points.load(Ordering::Relaxed),
    );
    let region = Region::new(GLOBAL);
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let change = region.change();
    let (n1, p1) = (
        served.load(Ordering::Relaxed),
        sink.points.load(Ordering::Relaxed),
    );
    receiver.shutdown().await.map_err(|e| anyhow::anyhow!(e))?;
    let scrapes = n1.saturating_sub(n0).max(1);
    println!(
        "{{\"samples\":{samples},\"scrapes\":{scrapes},\"bytes_per_scrape\":{},\"allocations_per_scrape\":{},\"points_per_scrape\":{}}}",
        change.bytes_allocated as u64 / scrapes,
        change.allocations as u64 / scrapes,
        p1.saturating_sub(p0) / scrapes
    );
    Ok(())
}
