//! `extensions.basicauth` config: the Collector's keys.

use std::path::PathBuf;

use llamacol_api::config::{ComponentConfig, Issue, Secret};
use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BasicAuthConfig {
    /// Server side: the users, in htpasswd form.
    pub htpasswd: Option<Htpasswd>,
    /// Client side: the user an exporter sends.
    pub client_auth: Option<ClientAuth>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Htpasswd {
    /// An htpasswd file (`user:hash` lines), read again when it changes.
    pub file: Option<PathBuf>,
    /// The same lines inline (both may be given; the file's users come first).
    pub inline: Option<Secret>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientAuth {
    pub username: String,
    pub password: Secret,
}

impl ComponentConfig for BasicAuthConfig {
    fn validate(&self) -> Vec<Issue> {
        let mut issues = Vec::new();
        if self.htpasswd.is_none() && self.client_auth.is_none() {
            issues.push(Issue::new(
                "htpasswd",
                "give `htpasswd` (`file` or `inline`, for receivers) and/or `client_auth` (`username`, `password`, for exporters)",
            ));
        }
        if let Some(h) = &self.htpasswd {
            if h.file.is_none() && h.inline.is_none() {
                issues.push(Issue::new("htpasswd", "give `file` and/or `inline`"));
            }
            if let Some(inline) = &h.inline {
                if let Err(e) = super::parse_htpasswd(inline.expose()) {
                    issues.push(Issue::new("htpasswd.inline", e.to_string()));
                }
            }
        }
        if let Some(c) = &self.client_auth {
            if c.username.is_empty() || c.username.contains(':') {
                issues.push(Issue::new(
                    "client_auth.username",
                    "must be set and hold no `:`",
                ));
            }
        }
        issues
    }
}
