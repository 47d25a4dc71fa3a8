//! `host_metrics` receiver (the Collector's `hostmetrics`, its previous name kept as an
//! alias): the machine's CPU, memory, load, disks, file systems, network, paging,
//! processes and each process's own CPU, memory and I/O, read from `/proc` and `/sys`
//! under `root_path`, with the Collector's metric names, units, types, attributes and
//! default switches (its tables, kept as data in `metadata/`).
//!
//! As in the Collector, host metrics carry an empty resource (the `resourcedetection`
//! processor or `resource` adds `host.name`); each process is its own resource.

pub mod catalog;
mod config;
mod filter;
pub mod host;
mod scrapers;

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use llamacol_api::config::{parse_block, ConfigSpec};
use llamacol_api::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use llamacol_api::otlp::common::v1::InstrumentationScope;
use llamacol_api::otlp::metrics::v1::{Metric, ResourceMetrics, ScopeMetrics};
use llamacol_api::otlp::resource::v1::Resource;
use llamacol_api::scrape::{Schedule, ScrapeController, Scraped, Scraper};
use llamacol_api::serde_yaml::Value;
use llamacol_api::{
    BoxError, BuildContext, Consumer, OutcomeCounter, Receiver, ReceiverFactory, Signal,
};

pub use config::HostMetricsConfig;
use host::{parse_stat, Host};
use scrapers::{Cycle, HostScraper, Sink};

pub fn factory() -> ReceiverFactory {
    ReceiverFactory {
        type_name: "host_metrics",
        signals: &[Signal::Metrics],
        config: ConfigSpec::of::<HostMetricsConfig>(),
        build,
    }
}

fn build(ctx: &BuildContext, block: &Value) -> Result<Box<dyn Receiver>, BoxError> {
    Ok(Box::new(HostMetricsReceiver::new(
        ctx.id.to_string(),
        parse_block::<HostMetricsConfig>(block)?,
        ctx.failures.clone(),
    )))
}

pub struct HostMetricsReceiver {
    id: String,
    config: HostMetricsConfig,
    controller: ScrapeController,
}

impl HostMetricsReceiver {
    pub fn new(id: String, config: HostMetricsConfig, failures: OutcomeCounter) -> Self {
        HostMetricsReceiver {
            controller: ScrapeController::new(&id, failures),
            id,
            config,
        }
    }
}

#[async_trait]
impl Receiver for HostMetricsReceiver {
    async fn start(&mut self, next: Arc<dyn Consumer>) -> Result<(), BoxError> {
        let host = Host::new(&self.config.root_path);
        let boot = read_boot(&host).map_err(|e| {
            format!(
                "host_metrics: cannot read {}: {e}; set `root_path` to where the host's / is mounted",
                host.path("proc/stat").display()
            )
        })?;
        let collector = HostCollector {
            id: self.id.clone(),
            scrapers: Arc::new(Mutex::new(scrapers::build(&self.config.scrapers))),
            host,
            boot,
            logged: HashSet::new(),
        };
        let interval = self.config.collection_interval;
        let timeout = if self.config.timeout.is_zero() {
            interval
        } else {
            self.config.timeout
        };
        self.controller.spawn(
            collector,
            Schedule {
                interval,
                timeout,
                start_jitter: std::time::Duration::ZERO,
                start_delay: self.config.initial_delay,
            },
            next,
        );
        Ok(())
    }

    async fn shutdown(&mut self) -> Result<(), BoxError> {
        self.controller.shutdown().await;
        Ok(())
    }
}

/// Boot time in ns since the epoch.
fn read_boot(host: &Host) -> std::io::Result<u64> {
    let stat = parse_stat(&host.read("proc/stat")?, host.ticks);
    Ok(stat.boot_time * 1_000_000_000)
}

/// Every scraper, one cycle at a time, off the async threads (many small file reads).
struct HostCollector {
    id: String,
    host: Host,
    boot: u64,
    /// Shared with the blocking task of a cycle: one abandoned at its deadline still
    /// finishes and gives the scrapers (and their state) back to the next.
    scrapers: Arc<Mutex<Vec<Box<dyn HostScraper>>>>,
    /// (scraper, kind) already logged: each kind of failure is logged once, then counted.
    logged: HashSet<(&'static str, &'static str)>,
}

/// One cycle over `scrapers`.
pub fn collect_once(
    host: &Host,
    boot: u64,
    scrapers: &mut [Box<dyn HostScraper>],
) -> (ExportMetricsServiceRequest, Sink) {
    let cycle = Cycle {
        host,
        boot,
        now: llamacol_api::clock::unix_nanos(),
    };
    let mut sink = Sink::default();
    for s in scrapers.iter_mut() {
        s.scrape(&cycle, &mut sink);
    }
    let scope = |name: &str, metrics: Vec<Metric>| ScopeMetrics {
        scope: Some(InstrumentationScope {
            name: format!("llamacol/receiver/hostmetrics/{name}"),
            version: env!("CARGO_PKG_VERSION").into(),
            ..Default::default()
        }),
        metrics,
        schema_url: String::new(),
    };
    let mut resource_metrics = Vec::new();
    let host_scopes: Vec<ScopeMetrics> = std::mem::take(&mut sink.host)
        .into_iter()
        .filter(|(_, m)| !m.is_empty())
        .map(|(name, m)| scope(name, m))
        .collect();
    if !host_scopes.is_empty() {
        resource_metrics.push(ResourceMetrics {
            resource: Some(Resource::default()),
            scope_metrics: host_scopes,
            schema_url: String::new(),
        });
    }
    for (name, attributes, metrics) in std::mem::take(&mut sink.resources) {
        resource_metrics.push(ResourceMetrics {
            resource: Some(Resource {
                attributes,
                ..Default::default()
            }),
            scope_metrics: vec![scope(name, metrics)],
            schema_url: String::new(),
        });
    }
    (ExportMetricsServiceRequest { resource_metrics }, sink)
}

#[async_trait]
impl Scraper for HostCollector {
    fn name(&self) -> &str {
        "host"
    }

    async fn scrape(&mut self) -> Scraped {
        let host = self.host.clone();
        let boot = self.boot;
        let scrapers = self.scrapers.clone();
        let joined = tokio::task::spawn_blocking(move || {
            let mut scrapers = scrapers.lock().unwrap_or_else(PoisonError::into_inner);
            collect_once(&host, boot, &mut scrapers)
        })
        .await;
        let Ok((request, sink)) = joined else {
            tracing::error!(component = %self.id, "a host_metrics cycle panicked; counted as a failed read");
            return Scraped {
                failed: 1,
                ..Default::default()
            };
        };
        for (scraper, kind, detail) in &sink.failed {
            if self.logged.insert((scraper, kind)) {
                tracing::warn!(component = %self.id, scraper, error = %detail, "{kind} failed (logged once per kind, then counted in this receiver's failed reads)");
            }
        }
        Scraped {
            request,
            failed: sink.failed.len(),
        }
    }
}

#[cfg(test)]
mod tests;
