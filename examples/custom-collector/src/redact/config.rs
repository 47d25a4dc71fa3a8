//! `processors.redact` config.

use llamacol_api::config::{ComponentConfig, Issue};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedactConfig {
    /// Regular expressions (Rust `regex` syntax); every match in a string value is
    /// replaced. Required: at least one.
    pub patterns: Vec<String>,
    /// What a match becomes. Default `****`.
    pub mask: String,
    /// Only these attribute keys are redacted; empty (default): every string attribute,
    /// and log bodies.
    pub attributes: Vec<String>,
}

impl Default for RedactConfig {
    fn default() -> Self {
        RedactConfig {
            patterns: Vec::new(),
            mask: "****".into(),
            attributes: Vec::new(),
        }
    }
}

impl ComponentConfig for RedactConfig {
    fn validate(&self) -> Vec<Issue> {
        let mut issues = Vec::new();
        if self.patterns.is_empty() {
            issues.push(Issue::new(
                "patterns",
                "at least one pattern is needed, e.g. `['[\\w.+-]+@[\\w-]+\\.[\\w.]+']` for email addresses",
            ));
        }
        for (i, p) in self.patterns.iter().enumerate() {
            if let Err(e) = regex::Regex::new(p) {
                let e = e.to_string().replace('\n', " ");
                issues.push(Issue::new(
                    format!("patterns[{i}]"),
                    format!("not a valid regular expression: {e}"),
                ));
            }
        }
        issues
    }
}
