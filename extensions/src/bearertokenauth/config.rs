//! `extensions.bearertokenauth` config: the Collector's keys.

use std::path::PathBuf;

use llamacol_api::config::{ComponentConfig, Issue, Secret};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BearerTokenAuthConfig {
    /// The header carrying the token. Default `Authorization`.
    pub header: String,
    /// Written before the token. Default `Bearer`.
    pub scheme: String,
    /// The token (e.g. `${env:LLAMACOL_TOKEN}`).
    pub token: Option<Secret>,
    /// Server side: every token accepted (rotation with overlap).
    pub tokens: Vec<Secret>,
    /// A file holding the token (first line), read again when it changes.
    pub filename: Option<PathBuf>,
}

impl Default for BearerTokenAuthConfig {
    fn default() -> Self {
        BearerTokenAuthConfig {
            header: "Authorization".into(),
            scheme: "Bearer".into(),
            token: None,
            tokens: Vec::new(),
            filename: None,
        }
    }
}

impl ComponentConfig for BearerTokenAuthConfig {
    fn validate(&self) -> Vec<Issue> {
        let mut issues = Vec::new();
        let given = usize::from(self.token.is_some())
            + usize::from(!self.tokens.is_empty())
            + usize::from(self.filename.is_some());
        if given != 1 {
            issues.push(Issue::new(
                "token",
                "give exactly one of `token` (e.g. `${env:LLAMACOL_TOKEN}`), `tokens` or `filename`",
            ));
        }
        if self.token.as_ref().is_some_and(Secret::is_empty)
            || self.tokens.iter().any(Secret::is_empty)
        {
            issues.push(Issue::new(
                "token",
                "is empty (an unset environment variable?)",
            ));
        }
        if axum::http::HeaderName::from_bytes(self.header.as_bytes()).is_err() {
            issues.push(Issue::new("header", "not a valid HTTP header name"));
        }
        issues
    }
}
