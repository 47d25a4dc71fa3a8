//! `loadgen scrape`: what one scrape of a 10k-series target costs. The target serves a
//! real exposition (Prometheus' parser fixture of a Go program's 237 families,
//! `testdata/prometheus/exposition/alltypes.237mfs.prom.txt`) repeated under six
//! `replica` labels: 11,142 samples, counters, gauges, histograms and summaries. llamacol's
//! `prometheus` receiver and the real Collector's (each exporting OTLP to the counting
//! sink), and Prometheus itself (into its TSDB), scrape it every second, one after the
//! other on the same core in one run; CPU seconds and scrapes served are read over the
//! same window, and the points the sink received per scrape are checked.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::bench::{
    free_port, pinned, received_count, start_collector, start_sink, Options, Which, COLLECTOR_CPU,
};
use crate::cpu::{process_seconds, status_mib};
use crate::scrape_target::{exposition, serve};

struct Row {
    who: String,
    scrapes: u64,
    cpu_ms_per_scrape: f64,
    delivered_per_scrape: Option<f64>,
    rss_mib: f64,
    /// Bytes the Go runtime allocated per scrape (whole process), where it says.
    alloc_per_scrape: Option<f64>,
}

/// A counter from a Prometheus text body (the first series of that name).
fn counter_of(body: &str, name: &str) -> Option<f64> {
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.split(['{', ' ']).next() == Some(name))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// `name` read from `http://127.0.0.1:port/metrics`.
async fn read_counter(port: u16, name: &str) -> Option<f64> {
    let body = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    counter_of(&body, name)
}

/// The Go runtime's cumulative allocation, as each Go peer names it.
const COLLECTOR_ALLOC: &str = "otelcol_process_runtime_total_alloc_bytes";
const PROMETHEUS_ALLOC: &str = "go_memstats_alloc_bytes_total";

/// What `scrape_alloc` (beside this binary) measured for llamacol's receiver, in process.
fn llamacol_allocation(seconds: u64) -> Option<serde_json::Value> {
    let program = std::env::current_exe().ok()?.with_file_name("scrape_alloc");
    let out = std::process::Command::new(program)
        .arg(seconds.to_string())
        .output()
        .ok()?;
    serde_json::from_slice(&out.stdout).ok()
}

// The table is this command's output.
#[allow(clippy::print_stdout)]
pub async fn run(opts: &Options, prometheus: Option<PathBuf>) -> anyhow::Result<()> {
    std::fs::create_dir_all(&opts.work_dir)?;
    let (body, samples) = exposition();
    let body = Arc::new(body);
    let configs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs");
    let warmup = Duration::from_secs(3);
    let mut rows = Vec::new();
    let mut runs = vec![(Which::Llamacol, "llamacol", "prometheus-otlp.yaml")];
    if opts.otelcol.is_some() {
        runs.push((
            Which::Otelcol,
            "otelcol 0.161.0",
            "otelcol/prometheus-otlp.yaml",
        ));
    }
    for (which, who, config) in runs {
        let (port, served) = serve(body.clone())?;
        let (mut sink, sink_port, count_file) =
            start_sink(opts, "0ms", 1000, &format!("scrape-sink-{who}"), 0)?;
        let telemetry = free_port();
        let env = [
            ("BENCH_SCRAPE_TARGET", format!("127.0.0.1:{port}")),
            ("BENCH_SINK_ENDPOINT", format!("127.0.0.1:{sink_port}")),
            ("BENCH_TELEMETRY_PORT", telemetry.to_string()),
        ];
        let config = configs.join(config).display().to_string();
        let (mut proc, _) = start_collector(
            opts,
            COLLECTOR_CPU,
            which,
            Some(&config),
            &env,
            &format!("scrape-{}", who.replace(' ', "-")),
        )?;
        tokio::time::sleep(warmup).await;
        let go = which == Which::Otelcol;
        let a0 = if go {
            read_counter(telemetry, COLLECTOR_ALLOC).await
        } else {
            None
        };
        let (cpu0, n0, d0) = (
            process_seconds(proc.pid()).unwrap_or(0.0),
            served.load(Ordering::Relaxed),
            received_count(&count_file),
        );
        tokio::time::sleep(opts.duration).await;
        let (cpu1, n1, d1) = (
            process_seconds(proc.pid()).unwrap_or(0.0),
            served.load(Ordering::Relaxed),
            received_count(&count_file),
        );
        let a1 = if go {
            read_counter(telemetry, COLLECTOR_ALLOC).await
        } else {
            None
        };
        let rss = status_mib(proc.pid(), "VmHWM:").unwrap_or(0.0);
        proc.stop()?;
        sink.stop()?;
        let scrapes = n1.saturating_sub(n0).max(1);
        rows.push(Row {
            who: who.to_string(),
            scrapes,
            cpu_ms_per_scrape: (cpu1 - cpu0) * 1000.0 / scrapes as f64,
            delivered_per_scrape: Some(d1.saturating_sub(d0) as f64 / scrapes as f64),
            rss_mib: rss,
            alloc_per_scrape: a0.zip(a1).map(|(a, b)| (b - a) / scrapes as f64),
        });
    }
    if let Some(program) = prometheus {
        let (port, served) = serve(body.clone())?;
        let dir = opts.work_dir.join("scrape-prometheus");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let config = dir.join("prometheus.yml");
        let web = free_port();
        std::fs::write(
            &config,
            format!("global: {{scrape_interval: 1s, scrape_timeout: 1s}}\nscrape_configs:\n  - job_name: bench\n    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n"),
        )?;
        let child = pinned(COLLECTOR_CPU, &program)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{web}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.join("prometheus.log"))?)
            .spawn()?;
        let mut proc = crate::bench::Proc::new(child, dir.join("prometheus.log"));
        tokio::time::sleep(warmup).await;
        let a0 = read_counter(web, PROMETHEUS_ALLOC).await;
        let (cpu0, n0) = (
            process_seconds(proc.pid()).unwrap_or(0.0),
            served.load(Ordering::Relaxed),
        );
        tokio::time::sleep(opts.duration).await;
        let (cpu1, n1) = (
            process_seconds(proc.pid()).unwrap_or(0.0),
            served.load(Ordering::Relaxed),
        );
        let a1 = read_counter(web, PROMETHEUS_ALLOC).await;
        let rss = status_mib(proc.pid(), "VmHWM:").unwrap_or(0.0);
        proc.stop()?;
        let scrapes = n1.saturating_sub(n0).max(1);
        rows.push(Row {
            who: "prometheus (into its TSDB)".into(),
            scrapes,
            cpu_ms_per_scrape: (cpu1 - cpu0) * 1000.0 / scrapes as f64,
            delivered_per_scrape: None,
            rss_mib: rss,
            alloc_per_scrape: a0.zip(a1).map(|(a, b)| (b - a) / scrapes as f64),
        });
    }
    println!(
        "target: {samples} samples, {} bytes of text 0.0.4; scraped every 1s for {:?} after {:?} of warm-up, one scraper at a time on core {COLLECTOR_CPU}",
        body.len(),
        opts.duration,
        warmup
    );
    println!();
    println!(
        "| scraper | scrapes | CPU ms per scrape | points delivered per scrape | peak RSS MiB | MB allocated per scrape |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for r in &rows {
        println!(
            "| {} | {} | {:.1} | {} | {:.0} | {} |",
            r.who,
            r.scrapes,
            r.cpu_ms_per_scrape,
            r.delivered_per_scrape
                .map_or_else(|| "-".to_string(), |d| format!("{d:.0}")),
            r.rss_mib,
            r.alloc_per_scrape
                .map_or_else(|| "-".to_string(), |a| format!("{:.1}", a / 1e6)),
        );
    }
    // llamacol's allocation, counted in process (the Go peers' is their runtime's count
    // of the whole process, export included).
    if let Some(a) = llamacol_allocation(opts.duration.as_secs().max(5)) {
        println!();
        println!(
            "llamacol's receiver in process (scrape_alloc, each batch encoded as OTLP): {:.1} MB and {} allocations per scrape, {} points per scrape",
            a["bytes_per_scrape"].as_f64().unwrap_or(0.0) / 1e6,
            a["allocations_per_scrape"],
            a["points_per_scrape"]
        );
    }
    Ok(())
}
