//! `exporters.jsonl_webhook` config (plus the `sending_queue` / `retry_on_failure` keys
//! every exporter takes).

use std::time::Duration;

use llamacol_api::config::{is_http_url, ComponentConfig, Issue};
use llamacol_api::http::{Headers, TlsConfig};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JsonlWebhookConfig {
    /// Where batches are POSTed, e.g. `https://hooks.example.com/otlp`. Required.
    pub endpoint: String,
    /// Sent with every request (values never logged).
    pub headers: Headers,
    /// Per request. Default 5s.
    #[serde(with = "llamacol_api::config::duration")]
    pub timeout: Duration,
    pub tls: TlsConfig,
}

impl Default for JsonlWebhookConfig {
    fn default() -> Self {
        JsonlWebhookConfig {
            endpoint: String::new(),
            headers: Headers::default(),
            timeout: Duration::from_secs(5),
            tls: TlsConfig::default(),
        }
    }
}

impl ComponentConfig for JsonlWebhookConfig {
    fn validate(&self) -> Vec<Issue> {
        let mut issues = Vec::new();
        if !is_http_url(&self.endpoint) {
            issues.push(Issue::new(
                "endpoint",
                format!(
                    "`{}` is not an http(s) URL; write e.g. `https://hooks.example.com/otlp`",
                    self.endpoint
                ),
            ));
        }
        if self.timeout.is_zero() {
            issues.push(Issue::new("timeout", "must be longer than 0s"));
        }
        issues
    }
}
