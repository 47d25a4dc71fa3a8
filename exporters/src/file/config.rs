//! `exporters.file` config, with the Collector's file exporter keys.

use llamacol_api::config::{ComponentConfig, Issue};
use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// The file to append OTLP/JSON lines to (one line per batch). Required; its folder
    /// is created if missing.
    #[serde(default)]
    pub path: String,
    /// Rotate by size. Off when the key is absent.
    #[serde(default)]
    pub rotation: Option<Rotation>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Rotation {
    /// Rotate once the file would grow past this many MiB. Default 100.
    pub max_megabytes: u64,
    /// Rotated files to keep (oldest removed first); 0 keeps all. Default 100.
    pub max_backups: usize,
}

impl Default for Rotation {
    fn default() -> Self {
        Rotation {
            max_megabytes: 100,
            max_backups: 100,
        }
    }
}

impl ComponentConfig for FileConfig {
    fn validate(&self) -> Vec<Issue> {
        let mut issues = Vec::new();
        if self.path.trim().is_empty() {
            issues.push(Issue::new(
                "path",
                "`path` is required: the file to write OTLP/JSON lines to",
            ));
        }
        if self.rotation.as_ref().is_some_and(|r| r.max_megabytes == 0) {
            issues.push(Issue::new("rotation.max_megabytes", "must be at least 1"));
        }
        issues
    }
}
