//! Node context: a small typed board where components publish what they discovered about
//! this node (llama.cpp servers, GPUs) and others read the latest values, without one
//! component depending on another. Writes are rare (a scrape that saw a change) and copy
//! the board; reads clone one `Arc` under a lock held for nanoseconds, so the data path
//! never waits on a publisher.

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};

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
}

impl NodeContext {
    pub fn new() -> NodeContext {
        NodeContext::default()
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
