//! The floor the collector is measured against: CPU time prost alone needs to decode
//! and re-encode the same requests the load generator sends; and what every receiver's
//! request check (`Batch::from_bytes`) costs on them.

use llamacol_api::otlp::collector::logs::v1::ExportLogsServiceRequest;
use llamacol_api::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use llamacol_api::otlp::collector::trace::v1::ExportTraceServiceRequest;
use llamacol_api::{Batch, Signal};
use prost::Message;

use crate::{cpu, data};

/// CPU-seconds per million items to decode and re-encode `total_items` items.
pub fn measure(signal: Signal, batch_size: usize, total_items: usize) -> f64 {
    let requests = data::pool(signal, batch_size, 64, 42);
    let before = cpu::thread_seconds().unwrap_or(0.0);
    let mut items = 0;
    let mut k = 0;
    let mut sink = 0usize;
    while items < total_items {
        let (bytes, n) = &requests[k % requests.len()];
        k += 1;
        let encoded = match signal {
            Signal::Traces => {
                ExportTraceServiceRequest::decode(bytes.clone()).map(|m| m.encode_to_vec())
            }
            Signal::Metrics => {
                ExportMetricsServiceRequest::decode(bytes.clone()).map(|m| m.encode_to_vec())
            }
            Signal::Logs => {
                ExportLogsServiceRequest::decode(bytes.clone()).map(|m| m.encode_to_vec())
            }
        };
        sink = sink.wrapping_add(encoded.map(|e| e.len()).unwrap_or(0));
        items += n;
    }
    let spent = cpu::thread_seconds().unwrap_or(0.0) - before;
    std::hint::black_box(sink);
    spent / items as f64 * 1e6
}

/// CPU-seconds per million items for the receivers' check of `total_items` items
/// (`Batch::from_bytes`: wire format, UTF-8, item count), on the same requests as `measure`.
pub fn check(signal: Signal, batch_size: usize, total_items: usize) -> anyhow::Result<f64> {
    let requests = data::pool(signal, batch_size, 64, 42);
    let before = cpu::thread_seconds().unwrap_or(0.0);
    let mut items = 0;
    let mut k = 0;
    while items < total_items {
        let (bytes, n) = &requests[k % requests.len()];
        k += 1;
        let batch = Batch::from_bytes(signal, bytes.clone())?;
        anyhow::ensure!(
            batch.items() == *n,
            "the check counted {} of {n}",
            batch.items()
        );
        items += n;
    }
    let spent = cpu::thread_seconds().unwrap_or(0.0) - before;
    Ok(spent / items as f64 * 1e6)
}
