//! Sends OTLP load through llamacol's own `otlp` exporter (standard OTLP/gRPC or
//! OTLP/HTTP, so any receiver can be the target), one connection per worker.

use std::sync::Arc;
use std::time::{Duration, Instant};

use llamacol_api::{Batch, BuildContext, ComponentId, Signal};

use crate::data;

pub struct Plan {
    pub endpoint: String,
    pub protocol: String,
    pub compression: String,
    pub signal: Signal,
    pub batch_size: usize,
    /// Items per second over all connections; 0 = as fast as the target answers.
    pub rate: u64,
    pub duration: Duration,
    pub connections: usize,
    /// Traces only: every request is generated anew (new trace ids), instead of cycling
    /// through a pool of 64; what a tail sampler must see as new traces.
    pub fresh: bool,
}

#[derive(Default, Debug, Clone, serde::Serialize)]
pub struct Report {
    pub sent: u64,
    pub accepted: u64,
    pub refused: u64,
    pub failed: u64,
    pub seconds: f64,
    pub rate: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

pub async fn run(plan: Plan) -> anyhow::Result<Report> {
    let requests = Arc::new(data::pool(plan.signal, plan.batch_size, 64, 42));
    let started = Instant::now();
    let deadline = started + plan.duration;
    let mut workers = Vec::new();
    for w in 0..plan.connections.max(1) {
        let exporter = build_exporter(&plan)?;
        let requests = requests.clone();
        let per_worker_rate = plan.rate as f64 / plan.connections.max(1) as f64;
        let (fresh, batch_size) = (plan.fresh && plan.signal == Signal::Traces, plan.batch_size);
        workers.push(tokio::spawn(async move {
            let mut report = Report::default();
            let mut latencies = Vec::new();
            let mut next_send = Instant::now();
            let mut k = w;
            let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(1000 + w as u64);
            while Instant::now() < deadline {
                let fresh_request;
                let (bytes, items) = if fresh {
                    let request = data::traces(&mut rng, batch_size);
                    let items = request
                        .resource_spans
                        .iter()
                        .flat_map(|r| &r.scope_spans)
                        .map(|s| s.spans.len())
                        .sum::<usize>();
                    fresh_request = (
                        bytes::Bytes::from(prost::Message::encode_to_vec(&request)),
                        items,
                    );
                    (&fresh_request.0, &fresh_request.1)
                } else {
                    let (bytes, items) = &requests[k % requests.len()];
                    (bytes, items)
                };
                k += 1;
                if per_worker_rate > 0.0 {
                    tokio::time::sleep_until(next_send.into()).await;
                    next_send += Duration::from_secs_f64(*items as f64 / per_worker_rate);
                }
                let mut batch =
                    Batch::from_encoded_parts(signal_of(&exporter.1), bytes.clone(), *items);
                let t0 = Instant::now();
                let result = exporter.0.export(&mut batch).await;
                latencies.push(t0.elapsed().as_micros() as u64);
                report.sent += *items as u64;
                match result {
                    Ok(()) => report.accepted += *items as u64,
                    Err(e) if e.is_retryable() => {
                        report.refused += *items as u64;
                        // A refusal asks the client to back off; do so briefly, like an SDK would.
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err(_) => report.failed += *items as u64,
                }
            }
            (report, latencies)
        }));
    }
    let mut total = Report::default();
    let mut latencies = Vec::new();
    for w in workers {
        let (r, l) = w.await?;
        total.sent += r.sent;
        total.accepted += r.accepted;
        total.refused += r.refused;
        total.failed += r.failed;
        latencies.extend(l);
    }
    total.seconds = started.elapsed().as_secs_f64();
    total.rate = total.accepted as f64 / total.seconds;
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    total.p50_ms = pct(0.50);
    total.p99_ms = pct(0.99);
    Ok(total)
}

fn signal_of(s: &Signal) -> Signal {
    *s
}

type Client = (Arc<dyn llamacol_api::Exporter>, Signal);

fn build_exporter(plan: &Plan) -> anyhow::Result<Client> {
    let endpoint = if plan.protocol == "grpc" && !plan.endpoint.contains("://") {
        format!("http://{}", plan.endpoint)
    } else {
        plan.endpoint.clone()
    };
    // `max_request_size: 0`: the load generator sends the requests it is told to, whatever
    // their size; the receiver under test decides (the 8192-span scenario feeds a sink
    // that takes 64 MiB).
    let yaml = format!(
        "{{endpoint: \"{endpoint}\", protocol: {}, compression: {}, timeout: 10s, max_request_size: 0}}",
        plan.protocol, plan.compression
    );
    let block = llamacol_api::serde_yaml::from_str(&yaml)?;
    let ctx = BuildContext::new(ComponentId::parse("otlp/loadgen")?, vec![plan.signal]);
    let factory = llamacol_exporters::otlp::factory();
    let exporter = (factory.build)(&ctx, &block).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((exporter, plan.signal))
}
