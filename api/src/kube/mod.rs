//! Talking to the Kubernetes API server, for components that watch cluster objects
//! (`k8s_attributes` watches pods, the `loadbalancing` exporter's `k8s` resolver watches
//! EndpointSlices): the Collector's `auth_type` keys ([`ApiConfig`]), one authenticated
//! client ([`ApiClient`]) and the list-then-watch loop that keeps a local copy of a kind
//! of object current ([`watch::run`]), relisting after every broken watch so that an API
//! server restart or a compacted history (410 Gone) loses nothing.
//!
//! Objects are read into the caller's own serde structs holding only the fields it uses,
//! which is what keeps a cache of thousands of pods small.
//!
//! Why not the `kube` and `k8s-openapi` crates: what components need is a list, a watch
//! and a GET on a handful of kinds, a few hundred lines over the reqwest client every
//! component already shares; those crates bring a typed model of the whole API (minutes
//! of compiling, every field of every object held in memory) and a second HTTP stack.

mod client;
mod kubeconfig;
pub mod watch;

use std::path::PathBuf;

use serde::Deserialize;

use crate::config::Issue;

pub use client::{ApiClient, ApiError};

/// Where the service account's token and CA are mounted in every pod.
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// How a component reaches the API server: the Collector's `auth_type`,
/// `kube_config_path` and `context` keys (flatten this into a component's config).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ApiConfig {
    pub auth_type: AuthType,
    /// `auth_type: kubeConfig`: the file; empty: `$KUBECONFIG`, else `~/.kube/config`.
    pub kube_config_path: Option<PathBuf>,
    /// `auth_type: kubeConfig`: the context to use; empty: the file's current context.
    pub context: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum AuthType {
    /// In-cluster: `KUBERNETES_SERVICE_HOST`/`PORT`, the mounted token and CA.
    #[default]
    #[serde(rename = "serviceAccount")]
    ServiceAccount,
    /// A kubeconfig file (`kube_config_path`, `context`).
    #[serde(rename = "kubeConfig")]
    KubeConfig,
    /// In-cluster address, no credentials (an API server that allows anonymous reads).
    #[serde(rename = "none")]
    None,
    /// Accepted for the Collector's configs; client certificates come from a kubeconfig.
    #[serde(rename = "tls")]
    Tls,
}

impl ApiConfig {
    /// Config problems found before anything starts (paths relative to the block).
    pub fn issues(&self) -> Vec<Issue> {
        let mut issues = Vec::new();
        if self.auth_type != AuthType::KubeConfig
            && (self.kube_config_path.is_some() || self.context.is_some())
        {
            issues.push(Issue::new(
                "kube_config_path",
                "`kube_config_path` and `context` are read only with `auth_type: kubeConfig`; set that or remove them",
            ));
        }
        if self.auth_type == AuthType::Tls {
            issues.push(Issue::new(
                "auth_type",
                "`auth_type: tls` is not supported: put the client certificate in a kubeconfig (`client-certificate`, `client-key`) and use `auth_type: kubeConfig`",
            ));
        }
        issues
    }

    /// The client this config describes (reads the kubeconfig or the mounted account).
    pub fn connect(&self) -> Result<ApiClient, ApiError> {
        match self.auth_type {
            AuthType::KubeConfig => {
                let path = match &self.kube_config_path {
                    Some(p) if !p.as_os_str().is_empty() => p.clone(),
                    _ => kubeconfig::default_path()?,
                };
                let target = kubeconfig::load(&path, self.context.as_deref())?;
                ApiClient::new(target)
            }
            AuthType::ServiceAccount => {
                ApiClient::new(client::in_cluster(SERVICE_ACCOUNT_DIR.as_ref(), true)?)
            }
            AuthType::None => {
                ApiClient::new(client::in_cluster(SERVICE_ACCOUNT_DIR.as_ref(), false)?)
            }
            AuthType::Tls => Err(ApiError::Config(
                "`auth_type: tls` is not supported; use `auth_type: kubeConfig`".into(),
            )),
        }
    }
}

/// `metadata` of any object, as far as watchers need it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ObjectMeta {
    pub name: String,
    pub namespace: String,
    pub uid: String,
    pub resource_version: String,
    pub creation_timestamp: Option<String>,
    pub labels: std::collections::BTreeMap<String, String>,
    pub annotations: std::collections::BTreeMap<String, String>,
    pub owner_references: Vec<OwnerReference>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct OwnerReference {
    pub kind: String,
    pub name: String,
    pub uid: String,
    pub controller: Option<bool>,
}

/// An object with metadata: what the watch loop needs to follow resource versions.
pub trait Object: serde::de::DeserializeOwned + Send + 'static {
    fn metadata(&self) -> &ObjectMeta;
}

#[cfg(test)]
mod tests;
