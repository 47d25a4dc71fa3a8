//! `memory_limiter` processor: refuses data with a retryable error while the process uses
//! more memory than its soft limit (hard limit minus spike headroom), so OTLP clients back
//! off and retry instead of the collector growing until it is killed. It never drops
//! accepted data; the pipeline wrapper counts every refusal.

mod config;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use llamacol_api::config::{parse_block, ConfigSpec};
use llamacol_api::serde_yaml::Value;
use llamacol_api::{
    Batch, BoxError, BuildContext, ConsumeError, Consumer, Processor, ProcessorFactory, Signal,
};
use tokio::task::JoinHandle;

pub use config::{Limits, MemoryLimiterConfig};
use llamacol_api::memory;
pub use llamacol_api::memory::{parse_cgroup_limit, parse_meminfo_total, parse_status_rss};

pub fn factory() -> ProcessorFactory {
    ProcessorFactory {
        type_name: "memory_limiter",
        signals: &Signal::ALL,
        config: ConfigSpec::of::<MemoryLimiterConfig>(),
        build,
    }
}

fn build(
    ctx: &BuildContext,
    block: &Value,
    next: Arc<dyn Consumer>,
) -> Result<Arc<dyn Processor>, BoxError> {
    let config = parse_block::<MemoryLimiterConfig>(block)?;
    let total = memory::memory_total(std::path::Path::new("/"));
    let limits = config.limits(total.as_ref().map(|t| t.bytes))?;
    tracing::info!(
        component = %ctx.id,
        hard_limit_mib = limits.hard >> 20,
        soft_limit_mib = limits.soft >> 20,
        total_mib = total.as_ref().map_or(0, |t| t.bytes >> 20),
        total_from = total.as_ref().map_or("unknown", |t| t.source.as_str()),
        "memory limits"
    );
    Ok(Arc::new(MemoryLimiter::new(
        ctx.id.to_string(),
        config,
        limits,
        next,
        Arc::new(memory::resident_bytes),
    )))
}

/// Reads the memory use to compare against the limits (the process RSS; tests fake it).
pub type UsageReader = Arc<dyn Fn() -> Option<u64> + Send + Sync>;

pub struct MemoryLimiter {
    id: String,
    config: MemoryLimiterConfig,
    limits: Limits,
    next: Arc<dyn Consumer>,
    read: UsageReader,
    state: Arc<State>,
    task: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Default)]
struct State {
    refusing: AtomicBool,
    usage: AtomicU64,
}

#[derive(Debug, thiserror::Error)]
#[error("memory limiter `{id}`: using {usage_mib} MiB, above the soft limit of {soft_mib} MiB; retry later")]
struct OverLimit {
    id: String,
    usage_mib: u64,
    soft_mib: u64,
}

impl MemoryLimiter {
    pub fn new(
        id: String,
        config: MemoryLimiterConfig,
        limits: Limits,
        next: Arc<dyn Consumer>,
        read: UsageReader,
    ) -> Self {
        MemoryLimiter {
            id,
            config,
            limits,
            next,
            read,
            state: Arc::new(State::default()),
            task: Mutex::new(None),
        }
    }

    /// Reads memory use once and updates whether data is refused; logs state changes.
    fn check(id: &str, limits: Limits, read: &UsageReader, state: &State) {
        let Some(usage) = read() else { return };
        state.usage.store(usage, Ordering::Relaxed);
        let over = usage > limits.soft;
        let was = state.refusing.swap(over, Ordering::SeqCst);
        if over && !was {
            tracing::warn!(component = %id, usage_mib = usage >> 20, soft_limit_mib = limits.soft >> 20, hard_limit_mib = limits.hard >> 20, "memory above the soft limit: refusing data until it drops");
        } else if !over && was {
            tracing::info!(component = %id, usage_mib = usage >> 20, "memory back below the soft limit: accepting data");
        }
    }
}

#[async_trait]
impl Consumer for MemoryLimiter {
    async fn consume(&self, batch: Batch) -> Result<(), ConsumeError> {
        if self.state.refusing.load(Ordering::SeqCst) {
            return Err(ConsumeError::retryable(OverLimit {
                id: self.id.clone(),
                usage_mib: self.state.usage.load(Ordering::Relaxed) >> 20,
                soft_mib: self.limits.soft >> 20,
            }));
        }
        self.next.consume(batch).await
    }
}

#[async_trait]
impl Processor for MemoryLimiter {
    async fn start(&self) -> Result<(), BoxError> {
        Self::check(&self.id, self.limits, &self.read, &self.state);
        let (id, limits, read, state, every) = (
            self.id.clone(),
            self.limits,
            self.read.clone(),
            self.state.clone(),
            self.config.check_interval,
        );
        let task = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(every);
            loop {
                ticker.tick().await;
                Self::check(&id, limits, &read, &state);
            }
        });
        *self.task.lock().unwrap_or_else(PoisonError::into_inner) = Some(task);
        Ok(())
    }

    async fn shutdown(&self) -> Result<(), BoxError> {
        if let Some(task) = self
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            task.abort();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
