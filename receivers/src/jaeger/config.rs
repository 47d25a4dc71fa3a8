//! `receivers.jaeger` config: the Collector's `jaegerreceiver` keys and defaults. A
//! protocol listed (even empty: `grpc:`) is on with its defaults; one not listed is off.

use std::marker::PhantomData;

use llamacol_api::config::{check_listen, ComponentConfig, Issue, Listen};
use serde::Deserialize;

use crate::server::config::{
    present, DefaultPort, GrpcServerConfig, HttpServerConfig, JaegerBinaryPort, JaegerCompactPort,
    JaegerGrpcPort, JaegerThriftHttpPort,
};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JaegerConfig {
    #[serde(default)]
    pub protocols: Protocols,
    /// The Collector's removed remote-sampling block: read only to say where it went.
    #[serde(default)]
    pub remote_sampling: Option<llamacol_api::serde_yaml::Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Protocols {
    /// api_v2 `CollectorService.PostSpans` (what Jaeger clients and the Collector's old
    /// `jaeger` exporter send). Default endpoint `localhost:14250`.
    #[serde(default, deserialize_with = "present")]
    pub grpc: Option<GrpcServerConfig<JaegerGrpcPort>>,
    /// `POST /api/traces` with a Thrift (binary protocol) `Batch`, as Jaeger clients
    /// send to a collector. Default endpoint `localhost:14268`.
    #[serde(default, deserialize_with = "present")]
    pub thrift_http: Option<HttpServerConfig<JaegerThriftHttpPort>>,
    /// The agent's UDP port for Thrift compact `emitBatch` (what Jaeger clients send by
    /// default). Default endpoint `localhost:6831`.
    #[serde(default, deserialize_with = "present")]
    pub thrift_compact: Option<UdpConfig<JaegerCompactPort>>,
    /// The agent's UDP port for Thrift binary `emitBatch`. Default `localhost:6832`.
    #[serde(default, deserialize_with = "present")]
    pub thrift_binary: Option<UdpConfig<JaegerBinaryPort>>,
}

/// A Jaeger agent's UDP port.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default, bound = "")]
pub struct UdpConfig<P: DefaultPort> {
    /// `host:port` to listen on.
    pub endpoint: String,
    /// Packets held between the socket and the workers. Default 1000; a packet that
    /// finds the queue full is dropped and counted (UDP has no way to say "later").
    pub queue_size: usize,
    /// Largest packet read, in bytes. Default 65000 (a larger one arrives cut: invalid).
    pub max_packet_size: usize,
    /// Packets decoded and handed to the pipeline at once. Default 10.
    pub workers: usize,
    /// The socket's receive buffer (`SO_RCVBUF`) in bytes; 0 (default) keeps the
    /// system's. Raise it when bursts overflow the kernel's buffer.
    pub socket_buffer_size: usize,
    #[serde(skip)]
    port: PhantomData<fn() -> P>,
}

impl<P: DefaultPort> Default for UdpConfig<P> {
    fn default() -> Self {
        UdpConfig {
            endpoint: format!("localhost:{}", P::PORT),
            queue_size: 1000,
            max_packet_size: 65_000,
            workers: 10,
            socket_buffer_size: 0,
            port: PhantomData,
        }
    }
}

impl<P: DefaultPort> UdpConfig<P> {
    fn issues(&self, path: &str) -> Vec<Issue> {
        let mut issues: Vec<Issue> =
            check_listen(&format!("{path}.endpoint"), &self.endpoint, P::PORT)
                .into_iter()
                .collect();
        for (key, value) in [
            ("queue_size", self.queue_size),
            ("max_packet_size", self.max_packet_size),
            ("workers", self.workers),
        ] {
            if value == 0 {
                issues.push(Issue::new(format!("{path}.{key}"), "must be at least 1"));
            }
        }
        issues
    }
}

impl ComponentConfig for JaegerConfig {
    fn validate(&self) -> Vec<Issue> {
        let p = &self.protocols;
        let mut issues = Vec::new();
        if p.grpc.is_none()
            && p.thrift_http.is_none()
            && p.thrift_compact.is_none()
            && p.thrift_binary.is_none()
        {
            issues.push(Issue::new(
                "protocols",
                "must specify at least one protocol when using the Jaeger receiver: add `grpc:`, `thrift_http:`, `thrift_compact:` and/or `thrift_binary:` under `protocols`",
            ));
        }
        if self.remote_sampling.is_some() {
            issues.push(Issue::new(
                "remote_sampling",
                "remote sampling config detected in the Jaeger receiver; the Collector moved it to the `jaegerremotesampling` extension, which llamacol does not build: remove this block",
            ));
        }
        if let Some(g) = &p.grpc {
            issues.extend(g.issues("protocols.grpc"));
        }
        if let Some(h) = &p.thrift_http {
            issues.extend(h.issues("protocols.thrift_http"));
        }
        if let Some(u) = &p.thrift_compact {
            issues.extend(u.issues("protocols.thrift_compact"));
        }
        if let Some(u) = &p.thrift_binary {
            issues.extend(u.issues("protocols.thrift_binary"));
        }
        issues
    }

    fn authenticators(&self) -> Vec<Listen> {
        let p = &self.protocols;
        [
            ("grpc", p.grpc.as_ref().and_then(|g| g.auth.as_ref())),
            (
                "thrift_http",
                p.thrift_http.as_ref().and_then(|h| h.auth.as_ref()),
            ),
        ]
        .into_iter()
        .filter_map(|(protocol, auth)| {
            auth.map(|a| Listen {
                path: format!("protocols.{protocol}.auth.authenticator"),
                address: a.authenticator.clone(),
            })
        })
        .collect()
    }

    fn listens(&self) -> Vec<Listen> {
        let p = &self.protocols;
        let tcp = crate::server::config::Transport::Tcp;
        [
            (
                "grpc",
                p.grpc
                    .as_ref()
                    .filter(|g| g.transport == tcp)
                    .map(|g| &g.endpoint),
            ),
            (
                "thrift_http",
                p.thrift_http
                    .as_ref()
                    .filter(|h| h.transport == tcp)
                    .map(|h| &h.endpoint),
            ),
        ]
        .into_iter()
        .filter_map(|(protocol, endpoint)| {
            endpoint.map(|e| Listen {
                path: format!("protocols.{protocol}.endpoint"),
                address: e.clone(),
            })
        })
        .collect()
    }
}
