//! `exporters.graphistry` config.

use std::path::PathBuf;
use std::time::Duration;

use llamacol_api::config::{ComponentConfig, Issue, Secret};
use llamacol_api::http::TlsConfig;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GraphistryConfig {
    /// Graphistry server host (and port). Default `hub.graphistry.com`.
    pub server: String,
    /// `https` (default) or `http`.
    pub protocol: String,
    /// Account login (with `password`), or use a personal key.
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// Personal key (with `personal_key_secret`), instead of username/password.
    pub personal_key_id: Option<String>,
    pub personal_key_secret: Option<Secret>,
    /// Organization to upload into (its slug); the login must be a member.
    pub org_name: Option<String>,
    /// How long spans are gathered into one graph. Default 1m.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// A window never holds more spans: when full it is uploaded at once and the rest go
    /// to the next window. Default 100000.
    pub max_spans: usize,
    /// Dataset name; `{start}`, `{end}` (the window, RFC 3339 UTC), `{spans}` and
    /// `{traces}` are replaced. Default `llamacol traces {start}`.
    pub name: String,
    /// `span` (default): parent -> child edges; `service`: also service -> service edges
    /// with call counts (and a node per service).
    pub edges: EdgeMode,
    /// Sharing of each dataset. Default private.
    pub privacy: Privacy,
    /// Write `nodes.arrow`, `edges.arrow` and `bindings.json` per window into this
    /// directory instead of uploading (air-gapped nodes); no credentials then.
    pub offline_dir: Option<PathBuf>,
    /// Deadline of one request. Default 30s.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    pub tls: TlsConfig,
}

impl Default for GraphistryConfig {
    fn default() -> Self {
        GraphistryConfig {
            server: "hub.graphistry.com".into(),
            protocol: "https".into(),
            username: None,
            password: None,
            personal_key_id: None,
            personal_key_secret: None,
            org_name: None,
            window: Duration::from_secs(60),
            max_spans: 100_000,
            name: "llamacol traces {start}".into(),
            edges: EdgeMode::Span,
            privacy: Privacy::default(),
            offline_dir: None,
            timeout: Duration::from_secs(30),
            tls: TlsConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum EdgeMode {
    Span,
    Service,
}

/// Graphistry's share settings (`POST /api/v2/share/link/`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Privacy {
    /// `private` (default), `organization` or `public`.
    pub mode: PrivacyMode,
    /// Users (emails) invited to view.
    pub invited_users: Vec<String>,
    /// Email the invited users.
    pub notify: bool,
    /// Message of that email.
    pub message: String,
}

impl Default for Privacy {
    fn default() -> Self {
        Privacy {
            mode: PrivacyMode::Private,
            invited_users: Vec::new(),
            notify: false,
            message: String::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PrivacyMode {
    Private,
    Organization,
    Public,
}

impl PrivacyMode {
    pub fn as_str(self) -> &'static str {
        match self {
            PrivacyMode::Private => "private",
            PrivacyMode::Organization => "organization",
            PrivacyMode::Public => "public",
        }
    }
}

/// How the exporter logs in.
pub enum Credentials<'a> {
    Password(&'a str, &'a Secret),
    PersonalKey(&'a str, &'a Secret),
}

impl GraphistryConfig {
    pub fn credentials(&self) -> Option<Credentials<'_>> {
        match (
            &self.username,
            &self.password,
            &self.personal_key_id,
            &self.personal_key_secret,
        ) {
            (Some(u), Some(p), _, _) => Some(Credentials::Password(u, p)),
            (_, _, Some(id), Some(secret)) => Some(Credentials::PersonalKey(id, secret)),
            _ => None,
        }
    }

    /// `{protocol}://{server}`.
    pub fn base_url(&self) -> String {
        format!("{}://{}", self.protocol, self.server.trim_end_matches('/'))
    }
}

const PLACEHOLDERS: [&str; 4] = ["{start}", "{end}", "{spans}", "{traces}"];

impl ComponentConfig for GraphistryConfig {
    fn validate(&self) -> Vec<Issue> {
        let mut issues = Vec::new();
        let password = self.username.is_some() || self.password.is_some();
        let key = self.personal_key_id.is_some() || self.personal_key_secret.is_some();
        let set = |s: &Option<String>| s.as_deref().is_some_and(|v| !v.trim().is_empty());
        let secret = |s: &Option<Secret>| s.as_ref().is_some_and(|v| !v.is_empty());
        if self.offline_dir.is_some() {
            if password || key {
                issues.push(Issue::new("offline_dir", "writes files instead of uploading, so credentials are not used; remove `offline_dir` to upload, or the credentials"));
            }
        } else if password && key {
            issues.push(Issue::new("personal_key_id", "give either `username`/`password` or `personal_key_id`/`personal_key_secret`, not both"));
        } else if password && !(set(&self.username) && secret(&self.password)) {
            issues.push(Issue::new(
                if set(&self.username) { "password" } else { "username" },
                "`username` and `password` go together (e.g. `password: ${env:GRAPHISTRY_PASSWORD}`)",
            ));
        } else if key && !(set(&self.personal_key_id) && secret(&self.personal_key_secret)) {
            issues.push(Issue::new(
                if set(&self.personal_key_id) {
                    "personal_key_secret"
                } else {
                    "personal_key_id"
                },
                "`personal_key_id` and `personal_key_secret` go together",
            ));
        } else if !password && !key {
            issues.push(Issue::new("username", "Graphistry needs credentials: `username`/`password` or `personal_key_id`/`personal_key_secret` (from the environment, e.g. `${env:GRAPHISTRY_PASSWORD}`), or `offline_dir` to write files instead"));
        }
        if !matches!(self.protocol.as_str(), "https" | "http") {
            issues.push(Issue::new("protocol", "`https` or `http`"));
        }
        if self.server.trim().is_empty() || self.server.contains("://") {
            issues.push(Issue::new(
                "server",
                "a host (and port), e.g. `hub.graphistry.com`; the scheme goes in `protocol`",
            ));
        }
        if self.window.is_zero() {
            issues.push(Issue::new("window", "must be more than 0, e.g. `1m`"));
        }
        if self.max_spans == 0 {
            issues.push(Issue::new("max_spans", "must be more than 0"));
        }
        if self.timeout.is_zero() {
            issues.push(Issue::new("timeout", "must be more than 0"));
        }
        let mut rest = self.name.clone();
        for p in PLACEHOLDERS {
            rest = rest.replace(p, "");
        }
        if rest.contains('{') || rest.contains('}') {
            issues.push(Issue::new(
                "name",
                format!(
                    "unknown placeholder in `{}`; known: {}",
                    self.name,
                    PLACEHOLDERS.join(", ")
                ),
            ));
        }
        issues
    }
}
