//! `paging`: swap devices of `/proc/swaps`, paging and swap operations and page faults
//! of `/proc/vmstat`.

use super::{Cycle, HostScraper, Sink, Table};
use crate::hostmetrics::config::MetricsOnly;
use crate::hostmetrics::host::{parse_key_values, parse_swaps};

pub struct Paging {
    table: Table,
}

impl Paging {
    pub fn new(config: &MetricsOnly) -> Paging {
        Paging {
            table: Table::new("paging", &config.metrics),
        }
    }
}

impl HostScraper for Paging {
    fn name(&self) -> &'static str {
        "paging"
    }

    fn scrape(&mut self, cycle: &Cycle, sink: &mut Sink) {
        let mut rec = self.table.recorder(cycle.boot, cycle.now);
        match cycle.host.read("proc/swaps") {
            Ok(text) => {
                let swaps = parse_swaps(&text);
                for (device, size, used) in &swaps {
                    let free = size.saturating_sub(*used);
                    rec.point("system.paging.usage", *used, &[device.as_str(), "used"]);
                    rec.point("system.paging.usage", free, &[device.as_str(), "free"]);
                }
                for (device, size, used) in &swaps {
                    let free = size.saturating_sub(*used);
                    let share = |v: u64| {
                        if *size == 0 {
                            0.0
                        } else {
                            v as f64 / *size as f64
                        }
                    };
                    rec.point(
                        "system.paging.utilization",
                        share(*used),
                        &[device.as_str(), "used"],
                    );
                    rec.point(
                        "system.paging.utilization",
                        share(free),
                        &[device.as_str(), "free"],
                    );
                }
            }
            Err(e) => sink.fail("paging", "reading /proc/swaps", e),
        }
        match cycle.host.read("proc/vmstat") {
            Ok(text) => {
                let vm = parse_key_values(&text);
                let v = |k: &str| vm.get(k).copied().unwrap_or(0);
                rec.point(
                    "system.paging.operations",
                    v("pswpin"),
                    &["page_in", "major"],
                );
                rec.point(
                    "system.paging.operations",
                    v("pswpout"),
                    &["page_out", "major"],
                );
                rec.point(
                    "system.paging.operations",
                    v("pgpgin"),
                    &["page_in", "minor"],
                );
                rec.point(
                    "system.paging.operations",
                    v("pgpgout"),
                    &["page_out", "minor"],
                );
                rec.point("system.paging.faults", v("pgmajfault"), &["major"]);
                rec.point(
                    "system.paging.faults",
                    v("pgfault").saturating_sub(v("pgmajfault")),
                    &["minor"],
                );
            }
            Err(e) => sink.fail("paging", "reading /proc/vmstat", e),
        }
        sink.host.push(("paging", rec.finish()));
    }
}
