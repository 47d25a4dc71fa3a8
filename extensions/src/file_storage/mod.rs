//! `file_storage` extension: persistent exporter queues on local disk, named by an
//! exporter's `sending_queue.storage`. Each exporter gets its own subdirectory of
//! `directory` (`exporter-<type>` or `exporter-<type>+<name>`) holding segment files,
//! the delivered position and a lock. See `queue.rs` for the format and guarantees.

mod config;
mod position;
mod queue;
mod record;
mod state;

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use llamacol_api::component::Kind;
use llamacol_api::config::{parse_block, ConfigSpec};
use llamacol_api::queue::{Queue, QueueSpec, QueueStorage};
use llamacol_api::serde_yaml::Value;
use llamacol_api::storage::{KeyValueStorage, StorageClient};
use llamacol_api::task::Background;
use llamacol_api::{BoxError, ComponentId, Extension, ExtensionContext, ExtensionFactory};

pub use config::{FileStorageConfig, Fsync};
pub use queue::{Options, PersistentQueue};

pub fn factory() -> ExtensionFactory {
    ExtensionFactory {
        type_name: "file_storage",
        config: ConfigSpec::of::<FileStorageConfig>(),
        storage: true,
        authenticator: false,
        build,
    }
}

fn build(ctx: &ExtensionContext, block: &Value) -> Result<Arc<dyn Extension>, BoxError> {
    Ok(Arc::new(FileStorage {
        id: ctx.id.clone(),
        config: parse_block::<FileStorageConfig>(block)?,
        queues: Mutex::new(Vec::new()),
        ticker: Background::new(),
    }))
}

pub struct FileStorage {
    id: ComponentId,
    config: FileStorageConfig,
    queues: Mutex<Vec<Arc<queue::Inner>>>,
    ticker: Background,
}

impl FileStorage {
    fn queues(&self) -> Vec<Arc<queue::Inner>> {
        self.queues
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    async fn sync_all(queues: Vec<Arc<queue::Inner>>, id: &ComponentId) {
        let synced =
            tokio::task::spawn_blocking(move || queues.iter().try_for_each(|q| q.sync())).await;
        match synced {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(component = %id, error = %e, "fsync of the persistent queue failed; a power loss now could lose recent batches")
            }
            Err(e) => tracing::warn!(component = %id, error = %e, "fsync task failed"),
        }
    }
}

impl FileStorage {
    /// `directory`, created when missing and `create_directory` allows it.
    fn base(&self) -> Result<&Path, BoxError> {
        let base = Path::new(&self.config.directory);
        if !base.is_dir() {
            if !self.config.create_directory {
                return Err(format!(
                    "extension `{}`: directory `{}` does not exist; create it, or set `create_directory: true`",
                    self.id, self.config.directory
                )
                .into());
            }
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            {
                use std::os::unix::fs::DirBuilderExt;
                builder.mode(self.config.permissions());
            }
            builder.create(base).map_err(|e| {
                format!(
                    "extension `{}`: cannot create `{}`: {e}",
                    self.id, self.config.directory
                )
            })?;
        }
        Ok(base)
    }
}

impl QueueStorage for FileStorage {
    fn open_queue(&self, spec: &QueueSpec) -> Result<Arc<dyn Queue>, BoxError> {
        let dir = self.base()?.join(subdirectory(Kind::Exporter, &spec.owner));
        let options = Options {
            fsync: self.config.fsync,
            segment_size: self.config.segment_size_mib.saturating_mul(1024 * 1024),
            lock_timeout: self.config.timeout,
        };
        let queue = PersistentQueue::open(&dir, options, spec)
            .map_err(|e| format!("persistent queue in `{}`: {e}", dir.display()))?;
        self.queues
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(queue.inner());
        Ok(Arc::new(queue))
    }
}

#[async_trait]
impl Extension for FileStorage {
    async fn start(&self) -> Result<(), BoxError> {
        if self.config.fsync != Fsync::Interval {
            return Ok(());
        }
        let queues = self.queues();
        let id = self.id.clone();
        let every = self.config.fsync_interval;
        self.ticker.spawn(|cancel| async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => FileStorage::sync_all(queues.clone(), &id).await,
                    () = cancel.cancelled() => return,
                }
            }
        });
        Ok(())
    }

    /// Runs after every exporter drained: the final fsync (except with `fsync: never`).
    async fn shutdown(&self) -> Result<(), BoxError> {
        self.ticker.stop().await;
        if self.config.fsync != Fsync::Never {
            FileStorage::sync_all(self.queues(), &self.id).await;
        }
        Ok(())
    }

    fn storage(&self) -> Option<&dyn QueueStorage> {
        Some(self)
    }

    fn key_value_storage(&self) -> Option<&dyn KeyValueStorage> {
        Some(self)
    }
}

impl KeyValueStorage for FileStorage {
    fn client(&self, kind: Kind, id: &ComponentId) -> Result<Arc<dyn StorageClient>, BoxError> {
        let dir = self.base()?.join(subdirectory(kind, id));
        Ok(Arc::new(state::StateDir::open(dir)?))
    }
}

/// One directory per component (`exporter-otlp`, `receiver-filelog+app`); `+` cannot
/// appear in an id, so no two ids share one.
fn subdirectory(kind: Kind, owner: &ComponentId) -> String {
    match &owner.name {
        Some(name) => format!("{kind}-{}+{name}", owner.type_name),
        None => format!("{kind}-{}", owner.type_name),
    }
}

#[cfg(test)]
mod tests;
