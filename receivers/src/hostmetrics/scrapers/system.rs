//! `system`: seconds since boot.

use super::{Cycle, HostScraper, Sink, Table};
use crate::hostmetrics::config::MetricsOnly;

pub struct System {
    table: Table,
}

impl System {
    pub fn new(config: &MetricsOnly) -> System {
        System {
            table: Table::new("system", &config.metrics),
        }
    }
}

impl HostScraper for System {
    fn name(&self) -> &'static str {
        "system"
    }

    fn scrape(&mut self, cycle: &Cycle, sink: &mut Sink) {
        let mut rec = self.table.recorder(cycle.boot, cycle.now);
        // Whole seconds, as the Collector (gopsutil's `Uptime`) reports them.
        let uptime = cycle.now.saturating_sub(cycle.boot) / 1_000_000_000;
        rec.point("system.uptime", uptime as f64, &[]);
        sink.host.push(("system", rec.finish()));
    }
}
