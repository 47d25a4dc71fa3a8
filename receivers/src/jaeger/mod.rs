//! `jaeger` receiver (traces): what Jaeger clients and agents send, as the Collector's
//! `jaegerreceiver` takes it: api_v2 gRPC `PostSpans` (14250), Thrift over HTTP
//! `POST /api/traces` (14268), and the agent's UDP ports for Thrift compact (6831) and
//! binary (6832) `emitBatch`. Each batch is translated to OTLP as the Collector's
//! translator does (`llamacol_api::formats::jaeger`).

mod config;
mod http;
mod udp;

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use llamacol_api::config::{parse_block, ConfigSpec};
use llamacol_api::formats::jaeger::{model, thrift, to_otlp, Flavor};
use llamacol_api::formats::thrift::{Protocol, Struct};
use llamacol_api::otlp::collector::trace::v1::ExportTraceServiceRequest;
use llamacol_api::{Batch, BoxError, BuildContext, Consumer, Receiver, ReceiverFactory, Signal};
use prost::Message;
use tonic::service::interceptor::InterceptedService;

pub use config::{JaegerConfig, Protocols, UdpConfig};

use crate::server::grpc::{ExportService, GrpcMethod};
use crate::server::{GrpcGuard, Servers};

pub fn factory() -> ReceiverFactory {
    ReceiverFactory {
        type_name: "jaeger",
        signals: &[Signal::Traces],
        config: ConfigSpec::of::<JaegerConfig>(),
        build,
    }
}

fn build(
    ctx: &BuildContext,
    block: &llamacol_api::serde_yaml::Value,
) -> Result<Box<dyn Receiver>, BoxError> {
    Ok(Box::new(JaegerReceiver {
        config: parse_block::<JaegerConfig>(block)?,
        servers: Servers::new(ctx.id.to_string(), ctx.auth.clone(), ctx.node.clone()),
    }))
}

pub struct JaegerReceiver {
    config: JaegerConfig,
    servers: Servers,
}

#[async_trait]
impl Receiver for JaegerReceiver {
    async fn start(&mut self, next: Arc<dyn Consumer>) -> Result<(), BoxError> {
        let p = self.config.protocols.clone();
        // Bind every socket before serving any, so a port in use fails the start cleanly.
        let grpc = match &p.grpc {
            Some(g) => Some(
                self.servers
                    .listen(&g.endpoint, g.transport, g.tls.as_ref(), "Jaeger gRPC")
                    .await?,
            ),
            None => None,
        };
        let http = match &p.thrift_http {
            Some(h) => Some(
                self.servers
                    .listen(
                        &h.endpoint,
                        h.transport,
                        h.tls.as_ref(),
                        "Jaeger Thrift HTTP",
                    )
                    .await?,
            ),
            None => None,
        };
        let compact = match &p.thrift_compact {
            Some(u) => Some(udp::bind(u, &self.servers.id, "Jaeger Thrift compact UDP").await?),
            None => None,
        };
        let binary = match &p.thrift_binary {
            Some(u) => Some(udp::bind(u, &self.servers.id, "Jaeger Thrift binary UDP").await?),
            None => None,
        };
        if let (Some(g), Some(listener)) = (&p.grpc, grpc) {
            let guard = GrpcGuard(self.servers.guard(g.auth.as_ref(), "grpc")?);
            let service = ExportService::<PostSpans>::new(
                next.clone(),
                g.max_recv_msg_size_mib * 1024 * 1024,
                g.include_metadata,
            );
            let router =
                crate::server::grpc_server(g).add_service(InterceptedService::new(service, guard));
            let idle = g
                .keepalive
                .as_ref()
                .and_then(crate::server::config::Keepalive::idle);
            self.servers
                .serve_grpc(router, listener, idle, "Jaeger gRPC");
        }
        if let (Some(h), Some(listener)) = (&p.thrift_http, http) {
            let app = http::router(h, next.clone());
            let app = self
                .servers
                .guarded(app, h.auth.as_ref(), h.cors.as_ref(), "thrift_http")?;
            self.servers.serve_http(app, listener, "Jaeger Thrift HTTP");
        }
        for (port, protocol, name) in [
            (compact, Protocol::Compact, "thrift_compact"),
            (binary, Protocol::Binary, "thrift_binary"),
        ] {
            if let Some((socket, settings)) = port {
                udp::serve(
                    &mut self.servers,
                    socket,
                    settings,
                    protocol,
                    name,
                    next.clone(),
                );
            }
        }
        Ok(())
    }

    async fn shutdown(&mut self) -> Result<(), BoxError> {
        self.servers.shutdown().await;
        Ok(())
    }
}

/// `jaeger.api_v2.CollectorService/PostSpans`.
pub struct PostSpans;

impl GrpcMethod for PostSpans {
    const NAME: &'static str = "jaeger.api_v2.CollectorService";
    const PATH: &'static str = model::POST_SPANS;
    type Response = model::PostSpansResponse;

    fn batch(request: Bytes) -> Result<Batch, String> {
        let request = model::PostSpansRequest::decode(request)
            .map_err(|e| format!("invalid Jaeger PostSpans request: {e}"))?;
        let batch = request.batch.unwrap_or_default();
        Ok(traces(&batch, &[], Flavor::Proto))
    }
}

/// A Thrift `Batch` (HTTP body, or an agent's `emitBatch` argument) as a batch of traces.
pub fn thrift_batch(batch: &Struct) -> Batch {
    let (batch, parents) = thrift::batch(batch);
    traces(&batch, &parents, Flavor::Thrift)
}

fn traces(batch: &model::Batch, parents: &[Option<[u8; 8]>], flavor: Flavor) -> Batch {
    ExportTraceServiceRequest {
        resource_spans: to_otlp::resource_spans(batch, parents, flavor),
    }
    .into()
}

#[cfg(test)]
mod tests;
