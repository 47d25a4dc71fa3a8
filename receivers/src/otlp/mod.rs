//! `otlp` receiver: OTLP over gRPC (port 4317) and HTTP (port 4318), all three signals.

pub mod body;
mod config;
mod grpc;
mod http;

use std::sync::Arc;

use async_trait::async_trait;
use llamacol_api::config::{parse_block, ConfigSpec};
use llamacol_api::{BoxError, BuildContext, Consumer, Receiver, ReceiverFactory, Signal};
use tonic::service::interceptor::InterceptedService;

use crate::server::grpc::ExportService;
pub use crate::server::UNAUTHENTICATED;
use crate::server::{GrpcGuard, Listener, Servers};
pub use config::{GrpcConfig, HttpConfig, OtlpConfig, Protocols};
use grpc::{LogsService, MetricsService, TracesService};

pub fn factory() -> ReceiverFactory {
    ReceiverFactory {
        type_name: "otlp",
        signals: &Signal::ALL,
        config: ConfigSpec::of::<OtlpConfig>(),
        build,
    }
}

fn build(
    ctx: &BuildContext,
    block: &llamacol_api::serde_yaml::Value,
) -> Result<Box<dyn Receiver>, BoxError> {
    let config = parse_block::<OtlpConfig>(block)?;
    Ok(Box::new(OtlpReceiver {
        config,
        signals: ctx.signals.clone(),
        servers: Servers::new(ctx.id.to_string(), ctx.auth.clone(), ctx.node.clone()),
    }))
}

pub struct OtlpReceiver {
    config: OtlpConfig,
    signals: Vec<Signal>,
    servers: Servers,
}

#[async_trait]
impl Receiver for OtlpReceiver {
    async fn start(&mut self, next: Arc<dyn Consumer>) -> Result<(), BoxError> {
        // Bind every socket (and build TLS acceptors) before serving any, so a port in
        // use or a bad certificate fails the start cleanly.
        let grpc = match &self.config.protocols.grpc {
            Some(g) => {
                let listener = self
                    .servers
                    .listen(&g.endpoint, g.transport, g.tls.as_ref(), "OTLP/gRPC")
                    .await?;
                Some((g.clone(), listener))
            }
            None => None,
        };
        let http = match &self.config.protocols.http {
            Some(h) => {
                let listener = self
                    .servers
                    .listen(&h.endpoint, h.transport, h.tls.as_ref(), "OTLP/HTTP")
                    .await?;
                Some((h.clone(), listener))
            }
            None => None,
        };
        if let Some((g, listener)) = grpc {
            self.serve_grpc(&g, next.clone(), listener)?;
        }
        if let Some((h, listener)) = http {
            let app = http::router(&self.signals, &h, next);
            let app = self
                .servers
                .guarded(app, h.auth.as_ref(), h.cors.as_ref(), "http")?;
            self.servers.serve_http(app, listener, "OTLP/HTTP");
        }
        Ok(())
    }

    /// Stops accepting connections and waits for in-flight requests to be answered.
    async fn shutdown(&mut self) -> Result<(), BoxError> {
        self.servers.shutdown().await;
        Ok(())
    }
}

impl OtlpReceiver {
    /// Serves the OTLP/gRPC services of this receiver's signals on `listener`.
    fn serve_grpc(
        &mut self,
        g: &GrpcConfig,
        next: Arc<dyn Consumer>,
        listener: Listener,
    ) -> Result<(), BoxError> {
        let max = g.max_recv_msg_size_mib * 1024 * 1024;
        let has = |s| self.signals.contains(&s);
        let guard = GrpcGuard(self.servers.guard(g.auth.as_ref(), "grpc")?);
        let router = crate::server::grpc_server(g)
            .add_optional_service(has(Signal::Traces).then(|| {
                InterceptedService::new(
                    ExportService::<TracesService>::new(next.clone(), max, g.include_metadata),
                    guard.clone(),
                )
            }))
            .add_optional_service(has(Signal::Metrics).then(|| {
                InterceptedService::new(
                    ExportService::<MetricsService>::new(next.clone(), max, g.include_metadata),
                    guard.clone(),
                )
            }))
            .add_optional_service(has(Signal::Logs).then(|| {
                InterceptedService::new(
                    ExportService::<LogsService>::new(next.clone(), max, g.include_metadata),
                    guard.clone(),
                )
            }));
        let idle = g.keepalive.as_ref().and_then(config::Keepalive::idle);
        self.servers.serve_grpc(router, listener, idle, "OTLP/gRPC");
        Ok(())
    }
}

#[cfg(test)]
mod tests;

/// The message of a protobuf google.rpc.Status body (for tests and clients of this crate).
#[cfg(test)]
fn http_status_message(body: &[u8]) -> String {
    <llamacol_api::rpc_status::RpcStatus as prost::Message>::decode(body)
        .map(|s| s.message)
        .unwrap_or_default()
}
