//! `processors.resource` config: the Collector's `resource` processor keys.

use llamacol_api::attraction::{ActionConfig, Actions};
use llamacol_api::config::{ComponentConfig, Issue};
use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResourceConfig {
    /// Applied in order to every resource: `{key, action, value | from_attribute |
    /// from_context | default_value, pattern, converted_type}` with the actions insert,
    /// update, upsert, delete, hash, extract and convert (use `${env:K8S_NODE_NAME}` for
    /// values from the environment).
    pub attributes: Vec<ActionConfig>,
}

impl ComponentConfig for ResourceConfig {
    fn validate(&self) -> Vec<Issue> {
        let mut issues = Actions::new("attributes", &self.attributes)
            .err()
            .unwrap_or_default();
        if self.attributes.is_empty() {
            issues.push(Issue::new(
                "attributes",
                "lists no action; e.g. `- {key: k8s.node.name, value: \"${env:K8S_NODE_NAME}\", action: upsert}`",
            ));
        }
        issues
    }
}
