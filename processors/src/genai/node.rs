//! What `node_context: true` adds to GenAI spans: to their resource, the llama.cpp
//! server that answered (its model and build) and this node's GPUs (built from the node
//! context's snapshot and kept until the snapshot's version moves); to each span, what
//! the GPUs went through while it ran (the node's GPU timeline).

use std::sync::{Arc, Mutex, PoisonError};

use llamacol_api::gpu_timeline::{throttle_reason_names, GpuTimeline, HELD_BACK};
use llamacol_api::node::{LlamaServer, NodeContext, NodeSnapshot};
use llamacol_api::otlp::common::v1::{any_value::Value, AnyValue, ArrayValue, KeyValue};

use super::normalize::{get, get_str, has, Attrs};
use super::values::{int_of, strings};

/// A span's `server.address` / `server.port`.
pub struct Endpoint {
    address: String,
    port: Option<i64>,
}

impl Endpoint {
    pub fn of(attrs: &impl Attrs) -> Option<Endpoint> {
        let address = loopback(&get_str(attrs, "server.address")?).to_string();
        let port = get(attrs, "server.port").and_then(|v| int_of(&v));
        Some(Endpoint { address, port })
    }

    fn matches(&self, server: &LlamaServer) -> bool {
        self.address == loopback(&server.address)
            && self.port.is_none_or(|p| p == i64::from(server.port))
    }
}

/// `localhost` and `::1` name the same server as 127.0.0.1.
fn loopback(address: &str) -> &str {
    match address {
        "localhost" | "::1" | "[::1]" => "127.0.0.1",
        other => other,
    }
}

pub struct NodeResource {
    node: NodeContext,
    /// What the GPUs went through (the `nvml` receiver records it).
    timeline: Arc<GpuTimeline>,
    /// The snapshot the GPU attributes were built from, and them.
    cache: Mutex<(u64, Arc<Vec<KeyValue>>)>,
}

impl NodeResource {
    pub fn context(&self) -> &NodeContext {
        &self.node
    }

    pub fn new(node: NodeContext) -> NodeResource {
        NodeResource {
            timeline: node.shared::<GpuTimeline>(),
            node,
            cache: Mutex::new((u64::MAX, Arc::new(Vec::new()))),
        }
    }

    /// Adds the server matched by `endpoint` (else the only one) and the GPUs to a
    /// resource, leaving attributes it already has alone.
    pub fn add_to(&self, resource: &mut Vec<KeyValue>, endpoint: Option<&Endpoint>) {
        let snapshot = self.node.snapshot();
        let servers = &snapshot.llama_servers;
        let server = match endpoint {
            Some(e) => servers.values().find(|s| e.matches(s)),
            None => None,
        }
        .or_else(|| {
            (servers.len() == 1)
                .then(|| servers.values().next())
                .flatten()
        });
        if let Some(server) = server {
            for (key, value) in [
                ("llamacpp.model", &server.model),
                ("llamacpp.build", &server.build),
            ] {
                if let Some(v) = value {
                    if !has(resource, key) {
                        resource.add(key, Value::StringValue(v.clone()));
                    }
                }
            }
        }
        for kv in self.gpus(&snapshot).iter() {
            if !has(resource, &kv.key) {
                Vec::push(resource, kv.clone());
            }
        }
    }

    /// Adds to a GenAI span what the node's GPUs went through while it ran: the hottest
    /// reading, the most memory used, every throttle reason and XID. Node-wide (the
    /// worst over the GPUs): which GPU served a request is not known here.
    /// The GPU events the span overlapped are marked with `trace_id` (the live page).
    pub fn add_gpu_during(
        &self,
        attrs: &mut impl Attrs,
        (start, end): (u64, u64),
        trace_id: &[u8],
        span_id: &[u8],
    ) {
        let Some(during) = self.timeline.during(start, end, trace_id, span_id) else {
            return;
        };
        let mut add = |key: &str, value: Value| {
            if !has(attrs, key) {
                attrs.add(key, value);
            }
        };
        if let Some(c) = during.temperature_max_c {
            add("nvml.gpu.temperature.max", Value::IntValue(i64::from(c)));
        }
        if let Some(b) = during.memory_used_max_bytes {
            let bytes = i64::try_from(b).unwrap_or(i64::MAX);
            add("nvml.gpu.memory.used.max", Value::IntValue(bytes));
        }
        // The reasons that held a GPU back (an idle GPU beside a busy one says nothing).
        let reasons = throttle_reason_names(during.throttle_reasons & HELD_BACK);
        if !reasons.is_empty() {
            add(
                "nvml.gpu.throttle_reasons",
                strings(reasons.into_iter().map(String::from)),
            );
        }
        if !during.xids.is_empty() {
            let values = during.xids.iter().map(|x| AnyValue {
                value: Some(Value::IntValue(i64::try_from(*x).unwrap_or(i64::MAX))),
            });
            add(
                "nvml.gpu.xids",
                Value::ArrayValue(ArrayValue {
                    values: values.collect(),
                }),
            );
        }
    }

    fn gpus(&self, snapshot: &NodeSnapshot) -> Arc<Vec<KeyValue>> {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.0 != snapshot.version {
            let gpus = &snapshot.gpus;
            let built = if gpus.is_empty() {
                Vec::new()
            } else {
                let mut built = Vec::new();
                built.add("hw.gpu.ids", strings(gpus.iter().map(|g| g.uuid.clone())));
                built.add(
                    "hw.gpu.models",
                    strings(gpus.iter().map(|g| g.model.clone())),
                );
                built
            };
            *cache = (snapshot.version, Arc::new(built));
        }
        cache.1.clone()
    }
}
