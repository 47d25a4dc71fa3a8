//! `resolver.k8s`: the backends are the ready endpoints of a Kubernetes Service, read
//! from its EndpointSlices (labelled `kubernetes.io/service-name`) through a watch, so a
//! gateway that starts, stops or fails its readiness probe joins or leaves the ring
//! within the watch's latency, without DNS caching in the way.

use std::collections::BTreeMap;
use std::sync::Arc;

use llamacol_api::kube::watch::{self, Event, Watch};
use llamacol_api::kube::{ApiClient, Object, ObjectMeta};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use super::config::K8sResolver;
use super::Shared;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct EndpointSlice {
    pub metadata: ObjectMeta,
    pub endpoints: Vec<Endpoint>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Endpoint {
    pub addresses: Vec<String>,
    pub conditions: Conditions,
    pub hostname: Option<String>,
}

/// An absent condition counts as true (the API's documented meaning).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Conditions {
    pub ready: Option<bool>,
}

impl Object for EndpointSlice {
    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
}

/// `service` as `name.namespace` (the Collector's form); namespace `default` if absent.
pub fn service_and_namespace(service: &str) -> (&str, &str) {
    service.split_once('.').unwrap_or((service, "default"))
}

/// The watch of `config.service`'s EndpointSlices.
pub fn watch_for(config: &K8sResolver) -> Watch {
    let (name, namespace) = service_and_namespace(&config.service);
    Watch {
        path: format!("/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices"),
        field_selector: String::new(),
        label_selector: format!("kubernetes.io/service-name={name}"),
    }
}

/// Every `address:port` (or `hostname.service.namespace:port` with `return_hostnames`)
/// of the ready endpoints, for each of `config.ports`.
pub fn backends(slices: &BTreeMap<String, EndpointSlice>, config: &K8sResolver) -> Vec<String> {
    let (name, namespace) = service_and_namespace(&config.service);
    let mut out = Vec::new();
    for endpoint in slices.values().flat_map(|s| &s.endpoints) {
        if endpoint.conditions.ready == Some(false) {
            continue;
        }
        let hosts: Vec<String> = match (&endpoint.hostname, config.return_hostnames) {
            (Some(host), true) => vec![format!("{host}.{name}.{namespace}")],
            _ => endpoint
                .addresses
                .iter()
                .map(|a| {
                    if a.contains(':') {
                        format!("[{a}]")
                    } else {
                        a.clone()
                    }
                })
                .collect(),
        };
        for host in hosts {
            for port in &config.ports {
                out.push(format!("{host}:{port}"));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Keeps the ring's members equal to the Service's ready endpoints until `cancel`.
pub async fn run(
    client: ApiClient,
    config: K8sResolver,
    shared: Arc<Shared>,
    cancel: CancellationToken,
) {
    let mut slices: BTreeMap<String, EndpointSlice> = BTreeMap::new();
    let what = format!("{} endpointslices of {}", shared.id, config.service);
    let watch = watch_for(&config);
    watch::run::<EndpointSlice>(client, watch, what, cancel, move |event| {
        match event {
            Event::Listed(all) => {
                slices = all.into_iter().map(|s| (s.metadata.name.clone(), s)).collect();
            }
            Event::Applied(slice) => {
                slices.insert(slice.metadata.name.clone(), slice);
            }
            Event::Deleted(slice) => {
                slices.remove(&slice.metadata.name);
            }
        }
        let members = backends(&slices, &config);
        if let Err(e) = shared.set_members(members) {
            tracing::warn!(component = %shared.id, error = %e, "loadbalancing: backends from the Service's endpoints not usable");
        }
    })
    .await;
}
