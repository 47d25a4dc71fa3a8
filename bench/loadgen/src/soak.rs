//! The soak (issue 17): a real `llamacol` on `bench/configs/soak.yaml` for a long run at a
//! fraction of the capacity measured first in the same run, with all three signals, a real
//! `llama-server` target that goes down for half of every `flap_every`, and the backend (the
//! counting sink) taken away for `outage_for` every `outage_every`. Samples the collector's
//! RSS every `sample_every`, and at the end checks the account (every item a receiver
//! accepted was delivered or counted as dropped) and the collector's log (no warning or
//! error other than the ones the disturbances cause).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use llamacol_api::Signal;

use crate::bench::{self, free_port, start_collector, start_sink, Proc, Which, COLLECTOR_CPU};
use crate::{cpu, send};

#[derive(clap::Args)]
pub struct SoakOptions {
    #[arg(long, default_value = "target/release/llamacol")]
    pub llamacol: PathBuf,
    #[arg(long)]
    pub llama_server: PathBuf,
    /// The peer virtualenv's python (`peers-python`), which writes the tiny model.
    #[arg(long)]
    pub python: PathBuf,
    #[arg(long, default_value = "30m", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// RSS after this long is the reference the end is compared with.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub settle: Duration,
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    pub capacity_for: Duration,
    #[arg(long, default_value_t = 0.5)]
    pub fraction: f64,
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub sample_every: Duration,
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub flap_every: Duration,
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub outage_every: Duration,
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub outage_for: Duration,
    /// The first outage; later ones follow every `outage-every`. The default puts them
    /// between the samples the RSS check compares (5 min, the end).
    #[arg(long, default_value = "150s", value_parser = humantime::parse_duration)]
    pub outage_at: Duration,
    #[arg(long, default_value = "target/bench/soak")]
    pub work_dir: PathBuf,
}

/// RSS at the reference point and at the end (MiB).
pub struct RssCheck {
    pub reference: f64,
    pub end: f64,
    pub reference_sample: f64,
    pub end_sample: f64,
}

impl RssCheck {
    /// End against reference, in percent.
    pub fn change(&self) -> f64 {
        (self.end - self.reference) / self.reference.max(f64::MIN_POSITIVE) * 100.0
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// One RSS sample.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Sample {
    pub t_s: f64,
    pub rss_mib: f64,
    pub cpu_s: f64,
    /// Items the sink has received so far (over all its restarts).
    pub delivered: u64,
    pub sink_up: bool,
    pub llama_up: bool,
}

/// Warnings and errors the disturbances are expected to cause: (log target prefix, message
/// prefix, why). Anything else at WARN or ERROR fails the soak.
const EXPECTED: [(&str, &str, &str); 2] = [
    (
        "llamacol_pipeline::runtime::queue::retry",
        "export failed; will retry",
        "the sink is away: retryable, the batch is retried",
    ),
    (
        "llamacol_receivers::llamacpp",
        "llama.cpp target failing",
        "llama-server is down for half of every flap",
    ),
];

const SIGNALS: [Signal; 3] = Signal::ALL;

/// The sink can be restarted on the same port; what each incarnation counted is kept.
struct Backend {
    opts: bench::Options,
    port: u16,
    running: Option<(Proc, PathBuf)>,
    /// Per signal, from the incarnations already stopped.
    counted: [u64; 3],
    starts: usize,
}

impl Backend {
    fn start(&mut self) -> anyhow::Result<()> {
        let name = format!("soak-sink-{}", self.starts);
        let (proc, _, count_file) = start_sink(&self.opts, "0ms", 1000, &name, self.port)?;
        self.starts += 1;
        self.running = Some((proc, count_file));
        Ok(())
    }

    fn stop(&mut self) -> anyhow::Result<()> {
        if let Some((mut proc, count_file)) = self.running.take() {
            proc.stop()?;
            let now = read_signals(&count_file);
            for (total, n) in self.counted.iter_mut().zip(now) {
                *total += n;
            }
        }
        Ok(())
    }

    /// Per signal, so far.
    fn delivered(&self) -> [u64; 3] {
        let mut d = self.counted;
        if let Some((_, f)) = &self.running {
            for (total, n) in d.iter_mut().zip(read_signals(f)) {
                *total += n;
            }
        }
        d
    }
}

fn read_signals(count_file: &Path) -> [u64; 3] {
    let mut out = [0; 3];
    let path = format!("{}.signals", count_file.display());
    if let Ok(text) = std::fs::read_to_string(path) {
        for (slot, n) in out.iter_mut().zip(text.split_whitespace()) {
            *slot = n.parse().unwrap_or(0);
        }
    }
    out
}

/// The real llama-server on the tiny model, on one port, started and stopped at will.
struct LlamaTarget {
    program: PathBuf,
    model: PathBuf,
    port: u16,
    work_dir: PathBuf,
    running: Option<Proc>,
    starts: usize,
}

impl LlamaTarget {
    fn start(&mut self) -> anyhow::Result<()> {
        let log = self.work_dir.join(format!("llama-{}.log", self.starts));
        self.starts += 1;
        let child = bench::pinned("0", &self.program)
            .arg("-m")
            .arg(&self.model)
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--metrics", "--slots", "-np", "2", "-c", "1024", "-t", "1"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .context("starting llama-server")?;
        self.running = Some(Proc::new(child, log));
        Ok(())
    }

    fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(mut p) = self.running.take() {
            p.stop()?;
        }
        Ok(())
    }
}

pub struct SoakReport {
    pub capacity: [f64; 3],
    pub rate: [u64; 3],
    pub samples: Vec<Sample>,
    pub client: Vec<send::Report>,
    /// (receiver, signal) -> accepted.
    pub received: BTreeMap<(String, String), u64>,
    /// Per signal: sent, failed, dropped, unknown from the exporter's totals.
    pub exported: BTreeMap<String, (u64, u64, u64, u64)>,
    pub processor_dropped: BTreeMap<String, u64>,
    pub delivered: [u64; 3],
    /// (level, target, message) -> (count, expected because).
    pub log_lines: BTreeMap<(String, String, String), (u64, Option<&'static str>)>,
    pub sink_restarts: usize,
    pub llama_restarts: usize,
}

fn senders(
    endpoint: &str,
    rates: [u64; 3],
    duration: Duration,
) -> Vec<tokio::task::JoinHandle<anyhow::Result<send::Report>>> {
    SIGNALS
        .iter()
        .zip(rates)
        .map(|(signal, rate)| {
            let plan = send::Plan {
                endpoint: endpoint.to_string(),
                protocol: "grpc".into(),
                compression: "none".into(),
                signal: *signal,
                batch_size: 500,
                rate,
                duration,
                connections: 2,
                fresh: false,
            };
            tokio::spawn(send::run(plan))
        })
        .collect()
}

async fn join_all(
    handles: Vec<tokio::task::JoinHandle<anyhow::Result<send::Report>>>,
) -> anyhow::Result<Vec<send::Report>> {
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await??);
    }
    Ok(out)
}

fn collector_env(sink_port: u16, llama_port: u16) -> Vec<(&'static str, String)> {
    vec![
        ("BENCH_SINK_ENDPOINT", format!("127.0.0.1:{sink_port}")),
        (
            "BENCH_LLAMA_ENDPOINT",
            format!("http://127.0.0.1:{llama_port}"),
        ),
    ]
}

pub async fn run(o: SoakOptions) -> anyhow::Result<SoakReport> {
    std::fs::create_dir_all(&o.work_dir)?;
    let opts = bench::Options {
        llamacol: o.llamacol.clone(),
        otelcol: None,
        baseline: None,
        rotel: None,
        duration: o.duration,
        connections: 2,
        batch_size: 500,
        floor_items: 0,
        work_dir: o.work_dir.clone(),
    };
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/soak.yaml");
    let config = config.to_str().context("config path")?;
    let model = o.work_dir.join("tiny-llama.gguf");
    let made = Command::new(&o.python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/peers/python/tiny_llama.py"))
        .arg(&model)
        .output()?;
    if !made.status.success() {
        bail!("tiny model: {}", String::from_utf8_lossy(&made.stderr));
    }
    let mut llama = LlamaTarget {
        program: o.llama_server.clone(),
        model,
        port: free_port(),
        work_dir: o.work_dir.clone(),
        running: None,
        starts: 0,
    };
    let mut backend = Backend {
        opts: bench::Options {
            work_dir: o.work_dir.clone(),
            ..opts.clone()
        },
        port: free_port(),
        running: None,
        counted: [0; 3],
        starts: 0,
    };

    // Capacity: every signal at full speed at once, on the same config and sink.
    llama.start()?;
    backend.start()?;
    let env = collector_env(backend.port, llama.port);
    let start = |name| {
        start_collector(
            &opts,
            COLLECTOR_CPU,
            Which::Llamacol,
            Some(config),
            &env,
            name,
        )
    };
    let (mut collector, grpc) = start("soak-capacity")?;
    let reports = join_all(senders(
        &format!("127.0.0.1:{grpc}"),
        [0; 3],
        o.capacity_for,
    ))
    .await?;
    collector.stop()?;
    backend.stop()?;
    let capacity: [f64; 3] =
        std::array::from_fn(|i| reports[i].accepted as f64 / reports[i].seconds);
    let rate: [u64; 3] = std::array::from_fn(|i| (capacity[i] * o.fraction) as u64);
    backend.counted = [0; 3];
    backend.starts = 0;

    // The soak itself, on a fresh collector.
    backend.start()?;
    let (mut collector, grpc) = start("soak")?;
    let pid = collector.pid();
    let started = Instant::now();
    let load = senders(&format!("127.0.0.1:{grpc}"), rate, o.duration);
    let stop = Arc::new(AtomicBool::new(false));
    let chaos = {
        let stop = stop.clone();
        let o = SoakOptionsTimes::from(&o);
        tokio::task::spawn_blocking(move || {
            chaos(&o, started, pid, &mut llama, &mut backend, &stop).map(|s| (s, llama, backend))
        })
    };
    let client = join_all(load).await?;
    stop.store(true, Ordering::Relaxed);
    let (samples, mut llama, mut backend) = chaos.await??;
    llama.stop()?;
    if backend.running.is_none() {
        backend.start()?;
    }
    let log = collector.stop()?;
    backend.stop()?;

    let mut report = SoakReport {
        capacity,
        rate,
        samples,
        client,
        received: BTreeMap::new(),
        exported: BTreeMap::new(),
        processor_dropped: BTreeMap::new(),
        delivered: backend.counted,
        log_lines: BTreeMap::new(),
        sink_restarts: backend.starts.saturating_sub(1),
        llama_restarts: llama.starts.saturating_sub(1),
    };
    read_log(&log, &mut report);
    write_csv(&o.work_dir.join("soak.csv"), &report.samples)?;
    Ok(report)
}

/// The schedule's times, moved into the blocking task.
#[derive(Clone, Copy)]
struct SoakOptionsTimes {
    sample_every: Duration,
    flap_every: Duration,
    outage_every: Duration,
    outage_for: Duration,
    outage_at: Duration,
}

impl From<&SoakOptions> for SoakOptionsTimes {
    fn from(o: &SoakOptions) -> Self {
        SoakOptionsTimes {
            sample_every: o.sample_every,
            flap_every: o.flap_every,
            outage_every: o.outage_every,
            outage_for: o.outage_for,
            outage_at: o.outage_at,
        }
    }
}

impl SoakOptionsTimes {
    /// llama-server is up for the first half of every flap period.
    fn llama_up(&self, t: Duration) -> bool {
        (t.as_millis() % self.flap_every.as_millis().max(1)) < self.flap_every.as_millis() / 2
    }

    fn sink_up(&self, t: Duration) -> bool {
        if t < self.outage_at {
            return true;
        }
        let into = (t - self.outage_at).as_millis() % self.outage_every.as_millis().max(1);
        into >= self.outage_for.as_millis()
    }
}

/// Runs the schedule until `stop`: flaps llama-server, takes the sink away, samples RSS.
fn chaos(
    o: &SoakOptionsTimes,
    started: Instant,
    pid: u32,
    llama: &mut LlamaTarget,
    backend: &mut Backend,
    stop: &AtomicBool,
) -> anyhow::Result<Vec<Sample>> {
    let mut samples = Vec::new();
    let mut next_sample = Duration::ZERO;
    while !stop.load(Ordering::Relaxed) {
        let t = started.elapsed();
        match (o.llama_up(t), llama.running.is_some()) {
            (true, false) => llama.start()?,
            (false, true) => llama.stop()?,
            _ => {}
        }
        match (o.sink_up(t), backend.running.is_some()) {
            (true, false) => backend.start()?,
            (false, true) => backend.stop()?,
            _ => {}
        }
        if t >= next_sample {
            samples.push(Sample {
                t_s: t.as_secs_f64(),
                rss_mib: cpu::status_mib(pid, "VmRSS:").unwrap_or(0.0),
                cpu_s: cpu::process_seconds(pid).unwrap_or(0.0),
                delivered: backend.delivered().iter().sum(),
                sink_up: backend.running.is_some(),
                llama_up: llama.running.is_some(),
            });
            next_sample += o.sample_every;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(samples)
}

/// Totals from the collector's exit lines, and every WARN/ERROR line grouped.
fn read_log(log: &str, report: &mut SoakReport) {
    for line in log.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let f = &v["fields"];
        let text = |k: &str| f[k].as_str().unwrap_or_default().to_string();
        let n = |k: &str| f[k].as_u64().unwrap_or(0);
        match f["message"].as_str().unwrap_or_default() {
            "receiver totals" => {
                *report
                    .received
                    .entry((text("component"), text("signal")))
                    .or_default() += n("accepted");
            }
            "exporter totals" => {
                let e = report.exported.entry(text("signal")).or_default();
                e.0 += n("sent");
                e.1 += n("failed");
                e.2 += n("dropped");
                e.3 += n("unknown");
            }
            "processor totals" => {
                *report.processor_dropped.entry(text("signal")).or_default() += n("dropped");
            }
            _ => {}
        }
        let level = v["level"].as_str().unwrap_or_default().to_string();
        if level == "WARN" || level == "ERROR" {
            let target = v["target"].as_str().unwrap_or_default().to_string();
            let mut message = text("message");
            // "will retry (in 3.14s)": one group whatever the wait.
            if let (Some(a), Some(b)) = (message.find(" (in "), message.find(')')) {
                message.replace_range(a..=b, " (in ...)");
            }
            if message == "processor totals" {
                continue;
            }
            let why = EXPECTED
                .iter()
                .find(|(t, m, _)| target.starts_with(t) && message.starts_with(m))
                .map(|(_, _, why)| *why);
            report
                .log_lines
                .entry((level, target, message))
                .or_insert((0, why))
                .0 += 1;
        }
    }
}

fn write_csv(path: &Path, samples: &[Sample]) -> anyhow::Result<()> {
    let mut out = String::from("t_s,rss_mib,cpu_s,delivered,sink_up,llama_up\n");
    for s in samples {
        out.push_str(&format!(
            "{:.1},{:.2},{:.2},{},{},{}\n",
            s.t_s, s.rss_mib, s.cpu_s, s.delivered, s.sink_up as u8, s.llama_up as u8
        ));
    }
    std::fs::write(path, out)?;
    Ok(())
}

impl SoakReport {
    /// RSS at `settle` and at the end, each as the median of the samples of one minute
    /// (from `settle`, and the last), and as the single samples there. One sample is what
    /// was in flight at that instant (batches being built, sent, queued): under load it
    /// moves by 20% from one sample to the next, so the check reads the minute's median.
    pub fn rss_reference_and_end(&self, settle: Duration) -> RssCheck {
        let from = settle.as_secs_f64();
        let last = self.samples.last().map_or(0.0, |s| s.t_s);
        let window = |a: f64, b: f64| {
            median(
                self.samples
                    .iter()
                    .filter(|s| s.t_s >= a && s.t_s < b)
                    .map(|s| s.rss_mib)
                    .collect(),
            )
        };
        RssCheck {
            reference: window(from, from + 60.0),
            end: window(last - 60.0 + 0.01, f64::INFINITY),
            reference_sample: self
                .samples
                .iter()
                .find(|s| s.t_s >= from)
                .map_or(0.0, |s| s.rss_mib),
            end_sample: self.samples.last().map_or(0.0, |s| s.rss_mib),
        }
    }

    /// Per signal: (accepted by receivers, delivered, counted as dropped/failed/unknown).
    pub fn account(&self) -> Vec<(Signal, u64, u64, u64)> {
        SIGNALS
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let name = s.to_string();
                let accepted = self
                    .received
                    .iter()
                    .filter(|((_, sig), _)| *sig == name)
                    .map(|(_, n)| n)
                    .sum();
                let e = self.exported.get(&name).copied().unwrap_or_default();
                let counted =
                    e.1 + e.2 + e.3 + self.processor_dropped.get(&name).copied().unwrap_or(0);
                (*s, accepted, self.delivered[i], counted)
            })
            .collect()
    }

    pub fn unexpected_log_lines(&self) -> u64 {
        self.log_lines
            .values()
            .filter(|(_, why)| why.is_none())
            .map(|(n, _)| n)
            .sum()
    }
}

/// Prints the soak's result as Markdown; false when a check failed.
// The report is this command's output.
#[allow(clippy::print_stdout)]
pub fn print(r: &SoakReport, settle: Duration, work_dir: &Path) -> bool {
    let mut ok = true;
    println!("| signal | capacity /s (measured) | soak rate /s | client sent | client accepted | client refused |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for (i, s) in SIGNALS.iter().enumerate() {
        let c = &r.client[i];
        println!(
            "| {s} | {:.0} | {} | {} | {} | {} |",
            r.capacity[i], r.rate[i], c.sent, c.accepted, c.refused
        );
    }
    println!();
    println!("| signal | accepted (receivers) | delivered (sink) | counted dropped/failed/unknown | accepted - delivered - counted |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    for (s, accepted, delivered, counted) in r.account() {
        let gap = accepted as i64 - delivered as i64 - counted as i64;
        ok &= gap == 0;
        println!("| {s} | {accepted} | {delivered} | {counted} | {gap} |");
    }
    let rss = r.rss_reference_and_end(settle);
    ok &= rss.change().abs() <= 10.0;
    let peak = r.samples.iter().map(|s| s.rss_mib).fold(0.0, f64::max);
    println!();
    println!(
        "RSS (median of a minute's samples): {:.1} MiB in the minute from {}, {:.1} MiB in the last minute ({:+.1}%; limit 10%); single samples there: {:.1} and {:.1} MiB; peak sample {peak:.1} MiB (during an outage: the queue's bound); {} samples in {}",
        rss.reference,
        humantime::format_duration(settle),
        rss.end,
        rss.change(),
        rss.reference_sample,
        rss.end_sample,
        r.samples.len(),
        work_dir.join("soak.csv").display()
    );
    println!(
        "disturbances: sink restarted {} times, llama-server restarted {} times",
        r.sink_restarts, r.llama_restarts
    );
    println!();
    println!("| level | target | message | lines | expected because |");
    println!("| --- | --- | --- | ---: | --- |");
    for ((level, target, message), (n, why)) in &r.log_lines {
        println!(
            "| {level} | {target} | {message} | {n} | {} |",
            why.unwrap_or("**unexpected**")
        );
    }
    ok &= r.unexpected_log_lines() == 0;
    println!();
    println!("soak {}", if ok { "passed" } else { "FAILED" });
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(rss: &[f64]) -> SoakReport {
        SoakReport {
            capacity: [0.0; 3],
            rate: [0; 3],
            samples: rss
                .iter()
                .enumerate()
                .map(|(i, m)| Sample {
                    t_s: i as f64 * 10.0,
                    rss_mib: *m,
                    cpu_s: 0.0,
                    delivered: 0,
                    sink_up: true,
                    llama_up: true,
                })
                .collect(),
            client: Vec::new(),
            received: BTreeMap::new(),
            exported: BTreeMap::new(),
            processor_dropped: BTreeMap::new(),
            delivered: [0; 3],
            log_lines: BTreeMap::new(),
            sink_restarts: 0,
            llama_restarts: 0,
        }
    }

    #[test]
    fn rss_is_compared_by_the_minutes_medians() {
        // 0-50 s warm-up, then one minute around 60 from 60 s (one outlier), then
        // steady, and a last minute around 66 with one dip.
        let mut rss = vec![20.0, 30.0, 40.0, 50.0, 55.0, 58.0];
        rss.extend([60.0, 61.0, 59.0, 130.0, 60.0, 62.0]);
        rss.extend([63.0; 6]);
        rss.extend([66.0, 65.0, 40.0, 67.0, 66.0, 66.0]);
        let check = report(&rss).rss_reference_and_end(Duration::from_secs(60));
        assert_eq!((check.reference, check.end), (60.5, 66.0));
        assert!((check.change() - 9.09).abs() < 0.01);
        assert_eq!((check.reference_sample, check.end_sample), (60.0, 66.0));
    }

    #[test]
    fn growth_fails_the_check() {
        let mut rss = vec![50.0; 12];
        rss.extend([60.0; 6]);
        let check = report(&rss).rss_reference_and_end(Duration::from_secs(60));
        assert!(check.change() > 10.0);
    }
}
