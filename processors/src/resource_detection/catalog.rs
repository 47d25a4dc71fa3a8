//! Each detector's resource attributes and whether it sets them by default, as the
//! detectors' `metadata.yaml` files in the Collector's contrib repository say
//! (`processor/resourcedetectionprocessor/internal/*/metadata.yaml`, v0.160.0), and the
//! builder that keeps only the enabled ones.

use llamacol_api::otlp::common::v1::{any_value, AnyValue, KeyValue};

use super::config::Switches;

/// The detectors built here, in the order the README lists them.
pub const DETECTORS: &[&str] = &["env", "system", "docker", "ec2", "gcp", "azure"];

const SYSTEM: &[(&str, bool)] = &[
    ("host.arch", false),
    ("host.cpu.cache.l2.size", false),
    ("host.cpu.family", false),
    ("host.cpu.model.id", false),
    ("host.cpu.model.name", false),
    ("host.cpu.stepping", false),
    ("host.cpu.vendor.id", false),
    ("host.id", false),
    ("host.interface", false),
    ("host.ip", false),
    ("host.mac", false),
    ("host.name", true),
    ("os.build.id", false),
    ("os.description", false),
    ("os.name", false),
    ("os.type", true),
    ("os.version", false),
];

const DOCKER: &[(&str, bool)] = &[
    ("container.image.name", false),
    ("container.name", false),
    ("host.name", true),
    ("os.type", true),
];

const EC2: &[(&str, bool)] = &[
    ("cloud.account.id", true),
    ("cloud.availability_zone", true),
    ("cloud.platform", true),
    ("cloud.provider", true),
    ("cloud.region", true),
    ("host.id", true),
    ("host.image.id", true),
    ("host.name", true),
    ("host.type", true),
];

const GCP: &[(&str, bool)] = &[
    ("cloud.account.id", true),
    ("cloud.availability_zone", true),
    ("cloud.platform", true),
    ("cloud.provider", true),
    ("cloud.region", true),
    ("faas.instance", true),
    ("faas.name", true),
    ("faas.version", true),
    ("gcp.cloud_run.job.execution", true),
    ("gcp.cloud_run.job.task_index", true),
    ("gcp.gce.instance.hostname", false),
    ("gcp.gce.instance.name", false),
    ("gcp.gce.instance_group_manager.name", true),
    ("gcp.gce.instance_group_manager.region", true),
    ("gcp.gce.instance_group_manager.zone", true),
    ("host.id", true),
    ("host.name", true),
    ("host.type", true),
    ("k8s.cluster.name", true),
];

const AZURE: &[(&str, bool)] = &[
    ("azure.resourcegroup.name", true),
    ("azure.vm.name", true),
    ("azure.vm.scaleset.name", true),
    ("azure.vm.size", true),
    ("cloud.account.id", true),
    ("cloud.availability_zone", false),
    ("cloud.platform", true),
    ("cloud.provider", true),
    ("cloud.region", true),
    ("host.id", true),
    ("host.name", true),
];

/// A built detector's attributes with their default switch (`env` has none: it sets
/// whatever the variable holds); `None` for a name that is not a built detector.
pub fn attributes(detector: &str) -> Option<&'static [(&'static str, bool)]> {
    Some(match detector {
        "env" => &[],
        "system" => SYSTEM,
        "docker" => DOCKER,
        "ec2" => EC2,
        "gcp" => GCP,
        "azure" => AZURE,
        _ => return None,
    })
}

/// The schema of the attribute names the detectors use (semantic conventions 1.40.0, as
/// the Collector's detectors say).
pub const SCHEMA_URL: &str = "https://opentelemetry.io/schemas/1.40.0";

/// The configured tag-key regexes (validated by the config check).
pub fn tag_patterns(patterns: &[String]) -> Vec<regex::Regex> {
    patterns
        .iter()
        .filter_map(|p| regex::Regex::new(p).ok())
        .collect()
}

/// Collects one detector's attributes, keeping the enabled ones only.
pub struct Builder {
    enabled: Vec<&'static str>,
    out: Vec<KeyValue>,
}

impl Builder {
    /// `detector`'s defaults with the user's `switches` applied.
    pub fn new(detector: &str, switches: &Switches) -> Builder {
        let enabled = attributes(detector)
            .unwrap_or_default()
            .iter()
            .filter(|(key, default)| switches.get(*key).map_or(*default, |s| s.enabled))
            .map(|(key, _)| *key)
            .collect();
        Builder {
            enabled,
            out: Vec::new(),
        }
    }

    pub fn enabled(&self, key: &str) -> bool {
        self.enabled.contains(&key)
    }

    pub fn set(&mut self, key: &str, value: any_value::Value) {
        if self.enabled(key) {
            self.put(key, value);
        }
    }

    pub fn set_str(&mut self, key: &str, value: impl Into<String>) {
        self.set(key, any_value::Value::StringValue(value.into()));
    }

    /// Adds an attribute outside the table (tags, labels), replacing one of the same key.
    pub fn put(&mut self, key: &str, value: any_value::Value) {
        let value = Some(AnyValue { value: Some(value) });
        match self.out.iter_mut().find(|kv| kv.key == key) {
            Some(kv) => kv.value = value,
            None => self.out.push(KeyValue {
                key: key.to_string(),
                value,
                ..Default::default()
            }),
        }
    }

    pub fn finish(self) -> Vec<KeyValue> {
        self.out
    }
}
