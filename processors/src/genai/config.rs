//! `processors.genai` config.

use std::collections::BTreeMap;

use llamacol_api::config::{ComponentConfig, Issue};
use serde::Deserialize;

use super::content::ContentMode;
use super::identity::Identities;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GenaiConfig {
    /// Keep the legacy attributes next to the current ones. Default false: every legacy
    /// key read is removed, including those only read to derive others.
    pub keep_original: bool,
    /// Prompt and completion content: `drop` (default), `keep` or `truncate`.
    pub content: ContentMode,
    /// With `content: truncate`, the most bytes kept of each content value. Default 1024.
    pub max_content_bytes: usize,
    /// Rename GenAI spans with a generic name (empty, `llm`, `chat`, `openai.chat`, the
    /// operation or provider name, ...) to `{gen_ai.operation.name} {gen_ai.request.model}`.
    /// Default false.
    pub rename_spans: bool,
    /// Add the llama.cpp server's model and build and this node's GPUs to the resource of
    /// GenAI spans (needs a `llamacpp` / `nvml` receiver in the same collector). Default false.
    pub node_context: bool,
    /// Per model (`gen_ai.response.model`, else `gen_ai.request.model`): USD per million
    /// tokens; sets `gen_ai.usage.cost`.
    pub pricing: BTreeMap<String, Price>,
    /// User and session identifiers (`user.id`, `gen_ai.conversation.id`, ...): `hash`
    /// (default), `keep` or `drop`.
    pub identities: Identities,
    /// The key of the identifiers' hash. Without it each collector process picks a random
    /// one (and says so once): give the same salt to every collector whose hashes must
    /// match, e.g. `${env:LLAMACOL_IDENTITY_SALT}`.
    pub identity_salt: Option<String>,
}

impl Default for GenaiConfig {
    fn default() -> Self {
        GenaiConfig {
            keep_original: false,
            content: ContentMode::Drop,
            max_content_bytes: 1024,
            rename_spans: false,
            node_context: false,
            pricing: BTreeMap::new(),
            identities: Identities::Hash,
            identity_salt: None,
        }
    }
}

/// USD per one million tokens.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub input: f64,
    pub output: f64,
    /// Input tokens read from the provider's prompt cache; default: the `input` price.
    #[serde(default)]
    pub cached_input: Option<f64>,
}

impl ComponentConfig for GenaiConfig {
    fn validate(&self) -> Vec<Issue> {
        let mut issues = Vec::new();
        if self.content == ContentMode::Truncate && self.max_content_bytes == 0 {
            issues.push(Issue::new(
                "max_content_bytes",
                "0 keeps nothing of each value; use `content: drop` for that, or give a size",
            ));
        }
        if self.identity_salt.as_deref() == Some("") {
            issues.push(Issue::new(
                "identity_salt",
                "an empty salt makes the hashes of known ids easy to guess; give a secret, or leave the key out",
            ));
        }
        for (model, price) in &self.pricing {
            let prices = [Some(price.input), Some(price.output), price.cached_input];
            if prices.iter().flatten().any(|p| !p.is_finite() || *p < 0.0) {
                issues.push(Issue::new(
                    format!("pricing.{model}"),
                    "prices are USD per million tokens: give numbers of 0 or more",
                ));
            }
        }
        issues
    }
}
