//! `network`: interface counters of `/proc/net/dev`, TCP connections by state from
//! `/proc/net/tcp` and `tcp6`, and conntrack's count and limit.

use std::collections::BTreeMap;

use super::{Cycle, HostScraper, Sink, Table};
use crate::hostmetrics::config::NetworkConfig;
use crate::hostmetrics::filter::Selection;
use crate::hostmetrics::host::{count_tcp, parse_net_dev, TCP_STATES};

pub struct Network {
    table: Table,
    interfaces: Selection,
}

impl Network {
    pub fn new(config: &NetworkConfig) -> Network {
        Network {
            table: Table::new("network", &config.metrics),
            interfaces: Selection {
                include: config.include.filter(),
                exclude: config.exclude.filter(),
            },
        }
    }
}

impl HostScraper for Network {
    fn name(&self) -> &'static str {
        "network"
    }

    fn scrape(&mut self, cycle: &Cycle, sink: &mut Sink) {
        let mut rec = self.table.recorder(cycle.boot, cycle.now);
        match cycle.host.read("proc/net/dev") {
            Ok(text) => {
                for n in parse_net_dev(&text)
                    .iter()
                    .filter(|n| self.interfaces.keeps(&n.interface))
                {
                    let i = n.interface.as_str();
                    rec.point("system.network.packets", n.tx_packets, &[i, "transmit"]);
                    rec.point("system.network.packets", n.rx_packets, &[i, "receive"]);
                    rec.point("system.network.dropped", n.tx_dropped, &[i, "transmit"]);
                    rec.point("system.network.dropped", n.rx_dropped, &[i, "receive"]);
                    rec.point("system.network.errors", n.tx_errors, &[i, "transmit"]);
                    rec.point("system.network.errors", n.rx_errors, &[i, "receive"]);
                    rec.point("system.network.io", n.tx_bytes, &[i, "transmit"]);
                    rec.point("system.network.io", n.rx_bytes, &[i, "receive"]);
                }
            }
            Err(e) => sink.fail("network", "reading /proc/net/dev", e),
        }
        if rec.wants(&["system.network.connections"]) {
            let mut counts: BTreeMap<&'static str, i64> =
                TCP_STATES.iter().map(|s| (*s, 0)).collect();
            for table in ["proc/net/tcp", "proc/net/tcp6"] {
                match cycle.host.read(table) {
                    Ok(text) => count_tcp(&text, &mut counts),
                    // A kernel without IPv6 has no tcp6 table.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound && table.ends_with('6') => {}
                    Err(e) => sink.fail("network", "reading /proc/net/tcp", e),
                }
            }
            for (state, count) in counts {
                rec.point("system.network.connections", count, &["tcp", state]);
            }
        }
        if rec.wants(&[
            "system.network.conntrack.count",
            "system.network.conntrack.max",
        ]) {
            let read = |f: &str| {
                cycle
                    .host
                    .read(&format!("proc/sys/net/netfilter/{f}"))
                    .ok()
                    .and_then(|t| t.trim().parse::<i64>().ok())
            };
            match (read("nf_conntrack_count"), read("nf_conntrack_max")) {
                (Some(count), Some(max)) => {
                    rec.point("system.network.conntrack.count", count, &[]);
                    rec.point("system.network.conntrack.max", max, &[]);
                }
                _ => sink.fail(
                    "network",
                    "reading conntrack",
                    "no /proc/sys/net/netfilter/nf_conntrack_{count,max} (is the nf_conntrack module loaded?)",
                ),
            }
        }
        sink.host.push(("network", rec.finish()));
    }
}
