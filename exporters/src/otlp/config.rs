//! `exporters.otlp` config: the Collector's `otlp` and `otlphttp` exporters in one,
//! chosen by `protocol`.

use std::time::Duration;

use llamacol_api::config::{is_http_url, ByteSize, ComponentConfig, Issue, Listen};
use llamacol_api::http::{Headers, TlsConfig};
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
    /// Send the credentials of an authenticator extension (`bearertokenauth`,
    /// `basicauth` with `client_auth`).
    pub auth: Option<llamacol_api::auth::AuthConfig>,
    /// Largest request sent, measured uncompressed (servers check it after
    /// decompression); larger batches are cut into several requests along resource,
    /// scope and item boundaries. Default: for gRPC `4MiB`, the default limit of every
    /// gRPC server (the Collector, Jaeger, Tempo, llamacol); for HTTP `20MiB`, the
    /// Collector's `max_request_body_size`. Raise it only with the far side's limit.
    /// `0`: no limit. A refusal for size lowers it for this exporter (see README).
    pub max_request_size: Option<ByteSize>,
    /// gRPC: HTTP/2 pings that keep the connection known alive (`time`, `timeout`,
    /// `permit_without_stream`), as configgrpc's `keepalive`.
    pub keepalive: Option<ClientKeepalive>,
    /// gRPC: `pick_first` (default: one connection) or `round_robin` (one connection to
    /// each address the endpoint's host resolves to at start, requests spread over them).
    pub balancer_name: Option<Balancer>,
    /// gRPC-go's socket buffer sizes; the HTTP/2 client sizes its own buffers: accepted
    /// for the Collector's configs.
    pub read_buffer_size: Option<ByteSize>,
    pub write_buffer_size: Option<ByteSize>,
}

/// `keepalive` of a gRPC client.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientKeepalive {
    /// Ping after this long without activity.
    #[serde(with = "humantime_serde")]
    pub time: Option<Duration>,
    /// Consider the connection dead when a ping is not answered within this long.
    #[serde(with = "humantime_serde")]
    pub timeout: Option<Duration>,
    /// Ping also while no request is in flight.
    pub permit_without_stream: bool,
}

/// `balancer_name`: grpc-go's load-balancing policies.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Balancer {
    PickFirst,
    RoundRobin,
}

/// gRPC servers' default message limit (grpc-go's `defaultServerMaxReceiveMessageSize`).
pub const GRPC_MAX_REQUEST: usize = 4 * 1024 * 1024;
/// The Collector's OTLP/HTTP receiver's default `max_request_body_size`.
pub const HTTP_MAX_REQUEST: usize = 20 * 1024 * 1024;

impl OtlpExporterConfig {
    /// `max_request_size`, or the protocol's default; `None` when set to 0.
    pub fn request_limit(&self) -> Option<usize> {
        match self.max_request_size {
            Some(ByteSize(0)) => None,
            Some(ByteSize(n)) => Some(usize::try_from(n).unwrap_or(usize::MAX)),
            None if self.protocol == Protocol::Grpc => Some(GRPC_MAX_REQUEST),
            None => Some(HTTP_MAX_REQUEST),
        }
    }
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
            auth: None,
            max_request_size: None,
            keepalive: None,
            balancer_name: None,
            read_buffer_size: None,
            write_buffer_size: None,
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

impl ComponentConfig for OtlpExporterConfig {
    fn authenticators(&self) -> Vec<Listen> {
        auth_claim(self.auth.as_ref(), "auth.authenticator")
    }

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
        } else if !self.endpoint.is_empty() && !is_http_url(&self.endpoint) {
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

/// The claim of an exporter's `auth:` block, at `path`.
pub fn auth_claim(auth: Option<&llamacol_api::auth::AuthConfig>, path: &str) -> Vec<Listen> {
    auth.map(|a| Listen {
        path: path.into(),
        address: a.authenticator.clone(),
    })
    .into_iter()
    .collect()
}

/// The Collector's `otlp_http` / `otlphttp` exporter: this config with `protocol: http`
/// when the block names none.
#[derive(Debug, Clone)]
pub struct OtlpHttpExporterConfig(pub OtlpExporterConfig);

impl Default for OtlpHttpExporterConfig {
    fn default() -> Self {
        OtlpHttpExporterConfig(OtlpExporterConfig {
            protocol: Protocol::Http,
            ..OtlpExporterConfig::default()
        })
    }
}

impl<'de> Deserialize<'de> for OtlpHttpExporterConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut value = llamacol_api::serde_yaml::Value::deserialize(d)?;
        if let Some(map) = value.as_mapping_mut() {
            let key = llamacol_api::serde_yaml::Value::from("protocol");
            if !map.contains_key(&key) {
                map.insert(key, "http".into());
            }
        }
        OtlpExporterConfig::deserialize(value)
            .map(OtlpHttpExporterConfig)
            .map_err(D::Error::custom)
    }
}

impl ComponentConfig for OtlpHttpExporterConfig {
    fn authenticators(&self) -> Vec<Listen> {
        self.0.authenticators()
    }

    fn validate(&self) -> Vec<Issue> {
        self.0.validate()
    }
}
