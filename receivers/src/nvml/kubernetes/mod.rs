//! Whose GPU it is, on a Kubernetes node: the kubelet's pod-resources API says which pod
//! and container each GPU (or MIG instance) was given to, and a GPU process's cgroup
//! says which pod and container it runs in. Both are added to the cycle's points after
//! the readings (so the readings themselves stay NVML's).

mod cgroup;
pub mod pod_resources;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use llamacol_api::attributes::string as s;
use llamacol_api::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use llamacol_api::otlp::common::v1::any_value;
use llamacol_api::otlp::metrics::v1::metric;
use llamacol_api::wire::attrs::{get, get_str};
use serde::Deserialize;

use super::config::Naming;
use super::gpus::DeviceInfo;
use pod_resources::ListPodResourcesResponse;

pub use cgroup::PodContainer;

/// `kubernetes:` of the `nvml` receiver.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct KubernetesConfig {
    /// Add the pod and container that hold each GPU, and each GPU process's pod uid and
    /// container id. Default false (the Helm chart turns it on).
    pub enabled: bool,
    /// The kubelet's pod-resources socket (mount `/var/lib/kubelet/pod-resources`).
    pub pod_resources_socket: PathBuf,
    /// Where the node's `/proc` is (mount the host's `/proc` read-only, e.g. at
    /// `/host/proc`, for the processes of other pods).
    pub proc_dir: PathBuf,
}

impl Default for KubernetesConfig {
    fn default() -> Self {
        KubernetesConfig {
            enabled: false,
            pod_resources_socket: PathBuf::from("/var/lib/kubelet/pod-resources/kubelet.sock"),
            proc_dir: PathBuf::from("/proc"),
        }
    }
}

/// A container a device was given to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub namespace: String,
    pub pod: String,
    pub container: String,
}

/// Who holds which GPU, from one `List`.
#[derive(Debug, Default, Clone)]
pub struct Owners {
    /// Device id (GPU or MIG UUID; a time-sliced replica's `::N` cut off) -> holders.
    by_uuid: HashMap<String, Vec<Owner>>,
    /// Dynamic resource allocation: NVIDIA's `gpu.nvidia.com` driver names a whole GPU
    /// `gpu-<minor number>` (its MIG devices `gpu-<minor>-mig-...`, not matched here).
    by_minor: HashMap<u32, Vec<Owner>>,
}

/// Device plugin resources that are NVIDIA GPUs (`nvidia.com/gpu`, `nvidia.com/mig-1g.10gb`,
/// `nvidia.com/gpu.shared`).
const RESOURCE_PREFIX: &str = "nvidia.com/";
const DRA_DRIVER: &str = "gpu.nvidia.com";

impl Owners {
    pub fn from_response(response: &ListPodResourcesResponse) -> Owners {
        let mut owners = Owners::default();
        for pod in &response.pod_resources {
            for container in &pod.containers {
                let owner = Owner {
                    namespace: pod.namespace.clone(),
                    pod: pod.name.clone(),
                    container: container.name.clone(),
                };
                let add = |list: &mut Vec<Owner>| {
                    if !list.contains(&owner) {
                        list.push(owner.clone());
                    }
                };
                for devices in container
                    .devices
                    .iter()
                    .filter(|d| d.resource_name.starts_with(RESOURCE_PREFIX))
                {
                    for id in &devices.device_ids {
                        let uuid = id.split_once("::").map_or(id.as_str(), |(uuid, _)| uuid);
                        add(owners.by_uuid.entry(uuid.to_string()).or_default());
                    }
                }
                for claim in container
                    .dynamic_resources
                    .iter()
                    .flat_map(|d| &d.claim_resources)
                {
                    let minor = claim
                        .device_name
                        .strip_prefix("gpu-")
                        .and_then(|i| i.parse().ok());
                    if let (true, Some(minor)) = (claim.driver_name == DRA_DRIVER, minor) {
                        add(owners.by_minor.entry(minor).or_default());
                    }
                }
            }
        }
        owners
    }

    /// The one container holding `device` (none when unassigned or shared: a time-sliced
    /// GPU's readings are not any one pod's).
    pub fn of(&self, device: &DeviceInfo) -> Option<&Owner> {
        let holders = self.by_uuid.get(&device.uuid).or_else(|| {
            let minor = device
                .minor_number
                .filter(|_| device.parent_uuid.is_none())?;
            self.by_minor.get(&minor)
        })?;
        match holders.as_slice() {
            [one] => Some(one),
            _ => None,
        }
    }
}

/// Adds to every point of `request` the holder of its GPU (`hw.id`, or dcgm's `UUID`) and,
/// on a process's points (`process.pid`), the pod uid and container id it runs in.
pub fn attach(
    request: &mut ExportMetricsServiceRequest,
    devices: &[DeviceInfo],
    owners: &Owners,
    naming: &Naming,
    proc_dir: &Path,
) {
    let gpu_key = match naming {
        Naming::Semconv => "hw.id",
        Naming::Dcgm => "UUID",
    };
    let holder: HashMap<&str, &Owner> = devices
        .iter()
        .filter_map(|d| Some((d.uuid.as_str(), owners.of(d)?)))
        .collect();
    let mut processes: HashMap<i64, Option<PodContainer>> = HashMap::new();
    for metric in request
        .resource_metrics
        .iter_mut()
        .flat_map(|r| &mut r.scope_metrics)
        .flat_map(|s| &mut s.metrics)
    {
        let points = match &mut metric.data {
            Some(metric::Data::Gauge(g)) => &mut g.data_points,
            Some(metric::Data::Sum(s)) => &mut s.data_points,
            _ => continue,
        };
        for point in points {
            let attributes = &mut point.attributes;
            let owner =
                get_str(attributes, gpu_key).and_then(|uuid| holder.get(uuid.as_ref()).copied());
            if let Some(owner) = owner {
                let keys = match naming {
                    Naming::Semconv => ["k8s.namespace.name", "k8s.pod.name", "k8s.container.name"],
                    Naming::Dcgm => ["namespace", "pod", "container"],
                };
                for (key, value) in
                    keys.into_iter()
                        .zip([&owner.namespace, &owner.pod, &owner.container])
                {
                    attributes.push(s(key, value));
                }
            }
            let pid = get(attributes, "process.pid").and_then(|v| match v.as_ref() {
                any_value::Value::IntValue(pid) => Some(*pid),
                _ => None,
            });
            if let Some(pid) = pid {
                let found = processes.entry(pid).or_insert_with(|| {
                    u32::try_from(pid)
                        .ok()
                        .and_then(|pid| cgroup::of_pid(proc_dir, pid))
                });
                if let Some(found) = found {
                    attributes.push(s("k8s.pod.uid", &found.pod_uid));
                    attributes.push(s("container.id", &found.container_id));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
