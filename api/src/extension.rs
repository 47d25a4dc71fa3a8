//! Extensions: components outside pipelines that others use by id (the Collector's
//! model), such as a storage for persistent exporter queues or a health endpoint.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use async_trait::async_trait;

use crate::component::ComponentId;
use crate::config::ConfigSpec;
use crate::consumer::BoxError;
use crate::queue::QueueStorage;

/// What an extension's build function is told: its id, and the service status a health
/// endpoint reports.
#[derive(Clone)]
pub struct ExtensionContext {
    pub id: ComponentId,
    pub status: ServiceStatus,
    /// The service's node context: what it runs (`service_info::ServiceInfo`), the live
    /// page's board, shared values.
    pub node: crate::NodeContext,
}

/// Whether the pipelines are running: true once every component started, false again
/// as soon as shutdown begins. The engine sets it; a health endpoint reads it.
#[derive(Clone, Default)]
pub struct ServiceStatus(Arc<Readiness>);

#[derive(Default)]
struct Readiness {
    running: AtomicBool,
    /// When the service last became ready (`health_check`'s `upSince`).
    since: Mutex<Option<SystemTime>>,
}

impl ServiceStatus {
    pub fn set_running(&self, running: bool) {
        *self.0.since.lock().unwrap_or_else(PoisonError::into_inner) =
            running.then(SystemTime::now);
        self.0.running.store(running, Ordering::SeqCst);
    }

    pub fn is_running(&self) -> bool {
        self.0.running.load(Ordering::SeqCst)
    }

    /// Since when the pipelines have been running; `None` while they are not.
    pub fn running_since(&self) -> Option<SystemTime> {
        *self.0.since.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A component outside pipelines that others use by id (the Collector's extensions):
/// started before every pipeline component, shut down after them.
#[async_trait]
pub trait Extension: Send + Sync {
    async fn start(&self) -> Result<(), BoxError> {
        Ok(())
    }
    async fn shutdown(&self) -> Result<(), BoxError> {
        Ok(())
    }
    /// A storage extension (`file_storage`) opens persistent exporter queues.
    fn storage(&self) -> Option<&dyn QueueStorage> {
        None
    }
    /// An authenticator extension (`bearertokenauth`, `basicauth`) checks requests to
    /// receivers and gives exporters the header to send.
    /// Key-value state for components (`storage: <id>` in their config), for an extension
    /// that keeps it.
    fn key_value_storage(&self) -> Option<&dyn crate::storage::KeyValueStorage> {
        None
    }
    fn authenticator(&self) -> Option<Arc<dyn crate::auth::Authenticator>> {
        None
    }
}

pub type BuildExtension =
    fn(&ExtensionContext, &serde_yaml::Value) -> Result<Arc<dyn Extension>, BoxError>;

/// An extension type. `storage` says whether exporters may name it in
/// `sending_queue.storage`, `authenticator` whether receivers and exporters may name it
/// in `auth.authenticator` (both checked when the config is validated).
#[derive(Clone, Copy)]
pub struct ExtensionFactory {
    pub type_name: &'static str,
    pub config: ConfigSpec,
    pub storage: bool,
    pub authenticator: bool,
    pub build: BuildExtension,
}
