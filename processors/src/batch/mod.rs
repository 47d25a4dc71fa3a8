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
use std::collections::BTreeMap;

use llamacol_api::client_metadata::{ClientMetadata, Metadata};
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
        signal,
        parts: BTreeMap::new(),
        closing: false,
    };
    Ok(Arc::new(StatefulProcessor::new(
        ctx.id.to_string(),
        Box::new(state),
        INBOX,
        next,
        ctx.dropped.clone(),
    )))
}

/// What the batch processor holds: per partition (one, or one per combination of
/// `metadata_keys` values), items grouped by resource and scope, and when the first of
/// them must leave.
struct Pending {
    config: BatchConfig,
    signal: llamacol_api::Signal,
    parts: BTreeMap<ClientMetadata, Part>,
    /// Shutdown: `flush` gives up everything, whatever the deadlines.
    closing: bool,
}

struct Part {
    /// What the partition's batches carry on: the `metadata_keys` values (none without).
    metadata: Metadata,
    groups: Groups,
    deadline: Option<Instant>,
}

impl Part {
    /// One batch of at most `max` items (0: everything) and `max_bytes` (0: no bound).
    fn take(&mut self, max: usize, max_bytes: usize) -> Option<Batch> {
        let (bytes, items) = self.groups.take(max, max_bytes);
        if self.groups.is_empty() {
            self.deadline = None;
        }
        if items == 0 {
            return None;
        }
        let mut batch = Batch::from_encoded_parts(self.groups.signal(), bytes, items);
        batch.set_metadata(self.metadata.clone());
        Some(batch)
    }
}

impl Pending {
    /// The partition of `batch`: by its `metadata_keys` values.
    fn part(&mut self, batch: &Batch) -> Result<&mut Part, BoxError> {
        let keys = &self.config.metadata_keys;
        let key = match (keys.is_empty(), batch.metadata()) {
            (true, _) => ClientMetadata::default(),
            (false, Some(m)) => m.only(keys),
            (false, None) => ClientMetadata::default(),
        };
        if !self.parts.contains_key(&key)
            && self.parts.len() >= self.config.metadata_cardinality_limit
        {
            return Err(format!(
                "more than {} combinations of metadata_keys values are pending (`metadata_cardinality_limit`); refused",
                self.config.metadata_cardinality_limit
            )
            .into());
        }
        let metadata = (!keys.is_empty()).then(|| Arc::new(key.clone()));
        let signal = self.signal;
        Ok(self.parts.entry(key).or_insert_with(|| Part {
            metadata,
            groups: Groups::new(signal),
            deadline: None,
        }))
    }

    /// The next batch from the first partition `pick` chooses, dropping emptied ones.
    fn take_from(&mut self, pick: impl Fn(&Part) -> Option<usize>) -> Option<Batch> {
        let max_bytes = self.config.send_batch_max_bytes.0 as usize;
        let (key, max) = self
            .parts
            .iter()
            .find_map(|(k, p)| pick(p).map(|max| (k.clone(), max)))?;
        let part = self.parts.get_mut(&key)?;
        let batch = part.take(max, max_bytes);
        if part.groups.is_empty() {
            self.parts.remove(&key);
        }
        batch
    }
}

impl State for Pending {
    fn add(&mut self, mut batch: Batch) -> Result<(), BoxError> {
        let timeout = self.config.timeout;
        let part = self.part(&batch)?;
        // Merging works on the encoded bytes: nothing is decoded.
        part.groups.add(&batch.bytes())?;
        if part.deadline.is_none() && !part.groups.is_empty() {
            part.deadline = Some(Instant::now() + timeout);
        }
        Ok(())
    }

    /// A full batch of `send_batch_size` (capped by `send_batch_max_size`), or of
    /// `send_batch_max_bytes` when that many bytes are pending first.
    fn ready(&mut self) -> Option<Batch> {
        let size = self.config.send_batch_size;
        let max_size = self.config.send_batch_max_size;
        let max_bytes = self.config.send_batch_max_bytes.0 as usize;
        self.take_from(|p| {
            if max_bytes > 0 && p.groups.bytes() >= max_bytes {
                return Some(max_size);
            }
            if size == 0 || p.groups.items() < size {
                return None;
            }
            Some(match max_size {
                0 => size,
                m => size.min(m),
            })
        })
    }

    /// What is due (every partition at shutdown), in batches of at most
    /// `send_batch_max_size`.
    fn flush(&mut self) -> Option<Batch> {
        let (now, closing, max) = (
            Instant::now(),
            self.closing,
            self.config.send_batch_max_size,
        );
        self.take_from(|p| (closing || p.deadline.is_some_and(|d| d <= now)).then_some(max))
    }

    fn deadline(&self) -> Option<Instant> {
        self.parts.values().filter_map(|p| p.deadline).min()
    }

    fn items(&self) -> usize {
        self.parts.values().map(|p| p.groups.items()).sum()
    }

    fn closing(&mut self) {
        self.closing = true;
    }
}

#[cfg(test)]
mod tests;
