//! `receivers.llamacpp` config.

use std::time::Duration;

use llamacol_api::config::{ComponentConfig, Issue};
use llamacol_api::http::Headers;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LlamaCppConfig {
    /// The llama-server instances to scrape. Default: one at `http://127.0.0.1:8080`.
    pub targets: Vec<Target>,
    /// Time between scrapes. Default 10s.
    #[serde(with = "humantime_serde")]
    pub collection_interval: Duration,
    /// Deadline for each request to a target. Default: 2s, or `collection_interval` when
    /// that is shorter (as Prometheus lowers its default scrape timeout), so setting only a
    /// short interval stays valid. A timeout written here must not exceed the interval.
    #[serde(with = "humantime_serde")]
    pub timeout: Option<Duration>,
    /// Scrape `/metrics` (needs `--metrics` on the server). Default on.
    pub metrics: bool,
    /// Scrape `/slots`. Default on.
    pub slots: bool,
    /// Scrape `/health`. Default on.
    pub health: bool,
    /// Read `/props` at start and every `props_interval`. Default on.
    pub props: bool,
    /// Default 5m.
    #[serde(with = "humantime_serde")]
    pub props_interval: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// Base URL of the server, e.g. `http://127.0.0.1:8080`.
    pub endpoint: String,
    /// Shown as `llamacpp.target`; default `host:port`.
    #[serde(default)]
    pub name: Option<String>,
    /// Sent with every request, e.g. `authorization: "Bearer ${env:LLAMA_API_KEY}"`.
    #[serde(default)]
    pub headers: Headers,
}

impl Default for LlamaCppConfig {
    fn default() -> Self {
        LlamaCppConfig {
            targets: vec![Target {
                endpoint: "http://127.0.0.1:8080".into(),
                name: None,
                headers: Headers::default(),
            }],
            collection_interval: Duration::from_secs(10),
            timeout: None,
            metrics: true,
            slots: true,
            health: true,
            props: true,
            props_interval: Duration::from_secs(300),
        }
    }
}

impl LlamaCppConfig {
    /// The timeout used: the one written, else 2s capped at the interval.
    pub fn effective_timeout(&self) -> Duration {
        self.timeout
            .unwrap_or_else(|| DEFAULT_TIMEOUT.min(self.collection_interval))
    }
}

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

impl ComponentConfig for LlamaCppConfig {
    fn validate(&self) -> Vec<Issue> {
        let mut issues = Vec::new();
        if self.targets.is_empty() {
            issues.push(Issue::new(
                "targets",
                "list at least one target, e.g. `- endpoint: http://127.0.0.1:8080`",
            ));
        }
        for (i, t) in self.targets.iter().enumerate() {
            if !(t.endpoint.starts_with("http://") || t.endpoint.starts_with("https://")) {
                issues.push(Issue::new(
                    format!("targets[{i}].endpoint"),
                    format!("`{}` must be an http:// or https:// URL", t.endpoint),
                ));
            }
        }
        if self.collection_interval.is_zero() || self.timeout.is_some_and(|t| t.is_zero()) {
            issues.push(Issue::new(
                "collection_interval",
                "`collection_interval` and `timeout` must be more than 0",
            ));
        }
        if self.timeout.is_some_and(|t| t > self.collection_interval) {
            issues.push(Issue::new(
                "timeout",
                "must not exceed `collection_interval`",
            ));
        }
        issues
    }
}
