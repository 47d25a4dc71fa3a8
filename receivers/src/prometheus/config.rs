//! `receivers.prometheus` config: the Collector's shape, a Prometheus configuration under
//! `config:` (`global`, `scrape_configs`), the Prometheus keys and defaults.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use llamacol_api::config::{ByteSize, ComponentConfig, Issue};
use serde::Deserialize;

use super::relabel::{Rule, RuleConfig};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrometheusReceiverConfig {
    /// The Prometheus configuration: `global` and `scrape_configs`.
    pub config: PromConfig,
    /// The Collector's Target Allocator (Kubernetes operator): not supported; refused.
    pub target_allocator: Option<llamacol_api::serde_yaml::Value>,
    /// The Collector's switch to drop unit and type suffixes from names: only `false`.
    pub trim_metric_suffixes: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PromConfig {
    pub global: Global,
    pub scrape_configs: Vec<ScrapeConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Global {
    /// Default 1m (Prometheus').
    #[serde(with = "humantime_serde")]
    pub scrape_interval: Duration,
    /// Default 10s, never above the interval.
    #[serde(with = "humantime_serde")]
    pub scrape_timeout: Duration,
    /// Added to every series that does not have them.
    pub external_labels: BTreeMap<String, String>,
    /// The jobs' default for `scrape_native_histograms` (false).
    pub scrape_native_histograms: bool,
    /// The jobs' default for `always_scrape_classic_histograms` (false).
    pub always_scrape_classic_histograms: bool,
}

impl Default for Global {
    fn default() -> Self {
        Global {
            scrape_interval: Duration::from_secs(60),
            scrape_timeout: Duration::from_secs(10),
            external_labels: BTreeMap::new(),
            scrape_native_histograms: false,
            always_scrape_classic_histograms: false,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScrapeConfig {
    pub job_name: String,
    #[serde(with = "humantime_serde")]
    pub scrape_interval: Option<Duration>,
    #[serde(with = "humantime_serde")]
    pub scrape_timeout: Option<Duration>,
    pub metrics_path: String,
    pub params: BTreeMap<String, Vec<String>>,
    pub scheme: String,
    pub honor_labels: bool,
    pub honor_timestamps: bool,
    pub static_configs: Vec<StaticConfig>,
    pub file_sd_configs: Vec<FileSdConfig>,
    pub relabel_configs: Vec<RuleConfig>,
    pub metric_relabel_configs: Vec<RuleConfig>,
    pub basic_auth: Option<BasicAuth>,
    pub authorization: Option<Authorization>,
    pub bearer_token: Option<String>,
    pub bearer_token_file: Option<PathBuf>,
    pub tls_config: TlsConfig,
    /// 0: no limit.
    pub sample_limit: usize,
    /// 0: no limit.
    pub label_limit: usize,
    /// Largest body read (`10MB`, `1GiB`; 0: no limit), counted after decompression as
    /// Prometheus counts it.
    pub body_size_limit: ByteSize,
    /// Ask for the protobuf exposition first, as Prometheus does with this set, and read
    /// native histograms as OTLP exponential histograms (default: the global's, false).
    pub scrape_native_histograms: Option<bool>,
    /// With native histograms on, also keep a histogram's classic buckets where the
    /// target exposes both (default: the global's, false: the native one only).
    pub always_scrape_classic_histograms: Option<bool>,
    /// Ask for a gzip body (`Accept-Encoding: gzip`, default `true`, as Prometheus); a
    /// target that does not compress is read as it answers.
    pub enable_compression: bool,
    /// Needs the Kubernetes API client (the Kubernetes issue); refused today.
    pub kubernetes_sd_configs: Option<llamacol_api::serde_yaml::Value>,
}

impl Default for ScrapeConfig {
    fn default() -> Self {
        ScrapeConfig {
            job_name: String::new(),
            scrape_interval: None,
            scrape_timeout: None,
            metrics_path: "/metrics".into(),
            params: BTreeMap::new(),
            scheme: "http".into(),
            honor_labels: false,
            honor_timestamps: true,
            static_configs: Vec::new(),
            file_sd_configs: Vec::new(),
            relabel_configs: Vec::new(),
            metric_relabel_configs: Vec::new(),
            basic_auth: None,
            authorization: None,
            bearer_token: None,
            bearer_token_file: None,
            tls_config: TlsConfig::default(),
            sample_limit: 0,
            label_limit: 0,
            body_size_limit: ByteSize(0),
            enable_compression: true,
            scrape_native_histograms: None,
            always_scrape_classic_histograms: None,
            kubernetes_sd_configs: None,
        }
    }
}

impl ScrapeConfig {
    pub fn interval(&self, global: &Global) -> Duration {
        self.scrape_interval.unwrap_or(global.scrape_interval)
    }

    /// The timeout as Prometheus takes it: the global one lowered to the interval when
    /// not written here.
    pub fn timeout(&self, global: &Global) -> Duration {
        self.scrape_timeout
            .unwrap_or_else(|| global.scrape_timeout.min(self.interval(global)))
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StaticConfig {
    pub targets: Vec<String>,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileSdConfig {
    /// Files (globs in the last path segment) of target groups, YAML or JSON.
    pub files: Vec<String>,
    /// Default 5m; the files are also checked for changes every few seconds.
    #[serde(with = "humantime_serde")]
    pub refresh_interval: Duration,
}

impl Default for FileSdConfig {
    fn default() -> Self {
        FileSdConfig {
            files: Vec::new(),
            refresh_interval: Duration::from_secs(300),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BasicAuth {
    pub username: String,
    pub password: Option<String>,
    pub password_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Authorization {
    /// Default `Bearer`.
    #[serde(rename = "type")]
    pub kind: String,
    pub credentials: Option<String>,
    pub credentials_file: Option<PathBuf>,
}

impl Default for Authorization {
    fn default() -> Self {
        Authorization {
            kind: "Bearer".into(),
            credentials: None,
            credentials_file: None,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub server_name: Option<String>,
    pub insecure_skip_verify: bool,
}

impl ComponentConfig for PrometheusReceiverConfig {
    fn validate(&self) -> Vec<Issue> {
        let mut issues = Vec::new();
        if self.target_allocator.is_some() {
            issues.push(Issue::new("target_allocator", "the Target Allocator is not supported: list the targets in `config.scrape_configs` (`static_configs`, `file_sd_configs`)"));
        }
        if self.trim_metric_suffixes {
            issues.push(Issue::new(
                "trim_metric_suffixes",
                "only `false` is supported: names are kept as the targets expose them",
            ));
        }
        if self.config.scrape_configs.is_empty() {
            issues.push(Issue::new(
                "config.scrape_configs",
                "at least one scrape config is needed (`job_name` and `static_configs` or `file_sd_configs`)",
            ));
        }
        let mut jobs = std::collections::HashSet::new();
        for (i, job) in self.config.scrape_configs.iter().enumerate() {
            let at = |key: &str| format!("config.scrape_configs[{i}].{key}");
            if job.job_name.is_empty() {
                issues.push(Issue::new(at("job_name"), "is required"));
            } else if !jobs.insert(job.job_name.clone()) {
                issues.push(Issue::new(
                    at("job_name"),
                    format!("`{}` is used by two scrape configs", job.job_name),
                ));
            }
            if job.kubernetes_sd_configs.is_some() {
                issues.push(Issue::new(at("kubernetes_sd_configs"), "not supported yet (it needs the Kubernetes API client): use `static_configs` or `file_sd_configs`"));
            }
            if job.scheme != "http" && job.scheme != "https" {
                issues.push(Issue::new(at("scheme"), "must be `http` or `https`"));
            }
            if !job.metrics_path.starts_with('/') {
                issues.push(Issue::new(at("metrics_path"), "must start with `/`"));
            }
            let interval = job.interval(&self.config.global);
            if interval.is_zero() {
                issues.push(Issue::new(at("scrape_interval"), "must be more than 0"));
            }
            if job.timeout(&self.config.global) > interval {
                issues.push(Issue::new(
                    at("scrape_timeout"),
                    "must not be longer than scrape_interval",
                ));
            }
            for (key, rules) in [
                ("relabel_configs", &job.relabel_configs),
                ("metric_relabel_configs", &job.metric_relabel_configs),
            ] {
                for (j, rule) in rules.iter().enumerate() {
                    if let Err(e) = Rule::compile(rule.clone()) {
                        issues.push(Issue::new(at(&format!("{key}[{j}]")), e));
                    }
                }
            }
            let auths = [
                job.basic_auth.is_some(),
                job.authorization.is_some(),
                job.bearer_token.is_some() || job.bearer_token_file.is_some(),
            ];
            if auths.iter().filter(|a| **a).count() > 1 {
                issues.push(Issue::new(
                    at("basic_auth"),
                    "use one of basic_auth, authorization, bearer_token(_file)",
                ));
            }
            for (j, group) in job.static_configs.iter().enumerate() {
                for target in &group.targets {
                    if target.contains("://") || target.is_empty() {
                        issues.push(Issue::new(at(&format!("static_configs[{j}].targets")),
                            format!("`{target}` must be `host:port` (the scheme and path are `scheme` and `metrics_path`)"),
                        ));
                    }
                }
            }
        }
        issues
    }
}
