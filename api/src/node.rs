//! Node context: a small typed board where components publish what they discovered about
//! this node (llama.cpp servers, GPUs) and others read the latest values, without one
//! component depending on another. Writes are rare (a scrape that saw a change) and copy
//! the board; reads clone one `Arc` under a lock held for nanoseconds, so the data path
//! never waits on a publisher.

use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

/// This machine's host name (empty when it cannot be read).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

/// A llama.cpp server a receiver scrapes, as its `/props` describes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LlamaServer {
    /// The scraped base URL, e.g. `http://127.0.0.1:8080`.
    pub endpoint: String,
    /// Host and port of that URL, to match spans' `server.address` / `server.port`.
    pub address: String,
    pub port: u16,
    /// The model the server loaded (its alias, else the file path).
    pub model: Option<String>,
    /// llama.cpp build, e.g. `b6745-5f7e1d3`.
    pub build: Option<String>,
    pub context_size: Option<i64>,
    pub slots: Option<i64>,
}

/// A GPU of this node.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Gpu {
    pub index: u32,
    /// NVML's UUID (`GPU-...`), the semantic conventions' `hw.id`.
    pub uuid: String,
    /// Product name, e.g. `NVIDIA H200`.
    pub model: String,
    /// Total memory in bytes, when known.
    pub memory_bytes: Option<u64>,
}

/// What the board holds at one moment. `version` grows with every change, so a reader
/// can keep what it derived from a snapshot until the version moves.
#[derive(Debug, Clone, Default)]
pub struct NodeSnapshot {
    pub version: u64,
    /// By endpoint.
    pub llama_servers: BTreeMap<String, LlamaServer>,
    pub gpus: Vec<Gpu>,
}

/// Shared by every component of one running service (cloned into each `BuildContext`).
#[derive(Debug, Clone, Default)]
pub struct NodeContext {
    board: Arc<RwLock<Arc<NodeSnapshot>>>,
    alerts: Arc<Mutex<Alerts>>,
    live: Arc<crate::live::Live>,
    shared: Arc<Mutex<Shared>>,
}

/// One value per type, for the instances of a component type to share (every
/// `genai_metrics` connector adds to one GenAI panel).
#[derive(Default)]
struct Shared(HashMap<TypeId, Arc<dyn Any + Send + Sync>>);

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} shared values", self.0.len())
    }
}

/// What components report beyond the pipeline counters: alerting components' current
/// alerts (the admin server's `/debug/alerts`), and per-target counters (alert
/// notifications per target, exporter items per backend) rendered at `/metrics`.
#[derive(Debug, Default)]
struct Alerts {
    by_component: BTreeMap<String, serde_json::Value>,
    targets: Vec<(TargetFamily, String, String, Arc<TargetCounters>)>,
}

/// A family of per-target counters a component contributes to `/metrics`, rendered
/// `metric{component, <label>=target, outcome}` with the outcomes in the order of
/// [`TargetCounters`]' fields. A component declares its families as constants; the
/// engine renders whatever families were counted, by metric name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetFamily {
    /// The metric name (`llamacol_..._total`).
    pub metric: &'static str,
    /// The label naming the target (`target`, `backend`, `server`, `protocol`).
    pub label: &'static str,
    pub help: &'static str,
    /// The `outcome` values of `sent`, `failed`, `dropped`, as many as the family uses.
    pub outcomes: &'static [&'static str],
}

/// What one component sent to one target.
#[derive(Debug, Default)]
pub struct TargetCounters {
    /// Delivered (the target answered with success).
    pub sent: AtomicU64,
    /// Not delivered there: given up on after retries (alerts), or routed elsewhere or
    /// retried (backends).
    pub failed: AtomicU64,
    /// Not attempted: the notification queue was full (a firing alert is sent again at
    /// the next `resend_delay`).
    pub dropped: AtomicU64,
}

impl TargetCounters {
    pub fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }
}

impl NodeContext {
    pub fn new() -> NodeContext {
        NodeContext::default()
    }

    /// The live page's board: ring buffers of what components read (GPUs, llama.cpp
    /// targets, GenAI totals, recent traces).
    pub fn live(&self) -> &crate::live::Live {
        &self.live
    }

    /// The one `T` of this service, made on first use: state the instances of a component
    /// type share (declare a type of your own, so no one else reaches it).
    pub fn shared<T: Default + Send + Sync + 'static>(&self) -> Arc<T> {
        let mut shared = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        let value = shared
            .0
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Arc::new(T::default()));
        match value.clone().downcast::<T>() {
            Ok(v) => v,
            // Keyed by the type itself: always that type.
            Err(_) => Arc::new(T::default()),
        }
    }

    /// The latest values.
    pub fn snapshot(&self) -> Arc<NodeSnapshot> {
        self.board
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Records a server's latest description; a no-op when nothing changed.
    pub fn publish_llama_server(&self, server: LlamaServer) {
        self.update(|board| {
            if board.llama_servers.get(&server.endpoint) == Some(&server) {
                return false;
            }
            board.llama_servers.insert(server.endpoint.clone(), server);
            true
        });
    }

    /// Records this node's GPUs (the whole list); a no-op when nothing changed.
    pub fn publish_gpus(&self, gpus: Vec<Gpu>) {
        self.update(|board| {
            if board.gpus == gpus {
                return false;
            }
            board.gpus = gpus;
            true
        });
    }

    /// Replaces what `component` reports as its current alerts (a JSON array).
    pub fn publish_alerts(&self, component: &str, alerts: serde_json::Value) {
        self.alerts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .by_component
            .insert(component.to_string(), alerts);
    }

    /// Every component's current alerts: `{component: [...]}`.
    pub fn alerts(&self) -> serde_json::Value {
        let alerts = self.alerts.lock().unwrap_or_else(PoisonError::into_inner);
        serde_json::Value::Object(
            alerts
                .by_component
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    }

    /// The counters of `component` for `target` in `family`, created on first use.
    pub fn target_counters(
        &self,
        family: TargetFamily,
        component: &str,
        target: &str,
    ) -> Arc<TargetCounters> {
        let mut alerts = self.alerts.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, _, _, c)) = alerts
            .targets
            .iter()
            .find(|(f, c, t, _)| *f == family && c == component && t == target)
        {
            return c.clone();
        }
        let c = Arc::new(TargetCounters::default());
        alerts
            .targets
            .push((family, component.to_string(), target.to_string(), c.clone()));
        c
    }

    /// `(family, component, target, [sent, failed, dropped])` for every target counted.
    pub fn target_snapshot(&self) -> Vec<(TargetFamily, String, String, [u64; 3])> {
        let alerts = self.alerts.lock().unwrap_or_else(PoisonError::into_inner);
        alerts
            .targets
            .iter()
            .map(|(family, component, target, c)| {
                let read = |a: &AtomicU64| a.load(Ordering::Relaxed);
                (
                    *family,
                    component.clone(),
                    target.clone(),
                    [read(&c.sent), read(&c.failed), read(&c.dropped)],
                )
            })
            .collect()
    }

    fn update(&self, change: impl FnOnce(&mut NodeSnapshot) -> bool) {
        let mut guard = self.board.write().unwrap_or_else(PoisonError::into_inner);
        let mut next = NodeSnapshot::clone(&guard);
        if change(&mut next) {
            next.version += 1;
            *guard = Arc::new(next);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_see_the_latest_values_and_versions_move_only_on_change() {
        let node = NodeContext::new();
        let before = node.snapshot();
        assert_eq!(before.version, 0);
        let server = LlamaServer {
            endpoint: "http://127.0.0.1:8080".into(),
            address: "127.0.0.1".into(),
            port: 8080,
            model: Some("qwen".into()),
            ..Default::default()
        };
        node.publish_llama_server(server.clone());
        node.publish_llama_server(server.clone());
        let gpus = vec![Gpu {
            index: 0,
            uuid: "GPU-1".into(),
            model: "NVIDIA H200".into(),
            memory_bytes: Some(1 << 30),
        }];
        node.publish_gpus(gpus.clone());
        node.publish_gpus(gpus.clone());
        let after = node.snapshot();
        assert_eq!(after.version, 2, "two changes, two repeats");
        assert_eq!(after.llama_servers["http://127.0.0.1:8080"], server);
        assert_eq!(after.gpus, gpus);
        assert_eq!(before.version, 0, "an old snapshot stays as it was");
    }
}
