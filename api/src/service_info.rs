//! What the service runs, for the pages that show it (the `zpages` extension, or a
//! plugin's own): the engine describes its pipelines and extensions here once it has
//! built them, in the node context (`node.shared::<ServiceInfo>()`).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

#[derive(Debug, Clone)]
pub struct ServiceDescription {
    /// The collector's version.
    pub version: String,
    /// When the service was built.
    pub started: SystemTime,
    pub pipelines: Vec<PipelineDescription>,
    /// The ids of `service.extensions`, in order.
    pub extensions: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct PipelineDescription {
    /// `traces`, `metrics/gpu`, ...
    pub id: String,
    pub signal: String,
    pub receivers: Vec<String>,
    pub processors: Vec<String>,
    pub exporters: Vec<String>,
}

/// The current description (none before the service is built).
#[derive(Debug, Default)]
pub struct ServiceInfo(Mutex<Option<Arc<ServiceDescription>>>);

impl ServiceInfo {
    pub fn set(&self, description: ServiceDescription) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(description));
    }

    pub fn get(&self) -> Option<Arc<ServiceDescription>> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}
