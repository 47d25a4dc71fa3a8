//! `exporters.parquet` config.

use std::time::Duration;

use llamacol_api::config::{ComponentConfig, Issue};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ParquetConfig {
    /// Directory, or `s3://bucket/prefix`, `gs://bucket/prefix`, `az://container/prefix`;
    /// files go under
    /// `<path>/<signal>/date=YYYY-MM-DD/hour=HH/`.
    pub path: String,
    /// With an object storage path: where files are written before upload. Default: a
    /// `llamacol-parquet-<component>` directory under the system's temporary directory.
    pub staging_directory: Option<String>,
    /// `zstd` (default), `snappy` or `none`.
    pub compression: ParquetCompression,
    /// zstd level (1-22). Default 1: on the load generator's GenAI spans it was both
    /// faster and smaller than 3 (BENCHMARKS.md, Parquet).
    pub compression_level: i32,
    /// Rows per row group. Default 65536.
    pub row_group_size: usize,
    /// A file is closed (and a new one started) past this size. Default 128.
    pub max_file_size_mib: u64,
    /// ... or this long after it was opened. Default 5m.
    #[serde(with = "humantime_serde")]
    pub max_file_age: Duration,
}

impl Default for ParquetConfig {
    fn default() -> Self {
        ParquetConfig {
            path: String::new(),
            staging_directory: None,
            compression: ParquetCompression::Zstd,
            compression_level: 1,
            row_group_size: 65_536,
            max_file_size_mib: 128,
            max_file_age: Duration::from_secs(300),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParquetCompression {
    Zstd,
    Snappy,
    None,
}

impl ComponentConfig for ParquetConfig {
    fn validate(&self) -> Vec<Issue> {
        let mut issues = Vec::new();
        if self.path.trim().is_empty() {
            issues.push(Issue::new(
                "path",
                "`path` is required: the directory the files go under",
            ));
        } else if self.path.contains("://") && super::remote::parse_url(&self.path).is_none() {
            issues.push(Issue::new(
                "path",
                format!("give a local directory or {}", super::remote::URL_FORMS),
            ));
        }
        if !(1..=22).contains(&self.compression_level) {
            issues.push(Issue::new(
                "compression_level",
                "zstd levels are 1 to 22 (default 1)",
            ));
        }
        if self.row_group_size == 0 {
            issues.push(Issue::new(
                "row_group_size",
                "must be at least 1 (default 65536)",
            ));
        }
        if self.max_file_size_mib == 0 {
            issues.push(Issue::new(
                "max_file_size_mib",
                "must be at least 1 (default 128)",
            ));
        }
        if self.max_file_age.is_zero() {
            issues.push(Issue::new(
                "max_file_age",
                "must be more than 0 (default 5m)",
            ));
        }
        issues
    }

    fn directories(&self) -> Vec<llamacol_api::config::Listen> {
        let (path, address) = match &self.staging_directory {
            Some(d) => ("staging_directory", d.clone()),
            None if self.path.contains("://") => return Vec::new(),
            None => ("path", self.path.clone()),
        };
        vec![llamacol_api::config::Listen {
            path: path.into(),
            address,
        }]
    }
}
