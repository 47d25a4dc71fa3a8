//! `memory`: `/proc/meminfo` with the Collector's (gopsutil's) derivations: `cached`
//! includes reclaimable slab, `used` is total minus `MemAvailable` (the Collector's
//! `UseLinuxMemAvailable` gate, on by default).

use super::{Cycle, HostScraper, Sink, Table};
use crate::hostmetrics::config::MetricsOnly;
use crate::hostmetrics::host::parse_meminfo;

pub struct Memory {
    table: Table,
}

impl Memory {
    pub fn new(config: &MetricsOnly) -> Memory {
        Memory {
            table: Table::new("memory", &config.metrics),
        }
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

impl HostScraper for Memory {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn scrape(&mut self, cycle: &Cycle, sink: &mut Sink) {
        let info = match cycle.host.read("proc/meminfo") {
            Ok(text) => parse_meminfo(&text),
            Err(e) => return sink.fail("memory", "reading /proc/meminfo", e),
        };
        let v = |k: &str| info.get(k).copied().unwrap_or(0);
        let total = v("MemTotal");
        let free = v("MemFree");
        let slab_reclaimable = v("SReclaimable");
        let cached = v("Cached") + slab_reclaimable;
        let available = info.get("MemAvailable").copied().unwrap_or(free + cached);
        let used = total.saturating_sub(available);
        let states = [
            ("used", used),
            ("free", free),
            ("buffered", v("Buffers")),
            ("cached", cached),
            ("slab_reclaimable", slab_reclaimable),
            ("slab_unreclaimable", v("SUnreclaim")),
        ];
        let mut rec = self.table.recorder(cycle.boot, cycle.now);
        for (state, bytes) in states {
            rec.point("system.memory.usage", bytes, &[state]);
        }
        for (state, bytes) in states {
            rec.point("system.memory.utilization", ratio(bytes, total), &[state]);
        }
        rec.point("system.memory.limit", total, &[]);
        rec.point("system.linux.memory.available", available, &[]);
        rec.point("system.linux.memory.dirty", v("Dirty"), &[]);
        rec.point("system.memory.linux.shared", v("Shmem"), &[]);
        let (pages, pages_free) = (v("HugePages_Total"), v("HugePages_Free"));
        rec.point(
            "system.memory.linux.hugepages.page_size",
            v("Hugepagesize"),
            &[],
        );
        rec.point("system.memory.linux.hugepages.limit", pages, &[]);
        rec.point("system.memory.linux.hugepages.usage", pages_free, &["free"]);
        rec.point(
            "system.memory.linux.hugepages.usage",
            pages.saturating_sub(pages_free),
            &["used"],
        );
        rec.point(
            "system.memory.linux.hugepages.reserved",
            v("HugePages_Rsvd"),
            &[],
        );
        rec.point(
            "system.memory.linux.hugepages.surplus",
            v("HugePages_Surp"),
            &[],
        );
        if pages != 0 {
            rec.point(
                "system.memory.linux.hugepages.utilization",
                ratio(pages_free, pages),
                &["free"],
            );
            rec.point(
                "system.memory.linux.hugepages.utilization",
                ratio(pages - pages_free.min(pages), pages),
                &["used"],
            );
        }
        rec.point("system.memory.page_size", cycle.host.page_size, &[]);
        sink.host.push(("memory", rec.finish()));
    }
}
