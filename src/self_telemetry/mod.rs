//! llamacol's own telemetry as the Collector's `service.telemetry` configures it: the
//! log sampling and outputs (`logs.sampling`, `output_paths`), its logs pushed over OTLP
//! (`logs.processors`), its metrics pushed over OTLP (`metrics.readers[].periodic`), all
//! under one resource (`service.telemetry.resource`).

mod logs;
mod metrics;
mod otlp;
mod output;
mod sampling;

pub use logs::{pair as log_pair, LogPush};
pub use metrics::MetricsPush;
pub use output::writer;
pub use sampling::SamplingLayer;

/// Events from here are never pushed as logs (a failing push would feed itself).
pub const TARGET: &str = "llamacol::self_telemetry";

/// This process's `service.instance.id`: a random UUID, as the Collector makes one.
pub fn instance_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/uuid")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            format!("{:x}-{:x}", std::process::id(), nanos)
        })
}
