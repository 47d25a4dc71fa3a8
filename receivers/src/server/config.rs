//! The server blocks push receivers share, with the Collector's keys:
//! `configgrpc.ServerConfig` ([`GrpcServerConfig`]) and `confighttp.ServerConfig`
//! ([`HttpServerConfig`]). Each receiver has its own default endpoint; a block that
//! names none gets it (the [`DefaultPort`] parameter).

use std::marker::PhantomData;

use llamacol_api::auth::AuthConfig;
use llamacol_api::config::{check_listen, Issue};
use llamacol_api::serde_yaml::{Mapping, Value};
use llamacol_api::tls::ServerTlsConfig;
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};

pub use super::cors::CorsConfig;
pub use super::options::{Keepalive, Transport};

/// Where a receiver's protocol listens when its block names no `endpoint`.
pub trait DefaultPort {
    const PORT: u16;
}

macro_rules! ports {
    ($($name:ident = $port:literal),* $(,)?) => {$(
        #[doc = concat!("`localhost:", $port, "`")]
        #[derive(Debug, Clone, Copy, Default)]
        pub struct $name;
        impl DefaultPort for $name {
            const PORT: u16 = $port;
        }
    )*};
}

ports! {
    OtlpGrpcPort = 4317,
    OtlpHttpPort = 4318,
    JaegerGrpcPort = 14250,
    JaegerThriftHttpPort = 14268,
    JaegerCompactPort = 6831,
    JaegerBinaryPort = 6832,
    ZipkinPort = 9411,
}

/// A gRPC server (`configgrpc.ServerConfig`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default, bound = "")]
pub struct GrpcServerConfig<P: DefaultPort> {
    /// `host:port` to listen on (`localhost` and the receiver's port by default); use
    /// `0.0.0.0:<port>` to accept other hosts (e.g. in a container).
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
    #[serde(skip)]
    port: PhantomData<fn() -> P>,
}

impl<P: DefaultPort> Default for GrpcServerConfig<P> {
    fn default() -> Self {
        GrpcServerConfig {
            port: PhantomData,
            endpoint: format!("localhost:{}", P::PORT),
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

impl<P: DefaultPort> GrpcServerConfig<P> {
    /// What is wrong with this block at `path`.
    pub fn issues(&self, path: &str) -> Vec<Issue> {
        let mut issues = transport_issues(
            path,
            self.transport,
            &self.endpoint,
            self.tls.is_some(),
            P::PORT,
        );
        if let Some(k) = &self.keepalive {
            issues.extend(k.issues(&format!("{path}.keepalive")));
        }
        if self.max_recv_msg_size_mib == 0 {
            issues.push(Issue::new(
                format!("{path}.max_recv_msg_size_mib"),
                "must be at least 1",
            ));
        }
        if let Some(tls) = &self.tls {
            issues.extend(tls.issues(&format!("{path}.tls")));
        }
        issues
    }
}

/// An HTTP server (`confighttp.ServerConfig`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default, bound = "")]
pub struct HttpServerConfig<P: DefaultPort> {
    /// `host:port` to listen on (`localhost` and the receiver's port by default).
    pub endpoint: String,
    /// Largest body accepted, in bytes, compressed or not. Default 20 MiB; larger gets 413.
    pub max_request_body_size: usize,
    /// Serve TLS (and mTLS with `client_ca_file`); plaintext when absent.
    pub tls: Option<ServerTlsConfig>,
    /// Require credentials an authenticator extension accepts.
    pub auth: Option<AuthConfig>,
    /// CORS for browser SDKs; off when absent.
    pub cors: Option<CorsConfig>,
    /// `tcp` (default) or `unix` (`endpoint` is then a socket file's path).
    pub transport: Transport,
    /// Keep each request's headers with its batch (see the gRPC side).
    pub include_metadata: bool,
    #[serde(skip)]
    port: PhantomData<fn() -> P>,
}

impl<P: DefaultPort> Default for HttpServerConfig<P> {
    fn default() -> Self {
        HttpServerConfig {
            port: PhantomData,
            endpoint: format!("localhost:{}", P::PORT),
            max_request_body_size: 20 * 1024 * 1024,
            tls: None,
            auth: None,
            cors: None,
            transport: Transport::Tcp,
            include_metadata: false,
        }
    }
}

impl<P: DefaultPort> HttpServerConfig<P> {
    pub fn issues(&self, path: &str) -> Vec<Issue> {
        http_issues(
            path,
            self.transport,
            &self.endpoint,
            self.tls.as_ref(),
            self.cors.as_ref(),
            P::PORT,
        )
    }
}

/// An HTTP server block's issues (OTLP's block, which has its paths beside these keys,
/// checks itself with this too).
pub fn http_issues(
    path: &str,
    transport: Transport,
    endpoint: &str,
    tls: Option<&ServerTlsConfig>,
    cors: Option<&CorsConfig>,
    port: u16,
) -> Vec<Issue> {
    let mut issues = transport_issues(path, transport, endpoint, tls.is_some(), port);
    if let Some(tls) = tls {
        issues.extend(tls.issues(&format!("{path}.tls")));
    }
    if let Some(cors) = cors {
        issues.extend(cors.issues(&format!("{path}.cors")));
    }
    issues
}

fn transport_issues(
    path: &str,
    transport: Transport,
    endpoint: &str,
    tls: bool,
    example_port: u16,
) -> Vec<Issue> {
    match transport {
        Transport::Tcp => check_listen(&format!("{path}.endpoint"), endpoint, example_port)
            .into_iter()
            .collect(),
        Transport::Unix if tls => vec![Issue::new(
            format!("{path}.tls"),
            "TLS on a unix socket is not offered; the socket file's permissions guard it",
        )],
        Transport::Unix if endpoint.trim().is_empty() => vec![Issue::new(
            format!("{path}.endpoint"),
            "with `transport: unix`, the socket file's path",
        )],
        Transport::Unix => Vec::new(),
    }
}

/// A protocol block that is present turns the protocol on, even with no settings
/// (`grpc:`): the Collector's `configoptional.Default`.
pub fn present<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(
    d: D,
) -> Result<Option<T>, D::Error> {
    Option::<T>::deserialize(d).map(|o| Some(o.unwrap_or_default()))
}

/// Splits a block into the server's keys (`T`) and the receiver's own `keys` beside
/// them (the Collector's `squash`), so both keep `deny_unknown_fields`.
pub fn split_block<'de, D: Deserializer<'de>, T: DeserializeOwned>(
    d: D,
    keys: &[&str],
) -> Result<(T, Mapping), D::Error> {
    let mut block = match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Mapping::new(),
        Some(Value::Mapping(m)) => m,
        Some(_) => return Err(D::Error::custom("expected a mapping of settings")),
    };
    let mut own = Mapping::new();
    for key in keys {
        if let Some(v) = block.remove(*key) {
            own.insert(Value::from(*key), v);
        }
    }
    let server = T::deserialize(Value::Mapping(block)).map_err(|e| {
        // An unknown key's message lists the valid ones: the receiver's own are valid too.
        let message = e.to_string();
        if message.starts_with("unknown field") {
            let own: Vec<String> = keys.iter().map(|k| format!("`{k}`")).collect();
            D::Error::custom(format!("{message}, {}", own.join(", ")))
        } else {
            D::Error::custom(message)
        }
    })?;
    Ok((server, own))
}
