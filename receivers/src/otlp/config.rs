//! `receivers.otlp` config, with the Collector's keys and defaults.

use llamacol_api::auth::AuthConfig;
use llamacol_api::config::{check_listen, ComponentConfig, Issue, Listen};
use llamacol_api::tls::ServerTlsConfig;
use serde::{Deserialize, Deserializer};

pub use super::server_options::{Keepalive, Transport};

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

/// A key that is present turns the protocol on, even with an empty value.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(
    d: D,
) -> Result<Option<T>, D::Error> {
    Option::<T>::deserialize(d).map(|o| Some(o.unwrap_or_default()))
}

/// OTLP/gRPC: the traces, metrics and logs `Export` services.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrpcConfig {
    /// `host:port` to listen on. Default `localhost:4317`; use `0.0.0.0:4317` to accept
    /// other hosts (e.g. in a container).
    pub endpoint: String,
    /// Largest request accepted, after decompression, in MiB. Default 4. Larger requests
    /// get RESOURCE_EXHAUSTED.
    pub max_recv_msg_size_mib: usize,
    /// Serve TLS (and mTLS with `client_ca_file`); plaintext when absent.
    pub tls: Option<ServerTlsConfig>,
    /// Require credentials an authenticator extension accepts.
    pub auth: Option<AuthConfig>,
    /// `tcp` (default) or `unix` (`endpoint` is then a socket file's path).
    pub transport: Transport,
    /// Keep each request's metadata (headers) with its batch, for `batch`'s
    /// `metadata_keys` and `headers_setter`'s `from_context`. Default false.
    pub include_metadata: bool,
    /// Requests one connection may have in flight at once; unset: HTTP/2's default.
    pub max_concurrent_streams: Option<u32>,
    pub keepalive: Option<Keepalive>,
    /// gRPC-go's socket buffer sizes; the HTTP/2 server sizes its own buffers: accepted
    /// for the Collector's configs.
    pub read_buffer_size: Option<u64>,
    pub write_buffer_size: Option<u64>,
}

impl Default for GrpcConfig {
    fn default() -> Self {
        GrpcConfig {
            endpoint: "localhost:4317".into(),
            max_recv_msg_size_mib: 4,
            tls: None,
            auth: None,
            transport: Transport::Tcp,
            include_metadata: false,
            max_concurrent_streams: None,
            keepalive: None,
            read_buffer_size: None,
            write_buffer_size: None,
        }
    }
}

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
    pub cors: Option<super::cors::CorsConfig>,
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
            match g.transport {
                Transport::Tcp => {
                    issues.extend(check_listen("protocols.grpc.endpoint", &g.endpoint, 4317))
                }
                Transport::Unix if g.tls.is_some() => issues.push(Issue::new(
                    "protocols.grpc.tls",
                    "TLS on a unix socket is not offered; the socket file's permissions guard it",
                )),
                Transport::Unix if g.endpoint.trim().is_empty() => issues.push(Issue::new(
                    "protocols.grpc.endpoint",
                    "with `transport: unix`, the socket file's path",
                )),
                Transport::Unix => {}
            }
            if let Some(k) = &g.keepalive {
                issues.extend(k.issues("protocols.grpc.keepalive"));
            }
            if g.max_recv_msg_size_mib == 0 {
                issues.push(Issue::new(
                    "protocols.grpc.max_recv_msg_size_mib",
                    "must be at least 1",
                ));
            }
            if let Some(tls) = &g.tls {
                issues.extend(tls.issues("protocols.grpc.tls"));
            }
        }
        if let Some(h) = &self.protocols.http {
            match h.transport {
                Transport::Tcp => {
                    issues.extend(check_listen("protocols.http.endpoint", &h.endpoint, 4318))
                }
                Transport::Unix if h.tls.is_some() => issues.push(Issue::new(
                    "protocols.http.tls",
                    "TLS on a unix socket is not offered; the socket file's permissions guard it",
                )),
                Transport::Unix => {}
            }
            if let Some(tls) = &h.tls {
                issues.extend(tls.issues("protocols.http.tls"));
            }
            if let Some(cors) = &h.cors {
                issues.extend(cors.issues("protocols.http.cors"));
            }
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
