//! `disk`: every block device of `/proc/diskstats` (partitions included, as the
//! Collector), filtered by `include`/`exclude`; a device that never did anything (every
//! counter zero, an unused loop device) is left out, as gopsutil leaves it out for the
//! Collector.

use super::{Cycle, HostScraper, Sink, Table};
use crate::hostmetrics::config::DiskConfig;
use crate::hostmetrics::filter::Selection;
use crate::hostmetrics::host::{parse_diskstats, DiskStats};

pub struct Disk {
    table: Table,
    devices: Selection,
}

impl Disk {
    pub fn new(config: &DiskConfig) -> Disk {
        Disk {
            table: Table::new("disk", &config.metrics),
            devices: Selection {
                include: config.include.filter(),
                exclude: config.exclude.filter(),
            },
        }
    }
}

fn seconds(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

impl HostScraper for Disk {
    fn name(&self) -> &'static str {
        "disk"
    }

    fn scrape(&mut self, cycle: &Cycle, sink: &mut Sink) {
        let stats = match cycle.host.read("proc/diskstats") {
            Ok(text) => parse_diskstats(&text),
            Err(e) => return sink.fail("disk", "reading /proc/diskstats", e),
        };
        let mut rec = self.table.recorder(cycle.boot, cycle.now);
        let idle = |d: &DiskStats| {
            DiskStats {
                device: String::new(),
                ..d.clone()
            } == DiskStats::default()
        };
        for d in stats
            .iter()
            .filter(|d| !idle(d) && self.devices.keeps(&d.device))
        {
            let dev = d.device.as_str();
            rec.point("system.disk.io", d.read_bytes, &[dev, "read"]);
            rec.point("system.disk.io", d.write_bytes, &[dev, "write"]);
            rec.point("system.disk.operations", d.reads, &[dev, "read"]);
            rec.point("system.disk.operations", d.writes, &[dev, "write"]);
            rec.point("system.disk.io_time", seconds(d.io_time), &[dev]);
            rec.point(
                "system.disk.operation_time",
                seconds(d.read_time),
                &[dev, "read"],
            );
            rec.point(
                "system.disk.operation_time",
                seconds(d.write_time),
                &[dev, "write"],
            );
            rec.point("system.disk.pending_operations", d.in_progress, &[dev]);
            rec.point(
                "system.disk.weighted_io_time",
                seconds(d.weighted_io_time),
                &[dev],
            );
            rec.point("system.disk.merged", d.merged_reads, &[dev, "read"]);
            rec.point("system.disk.merged", d.merged_writes, &[dev, "write"]);
        }
        sink.host.push(("disk", rec.finish()));
    }
}
