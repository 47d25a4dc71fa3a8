//! `receivers.nvml` config.

use std::collections::BTreeMap;
use std::time::Duration;

use llamacol_api::config::{did_you_mean, ComponentConfig, Issue};
use serde::Deserialize;

/// Every metric of the semconv naming; the names `metrics:` switches use.
pub const METRICS: [&str; 25] = [
    "hw.gpu.utilization",
    "hw.gpu.memory.utilization",
    "hw.gpu.memory.usage",
    "hw.gpu.memory.limit",
    "hw.power",
    "hw.energy",
    "hw.temperature",
    "hw.fan.speed_ratio",
    "hw.errors",
    "nvml.clock.frequency",
    "nvml.pcie.throughput",
    "nvml.pcie.replay.count",
    "nvml.throttle.reason",
    "nvml.performance_state",
    "nvml.power.limit",
    "nvml.throttle.duration",
    "nvml.memory.remapped_rows",
    "nvml.memory.retired_pages",
    "nvml.nvlink.state",
    "nvml.nvlink.errors",
    "nvml.nvlink.io",
    "nvml.process.memory.usage",
    "nvml.process.utilization",
    "nvml.xid.errors",
    "hw.status",
];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NvmlConfig {
    /// Time between readings. Default 10s.
    #[serde(with = "humantime_serde")]
    pub collection_interval: Duration,
    /// GPUs to read, by index or UUID. Default: all (MIG instances included).
    pub devices: Vec<DeviceSelector>,
    /// Per-metric switches, e.g. `nvml.process.memory.usage: {enabled: false}`.
    pub metrics: BTreeMap<String, MetricSwitch>,
    /// Per-process GPU memory and utilization (`nvml.process.memory.usage`,
    /// `nvml.process.utilization`). Default on.
    pub processes: bool,
    /// With no NVML (no driver, no GPU): `warn` logs one line and idles (default);
    /// `fail` stops llamacol from starting.
    pub on_unavailable: OnUnavailable,
    /// `semconv` (default): OpenTelemetry hardware names; `dcgm`: NVIDIA dcgm-exporter's
    /// names and labels, so existing dashboards work unchanged.
    pub naming: Naming,
    /// Watch the GPUs' XID events (counted in `nvml.xid.errors`, logged, and sent as
    /// log records when the receiver is in a logs pipeline). Default on.
    pub xid_events: bool,
    /// Exemplars on `nvml.xid.errors` and `nvml.throttle.duration`: a GenAI request that
    /// was running (from the `genai` processor's `node_context`). Default off.
    pub exemplars: bool,
    /// The node's name for `host.name` (and dcgm's `Hostname`). Default: this machine's
    /// hostname, which in a pod is the pod's name: the Helm chart sets the node's
    /// (`${env:K8S_NODE_NAME}`, from the downward API), as dcgm-exporter's `NODE_NAME`.
    pub hostname: Option<String>,
    /// On a Kubernetes node: which pod holds each GPU (the kubelet's pod-resources API)
    /// and which pod each GPU process runs in (its cgroup).
    pub kubernetes: super::kubernetes::KubernetesConfig,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum DeviceSelector {
    Index(u32),
    Uuid(String),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricSwitch {
    pub enabled: bool,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum OnUnavailable {
    #[default]
    Warn,
    Fail,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Naming {
    #[default]
    Semconv,
    Dcgm,
}

impl Default for NvmlConfig {
    fn default() -> Self {
        NvmlConfig {
            collection_interval: Duration::from_secs(10),
            devices: Vec::new(),
            metrics: BTreeMap::new(),
            processes: true,
            on_unavailable: OnUnavailable::Warn,
            naming: Naming::Semconv,
            xid_events: true,
            exemplars: false,
            hostname: None,
            kubernetes: Default::default(),
        }
    }
}

impl NvmlConfig {
    pub fn enabled(&self, metric: &str) -> bool {
        if metric.starts_with("nvml.process.") && !self.processes {
            return false;
        }
        self.metrics.get(metric).is_none_or(|s| s.enabled)
    }
}

impl ComponentConfig for NvmlConfig {
    fn validate(&self) -> Vec<Issue> {
        let mut issues = Vec::new();
        for name in self.metrics.keys() {
            if !METRICS.contains(&name.as_str()) {
                let hint = did_you_mean(name, METRICS)
                    .map(|m| format!(" (did you mean `{m}`?)"))
                    .unwrap_or_default();
                issues.push(Issue::new(
                    format!("metrics.{name}"),
                    format!(
                        "unknown metric `{name}`{hint}; known: {}",
                        METRICS.join(", ")
                    ),
                ));
            }
        }
        if self.collection_interval.is_zero() {
            issues.push(Issue::new("collection_interval", "must be more than 0"));
        }
        issues
    }
}
