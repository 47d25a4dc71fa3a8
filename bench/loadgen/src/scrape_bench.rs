//! `loadgen scrape`: what one scrape of a 10k-series target costs. The target serves a
//! real exposition (Prometheus' parser fixture of a Go program's 237 families,
//! `testdata/prometheus/exposition/alltypes.237mfs.prom.txt`) repeated under six
//! `replica` labels: 11,142 samples, counters, gauges, histograms and summaries. llamacol's
//! `prometheus` receiver and the real Collector's (each exporting OTLP to the counting
//! sink), and Prometheus itself (into its TSDB), scrape it every second, one after the
//! other on the same core in one run; CPU seconds and scrapes served are read over the
//! same window, and the points the sink received per scrape are checked.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::bench::{free_port, pinned, start_collector, start_sink, Options, Which, COLLECTOR_CPU};
use crate::cpu::{process_seconds, status_mib};

const FIXTURE: &str =
    include_str!("../../../testdata/prometheus/exposition/alltypes.237mfs.prom.txt");
const REPLICAS: usize = 6;

/// The fixture's families with every sample repeated under `replica="0".."5"`.
fn exposition() -> (String, usize) {
    let mut out = String::with_capacity(FIXTURE.len() * REPLICAS);
    let mut samples = 0;
    let mut family: Vec<&str> = Vec::new();
    let mut flush = |family: &mut Vec<&str>, out: &mut String| {
        for r in 0..REPLICAS {
            for line in family.iter() {
                let (name, rest) = match line.find(['{', ' ']) {
                    Some(i) => line.split_at(i),
                    None => continue,
                };
                let labelled = match rest.strip_prefix('{') {
                    Some(labels) => format!("{name}{{replica=\"{r}\",{labels}"),
                    None => format!("{name}{{replica=\"{r}\"}}{rest}"),
                };
                out.push_str(&labelled);
                out.push('\n');
                samples += 1;
            }
        }
        family.clear();
    };
    for line in FIXTURE.lines() {
        if line.starts_with('#') {
            if line.starts_with("# HELP") && !family.is_empty() {
                flush(&mut family, &mut out);
            }
            out.push_str(line);
            out.push('\n');
        } else if !line.trim().is_empty() {
            family.push(line);
        }
    }
    flush(&mut family, &mut out);
    (out, samples)
}

/// Serves `body` on a free port (keep-alive, any path); returns the port and the count
/// of requests answered.
fn serve(body: Arc<String>) -> anyhow::Result<(u16, Arc<AtomicU64>)> {
    let listener = TcpListener::bind(("127.0.0.1", 0))?;
    let port = listener.local_addr()?.port();
    let served = Arc::new(AtomicU64::new(0));
    let count = served.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (body, count) = (body.clone(), count.clone());
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut buf = vec![0u8; 16 * 1024];
                let mut pending = Vec::new();
                loop {
                    let Ok(n) = stream.read(&mut buf) else { return };
                    if n == 0 {
                        return;
                    }
                    pending.extend_from_slice(&buf[..n]);
                    while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                        pending.drain(..end + 4);
                        let head = format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n\r\n",
                            body.len()
                        );
                        if stream.write_all(head.as_bytes()).is_err()
                            || stream.write_all(body.as_bytes()).is_err()
                        {
                            return;
                        }
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    Ok((port, served))
}

/// The sink's running total (its count file; 0 before the first write).
fn received_count(path: &std::path::Path) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0)
}

struct Row {
    who: String,
    scrapes: u64,
    cpu_ms_per_scrape: f64,
    delivered_per_scrape: Option<f64>,
    rss_mib: f64,
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
        let env = [
            ("BENCH_SCRAPE_TARGET", format!("127.0.0.1:{port}")),
            ("BENCH_SINK_ENDPOINT", format!("127.0.0.1:{sink_port}")),
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
        });
    }
    if let Some(program) = prometheus {
        let (port, served) = serve(body.clone())?;
        let dir = opts.work_dir.join("scrape-prometheus");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let config = dir.join("prometheus.yml");
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
            .arg(format!("--web.listen-address=127.0.0.1:{}", free_port()))
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.join("prometheus.log"))?)
            .spawn()?;
        let mut proc = crate::bench::Proc::new(child, dir.join("prometheus.log"));
        tokio::time::sleep(warmup).await;
        let (cpu0, n0) = (
            process_seconds(proc.pid()).unwrap_or(0.0),
            served.load(Ordering::Relaxed),
        );
        tokio::time::sleep(opts.duration).await;
        let (cpu1, n1) = (
            process_seconds(proc.pid()).unwrap_or(0.0),
            served.load(Ordering::Relaxed),
        );
        let rss = status_mib(proc.pid(), "VmHWM:").unwrap_or(0.0);
        proc.stop()?;
        let scrapes = n1.saturating_sub(n0).max(1);
        rows.push(Row {
            who: "prometheus (into its TSDB)".into(),
            scrapes,
            cpu_ms_per_scrape: (cpu1 - cpu0) * 1000.0 / scrapes as f64,
            delivered_per_scrape: None,
            rss_mib: rss,
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
        "| scraper | scrapes | CPU ms per scrape | points delivered per scrape | peak RSS MiB |"
    );
    println!("| --- | ---: | ---: | ---: | ---: |");
    for r in &rows {
        println!(
            "| {} | {} | {:.1} | {} | {:.0} |",
            r.who,
            r.scrapes,
            r.cpu_ms_per_scrape,
            r.delivered_per_scrape
                .map_or_else(|| "-".to_string(), |d| format!("{d:.0}")),
            r.rss_mib
        );
    }
    Ok(())
}
