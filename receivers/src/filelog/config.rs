//! `receivers.filelog` config: the Collector's `filelog` keys (contrib
//! `receiver/filelogreceiver` and `pkg/stanza/fileconsumer` v0.160.0) and defaults.

use std::time::Duration;

use llamacol_api::config::{ByteSize, ComponentConfig, Issue, Listen};
use serde::Deserialize;

use super::operators::OperatorConfig;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilelogConfig {
    /// Globs of the files to read (`*`, `?`, `[...]`, `**` for any depth). Required.
    pub include: Vec<String>,
    /// Globs of matched files to leave out.
    pub exclude: Vec<String>,
    /// Leave out files not modified for this long (e.g. `24h`).
    #[serde(with = "humantime_serde")]
    pub exclude_older_than: Option<Duration>,
    /// Where to start in the files found at the first poll: `end` (default: only what is
    /// written from now on) or `beginning`. Files that appear later, and every file when
    /// `storage` holds offsets from an earlier run, are read from their start / offset.
    pub start_at: StartAt,
    /// Entries that span lines: exactly one of `line_start_pattern` and
    /// `line_end_pattern`. Default: one entry per line.
    pub multiline: Option<Multiline>,
    /// A last entry without its line end is emitted once the file has not grown for
    /// this long. Default 500ms.
    #[serde(with = "humantime_serde")]
    pub force_flush_period: Duration,
    /// `utf-8` (default: invalid bytes become U+FFFD), `utf-8-raw`, `nop` (bytes as they
    /// are), `ascii`, `utf-16le`, `utf-16be`, or any WHATWG label (`big5`, `shift_jis`,
    /// `windows-1252`, ...).
    pub encoding: String,
    /// Keep leading / trailing spaces of each entry. Default false (trimmed).
    pub preserve_leading_whitespaces: bool,
    pub preserve_trailing_whitespaces: bool,
    /// `log.file.name` on each record. Default true.
    pub include_file_name: bool,
    /// `log.file.path`. Default false.
    pub include_file_path: bool,
    /// `log.file.name_resolved` / `log.file.path_resolved` (symlinks resolved).
    pub include_file_name_resolved: bool,
    pub include_file_path_resolved: bool,
    /// `log.file.owner.name`, `log.file.owner.group.name`, `log.file.permissions`.
    pub include_file_owner_name: bool,
    pub include_file_owner_group_name: bool,
    pub include_file_permissions: bool,
    /// `log.file.record_number` (1 for a file's first entry) and
    /// `log.file.record_offset` (the entry's byte offset).
    pub include_file_record_number: bool,
    pub include_file_record_offset: bool,
    /// How often the file system is searched and files read. Default 200ms.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// The first bytes of a file that identify it across renames. Default 1000, at
    /// least 16.
    pub fingerprint_size: ByteSize,
    /// Accepted for the Collector's configs; buffers grow as needed.
    pub initial_buffer_size: ByteSize,
    /// The largest entry; longer ones are split (`max_log_size_behavior: split`,
    /// default) or cut (`truncate`). Default 1MiB.
    pub max_log_size: ByteSize,
    pub max_log_size_behavior: MaxLogSizeBehavior,
    /// Files read at once; more are read in turns. Default 1024.
    pub max_concurrent_files: usize,
    /// Turns of `max_concurrent_files` per poll; 0 (default): all.
    pub max_batches: usize,
    /// Delete each file once read to its end (needs `start_at: beginning`).
    pub delete_after_read: bool,
    /// A storage extension (`file_storage`) that keeps each file's offset, so a restart
    /// (even `kill -9`) resumes where the last acknowledged entry ended.
    pub storage: Option<String>,
    /// Attributes and resource attributes added to every entry.
    pub attributes: std::collections::BTreeMap<String, String>,
    pub resource: std::collections::BTreeMap<String, String>,
    /// Operators applied to each entry in order (see README "filelog operators").
    pub operators: Vec<OperatorConfig>,
    /// `gzip`: files are gzip streams (rotated `*.gz`); `auto`: by the gzip magic bytes.
    pub compression: Compression,
    /// A file whose fingerprint is known but that is now shorter (copy-truncate
    /// rotation): `ignore` (default: read nothing until it grows past the old offset),
    /// `read_whole_file`, or `read_new` (from its current end).
    pub on_truncate: OnTruncate,
    /// Accepted for the Collector's configs (llamacol keeps no archive).
    pub polls_to_archive: usize,
    pub acquire_fs_lock: bool,
    pub file_cache_advise: bool,
    pub skip_unmodified_files: bool,
    /// The Collector's retry of a refused batch. llamacol always keeps a refused batch
    /// in the file (its offset does not move) and reads it again next poll, so nothing
    /// read is dropped; the keys are accepted.
    pub retry_on_failure: RetryOnFailure,
}

impl Default for FilelogConfig {
    fn default() -> Self {
        FilelogConfig {
            include: Vec::new(),
            exclude: Vec::new(),
            exclude_older_than: None,
            start_at: StartAt::End,
            multiline: None,
            force_flush_period: Duration::from_millis(500),
            encoding: "utf-8".to_string(),
            preserve_leading_whitespaces: false,
            preserve_trailing_whitespaces: false,
            include_file_name: true,
            include_file_path: false,
            include_file_name_resolved: false,
            include_file_path_resolved: false,
            include_file_owner_name: false,
            include_file_owner_group_name: false,
            include_file_permissions: false,
            include_file_record_number: false,
            include_file_record_offset: false,
            poll_interval: Duration::from_millis(200),
            fingerprint_size: ByteSize(1000),
            initial_buffer_size: ByteSize(16 * 1024),
            max_log_size: ByteSize(1024 * 1024),
            max_log_size_behavior: MaxLogSizeBehavior::Split,
            max_concurrent_files: 1024,
            max_batches: 0,
            delete_after_read: false,
            storage: None,
            attributes: Default::default(),
            resource: Default::default(),
            operators: Vec::new(),
            compression: Compression::None,
            on_truncate: OnTruncate::Ignore,
            polls_to_archive: 0,
            acquire_fs_lock: false,
            file_cache_advise: false,
            skip_unmodified_files: false,
            retry_on_failure: RetryOnFailure::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StartAt {
    Beginning,
    End,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Multiline {
    /// An entry starts where this regex matches (e.g. `^\d{4}-\d{2}-\d{2}`).
    pub line_start_pattern: Option<String>,
    /// An entry ends where this regex matches.
    pub line_end_pattern: Option<String>,
    /// Leave the matched pattern out of the entries.
    pub omit_pattern: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MaxLogSizeBehavior {
    Split,
    Truncate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    #[serde(rename = "")]
    None,
    Gzip,
    Auto,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnTruncate {
    Ignore,
    ReadWholeFile,
    ReadNew,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryOnFailure {
    pub enabled: bool,
    #[serde(with = "humantime_serde")]
    pub initial_interval: Option<Duration>,
    #[serde(with = "humantime_serde")]
    pub max_interval: Option<Duration>,
    #[serde(with = "humantime_serde")]
    pub max_elapsed_time: Option<Duration>,
}

impl ComponentConfig for FilelogConfig {
    fn validate(&self) -> Vec<Issue> {
        let mut issues = Vec::new();
        if self.include.is_empty() {
            issues.push(Issue::new(
                "include",
                "lists no file; e.g. `[/var/log/llama-server/*.log]`",
            ));
        }
        for (key, globs) in [("include", &self.include), ("exclude", &self.exclude)] {
            for (i, g) in globs.iter().enumerate() {
                if let Err(e) = glob::Pattern::new(g) {
                    issues.push(Issue::new(
                        format!("{key}[{i}]"),
                        format!("is not a glob: {e}"),
                    ));
                }
            }
        }
        if self.fingerprint_size.0 < 16 {
            issues.push(Issue::new("fingerprint_size", "must be at least 16 bytes"));
        }
        if self.max_log_size.0 == 0 {
            issues.push(Issue::new("max_log_size", "must be more than 0"));
        }
        if self.poll_interval.is_zero() {
            issues.push(Issue::new("poll_interval", "must be more than 0"));
        }
        if self.max_concurrent_files == 0 {
            issues.push(Issue::new("max_concurrent_files", "must be at least 1"));
        }
        if super::decode::Decoder::new(&self.encoding).is_none() {
            issues.push(Issue::new(
                "encoding",
                format!(
                    "unknown encoding `{}`; e.g. `utf-8`, `nop`, `utf-16le`, `ascii`, `big5`",
                    self.encoding
                ),
            ));
        }
        if let Some(m) = &self.multiline {
            match (&m.line_start_pattern, &m.line_end_pattern) {
                (Some(_), Some(_)) | (None, None) => issues.push(Issue::new(
                    "multiline",
                    "needs exactly one of `line_start_pattern` and `line_end_pattern`",
                )),
                (Some(p), None) | (None, Some(p)) => {
                    if let Err(e) = regex::Regex::new(&format!("(?m){p}")) {
                        issues.push(Issue::new(
                            "multiline",
                            format!("pattern is not a regex: {e}"),
                        ));
                    }
                }
            }
        }
        if self.delete_after_read && self.start_at == StartAt::End {
            issues.push(Issue::new(
                "delete_after_read",
                "needs `start_at: beginning` (a file read from its end would be deleted unread)",
            ));
        }
        for (i, op) in self.operators.iter().enumerate() {
            issues.extend(op.issues(&format!("operators[{i}]")));
        }
        issues.extend(super::operators::pipeline_issues(&self.operators));
        issues
    }

    fn storages(&self) -> Vec<Listen> {
        self.storage
            .iter()
            .map(|s| Listen {
                path: "storage".to_string(),
                address: s.clone(),
            })
            .collect()
    }
}
