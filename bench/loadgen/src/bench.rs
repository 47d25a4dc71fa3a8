//! The whole-process benchmark: real `llamacol` and sink processes on loopback, load from
//! this process, CPU and memory read from /proc, and the prost floor measured in the
//! same run. Prints a Markdown table for BENCHMARKS.md.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use llamacol_pipeline::Signal;

use crate::{cpu, floor, send};

pub struct Options {
    pub llamacol: PathBuf,
    pub duration: Duration,
    pub connections: usize,
    pub batch_size: usize,
    pub floor_items: usize,
    pub work_dir: PathBuf,
}

struct Proc {
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
    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, wait, and return the collector's stderr.
    fn stop(&mut self) -> anyhow::Result<String> {
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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

fn ready(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.starts_with("HTTP/1.1 200")
}

struct Ports {
    grpc: u16,
    admin: u16,
}

fn start_llamacol(
    opts: &Options,
    config: Option<&str>,
    env: &[(&str, String)],
    name: &str,
) -> anyhow::Result<(Proc, Ports)> {
    let ports = Ports {
        grpc: free_port(),
        admin: free_port(),
    };
    let stderr = opts.work_dir.join(format!("{name}.log"));
    let mut cmd = Command::new(&opts.llamacol);
    cmd.args(["run", "--log-format", "json"]);
    if let Some(c) = config {
        cmd.args(["-c", c]);
    }
    let child = cmd
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env(
            "LLAMACOL_OTLP_GRPC_ENDPOINT",
            format!("127.0.0.1:{}", ports.grpc),
        )
        .env(
            "LLAMACOL_OTLP_HTTP_ENDPOINT",
            format!("127.0.0.1:{}", free_port()),
        )
        .env(
            "LLAMACOL_ADMIN_ENDPOINT",
            format!("127.0.0.1:{}", ports.admin),
        )
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr)?)
        .spawn()
        .with_context(|| format!("starting {}", opts.llamacol.display()))?;
    let proc = Proc { child, stderr };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ready(ports.admin) {
        if Instant::now() > deadline {
            bail!(
                "llamacol not ready: {}",
                std::fs::read_to_string(&proc.stderr).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok((proc, ports))
}

fn start_sink(
    opts: &Options,
    delay: &str,
    queue: usize,
    name: &str,
) -> anyhow::Result<(Proc, u16, PathBuf)> {
    let port = free_port();
    let count_file = opts.work_dir.join(format!("{name}.count"));
    let stderr = opts.work_dir.join(format!("{name}.log"));
    let child = Command::new(std::env::current_exe()?)
        .args([
            "sink",
            "--endpoint",
            &format!("127.0.0.1:{port}"),
            "--delay",
            delay,
            "--queue-size",
            &queue.to_string(),
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

/// `sent`, `failed`, `dropped` summed over the "exporter totals" lines llamacol logs at exit.
fn exporter_totals(log: &str) -> (u64, u64, u64) {
    let mut t = (0, 0, 0);
    for line in log.lines().filter(|l| l.contains("exporter totals")) {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
            let f = &v["fields"];
            t.0 += f["sent"].as_u64().unwrap_or(0);
            t.1 += f["failed"].as_u64().unwrap_or(0);
            t.2 += f["dropped"].as_u64().unwrap_or(0);
        }
    }
    t
}

pub struct Row {
    pub name: String,
    pub report: send::Report,
    pub cpu_per_million: f64,
    pub peak_rss_mib: f64,
    pub delivered: u64,
    pub dropped: u64,
}

async fn scenario(
    opts: &Options,
    name: &str,
    label: &str,
    config: &str,
    sink: Option<(&str, usize)>,
    connections: usize,
) -> anyhow::Result<Row> {
    let sink = match sink {
        Some((delay, queue)) => Some(start_sink(opts, delay, queue, &format!("{name}-sink"))?),
        None => None,
    };
    let file = opts.work_dir.join(format!("{name}.jsonl"));
    let mut env = vec![("BENCH_FILE_PATH", file.display().to_string())];
    if let Some((_, port, _)) = &sink {
        env.push(("BENCH_SINK_ENDPOINT", format!("127.0.0.1:{port}")));
    }
    let (mut collector, ports) = start_llamacol(opts, Some(config), &env, name)?;
    let cpu_before = cpu::process_seconds(collector.pid()).unwrap_or(0.0);
    let plan = send::Plan {
        endpoint: format!("127.0.0.1:{}", ports.grpc),
        protocol: "grpc".into(),
        compression: "none".into(),
        signal: Signal::Traces,
        batch_size: opts.batch_size,
        rate: 0,
        duration: opts.duration,
        connections,
    };
    let report = send::run(plan).await?;
    let cpu_after = cpu::process_seconds(collector.pid()).unwrap_or(0.0);
    let peak_rss_mib = cpu::status_mib(collector.pid(), "VmHWM:").unwrap_or(0.0);
    let log = collector.stop()?;
    let (sent, _failed, dropped) = exporter_totals(&log);
    let delivered = match sink {
        Some((mut proc, _, count_file)) => {
            proc.stop()?;
            std::fs::read_to_string(&count_file)?.trim().parse()?
        }
        None => sent,
    };
    let _ = std::fs::remove_file(&file);
    Ok(Row {
        name: label.into(),
        cpu_per_million: (cpu_after - cpu_before) / report.accepted.max(1) as f64 * 1e6,
        report,
        peak_rss_mib,
        delivered,
        dropped,
    })
}

// The table is this command's output.
#[allow(clippy::print_stdout)]
pub async fn run(opts: Options) -> anyhow::Result<()> {
    std::fs::create_dir_all(&opts.work_dir)?;
    let (floor_batch, floor_items) = (opts.batch_size, opts.floor_items);
    let floor = tokio::task::spawn_blocking(move || {
        floor::measure(Signal::Traces, floor_batch, floor_items)
    })
    .await?;

    let (mut idle, _) = start_llamacol(&opts, None, &[], "idle")?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle_rss = cpu::status_mib(idle.pid(), "VmRSS:").unwrap_or(0.0);
    idle.stop()?;

    let configs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs");
    let cfg = |f: &str| configs.join(f).display().to_string();
    let rows = vec![
        scenario(
            &opts,
            "otlp-batch-otlp",
            "otlp-batch-otlp",
            &cfg("otlp-batch-otlp.yaml"),
            Some(("0ms", 1000)),
            opts.connections,
        )
        .await?,
        scenario(
            &opts,
            "otlp-batch-file",
            "otlp-batch-file",
            &cfg("otlp-batch-file.yaml"),
            None,
            opts.connections,
        )
        .await?,
        scenario(
            &opts,
            "overload",
            "overload (memory_limiter 200 MiB, sink 500 ms per batch)",
            &cfg("overload.yaml"),
            Some(("500ms", 4)),
            opts.connections * 2,
        )
        .await?,
    ];

    println!("floor (prost decode + re-encode, same requests, one thread): {floor:.3} CPU-s per 1M spans");
    println!("idle RSS, embedded default config: {idle_rss:.1} MiB");
    println!();
    println!("| scenario | spans/s accepted | collector CPU-s / 1M spans | x floor | peak RSS MiB | client p50 ms | client p99 ms | refused | accepted | delivered | dropped |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for r in &rows {
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
    for r in &rows {
        if r.delivered + r.dropped != r.report.accepted {
            println!(
                "\nACCOUNTING MISMATCH in {}: accepted {} != delivered {} + dropped {}",
                r.name, r.report.accepted, r.delivered, r.dropped
            );
        }
    }
    Ok(())
}
