//! `exporters.zipkin` config: the Collector's `zipkinexporter` keys and defaults.

use std::time::Duration;

use llamacol_api::config::{ComponentConfig, Issue, Listen};
use llamacol_api::http::{Headers, TlsConfig};
use serde::Deserialize;

use crate::otlp::Compression;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ZipkinConfig {
    /// Where spans are POSTed, e.g. `http://zipkin:9411/api/v2/spans`. Required.
    pub endpoint: String,
    /// `json` (default) or `proto`: Zipkin v2's JSON or protobuf `ListOfSpans`.
    pub format: Format,
    /// The local service of spans whose resource names none (no `service.name`,
    /// `faas.name`, `k8s.deployment.name` or `process.executable.name`). Default
    /// `<missing service name>`.
    pub default_service_name: String,
    /// `none` (default, as the Collector's), `gzip` or `zstd`.
    pub compression: Compression,
    /// Sent with every request; values are never logged.
    pub headers: Headers,
    /// Deadline of one request. Default 5s.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    pub tls: TlsConfig,
    /// Send the credentials of an authenticator extension.
    pub auth: Option<llamacol_api::auth::AuthConfig>,
}

impl Default for ZipkinConfig {
    fn default() -> Self {
        ZipkinConfig {
            endpoint: String::new(),
            format: Format::Json,
            default_service_name: "<missing service name>".into(),
            compression: Compression::None,
            headers: Headers::default(),
            timeout: Duration::from_secs(5),
            tls: TlsConfig::default(),
            auth: None,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Json,
    Proto,
}

impl ComponentConfig for ZipkinConfig {
    fn authenticators(&self) -> Vec<Listen> {
        crate::otlp::auth_claim(self.auth.as_ref(), "auth.authenticator")
    }

    fn validate(&self) -> Vec<Issue> {
        let endpoint = self.endpoint.trim();
        if endpoint.is_empty() {
            return vec![Issue::new(
                "endpoint",
                "is required: the Zipkin server's spans URL, e.g. `http://zipkin:9411/api/v2/spans`",
            )];
        }
        if !(endpoint.starts_with("http://")
            || endpoint.starts_with("https://")
            || endpoint.contains("${"))
        {
            return vec![Issue::new(
                "endpoint",
                format!("`{endpoint}` is not an http:// or https:// URL; write e.g. `http://zipkin:9411/api/v2/spans`"),
            )];
        }
        Vec::new()
    }
}
