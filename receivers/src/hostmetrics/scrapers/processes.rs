//! `processes`: processes by state (each `/proc/<pid>/stat`'s state letter, with
//! `running` and `blocked` from `/proc/stat` as the Collector takes them) and the
//! number created since boot.

use std::collections::BTreeMap;

use super::{Cycle, HostScraper, Sink, Table};
use crate::hostmetrics::config::MetricsOnly;
use crate::hostmetrics::host::parse_stat;
use crate::hostmetrics::scrapers::process::{pids, state_letter};

pub struct Processes {
    table: Table,
}

impl Processes {
    pub fn new(config: &MetricsOnly) -> Processes {
        Processes {
            table: Table::new("processes", &config.metrics),
        }
    }
}

/// A `/proc/<pid>/stat` state letter as the Collector's `status` attribute (gopsutil's
/// mapping: `D` disk sleep is `blocked`, `W` is `paging`, `Z` is `zombies`).
fn status(letter: char) -> &'static str {
    match letter {
        'A' => "daemon",
        'D' | 'U' => "blocked",
        'E' => "detached",
        'I' => "idle",
        'L' => "locked",
        'O' => "orphan",
        'R' => "running",
        'S' => "sleeping",
        'T' | 't' => "stopped",
        'W' => "paging",
        'Y' => "system",
        'Z' => "zombies",
        _ => "unknown",
    }
}

impl HostScraper for Processes {
    fn name(&self) -> &'static str {
        "processes"
    }

    fn scrape(&mut self, cycle: &Cycle, sink: &mut Sink) {
        let stat = match cycle.host.read("proc/stat") {
            Ok(text) => parse_stat(&text, cycle.host.ticks),
            Err(e) => return sink.fail("processes", "reading /proc/stat", e),
        };
        let mut rec = self.table.recorder(cycle.boot, cycle.now);
        if rec.wants(&["system.processes.count"]) {
            let mut counts: BTreeMap<&'static str, i64> = BTreeMap::new();
            let all = pids(cycle.host);
            for pid in &all {
                // A process that exited between the listing and the read is not counted.
                if let Some(letter) = state_letter(cycle.host, *pid) {
                    *counts.entry(status(letter)).or_default() += 1;
                }
            }
            counts.insert("running", stat.procs_running as i64);
            counts.insert("blocked", stat.procs_blocked as i64);
            let known: i64 = counts.values().sum();
            if all.len() as i64 > known {
                *counts.entry("unknown").or_default() += all.len() as i64 - known;
            }
            for (state, count) in counts {
                rec.point("system.processes.count", count, &[state]);
            }
        }
        rec.point("system.processes.created", stat.processes_created, &[]);
        sink.host.push(("processes", rec.finish()));
    }
}
