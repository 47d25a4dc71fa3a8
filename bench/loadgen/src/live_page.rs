//! `loadgen live-page`: what the admin server's live page costs the collector. The
//! release llamacol with `bench/configs/otlp-genai-metrics.yaml` (OTLP/gRPC -> genai ->
//! batch -> OTLP/gRPC to the counting sink, and genai_metrics: every part of the data path
//! that feeds the page) on its own core, at a fixed span rate, in alternating phases
//! without and with `viewers` concurrent viewers, each polling `/api/live` once a second
//! as the page does (the whole history first, then `since=` the last answer less 5 s),
//! each on one kept-alive connection as a browser keeps it.
//! Then the same viewers against the idle collector, where the endpoint's own cost is
//! not lost in the load's noise. Collector CPU from /proc; the sink's count is checked
//! against what the collector accepted.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use llamacol_api::Signal;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{bench, cpu, send};

pub struct Phase {
    pub label: String,
    pub viewers: usize,
    /// Spans per second the collector accepted (0: idle).
    pub rate: f64,
    /// Collector CPU-seconds per wall second (1.0 = one core).
    pub cores: f64,
    pub polls: u64,
    pub bytes_per_poll: f64,
}

pub struct Report {
    pub phases: Vec<Phase>,
    pub accepted: u64,
    pub delivered: u64,
}

/// One GET on a kept-alive connection, as a browser polls: the body.
async fn get(conn: &mut tokio::net::TcpStream, path: &str) -> anyhow::Result<Vec<u8>> {
    conn.write_all(format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .await?;
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(conn.read_u8().await?);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    if !head.starts_with("http/1.1 200") {
        bail!("{path}: {head}");
    }
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .context("no content-length")?
        .trim()
        .parse()?;
    let mut body = vec![0; length];
    conn.read_exact(&mut body).await?;
    Ok(body)
}

/// One viewer until `until`: (polls, bytes).
async fn viewer(port: u16, until: Instant) -> anyhow::Result<(u64, u64)> {
    let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let (mut polls, mut bytes, mut since) = (0, 0, 0.0);
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    while Instant::now() < until {
        ticker.tick().await;
        let body = get(&mut conn, &format!("/api/live?since={since}")).await?;
        let json: serde_json::Value = serde_json::from_slice(&body)?;
        since = json["now"].as_f64().context("no `now`")? - 5.0;
        polls += 1;
        bytes += body.len() as u64;
    }
    Ok((polls, bytes))
}

/// `rate` spans/s (0: none) and `viewers` viewers for `duration`.
async fn phase(
    pid: u32,
    grpc: u16,
    admin: u16,
    rate: u64,
    viewers: usize,
    duration: Duration,
) -> anyhow::Result<(Phase, u64)> {
    let until = Instant::now() + duration;
    let watchers: Vec<_> = (0..viewers)
        .map(|_| tokio::spawn(viewer(admin, until)))
        .collect();
    let cpu_before = cpu::process_seconds(pid).unwrap_or(0.0);
    let started = Instant::now();
    let report = if rate > 0 {
        Some(
            send::run(send::Plan {
                endpoint: format!("127.0.0.1:{grpc}"),
                protocol: "grpc".into(),
                compression: "none".into(),
                signal: Signal::Traces,
                batch_size: 500,
                rate,
                duration,
                connections: 4,
                fresh: true,
            })
            .await?,
        )
    } else {
        tokio::time::sleep(duration).await;
        None
    };
    let (mut polls, mut bytes) = (0, 0);
    for w in watchers {
        let (p, b) = w.await??;
        polls += p;
        bytes += b;
    }
    let seconds = started.elapsed().as_secs_f64();
    let cores = (cpu::process_seconds(pid).unwrap_or(0.0) - cpu_before) / seconds;
    let accepted = report.as_ref().map_or(0, |r| r.accepted);
    Ok((
        Phase {
            label: String::new(),
            viewers,
            rate: accepted as f64 / seconds,
            cores,
            polls,
            bytes_per_poll: bytes as f64 / polls.max(1) as f64,
        },
        accepted,
    ))
}

pub async fn run(
    opts: &bench::Options,
    rate: u64,
    viewers: usize,
    rounds: usize,
) -> anyhow::Result<Report> {
    std::fs::create_dir_all(&opts.work_dir)?;
    let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../configs/otlp-genai-metrics.yaml")
        .display()
        .to_string();
    let (mut sink, sink_port, count_file) = bench::start_sink(opts, "0ms", 1000, "live-sink", 0)?;
    let admin = bench::free_port();
    let (mut collector, grpc) = bench::start_collector(
        opts,
        bench::COLLECTOR_CPU,
        bench::Which::Llamacol,
        Some(&config),
        &[
            ("BENCH_SINK_ENDPOINT", format!("127.0.0.1:{sink_port}")),
            ("LLAMACOL_ADMIN_ENDPOINT", format!("127.0.0.1:{admin}")),
        ],
        "live-collector",
    )?;
    let pid = collector.pid();
    // Warm up: connections, buffers, a minute of history for the page.
    let (_, mut accepted) = phase(pid, grpc, admin, rate, 0, Duration::from_secs(10)).await?;
    let mut phases = Vec::new();
    for round in 0..rounds {
        for n in [0, viewers] {
            let (mut p, a) = phase(pid, grpc, admin, rate, n, opts.duration).await?;
            accepted += a;
            p.label = format!("round {}, {n} viewers", round + 1);
            phases.push(p);
        }
    }
    // Let the exporter drain before the idle phases and the count.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for n in [0, viewers] {
        let (mut p, _) = phase(pid, grpc, admin, 0, n, opts.duration).await?;
        p.label = format!("idle, {n} viewers");
        phases.push(p);
    }
    collector.stop()?;
    sink.stop()?;
    let delivered = std::fs::read_to_string(&count_file)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    Ok(Report {
        phases,
        accepted,
        delivered,
    })
}
