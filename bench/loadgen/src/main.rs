//! `loadgen`: OTLP load for llamacol's benchmarks (and any OTLP receiver).
//!
//! - `loadgen send --endpoint 127.0.0.1:4317 --duration 10s --connections 4 --batch-size 500`
//! - `loadgen sink --endpoint 127.0.0.1:5317 --count-file /tmp/count [--delay 5ms]`
//! - `loadgen floor --batch-size 500 --items 2000000`

mod bench;
mod cpu;
mod data;
mod filelog_bench;
mod floor;
mod genai;
mod head_sampling;
mod hostmetrics_bench;
mod live_page;
mod parquet_bench;
mod queue_batch;
mod request_size;
mod scrape_bench;
mod scrape_target;
mod send;
mod side_by_side;
mod sink;
mod slo;
mod soak;

use std::time::Duration;

/// The allocator the `llamacol` binary uses (src/main.rs), so that components measured in
/// process here (`loadgen parquet`, `genai`, ...) allocate as they do in the product.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};
use llamacol_api::Signal;

#[derive(Parser)]
#[command(
    name = "loadgen",
    about = "OTLP load generator, counting sink and prost floor"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Send load and report items sent/accepted/refused, the rate and client latency.
    Send {
        /// gRPC `host:port` or URL; HTTP base URL (`http://host:4318`).
        #[arg(long, default_value = "127.0.0.1:4317")]
        endpoint: String,
        #[arg(long, default_value = "grpc")]
        protocol: String,
        #[arg(long, default_value = "traces")]
        signal: String,
        /// Items per second over all connections; 0 sends as fast as answered.
        #[arg(long, default_value_t = 0)]
        rate: u64,
        #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
        duration: Duration,
        #[arg(long, default_value_t = 4)]
        connections: usize,
        /// Items per request.
        #[arg(long, default_value_t = 500)]
        batch_size: usize,
        #[arg(long, default_value = "none")]
        compression: String,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Receive OTLP/gRPC and count items.
    Sink {
        #[arg(long, default_value = "127.0.0.1:5317")]
        endpoint: String,
        #[arg(long, default_value = "0ms", value_parser = humantime::parse_duration)]
        delay: Duration,
        #[arg(long, default_value_t = 1000)]
        queue_size: usize,
        #[arg(long)]
        count_file: String,
        /// The receiver's gRPC message limit in MiB (4: every gRPC server's default).
        #[arg(long, default_value_t = 64)]
        max_recv_mib: usize,
    },
    /// The whole-process benchmark (see BENCHMARKS.md): prints a Markdown table.
    Bench {
        /// The llamacol binary to measure (build it with --release).
        #[arg(long, default_value = "target/release/llamacol")]
        llamacol: std::path::PathBuf,
        /// The real OpenTelemetry Collector (`scripts/peers.sh` builds it into
        /// ~/.cache/llamacol-peers/bin/otelcol); given, the same scenarios also run against it.
        #[arg(long)]
        otelcol: Option<std::path::PathBuf>,
        /// An earlier llamacol build: the fast-backend forward scenario also runs against
        /// it in the same run, to show a change did not make forwarding slower.
        #[arg(long)]
        baseline: Option<std::path::PathBuf>,
        #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
        duration: Duration,
        #[arg(long, default_value_t = 4)]
        connections: usize,
        #[arg(long, default_value_t = 500)]
        batch_size: usize,
        #[arg(long, default_value_t = 2_000_000)]
        floor_items: usize,
        #[arg(long, default_value = "target/bench")]
        work_dir: std::path::PathBuf,
    },
    /// The genai processor + genai_metrics connector on legacy GenAI spans, next to the
    /// prost floor of the same requests (CPU per span), and the connector's memory with
    /// 100k distinct series offered to max_series 10000.
    Genai {
        #[arg(long, default_value_t = 500)]
        batch_size: usize,
        #[arg(long, default_value_t = 1_500_000)]
        items: usize,
    },
    /// The slo processor's engine: 1,000 rules over 100,000 series; CPU per point taken
    /// in next to the prost floor, CPU of one evaluation cycle, RSS growth.
    Slo {
        /// Samples of every series (one evaluation after each).
        #[arg(long, default_value_t = 24)]
        rounds: usize,
    },
    /// The probabilistic_sampler processor on encoded 500-span requests, per mode, next
    /// to the prost decode + re-encode floor of the same requests (CPU per span).
    HeadSampling {
        #[arg(long, default_value_t = 1_500_000)]
        spans: usize,
    },
    /// tail_sampling under a storm of new traces (fixed span rate, fresh trace ids),
    /// llamacol and then the real Collector: CPU per span, peak RSS, RSS over time,
    /// spans the sink got.
    TailStorm {
        #[arg(long)]
        llamacol: std::path::PathBuf,
        #[arg(long)]
        otelcol: Option<std::path::PathBuf>,
        /// An earlier llamacol build, run on the same storm.
        #[arg(long)]
        baseline: Option<std::path::PathBuf>,
        #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
        duration: Duration,
        /// Spans per second (trace trees of 3-10 spans: about 3,000 traces/s at 20,000).
        #[arg(long, default_value_t = 20_000)]
        rate: u64,
        #[arg(long, default_value = "target/bench")]
        work_dir: std::path::PathBuf,
    },
    /// `otlp -> otlp` batched by a `batch` processor and by the exporter's queue
    /// (`sending_queue.batch`), llamacol and the real Collector on the same load, one run.
    QueueBatch {
        #[arg(long, default_value = "target/release/llamacol")]
        llamacol: std::path::PathBuf,
        #[arg(long)]
        otelcol: Option<std::path::PathBuf>,
        #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
        duration: Duration,
        #[arg(long, default_value = "target/bench")]
        work_dir: std::path::PathBuf,
    },
    /// One scrape of a 10k-series target: llamacol's `prometheus` receiver, the real
    /// Collector's, and Prometheus itself, CPU per scrape in one run.
    Scrape {
        #[arg(long, default_value = "target/release/llamacol")]
        llamacol: std::path::PathBuf,
        #[arg(long)]
        otelcol: Option<std::path::PathBuf>,
        #[arg(long)]
        prometheus: Option<std::path::PathBuf>,
        #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
        duration: Duration,
        #[arg(long, default_value = "target/bench")]
        work_dir: std::path::PathBuf,
    },
    /// The `host_metrics` receiver with every scraper every 10 s, next to the Collector's:
    /// CPU per collection, points delivered per collection, peak RSS.
    Hostmetrics {
        #[arg(long, default_value = "target/release/llamacol")]
        llamacol: std::path::PathBuf,
        #[arg(long)]
        otelcol: Option<std::path::PathBuf>,
        #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
        duration: Duration,
        #[arg(long, default_value = "target/bench")]
        work_dir: std::path::PathBuf,
    },
    /// The `transform` processor with three typical statements, next to the Collector's
    /// `transform` with the same statements and each collector's plain forward, one run.
    Transform {
        #[arg(long, default_value = "target/release/llamacol")]
        llamacol: std::path::PathBuf,
        #[arg(long)]
        otelcol: Option<std::path::PathBuf>,
        #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
        duration: Duration,
        #[arg(long, default_value = "target/bench")]
        work_dir: std::path::PathBuf,
    },
    /// `genai` + `genai_metrics` (on the wire) next to llamacol's plain forward and the
    /// Collector's `span_metrics` and `transform` + `span_metrics` twins, one run.
    GenaiWire {
        #[arg(long, default_value = "target/release/llamacol")]
        llamacol: std::path::PathBuf,
        #[arg(long)]
        otelcol: Option<std::path::PathBuf>,
        #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
        duration: Duration,
        #[arg(long, default_value = "target/bench")]
        work_dir: std::path::PathBuf,
    },
    /// `filelog` reading and parsing llama-server-shaped JSON and text logs from their
    /// start, next to the Collector's: lines per CPU second at the sink, peak RSS.
    Filelog {
        #[arg(long, default_value = "target/release/llamacol")]
        llamacol: std::path::PathBuf,
        #[arg(long)]
        otelcol: Option<std::path::PathBuf>,
        /// Size of each log file.
        #[arg(long, default_value_t = 256)]
        megabytes: u64,
        /// The longest one collector may take over one file.
        #[arg(long, default_value = "600s", value_parser = humantime::parse_duration)]
        duration: Duration,
        #[arg(long, default_value = "target/bench")]
        work_dir: std::path::PathBuf,
    },
    /// `otlp -> batch -> otlp` on defaults into receivers on their 4 MiB default (the
    /// loadgen sink, the real Collector): an earlier build and this one, delivered counted
    /// at the sink; and this build with and without cutting requests into a 64 MiB sink.
    RequestSize {
        #[arg(long, default_value = "target/release/llamacol")]
        llamacol: std::path::PathBuf,
        /// The build before requests were cut to size.
        #[arg(long)]
        baseline: Option<std::path::PathBuf>,
        #[arg(long)]
        otelcol: Option<std::path::PathBuf>,
        #[arg(long, default_value = "15s", value_parser = humantime::parse_duration)]
        duration: Duration,
        #[arg(long, default_value = "target/bench")]
        work_dir: std::path::PathBuf,
    },
    /// The parquet and file exporters on the same fresh trace requests: CPU per span and
    /// bytes on disk per span next to the protobuf bytes.
    Parquet {
        #[arg(long, default_value_t = 400_000)]
        spans: usize,
        #[arg(long, default_value = "target/bench")]
        work_dir: std::path::PathBuf,
        /// Run one exporter only (`parquet` or `file`), e.g. under a profiler.
        #[arg(long)]
        only: Option<String>,
        /// More keys for the parquet exporter's config, e.g. `compression_level: 3`.
        #[arg(long, default_value = "")]
        parquet_keys: String,
        /// Spans per exported batch in process: consecutive 500-span requests joined as
        /// the `batch` processor joins them (its default `send_batch_size` is 8192, so
        /// the pipeline hands the exporter 8500-span batches of this load).
        /// `--batch-spans 500` hands over each request as the receiver does.
        #[arg(long, default_value_t = 8192)]
        batch_spans: usize,
        /// Also the whole process (the release llamacol on OTLP/gRPC -> batch -> parquet,
        /// and -> file, for `--duration`), next to the in-process run.
        #[arg(long)]
        whole: bool,
        #[arg(long, default_value = "target/release/llamacol")]
        llamacol: std::path::PathBuf,
        /// Rotel (a Rust OTLP collector with a Parquet file exporter): with `--whole`,
        /// run on the same load as a side-by-side row.
        #[arg(long)]
        rotel: Option<std::path::PathBuf>,
        #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
        duration: Duration,
    },
    /// What the admin server's live page costs: collector CPU at `rate` spans/s without
    /// and with `viewers` polling `/api/live` once a second, alternating, then idle.
    LivePage {
        #[arg(long, default_value_t = 100_000)]
        rate: u64,
        #[arg(long, default_value_t = 10)]
        viewers: usize,
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
        duration: Duration,
        #[arg(long, default_value = "target/release/llamacol")]
        llamacol: std::path::PathBuf,
        #[arg(long, default_value = "target/bench")]
        work_dir: std::path::PathBuf,
    },
    /// The soak (BENCHMARKS.md): capacity first, then a long run at a fraction of it with
    /// all three signals, a flapping llama-server and a backend that goes away; RSS every
    /// `sample-every` into <work-dir>/soak.csv, the account and the log checked at the end.
    Soak(soak::SoakOptions),
    /// CPU-seconds per million items for prost to decode and re-encode the same requests
    /// (`--check`: for the receivers' request check instead).
    Floor {
        #[arg(long, default_value = "traces")]
        signal: String,
        /// Measure the receivers' request check (`Batch::from_bytes`) instead of prost.
        #[arg(long)]
        check: bool,
        #[arg(long, default_value_t = 500)]
        batch_size: usize,
        #[arg(long, default_value_t = 2_000_000)]
        items: usize,
    },
}

// This tool's results are its output.
#[allow(clippy::print_stdout)]
fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match Cli::parse().command {
        Command::Send {
            endpoint,
            protocol,
            signal,
            rate,
            duration,
            connections,
            batch_size,
            compression,
            json,
        } => {
            let signal: Signal = signal.parse()?;
            let plan = send::Plan {
                endpoint,
                protocol,
                compression,
                signal,
                batch_size,
                rate,
                duration,
                connections,
                fresh: false,
            };
            let r = runtime.block_on(send::run(plan))?;
            if json {
                println!("{}", serde_json::to_string(&r)?);
            } else {
                println!(
                    "sent {} accepted {} refused {} failed {} {}",
                    r.sent,
                    r.accepted,
                    r.refused,
                    r.failed,
                    signal.item_name()
                );
                println!(
                    "{:.0} {}/s over {:.1}s; latency p50 {:.2} ms, p99 {:.2} ms",
                    r.rate,
                    signal.item_name(),
                    r.seconds,
                    r.p50_ms,
                    r.p99_ms
                );
            }
        }
        Command::Sink {
            endpoint,
            delay,
            queue_size,
            count_file,
            max_recv_mib,
        } => runtime.block_on(sink::run(
            &endpoint,
            delay,
            queue_size,
            &count_file,
            max_recv_mib,
        ))?,
        Command::Bench {
            llamacol,
            otelcol,
            baseline,
            duration,
            connections,
            batch_size,
            floor_items,
            work_dir,
        } => runtime.block_on(bench::run(bench::Options {
            llamacol,
            otelcol,
            baseline,
            rotel: None,
            duration,
            connections,
            batch_size,
            floor_items,
            work_dir,
        }))?,
        Command::Genai { batch_size, items } => {
            let r = genai::run(batch_size, items);
            println!(
                "floor (prost decode + re-encode): {:.3} CPU-s per 1M spans",
                r.floor
            );
            println!("genai + genai_metrics (decode, normalize, aggregate, re-encode): {:.3} CPU-s per 1M spans = {:.2}x floor", r.genai, r.genai / r.floor);
            println!("genai on the wire + genai_metrics reading in place (no decode): {:.3} CPU-s per 1M spans = {:.2}x floor", r.wire, r.wire / r.floor);
            println!("genai_metrics memory, max_series 10000: RSS {:.1} MiB after 10k distinct series offered, {:.1} MiB after 100k; {} series held", r.rss_after_10k_mib, r.rss_after_100k_mib, r.series_held);
        }
        Command::Slo { rounds } => {
            let r = slo::run(rounds);
            println!(
                "{} rules over {} series, {rounds} rounds",
                r.rules, r.series
            );
            println!(
                "floor (prost decode + re-encode): {:.3} us per point",
                r.floor_us_per_point
            );
            println!(
                "slo ingest, every point read by a rule: {:.3} us per point = {:.2}x floor",
                r.ingest_us_per_point,
                r.ingest_us_per_point / r.floor_us_per_point
            );
            println!(
                "slo ingest, points no rule reads: {:.5} us per point = {:.4}x floor",
                r.unread_us_per_point,
                r.unread_us_per_point / r.floor_us_per_point
            );
            println!(
                "one evaluation cycle (mean of the full-window cycles): {:.1} ms CPU ({} alerts sent in the last)",
                r.evaluation_ms, r.alerts_firing
            );
            println!("RSS growth: {:.1} MiB", r.rss_growth_mib);
        }
        Command::TailStorm {
            llamacol,
            otelcol,
            baseline,
            duration,
            rate,
            work_dir,
        } => {
            let opts = bench::Options {
                llamacol,
                otelcol,
                baseline,
                rotel: None,
                duration,
                connections: 2,
                batch_size: 500,
                floor_items: 0,
                work_dir,
            };
            let rows = runtime.block_on(bench::tail_storm(&opts, rate))?;
            println!("| collector | spans/s accepted | CPU-s / 1M spans | peak RSS MiB | RSS MiB every 5 s | spans kept (sink) |");
            println!("| --- | ---: | ---: | ---: | --- | ---: |");
            for r in rows {
                let rss: Vec<String> = r.rss.iter().map(|(t, m)| format!("{t}s {m:.0}")).collect();
                println!(
                    "| {} | {:.0} | {:.2} | {:.1} | {} | {} |",
                    r.name,
                    r.report.rate,
                    r.cpu_per_million,
                    r.peak_rss_mib,
                    rss.join(", "),
                    r.delivered
                );
            }
        }
        Command::QueueBatch {
            llamacol,
            otelcol,
            duration,
            work_dir,
        } => {
            let opts = bench::Options {
                otelcol,
                floor_items: 2_000_000,
                ..bench::Options::llamacol_only(llamacol, duration, work_dir)
            };
            runtime.block_on(queue_batch::run(&opts))?;
        }
        Command::Scrape {
            llamacol,
            otelcol,
            prometheus,
            duration,
            work_dir,
        } => {
            let opts = bench::Options {
                otelcol,
                ..bench::Options::llamacol_only(llamacol, duration, work_dir)
            };
            runtime.block_on(scrape_bench::run(&opts, prometheus))?;
        }
        Command::Hostmetrics {
            llamacol,
            otelcol,
            duration,
            work_dir,
        } => {
            let opts = bench::Options {
                otelcol,
                ..bench::Options::llamacol_only(llamacol, duration, work_dir)
            };
            runtime.block_on(hostmetrics_bench::run(&opts))?;
        }
        Command::Transform {
            llamacol,
            otelcol,
            duration,
            work_dir,
        } => {
            let opts = bench::Options {
                otelcol,
                ..bench::Options::llamacol_only(llamacol, duration, work_dir)
            };
            runtime.block_on(side_by_side::transform(&opts))?;
        }
        Command::GenaiWire {
            llamacol,
            otelcol,
            duration,
            work_dir,
        } => {
            let opts = bench::Options {
                otelcol,
                ..bench::Options::llamacol_only(llamacol, duration, work_dir)
            };
            runtime.block_on(side_by_side::genai(&opts))?;
        }
        Command::Filelog {
            llamacol,
            otelcol,
            megabytes,
            duration,
            work_dir,
        } => {
            let opts = bench::Options {
                otelcol,
                ..bench::Options::llamacol_only(llamacol, duration, work_dir)
            };
            runtime.block_on(filelog_bench::run(&opts, megabytes))?;
        }
        Command::RequestSize {
            llamacol,
            baseline,
            otelcol,
            duration,
            work_dir,
        } => {
            let opts = bench::Options {
                baseline,
                otelcol,
                ..bench::Options::llamacol_only(llamacol, duration, work_dir)
            };
            runtime.block_on(request_size::run(&opts))?;
        }
        Command::Parquet {
            spans,
            work_dir,
            only,
            parquet_keys,
            batch_spans,
            whole,
            llamacol,
            rotel,
            duration,
        } => {
            if whole {
                let opts = bench::Options {
                    rotel,
                    ..bench::Options::llamacol_only(llamacol, duration, work_dir.clone())
                };
                for r in runtime.block_on(parquet_bench::whole(&opts))? {
                    println!(
                        "whole process, {}: {:.0} spans/s accepted, {:.3} collector CPU-s per 1M spans ({:.0} spans per core-second), peak RSS {:.1} MiB, written {} of {} accepted, dropped {}",
                        r.name,
                        r.report.rate,
                        r.cpu_per_million,
                        1e6 / r.cpu_per_million,
                        r.peak_rss_mib,
                        r.delivered,
                        r.report.accepted,
                        r.dropped
                    );
                }
            }
            let (proto, rows) = parquet_bench::run(&parquet_bench::InProcess {
                spans,
                batch_spans,
                work_dir: &work_dir,
                only: only.as_deref(),
                parquet_keys: &parquet_keys,
            })?;
            println!(
                "OTLP protobuf: {proto:.1} bytes per span; batches of at least {batch_spans} spans"
            );
            for r in rows {
                println!(
                    "{}: {:.3} CPU-s per 1M spans ({:.0} spans per core-second), {:.1} bytes per span on disk = protobuf / {:.2}",
                    r.name,
                    r.cpu_s_per_million,
                    1e6 / r.cpu_s_per_million,
                    r.bytes_per_span,
                    proto / r.bytes_per_span
                );
            }
        }
        Command::HeadSampling { spans } => {
            let (floor, rows) = head_sampling::run(spans);
            println!("floor (prost decode + re-encode): {floor:.3} CPU-s per 1M spans");
            for r in rows {
                println!(
                    "probabilistic_sampler {}: {:.3} CPU-s per 1M spans = {:.2}x floor, kept {:.1}%",
                    r.config,
                    r.cpu_s_per_million,
                    r.cpu_s_per_million / floor,
                    r.kept_share * 100.0
                );
            }
        }
        Command::LivePage {
            rate,
            viewers,
            rounds,
            duration,
            llamacol,
            work_dir,
        } => {
            let opts = bench::Options::llamacol_only(llamacol, duration, work_dir);
            let r = runtime.block_on(live_page::run(&opts, rate, viewers, rounds))?;
            println!(
                "| phase | spans/s accepted | collector CPU (cores) | polls | bytes per poll |"
            );
            println!("| --- | ---: | ---: | ---: | ---: |");
            for p in &r.phases {
                println!(
                    "| {} | {:.0} | {:.4} | {} | {:.0} |",
                    p.label, p.rate, p.cores, p.polls, p.bytes_per_poll
                );
            }
            let mean = |loaded: bool, n: usize| {
                let v: Vec<f64> = r
                    .phases
                    .iter()
                    .filter(|p| (p.rate > 0.0) == loaded && p.viewers == n)
                    .map(|p| p.cores)
                    .collect();
                v.iter().sum::<f64>() / v.len().max(1) as f64
            };
            let (without, with) = (mean(true, 0), mean(true, viewers));
            println!(
                "under load: {viewers} viewers add {:+.4} cores ({:+.2}% of one core, {:+.2}% of the collector's CPU)",
                with - without,
                (with - without) * 100.0,
                (with / without - 1.0) * 100.0
            );
            let (idle, idle_viewed) = (mean(false, 0), mean(false, viewers));
            println!(
                "idle: {viewers} viewers add {:+.4} cores ({:+.2}% of one core)",
                idle_viewed - idle,
                (idle_viewed - idle) * 100.0
            );
            println!(
                "sink: {} spans delivered of {} accepted",
                r.delivered, r.accepted
            );
        }
        Command::Soak(options) => {
            let (settle, work_dir) = (options.settle, options.work_dir.clone());
            let r = runtime.block_on(soak::run(options))?;
            if !soak::print(&r, settle, &work_dir) {
                anyhow::bail!("the soak failed a check (above)");
            }
        }
        Command::Floor {
            signal,
            check,
            batch_size,
            items,
        } => {
            let signal = signal.parse()?;
            let per_million = if check {
                floor::check(signal, batch_size, items)?
            } else {
                floor::measure(signal, batch_size, items)
            };
            println!("{per_million:.3}");
        }
    }
    Ok(())
}
