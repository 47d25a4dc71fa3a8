//! `loadgen hostmetrics`: what reading the whole machine costs. llamacol's `host_metrics`
//! receiver and the real Collector's, with the same scrapers (all ten Linux ones but nfs,
//! the process scraper over every process) every 10 s, each exporting OTLP to the
//! counting sink, one after the other on the same core in one run: CPU seconds over the
//! same window divided by the collections in it, peak RSS, and the points the sink
//! received per collection.

use std::time::Duration;

use crate::bench::{received_count, start_collector, start_sink, Options, Which, COLLECTOR_CPU};
use crate::cpu::{process_seconds, status_mib};

const INTERVAL: Duration = Duration::from_secs(10);

// The table is this command's output.
#[allow(clippy::print_stdout)]
pub async fn run(opts: &Options) -> anyhow::Result<()> {
    std::fs::create_dir_all(&opts.work_dir)?;
    let configs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs");
    let mut runs = vec![(Which::Llamacol, "llamacol", "hostmetrics-otlp.yaml")];
    if opts.otelcol.is_some() {
        runs.push((
            Which::Otelcol,
            "otelcol 0.161.0 (hostmetrics 0.160.0)",
            "otelcol/hostmetrics-otlp.yaml",
        ));
    }
    // Whole intervals: the window starts just after a collection and holds `collections`.
    let collections = (opts.duration.as_secs() / INTERVAL.as_secs()).max(1);
    let window = INTERVAL * collections as u32;
    println!("every scraper, every {INTERVAL:?}, {collections} collections per run, one collector at a time on core {COLLECTOR_CPU}");
    println!();
    println!(
        "| collector | CPU ms per collection | points delivered per collection | peak RSS MiB |"
    );
    println!("| --- | ---: | ---: | ---: |");
    for (which, who, config) in runs {
        let (mut sink, sink_port, count_file) = start_sink(
            opts,
            "0ms",
            1000,
            &format!("hostmetrics-sink-{}", which as u8),
            0,
        )?;
        let env = [("BENCH_SINK_ENDPOINT", format!("127.0.0.1:{sink_port}"))];
        let config = configs.join(config).display().to_string();
        let (mut proc, _) = start_collector(
            opts,
            COLLECTOR_CPU,
            which,
            Some(&config),
            &env,
            &format!("hostmetrics-{}", which as u8),
        )?;
        // The first collection runs at start; the window opens half an interval later.
        tokio::time::sleep(INTERVAL / 2).await;
        let (cpu0, d0) = (
            process_seconds(proc.pid()).unwrap_or(0.0),
            received_count(&count_file),
        );
        tokio::time::sleep(window).await;
        let (cpu1, d1) = (
            process_seconds(proc.pid()).unwrap_or(0.0),
            received_count(&count_file),
        );
        let rss = status_mib(proc.pid(), "VmHWM:").unwrap_or(0.0);
        proc.stop()?;
        sink.stop()?;
        println!(
            "| {who} | {:.1} | {:.0} | {rss:.1} |",
            (cpu1 - cpu0) * 1000.0 / collections as f64,
            d1.saturating_sub(d0) as f64 / collections as f64
        );
    }
    Ok(())
}
