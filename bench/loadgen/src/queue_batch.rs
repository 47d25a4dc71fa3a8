//! `loadgen queue-batch`: `otlp -> otlp` with every default, batched by a `batch`
//! processor and by the exporter's queue (`sending_queue.batch: {}`), llamacol and the real
//! Collector on the same load in one run. Delivered is counted at the sink.

use crate::bench::{print_table, scenario, Options, Scenario, Which, COLLECTOR_CPU, FAST_SINK};
use crate::floor;
use llamacol_api::Signal;

/// (label, llamacol config, the Collector's twin).
const PLAN: [(&str, &str, &str); 2] = [
    (
        "batch processor",
        "otlp-batch-otlp.yaml",
        "otelcol/otlp-batch-otlp.yaml",
    ),
    (
        "sending_queue.batch",
        "otlp-queue-batch-otlp.yaml",
        "otelcol/otlp-queue-batch-otlp.yaml",
    ),
];

// The table is this command's output.
#[allow(clippy::print_stdout)]
pub async fn run(opts: &Options) -> anyhow::Result<()> {
    std::fs::create_dir_all(&opts.work_dir)?;
    let configs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs");
    let (batch, items) = (opts.batch_size, opts.floor_items);
    let floor =
        tokio::task::spawn_blocking(move || floor::measure(Signal::Traces, batch, items)).await?;
    let mut rows = Vec::new();
    for (i, (label, ours, theirs)) in PLAN.into_iter().enumerate() {
        let mut runs = vec![(Which::Llamacol, "llamacol", ours)];
        if opts.otelcol.is_some() {
            runs.push((Which::Otelcol, "otelcol 0.161.0", theirs));
        }
        for (which, who, config) in runs {
            let name = format!("queue-batch-{i}-{who}");
            rows.push(
                scenario(
                    opts,
                    Scenario {
                        name: &name,
                        label: format!("{label}: {who}"),
                        which,
                        config: configs.join(config).display().to_string(),
                        sink: FAST_SINK,
                        cpu: COLLECTOR_CPU,
                        connections: opts.connections,
                        compression: "none",
                        batch_size: None,
                    },
                )
                .await?,
            );
        }
    }
    println!("floor (prost decode + re-encode, same requests, one thread): {floor:.3} CPU-s per 1M spans");
    println!();
    print_table(&rows, floor);
    let per_cpu = |r: &crate::bench::Row| 1.0 / r.cpu_per_million.max(f64::MIN_POSITIVE);
    if let [a, b, c, d] = rows.as_slice() {
        println!(
            "\nspans per collector CPU-second, llamacol / Collector: batch processor {:.2}x, sending_queue.batch {:.2}x",
            per_cpu(a) / per_cpu(b),
            per_cpu(c) / per_cpu(d)
        );
    }
    Ok(())
}
