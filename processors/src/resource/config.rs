//! `processors.resource` config: the Collector's `resource` processor keys.

use llamacol_api::config::{ComponentConfig, Issue};
use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResourceConfig {
    /// Applied in order to every resource.
    pub attributes: Vec<Action>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Action {
    pub key: String,
    /// `insert` (only when absent), `update` (only when present), `upsert` (either),
    /// `delete`.
    pub action: ActionKind,
    /// The value for insert/update/upsert: a string, integer, float or boolean (use
    /// `${env:K8S_NODE_NAME}` for values from the environment).
    #[serde(default)]
    pub value: Option<llamacol_api::serde_yaml::Value>,
    /// Instead of `value`: the value of this other resource attribute.
    #[serde(default)]
    pub from_attribute: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ActionKind {
    Insert,
    Update,
    Upsert,
    Delete,
}

impl ComponentConfig for ResourceConfig {
    fn validate(&self) -> Vec<Issue> {
        let mut issues = Vec::new();
        if self.attributes.is_empty() {
            issues.push(Issue::new(
                "attributes",
                "lists no action; e.g. `- {key: k8s.node.name, value: \"${env:K8S_NODE_NAME}\", action: upsert}`",
            ));
        }
        for (i, a) in self.attributes.iter().enumerate() {
            let at = |field: &str| format!("attributes[{i}].{field}");
            if a.key.is_empty() {
                issues.push(Issue::new(at("key"), "is empty"));
            }
            let sources = usize::from(a.value.is_some()) + usize::from(a.from_attribute.is_some());
            match a.action {
                ActionKind::Delete if sources > 0 => issues.push(Issue::new(
                    at("action"),
                    "`delete` takes no `value` or `from_attribute`",
                )),
                ActionKind::Delete => {}
                _ if sources != 1 => issues.push(Issue::new(
                    at("value"),
                    "give exactly one of `value` and `from_attribute`",
                )),
                _ => {}
            }
            if let Some(v) = &a.value {
                if !(v.is_string() || v.is_i64() || v.is_u64() || v.is_f64() || v.is_bool()) {
                    issues.push(Issue::new(
                        at("value"),
                        "must be a string, number or boolean",
                    ));
                }
            }
        }
        issues
    }
}
