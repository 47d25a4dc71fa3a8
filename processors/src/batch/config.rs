//! `processors.batch` config: the Collector's keys and defaults.

use std::time::Duration;

use llamacol_api::config::{ByteSize, ComponentConfig, Issue};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchConfig {
    /// Send as soon as this many items (spans, data points, log records) are pending.
    /// Default 8192.
    pub send_batch_size: usize,
    /// Send what is pending this long after the first item arrived, even if fewer than
    /// `send_batch_size`. Default 200ms.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Upper bound of one sent batch; larger ones are split. 0 (default) means no bound.
    /// Metrics are split at whole metrics: one metric with more data points than this is
    /// sent on its own.
    pub send_batch_max_size: usize,
    /// Upper bound of one sent batch in encoded bytes (`4MiB`, `1000000`); a batch is
    /// also sent as soon as this many bytes are pending. 0 (default) means no bound.
    /// Not a Collector key: exporters already cut requests to the far side's limit
    /// (`max_request_size`); set this to bound batches by size for other reasons.
    pub send_batch_max_bytes: ByteSize,
    /// Client metadata keys (`include_metadata` on the receiver) whose values keep
    /// batches apart: one batcher per combination of values, and each batch sent carries
    /// those values on (for `headers_setter`). Empty (default): one batcher.
    pub metadata_keys: Vec<String>,
    /// At most this many combinations pending at once; data of a new one past it is
    /// refused. Default 1000.
    pub metadata_cardinality_limit: usize,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            send_batch_size: 8192,
            timeout: Duration::from_millis(200),
            send_batch_max_size: 0,
            send_batch_max_bytes: ByteSize(0),
            metadata_keys: Vec::new(),
            metadata_cardinality_limit: 1000,
        }
    }
}

impl ComponentConfig for BatchConfig {
    fn validate(&self) -> Vec<Issue> {
        let mut issues = Vec::new();
        if self.send_batch_max_size != 0 && self.send_batch_max_size < self.send_batch_size {
            issues.push(Issue::new(
                "send_batch_max_size",
                format!(
                    "{} is below send_batch_size ({}); make it at least that, or 0 for no bound",
                    self.send_batch_max_size, self.send_batch_size
                ),
            ));
        }
        if self.send_batch_size == 0 && self.timeout.is_zero() {
            issues.push(Issue::new(
                "timeout",
                "with send_batch_size 0 a timeout is needed, or nothing is ever sent",
            ));
        }
        issues
    }
}
