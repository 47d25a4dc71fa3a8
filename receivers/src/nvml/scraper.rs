//! One cycle over the selected GPUs on the scrape controller: the readings to metrics,
//! the live page and the node's GPU timeline, what is newly unsupported or lost logged
//! once, exemplars added.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use llamacol_api::gpu_timeline::{
    throttle_reason_names, GpuEvent, GpuSample, GpuTimeline, HELD_BACK,
};
use llamacol_api::node::NodeContext;
use llamacol_api::scrape::{Scraped, Scraper};

use super::config::{Naming, NvmlConfig};
use super::gpus::{self, DeviceInfo, Gpus};
use super::xid::XidCounts;
use super::{collect, exemplars, kubernetes, live, Collected};

/// One cycle over the selected GPUs, on the scrape controller.
pub(super) struct GpuScraper {
    pub(super) id: String,
    pub(super) gpus: Arc<dyn Gpus>,
    pub(super) devices: Vec<DeviceInfo>,
    pub(super) config: NvmlConfig,
    pub(super) driver: String,
    pub(super) host: String,
    pub(super) start: u64,
    /// (GPU, reading) already logged as unsupported or failing: logged once.
    pub(super) logged: HashSet<(String, &'static str)>,
    pub(super) node: NodeContext,
    pub(super) xids: Arc<Mutex<XidCounts>>,
    /// GPUs off the bus at the last cycle.
    pub(super) lost: HashSet<String>,
    /// Per GPU, the held-back throttle reasons at the last cycle.
    pub(super) throttled: HashMap<String, u64>,
    /// The last pod-resources failure logged (`kubernetes.enabled`), to log changes only.
    pub(super) pod_resources_error: Option<String>,
}

impl GpuScraper {
    /// This cycle's readings of the physical GPUs, for what asks what they went through
    /// during a request (the `genai` processor's node context).
    fn record_timeline(&mut self, readings: &[gpus::Reading]) {
        let now = llamacol_api::clock::unix_nanos();
        let timeline = self.node.shared::<GpuTimeline>();
        // A GPU that starts being held back is an event (not every cycle it stays so).
        for (d, r) in self.devices.iter().zip(readings) {
            let Ok(bits) = r.throttle_reasons else {
                continue;
            };
            let held = bits & HELD_BACK;
            let before = self.throttled.insert(d.uuid.clone(), held).unwrap_or(0);
            let started = held & !before;
            if started != 0 && d.parent_uuid.is_none() {
                timeline.record_event(GpuEvent {
                    time_unix_nano: now,
                    uuid: d.uuid.clone(),
                    what: format!("throttled: {}", throttle_reason_names(started).join(", ")),
                    traces: Vec::new(),
                });
            }
        }
        let samples = self
            .devices
            .iter()
            .zip(readings)
            .filter(|(d, _)| d.parent_uuid.is_none())
            .map(|(d, r)| GpuSample {
                time_unix_nano: now,
                uuid: d.uuid.clone(),
                temperature_c: r.temperature_c.clone().ok(),
                throttle_reasons: r.throttle_reasons.clone().ok(),
                memory_used_bytes: r.memory_used_bytes.clone().ok(),
            })
            .collect();
        timeline.record(samples, self.config.collection_interval);
        live::record_events(self.node.live(), &timeline, &self.devices, now as f64 / 1e9);
    }

    /// Who holds which GPU now (`kubernetes.enabled`); a kubelet that does not answer is
    /// logged when that starts and when it ends, and the cycle goes on without.
    async fn owners(&mut self) -> Option<kubernetes::Owners> {
        let k = &self.config.kubernetes;
        if !k.enabled {
            return None;
        }
        let timeout = self
            .config
            .collection_interval
            .min(std::time::Duration::from_secs(5));
        match kubernetes::pod_resources::list(&k.pod_resources_socket, timeout).await {
            Ok(response) => {
                if self.pod_resources_error.take().is_some() {
                    tracing::info!(component = %self.id, "the kubelet's pod-resources API answers again");
                }
                Some(kubernetes::Owners::from_response(&response))
            }
            Err(e) => {
                if self.pod_resources_error.as_deref() != Some(e.as_str()) {
                    tracing::warn!(component = %self.id, socket = %k.pod_resources_socket.display(), error = %e,
                        "cannot ask the kubelet which pod holds each GPU; readings go on without pod attributes. Mount /var/lib/kubelet/pod-resources into the pod (the Helm chart does)");
                    self.pod_resources_error = Some(e);
                }
                None
            }
        }
    }

    /// One line when a GPU falls off the bus, one when it is back; a lost GPU's cycle
    /// counts as one failed read, and the other GPUs are read as before.
    fn report_lost(&mut self, now: &[String]) {
        for uuid in now {
            if self.lost.insert(uuid.clone()) {
                tracing::error!(component = %self.id, gpu = %uuid, "GPU fell off the bus (NVML: GPU is lost); its readings stop and hw.status says failed, the other GPUs are read as before");
            }
        }
        let back: Vec<String> = self
            .lost
            .iter()
            .filter(|u| !now.contains(u))
            .cloned()
            .collect();
        for uuid in back {
            self.lost.remove(&uuid);
            tracing::info!(component = %self.id, gpu = %uuid, "GPU answers again");
        }
    }
}

#[async_trait]
impl Scraper for GpuScraper {
    fn name(&self) -> &str {
        &self.id
    }

    async fn scrape(&mut self) -> Scraped {
        let owners = self.owners().await;
        // NVML calls block; keep them off the async workers.
        let (g, d, c, dr, h, start) = (
            self.gpus.clone(),
            self.devices.clone(),
            self.config.clone(),
            self.driver.clone(),
            self.host.clone(),
            self.start,
        );
        let xids = self.xids.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let collected =
            tokio::task::spawn_blocking(move || collect(g.as_ref(), &d, &c, &dr, &h, start, &xids))
                .await;
        let Collected {
            mut request,
            unsupported,
            failed,
            lost,
            forbidden,
            readings,
        } = match collected {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(component = %self.id, error = %e, "reading the GPUs failed; cycle counted as failed");
                return Scraped {
                    request: Default::default(),
                    failed: 1,
                };
            }
        };
        live::record(
            self.node.live(),
            &self.devices,
            &readings,
            llamacol_api::clock::unix_seconds(),
        );
        self.record_timeline(&readings);
        if let Some(owners) = &owners {
            let k = &self.config.kubernetes;
            kubernetes::attach(
                &mut request,
                &self.devices,
                owners,
                &self.config.naming,
                &k.proc_dir,
            );
        }
        if self.config.exemplars && self.config.naming == Naming::Semconv {
            let timeline = self.node.shared::<GpuTimeline>();
            let xids = self.xids.lock().unwrap_or_else(|p| p.into_inner()).clone();
            let (now, every) = (
                llamacol_api::clock::unix_nanos(),
                self.config.collection_interval,
            );
            exemplars::attach(&mut request, &timeline, &xids, now, every);
        }
        // One line per GPU listing what it newly does not support (a MIG instance lacks
        // most readings: one line, not twenty).
        let mut new_per_gpu: Vec<(String, Vec<&'static str>)> = Vec::new();
        for (uuid, reading) in unsupported {
            if self.logged.insert((uuid.clone(), reading)) {
                match new_per_gpu.iter_mut().find(|(u, _)| *u == uuid) {
                    Some((_, readings)) => readings.push(reading),
                    None => new_per_gpu.push((uuid, vec![reading])),
                }
            }
        }
        for (uuid, readings) in new_per_gpu {
            let readings = readings.join(", ");
            tracing::info!(component = %self.id, gpu = %uuid, %readings, "not supported by this GPU; left out (logged once)");
        }
        for (uuid, reading) in forbidden {
            if self.logged.insert((uuid.clone(), reading)) {
                tracing::warn!(component = %self.id, gpu = %uuid, reading, "NVML refuses this reading to llamacol's user (NO_PERMISSION); left out. Run llamacol as root, or give its container the privileges NVML needs for it (logged once)");
            }
        }
        self.report_lost(&lost);
        let failures = failed.len() + lost.len();
        for (uuid, reading, error) in failed {
            if self.logged.insert((uuid.clone(), reading)) {
                tracing::warn!(component = %self.id, gpu = %uuid, reading, %error, "NVML reading failed (logged once; counted)");
            }
        }
        Scraped {
            request,
            failed: failures,
        }
    }
}
