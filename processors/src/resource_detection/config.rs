//! `processors.resource_detection` config: the Collector's `resource_detection` keys
//! (contrib `processor/resourcedetectionprocessor` v0.160.0), for the detectors built here.

use std::collections::BTreeMap;
use std::time::Duration;

use llamacol_api::config::{suggestion, ComponentConfig, Issue};
use serde::Deserialize;

use super::catalog;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResourceDetectionConfig {
    /// Detectors to run, in order of precedence: when two find the same attribute, the one
    /// listed first wins. Built: `env`, `system`, `docker`, `ec2`, `gcp`, `azure`. Default
    /// `[env]`.
    pub detectors: Vec<String>,
    /// Whether a detected attribute replaces one the data already carries. Default true.
    #[serde(rename = "override")]
    pub override_existing: bool,
    /// Bounds each metadata request, and (with `retry.max_elapsed_time: 0`) the whole
    /// detection at start. Default 5s.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Detect again this often and apply what changed; 0 (default): once, at start.
    #[serde(with = "humantime_serde")]
    pub refresh_interval: Duration,
    /// A cloud or Docker detector that cannot reach its metadata service fails (and is
    /// retried) instead of detecting nothing. Default false: on a machine that is not on
    /// that cloud the detector quietly adds nothing.
    pub fail_on_missing_metadata: bool,
    /// How a failed detector is retried while the processor starts.
    pub retry: RetryConfig,
    pub system: SystemConfig,
    pub docker: DockerConfig,
    pub ec2: Ec2Config,
    pub gcp: GcpConfig,
    pub azure: AzureConfig,
}

impl Default for ResourceDetectionConfig {
    fn default() -> Self {
        ResourceDetectionConfig {
            detectors: vec!["env".to_string()],
            override_existing: true,
            timeout: Duration::from_secs(5),
            refresh_interval: Duration::ZERO,
            fail_on_missing_metadata: false,
            retry: RetryConfig::default(),
            system: SystemConfig::default(),
            docker: DockerConfig::default(),
            ec2: Ec2Config::default(),
            gcp: GcpConfig::default(),
            azure: AzureConfig::default(),
        }
    }
}

/// `retry:` the Collector's `configretry.BackOffConfig`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// false: one attempt per detector. Default true.
    pub enabled: bool,
    /// Default 1s.
    #[serde(with = "humantime_serde")]
    pub initial_interval: Duration,
    /// Jitter applied to each wait. Default 0.5.
    pub randomization_factor: f64,
    /// Default 2.
    pub multiplier: f64,
    /// Default 30s.
    #[serde(with = "humantime_serde")]
    pub max_interval: Duration,
    /// Total retry budget; 0 (default): the detection is bounded by `timeout` instead.
    #[serde(with = "humantime_serde")]
    pub max_elapsed_time: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            enabled: true,
            initial_interval: Duration::from_secs(1),
            randomization_factor: 0.5,
            multiplier: 2.0,
            max_interval: Duration::from_secs(30),
            max_elapsed_time: Duration::ZERO,
        }
    }
}

/// `resource_attributes: {host.id: {enabled: true}}`: which attributes a detector sets.
pub type Switches = BTreeMap<String, Enabled>;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Enabled {
    pub enabled: bool,
}

/// Where `system` takes `host.name` from, tried in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HostnameSource {
    /// The fully qualified name: the hosts file, else the resolver's canonical name, else
    /// a reverse lookup of the host's addresses.
    Dns,
    /// The kernel's host name.
    Os,
    /// The resolver's canonical name of the host name.
    Cname,
    /// A reverse lookup of the host name's addresses.
    Lookup,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SystemConfig {
    /// Default `[dns, os]`.
    pub hostname_sources: Vec<HostnameSource>,
    pub resource_attributes: Switches,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DockerConfig {
    /// The Docker daemon: `unix:///var/run/docker.sock` (default) or `http://host:port`.
    /// llamacol's key; the Collector reads `DOCKER_HOST` (write
    /// `endpoint: ${env:DOCKER_HOST:-unix:///var/run/docker.sock}` for the same).
    pub endpoint: String,
    pub resource_attributes: Switches,
}

impl Default for DockerConfig {
    fn default() -> Self {
        DockerConfig {
            endpoint: "unix:///var/run/docker.sock".to_string(),
            resource_attributes: Switches::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Ec2Config {
    /// The instance metadata service. Default `http://169.254.169.254`; llamacol's key
    /// for what the AWS SDK reads from `AWS_EC2_METADATA_SERVICE_ENDPOINT`.
    pub endpoint: String,
    /// Regexes of tag keys to add as `ec2.tag.<key>`; needs `tags_from_imds: true`.
    pub tags: Vec<String>,
    /// Read tags from the metadata service (the instance needs
    /// `InstanceMetadataTags=enabled`). The Collector's default, the `DescribeTags` API,
    /// is not built here.
    pub tags_from_imds: bool,
    /// Deprecated: the top-level `fail_on_missing_metadata`.
    pub fail_on_missing_metadata: bool,
    pub resource_attributes: Switches,
}

impl Default for Ec2Config {
    fn default() -> Self {
        Ec2Config {
            endpoint: "http://169.254.169.254".to_string(),
            tags: Vec::new(),
            tags_from_imds: false,
            fail_on_missing_metadata: false,
            resource_attributes: Switches::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GcpConfig {
    /// The metadata server. Default `http://metadata.google.internal`; llamacol's key for
    /// what Google's client reads from `GCE_METADATA_HOST`.
    pub endpoint: String,
    pub resource_attributes: Switches,
}

impl Default for GcpConfig {
    fn default() -> Self {
        GcpConfig {
            endpoint: "http://metadata.google.internal".to_string(),
            resource_attributes: Switches::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AzureConfig {
    /// The instance metadata service. Default `http://169.254.169.254`.
    pub endpoint: String,
    /// Regexes of tag keys to add as `azure.tags.<key>`.
    pub tags: Vec<String>,
    pub resource_attributes: Switches,
}

impl Default for AzureConfig {
    fn default() -> Self {
        AzureConfig {
            endpoint: "http://169.254.169.254".to_string(),
            tags: Vec::new(),
            resource_attributes: Switches::new(),
        }
    }
}

/// The Collector's detectors that llamacol does not build, and what to do instead.
const NOT_BUILT: &[(&str, &str)] = &[
    ("k8s_api", "comes with the Kubernetes work (k8sattributes); until then add `k8s.node.name` with the `resource` processor from the downward API"),
    ("k8snode", "comes with the Kubernetes work (k8sattributes); until then add `k8s.node.name` with the `resource` processor from the downward API"),
];

impl ComponentConfig for ResourceDetectionConfig {
    fn validate(&self) -> Vec<Issue> {
        let mut issues = Vec::new();
        if self.detectors.is_empty() {
            issues.push(Issue::new(
                "detectors",
                "lists no detector; e.g. `[env, system]`",
            ));
        }
        for (i, name) in self.detectors.iter().enumerate() {
            let path = format!("detectors[{i}]");
            if catalog::attributes(name).is_some() {
                if self.detectors[..i].contains(name) {
                    issues.push(Issue::new(path, format!("`{name}` is listed twice")));
                }
            } else if let Some((_, why)) = NOT_BUILT.iter().find(|(n, _)| n == name) {
                issues.push(Issue::new(
                    path,
                    format!("`{name}` is not built in llamacol: it {why}"),
                ));
            } else {
                issues.push(Issue::new(
                    path,
                    format!(
                        "unknown detector `{name}`{}; built: {}",
                        suggestion(name, catalog::DETECTORS.iter().copied()),
                        catalog::DETECTORS.join(", ")
                    ),
                ));
            }
        }
        if self.retry.enabled && self.timeout.is_zero() && self.retry.max_elapsed_time.is_zero() {
            issues.push(Issue::new(
                "retry",
                "with `timeout: 0` and `retry.max_elapsed_time: 0` a hung detector would block the start forever; set either",
            ));
        }
        if self.retry.multiplier < 1.0 {
            issues.push(Issue::new("retry.multiplier", "must be at least 1"));
        }
        if !(0.0..=1.0).contains(&self.retry.randomization_factor) {
            issues.push(Issue::new(
                "retry.randomization_factor",
                "must be within 0 and 1",
            ));
        }
        let switches = [
            ("system", &self.system.resource_attributes),
            ("docker", &self.docker.resource_attributes),
            ("ec2", &self.ec2.resource_attributes),
            ("gcp", &self.gcp.resource_attributes),
            ("azure", &self.azure.resource_attributes),
        ];
        for (detector, switches) in switches {
            let known = catalog::attributes(detector).unwrap_or_default();
            for key in switches.keys() {
                if !known.iter().any(|(k, _)| k == key) {
                    issues.push(Issue::new(
                        format!("{detector}.resource_attributes.{key}"),
                        format!(
                            "`{detector}` sets no attribute `{key}`{}",
                            suggestion(key, known.iter().map(|(k, _)| *k))
                        ),
                    ));
                }
            }
        }
        for (path, patterns) in [
            ("ec2.tags", &self.ec2.tags),
            ("azure.tags", &self.azure.tags),
        ] {
            for (i, p) in patterns.iter().enumerate() {
                if let Err(e) = regex::Regex::new(p) {
                    issues.push(Issue::new(
                        format!("{path}[{i}]"),
                        format!("is not a regex: {e}"),
                    ));
                }
            }
        }
        if !self.ec2.tags.is_empty() && !self.ec2.tags_from_imds {
            issues.push(Issue::new(
                "ec2.tags",
                "needs `tags_from_imds: true` (llamacol reads tags from the metadata service; the DescribeTags API is not built)",
            ));
        }
        let endpoints = [
            ("ec2.endpoint", &self.ec2.endpoint),
            ("gcp.endpoint", &self.gcp.endpoint),
            ("azure.endpoint", &self.azure.endpoint),
        ];
        for (path, endpoint) in endpoints {
            if !llamacol_api::config::is_http_url(endpoint) {
                issues.push(Issue::new(
                    path,
                    format!("`{endpoint}` is not an http:// or https:// URL"),
                ));
            }
        }
        let docker = &self.docker.endpoint;
        if !(docker.starts_with("unix://") || llamacol_api::config::is_http_url(docker)) {
            issues.push(Issue::new(
                "docker.endpoint",
                format!("`{docker}` is neither unix:///path/to/docker.sock nor an http:// URL"),
            ));
        }
        issues
    }
}
