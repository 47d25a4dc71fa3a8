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
    /// The mode `create_directory` gives the directories it creates, in octal (minus
    /// the process umask). Default `0750`, as in the Collector.
    pub directory_permissions: Option<String>,
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
    /// The Collector's bbolt compaction (`on_start`, `on_rebound`, `directory`, the
    /// rebound thresholds, `max_transaction_size`, `check_interval`, `cleanup_on_start`).
    /// llamacol's queue files never hold delivered data beyond the segment being read:
    /// a segment's space is returned to the filesystem as soon as it is delivered, so
    /// there is nothing to compact. Accepted for the Collector's configs.
    pub compaction: Option<Compaction>,
    /// How long opening a queue waits for another process to release the directory's
    /// lock before failing the start. Default 1s, as in the Collector.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

/// `compaction`, the Collector's keys (see [`FileStorageConfig::compaction`]).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Compaction {
    pub on_start: bool,
    pub on_rebound: bool,
    pub directory: Option<String>,
    /// YAML 1.1 integers (`65_536`, as the Collector's README writes it) too.
    #[serde(deserialize_with = "yaml11_int")]
    pub max_transaction_size: Option<u64>,
    pub rebound_needed_threshold_mib: Option<u64>,
    pub rebound_trigger_threshold_mib: Option<u64>,
    #[serde(with = "humantime_serde")]
    pub check_interval: Option<Duration>,
    pub cleanup_on_start: bool,
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
            directory_permissions: None,
            fsync: Fsync::Interval,
            fsync_interval: Duration::from_secs(1),
            segment_size_mib: 16,
            compaction: None,
            timeout: Duration::from_secs(1),
        }
    }
}

/// An integer, or one written YAML 1.1's way with `_` between digits (Go's YAML reads
/// both; YAML 1.2 reads the second as a string).
fn yaml11_int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Int(u64),
        Text(String),
    }
    match Option::<Either>::deserialize(d)? {
        None => Ok(None),
        Some(Either::Int(n)) => Ok(Some(n)),
        Some(Either::Text(t)) => t
            .replace('_', "")
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("`{t}` is not a whole number"))),
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

impl FileStorageConfig {
    /// `directory_permissions` as a mode (validated), else 0o750.
    pub fn permissions(&self) -> u32 {
        self.directory_permissions
            .as_deref()
            .and_then(|p| u32::from_str_radix(p.trim_start_matches("0o"), 8).ok())
            .unwrap_or(0o750)
    }
}

impl ComponentConfig for FileStorageConfig {
    fn validate(&self) -> Vec<Issue> {
        let mut issues = Vec::new();
        if let Some(p) = &self.directory_permissions {
            let mode = u32::from_str_radix(p.trim_start_matches("0o"), 8);
            if !matches!(mode, Ok(m) if m <= 0o7777) {
                issues.push(Issue::new(
                    "directory_permissions",
                    format!("`{p}` is not an octal mode such as `0750`"),
                ));
            }
        }
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
