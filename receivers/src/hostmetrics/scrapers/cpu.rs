//! `cpu`: time per logical CPU and state from `/proc/stat`, utilization between two
//! cycles, the number of CPUs (`/sys/devices/system/cpu`), frequency (`/proc/cpuinfo`).

use super::{Cycle, HostScraper, Sink, Table};
use crate::hostmetrics::config::MetricsOnly;
use crate::hostmetrics::host::{parse_cpuinfo, parse_stat, CpuTimes};

pub struct Cpu {
    table: Table,
    previous: Vec<CpuTimes>,
}

impl Cpu {
    pub fn new(config: &MetricsOnly) -> Cpu {
        Cpu {
            table: Table::new("cpu", &config.metrics),
            previous: Vec::new(),
        }
    }
}

/// (state attribute, the field) in the Collector's order.
fn states(t: &CpuTimes) -> [(&'static str, f64); 8] {
    [
        ("user", t.user),
        ("system", t.system),
        ("idle", t.idle),
        ("interrupt", t.irq),
        ("nice", t.nice),
        ("softirq", t.softirq),
        ("steal", t.steal),
        ("wait", t.iowait),
    ]
}

impl HostScraper for Cpu {
    fn name(&self) -> &'static str {
        "cpu"
    }

    fn scrape(&mut self, cycle: &Cycle, sink: &mut Sink) {
        let mut rec = self.table.recorder(cycle.boot, cycle.now);
        let stat = match cycle.host.read("proc/stat") {
            Ok(text) => parse_stat(&text, cycle.host.ticks),
            Err(e) => {
                sink.fail("cpu", "reading /proc/stat", e);
                return;
            }
        };
        for t in &stat.cpus {
            for (state, seconds) in states(t) {
                rec.point("system.cpu.time", seconds, &[t.cpu.as_str(), state]);
            }
        }
        // Utilization: each state's share of the CPU's time since the last cycle.
        for before in &self.previous {
            let Some(now) = stat.cpus.iter().find(|t| t.cpu == before.cpu) else {
                continue;
            };
            let elapsed = now.total() - before.total();
            for ((state, a), (_, b)) in states(before).into_iter().zip(states(now)) {
                let share = if elapsed > 0.0 {
                    (b - a) / elapsed
                } else {
                    0.0
                };
                rec.point("system.cpu.utilization", share, &[now.cpu.as_str(), state]);
            }
        }
        self.previous = stat.cpus.clone();
        rec.point("system.cpu.logical.count", stat.cpus.len() as i64, &[]);
        // /proc/cpuinfo only when a metric that needs it is on.
        if rec.wants(&["system.cpu.physical.count", "system.cpu.frequency"]) {
            match cycle.host.read("proc/cpuinfo") {
                Ok(text) => {
                    rec.point("system.cpu.physical.count", physical_cores(&text), &[]);
                    for (processor, mhz) in parse_cpuinfo(&text) {
                        let cpu = format!("cpu{processor}");
                        rec.point("system.cpu.frequency", mhz * 1e6, &[cpu.as_str()]);
                    }
                }
                Err(e) => sink.fail("cpu", "reading /proc/cpuinfo", e),
            }
        }
        sink.host.push(("cpu", rec.finish()));
    }
}

/// Distinct (physical id, core id) pairs of `/proc/cpuinfo`.
fn physical_cores(cpuinfo: &str) -> i64 {
    let mut cores = std::collections::BTreeSet::new();
    let (mut package, mut core) = (None, None);
    for line in cpuinfo.lines().chain(std::iter::once("")) {
        match line.split_once(':').map(|(k, v)| (k.trim(), v.trim())) {
            Some(("physical id", v)) => package = Some(v.to_string()),
            Some(("core id", v)) => core = Some(v.to_string()),
            None if line.trim().is_empty() => {
                if let (Some(p), Some(c)) = (package.take(), core.take()) {
                    cores.insert((p, c));
                }
            }
            _ => {}
        }
    }
    cores.len() as i64
}
