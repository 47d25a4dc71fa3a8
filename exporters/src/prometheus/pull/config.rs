//! `exporters.prometheus` config: the Collector's keys and defaults.

use std::collections::BTreeMap;
use std::time::Duration;

use llamacol_api::config::{ComponentConfig, Issue, Listen};
use serde::Deserialize;

use crate::prometheus::model::observe::Options;
use crate::prometheus::model::translate::TranslationStrategy;
use crate::prometheus::model::ResourceToTelemetry;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrometheusConfig {
    /// Where `/metrics` is served. Default `0.0.0.0:9464`.
    pub endpoint: String,
    /// Prefix for every metric name (`namespace_name`).
    pub namespace: Option<String>,
    /// Labels added to every series.
    pub const_labels: BTreeMap<String, String>,
    /// Write each sample's timestamp. Default false (Prometheus stamps scrape time).
    pub send_timestamps: bool,
    /// A series not updated for this long disappears. Default 5m.
    #[serde(with = "humantime_serde")]
    pub metric_expiration: Duration,
    /// Answer with OpenMetrics text (exemplars included) when the scraper asks for it.
    pub enable_open_metrics: bool,
    pub translation_strategy: TranslationStrategy,
    pub resource_to_telemetry_conversion: ResourceToTelemetry,
    /// Leave out the `otel_scope_name` / `otel_scope_version` labels.
    pub without_scope_info: bool,
    /// Serve `/metrics` over TLS (mTLS with `client_ca_file`); plaintext when absent.
    pub tls: Option<llamacol_api::tls::ServerTlsConfig>,
    /// Deprecated in the Collector for `translation_strategy`, and ignored there since
    /// v0.132.0 (its `DisableAddMetricSuffixes` gate is on by default); accepted and
    /// ignored here too (said at start when `false`).
    pub add_metric_suffixes: Option<bool>,
}

impl Default for PrometheusConfig {
    fn default() -> Self {
        PrometheusConfig {
            endpoint: "0.0.0.0:9464".into(),
            namespace: None,
            const_labels: BTreeMap::new(),
            send_timestamps: false,
            metric_expiration: Duration::from_secs(300),
            enable_open_metrics: false,
            add_metric_suffixes: None,
            translation_strategy: TranslationStrategy::default(),
            resource_to_telemetry_conversion: ResourceToTelemetry::default(),
            without_scope_info: false,
            tls: None,
        }
    }
}

impl PrometheusConfig {
    pub fn options(&self) -> Options {
        Options {
            namespace: self.namespace.clone(),
            const_labels: self
                .const_labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            strategy: self.translation_strategy,
            resource_to_telemetry: self.resource_to_telemetry_conversion.enabled,
            without_scope_info: self.without_scope_info,
            target_info: true,
        }
    }
}

impl ComponentConfig for PrometheusConfig {
    fn validate(&self) -> Vec<Issue> {
        let mut issues = Vec::new();
        if let Some(tls) = &self.tls {
            issues.extend(tls.issues("tls"));
        }
        if self.metric_expiration.is_zero() {
            issues.push(Issue::new(
                "metric_expiration",
                "must be more than 0, e.g. 5m",
            ));
        }
        for name in self.const_labels.keys() {
            let ok = name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok {
                issues.push(Issue::new(
                    format!("const_labels.{name}"),
                    "not a valid Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)",
                ));
            }
        }
        issues
    }

    fn listens(&self) -> Vec<Listen> {
        vec![Listen {
            path: "endpoint".into(),
            address: self.endpoint.clone(),
        }]
    }
}
