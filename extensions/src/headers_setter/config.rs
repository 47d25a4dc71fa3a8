//! `extensions.headers_setter` config: the Collector's keys.

use llamacol_api::config::{ComponentConfig, Issue};
use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HeadersSetterConfig {
    pub headers: Vec<HeaderRule>,
}

/// One header to set on each outgoing request.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderRule {
    /// The header's name.
    pub key: String,
    /// `upsert` (default): set it; `insert`: only when the request does not have it;
    /// `update`: only when it does; `delete`: remove it.
    #[serde(default)]
    pub action: Action,
    /// A fixed value.
    pub value: Option<String>,
    /// The client metadata key (`include_metadata` on the receiver) whose value to send.
    pub from_context: Option<String>,
    /// Sent when `from_context` finds nothing.
    pub default_value: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Insert,
    Update,
    #[default]
    Upsert,
    Delete,
}

impl ComponentConfig for HeadersSetterConfig {
    fn validate(&self) -> Vec<Issue> {
        let mut issues = Vec::new();
        if self.headers.is_empty() {
            issues.push(Issue::new(
                "headers",
                "list at least one header, e.g. `[{key: X-Scope-OrgID, from_context: x-scope-orgid}]`",
            ));
        }
        for (i, rule) in self.headers.iter().enumerate() {
            let at = format!("headers[{i}]");
            if axum::http::HeaderName::from_bytes(rule.key.as_bytes()).is_err() {
                issues.push(Issue::new(
                    format!("{at}.key"),
                    format!("`{}` is not a valid header name", rule.key),
                ));
            }
            let sources =
                usize::from(rule.value.is_some()) + usize::from(rule.from_context.is_some());
            match (rule.action, sources) {
                (Action::Delete, 0) => {}
                (Action::Delete, _) => issues.push(Issue::new(
                    &at,
                    "`delete` takes no `value` or `from_context`",
                )),
                (_, 1) => {}
                (_, _) => issues.push(Issue::new(
                    &at,
                    "give exactly one of `value` or `from_context`",
                )),
            }
            if rule.default_value.is_some() && rule.from_context.is_none() {
                issues.push(Issue::new(
                    format!("{at}.default_value"),
                    "only with `from_context`",
                ));
            }
        }
        issues
    }
}
