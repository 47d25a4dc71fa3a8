//! `batch` processor: the Collector's semantics. Items are grouped by resource and scope
//! (no duplicated resource blocks), sent when `send_batch_size` is reached or `timeout`
//! after the first pending item, split at `send_batch_max_size`, and flushed on shutdown.
//!
//! It runs on the pipeline's stateful-processor worker (`pipeline::stateful`): a bounded
//! inbox whose send is the backpressure, then delivery downstream retried while the next
//! stage refuses retryably, or counted as dropped (permanent refusal, shutdown deadline);
//! never lost silently. This module supplies only what is pending and when it leaves.

mod config;

use std::sync::Arc;

use llamacol_api::config::{parse_block, ConfigSpec};
use llamacol_api::serde_yaml::Value;
use llamacol_api::stateful::{State, StatefulProcessor};
use llamacol_api::{Batch, BoxError, BuildContext, Consumer, Processor, ProcessorFactory, Signal};
use tokio::time::Instant;

pub use config::BatchConfig;
pub use llamacol_api::groups::Groups;

/// Batches waiting in the inbox before `consume` has to wait. Memory outside any queue
/// bound while the next stage waits (16 requests of 500 spans are about 3 MiB); 64 cost
/// 9-14 MiB more peak RSS behind a slow backend for no throughput (BENCHMARKS.md).
const INBOX: usize = 16;

pub fn factory() -> ProcessorFactory {
    ProcessorFactory {
        type_name: "batch",
        signals: &Signal::ALL,
        config: ConfigSpec::of::<BatchConfig>(),
        build,
    }
}

fn build(
    ctx: &BuildContext,
    block: &Value,
    next: Arc<dyn Consumer>,
) -> Result<Arc<dyn Processor>, BoxError> {
    let config = parse_block::<BatchConfig>(block)?;
    let signal = *ctx
        .signals
        .first()
        .ok_or("a batch processor needs a signal")?;
    let state = Pending {
        config,
        groups: Groups::new(signal),
        deadline: None,
    };
    Ok(Arc::new(StatefulProcessor::new(
        ctx.id.to_string(),
        Box::new(state),
        INBOX,
        next,
        ctx.dropped.clone(),
    )))
}

/// What the batch processor holds: items grouped by resource and scope, and when the
/// first of them must leave.
struct Pending {
    config: BatchConfig,
    groups: Groups,
    deadline: Option<Instant>,
}

impl Pending {
    /// One batch of at most `max` items (0: everything) and `send_batch_max_bytes`.
    fn take(&mut self, max: usize) -> Option<Batch> {
        let (bytes, items) = self
            .groups
            .take(max, self.config.send_batch_max_bytes.0 as usize);
        if items == 0 {
            self.deadline = None;
            return None;
        }
        Some(Batch::from_encoded_parts(
            self.groups.signal(),
            bytes,
            items,
        ))
    }
}

impl State for Pending {
    fn add(&mut self, mut batch: Batch) -> Result<(), BoxError> {
        // Merging works on the encoded bytes: nothing is decoded.
        self.groups.add(&batch.bytes())?;
        if self.deadline.is_none() && !self.groups.is_empty() {
            self.deadline = Some(Instant::now() + self.config.timeout);
        }
        Ok(())
    }

    /// A full batch of `send_batch_size` (capped by `send_batch_max_size`), or of
    /// `send_batch_max_bytes` when that many bytes are pending first.
    fn ready(&mut self) -> Option<Batch> {
        let size = self.config.send_batch_size;
        let max_bytes = self.config.send_batch_max_bytes.0 as usize;
        if max_bytes > 0 && self.groups.bytes() >= max_bytes {
            return self.take(self.config.send_batch_max_size);
        }
        if size == 0 || self.groups.items() < size {
            if self.groups.is_empty() {
                self.deadline = None;
            }
            return None;
        }
        let max = match self.config.send_batch_max_size {
            0 => size,
            m => size.min(m),
        };
        self.take(max)
    }

    /// Everything pending, in batches of at most `send_batch_max_size`.
    fn flush(&mut self) -> Option<Batch> {
        self.take(self.config.send_batch_max_size)
    }

    fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    fn items(&self) -> usize {
        self.groups.items()
    }
}

#[cfg(test)]
mod tests;
