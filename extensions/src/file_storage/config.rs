//! `file_storage` config, in the Collector's shape (`directory`, `create_directory`,
//! `fsync`), plus the segment size and fsync interval of our on-disk queue.

use std::time::Duration;

use llamacol_api::config::{ComponentConfig, Issue, Listen};
use serde::{Deserialize, Deserializer};

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FileStorageConfig {
    /// Where the queues live: one subdirectory per exporter that names this storage.
    /// Default `/var/lib/llamacol/file_storage`. Two storages never share a directory.
    pub directory: String,
    /// Create `directory` (and its parents) when missing. Default false, as in the
    /// Collector: a typo in the path is then an error at start, not a new empty queue.
    pub create_directory: bool,
    /// When written records are forced to disk (`fsync`):
    /// - `interval` (default): at least every `fsync_interval`, and on shutdown. A power
    ///   loss can lose what was acknowledged to clients in the last interval; a crash of
    ///   llamacol alone (kill -9, OOM) loses nothing, the kernel still has the writes.
    /// - `always` (or `true`): before the queue takes each batch. Nothing acknowledged is
    ///   lost on power loss; every batch costs one fsync.
    /// - `never` (or `false`, the Collector's default): the kernel decides (typically
    ///   within 30 s); a power loss can lose that much.
    #[serde(deserialize_with = "fsync_policy")]
    pub fsync: Fsync,
    /// The longest a written record waits for an fsync with `fsync: interval`. Default 1s.
    #[serde(with = "humantime_serde")]
    pub fsync_interval: Duration,
    /// A segment file is closed and a new one started past this size; a segment is
    /// deleted once every record in it was delivered. Default 16.
    pub segment_size_mib: u64,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Fsync {
    Always,
    Interval,
    Never,
}

impl Default for FileStorageConfig {
    fn default() -> Self {
        FileStorageConfig {
            directory: "/var/lib/llamacol/file_storage".to_string(),
            create_directory: false,
            fsync: Fsync::Interval,
            fsync_interval: Duration::from_secs(1),
            segment_size_mib: 16,
        }
    }
}

/// `fsync` takes our policy names, or the Collector's boolean.
fn fsync_policy<'de, D: Deserializer<'de>>(d: D) -> Result<Fsync, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Bool(bool),
        Name(Fsync),
    }
    match Either::deserialize(d) {
        Ok(Either::Bool(true)) => Ok(Fsync::Always),
        Ok(Either::Bool(false)) => Ok(Fsync::Never),
        Ok(Either::Name(policy)) => Ok(policy),
        Err(_) => Err(serde::de::Error::custom(
            "`fsync` must be `interval`, `always`, `never`, true (always) or false (never)",
        )),
    }
}

impl ComponentConfig for FileStorageConfig {
    fn validate(&self) -> Vec<Issue> {
        let mut issues = Vec::new();
        if self.directory.trim().is_empty() {
            issues.push(Issue::new(
                "directory",
                "must not be empty; e.g. `/var/lib/llamacol/queue`",
            ));
        }
        if self.segment_size_mib == 0 {
            issues.push(Issue::new("segment_size_mib", "must be at least 1"));
        }
        if self.fsync == Fsync::Interval && self.fsync_interval.is_zero() {
            issues.push(Issue::new(
                "fsync_interval",
                "must be more than 0 with `fsync: interval` (use `fsync: always` to sync every batch)",
            ));
        }
        issues
    }

    fn directories(&self) -> Vec<Listen> {
        vec![Listen {
            path: "directory".to_string(),
            address: self.directory.clone(),
        }]
    }
}
