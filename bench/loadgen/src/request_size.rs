//! `loadgen request-size`: `otlp -> batch -> otlp` with every default, forwarding the load
//! generator's LLM traces (8192-span batches are about 5.5 MB) into receivers on their
//! 4 MiB default (the loadgen sink, and the real Collector), with an earlier build (no
//! cutting) and this one in the same run; and this build with and without cutting into a
//! 64 MiB sink, for what cutting costs. Delivered is counted at the sink.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use llamacol_api::net::free_port;
use llamacol_api::Signal;

use crate::bench::{
    exporter_totals, start_collector, start_sink_limited, Options, Proc, Which, COLLECTOR_CPU,
};
use crate::{cpu, send};

/// Where a scenario forwards to.
#[derive(Clone, Copy)]
enum Sink {
    /// The loadgen counting sink with this gRPC message limit (MiB).
    Loadgen(usize),
    /// The real OpenTelemetry Collector, otlp receiver on its defaults, nop exporter.
    Otelcol,
}

pub struct Row {
    label: String,
    accepted: u64,
    delivered: u64,
    failed: u64,
    seconds: f64,
    cpu_per_million: f64,
}

/// Runs every scenario and prints the table.
pub async fn run(opts: &Options) -> anyhow::Result<()> {
    std::fs::create_dir_all(&opts.work_dir)?;
    let configs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs");
    let defaults = configs.join("otlp-batch-otlp-defaults.yaml");
    let unsplit = configs.join("otlp-batch-otlp-unsplit.yaml");
    let (defaults, unsplit) = (
        defaults.display().to_string(),
        unsplit.display().to_string(),
    );
    let mut plan: Vec<(&str, Which, &str, Sink)> = Vec::new();
    for (which, who) in [(Which::Baseline, "before"), (Which::Llamacol, "after")] {
        if which == Which::Baseline && opts.baseline.is_none() {
            continue;
        }
        plan.push((who, which, &defaults, Sink::Loadgen(4)));
        if opts.otelcol.is_some() {
            plan.push((who, which, &defaults, Sink::Otelcol));
        }
    }
    if opts.baseline.is_some() {
        plan.push(("before", Which::Baseline, &defaults, Sink::Loadgen(64)));
    }
    plan.push((
        "after, max_request_size: 0",
        Which::Llamacol,
        &unsplit,
        Sink::Loadgen(64),
    ));
    plan.push(("after", Which::Llamacol, &defaults, Sink::Loadgen(64)));
    let mut rows = Vec::new();
    for (i, (who, which, config, sink)) in plan.into_iter().enumerate() {
        let sink_label = match sink {
            Sink::Loadgen(mib) => format!("loadgen sink, {mib} MiB limit"),
            Sink::Otelcol => "otelcol 0.161.0 on its defaults (4 MiB)".to_string(),
        };
        let row = scenario(
            opts,
            &format!("request-size-{i}"),
            format!("{who} -> {sink_label}"),
            which,
            config,
            sink,
        )
        .await?;
        rows.push(row);
    }
    print(&rows);
    Ok(())
}

async fn scenario(
    opts: &Options,
    name: &str,
    label: String,
    which: Which,
    config: &str,
    sink: Sink,
) -> anyhow::Result<Row> {
    let (mut sink_proc, port, count) = start(opts, sink, &format!("{name}-sink"))?;
    let env = [("BENCH_SINK_ENDPOINT", format!("127.0.0.1:{port}"))];
    let (mut collector, grpc) =
        start_collector(opts, COLLECTOR_CPU, which, Some(config), &env, name)?;
    let cpu_before = cpu::process_seconds(collector.pid()).unwrap_or(0.0);
    let report = send::run(send::Plan {
        endpoint: format!("127.0.0.1:{grpc}"),
        protocol: "grpc".into(),
        compression: "none".into(),
        signal: Signal::Traces,
        batch_size: opts.batch_size,
        rate: 0,
        duration: opts.duration,
        connections: opts.connections,
        fresh: false,
    })
    .await?;
    let cpu_after = cpu::process_seconds(collector.pid()).unwrap_or(0.0);
    let log = collector.stop()?;
    let (_, failed, _, _) = exporter_totals(&log);
    let delivered = count.read().await?;
    sink_proc.stop()?;
    Ok(Row {
        label,
        accepted: report.accepted,
        delivered,
        failed,
        seconds: report.seconds,
        cpu_per_million: (cpu_after - cpu_before) / report.accepted.max(1) as f64 * 1e6,
    })
}

/// How a sink's count is read once the collector has drained into it.
enum Count {
    File(std::path::PathBuf),
    /// The Collector's `otelcol_receiver_accepted_spans` on its metrics port.
    Metrics(u16),
}

impl Count {
    async fn read(&self) -> anyhow::Result<u64> {
        // The sink's queue drains after the collector's last export.
        tokio::time::sleep(Duration::from_millis(500)).await;
        Ok(match self {
            Count::File(f) => std::fs::read_to_string(f)?.trim().parse()?,
            Count::Metrics(port) => {
                let page = get_metrics(*port)?;
                page.lines()
                    .filter(|l| l.starts_with("otelcol_receiver_accepted_spans"))
                    .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                    .sum::<f64>() as u64
            }
        })
    }
}

/// `GET /metrics` as HTTP/1.0: the server answers with the whole page and closes.
fn get_metrics(port: u16) -> anyhow::Result<String> {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", port))?;
    conn.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut page = String::new();
    conn.read_to_string(&mut page)?;
    Ok(page)
}

fn start(opts: &Options, sink: Sink, name: &str) -> anyhow::Result<(Proc, u16, Count)> {
    match sink {
        Sink::Loadgen(mib) => {
            let (proc, port, file) = start_sink_limited(opts, "0ms", 1000, name, 0, mib)?;
            Ok((proc, port, Count::File(file)))
        }
        Sink::Otelcol => {
            let metrics = free_port();
            let config = opts.work_dir.join(format!("{name}.yaml"));
            std::fs::write(
                &config,
                format!("receivers:\n  otlp:\n    protocols:\n      grpc: {{endpoint: \"${{env:LLAMACOL_OTLP_GRPC_ENDPOINT}}\"}}\nexporters:\n  nop:\nservice:\n  telemetry:\n    metrics:\n      level: basic\n      readers:\n        - pull:\n            exporter:\n              prometheus: {{host: 127.0.0.1, port: {metrics}}}\n  pipelines:\n    traces: {{receivers: [otlp], exporters: [nop]}}\n"),
            )?;
            let config = config.display().to_string();
            let (proc, port) = start_collector(opts, "0", Which::Otelcol, Some(&config), &[], name)
                .context("the Collector as a sink")?;
            Ok((proc, port, Count::Metrics(metrics)))
        }
    }
}

// The table is this command's output.
#[allow(clippy::print_stdout)]
fn print(rows: &[Row]) {
    println!("| sender -> sink | accepted | delivered | failed | delivered spans/s | collector CPU-s per 1M spans |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for r in rows {
        println!(
            "| {} | {} | {} ({:.1}%) | {} | {:.0} | {:.2} |",
            r.label,
            r.accepted,
            r.delivered,
            r.delivered as f64 * 100.0 / r.accepted.max(1) as f64,
            r.failed,
            r.delivered as f64 / r.seconds.max(1e-9),
            r.cpu_per_million
        );
    }
}
