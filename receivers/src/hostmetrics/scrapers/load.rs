//! `load`: the 1, 5 and 15 minute load averages of `/proc/loadavg`.

use super::{Cycle, HostScraper, Sink, Table};
use crate::hostmetrics::config::LoadConfig;
use crate::hostmetrics::host::{parse_loadavg, parse_stat};

pub struct Load {
    table: Table,
    cpu_average: bool,
}

impl Load {
    pub fn new(config: &LoadConfig) -> Load {
        Load {
            table: Table::new("load", &config.metrics),
            cpu_average: config.cpu_average,
        }
    }
}

impl HostScraper for Load {
    fn name(&self) -> &'static str {
        "load"
    }

    fn scrape(&mut self, cycle: &Cycle, sink: &mut Sink) {
        let averages = match cycle.host.read("proc/loadavg").map(|t| parse_loadavg(&t)) {
            Ok(Some(a)) => a,
            Ok(None) => return sink.fail("load", "parsing /proc/loadavg", "unexpected format"),
            Err(e) => return sink.fail("load", "reading /proc/loadavg", e),
        };
        let divisor = if self.cpu_average {
            cycle
                .host
                .read("proc/stat")
                .map(|t| parse_stat(&t, cycle.host.ticks).cpus.len().max(1) as f64)
                .unwrap_or(1.0)
        } else {
            1.0
        };
        let mut rec = self.table.recorder(cycle.boot, cycle.now);
        rec.point("system.cpu.load_average.1m", averages[0] / divisor, &[]);
        rec.point("system.cpu.load_average.5m", averages[1] / divisor, &[]);
        rec.point("system.cpu.load_average.15m", averages[2] / divisor, &[]);
        sink.host.push(("load", rec.finish()));
    }
}
