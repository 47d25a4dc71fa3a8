//! `resource_detection` processor (traces, metrics, logs; alias `resourcedetection`):
//! detects where the collector runs (the environment variable, the host, Docker, the
//! EC2 / GCP / Azure metadata services) when it starts, and stamps every resource with
//! it, as the Collector's `resource_detection` processor does. Detection runs in `start`
//! and a detector that fails after its retries stops the collector from starting (the
//! Collector's rule); with `refresh_interval` it runs again in the background, keeping
//! the last good result when a refresh fails.

mod azure;
mod catalog;
mod config;
mod detect;
mod docker;
mod ec2;
mod env;
mod gcp;
mod system;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use async_trait::async_trait;
use llamacol_api::config::{parse_block, ConfigSpec};
use llamacol_api::http::{client, Headers, TlsConfig};
use llamacol_api::serde_yaml;
use llamacol_api::{
    Batch, BoxError, BuildContext, ConsumeError, Consumer, Processor, ProcessorFactory, Signal,
};
use tokio::task::JoinHandle;

pub use config::{HostnameSource, ResourceDetectionConfig, RetryConfig};
pub use detect::{detect_all, merge, Detected, Detector, Schedule};

pub fn factory() -> ProcessorFactory {
    ProcessorFactory {
        type_name: "resource_detection",
        signals: &Signal::ALL,
        config: ConfigSpec::of::<ResourceDetectionConfig>(),
        build,
    }
}

fn build(
    ctx: &BuildContext,
    block: &serde_yaml::Value,
    next: Arc<dyn Consumer>,
) -> Result<Arc<dyn Processor>, BoxError> {
    let config = parse_block::<ResourceDetectionConfig>(block)?;
    let detectors = detectors(&config, PathBuf::from("/"))?;
    Ok(Arc::new(ResourceDetectionProcessor::new(
        ctx.id.to_string(),
        &config,
        detectors,
        next,
    )))
}

/// The configured detectors, in order; `root` is where `system` reads `/etc` and `/proc`.
pub fn detectors(
    config: &ResourceDetectionConfig,
    root: PathBuf,
) -> Result<Vec<Arc<dyn Detector>>, BoxError> {
    let http = client(config.timeout, &TlsConfig::default(), &Headers::default())?;
    let fail = config.fail_on_missing_metadata;
    config
        .detectors
        .iter()
        .map(|name| -> Result<Arc<dyn Detector>, BoxError> {
            Ok(match name.as_str() {
                "env" => Arc::new(env::EnvDetector::from_process()),
                "system" => Arc::new(system::SystemDetector::new(
                    config.system.clone(),
                    root.clone(),
                )),
                "docker" => Arc::new(docker::DockerDetector {
                    config: config.docker.clone(),
                    client: http.clone(),
                    timeout: config.timeout,
                    fail_on_missing_metadata: fail,
                    container_hostname: || {
                        Some(
                            rustix::system::uname()
                                .nodename()
                                .to_string_lossy()
                                .into_owned(),
                        )
                    },
                }),
                "ec2" => Arc::new(ec2::Ec2Detector {
                    config: config.ec2.clone(),
                    client: http.clone(),
                    fail_on_missing_metadata: fail,
                }),
                "gcp" => Arc::new(gcp::GcpDetector {
                    config: config.gcp.clone(),
                    client: http.clone(),
                    fail_on_missing_metadata: fail,
                    lookup: |name| std::env::var(name).ok(),
                }),
                "azure" => Arc::new(azure::AzureDetector {
                    config: config.azure.clone(),
                    client: http.clone(),
                    fail_on_missing_metadata: fail,
                }),
                other => return Err(format!("unknown detector `{other}`").into()),
            })
        })
        .collect()
}

pub struct ResourceDetectionProcessor {
    id: String,
    detectors: Arc<Vec<Arc<dyn Detector>>>,
    schedule: Schedule,
    refresh_interval: std::time::Duration,
    override_existing: bool,
    /// The latest detection; read on every batch, replaced by refreshes.
    current: Arc<RwLock<Arc<Detected>>>,
    refresher: Mutex<Option<JoinHandle<()>>>,
    next: Arc<dyn Consumer>,
}

impl ResourceDetectionProcessor {
    pub fn new(
        id: String,
        config: &ResourceDetectionConfig,
        detectors: Vec<Arc<dyn Detector>>,
        next: Arc<dyn Consumer>,
    ) -> ResourceDetectionProcessor {
        ResourceDetectionProcessor {
            id,
            detectors: Arc::new(detectors),
            schedule: Schedule {
                timeout: config.timeout,
                retry: config.retry.clone(),
            },
            refresh_interval: config.refresh_interval,
            override_existing: config.override_existing,
            current: Arc::new(RwLock::new(Arc::new(Detected::default()))),
            refresher: Mutex::new(None),
            next,
        }
    }

    /// What the processor stamps now.
    pub fn detected(&self) -> Arc<Detected> {
        self.current.read().map(|d| d.clone()).unwrap_or_default()
    }

    fn store(current: &RwLock<Arc<Detected>>, detected: Detected) {
        if let Ok(mut slot) = current.write() {
            *slot = Arc::new(detected);
        }
    }

    fn spawn_refresher(&self) -> JoinHandle<()> {
        let detectors = self.detectors.clone();
        let schedule = self.schedule.clone();
        let current = self.current.clone();
        let interval = self.refresh_interval;
        let id = self.id.clone();
        tokio::spawn(async move {
            let mut ticker =
                tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                let (found, failed) = detect_all(&detectors, &schedule).await;
                let had = current
                    .read()
                    .map(|d| !d.attributes.is_empty())
                    .unwrap_or(false);
                match failed {
                    Some(e) if had => {
                        tracing::warn!(processor = %id, error = %e, "resource refresh failed; keeping the previous detection")
                    }
                    Some(e) => {
                        tracing::warn!(processor = %id, error = %e, "resource refresh failed");
                        Self::store(&current, found);
                    }
                    None => Self::store(&current, found),
                }
            }
        })
    }
}

#[async_trait]
impl Consumer for ResourceDetectionProcessor {
    async fn consume(&self, mut batch: Batch) -> Result<(), ConsumeError> {
        let detected = self.detected();
        if !detected.attributes.is_empty() || !detected.schema_url.is_empty() {
            batch
                .for_each_resource_mut(|resource, schema_url| {
                    merge(
                        &mut resource.attributes,
                        &detected.attributes,
                        self.override_existing,
                    );
                    if schema_url.is_empty() {
                        schema_url.clone_from(&detected.schema_url);
                    }
                })
                .map_err(ConsumeError::permanent)?;
        }
        self.next.consume(batch).await
    }
}

#[async_trait]
impl Processor for ResourceDetectionProcessor {
    async fn start(&self) -> Result<(), BoxError> {
        let (found, failed) = detect_all(&self.detectors, &self.schedule).await;
        if let Some(e) = failed {
            return Err(e.into());
        }
        tracing::info!(processor = %self.id, resource = ?found.attributes.iter().map(|kv| kv.key.as_str()).collect::<Vec<_>>(), "detected resource information");
        Self::store(&self.current, found);
        if !self.refresh_interval.is_zero() {
            let handle = self.spawn_refresher();
            if let Ok(mut slot) = self.refresher.lock() {
                *slot = Some(handle);
            }
        }
        Ok(())
    }

    async fn shutdown(&self) -> Result<(), BoxError> {
        if let Some(handle) = self.refresher.lock().ok().and_then(|mut s| s.take()) {
            handle.abort();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
