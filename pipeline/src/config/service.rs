//! The validated configuration the runtime is built from.

use std::time::Duration;

use serde::Deserialize;
use serde_yaml::Value;

use crate::component::ComponentId;
use crate::signal::Signal;

pub use super::telemetry::TelemetryConfig;

/// A whole validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub receivers: Vec<(ComponentId, Value)>,
    pub processors: Vec<(ComponentId, Value)>,
    pub exporters: Vec<ExporterConfig>,
    /// Connectors: each an exporter of some pipelines and a receiver of others.
    pub connectors: Vec<(ComponentId, Value)>,
    pub extensions: Vec<(ComponentId, Value)>,
    pub pipelines: Vec<PipelineConfig>,
    /// `service.extensions`: the extensions that run, in start order.
    pub service_extensions: Vec<ComponentId>,
    pub telemetry: TelemetryConfig,
}

/// An exporter's block, split into the part the pipeline owns (queue and retry, the same
/// keys for every exporter, as in the Collector's exporterhelper) and the factory's part.
#[derive(Debug, Clone)]
pub struct ExporterConfig {
    pub id: ComponentId,
    pub block: Value,
    pub queue: QueueSettings,
    pub retry: RetrySettings,
}

/// Keys the pipeline takes out of every exporter block before the factory sees it.
pub const EXPORTER_KEYS: [&str; 2] = ["sending_queue", "retry_on_failure"];

/// `service.pipelines.<id>`.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// `traces`, `metrics/gpu`, ...
    pub id: String,
    pub signal: Signal,
    pub receivers: Vec<ComponentId>,
    pub processors: Vec<ComponentId>,
    pub exporters: Vec<ComponentId>,
}

/// `sending_queue` in an exporter block.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct QueueSettings {
    /// With the queue off, the exporter is called in the caller's task and its errors
    /// travel back to the receiver (retries still happen, in the caller).
    pub enabled: bool,
    /// Workers sending batches from the queue concurrently. Default 10.
    pub num_consumers: usize,
    /// Batches the queue holds, waiting or being exported. Default 1000.
    pub queue_size: usize,
    /// Also bound the queue by the batches' encoded size, in MiB, waiting or being
    /// exported. Default 64, so that no default config can grow without bound when a
    /// backend is slower than the input (1000 batches of 8192 spans are about 3 GiB).
    /// 0 bounds by `queue_size` only, as the Collector does.
    pub queue_size_mib: u64,
    /// When the queue is full, wait for room (up to `block_timeout`) instead of refusing
    /// at once: the caller (a batch processor, or a receiver's request) is held back and
    /// continues the moment a batch is delivered. After the wait the data is refused
    /// retryably (gRPC `UNAVAILABLE`, HTTP 503). Default true; the Collector's default is
    /// false (refuse at once), with no bound on the wait when true.
    pub block_on_overflow: bool,
    /// How long `block_on_overflow` waits for room. Default 5s.
    #[serde(with = "humantime_serde")]
    pub block_timeout: Duration,
    /// A storage extension's id (`file_storage`): the queue is kept on disk and survives
    /// a crash. Unset: in memory.
    pub storage: Option<String>,
    /// What `queue_size` counts: `requests` (default: batches as they arrive), `items`
    /// (spans, data points, log records) or `bytes` (encoded).
    pub sizer: Option<Sizer>,
    /// The Collector's exporter-side batching (`batch: {}` turns it on with its
    /// defaults): batches taken from the queue are merged before they are exported.
    #[serde(deserialize_with = "present_is_on")]
    pub batch: Option<QueueBatch>,
}

/// What a queue or batch size counts (`sizer`).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Sizer {
    Requests,
    Items,
    Bytes,
}

/// `sending_queue.batch`, the Collector's keys and defaults.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct QueueBatch {
    /// `enabled: false` turns batching off again (the Collector's optional blocks).
    pub enabled: bool,
    /// Export what is pending this long after it began, even below `min_size`. Default 200ms.
    #[serde(with = "humantime_serde")]
    pub flush_timeout: Duration,
    /// Export as soon as this much is pending. Default 8192.
    pub min_size: u64,
    /// Split exports above this; 0 (default): no bound.
    pub max_size: u64,
    /// `items` or `bytes`; unset: the queue's `sizer` when that is set, else `items`.
    pub sizer: Option<Sizer>,
    /// `metadata_keys`: client metadata keys whose values keep batches apart (and are
    /// carried on, for `headers_setter`).
    pub partition: Partition,
}

/// `sending_queue.batch.partition`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Partition {
    pub metadata_keys: Vec<String>,
}

impl Default for QueueBatch {
    fn default() -> Self {
        QueueBatch {
            enabled: true,
            flush_timeout: Duration::from_millis(200),
            min_size: 8192,
            max_size: 0,
            sizer: None,
            partition: Partition::default(),
        }
    }
}

/// `batch:` written with no value turns batching on with every default, its sizer
/// `items` whatever the queue's (the Collector inherits the queue's `sizer` only into a
/// written block); `enabled: false` turns it off.
fn present_is_on<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<QueueBatch>, D::Error> {
    Ok(match Option::<QueueBatch>::deserialize(d)? {
        None => Some(QueueBatch {
            sizer: Some(Sizer::Items),
            ..QueueBatch::default()
        }),
        Some(batch) => batch.enabled.then_some(batch),
    })
}

impl QueueSettings {
    /// What the queue counts.
    pub fn sizer(&self) -> Sizer {
        self.sizer.unwrap_or(Sizer::Requests)
    }

    /// What `batch.min_size`/`max_size` count: its own `sizer`, else the queue's when
    /// that is set (the Collector's rule), else items.
    pub fn batch_sizer(&self) -> Sizer {
        self.batch
            .as_ref()
            .and_then(|b| b.sizer)
            .or(self.sizer)
            .unwrap_or(Sizer::Items)
    }

    /// What the Collector refuses in these settings: (key below `sending_queue`, message).
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.num_consumers == 0 {
            out.push(("num_consumers", "must be at least 1".to_string()));
        }
        if self.queue_size == 0 {
            out.push(("queue_size", "must be at least 1".to_string()));
        }
        if self.storage.is_some() && self.sizer() == Sizer::Items {
            out.push(("sizer", "a persistent queue (`storage`) counts `requests` or `bytes`; `items` would need every stored batch decoded at start".to_string()));
        }
        let Some(batch) = &self.batch else {
            return out;
        };
        if !self.enabled {
            out.push(("batch", "batches are merged in the queue, and `enabled: false` turns the queue off; remove one of the two".to_string()));
        }
        let sizer = self.batch_sizer();
        if sizer == Sizer::Requests {
            out.push(("batch.sizer", "`batch` counts `items` or `bytes`, not `requests` (unset, it takes the queue's `sizer`)".to_string()));
        }
        let mut keys: Vec<String> = batch
            .partition
            .metadata_keys
            .iter()
            .map(|k| k.to_ascii_lowercase())
            .collect();
        keys.sort();
        if keys.windows(2).any(|w| w[0] == w[1]) {
            out.push((
                "batch.partition.metadata_keys",
                "a key is listed twice (keys are case-insensitive)".to_string(),
            ));
        }
        if batch.flush_timeout.is_zero() {
            out.push(("batch.flush_timeout", "must be above 0".to_string()));
        }
        if batch.max_size > 0 && batch.max_size < batch.min_size {
            out.push((
                "batch.max_size",
                format!(
                    "{} is below `min_size` ({}); make it at least that, or 0 for no bound",
                    batch.max_size, batch.min_size
                ),
            ));
        }
        if sizer != Sizer::Requests
            && sizer == self.sizer()
            && batch.min_size > self.queue_size as u64
        {
            out.push((
                "batch.min_size",
                format!(
                    "{} is above `queue_size` ({}): the queue could never hold a whole batch",
                    batch.min_size, self.queue_size
                ),
            ));
        }
        out
    }
}

impl Default for QueueSettings {
    fn default() -> Self {
        QueueSettings {
            enabled: true,
            num_consumers: 10,
            queue_size: 1000,
            queue_size_mib: 64,
            block_on_overflow: true,
            block_timeout: Duration::from_secs(5),
            storage: None,
            sizer: None,
            batch: None,
        }
    }
}

/// `retry_on_failure` in an exporter block: exponential backoff with jitter.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RetrySettings {
    pub enabled: bool,
    /// Wait before the first retry. Default 5s.
    #[serde(with = "humantime_serde")]
    pub initial_interval: Duration,
    /// Upper bound of one wait. Default 30s.
    #[serde(with = "humantime_serde")]
    pub max_interval: Duration,
    /// Give up (and count the batch as failed) after this long; 0 retries forever. Default 300s.
    #[serde(with = "humantime_serde")]
    pub max_elapsed_time: Duration,
    /// Each wait grows by this factor. Default 1.5.
    pub multiplier: f64,
    /// Each wait is drawn within +/- this fraction of its nominal value. Default 0.5.
    pub randomization_factor: f64,
}

impl RetrySettings {
    /// The schedule these settings describe.
    pub fn policy(&self) -> llamacol_api::backoff::BackoffPolicy {
        llamacol_api::backoff::BackoffPolicy {
            initial: self.initial_interval,
            max_interval: self.max_interval,
            multiplier: self.multiplier,
            randomization_factor: self.randomization_factor,
            max_elapsed: self.max_elapsed_time,
        }
    }
}

impl Default for RetrySettings {
    fn default() -> Self {
        RetrySettings {
            enabled: true,
            initial_interval: Duration::from_secs(5),
            max_interval: Duration::from_secs(30),
            max_elapsed_time: Duration::from_secs(300),
            multiplier: 1.5,
            randomization_factor: 0.5,
        }
    }
}
