//! The whole-process benchmark: real `llamacol` and sink processes on loopback, load from
//! this process, CPU and memory read from /proc, and the prost floor measured in the
//! same run. Prints a Markdown table for BENCHMARKS.md.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use llamacol_api::Signal;

use crate::{cpu, floor, send};

#[derive(Clone)]
pub struct Options {
    pub llamacol: PathBuf,
    /// The real OpenTelemetry Collector (built by scripts/peers.sh): when set, the same
    /// scenarios run against it too, in the same run, and a comparison table is printed.
    pub otelcol: Option<PathBuf>,
    /// An earlier llamacol build, run on the fast-backend forward scenario too.
    pub baseline: Option<PathBuf>,
    /// Rotel (streamfold/rotel, a Rust OTLP collector), for the Parquet comparison.
    pub rotel: Option<PathBuf>,
    pub duration: Duration,
    pub connections: usize,
    pub batch_size: usize,
    pub floor_items: usize,
    pub work_dir: PathBuf,
}

impl Options {
    /// One llamacol binary, no peers; 4 connections of 500-item requests.
    pub fn llamacol_only(llamacol: PathBuf, duration: Duration, work_dir: PathBuf) -> Options {
        Options {
            llamacol,
            otelcol: None,
            baseline: None,
            rotel: None,
            duration,
            connections: 4,
            batch_size: 500,
            floor_items: 0,
            work_dir,
        }
    }
}

pub(crate) struct Proc {
    child: Child,
    stderr: PathBuf,
}

/// A run that fails half-way must not leave processes behind (they would hold ports
/// and keep writing count files).
impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Proc {
    pub(crate) fn new(child: Child, stderr: PathBuf) -> Proc {
        Proc { child, stderr }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, wait, and return the collector's stderr.
    pub(crate) fn stop(&mut self) -> anyhow::Result<String> {
        Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()?;
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.child.try_wait()?.is_none() {
            if Instant::now() > deadline {
                self.child.kill()?;
                bail!("process {} did not exit within 60s of SIGTERM", self.pid());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(std::fs::read_to_string(&self.stderr).unwrap_or_default())
    }
}

pub(crate) use llamacol_api::net::free_port;

fn ready(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.starts_with("HTTP/1.1 200")
}

/// The sink's running total (its count file; 0 before the first write).
pub(crate) fn received_count(path: &std::path::Path) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0)
}

/// Which collector a scenario runs.
#[derive(Clone, Copy, PartialEq)]
pub enum Which {
    Llamacol,
    /// `--baseline`: an earlier llamacol build.
    Baseline,
    Otelcol,
    /// Rotel with its Parquet file exporter (flags, not a config file).
    Rotel,
}

/// `program` pinned to `cpu` with taskset when the machine has two cores or more, so the
/// collector under test gets one core and the load generator and sink the other.
pub(crate) fn pinned(cpu: &str, program: &Path) -> Command {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    if cores >= 2 && Path::new("/usr/bin/taskset").exists() {
        let mut c = Command::new("/usr/bin/taskset");
        c.args(["-c", cpu]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

/// The core the collector under test runs on; the load generator and sink use core 0.
pub(crate) const COLLECTOR_CPU: &str = "1";

/// Starts a collector on its own core with `config` (None: llamacol's embedded default);
/// returns it and its OTLP/gRPC port once it serves. Both collectors read the same
/// environment variables (`${env:LLAMACOL_OTLP_GRPC_ENDPOINT}` and the `BENCH_*` ones).
pub(crate) fn start_collector(
    opts: &Options,
    cpu: &str,
    which: Which,
    config: Option<&str>,
    env: &[(&str, String)],
    name: &str,
) -> anyhow::Result<(Proc, u16)> {
    // An admin endpoint the caller chose (to read its pages) wins.
    let admin = env
        .iter()
        .find(|(k, _)| *k == "LLAMACOL_ADMIN_ENDPOINT")
        .and_then(|(_, v)| v.rsplit(':').next()?.parse().ok())
        .unwrap_or_else(free_port);
    let grpc = free_port();
    let stderr = opts.work_dir.join(format!("{name}.log"));
    let mut cmd = match which {
        Which::Llamacol | Which::Baseline => {
            let binary = match which {
                Which::Baseline => opts.baseline.as_deref().context("no --baseline given")?,
                _ => &opts.llamacol,
            };
            let mut c = pinned(cpu, binary);
            c.args(["run", "--log-format", "json"]);
            if let Some(config) = config {
                c.args(["-c", config]);
            }
            c
        }
        Which::Otelcol => {
            let program = opts.otelcol.as_deref().context("no --otelcol given")?;
            let mut c = pinned(cpu, program);
            c.arg(format!(
                "--config={}",
                config.context("otelcol needs a config")?
            ));
            c
        }
        Which::Rotel => {
            let program = opts.rotel.as_deref().context("no --rotel given")?;
            let out = env
                .iter()
                .find(|(k, _)| *k == "BENCH_OUT_DIR")
                .map(|(_, v)| v.clone())
                .context("Rotel writes to BENCH_OUT_DIR")?;
            std::fs::create_dir_all(&out)?;
            let mut c = pinned(cpu, program);
            c.args(["start", "--exporter", "file"])
                .args(["--file-exporter-format", "parquet"])
                .args(["--file-exporter-parquet-compression", "zstd"])
                .args(["--file-exporter-output-dir", &out])
                .arg(format!("--otlp-grpc-endpoint=127.0.0.1:{grpc}"))
                .arg(format!("--otlp-http-endpoint=127.0.0.1:{}", free_port()));
            c
        }
    };
    let child = cmd
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("LLAMACOL_OTLP_GRPC_ENDPOINT", format!("127.0.0.1:{grpc}"))
        .env(
            "LLAMACOL_OTLP_HTTP_ENDPOINT",
            format!("127.0.0.1:{}", free_port()),
        )
        .env("LLAMACOL_ADMIN_ENDPOINT", format!("127.0.0.1:{admin}"))
        // The embedded default's Prometheus endpoint, so two runs never clash on :9464.
        .env(
            "LLAMACOL_PROMETHEUS_ENDPOINT",
            format!("127.0.0.1:{}", free_port()),
        )
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr)?)
        .spawn()
        .with_context(|| format!("starting {name}"))?;
    let mut proc = Proc { child, stderr };
    let serving = || match which {
        Which::Llamacol | Which::Baseline => ready(admin),
        Which::Otelcol | Which::Rotel => TcpStream::connect(("127.0.0.1", grpc)).is_ok(),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !serving() {
        if Instant::now() > deadline || proc.child.try_wait()?.is_some() {
            bail!(
                "{name} did not start: {}",
                std::fs::read_to_string(&proc.stderr).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok((proc, grpc))
}

/// Rows in every Parquet file under `dir` (recursively).
fn parquet_rows(dir: &Path) -> anyhow::Result<u64> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let mut rows = 0u64;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                let reader = SerializedFileReader::new(std::fs::File::open(&path)?)
                    .with_context(|| format!("reading {}", path.display()))?;
                rows += reader.metadata().file_metadata().num_rows() as u64;
            }
        }
    }
    Ok(rows)
}

/// Starts the counting sink on `port` (0: a free one); returns it, its port and count file.
pub(crate) fn start_sink(
    opts: &Options,
    delay: &str,
    queue: usize,
    name: &str,
    port: u16,
) -> anyhow::Result<(Proc, u16, PathBuf)> {
    start_sink_limited(opts, delay, queue, name, port, 64)
}

/// [`start_sink`] with the sink's gRPC message limit (MiB).
pub(crate) fn start_sink_limited(
    opts: &Options,
    delay: &str,
    queue: usize,
    name: &str,
    port: u16,
    max_recv_mib: usize,
) -> anyhow::Result<(Proc, u16, PathBuf)> {
    let port = if port == 0 { free_port() } else { port };
    let count_file = opts.work_dir.join(format!("{name}.count"));
    let stderr = opts.work_dir.join(format!("{name}.log"));
    let child = pinned("0", &std::env::current_exe()?)
        .args([
            "sink",
            "--endpoint",
            &format!("127.0.0.1:{port}"),
            "--delay",
            delay,
            "--queue-size",
            &queue.to_string(),
            "--max-recv-mib",
            &max_recv_mib.to_string(),
            "--count-file",
        ])
        .arg(&count_file)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr)?)
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            bail!("sink did not start");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok((Proc { child, stderr }, port, count_file))
}

/// `sent`, `failed`, `dropped`, `unknown` summed over the "exporter totals" lines llamacol
/// logs at exit.
pub(crate) fn exporter_totals(log: &str) -> (u64, u64, u64, u64) {
    let mut t = (0, 0, 0, 0);
    for line in log.lines().filter(|l| l.contains("exporter totals")) {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
            let f = &v["fields"];
            t.0 += f["sent"].as_u64().unwrap_or(0);
            t.1 += f["failed"].as_u64().unwrap_or(0);
            t.2 += f["dropped"].as_u64().unwrap_or(0);
            t.3 += f["unknown"].as_u64().unwrap_or(0);
        }
    }
    t
}

/// Spans the Collector's debug exporter logged (`"spans": N` per batch at basic
/// verbosity) and items it logged as dropped (`"dropped_items": N`).
fn otelcol_totals(log: &str) -> (u64, u64) {
    let number_after = |line: &str, key: &str| -> u64 {
        line.find(key)
            .map(|i| &line[i + key.len()..])
            .and_then(|rest| {
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                digits.parse().ok()
            })
            .unwrap_or(0)
    };
    log.lines().fold((0, 0), |(spans, dropped), line| {
        (
            spans + number_after(line, "\"spans\": "),
            dropped + number_after(line, "\"dropped_items\": "),
        )
    })
}

pub struct Row {
    pub name: String,
    pub report: send::Report,
    pub cpu_per_million: f64,
    pub peak_rss_mib: f64,
    pub delivered: u64,
    pub dropped: u64,
    /// In flight at the shutdown deadline: may or may not have been delivered.
    pub unknown: u64,
}

/// One load run against one collector.
pub(crate) struct Scenario<'a> {
    /// File-name stem for logs and outputs.
    pub name: &'a str,
    pub label: String,
    pub which: Which,
    pub config: String,
    /// Where the collector exports to.
    pub sink: SinkKind<'a>,
    /// The core the collector runs on (the sink's core, "0", for a run straight at a sink).
    pub cpu: &'a str,
    pub connections: usize,
    /// Of the load generator's requests, and (through `BENCH_COMPRESSION`) of the exporter's.
    pub compression: &'a str,
    /// Spans per request, when not `--batch-size`.
    pub batch_size: Option<usize>,
}

/// What a scenario's collector exports to.
#[derive(Clone, Copy)]
pub(crate) enum SinkKind<'a> {
    /// Nothing outside it (file, debug).
    None,
    /// `loadgen sink`: counts, after `delay` per batch, with a queue of `queue` batches.
    Counting { delay: &'a str, queue: usize },
    /// A backend that is slow because it works and pushes back by answering late:
    /// llamacol with `bench/configs/slow-sink.yaml` (OTLP in, OTLP/JSON file out, no
    /// queue), on core 0 with the load generator.
    Writer,
}

/// A sink that keeps up: counts every batch at once.
pub(crate) const FAST_SINK: SinkKind = SinkKind::Counting {
    delay: "0ms",
    queue: 1000,
};

/// A started sink: the process, its OTLP/gRPC port, and where it counts.
struct StartedSink {
    proc: Proc,
    port: u16,
    count_file: Option<PathBuf>,
}

fn start_sink_kind(
    opts: &Options,
    kind: SinkKind,
    name: &str,
) -> anyhow::Result<Option<StartedSink>> {
    Ok(match kind {
        SinkKind::None => None,
        SinkKind::Counting { delay, queue } => {
            let (proc, port, count_file) = start_sink(opts, delay, queue, name, 0)?;
            Some(StartedSink {
                proc,
                port,
                count_file: Some(count_file),
            })
        }
        SinkKind::Writer => {
            let file = opts.work_dir.join(format!("{name}.jsonl"));
            let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/slow-sink.yaml");
            let (proc, port) = start_collector(
                opts,
                "0",
                Which::Llamacol,
                config.to_str(),
                &[("BENCH_FILE_PATH", file.display().to_string())],
                name,
            )?;
            Some(StartedSink {
                proc,
                port,
                count_file: None,
            })
        }
    })
}

impl StartedSink {
    /// Stops the sink; what it received (its count file, or its exporter's `sent`).
    fn stop(mut self) -> anyhow::Result<u64> {
        let log = self.proc.stop()?;
        Ok(match self.count_file {
            Some(f) => std::fs::read_to_string(&f)?.trim().parse()?,
            None => exporter_totals(&log).0,
        })
    }
}

pub(crate) async fn scenario(opts: &Options, sc: Scenario<'_>) -> anyhow::Result<Row> {
    let name = sc.name;
    let sink = start_sink_kind(opts, sc.sink, &format!("{name}-sink"))?;
    let file = opts.work_dir.join(format!("{name}.jsonl"));
    // A persistent queue starts empty: an earlier run's leftovers would be sent again.
    let queue_dir = opts.work_dir.join(format!("{name}-queue"));
    let _ = std::fs::remove_dir_all(&queue_dir);
    // A directory for exporters that write many files (parquet), emptied before and after.
    let out_dir = opts.work_dir.join(format!("{name}-out"));
    let _ = std::fs::remove_dir_all(&out_dir);
    let mut env = vec![
        ("BENCH_FILE_PATH", file.display().to_string()),
        ("BENCH_OUT_DIR", out_dir.display().to_string()),
        ("BENCH_QUEUE_DIR", queue_dir.display().to_string()),
        ("BENCH_COMPRESSION", sc.compression.to_string()),
    ];
    if let Some(sink) = &sink {
        env.push(("BENCH_SINK_ENDPOINT", format!("127.0.0.1:{}", sink.port)));
    }
    let (mut collector, grpc) =
        start_collector(opts, sc.cpu, sc.which, Some(&sc.config), &env, name)?;
    let cpu_before = cpu::process_seconds(collector.pid()).unwrap_or(0.0);
    let plan = send::Plan {
        endpoint: format!("127.0.0.1:{grpc}"),
        protocol: "grpc".into(),
        compression: sc.compression.into(),
        signal: Signal::Traces,
        batch_size: sc.batch_size.unwrap_or(opts.batch_size),
        rate: 0,
        duration: opts.duration,
        connections: sc.connections,
        fresh: false,
    };
    let report = send::run(plan).await?;
    let cpu_after = cpu::process_seconds(collector.pid()).unwrap_or(0.0);
    let peak_rss_mib = cpu::status_mib(collector.pid(), "VmHWM:").unwrap_or(0.0);
    let log = collector.stop()?;
    let (sent, dropped, unknown) = match sc.which {
        Which::Llamacol | Which::Baseline => {
            let (sent, _failed, dropped, unknown) = exporter_totals(&log);
            (sent, dropped, unknown)
        }
        Which::Otelcol => {
            let (sent, dropped) = otelcol_totals(&log);
            (sent, dropped, 0)
        }
        // What its Parquet files hold (a row per span), read once it has exited.
        Which::Rotel => (parquet_rows(&out_dir)?, 0, 0),
    };
    let delivered = match sink {
        Some(sink) => sink.stop()?,
        None => sent,
    };
    let _ = std::fs::remove_file(&file);
    let _ = std::fs::remove_dir_all(&out_dir);
    Ok(Row {
        name: sc.label,
        cpu_per_million: (cpu_after - cpu_before) / report.accepted.max(1) as f64 * 1e6,
        report,
        peak_rss_mib,
        delivered,
        dropped,
        unknown,
    })
}

// The tables are this command's output.
#[allow(clippy::print_stdout)]
pub(crate) fn print_table(rows: &[Row], floor: f64) {
    println!("| scenario | spans/s accepted | collector CPU-s / 1M spans | x floor | peak RSS MiB | client p50 ms | client p99 ms | refused | accepted | delivered | dropped |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for r in rows {
        println!(
            "| {} | {:.0} | {:.2} | {:.2} | {:.1} | {:.2} | {:.2} | {} | {} | {} | {} |",
            r.name,
            r.report.rate,
            r.cpu_per_million,
            r.cpu_per_million / floor,
            r.peak_rss_mib,
            r.report.p50_ms,
            r.report.p99_ms,
            r.report.refused,
            r.report.accepted,
            r.delivered,
            r.dropped
        );
    }
    for r in rows {
        // Exports cut off in flight may or may not have arrived: they widen the range.
        let (least, most) = (r.delivered + r.dropped, r.delivered + r.dropped + r.unknown);
        if !(least..=most).contains(&r.report.accepted) {
            println!(
                "\nACCOUNTING MISMATCH in {}: accepted {} != delivered {} + dropped {} (+ unknown {})",
                r.name, r.report.accepted, r.delivered, r.dropped, r.unknown
            );
        }
    }
}

/// The same load against llamacol and the real Collector, one after the other in this
/// run, each on the collector core with the same sink: (name, llamacol config, Collector
/// config, compression, sink).
const VERSUS: [(&str, &str, &str, &str, bool); 4] = [
    (
        "otlp-batch-otlp, no compression",
        "otlp-batch-otlp.yaml",
        "otelcol/otlp-batch-otlp.yaml",
        "none",
        true,
    ),
    (
        "otlp-batch-otlp, gzip",
        "otlp-batch-otlp.yaml",
        "otelcol/otlp-batch-otlp.yaml",
        "gzip",
        true,
    ),
    (
        "otlp-batch-debug (basic)",
        "otlp-batch-debug.yaml",
        "otelcol/otlp-batch-debug.yaml",
        "none",
        false,
    ),
    (
        "span metrics: genai + genai_metrics / span_metrics, traces forwarded",
        "otlp-genai-metrics.yaml",
        "otelcol/otlp-spanmetrics.yaml",
        "none",
        true,
    ),
];

// The tables are this command's output.
#[allow(clippy::print_stdout)]
pub async fn run(opts: Options) -> anyhow::Result<()> {
    std::fs::create_dir_all(&opts.work_dir)?;
    let (floor_batch, floor_items) = (opts.batch_size, opts.floor_items);
    let floor = tokio::task::spawn_blocking(move || {
        floor::measure(Signal::Traces, floor_batch, floor_items)
    })
    .await?;

    let (mut idle, _) = start_collector(&opts, COLLECTOR_CPU, Which::Llamacol, None, &[], "idle")?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle_rss = cpu::status_mib(idle.pid(), "VmRSS:").unwrap_or(0.0);
    idle.stop()?;

    let configs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs");
    let cfg = |f: &str| configs.join(f).display().to_string();
    let llamacol = |name, label: &str, config, sink, connections| Scenario {
        name,
        label: label.to_string(),
        which: Which::Llamacol,
        config: cfg(config),
        sink,
        cpu: COLLECTOR_CPU,
        connections,
        compression: "none",
        batch_size: None,
    };
    let rows = vec![
        scenario(
            &opts,
            llamacol(
                "otlp-batch-otlp",
                "otlp-batch-otlp",
                "otlp-batch-otlp.yaml",
                FAST_SINK,
                opts.connections,
            ),
        )
        .await?,
        scenario(
            &opts,
            llamacol(
                "otlp-batch-otlp-persistent",
                "otlp-batch-otlp, queue on disk (file_storage)",
                "otlp-batch-otlp-persistent.yaml",
                FAST_SINK,
                opts.connections,
            ),
        )
        .await?,
        scenario(
            &opts,
            llamacol(
                "otlp-batch-file",
                "otlp-batch-file",
                "otlp-batch-file.yaml",
                SinkKind::None,
                opts.connections,
            ),
        )
        .await?,
        scenario(
            &opts,
            llamacol(
                "overload",
                "overload (memory_limiter 200 MiB, sink 500 ms per batch)",
                "overload.yaml",
                SinkKind::Counting {
                    delay: "500ms",
                    queue: 4,
                },
                opts.connections * 2,
            ),
        )
        .await?,
    ];

    let mut baseline = Vec::new();
    if opts.baseline.is_some() {
        for (which, label) in [
            (Which::Baseline, "otlp-batch-otlp: baseline build"),
            (Which::Llamacol, "otlp-batch-otlp: this build"),
        ] {
            baseline.push(
                scenario(
                    &opts,
                    Scenario {
                        which,
                        ..llamacol(
                            "baseline",
                            label,
                            "otlp-batch-otlp.yaml",
                            FAST_SINK,
                            opts.connections,
                        )
                    },
                )
                .await?,
            );
        }
    }

    // Slow backend: the same writing sink, first fed directly, then through llamacol's
    // default queue (otlp-batch-otlp.yaml); delivered spans/s must stay close.
    // The sink fed directly, with the load generator's requests and with requests of the
    // size llamacol's batch processor sends (8192 spans): what the sink itself takes.
    let direct = |name, label: &str, batch_size| Scenario {
        name,
        label: label.to_string(),
        which: Which::Llamacol,
        config: cfg("slow-sink.yaml"),
        sink: SinkKind::None,
        cpu: "0",
        connections: opts.connections,
        compression: "none",
        batch_size,
    };
    let slow = vec![
        scenario(
            &opts,
            direct(
                "slow-direct",
                "slow backend: load generator -> sink directly",
                None,
            ),
        )
        .await?,
        scenario(
            &opts,
            direct(
                "slow-direct-8192",
                "slow backend: load generator -> sink directly, 8192-span requests",
                Some(8192),
            ),
        )
        .await?,
        scenario(
            &opts,
            llamacol(
                "slow-through",
                "slow backend: load generator -> llamacol (defaults) -> sink",
                "otlp-batch-otlp.yaml",
                SinkKind::Writer,
                opts.connections,
            ),
        )
        .await?,
        scenario(
            &opts,
            llamacol(
                "slow-through-1mib",
                "slow backend: load generator -> llamacol (queue_size_mib: 1) -> sink",
                "otlp-batch-otlp-queue1mib.yaml",
                SinkKind::Writer,
                opts.connections,
            ),
        )
        .await?,
    ];

    let mut versus = Vec::new();
    if opts.otelcol.is_some() {
        for (i, (label, ours, theirs, compression, sink)) in VERSUS.into_iter().enumerate() {
            for (which, who, config) in [
                (Which::Llamacol, "llamacol", ours),
                (Which::Otelcol, "otelcol 0.161.0", theirs),
            ] {
                let name = format!(
                    "versus-{i}-{}",
                    if which == Which::Llamacol {
                        "llamacol"
                    } else {
                        "otelcol"
                    }
                );
                versus.push(
                    scenario(
                        &opts,
                        Scenario {
                            name: &name,
                            label: format!("{label}: {who}"),
                            which,
                            config: cfg(config),
                            sink: if sink { FAST_SINK } else { SinkKind::None },
                            cpu: COLLECTOR_CPU,
                            connections: opts.connections,
                            compression,
                            batch_size: None,
                        },
                    )
                    .await?,
                );
            }
        }
    }

    println!("floor (prost decode + re-encode, same requests, one thread): {floor:.3} CPU-s per 1M spans");
    println!("idle RSS, embedded default config: {idle_rss:.1} MiB");
    println!();
    print_table(&rows, floor);
    println!(
        "\npersistent / in-memory queue, CPU-s per 1M spans: {:.2} / {:.2} = {:.2}; peak RSS {:.1} / {:.1} MiB",
        rows[1].cpu_per_million,
        rows[0].cpu_per_million,
        rows[1].cpu_per_million / rows[0].cpu_per_million.max(f64::MIN_POSITIVE),
        rows[1].peak_rss_mib,
        rows[0].peak_rss_mib
    );
    if let [old, new] = baseline.as_slice() {
        println!();
        println!("This build against the baseline build, fast backend, same run:");
        println!();
        print_table(&baseline, floor);
        println!(
            "\nCPU-s per 1M spans, this build / baseline: {:.2} / {:.2} = {:.2}",
            new.cpu_per_million,
            old.cpu_per_million,
            new.cpu_per_million / old.cpu_per_million.max(f64::MIN_POSITIVE)
        );
    }
    println!();
    println!("Slow backend (the sink writes OTLP/JSON on core 0, shared with the load generator):");
    println!();
    print_table(&slow, floor);
    let per_second = |r: &Row| r.delivered as f64 / r.report.seconds.max(f64::MIN_POSITIVE);
    let through = per_second(&slow[2]);
    println!(
        "\ndelivered spans/s through llamacol / directly: {:.0} / {:.0} = {:.2} (500-span requests); {:.0} / {:.0} = {:.2} (8192-span requests, as llamacol sends them)",
        through,
        per_second(&slow[0]),
        through / per_second(&slow[0]).max(f64::MIN_POSITIVE),
        through,
        per_second(&slow[1]),
        through / per_second(&slow[1]).max(f64::MIN_POSITIVE)
    );
    println!(
        "peak RSS behind the slow backend: {:.1} MiB with the default 64 MiB queue, {:.1} MiB with 1 MiB: {:.2} MiB per queued MiB",
        slow[2].peak_rss_mib,
        slow[3].peak_rss_mib,
        (slow[2].peak_rss_mib - slow[3].peak_rss_mib) / 63.0
    );
    if !versus.is_empty() {
        println!();
        println!("llamacol vs the OpenTelemetry Collector, same load, same sink, same run:");
        println!();
        print_table(&versus, floor);
        println!();
        println!("| scenario | spans per collector CPU-second, llamacol / otelcol | peak RSS, llamacol / otelcol | delivered, llamacol / otelcol |");
        println!("| --- | ---: | ---: | ---: |");
        for pair in versus.chunks(2) {
            let (ours, theirs) = (&pair[0], &pair[1]);
            println!(
                "| {} | {:.2} | {:.2} | {:.2} |",
                ours.name.split(':').next().unwrap_or_default(),
                theirs.cpu_per_million / ours.cpu_per_million.max(f64::MIN_POSITIVE),
                ours.peak_rss_mib / theirs.peak_rss_mib.max(f64::MIN_POSITIVE),
                ours.delivered as f64 / theirs.delivered.max(1) as f64,
            );
        }
    }
    Ok(())
}

/// One collector under a tail-sampling trace storm.
pub struct StormRow {
    pub name: &'static str,
    pub report: send::Report,
    pub cpu_per_million: f64,
    pub peak_rss_mib: f64,
    /// (seconds into the load, RSS MiB), every 5 s.
    pub rss: Vec<(u64, f64)>,
    pub delivered: u64,
}

/// Tail sampling under a storm of new traces (`rate` spans/s of fresh trace trees, 3-10
/// spans each) for `opts.duration`, llamacol and then the Collector, each on the
/// collector core with `num_traces: 50000`, exporting what it keeps to the counting sink.
pub async fn tail_storm(opts: &Options, rate: u64) -> anyhow::Result<Vec<StormRow>> {
    std::fs::create_dir_all(&opts.work_dir)?;
    let cfg = |f: &str| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../configs")
            .join(f)
            .display()
            .to_string()
    };
    // (name, collector, config, the Collector's `num_shards`)
    let mut runs = vec![("llamacol", Which::Llamacol, cfg("tail-storm.yaml"), "1")];
    if opts.baseline.is_some() {
        runs.push((
            "llamacol (baseline build)",
            Which::Baseline,
            cfg("tail-storm.yaml"),
            "1",
        ));
    }
    if opts.otelcol.is_some() {
        let config = cfg("otelcol/tail-storm.yaml");
        runs.push(("otelcol", Which::Otelcol, config.clone(), "1"));
        // Its sharded decision loop (v0.161.0), on the same single core.
        runs.push(("otelcol, num_shards 2", Which::Otelcol, config, "2"));
    }
    let mut rows = Vec::new();
    for (name, which, config, shards) in runs {
        let file_name = name.replace([',', ' ', '(', ')'], "-");
        let sink = start_sink_kind(opts, FAST_SINK, &format!("storm-{file_name}-sink"))?
            .context("a counting sink")?;
        let env = vec![
            ("BENCH_SINK_ENDPOINT", format!("127.0.0.1:{}", sink.port)),
            ("BENCH_NUM_SHARDS", shards.to_string()),
        ];
        let (mut collector, grpc) = start_collector(
            opts,
            COLLECTOR_CPU,
            which,
            Some(&config),
            &env,
            &format!("storm-{file_name}"),
        )?;
        let pid = collector.pid();
        let cpu_before = cpu::process_seconds(pid).unwrap_or(0.0);
        let plan = send::Plan {
            endpoint: format!("127.0.0.1:{grpc}"),
            protocol: "grpc".into(),
            compression: "none".into(),
            signal: Signal::Traces,
            batch_size: opts.batch_size,
            rate,
            duration: opts.duration,
            connections: opts.connections,
            fresh: true,
        };
        let load = tokio::spawn(send::run(plan));
        let started = Instant::now();
        let mut rss = Vec::new();
        while !load.is_finished() {
            tokio::time::sleep(Duration::from_secs(5)).await;
            if let Some(mib) = cpu::status_mib(pid, "VmRSS:") {
                rss.push((started.elapsed().as_secs(), mib));
            }
        }
        let report = load.await??;
        let cpu_after = cpu::process_seconds(pid).unwrap_or(0.0);
        let peak_rss_mib = cpu::status_mib(pid, "VmHWM:").unwrap_or(0.0);
        collector.stop()?;
        let delivered = sink.stop()?;
        rows.push(StormRow {
            name,
            cpu_per_million: (cpu_after - cpu_before) / report.accepted.max(1) as f64 * 1e6,
            report,
            peak_rss_mib,
            rss,
            delivered,
        });
    }
    Ok(rows)
}
