//! The scrapers, one file each, all of one shape: read the host, record points into a
//! [`Recorder`] built from the scraper's table, hand the metrics to the [`Sink`].

mod cpu;
mod disk;
mod filesystem;
mod load;
mod memory;
mod network;
mod paging;
pub mod process;
mod processes;
mod system;

use llamacol_api::otlp::common::v1::KeyValue;
use llamacol_api::otlp::metrics::v1::Metric;

use super::catalog::{catalog, Catalog, Recorder};
use super::config::{Scrapers, Switches};
use super::host::Host;

/// What one cycle shares: the host, its boot time and the cycle's timestamp (ns).
pub struct Cycle<'a> {
    pub host: &'a Host,
    pub boot: u64,
    pub now: u64,
}

/// Where scrapers put what they read.
#[derive(Default)]
pub struct Sink {
    /// (scraper, metrics) on the host's resource.
    pub host: Vec<(&'static str, Vec<Metric>)>,
    /// (scraper, resource attributes, metrics): one resource each (a process).
    pub resources: Vec<(&'static str, Vec<KeyValue>, Vec<Metric>)>,
    /// (scraper, kind, detail): reads that failed.
    pub failed: Vec<(&'static str, &'static str, String)>,
}

impl Sink {
    pub fn fail(&mut self, scraper: &'static str, kind: &'static str, detail: impl ToString) {
        self.failed.push((scraper, kind, detail.to_string()));
    }
}

pub trait HostScraper: Send {
    fn name(&self) -> &'static str;
    fn scrape(&mut self, cycle: &Cycle, sink: &mut Sink);
}

/// A scraper's table and switches, and a recorder for a cycle.
pub struct Table {
    pub catalog: Catalog,
    pub switches: Switches,
}

impl Table {
    pub fn new(scraper: &str, switches: &Switches) -> Table {
        Table {
            catalog: catalog(scraper),
            switches: switches.clone(),
        }
    }

    pub fn recorder(&self, start: u64, now: u64) -> Recorder<'_> {
        Recorder::new(&self.catalog, &self.switches, start, now)
    }
}

/// Every configured scraper, in the Collector's documentation order.
pub fn build(config: &Scrapers) -> Vec<Box<dyn HostScraper>> {
    let mut out: Vec<Box<dyn HostScraper>> = Vec::new();
    if let Some(c) = &config.cpu {
        out.push(Box::new(cpu::Cpu::new(c)));
    }
    if let Some(c) = &config.disk {
        out.push(Box::new(disk::Disk::new(c)));
    }
    if let Some(c) = &config.filesystem {
        out.push(Box::new(filesystem::Filesystem::new(c)));
    }
    if let Some(c) = &config.load {
        out.push(Box::new(load::Load::new(c)));
    }
    if let Some(c) = &config.memory {
        out.push(Box::new(memory::Memory::new(c)));
    }
    if let Some(c) = &config.network {
        out.push(Box::new(network::Network::new(c)));
    }
    if let Some(c) = &config.paging {
        out.push(Box::new(paging::Paging::new(c)));
    }
    if let Some(c) = &config.processes {
        out.push(Box::new(processes::Processes::new(c)));
    }
    if let Some(c) = &config.process {
        out.push(Box::new(process::Process::new(c)));
    }
    if let Some(c) = &config.system {
        out.push(Box::new(system::System::new(c)));
    }
    out
}
