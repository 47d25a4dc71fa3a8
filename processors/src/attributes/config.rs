//! `processors.attributes` config: the Collector's `attributes` processor keys.

use llamacol_api::attraction::{ActionConfig, Actions};
use llamacol_api::config::{ComponentConfig, Issue};
use serde::Deserialize;

use super::matching::{MatchConfig, Matcher};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AttributesConfig {
    /// Applied in order to the attributes of each span, log record and metric data point:
    /// `{key, action, value | from_attribute | from_context | default_value, pattern,
    /// converted_type}`; actions insert, update, upsert, delete, hash, extract, convert.
    pub actions: Vec<ActionConfig>,
    /// Only items matching these properties are changed.
    pub include: Option<MatchConfig>,
    /// Items matching these properties are left alone (checked after `include`).
    pub exclude: Option<MatchConfig>,
}

impl AttributesConfig {
    pub fn matchers(&self) -> Result<(Option<Matcher>, Option<Matcher>), Vec<Issue>> {
        let include = self
            .include
            .as_ref()
            .map(|c| Matcher::new("include", c))
            .transpose()?;
        let exclude = self
            .exclude
            .as_ref()
            .map(|c| Matcher::new("exclude", c))
            .transpose()?;
        Ok((include, exclude))
    }
}

impl ComponentConfig for AttributesConfig {
    fn validate(&self) -> Vec<Issue> {
        let mut issues = Actions::new("actions", &self.actions)
            .err()
            .unwrap_or_default();
        if self.actions.is_empty() {
            issues.push(Issue::new(
                "actions",
                "lists no action; e.g. `- {key: gen_ai.prompt, action: delete}`",
            ));
        }
        if let Err(mut e) = self.matchers() {
            issues.append(&mut e);
        }
        issues
    }
}
