//! Extensions: components outside pipelines that others use by id (the Collector's
//! model), such as a storage for persistent exporter queues or a health endpoint.

use std::sync::Arc;

use async_trait::async_trait;

use crate::component::ComponentId;
use crate::config::ConfigSpec;
use crate::consumer::BoxError;
use crate::runtime::QueueStorage;
use crate::telemetry::Telemetry;

/// What an extension's build function is told: its id, and the service status a health
/// endpoint reports.
#[derive(Clone)]
pub struct ExtensionContext {
    pub id: ComponentId,
    pub status: ServiceStatus,
}

/// Whether the pipelines are running: true once every component started, false again
/// as soon as shutdown begins.
#[derive(Clone)]
pub struct ServiceStatus(Arc<Telemetry>);

impl ServiceStatus {
    pub fn new(telemetry: Arc<Telemetry>) -> ServiceStatus {
        ServiceStatus(telemetry)
    }

    pub fn is_running(&self) -> bool {
        self.0.is_ready()
    }

    /// Since when the pipelines have been running; `None` while they are not.
    pub fn running_since(&self) -> Option<std::time::SystemTime> {
        self.0.ready_since()
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
