//! The parts of Kubernetes objects `k8s_attributes` reads (serde skips the rest, so a
//! cached pod is its names, owners, addresses and containers, not its whole spec).

use std::collections::BTreeMap;

use llamacol_api::kube::{Object, ObjectMeta};
use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Pod {
    pub metadata: ObjectMeta,
    pub spec: PodSpec,
    pub status: PodStatus,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PodSpec {
    pub node_name: String,
    pub hostname: String,
    pub host_network: bool,
    pub containers: Vec<Container>,
    pub init_containers: Vec<Container>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Container {
    pub name: String,
    pub image: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PodStatus {
    #[serde(rename = "podIP")]
    pub pod_ip: String,
    #[serde(rename = "podIPs")]
    pub pod_ips: Vec<PodIp>,
    pub container_statuses: Vec<ContainerStatus>,
    pub init_container_statuses: Vec<ContainerStatus>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PodIp {
    pub ip: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ContainerStatus {
    pub name: String,
    /// `containerd://<id>`, `cri-o://<id>`, `docker://<id>`.
    #[serde(rename = "containerID")]
    pub container_id: String,
    pub restart_count: i64,
    pub last_state: LastState,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct LastState {
    pub terminated: Option<Terminated>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Terminated {
    #[serde(rename = "containerID")]
    pub container_id: String,
}

/// A ReplicaSet: only who owns it (the Deployment).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ReplicaSet {
    pub metadata: ObjectMeta,
}

/// A Namespace or a Node: names, labels, annotations.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Named {
    pub metadata: ObjectMeta,
}

impl Object for Pod {
    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
}

impl Object for ReplicaSet {
    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
}

impl Object for Named {
    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
}

impl Pod {
    /// Every IP the pod has (`podIPs`, which holds `podIP` first; dual-stack adds one).
    pub fn ips(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.status.pod_ip.as_str())
            .chain(self.status.pod_ips.iter().map(|p| p.ip.as_str()))
            .filter(|ip| !ip.is_empty())
    }

    /// The controller owner of `kind`, if any.
    pub fn owner(&self, kind: &str) -> Option<&llamacol_api::kube::OwnerReference> {
        self.metadata
            .owner_references
            .iter()
            .find(|o| o.kind == kind && o.controller != Some(false))
    }

    /// The container ids (scheme cut off) the pod's containers run or ran as, with
    /// their container's name and restart count.
    pub fn container_ids(&self) -> impl Iterator<Item = (&str, &str, i64)> {
        self.status
            .container_statuses
            .iter()
            .chain(&self.status.init_container_statuses)
            .flat_map(|s| {
                let last = s
                    .last_state
                    .terminated
                    .as_ref()
                    .map(|t| (t.container_id.as_str(), s.restart_count - 1));
                std::iter::once((s.container_id.as_str(), s.restart_count))
                    .chain(last)
                    .filter(|(id, _)| !id.is_empty())
                    .map(move |(id, restarts)| (s.name.as_str(), strip_runtime(id), restarts))
            })
    }
}

/// `containerd://abc` -> `abc`.
pub fn strip_runtime(id: &str) -> &str {
    id.split_once("://").map_or(id, |(_, id)| id)
}

/// The labels or annotations of an object, by name.
pub type Map = BTreeMap<String, String>;
