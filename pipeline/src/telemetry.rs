//! llamacol's own counters, rendered in Prometheus text format by the admin server.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::component::Kind;
use crate::signal::Signal;
use llamacol_api::exposition::{write_family, write_sample};
pub use llamacol_api::outcome::Counters;

/// Where a set of counters is attached.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Scope {
    pub kind: Kind,
    pub component: String,
    pub signal: Signal,
    /// Set for per-pipeline edges (processors, pipeline -> exporter); unset for receivers
    /// (counted once, before fan-out) and exporter queues (shared by pipelines).
    pub pipeline: Option<String>,
}

/// Length, size and bounds of one exporter queue.
pub struct QueueGauge {
    pub component: String,
    pub capacity: usize,
    pub len: Box<dyn Fn() -> usize + Send + Sync>,
    /// 0: no byte bound.
    pub capacity_bytes: u64,
    pub bytes: Box<dyn Fn() -> u64 + Send + Sync>,
    /// Bytes a persistent queue found corrupt (bad CRC, cut short) and skipped.
    pub corrupt_bytes: Box<dyn Fn() -> u64 + Send + Sync>,
}

/// The request-size limit an exporter sends within (configured or learned from the far
/// side's refusals), and how many requests were cut to it.
pub struct RequestLimitGauge {
    pub component: String,
    /// 0: no limit.
    pub limit: Box<dyn Fn() -> u64 + Send + Sync>,
    pub split: Box<dyn Fn() -> u64 + Send + Sync>,
}

/// What [`Telemetry::queue_snapshot`] reads of one queue.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueReading {
    pub component: String,
    pub len: usize,
    pub capacity: usize,
    pub bytes: u64,
    pub capacity_bytes: u64,
    pub corrupt_bytes: u64,
}

/// The names of [`Telemetry::snapshot`]'s values, in order.
pub const OUTCOME_NAMES: [&str; 9] = [
    "accepted",
    "refused",
    "sent",
    "failed",
    "dropped",
    "unknown",
    "sampled_out",
    "decided_early",
    "filtered",
];

/// One scope's counters as `/debug/pipelines` and the live page show them.
pub fn scope_json(scope: &Scope, values: &[u64; 9]) -> serde_json::Value {
    let mut out = serde_json::json!({
        "kind": scope.kind,
        "component": scope.component,
        "signal": scope.signal,
        "pipeline": scope.pipeline,
    });
    for (name, value) in OUTCOME_NAMES.iter().zip(values) {
        out[*name] = (*value).into();
    }
    out
}

impl QueueReading {
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({"component": self.component, "size": self.len, "capacity": self.capacity, "bytes": self.bytes, "capacity_bytes": self.capacity_bytes})
    }
}

/// Shared by the runtime (which counts) and the admin server (which shows).
#[derive(Default)]
pub struct Telemetry {
    counters: Mutex<Vec<(Scope, Arc<Counters>)>>,
    queues: Mutex<Vec<QueueGauge>>,
    request_limits: Mutex<Vec<RequestLimitGauge>>,
    /// Whether the pipelines run (`/readyz`, `health_check`).
    status: llamacol_api::extension::ServiceStatus,
    /// `service.telemetry.metrics.level: none`.
    metrics_off: AtomicBool,
    pipelines: Mutex<serde_json::Value>,
    /// The node board every component of this service shares (alerts are read from it).
    node: crate::node::NodeContext,
    /// `service.telemetry.resource`, resolved: served as `target_info` on `/metrics`.
    resource: Mutex<Vec<(String, String)>>,
}

impl Telemetry {
    pub fn new() -> Arc<Telemetry> {
        Arc::new(Telemetry::default())
    }

    /// The node context the service hands its components.
    pub fn node(&self) -> &crate::node::NodeContext {
        &self.node
    }

    /// llamacol's own resource (`service.telemetry.resource`), for `target_info`.
    pub fn set_resource(&self, attributes: Vec<(String, String)>) {
        *self.resource.lock().unwrap_or_else(PoisonError::into_inner) = attributes;
    }

    /// The counters of `scope`, created on first use.
    pub fn counters(&self, scope: Scope) -> Arc<Counters> {
        let mut all = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, c)) = all.iter().find(|(s, _)| *s == scope) {
            return c.clone();
        }
        let c = Arc::new(Counters::default());
        all.push((scope, c.clone()));
        c
    }

    /// Forgets the queue and request-limit gauges of a service that was shut down (a
    /// reload builds new ones); counters stay, cumulative across reloads.
    pub fn forget_components(&self) {
        self.queues
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.request_limits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    pub fn register_queue(&self, gauge: QueueGauge) {
        self.queues
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(gauge);
    }

    pub fn register_request_limit(&self, gauge: RequestLimitGauge) {
        self.request_limits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(gauge);
    }

    pub fn set_ready(&self, ready: bool) {
        self.status.set_running(ready);
    }

    pub fn is_ready(&self) -> bool {
        self.status.is_running()
    }

    /// What extensions are told of the service's state (the same flag as `/readyz`).
    pub fn status(&self) -> llamacol_api::extension::ServiceStatus {
        self.status.clone()
    }

    /// Whether `/metrics` serves our counters (`service.telemetry.metrics.level`).
    pub fn set_metrics_served(&self, served: bool) {
        self.metrics_off.store(!served, Ordering::Relaxed);
    }

    pub fn metrics_served(&self) -> bool {
        !self.metrics_off.load(Ordering::Relaxed)
    }

    /// The running graph, as `/debug/pipelines` shows it.
    pub fn set_pipelines(&self, description: serde_json::Value) {
        *self
            .pipelines
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = description;
    }

    pub fn pipelines(&self) -> serde_json::Value {
        self.pipelines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Current values: (scope, accepted, refused, sent, failed, dropped, unknown).
    pub fn snapshot(&self) -> Vec<(Scope, [u64; 9])> {
        let all = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out: Vec<(Scope, [u64; 9])> = all
            .iter()
            .map(|(s, c)| {
                let v = [
                    &c.accepted,
                    &c.refused,
                    &c.sent,
                    &c.failed,
                    &c.dropped,
                    &c.unknown,
                    &c.sampled_out,
                    &c.decided_early,
                    &c.filtered,
                ]
                .map(|a| a.load(Ordering::Relaxed));
                (s.clone(), v)
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Every exporter queue, as it is now.
    pub fn queue_snapshot(&self) -> Vec<QueueReading> {
        let queues = self.queues.lock().unwrap_or_else(PoisonError::into_inner);
        queues
            .iter()
            .map(|q| QueueReading {
                component: q.component.clone(),
                len: (q.len)(),
                capacity: q.capacity,
                bytes: (q.bytes)(),
                capacity_bytes: q.capacity_bytes,
                corrupt_bytes: (q.corrupt_bytes)(),
            })
            .collect()
    }

    /// Prometheus text format 0.0.4.
    pub fn render(&self) -> String {
        const OUTCOMES: [(&str, &str); 9] = [
            ("accepted", "Items the component took (for exporters: queued)."),
            ("refused", "Items the component refused; the sender was told to retry or that the data is bad."),
            ("sent", "Items an exporter delivered."),
            ("failed", "Items an exporter gave up on (permanent error or retries exhausted); for a receiver, failed scrapes; for a processor, items a statement failed on that went on unchanged (error_mode ignore/silent)."),
            ("dropped", "Items discarded without delivery, e.g. still queued at the shutdown deadline."),
            ("unknown", "Items whose export was in flight at the shutdown deadline: the backend may or may not have them."),
            ("sampled_out", "Items a sampling processor decided not to pass on: a decision, not a loss."),
            ("decided_early", "Items a tail sampler decided before decision_wait was over because a bound was reached (num_traces, max_spans_per_trace, max_bytes)."),
            ("filtered", "Items a filter processor's conditions removed: a configured decision, not a loss."),
        ];
        let snapshot = self.snapshot();
        let mut out = String::new();
        for kind in [
            Kind::Receiver,
            Kind::Processor,
            Kind::Connector,
            Kind::Exporter,
        ] {
            for (i, (outcome, help)) in OUTCOMES.iter().enumerate() {
                let rows: Vec<&(Scope, [u64; 9])> = snapshot
                    .iter()
                    .filter(|(s, v)| s.kind == kind && (applies(s, i) || v[i] > 0))
                    .collect();
                if rows.is_empty() {
                    continue;
                }
                let name = format!("llamacol_{kind}_{outcome}_items_total");
                let help = if kind == Kind::Receiver && *outcome == "failed" {
                    "Failed fetches of scraping receivers (e.g. a llama.cpp endpoint that did not answer)."
                } else {
                    help
                };
                write_family(&mut out, &name, "counter", help);
                for (scope, values) in rows {
                    let labels = [
                        ("component", scope.component.as_str()),
                        ("signal", scope.signal.as_str()),
                    ];
                    let pipeline = scope.pipeline.as_deref().map(|p| ("pipeline", p));
                    write_sample(
                        &mut out,
                        &name,
                        labels.into_iter().chain(pipeline),
                        values[i],
                    );
                }
            }
        }
        let queues = self.queue_snapshot();
        let gauges: [Family<QueueReading>; 5] = [
            (
                "queue_size",
                "gauge",
                "Batches waiting in the exporter queue.",
                |q| q.len as u64,
            ),
            (
                "queue_capacity",
                "gauge",
                "Batches the exporter queue can hold (waiting or being exported).",
                |q| q.capacity as u64,
            ),
            (
                "queue_size_bytes",
                "gauge",
                "Encoded bytes the exporter queue holds, waiting or being exported.",
                |q| q.bytes,
            ),
            (
                "queue_capacity_bytes",
                "gauge",
                "Encoded bytes the exporter queue can hold (0: no byte bound).",
                |q| q.capacity_bytes,
            ),
            (
                "queue_corrupt_bytes_total",
                "counter",
                "Bytes a persistent queue found corrupt or cut short on disk and skipped (logged with the file and offset).",
                |q| q.corrupt_bytes,
            ),
        ];
        write_exporter_families(&mut out, &gauges, &queues, |q| &q.component);
        self.render_request_limits(&mut out);
        let targets = self.node.target_snapshot();
        let mut families: Vec<_> = targets.iter().map(|t| t.0).collect();
        families.sort_by_key(|f| f.metric);
        families.dedup();
        for family in families {
            let name = family.metric;
            write_family(&mut out, name, "counter", family.help);
            for (_, component, target, values) in targets.iter().filter(|t| t.0 == family) {
                for (outcome, value) in family.outcomes.iter().zip(values) {
                    let labels = [
                        ("component", component.as_str()),
                        (family.label, target.as_str()),
                        ("outcome", outcome),
                    ];
                    write_sample(&mut out, name, labels, value);
                }
            }
        }
        // The standard process metrics (client_golang's names), for the Collector
        // dashboard's memory and CPU panels.
        if let Some(rss) = crate::memory::resident_bytes() {
            let name = "process_resident_memory_bytes";
            write_family(&mut out, name, "gauge", "Resident memory size in bytes.");
            write_sample(&mut out, name, [], rss);
        }
        if let Some(cpu) = crate::memory::cpu_seconds() {
            let name = "process_cpu_seconds_total";
            write_family(
                &mut out,
                name,
                "counter",
                "Total user and system CPU time spent in seconds.",
            );
            write_sample(&mut out, name, [], cpu);
        }
        // The resource as OpenTelemetry's Prometheus exporters serve it.
        let resource = self.resource.lock().unwrap_or_else(PoisonError::into_inner);
        if !resource.is_empty() {
            let name = "target_info";
            write_family(&mut out, name, "gauge", "Target metadata");
            let labels: Vec<(String, &str)> = resource
                .iter()
                .map(|(k, v)| (label_name(k), v.as_str()))
                .collect();
            write_sample(
                &mut out,
                name,
                labels.iter().map(|(k, v)| (k.as_str(), *v)),
                1,
            );
        }
        drop(resource);
        let name = "llamacol_build_info";
        write_family(&mut out, name, "gauge", "llamacol version.");
        write_sample(&mut out, name, [("version", env!("CARGO_PKG_VERSION"))], 1);
        out
    }
}

impl Telemetry {
    fn render_request_limits(&self, out: &mut String) {
        let limits = self
            .request_limits
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let families: [Family<RequestLimitGauge>; 2] = [
            (
                "request_size_limit_bytes",
                "gauge",
                "Largest encoded request the exporter sends: its max_request_size, or less when the far side refused requests for their size (0: no limit).",
                |g| (g.limit)(),
            ),
            (
                "requests_split_total",
                "counter",
                "Batches cut into several requests because they were larger than the request-size limit.",
                |g| (g.split)(),
            ),
        ];
        write_exporter_families(out, &families, &limits, |g| &g.component);
    }
}

/// A metric family of one sample per exporter: name (after `llamacol_exporter_`), type,
/// help, and how a row gives its value.
type Family<T> = (&'static str, &'static str, &'static str, fn(&T) -> u64);

/// Writes `llamacol_exporter_<name>{component} value` families over `rows`, one sample
/// per row; nothing when there are no rows.
fn write_exporter_families<T>(
    out: &mut String,
    families: &[Family<T>],
    rows: &[T],
    component: fn(&T) -> &str,
) {
    if rows.is_empty() {
        return;
    }
    for (name, kind, help, value) in families {
        let name = format!("llamacol_exporter_{name}");
        write_family(out, &name, kind, help);
        for row in rows {
            write_sample(out, &name, [("component", component(row))], value(row));
        }
    }
}

/// Whether outcome `i` is one this scope produces (so zero values are still shown).
fn applies(scope: &Scope, i: usize) -> bool {
    match (scope.kind, scope.pipeline.is_some()) {
        (Kind::Exporter, false) => i >= 2,
        _ => i < 2,
    }
}

/// An attribute name as a Prometheus label name: what is not `[a-zA-Z0-9_]` becomes `_`.
fn label_name(key: &str) -> String {
    key.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}
