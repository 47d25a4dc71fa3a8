//! `loadbalancing` exporter (traces, logs, metrics): the Collector's, for putting
//! tail-sampling gateways behind agents. Each span (log record) goes to the backend that
//! owns its routing key (trace id, or `service.name`) on a consistent-hash ring, metrics
//! by theirs (`metrics.rs`), through an `otlp`
//! exporter per backend built from `protocol.otlp`. Backends come from a static list or
//! from DNS, re-resolved every `interval`.
//!
//! A backend whose export fails retryably (down, refusing) leaves the ring for
//! `BACKEND_PAUSE` and its share is sent again at once over the others, so a gateway
//! that stops costs no data; only with no backend left is the export retried (by the
//! queue in front, which then holds only what is still undelivered). Counted per backend
//! in `llamacol_exporter_backend_items_total`.

mod config;
mod k8s;
mod metrics;
mod ring;

use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use llamacol_api::config::{parse_block, ConfigSpec};
use llamacol_api::node::{NodeContext, TargetCounters, TargetFamily};
use llamacol_api::otlp::collector::logs::v1::ExportLogsServiceRequest;
use llamacol_api::otlp::collector::trace::v1::ExportTraceServiceRequest;
use llamacol_api::otlp::common::v1::any_value::Value;
use llamacol_api::otlp::resource::v1::Resource;
use llamacol_api::serde_yaml;
use llamacol_api::split::{logs_by, spans_by};
use llamacol_api::task::Background;
use llamacol_api::{
    Batch, BoxError, BuildContext, ConsumeError, Exporter, ExporterFactory, Payload, Signal,
};

pub use config::{LoadBalancingConfig, RoutingKey};
use ring::{hash, Ring};

use crate::otlp::{sender, OtlpExporter};

/// Items sent to each backend.
pub const BACKEND_ITEMS: TargetFamily = TargetFamily {
    metric: "llamacol_exporter_backend_items_total",
    label: "backend",
    help: "Items a load-balancing exporter delivered to a backend (outcome sent), or whose export to it failed and that were routed to another backend or retried (failed).",
    outcomes: &["sent", "failed"],
};

/// How long a backend that failed stays out of the ring before it is tried again.
const BACKEND_PAUSE: Duration = Duration::from_secs(5);

pub fn factory() -> ExporterFactory {
    ExporterFactory {
        type_name: "loadbalancing",
        signals: &Signal::ALL,
        config: ConfigSpec::of::<LoadBalancingConfig>(),
        build,
    }
}

fn build(ctx: &BuildContext, block: &serde_yaml::Value) -> Result<Arc<dyn Exporter>, BoxError> {
    let config = parse_block::<LoadBalancingConfig>(block)?;
    for signal in &ctx.signals {
        config
            .routing_for(*signal)
            .map_err(|e| format!("routing_key: {e}"))?;
    }
    let (item_key, metric_key) = (
        config
            .routing_for(Signal::Traces)
            .unwrap_or(RoutingKey::TraceId),
        config
            .routing_for(Signal::Metrics)
            .unwrap_or(RoutingKey::Service),
    );
    let auth = match config.otlp_for("backend:4317") {
        Ok(otlp) => ctx.auth.resolve(otlp.auth.as_ref())?,
        Err(_) => None,
    };
    let shared = Arc::new(Shared {
        id: ctx.id.to_string(),
        node: ctx.node.clone(),
        auth,
        backends: RwLock::new(Arc::new(Vec::new())),
        config,
        item_key,
        metric_key,
    });
    if let Some(s) = &shared.config.resolver.static_ {
        shared.set_members(s.hostnames.clone())?;
    }
    let request_limit = shared
        .config
        .otlp_for("backend:4317")
        .ok()
        .and_then(|c| c.request_limit());
    Ok(Arc::new(LoadBalancing {
        shared,
        request_limit,
        resolver: Background::new(),
    }))
}

struct Backend {
    endpoint: String,
    sender: OtlpExporter,
    down_until: Mutex<Option<Instant>>,
    counters: Arc<TargetCounters>,
}

impl Backend {
    fn is_up(&self, now: Instant) -> bool {
        self.down_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none_or(|until| now >= until)
    }

    fn pause(&self, now: Instant) {
        *self
            .down_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(now + BACKEND_PAUSE);
    }
}

pub struct LoadBalancing {
    shared: Arc<Shared>,
    /// `protocol.otlp.max_request_size`, or its default.
    request_limit: Option<usize>,
    /// Re-resolves DNS backends.
    resolver: Background,
}

/// What the exporter and its DNS task share.
struct Shared {
    id: String,
    config: LoadBalancingConfig,
    node: NodeContext,
    /// `protocol.otlp.auth`'s authenticator, for every backend.
    auth: Option<Arc<dyn llamacol_api::auth::Authenticator>>,
    backends: RwLock<Arc<Vec<Arc<Backend>>>>,
    /// How spans and log records are routed (`traceID` or `service`).
    item_key: RoutingKey,
    /// How metrics are routed.
    metric_key: RoutingKey,
}

impl Shared {
    /// Makes `endpoints` the backends (keeping the ones already known).
    fn set_members(&self, mut endpoints: Vec<String>) -> Result<(), BoxError> {
        endpoints.sort();
        endpoints.dedup();
        let current = self.members();
        let mut next = Vec::with_capacity(endpoints.len());
        for endpoint in endpoints {
            if let Some(b) = current.iter().find(|b| b.endpoint == endpoint) {
                next.push(b.clone());
                continue;
            }
            let config = self.config.otlp_for(&endpoint).map_err(|issues| {
                let all: Vec<String> = issues
                    .iter()
                    .map(|i| format!("{}: {}", i.path, i.message))
                    .collect();
                all.join("; ")
            })?;
            next.push(Arc::new(Backend {
                sender: sender(
                    format!("{}/{endpoint}", self.id),
                    &config,
                    self.auth.clone(),
                )?,
                counters: self
                    .node
                    .target_counters(BACKEND_ITEMS, &self.id, &endpoint),
                down_until: Mutex::new(None),
                endpoint,
            }));
        }
        *self
            .backends
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(next);
        Ok(())
    }

    fn members(&self) -> Arc<Vec<Arc<Backend>>> {
        self.backends
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The routing key's hash of an item.
    fn key(&self, resource: Option<&Resource>, trace_id: &[u8]) -> u64 {
        let service = || {
            resource
                .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
                .and_then(|kv| kv.value.as_ref())
                .and_then(|v| match &v.value {
                    Some(Value::StringValue(s)) => Some(s.as_str()),
                    _ => None,
                })
                .unwrap_or_default()
        };
        match self.item_key {
            // Items without a trace id go by their service.
            RoutingKey::TraceId if trace_id.iter().any(|b| *b != 0) => hash(trace_id),
            _ => hash(service().as_bytes()),
        }
    }

    /// Splits `batch` over the backends that are up: one batch per backend index.
    fn route(
        &self,
        batch: Batch,
        up: &[Arc<Backend>],
    ) -> Result<Vec<(usize, Batch)>, ConsumeError> {
        let endpoints: Vec<&str> = up.iter().map(|b| b.endpoint.as_str()).collect();
        let ring = Ring::new(&endpoints);
        let owner = |h: u64| ring.get(h).unwrap_or(0);
        let mut out: Vec<(usize, Batch)> = Vec::new();
        let metadata = batch.metadata().clone();
        match batch {
            Batch::Traces(p) => {
                let request = p.into_message().map_err(ConsumeError::permanent)?;
                let mut per: Vec<ExportTraceServiceRequest> =
                    vec![ExportTraceServiceRequest::default(); up.len()];
                let pieces = spans_by(request, |r, s| owner(self.key(r, &s.trace_id)))
                    .map_err(ConsumeError::permanent)?;
                for (i, piece, _) in pieces {
                    per[i].resource_spans.push(piece);
                }
                for (i, r) in per.into_iter().enumerate() {
                    if !r.resource_spans.is_empty() {
                        out.push((i, Batch::Traces(Payload::from_message(r))));
                    }
                }
            }
            Batch::Logs(p) => {
                let request = p.into_message().map_err(ConsumeError::permanent)?;
                let mut per: Vec<ExportLogsServiceRequest> =
                    vec![ExportLogsServiceRequest::default(); up.len()];
                let pieces = logs_by(request, |r, l| owner(self.key(r, &l.trace_id)))
                    .map_err(ConsumeError::permanent)?;
                for (i, piece, _) in pieces {
                    per[i].resource_logs.push(piece);
                }
                for (i, r) in per.into_iter().enumerate() {
                    if !r.resource_logs.is_empty() {
                        out.push((i, Batch::Logs(Payload::from_message(r))));
                    }
                }
            }
            Batch::Metrics(p) => {
                let request = p.into_message().map_err(ConsumeError::permanent)?;
                let per = metrics::split(request, self.metric_key, up.len(), owner);
                for (i, r) in per.into_iter().enumerate() {
                    if !r.resource_metrics.is_empty() {
                        out.push((i, Batch::Metrics(Payload::from_message(r))));
                    }
                }
            }
        }
        // Each backend's part keeps the client metadata (`headers_setter` reads it).
        for (_, part) in &mut out {
            part.set_metadata(metadata.clone());
        }
        Ok(out)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("loadbalancing: no backend is reachable ({0}); the undelivered part is retried")]
struct NoBackend(String);

#[async_trait]
impl Exporter for LoadBalancing {
    async fn start(&self) -> Result<(), BoxError> {
        if let Some(k8s) = self.shared.config.resolver.k8s.clone() {
            let client = k8s
                .api()
                .connect()
                .map_err(|e| format!("resolver.k8s: Kubernetes API: {e}"))?;
            let shared = self.shared.clone();
            self.resolver
                .spawn(move |cancel| k8s::run(client, k8s, shared, cancel));
            return Ok(());
        }
        let Some(dns) = self.shared.config.resolver.dns.clone() else {
            return Ok(());
        };
        self.shared.refresh(&dns).await;
        let shared = self.shared.clone();
        self.resolver.spawn(move |cancel| async move {
            loop {
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = tokio::time::sleep(dns.interval) => {}
                }
                shared.refresh(&dns).await;
            }
        });
        Ok(())
    }

    /// Each backend's request is a part of the batch, so a batch within the backends'
    /// `max_request_size` gives requests within it.
    fn max_request_size(&self) -> Option<usize> {
        self.request_limit
    }

    async fn export(&self, batch: &mut Batch) -> Result<(), ConsumeError> {
        self.shared.export(batch).await
    }

    async fn shutdown(&self) -> Result<(), BoxError> {
        self.resolver.stop().await;
        Ok(())
    }
}

impl Shared {
    async fn export(&self, batch: &mut Batch) -> Result<(), ConsumeError> {
        loop {
            let now = Instant::now();
            let members = self.members();
            let up: Vec<Arc<Backend>> = members.iter().filter(|b| b.is_up(now)).cloned().collect();
            if up.is_empty() {
                let names: Vec<&str> = members.iter().map(|b| b.endpoint.as_str()).collect();
                return Err(ConsumeError::retryable(NoBackend(names.join(", "))));
            }
            let whole = std::mem::replace(
                batch,
                Batch::Traces(Payload::from_message(ExportTraceServiceRequest::default())),
            );
            let signal = whole.signal();
            let parts = match self.route(whole, &up) {
                Ok(parts) => parts,
                Err(e) => return Err(e),
            };
            let sends = parts.into_iter().map(|(i, mut part)| {
                let backend = up[i].clone();
                async move {
                    let result = backend.sender.export(&mut part).await;
                    (backend, part, result)
                }
            });
            let mut remainder: Option<Batch> = None;
            let mut permanent: Option<ConsumeError> = None;
            let mut too_large: Option<ConsumeError> = None;
            for (backend, part, result) in futures::future::join_all(sends).await {
                let items = part.items();
                match result {
                    Ok(()) => TargetCounters::add(&backend.counters.sent, items),
                    Err(e) => {
                        if e.too_large().is_some() {
                            // Kept for the queue, which cuts it and sends the pieces.
                            too_large.get_or_insert(e);
                        } else if e.is_retryable() {
                            TargetCounters::add(&backend.counters.failed, items);
                            tracing::warn!(component = %self.id, backend = %backend.endpoint, error = %e, items, "backend failed; its share goes to the other backends for {BACKEND_PAUSE:?}");
                            backend.pause(now);
                        } else {
                            TargetCounters::add(&backend.counters.failed, items);
                            permanent.get_or_insert(e);
                            continue;
                        }
                        remainder = Some(match remainder.take() {
                            Some(r) => join(r, part)?,
                            None => part,
                        });
                    }
                }
            }
            if let Some(e) = permanent.or(too_large) {
                // What a backend refused as bad data is not sent elsewhere; what is still
                // undelivered for other reasons is kept for the retry.
                *batch = remainder.unwrap_or_else(|| empty(signal));
                return Err(e);
            }
            match remainder {
                None => return Ok(()),
                Some(r) => *batch = r,
            }
        }
    }
}

/// Two batches of one signal as one.
fn join(a: Batch, b: Batch) -> Result<Batch, ConsumeError> {
    match (a, b) {
        (Batch::Traces(mut a), Batch::Traces(b)) => {
            a.append(b).map_err(ConsumeError::permanent)?;
            Ok(Batch::Traces(a))
        }
        (Batch::Logs(mut a), Batch::Logs(b)) => {
            a.append(b).map_err(ConsumeError::permanent)?;
            Ok(Batch::Logs(a))
        }
        (Batch::Metrics(mut a), Batch::Metrics(b)) => {
            a.append(b).map_err(ConsumeError::permanent)?;
            Ok(Batch::Metrics(a))
        }
        (a, _) => Ok(a),
    }
}

fn empty(signal: Signal) -> Batch {
    match signal {
        Signal::Logs => Batch::Logs(Payload::from_message(ExportLogsServiceRequest::default())),
        Signal::Metrics => Batch::Metrics(Payload::from_message(
            llamacol_api::otlp::collector::metrics::v1::ExportMetricsServiceRequest::default(),
        )),
        Signal::Traces => {
            Batch::Traces(Payload::from_message(ExportTraceServiceRequest::default()))
        }
    }
}

impl Shared {
    /// Re-resolves the DNS name; keeps the known backends when that fails.
    async fn refresh(&self, dns: &config::DnsResolver) {
        match resolve(dns).await {
            Ok(endpoints) if !endpoints.is_empty() => {
                if let Err(e) = self.set_members(endpoints) {
                    tracing::warn!(component = %self.id, error = %e, "loadbalancing: backends from DNS not usable");
                }
            }
            Ok(_) => {
                tracing::warn!(component = %self.id, hostname = %dns.hostname, "loadbalancing: DNS returned no address; keeping the backends known")
            }
            Err(e) => {
                tracing::warn!(component = %self.id, hostname = %dns.hostname, error = %e, "loadbalancing: DNS resolution failed; keeping the backends known")
            }
        }
    }
}

/// Every address `hostname` resolves to, as `ip:port`.
async fn resolve(dns: &config::DnsResolver) -> Result<Vec<String>, BoxError> {
    let lookup = tokio::net::lookup_host((dns.hostname.as_str(), dns.port));
    let addrs = tokio::time::timeout(dns.timeout, lookup)
        .await
        .map_err(|_| format!("no answer within {:?}", dns.timeout))??;
    let mut out: Vec<String> = addrs.map(|a| a.to_string()).collect();
    out.sort();
    out.dedup();
    Ok(out)
}

#[cfg(test)]
mod tests;
