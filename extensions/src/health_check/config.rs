//! `health_check` config: the Collector's `endpoint`, `path` and `response_body`.

use llamacol_api::config::{check_listen, ComponentConfig, Issue, Listen};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HealthCheckConfig {
    /// Where the health endpoint listens. Default `localhost:13133` (the Collector's);
    /// use `0.0.0.0:13133` for a Kubernetes probe from outside the pod's network namespace.
    pub endpoint: String,
    /// The path answered. Default `/`.
    pub path: String,
    /// Bodies to answer with instead of the default JSON status.
    pub response_body: Option<ResponseBody>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ResponseBody {
    pub healthy: String,
    pub unhealthy: String,
}

impl Default for HealthCheckConfig {
    fn default() -> Self {
        HealthCheckConfig {
            endpoint: "localhost:13133".to_string(),
            path: "/".to_string(),
            response_body: None,
        }
    }
}

impl ComponentConfig for HealthCheckConfig {
    fn validate(&self) -> Vec<Issue> {
        let mut issues = Vec::new();
        if !self.path.starts_with('/') {
            issues.push(Issue::new(
                "path",
                format!("must start with `/`, e.g. `/{}`", self.path),
            ));
        }
        issues.extend(check_listen("endpoint", &self.endpoint, 13133));
        issues
    }

    fn listens(&self) -> Vec<Listen> {
        vec![Listen {
            path: "endpoint".to_string(),
            address: self.endpoint.clone(),
        }]
    }
}
