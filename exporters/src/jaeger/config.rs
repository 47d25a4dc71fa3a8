//! `exporters.jaeger` config.

use std::time::Duration;

use llamacol_api::config::{ByteSize, ComponentConfig, Issue};
use llamacol_api::http::{Headers, TlsConfig};
use serde::Deserialize;

use crate::otlp::{Compression, Encoding, OtlpExporterConfig, Protocol};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JaegerConfig {
    /// `otlp` (default: OTLP/gRPC, what Jaeger v2 takes on 4317), `otlp_http` (OTLP/HTTP,
    /// 4318) or `grpc` (Jaeger's own `api_v2.CollectorService/PostSpans`, 14250: Jaeger v1
    /// collectors and v2's `jaeger` receiver).
    pub protocol: JaegerProtocol,
    /// Default by protocol: `localhost:4317`, `http://localhost:4318`, `localhost:14250`.
    /// gRPC endpoints use TLS unless `tls.insecure: true` (as the Collector's exporters).
    pub endpoint: Option<String>,
    /// `gzip` (default), `zstd` or `none`.
    pub compression: Compression,
    /// Sent with every request; values are never logged.
    pub headers: Headers,
    /// Deadline of one request. Default 5s.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    pub tls: TlsConfig,
    /// Send the credentials of an authenticator extension.
    pub auth: Option<llamacol_api::auth::AuthConfig>,
    /// Largest request sent, uncompressed: as the `otlp` exporter's (default `4MiB` for
    /// gRPC, Jaeger's own receivers included; `20MiB` for `otlp_http`; `0`: no limit).
    pub max_request_size: Option<ByteSize>,
}

impl Default for JaegerConfig {
    fn default() -> Self {
        JaegerConfig {
            protocol: JaegerProtocol::Otlp,
            endpoint: None,
            compression: Compression::Gzip,
            headers: Headers::default(),
            timeout: Duration::from_secs(5),
            tls: TlsConfig::default(),
            auth: None,
            max_request_size: None,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum JaegerProtocol {
    Otlp,
    OtlpHttp,
    Grpc,
}

impl JaegerConfig {
    /// The sender settings: the `otlp` exporter's, with Jaeger's default endpoints.
    pub fn sender(&self) -> OtlpExporterConfig {
        let (protocol, default_endpoint) = match self.protocol {
            JaegerProtocol::Otlp => (Protocol::Grpc, "localhost:4317"),
            JaegerProtocol::OtlpHttp => (Protocol::Http, "http://localhost:4318"),
            JaegerProtocol::Grpc => (Protocol::Grpc, "localhost:14250"),
        };
        OtlpExporterConfig {
            endpoint: self
                .endpoint
                .clone()
                .unwrap_or_else(|| default_endpoint.to_string()),
            protocol,
            encoding: Encoding::Proto,
            compression: self.compression,
            headers: self.headers.clone(),
            timeout: self.timeout,
            tls: self.tls.clone(),
            auth: self.auth.clone(),
            max_request_size: self.max_request_size,
            ..OtlpExporterConfig::default()
        }
    }
}

impl ComponentConfig for JaegerConfig {
    fn authenticators(&self) -> Vec<llamacol_api::config::Listen> {
        crate::otlp::auth_claim(self.auth.as_ref(), "auth.authenticator")
    }

    fn validate(&self) -> Vec<Issue> {
        if self
            .endpoint
            .as_deref()
            .is_some_and(|e| e.trim().is_empty())
        {
            return vec![Issue::new(
                "endpoint",
                "is empty; leave it out for Jaeger's default port, or give `host:port`",
            )];
        }
        self.sender().validate()
    }
}
