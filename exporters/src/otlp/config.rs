//! `exporters.otlp` config: the Collector's `otlp` and `otlphttp` exporters in one,
//! chosen by `protocol`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use llamacol_pipeline::config::{ComponentConfig, Issue};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtlpExporterConfig {
    /// gRPC: `host:port` (TLS unless `tls.insecure: true`) or an `http://`/`https://` URL.
    /// HTTP: a base URL; `/v1/traces`, `/v1/metrics`, `/v1/logs` are appended. Required
    /// (for HTTP it may be left out when every `*_endpoint` below is set).
    pub endpoint: String,
    /// `grpc` (default) or `http`.
    pub protocol: Protocol,
    /// HTTP body encoding: `proto` (default) or `json`.
    pub encoding: Encoding,
    /// `gzip` (default), `zstd` or `none`.
    pub compression: Compression,
    /// Sent with every request, e.g. `authorization: "Bearer ${env:TOKEN}"`. Values are
    /// never logged.
    pub headers: Headers,
    /// Deadline of one export request. Default 5s.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    pub tls: TlsConfig,
    /// HTTP only: full URL for traces, instead of `endpoint` + `/v1/traces`.
    pub traces_endpoint: Option<String>,
    /// HTTP only: full URL for metrics.
    pub metrics_endpoint: Option<String>,
    /// HTTP only: full URL for logs.
    pub logs_endpoint: Option<String>,
}

impl Default for OtlpExporterConfig {
    fn default() -> Self {
        OtlpExporterConfig {
            endpoint: String::new(),
            protocol: Protocol::Grpc,
            encoding: Encoding::Proto,
            compression: Compression::Gzip,
            headers: Headers::default(),
            timeout: Duration::from_secs(5),
            tls: TlsConfig::default(),
            traces_endpoint: None,
            metrics_endpoint: None,
            logs_endpoint: None,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Grpc,
    Http,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    Proto,
    Json,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    Gzip,
    Zstd,
    None,
}

/// Header names and values; `Debug` shows names only, so secrets stay out of logs.
#[derive(Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct Headers(pub BTreeMap<String, String>);

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.keys().map(|k| (k, "<redacted>")))
            .finish()
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// gRPC without a URL scheme: plaintext instead of TLS.
    pub insecure: bool,
    /// PEM CA bundle to trust instead of the system roots.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate (with `key_file`) for mutual TLS.
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// Server name to verify, when it differs from the endpoint's host.
    pub server_name_override: Option<String>,
}

impl ComponentConfig for OtlpExporterConfig {
    fn validate(&self) -> Vec<Issue> {
        let mut issues = Vec::new();
        let all_signal_urls = self.traces_endpoint.is_some()
            && self.metrics_endpoint.is_some()
            && self.logs_endpoint.is_some();
        if self.endpoint.trim().is_empty() && !(self.protocol == Protocol::Http && all_signal_urls)
        {
            issues.push(Issue::new("endpoint", "`endpoint` is required, e.g. `gateway:4317` (grpc) or `http://gateway:4318` (http)"));
        }
        if self.protocol == Protocol::Grpc {
            if self.encoding == Encoding::Json {
                issues.push(Issue::new(
                    "encoding",
                    "`json` is for `protocol: http`; gRPC always sends protobuf",
                ));
            }
            for (key, v) in [
                ("traces_endpoint", &self.traces_endpoint),
                ("metrics_endpoint", &self.metrics_endpoint),
                ("logs_endpoint", &self.logs_endpoint),
            ] {
                if v.is_some() {
                    issues.push(Issue::new(key, "per-signal URLs are for `protocol: http`"));
                }
            }
        } else if !self.endpoint.is_empty()
            && !self.endpoint.starts_with("http://")
            && !self.endpoint.starts_with("https://")
        {
            issues.push(Issue::new(
                "endpoint",
                format!(
                    "`{}` needs a scheme for `protocol: http`, e.g. `http://{}`",
                    self.endpoint, self.endpoint
                ),
            ));
        }
        if self.tls.cert_file.is_some() != self.tls.key_file.is_some() {
            issues.push(Issue::new("tls", "`cert_file` and `key_file` go together"));
        }
        for name in self.headers.0.keys() {
            if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                issues.push(Issue::new(
                    format!("headers.{name}"),
                    "not a valid HTTP header name",
                ));
            }
        }
        if self.timeout.is_zero() {
            issues.push(Issue::new("timeout", "must be more than 0"));
        }
        issues
    }
}
