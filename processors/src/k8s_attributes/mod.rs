//! `k8s_attributes` processor (traces, metrics, logs; also `k8sattributes`): finds the pod
//! each resource came from (by the connection's address or the resource's own
//! attributes, `pod_association`) and adds its namespace, names, owners, node, container
//! and chosen labels and annotations, as the Collector's `k8sattributes` does. Pods (and
//! ReplicaSets, namespaces, nodes when the rules need them) are watched through the
//! Kubernetes API into a local copy ([`cache`]); `passthrough` only stamps the sender's
//! IP as `k8s.pod.ip` for a gateway to resolve. Attributes the data already carries are
//! kept. Must run before `batch`, which forgets the connection.

mod associate;
mod cache;
mod config;
mod extract;
mod objects;

use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use std::net::IpAddr;

use llamacol_api::config::{parse_block, ConfigSpec};
use llamacol_api::kube::watch::{self, Watch};
use llamacol_api::kube::ApiClient;
use llamacol_api::otlp::common::v1::any_value::Value;
use llamacol_api::serde_yaml;
use llamacol_api::wire::attrs::{find, Attrs};
use llamacol_api::wire::resources::edit_resources;
use llamacol_api::{
    Batch, BoxError, BuildContext, ConsumeError, Consumer, Processor, ProcessorFactory, Signal,
};
use regex::Regex;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use associate::{container_hint, Associations};
use cache::Cache;
use extract::{From, Rules};
use objects::{Named, Pod, ReplicaSet};

pub use config::K8sAttributesConfig;

pub fn factory() -> ProcessorFactory {
    ProcessorFactory {
        type_name: "k8s_attributes",
        signals: &Signal::ALL,
        config: ConfigSpec::of::<K8sAttributesConfig>(),
        build,
    }
}

fn build(
    ctx: &BuildContext,
    block: &serde_yaml::Value,
    next: Arc<dyn Consumer>,
) -> Result<Arc<dyn Processor>, BoxError> {
    let config = parse_block::<K8sAttributesConfig>(block)?;
    Ok(Arc::new(K8sAttributesProcessor::new(
        ctx.id.to_string(),
        &config,
        next,
    )?))
}

pub struct K8sAttributesProcessor {
    id: String,
    passthrough: bool,
    associations: Associations,
    rules: Arc<Rules>,
    exclude: Arc<Vec<Regex>>,
    cache: Arc<RwLock<Cache>>,
    client: Option<ApiClient>,
    watches: Watches,
    wait_for_metadata: Option<Duration>,
    cancel: CancellationToken,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    next: Arc<dyn Consumer>,
}

/// The collections to watch.
struct Watches {
    pods: Watch,
    replicasets: Option<Watch>,
    namespaces: Option<Watch>,
    nodes: Option<Watch>,
}

impl K8sAttributesProcessor {
    pub fn new(
        id: String,
        config: &K8sAttributesConfig,
        next: Arc<dyn Consumer>,
    ) -> Result<K8sAttributesProcessor, BoxError> {
        let rules = Rules::new(&config.extract)?;
        if rules.wants("container.image.tag") {
            tracing::warn!(component = %id, "extract.metadata: `container.image.tag` is no longer emitted (the semantic conventions renamed it `container.image.tags`, a list, and the Collector emits only that by default); ask for `container.image.tags`");
        }
        let exclude = config
            .exclude
            .pods
            .iter()
            .map(|p| Regex::new(&format!("^(?:{})$", p.name)))
            .collect::<Result<Vec<_>, _>>()?;
        let node = match &config.filter.node_from_env_var {
            Some(var) if !var.is_empty() => Some(std::env::var(var).ok().filter(|v| !v.is_empty()).ok_or_else(|| {
                format!("`filter.node_from_env_var`: the environment variable `{var}` is not set; give it the node's name (downward API `fieldRef: {{fieldPath: spec.nodeName}}`)")
            })?),
            _ => config.filter.node.clone().filter(|n| !n.is_empty()),
        };
        let watches = watches(config, &rules, node.as_deref());
        let client = if config.passthrough {
            None
        } else {
            Some(
                config
                    .api()
                    .connect()
                    .map_err(|e| format!("Kubernetes API: {e}"))?,
            )
        };
        Ok(K8sAttributesProcessor {
            id,
            passthrough: config.passthrough,
            associations: Associations::new(&config.pod_association),
            rules: Arc::new(rules),
            exclude: Arc::new(exclude),
            cache: Arc::new(RwLock::new(Cache::default())),
            client,
            watches,
            wait_for_metadata: config
                .wait_for_metadata
                .then_some(config.wait_for_metadata_timeout),
            cancel: CancellationToken::new(),
            tasks: Mutex::new(Vec::new()),
            next,
        })
    }

    /// Adds the pod's attributes to every resource of `batch`: on the wire when it
    /// arrived encoded (only changed resources are written anew), else decoded.
    fn enrich(&self, batch: &mut Batch) -> Result<(), ConsumeError> {
        let addr = batch.metadata().as_ref().and_then(|m| m.addr());
        let cache = self.cache.read().unwrap_or_else(PoisonError::into_inner);
        if let (Some(bytes), false) = (batch.encoded().cloned(), batch.is_decoded()) {
            match edit_resources(&bytes, |_, attrs| self.enrich_resource(attrs, addr, &cache)) {
                Ok(Some(edited)) => {
                    batch.replace_encoded_same_items(edited);
                    return Ok(());
                }
                Ok(None) => return Ok(()),
                // An unusual layout: the decoded path below reads it as a decoder would.
                Err(_) => {}
            }
        }
        batch
            .for_each_resource_mut(|resource, _| {
                self.enrich_resource(&mut resource.attributes, addr, &cache)
            })
            .map_err(ConsumeError::permanent)
    }

    /// One resource's attributes (decoded or on the wire: the same rules).
    fn enrich_resource(&self, attributes: &mut impl Attrs, addr: Option<IpAddr>, cache: &Cache) {
        let found = self.associations.lookup(attributes, addr, cache);
        // The sender's address as `k8s.pod.ip`: what passthrough is for, and otherwise
        // only when `k8s.pod.ip` is asked for (the Collector's rule).
        if let Some(ip) = &found.connection_ip {
            if (self.passthrough || self.rules.wants("k8s.pod.ip"))
                && absent(attributes, "k8s.pod.ip")
            {
                attributes.add("k8s.pod.ip", Value::StringValue(ip.clone()));
            }
        }
        if self.passthrough {
            return;
        }
        let Some(pod) = found.pod else {
            return;
        };
        let hint = container_hint(attributes);
        for (key, value) in self.rules.pod_attributes(cache, pod, &hint) {
            if absent(attributes, &key) {
                attributes.add(&key, value);
            }
        }
    }

    fn spawn_watches(&self, client: &ApiClient) {
        let mut tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        let what = |kind: &str| format!("{} {kind}", self.id);
        {
            let (cache, rules, exclude) =
                (self.cache.clone(), self.rules.clone(), self.exclude.clone());
            tasks.push(tokio::spawn(watch::run::<Pod>(
                client.clone(),
                self.watches.pods.clone(),
                what("pods"),
                self.cancel.clone(),
                move |event| {
                    let mut cache = cache.write().unwrap_or_else(PoisonError::into_inner);
                    cache.pods_event(event, &rules, &exclude, Instant::now());
                },
            )));
        }
        if let Some(w) = &self.watches.replicasets {
            let cache = self.cache.clone();
            tasks.push(tokio::spawn(watch::run::<ReplicaSet>(
                client.clone(),
                w.clone(),
                what("replicasets"),
                self.cancel.clone(),
                move |event| {
                    cache
                        .write()
                        .unwrap_or_else(PoisonError::into_inner)
                        .replicasets_event(event)
                },
            )));
        }
        for (w, from, kind) in [
            (&self.watches.namespaces, From::Namespace, "namespaces"),
            (&self.watches.nodes, From::Node, "nodes"),
        ] {
            let Some(w) = w else { continue };
            let (cache, rules) = (self.cache.clone(), self.rules.clone());
            tasks.push(tokio::spawn(watch::run::<Named>(
                client.clone(),
                w.clone(),
                what(kind),
                self.cancel.clone(),
                move |event| {
                    cache
                        .write()
                        .unwrap_or_else(PoisonError::into_inner)
                        .named_event(from, event, &rules)
                },
            )));
        }
        if self.rules.wants("k8s.cluster.uid") {
            tasks.push(tokio::spawn(read_cluster_uid(
                client.clone(),
                self.cache.clone(),
                self.id.clone(),
                self.cancel.clone(),
            )));
        }
        // Deleted pods leave after their grace period even when no event comes.
        let cache = self.cache.clone();
        let cancel = self.cancel.clone();
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(10));
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tick.tick() => cache.write().unwrap_or_else(PoisonError::into_inner).purge(Instant::now()),
                }
            }
        }));
    }

    async fn wait_synced(&self, timeout: Duration, server: &str) -> Result<(), BoxError> {
        let deadline = Instant::now() + timeout;
        loop {
            if self
                .cache
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .synced
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{}: pods from {server} not listed within `wait_for_metadata_timeout` ({}s); see the watch's warning above",
                    self.id,
                    timeout.as_secs()
                )
                .into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The `kube-system` namespace's uid, the cluster's identity (the Collector's source of
/// `k8s.cluster.uid`), read once; retried until it answers.
async fn read_cluster_uid(
    client: ApiClient,
    cache: Arc<RwLock<Cache>>,
    id: String,
    cancel: CancellationToken,
) {
    let mut backoff =
        llamacol_api::backoff::Backoff::new(llamacol_api::backoff::BackoffPolicy::doubling(
            Duration::from_secs(1),
            Duration::from_secs(60),
        ));
    let mut logged = false;
    loop {
        match client.get::<Named>("/api/v1/namespaces/kube-system").await {
            Ok(ns) => {
                cache
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .cluster_uid = ns.metadata.uid;
                return;
            }
            Err(e) if !logged => {
                tracing::warn!(component = %id, error = %e, "cannot read the kube-system namespace for k8s.cluster.uid; trying again");
                logged = true;
            }
            Err(_) => {}
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(backoff.failed(None)) => {}
        }
    }
}

/// Whether the resource lacks `key`, or has it empty (the Collector fills those too).
fn absent(attributes: &impl Attrs, key: &str) -> bool {
    match find(attributes, key).and_then(|i| attributes.value(i)) {
        None => true,
        Some(value) => matches!(value.as_ref(), Value::StringValue(s) if s.is_empty()),
    }
}

fn watches(config: &K8sAttributesConfig, rules: &Rules, node: Option<&str>) -> Watches {
    let namespaced = |kind: &str, group: &str| match &config.filter.namespace {
        Some(ns) if !ns.is_empty() => format!("{group}/namespaces/{ns}/{kind}"),
        _ => format!("{group}/{kind}"),
    };
    let mut fields: Vec<String> = node
        .map(|n| format!("spec.nodeName={n}"))
        .into_iter()
        .collect();
    for f in &config.filter.fields {
        let op = if f.op.as_deref() == Some("not-equals") {
            "!="
        } else {
            "="
        };
        fields.push(format!("{}{op}{}", f.key, f.value));
    }
    let labels: Vec<String> = config
        .filter
        .labels
        .iter()
        .map(|f| match f.op.as_deref().unwrap_or("equals") {
            "not-equals" => format!("{}!={}", f.key, f.value),
            "exists" => f.key.clone(),
            "does-not-exist" => format!("!{}", f.key),
            _ => format!("{}={}", f.key, f.value),
        })
        .collect();
    Watches {
        pods: Watch {
            path: namespaced("pods", "/api/v1"),
            field_selector: fields.join(","),
            label_selector: labels.join(","),
        },
        replicasets: rules
            .needs_replicasets()
            .then(|| Watch::all(namespaced("replicasets", "/apis/apps/v1"))),
        namespaces: rules
            .needs(From::Namespace)
            .then(|| Watch::all("/api/v1/namespaces")),
        nodes: rules.needs(From::Node).then(|| Watch {
            path: "/api/v1/nodes".into(),
            field_selector: node
                .map(|n| format!("metadata.name={n}"))
                .unwrap_or_default(),
            label_selector: String::new(),
        }),
    }
}

#[async_trait]
impl Consumer for K8sAttributesProcessor {
    async fn consume(&self, mut batch: Batch) -> Result<(), ConsumeError> {
        self.enrich(&mut batch)?;
        self.next.consume(batch).await
    }
}

#[async_trait]
impl Processor for K8sAttributesProcessor {
    async fn start(&self) -> Result<(), BoxError> {
        let Some(client) = &self.client else {
            return Ok(());
        };
        self.spawn_watches(client);
        if let Some(timeout) = self.wait_for_metadata {
            self.wait_synced(timeout, client.server()).await?;
        }
        Ok(())
    }

    async fn shutdown(&self) -> Result<(), BoxError> {
        self.cancel.cancel();
        let tasks: Vec<_> = self
            .tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
            .collect();
        for task in tasks {
            let _ = task.await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
