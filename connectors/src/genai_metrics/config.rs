//! `connectors.genai_metrics` config: spanmetrics' keys where they mean the same.

use std::time::Duration;

use llamacol_api::config::{ComponentConfig, Issue};
use serde::Deserialize;

/// The resource attributes that tell series apart at a gateway (the metrics' resource
/// carries those present).
pub const RESOURCE_KEYS: [&str; 4] = [
    "service.name",
    "service.namespace",
    "service.instance.id",
    "host.name",
];

/// The span attributes series are split by, in this order; each instrument carries those
/// the conventions give it (emit.rs). `dimensions` add to them and may not repeat them.
pub const FIXED_ATTRIBUTES: [&str; 10] = [
    "gen_ai.operation.name",
    "gen_ai.provider.name",
    "gen_ai.request.model",
    "gen_ai.response.model",
    "server.address",
    "server.port",
    "error.type",
    "gen_ai.agent.name",
    "gen_ai.tool.name",
    "gen_ai.workflow.name",
];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GenaiMetricsConfig {
    /// More span attributes (then resource attributes) to split series by, as
    /// spanmetrics' `dimensions`: a missing one takes `default`, or is left out.
    pub dimensions: Vec<Dimension>,
    /// Distinct series (resource service + attribute set) kept; spans of further ones
    /// are aggregated into one overflow series with `otel.metric.overflow=true`.
    /// Default 10000.
    pub max_series: usize,
    /// How often the cumulative metrics are emitted. Default 15s, as spanmetrics.
    #[serde(with = "humantime_serde")]
    pub metrics_flush_interval: Duration,
    /// Explicit bucket boundaries; defaults: the conventions' advisory ones.
    pub buckets: Buckets,
}

impl Default for GenaiMetricsConfig {
    fn default() -> Self {
        GenaiMetricsConfig {
            dimensions: Vec::new(),
            max_series: 10_000,
            metrics_flush_interval: Duration::from_secs(15),
            buckets: Buckets::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Dimension {
    pub name: String,
    #[serde(default)]
    pub default: Option<String>,
}

/// Bucket boundaries per histogram.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Buckets {
    /// `gen_ai.client.token.usage`, tokens.
    pub token_usage: Vec<f64>,
    /// `gen_ai.client.operation.duration`, `gen_ai.server.request.duration` and the agent,
    /// tool and workflow durations, seconds.
    pub operation_duration: Vec<f64>,
    /// `gen_ai.client.operation.time_to_first_chunk` and
    /// `gen_ai.server.time_to_first_token`, seconds.
    pub time_to_first_token: Vec<f64>,
    /// `gen_ai.client.operation.time_per_output_chunk` and
    /// `gen_ai.server.time_per_output_token`, seconds.
    pub time_per_output_token: Vec<f64>,
}

impl Default for Buckets {
    /// The GenAI semantic conventions' advisory boundaries.
    fn default() -> Self {
        Buckets {
            token_usage: vec![
                1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0,
                4194304.0, 16777216.0, 67108864.0,
            ],
            operation_duration: vec![
                0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96,
                81.92,
            ],
            time_to_first_token: vec![
                0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0,
                7.5, 10.0,
            ],
            time_per_output_token: vec![
                0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5,
            ],
        }
    }
}

impl ComponentConfig for GenaiMetricsConfig {
    fn validate(&self) -> Vec<Issue> {
        let mut issues = Vec::new();
        if self.max_series == 0 {
            issues.push(Issue::new("max_series", "must be at least 1"));
        }
        if self.metrics_flush_interval.is_zero() {
            issues.push(Issue::new(
                "metrics_flush_interval",
                "must be longer than 0s (spanmetrics' default is 15s)",
            ));
        }
        for (key, bounds) in [
            ("token_usage", &self.buckets.token_usage),
            ("operation_duration", &self.buckets.operation_duration),
            ("time_to_first_token", &self.buckets.time_to_first_token),
            ("time_per_output_token", &self.buckets.time_per_output_token),
        ] {
            let increasing = bounds.windows(2).all(|w| w[0] < w[1]);
            if !increasing || bounds.iter().any(|b| !b.is_finite()) {
                issues.push(Issue::new(
                    format!("buckets.{key}"),
                    "boundaries must be finite numbers in increasing order",
                ));
            }
        }
        for (i, d) in self.dimensions.iter().enumerate() {
            if FIXED_ATTRIBUTES.contains(&d.name.as_str()) {
                issues.push(Issue::new(
                    format!("dimensions[{i}].name"),
                    format!(
                        "`{}` is always an attribute of these metrics; remove it",
                        d.name
                    ),
                ));
            } else if self.dimensions[..i].iter().any(|e| e.name == d.name) {
                issues.push(Issue::new(
                    format!("dimensions[{i}].name"),
                    format!("`{}` is listed twice; remove one", d.name),
                ));
            }
        }
        issues
    }
}
