//! `exporters.debug` config (the Collector's keys), and the deprecated `logging`
//! exporter's, read as `debug`.

use llamacol_api::config::{ComponentConfig, Issue};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DebugConfig {
    /// `basic` (default): one line per batch with its item count; `normal`: one line per
    /// span, data point or log record; `detailed`: the whole batch as indented OTLP/JSON.
    pub verbosity: Verbosity,
    /// Batches printed each second before sampling starts (the Collector's default 2).
    pub sampling_initial: u64,
    /// Past those, every n-th batch of the second is printed (default 1: all).
    pub sampling_thereafter: u64,
    /// `true` (default): to stderr with the collector's own log; `false`: to
    /// `output_paths`.
    pub use_internal_logger: bool,
    /// With `use_internal_logger: false`: `stdout` (the default), `stderr`, or files
    /// (appended to).
    pub output_paths: Option<Vec<String>>,
}

impl Default for DebugConfig {
    fn default() -> Self {
        DebugConfig {
            verbosity: Verbosity::Basic,
            sampling_initial: 2,
            sampling_thereafter: 1,
            use_internal_logger: true,
            output_paths: None,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Verbosity {
    #[default]
    Basic,
    Normal,
    Detailed,
}

impl ComponentConfig for DebugConfig {
    fn validate(&self) -> Vec<Issue> {
        let mut issues = Vec::new();
        if self.sampling_thereafter == 0 {
            issues.push(Issue::new(
                "sampling_thereafter",
                "must be at least 1 (1 prints every batch)",
            ));
        }
        match (&self.output_paths, self.use_internal_logger) {
            (Some(_), true) => issues.push(Issue::new(
                "output_paths",
                "output_paths is not supported when use_internal_logger is true; set use_internal_logger: false",
            )),
            (Some(paths), false) if paths.is_empty() => issues.push(Issue::new(
                "output_paths",
                "must not be empty when use_internal_logger is false (leave it out for stdout)",
            )),
            _ => {}
        }
        issues
    }
}

/// The `logging` exporter the Collector removed in v0.111.0 (configs still name it):
/// `debug`'s keys plus its old `loglevel`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoggingConfig {
    /// `debug` -> `verbosity: detailed`, `info` -> `normal`, `warn` / `error` ->
    /// `basic`, as the Collector mapped it while it had both.
    pub loglevel: Option<LogLevel>,
    pub verbosity: Option<Verbosity>,
    pub sampling_initial: Option<u64>,
    pub sampling_thereafter: Option<u64>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

impl LoggingConfig {
    pub fn as_debug(&self) -> DebugConfig {
        let from_level = self.loglevel.map(|l| match l {
            LogLevel::Debug => Verbosity::Detailed,
            LogLevel::Info => Verbosity::Normal,
            LogLevel::Warn | LogLevel::Error => Verbosity::Basic,
        });
        let d = DebugConfig::default();
        DebugConfig {
            verbosity: self.verbosity.or(from_level).unwrap_or(d.verbosity),
            sampling_initial: self.sampling_initial.unwrap_or(d.sampling_initial),
            sampling_thereafter: self.sampling_thereafter.unwrap_or(d.sampling_thereafter),
            use_internal_logger: true,
            output_paths: None,
        }
    }
}

impl ComponentConfig for LoggingConfig {
    fn validate(&self) -> Vec<Issue> {
        let mut issues = self.as_debug().validate();
        if self.loglevel.is_some() && self.verbosity.is_some() {
            issues.push(Issue::new(
                "loglevel",
                "set `verbosity` or the deprecated `loglevel`, not both",
            ));
        }
        issues
    }
}
