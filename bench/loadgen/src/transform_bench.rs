//! `loadgen transform`: what the `transform` processor with three typical statements
//! (rename a model where it matches, delete an attribute, rewrite a path) costs per span,
//! next to the real Collector's `transform` with the same statements, and each next to
//! its own plain `otlp -> batch -> otlp` forward, in one run, on the same core, to the
//! same counting sink.

use crate::bench::{
    print_table, scenario, Options, Row, Scenario, Which, COLLECTOR_CPU, FAST_SINK,
};

// The table is this command's output.
#[allow(clippy::print_stdout)]
pub async fn run(opts: &Options) -> anyhow::Result<()> {
    std::fs::create_dir_all(&opts.work_dir)?;
    let configs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs");
    let mut plan = vec![
        (
            "transform-llamacol-forward",
            "llamacol: otlp -> batch -> otlp",
            Which::Llamacol,
            "otlp-batch-otlp.yaml",
        ),
        (
            "transform-llamacol",
            "llamacol: otlp -> transform (3 statements) -> batch -> otlp",
            Which::Llamacol,
            "otlp-transform-otlp.yaml",
        ),
    ];
    if opts.otelcol.is_some() {
        plan.push((
            "transform-otelcol-forward",
            "otelcol 0.161.0: otlp -> batch -> otlp",
            Which::Otelcol,
            "otelcol/otlp-batch-otlp.yaml",
        ));
        plan.push((
            "transform-otelcol",
            "otelcol 0.161.0: otlp -> transform (3 statements) -> batch -> otlp",
            Which::Otelcol,
            "otelcol/otlp-transform-otlp.yaml",
        ));
    }
    let mut rows: Vec<Row> = Vec::new();
    for (name, label, which, config) in plan {
        rows.push(
            scenario(
                opts,
                Scenario {
                    name,
                    label: label.into(),
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
    // No floor here: the x-floor column is against 1 CPU-s per 1M spans.
    print_table(&rows, 1.0);
    println!();
    let per_cpu = |r: &Row| 1e6 / r.cpu_per_million.max(f64::MIN_POSITIVE);
    println!(
        "llamacol: transform adds {:.2} CPU-s per 1M spans to its forward ({:.2} -> {:.2}); spans per CPU-second with transform / without: {:.2}",
        rows[1].cpu_per_million - rows[0].cpu_per_million,
        rows[0].cpu_per_million,
        rows[1].cpu_per_million,
        per_cpu(&rows[1]) / per_cpu(&rows[0])
    );
    if let [_, ours, theirs_forward, theirs] = rows.as_slice() {
        println!(
            "otelcol: transform adds {:.2} CPU-s per 1M spans to its forward ({:.2} -> {:.2})",
            theirs.cpu_per_million - theirs_forward.cpu_per_million,
            theirs_forward.cpu_per_million,
            theirs.cpu_per_million
        );
        println!(
            "spans per collector CPU-second with transform, llamacol / otelcol: {:.2}",
            per_cpu(ours) / per_cpu(theirs)
        );
    }
    Ok(())
}
