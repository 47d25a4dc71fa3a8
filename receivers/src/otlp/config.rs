//! `receivers.otlp` config, with the Collector's keys and defaults.

use llamacol_api::auth::AuthConfig;
use llamacol_api::config::{ComponentConfig, Issue, Listen};
use llamacol_api::tls::ServerTlsConfig;
use serde::{Deserialize, Deserializer};

use crate::server::config::{http_issues, present, GrpcServerConfig, OtlpGrpcPort};
pub use crate::server::config::{Keepalive, Transport};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpConfig {
    /// The protocols to serve. A protocol listed with no settings (`grpc:`) uses its
    /// defaults; one not listed is off. With no `protocols` key at all, both are on.
    #[serde(default = "both")]
    pub protocols: Protocols,
}

impl Default for OtlpConfig {
    fn default() -> Self {
        OtlpConfig { protocols: both() }
    }
}

fn both() -> Protocols {
    Protocols {
        grpc: Some(GrpcConfig::default()),
        http: Some(HttpConfig::default()),
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Protocols {
    #[serde(default, deserialize_with = "present")]
    pub grpc: Option<GrpcConfig>,
    #[serde(default, deserialize_with = "present")]
    pub http: Option<HttpConfig>,
}

/// `traces` means `/traces` (the Collector's `sanitizeURLPath`).
fn absolute_path<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let path = String::deserialize(d)?;
    Ok(if path.starts_with('/') {
        path
    } else {
        format!("/{path}")
    })
}

/// OTLP/gRPC: the traces, metrics and logs `Export` services (default endpoint
/// `localhost:4317`).
pub type GrpcConfig = GrpcServerConfig<OtlpGrpcPort>;

/// OTLP/HTTP: protobuf and JSON bodies on per-signal paths.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// `host:port` to listen on. Default `localhost:4318`.
    pub endpoint: String,
    /// Largest body accepted, in bytes, compressed or not. Default 20 MiB; larger gets 413.
    pub max_request_body_size: usize,
    /// Default `/v1/traces`; a path without the leading `/` gets one, as in the Collector.
    #[serde(deserialize_with = "absolute_path")]
    pub traces_url_path: String,
    /// Default `/v1/metrics`.
    #[serde(deserialize_with = "absolute_path")]
    pub metrics_url_path: String,
    /// Default `/v1/logs`.
    #[serde(deserialize_with = "absolute_path")]
    pub logs_url_path: String,
    /// Serve TLS (and mTLS with `client_ca_file`); plaintext when absent.
    pub tls: Option<ServerTlsConfig>,
    /// Require credentials an authenticator extension accepts.
    pub auth: Option<AuthConfig>,
    /// CORS for browser SDKs; off when absent.
    pub cors: Option<crate::server::config::CorsConfig>,
    /// `tcp` (default) or `unix` (`endpoint` is then a socket file's path).
    pub transport: Transport,
    /// Keep each request's headers with its batch (see the gRPC side).
    pub include_metadata: bool,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            endpoint: "localhost:4318".into(),
            max_request_body_size: 20 * 1024 * 1024,
            traces_url_path: "/v1/traces".into(),
            metrics_url_path: "/v1/metrics".into(),
            logs_url_path: "/v1/logs".into(),
            tls: None,
            auth: None,
            cors: None,
            transport: Transport::Tcp,
            include_metadata: false,
        }
    }
}

impl ComponentConfig for OtlpConfig {
    fn validate(&self) -> Vec<Issue> {
        let mut issues = Vec::new();
        if self.protocols.grpc.is_none() && self.protocols.http.is_none() {
            issues.push(Issue::new(
                "protocols",
                "no protocol enabled; add `grpc:` and/or `http:` under `protocols`",
            ));
        }
        if let Some(g) = &self.protocols.grpc {
            issues.extend(g.issues("protocols.grpc"));
        }
        if let Some(h) = &self.protocols.http {
            issues.extend(http_issues(
                "protocols.http",
                h.transport,
                &h.endpoint,
                h.tls.as_ref(),
                h.cors.as_ref(),
                4318,
            ));
            for (key, path) in [
                ("traces_url_path", &h.traces_url_path),
                ("metrics_url_path", &h.metrics_url_path),
                ("logs_url_path", &h.logs_url_path),
            ] {
                if !path.starts_with('/') {
                    issues.push(Issue::new(
                        format!("protocols.http.{key}"),
                        format!("`{path}` must start with `/`"),
                    ));
                }
            }
        }
        issues
    }

    fn authenticators(&self) -> Vec<Listen> {
        let mut out = Vec::new();
        for (protocol, auth) in [
            (
                "grpc",
                self.protocols.grpc.as_ref().and_then(|g| g.auth.as_ref()),
            ),
            (
                "http",
                self.protocols.http.as_ref().and_then(|h| h.auth.as_ref()),
            ),
        ] {
            if let Some(a) = auth {
                out.push(Listen {
                    path: format!("protocols.{protocol}.auth.authenticator"),
                    address: a.authenticator.clone(),
                });
            }
        }
        out
    }

    fn listens(&self) -> Vec<Listen> {
        let mut out = Vec::new();
        if let Some(g) = self
            .protocols
            .grpc
            .as_ref()
            .filter(|g| g.transport == Transport::Tcp)
        {
            out.push(Listen {
                path: "protocols.grpc.endpoint".into(),
                address: g.endpoint.clone(),
            });
        }
        if let Some(h) = self
            .protocols
            .http
            .as_ref()
            .filter(|h| h.transport == Transport::Tcp)
        {
            out.push(Listen {
                path: "protocols.http.endpoint".into(),
                address: h.endpoint.clone(),
            });
        }
        out
    }
}
