//! `nvml` receiver: per-GPU utilization, memory, power, energy, temperature, fans, clocks,
//! PCIe, throttle reasons, P-state, ECC errors, power limits, violation times, row
//! remapping, retired pages, NVLink, per-process memory and utilization, read through NVML.
//! Without NVML (no driver, no GPU) it logs one line and idles, or fails the start when
//! `on_unavailable: fail`.

#[cfg(feature = "nvml")]
mod backend;
mod config;
mod exemplars;
pub mod fake;
pub mod gpus;
pub mod kubernetes;
mod live;
pub mod metrics;
mod scraper;
pub mod xid;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use llamacol_api::config::{parse_block, ConfigSpec};
use llamacol_api::gpu_timeline::{GpuEvent, GpuTimeline, GpuXid};
use llamacol_api::node::{Gpu, NodeContext};
use llamacol_api::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use llamacol_api::otlp::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use llamacol_api::otlp::metrics::v1::{ResourceMetrics, ScopeMetrics};
use llamacol_api::otlp::resource::v1::Resource;
use llamacol_api::scrape::{Schedule, ScrapeController};
use llamacol_api::serde_yaml::Value;
use llamacol_api::{
    BoxError, BuildContext, Consumer, OutcomeCounter, Receiver, ReceiverFactory, Signal,
};

pub use config::{DeviceSelector, Naming, NvmlConfig, OnUnavailable};
use gpus::{DeviceInfo, Gpus};
use metrics::Cycle;
use scraper::GpuScraper;
use xid::XidCounts;

pub fn factory() -> ReceiverFactory {
    ReceiverFactory {
        type_name: "nvml",
        signals: &[Signal::Metrics, Signal::Logs],
        config: ConfigSpec::of::<NvmlConfig>(),
        build,
    }
}

fn build(ctx: &BuildContext, block: &Value) -> Result<Box<dyn Receiver>, BoxError> {
    ctx.node.live().feeds(live::PANEL, &ctx.id.to_string());
    Ok(Box::new(
        NvmlReceiver::new(
            ctx.id.to_string(),
            parse_block::<NvmlConfig>(block)?,
            None,
            ctx.failures.clone(),
        )
        .publishing_to(ctx.node.clone())
        .for_signals(&ctx.signals),
    ))
}

/// NVML cannot be used: what is missing, and (in the message) how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("NVML is not available: {0}. Install the NVIDIA driver (it ships libnvidia-ml.so.1), or in a container use the NVIDIA Container Toolkit (--gpus all, or runtimeClassName: nvidia)")]
pub struct Unavailable(pub String);

/// NVML is unavailable because of `why`.
pub fn unavailable(why: &str) -> Unavailable {
    Unavailable(why.to_string())
}

/// Opens the real NVML backend.
pub fn open_nvml() -> Result<Arc<dyn Gpus>, Unavailable> {
    #[cfg(feature = "nvml")]
    {
        backend::NvmlGpus::init().map(|g| Arc::new(g) as Arc<dyn Gpus>)
    }
    #[cfg(not(feature = "nvml"))]
    {
        Err(unavailable(
            "this llamacol was built without the `nvml` feature",
        ))
    }
}

pub struct NvmlReceiver {
    id: String,
    config: NvmlConfig,
    backend: Option<Arc<dyn Gpus>>,
    node: NodeContext,
    /// How the backend is opened at start when none was given (`open_nvml`).
    opener: fn() -> Result<Arc<dyn Gpus>, Unavailable>,
    controller: ScrapeController,
    /// The pipelines' signals: metrics are read in a metrics pipeline, XIDs sent as log
    /// records in a logs pipeline.
    signals: Vec<Signal>,
    failures: OutcomeCounter,
    xids: Arc<Mutex<XidCounts>>,
    watch: Option<xid::Watch>,
}

impl NvmlReceiver {
    /// `backend: None` opens NVML at start; tests pass a fake.
    pub fn new(
        id: String,
        config: NvmlConfig,
        backend: Option<Arc<dyn Gpus>>,
        failures: OutcomeCounter,
    ) -> NvmlReceiver {
        NvmlReceiver {
            controller: ScrapeController::new(&id, failures.clone()),
            id,
            config,
            backend,
            node: NodeContext::default(),
            opener: open_nvml,
            signals: vec![Signal::Metrics],
            failures,
            xids: Arc::default(),
            watch: None,
        }
    }

    /// Open the backend with `opener` instead of loading NVML (tests of what happens when
    /// NVML is missing, on any machine).
    pub fn opening_with(
        mut self,
        opener: fn() -> Result<Arc<dyn Gpus>, Unavailable>,
    ) -> NvmlReceiver {
        self.opener = opener;
        self
    }

    /// The signals of the pipelines it is in (metrics only, by default).
    pub fn for_signals(mut self, signals: &[Signal]) -> NvmlReceiver {
        self.signals = signals.to_vec();
        self
    }

    /// Publish the GPUs it reads on this node context (the service's, in a pipeline).
    pub fn publishing_to(mut self, node: NodeContext) -> NvmlReceiver {
        self.node = node;
        self
    }
}

/// The GPUs as other components see them (the genai processor's `hw.gpu.*`).
fn publish(node: &NodeContext, gpus: &dyn Gpus, devices: &[DeviceInfo]) {
    node.publish_gpus(
        devices
            .iter()
            .map(|d| Gpu {
                index: d.index,
                uuid: d.uuid.clone(),
                model: d.name.clone(),
                memory_bytes: gpus.read(d, false).memory_total_bytes.ok(),
            })
            .collect(),
    );
}

fn selected(config: &NvmlConfig, devices: Vec<DeviceInfo>) -> Vec<DeviceInfo> {
    if config.devices.is_empty() {
        return devices;
    }
    devices
        .into_iter()
        .filter(|d| {
            config.devices.iter().any(|s| match s {
                DeviceSelector::Index(i) => d.index == *i && d.parent_uuid.is_none(),
                DeviceSelector::Uuid(u) => &d.uuid == u || d.parent_uuid.as_ref() == Some(u),
            })
        })
        .collect()
}

/// One cycle's result.
pub struct Collected {
    pub request: ExportMetricsServiceRequest,
    /// (device UUID, reading) NVML does not support.
    pub unsupported: Vec<(String, &'static str)>,
    /// (device UUID, reading, error) that failed otherwise.
    pub failed: Vec<(String, &'static str, String)>,
    /// Devices that fell off the bus.
    pub lost: Vec<String>,
    /// (device UUID, reading) NVML refuses to this user.
    pub forbidden: Vec<(String, &'static str)>,
    /// Each device's readings, in the order of `devices` (for the live page).
    pub readings: Vec<gpus::Reading>,
}

/// One cycle over `devices`.
pub fn collect(
    gpus: &dyn Gpus,
    devices: &[DeviceInfo],
    config: &NvmlConfig,
    driver: &str,
    host: &str,
    start: u64,
    xids: &XidCounts,
) -> Collected {
    let now = llamacol_api::clock::unix_nanos();
    let mut cycle = Cycle::new(config, xids, driver, host, now, start);
    let with_processes = (config.enabled("nvml.process.memory.usage")
        || config.enabled("nvml.process.utilization"))
        && config.naming == Naming::Semconv;
    let readings: Vec<gpus::Reading> = devices
        .iter()
        .map(|d| {
            let reading = gpus.read(d, with_processes);
            cycle.device(d, &reading);
            reading
        })
        .collect();
    let (unsupported, failed, lost, forbidden) = (
        std::mem::take(&mut cycle.unsupported),
        std::mem::take(&mut cycle.failed),
        std::mem::take(&mut cycle.lost),
        std::mem::take(&mut cycle.forbidden),
    );
    let host_attr = KeyValue {
        key: "host.name".into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(host.into())),
        }),
        ..Default::default()
    };
    let request = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![host_attr],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: "llamacol/receiver/nvml".into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    ..Default::default()
                }),
                metrics: cycle.finish(),
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    };
    Collected {
        request,
        unsupported,
        failed,
        lost,
        forbidden,
        readings,
    }
}

#[async_trait]
impl Receiver for NvmlReceiver {
    async fn start(&mut self, next: Arc<dyn Consumer>) -> Result<(), BoxError> {
        let gpus = match self.backend.take().map(Ok).unwrap_or_else(self.opener) {
            Ok(g) => g,
            Err(unavailable) => {
                return match self.config.on_unavailable {
                    OnUnavailable::Warn => {
                        self.node
                            .live()
                            .note(live::PANEL, &self.id, Some(unavailable.to_string()));
                        tracing::warn!(component = %self.id, "{unavailable}; the nvml receiver idles (set `on_unavailable: fail` to stop instead)");
                        Ok(())
                    }
                    OnUnavailable::Fail => Err(unavailable.into()),
                };
            }
        };
        let devices = selected(
            &self.config,
            gpus.devices().map_err(|e| format!("listing GPUs: {e:?}"))?,
        );
        let driver = gpus.driver_version().unwrap_or_default();
        let (g, d, node) = (gpus.clone(), devices.clone(), self.node.clone());
        // One reading per GPU for its memory size; NVML calls block.
        tokio::task::spawn_blocking(move || publish(&node, g.as_ref(), &d))
            .await
            .map_err(|e| format!("reading GPU memory sizes: {e}"))?;
        tracing::info!(component = %self.id, gpus = devices.len(), driver = %driver, "reading NVIDIA GPUs");
        let host = self
            .config
            .hostname
            .clone()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(llamacol_api::node::hostname);
        if self.config.xid_events {
            let timeline = self.node.shared::<GpuTimeline>();
            let (node, devices) = (self.node.clone(), devices.clone());
            self.watch = Some(xid::spawn(
                gpus.clone(),
                devices.clone(),
                self.xids.clone(),
                xid::Sink {
                    id: self.id.clone(),
                    host: host.clone(),
                    logs: self.signals.contains(&Signal::Logs).then(|| next.clone()),
                    failures: self.failures.clone(),
                    on_event: Box::new(move |e| {
                        timeline.record_xid(GpuXid {
                            time_unix_nano: e.time_unix_nano,
                            uuid: e.uuid.clone(),
                            xid: e.xid,
                        });
                        timeline.record_event(GpuEvent {
                            time_unix_nano: e.time_unix_nano,
                            uuid: e.uuid.clone(),
                            what: format!("XID {}: {}", e.xid, xid::description(e.xid)),
                            traces: Vec::new(),
                        });
                        let now = e.time_unix_nano as f64 / 1e9;
                        live::record_events(node.live(), &timeline, &devices, now);
                    }),
                },
            ));
        }
        if !self.signals.contains(&Signal::Metrics) {
            return Ok(());
        }
        let scraper = GpuScraper {
            id: self.id.clone(),
            gpus,
            devices,
            config: self.config.clone(),
            driver,
            host,
            start: llamacol_api::clock::unix_nanos(),
            logged: HashSet::new(),
            node: self.node.clone(),
            xids: self.xids.clone(),
            lost: HashSet::new(),
            throttled: HashMap::new(),
            pod_resources_error: None,
        };
        self.controller.spawn(
            scraper,
            Schedule::every(self.config.collection_interval),
            next,
        );
        Ok(())
    }

    async fn shutdown(&mut self) -> Result<(), BoxError> {
        self.controller.shutdown().await;
        if let Some(watch) = self.watch.take() {
            watch.shutdown().await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod dcgm_names;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod xid_tests;
