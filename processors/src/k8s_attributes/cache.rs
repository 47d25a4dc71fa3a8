//! The local copy of the cluster `k8s_attributes` looks pods up in: pods by IP, uid,
//! name and container id; the Deployment behind each ReplicaSet; namespaces and nodes
//! when rules read their labels. Fed by the watches; read on every batch.
//!
//! A deleted pod stays findable for [`DELETE_GRACE`] (as the Collector's), since its
//! last telemetry is often still on its way when the API server forgets it.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use llamacol_api::kube::watch::Event;
use llamacol_api::kube::OwnerReference;
use regex::Regex;

use super::extract::{From, Rules};
use super::objects::{Named, Pod, ReplicaSet};

pub const DELETE_GRACE: Duration = Duration::from_secs(120);

#[derive(Default)]
pub struct Cache {
    pods: HashMap<String, Pod>,
    by_ip: HashMap<String, String>,
    by_name: HashMap<(String, String), String>,
    by_container: HashMap<String, String>,
    /// uid -> when it was deleted (it leaves the maps after the grace period).
    deleted: Vec<(Instant, String)>,
    /// ReplicaSet uid -> its Deployment.
    deployments: HashMap<String, OwnerReference>,
    namespaces: HashMap<String, Named>,
    nodes: HashMap<String, Named>,
    /// The uid of the `kube-system` namespace: the cluster's identity (`k8s.cluster.uid`).
    pub cluster_uid: String,
    /// Whether the first list of pods has arrived (`wait_for_metadata`).
    pub synced: bool,
    pub counts: Counts,
}

/// What the live copy did, for the log and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub added: u64,
    pub updated: u64,
    pub deleted: u64,
}

/// How a resource names its pod.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PodKey {
    Ip(String),
    Uid(String),
    Name { namespace: String, name: String },
    ContainerId(String),
}

impl Cache {
    pub fn pod(&self, key: &PodKey) -> Option<&Pod> {
        let uid = match key {
            PodKey::Uid(uid) => uid,
            PodKey::Ip(ip) => self.by_ip.get(ip)?,
            PodKey::Name { namespace, name } => {
                self.by_name.get(&(namespace.clone(), name.clone()))?
            }
            PodKey::ContainerId(id) => self.by_container.get(id)?,
        };
        self.pods.get(uid)
    }

    pub fn deployment_of(&self, replicaset_uid: &str) -> Option<&OwnerReference> {
        self.deployments.get(replicaset_uid)
    }

    pub fn cluster_uid(&self) -> &str {
        &self.cluster_uid
    }

    pub fn namespace(&self, name: &str) -> Option<&Named> {
        self.namespaces.get(name)
    }

    pub fn node(&self, name: &str) -> Option<&Named> {
        self.nodes.get(name)
    }

    /// A pods watch event. `exclude` names pods never kept; `rules` decide which labels
    /// and annotations are worth keeping.
    pub fn pods_event(
        &mut self,
        event: Event<Pod>,
        rules: &Rules,
        exclude: &[Regex],
        now: Instant,
    ) {
        match event {
            Event::Listed(pods) => {
                let mut gone: HashSet<String> = self.pods.keys().cloned().collect();
                for pod in pods {
                    gone.remove(&pod.metadata.uid);
                    self.apply(pod, rules, exclude);
                }
                for uid in gone {
                    self.delete(uid, now);
                }
                self.synced = true;
            }
            Event::Applied(pod) => self.apply(pod, rules, exclude),
            Event::Deleted(pod) => self.delete(pod.metadata.uid, now),
        }
        self.purge(now);
    }

    fn apply(&mut self, mut pod: Pod, rules: &Rules, exclude: &[Regex]) {
        if exclude.iter().any(|re| re.is_match(&pod.metadata.name)) {
            return;
        }
        pod.metadata
            .labels
            .retain(|k, _| rules.keeps(From::Pod, false, k));
        pod.metadata
            .annotations
            .retain(|k, _| rules.keeps(From::Pod, true, k));
        let uid = pod.metadata.uid.clone();
        if let Some(old) = self.pods.remove(&uid) {
            self.unindex(&old);
            self.counts.updated += 1;
        } else {
            self.counts.added += 1;
        }
        self.deleted.retain(|(_, u)| u != &uid);
        // A pod on the host's network shares the node's IP with every other such pod:
        // its IP names no one pod.
        if !pod.spec.host_network {
            for ip in pod.ips() {
                self.by_ip.insert(ip.to_string(), uid.clone());
            }
        }
        self.by_name.insert(
            (pod.metadata.namespace.clone(), pod.metadata.name.clone()),
            uid.clone(),
        );
        for (_, id, _) in pod.container_ids() {
            self.by_container.insert(id.to_string(), uid.clone());
        }
        self.pods.insert(uid, pod);
    }

    fn delete(&mut self, uid: String, now: Instant) {
        if self.pods.contains_key(&uid) && !self.deleted.iter().any(|(_, u)| u == &uid) {
            self.deleted.push((now, uid));
        }
    }

    /// Forgets pods deleted more than the grace period ago.
    pub fn purge(&mut self, now: Instant) {
        while let Some((at, _)) = self.deleted.first() {
            if now.duration_since(*at) < DELETE_GRACE {
                break;
            }
            let (_, uid) = self.deleted.remove(0);
            if let Some(pod) = self.pods.remove(&uid) {
                self.unindex(&pod);
                self.counts.deleted += 1;
            }
        }
    }

    /// Removes `pod`'s index entries that still point at it (a new pod may have its IP).
    fn unindex(&mut self, pod: &Pod) {
        let uid = &pod.metadata.uid;
        for ip in pod.ips() {
            if self.by_ip.get(ip) == Some(uid) {
                self.by_ip.remove(ip);
            }
        }
        let name = (pod.metadata.namespace.clone(), pod.metadata.name.clone());
        if self.by_name.get(&name) == Some(uid) {
            self.by_name.remove(&name);
        }
        for (_, id, _) in pod.container_ids() {
            if self.by_container.get(id) == Some(uid) {
                self.by_container.remove(id);
            }
        }
    }

    pub fn replicasets_event(&mut self, event: Event<ReplicaSet>) {
        let deployment = |rs: &ReplicaSet| {
            rs.metadata
                .owner_references
                .iter()
                .find(|o| o.kind == "Deployment")
                .cloned()
        };
        match event {
            Event::Listed(all) => {
                self.deployments = all
                    .iter()
                    .filter_map(|rs| Some((rs.metadata.uid.clone(), deployment(rs)?)))
                    .collect();
            }
            Event::Applied(rs) => match deployment(&rs) {
                Some(d) => {
                    self.deployments.insert(rs.metadata.uid, d);
                }
                None => {
                    self.deployments.remove(&rs.metadata.uid);
                }
            },
            Event::Deleted(rs) => {
                self.deployments.remove(&rs.metadata.uid);
            }
        }
    }

    /// A namespaces (`from` Namespace) or nodes (`from` Node) watch event.
    pub fn named_event(&mut self, from: From, event: Event<Named>, rules: &Rules) {
        let keep = |mut object: Named| {
            object
                .metadata
                .labels
                .retain(|k, _| rules.keeps(from, false, k));
            object
                .metadata
                .annotations
                .retain(|k, _| rules.keeps(from, true, k));
            object.metadata.owner_references.clear();
            (object.metadata.name.clone(), object)
        };
        let map = match from {
            From::Node => &mut self.nodes,
            _ => &mut self.namespaces,
        };
        match event {
            Event::Listed(all) => *map = all.into_iter().map(keep).collect(),
            Event::Applied(object) => {
                let (name, object) = keep(object);
                map.insert(name, object);
            }
            Event::Deleted(object) => {
                map.remove(&object.metadata.name);
            }
        }
    }
}
