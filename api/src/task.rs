//! A component's background task (a server, a ticker): spawned at start, stopped at
//! shutdown by cancelling it and waiting until it has finished.

use std::future::Future;
use std::sync::{Mutex, PoisonError};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

#[derive(Default)]
pub struct Background {
    cancel: CancellationToken,
    handle: Mutex<Option<JoinHandle<()>>>,
}

impl Background {
    pub fn new() -> Background {
        Background::default()
    }

    /// Spawns `task`, handing it the token it must return on once cancelled.
    pub fn spawn<F, Fut>(&self, task: F)
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let handle = tokio::spawn(task(self.cancel.clone()));
        *self.handle.lock().unwrap_or_else(PoisonError::into_inner) = Some(handle);
    }

    /// Cancels the task and waits for it to end (at once if none was spawned).
    pub async fn stop(&self) {
        self.cancel.cancel();
        let handle = self
            .handle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(handle) = handle {
            let _ = handle.await;
        }
    }
}
