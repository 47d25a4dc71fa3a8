//! Key-value state a component keeps across restarts (the Collector's `storage.Client`):
//! a storage extension (`file_storage`) gives each component its own namespace, and a
//! component names the extension in its config (`storage: file_storage`), as `filelog`
//! does for its file offsets.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;

use crate::component::{ComponentId, Kind};
use crate::consumer::BoxError;
use crate::extension::Extension;

/// One component's keys.
#[async_trait]
pub trait StorageClient: Send + Sync {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BoxError>;
    /// Replaces the value whole; when this returns, the value survives `kill -9` and a
    /// power loss, and a crash during the call leaves the old value or the new, never a
    /// mix.
    async fn set(&self, key: &str, value: &[u8]) -> Result<(), BoxError>;
    async fn delete(&self, key: &str) -> Result<(), BoxError>;
}

/// What a storage extension offers components.
pub trait KeyValueStorage: Send + Sync {
    /// The namespace of component `id` of `kind` (the same one on every start).
    fn client(&self, kind: Kind, id: &ComponentId) -> Result<Arc<dyn StorageClient>, BoxError>;
}

/// The running storage extensions by id, for build functions.
#[derive(Clone, Default)]
pub struct Storages(Arc<BTreeMap<String, Arc<dyn Extension>>>);

impl std::fmt::Debug for Storages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

impl Storages {
    /// Every running extension by id; those that keep no key-value state are skipped.
    pub fn new(by_id: BTreeMap<String, Arc<dyn Extension>>) -> Storages {
        Storages(Arc::new(by_id))
    }

    /// The client of `kind` `id` in the storage extension `storage` names. The config
    /// check made sure it runs; a missing one here (a component built outside a service)
    /// is an error naming it.
    pub fn client(
        &self,
        storage: &str,
        kind: Kind,
        id: &ComponentId,
    ) -> Result<Arc<dyn StorageClient>, BoxError> {
        self.0
            .get(storage)
            .and_then(|e| e.key_value_storage())
            .ok_or_else(|| format!("storage `{storage}` is not a running storage extension"))?
            .client(kind, id)
    }
}
