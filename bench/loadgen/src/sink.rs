//! A counting OTLP sink: llamacol's own `otlp` receiver feeding a `count` exporter
//! written against the public component API (the way a user writes a plugin). It can
//! be slowed down per batch to simulate a struggling backend.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use llamacol_api::{Batch, ConsumeError, Exporter, ExporterFactory, Signal};
use llamacol_pipeline::config::{load, parse_block, ComponentConfig, ConfigSpec, ConfigText};
use llamacol_pipeline::runtime::Service;
use llamacol_pipeline::telemetry::Telemetry;
use llamacol_pipeline::Registry;

static RECEIVED: AtomicU64 = AtomicU64::new(0);
/// Per signal, in `Signal::ALL` order (traces, metrics, logs).
static RECEIVED_BY_SIGNAL: [AtomicU64; 3] =
    [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
struct CountConfig {
    /// Pause per batch, to play a slow backend.
    #[serde(with = "llamacol_pipeline::config::duration")]
    delay: Duration,
}

impl ComponentConfig for CountConfig {}

struct Count(Duration);

#[async_trait]
impl Exporter for Count {
    async fn export(&self, batch: &mut Batch) -> Result<(), ConsumeError> {
        if !self.0.is_zero() {
            tokio::time::sleep(self.0).await;
        }
        RECEIVED.fetch_add(batch.items() as u64, Ordering::Relaxed);
        let slot = Signal::ALL
            .iter()
            .position(|s| *s == batch.signal())
            .unwrap_or(0);
        RECEIVED_BY_SIGNAL[slot].fetch_add(batch.items() as u64, Ordering::Relaxed);
        Ok(())
    }
}

fn count_factory() -> ExporterFactory {
    ExporterFactory {
        type_name: "count",
        signals: &Signal::ALL,
        config: ConfigSpec::of::<CountConfig>(),
        build: |_, block| Ok(Arc::new(Count(parse_block::<CountConfig>(block)?.delay))),
    }
}

/// Serves until SIGINT/SIGTERM, writing the running total to `count_file` every 100ms,
/// and the totals per signal to `<count_file>.signals` (`traces metrics logs`).
/// `max_recv_mib`: the receiver's message limit (4 is every gRPC server's default; the
/// benchmarks use 64 so that the sink never refuses what a collector sends).
pub async fn run(
    endpoint: &str,
    delay: Duration,
    queue_size: usize,
    count_file: &str,
    max_recv_mib: usize,
) -> anyhow::Result<()> {
    let yaml = format!(
        "receivers:\n  otlp:\n    protocols:\n      grpc: {{endpoint: \"{endpoint}\", max_recv_msg_size_mib: {max_recv_mib}}}\nexporters:\n  count:\n    delay: {}ms\n    sending_queue: {{queue_size: {queue_size}, num_consumers: 4}}\nservice:\n  pipelines:\n    traces: {{receivers: [otlp], exporters: [count]}}\n    metrics: {{receivers: [otlp], exporters: [count]}}\n    logs: {{receivers: [otlp], exporters: [count]}}\n",
        delay.as_millis()
    );
    let registry = Registry::new()
        .receiver(llamacol_receivers::otlp::factory())
        .exporter(count_factory());
    let (config, _) = load(
        &[ConfigText {
            name: "sink".into(),
            text: yaml,
        }],
        &registry,
        &|_| None,
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut service = Service::build(&config, &registry, Telemetry::new())?;
    service.start().await?;
    let write = || {
        let by_signal: Vec<String> = RECEIVED_BY_SIGNAL
            .iter()
            .map(|c| c.load(Ordering::Relaxed).to_string())
            .collect();
        std::fs::write(format!("{count_file}.signals"), by_signal.join(" "))?;
        std::fs::write(count_file, RECEIVED.load(Ordering::Relaxed).to_string())
    };
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(100)) => write()?,
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    service.shutdown().await;
    write()?;
    Ok(())
}
