//! Processors' cost next to the real Collector's, each next to its own plain
//! `otlp -> batch -> otlp` forward, in one run, on the same core, to the same counting
//! sink (the load generator's GenAI trace trees, 4 connections of 500-span requests):
//!
//! - `loadgen transform`: the `transform` processor with three typical statements (rename
//!   a model where it matches, delete an attribute, rewrite a path) against the
//!   Collector's `transform` with the same statements;
//! - `loadgen genai-wire`: `genai -> batch` plus the `genai_metrics` connector against the
//!   Collector's nearest twins, `batch` plus `span_metrics`, and the same with a
//!   `transform` doing the renames `genai` does on this load.

use crate::bench::{
    print_table, scenario, Options, Row, Scenario, Which, COLLECTOR_CPU, FAST_SINK,
};

/// One scenario of a comparison: its name, label, collector and config (under
/// bench/configs).
type Planned = (&'static str, &'static str, Which, &'static str);

const FORWARD: Planned = (
    "llamacol-forward",
    "llamacol: otlp -> batch -> otlp",
    Which::Llamacol,
    "otlp-batch-otlp.yaml",
);
const OTELCOL_FORWARD: Planned = (
    "otelcol-forward",
    "otelcol 0.161.0: otlp -> batch -> otlp",
    Which::Otelcol,
    "otelcol/otlp-batch-otlp.yaml",
);

// The table is this command's output.
#[allow(clippy::print_stdout)]
async fn run_plan(
    opts: &Options,
    ours: &[Planned],
    theirs: &[Planned],
) -> anyhow::Result<Vec<Row>> {
    std::fs::create_dir_all(&opts.work_dir)?;
    let configs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs");
    let theirs: &[Planned] = if opts.otelcol.is_some() { theirs } else { &[] };
    let plan = ours.iter().chain(theirs);
    let mut rows: Vec<Row> = Vec::new();
    for (name, label, which, config) in plan {
        rows.push(
            scenario(
                opts,
                Scenario {
                    name,
                    label: (*label).into(),
                    which: *which,
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
    Ok(rows)
}

fn per_cpu(r: &Row) -> f64 {
    1e6 / r.cpu_per_million.max(f64::MIN_POSITIVE)
}

// The table is this command's output.
#[allow(clippy::print_stdout)]
pub async fn transform(opts: &Options) -> anyhow::Result<()> {
    let rows = run_plan(
        opts,
        &[
            FORWARD,
            (
                "transform-llamacol",
                "llamacol: otlp -> transform (3 statements) -> batch -> otlp",
                Which::Llamacol,
                "otlp-transform-otlp.yaml",
            ),
        ],
        &[
            OTELCOL_FORWARD,
            (
                "transform-otelcol",
                "otelcol 0.161.0: otlp -> transform (3 statements) -> batch -> otlp",
                Which::Otelcol,
                "otelcol/otlp-transform-otlp.yaml",
            ),
        ],
    )
    .await?;
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

// The table is this command's output.
#[allow(clippy::print_stdout)]
pub async fn genai(opts: &Options) -> anyhow::Result<()> {
    let rows = run_plan(
        opts,
        &[
            FORWARD,
            (
                "genai-llamacol",
                "llamacol: otlp -> genai -> batch -> otlp + genai_metrics",
                Which::Llamacol,
                "otlp-genai-metrics.yaml",
            ),
        ],
        &[
            (
                "genai-otelcol-spanmetrics",
                "otelcol 0.161.0: otlp -> batch -> otlp + span_metrics",
                Which::Otelcol,
                "otelcol/otlp-spanmetrics.yaml",
            ),
            (
                "genai-otelcol-transform",
                "otelcol 0.161.0: otlp -> transform (genai's renames) -> batch -> otlp + span_metrics",
                Which::Otelcol,
                "otelcol/otlp-transform-spanmetrics.yaml",
            ),
        ],
    )
    .await?;
    println!(
        "llamacol: genai + genai_metrics / its plain forward, spans per CPU-second: {:.2}",
        per_cpu(&rows[1]) / per_cpu(&rows[0])
    );
    if let [_, ours, spanmetrics, transform] = rows.as_slice() {
        println!(
            "spans per collector CPU-second, llamacol genai / otelcol span_metrics: {:.2}; / otelcol transform + span_metrics: {:.2}",
            per_cpu(ours) / per_cpu(spanmetrics),
            per_cpu(ours) / per_cpu(transform)
        );
    }
    Ok(())
}
