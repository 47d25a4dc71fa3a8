//! `otlp` receiver: OTLP over gRPC (port 4317) and HTTP (port 4318), all three signals.

mod auth;
pub mod body;
mod config;
mod cors;
mod grpc;
mod http;
mod server_options;
mod status;

use std::sync::Arc;

use async_trait::async_trait;
use auth::{http_guard, Guard};
use axum::serve::ListenerExt;
use llamacol_api::auth::{AuthConfig, Authenticators};
use llamacol_api::config::{parse_block, ConfigSpec};
use llamacol_api::node::TargetFamily;
use llamacol_api::tls::{self, ServerTlsConfig, TlsIncoming};
use llamacol_api::{BoxError, BuildContext, Consumer, Receiver, ReceiverFactory, Signal};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tonic::service::interceptor::InterceptedService;

pub use config::{GrpcConfig, HttpConfig, OtlpConfig, Protocols};
use grpc::{ExportService, LogsService, MetricsService, TracesService};

/// Requests refused per protocol (`llamacol_receiver_unauthenticated_requests_total`).
pub const UNAUTHENTICATED: TargetFamily = TargetFamily {
    metric: "llamacol_receiver_unauthenticated_requests_total",
    label: "protocol",
    help: "Requests a receiver refused because its authenticator did not accept their credentials (gRPC UNAUTHENTICATED, HTTP 401).",
    outcomes: &["refused"],
};

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
        id: ctx.id.to_string(),
        config,
        signals: ctx.signals.clone(),
        cancel: CancellationToken::new(),
        servers: JoinSet::new(),
        auth: ctx.auth.clone(),
        node: ctx.node.clone(),
    }))
}

pub struct OtlpReceiver {
    id: String,
    config: OtlpConfig,
    signals: Vec<Signal>,
    cancel: CancellationToken,
    servers: JoinSet<()>,
    auth: Authenticators,
    node: llamacol_api::NodeContext,
}

impl OtlpReceiver {
    /// The guard for a protocol's `auth:` block, counting refusals under `protocol`.
    fn guard(&self, auth: Option<&AuthConfig>, protocol: &str) -> Result<Option<Guard>, BoxError> {
        Ok(self.auth.resolve(auth)?.map(|authenticator| Guard {
            authenticator,
            component: self.id.clone(),
            counters: self
                .node
                .target_counters(UNAUTHENTICATED, &self.id, protocol),
        }))
    }
}

/// Checks every gRPC call with the protocol's guard (none: every call passes).
#[derive(Clone)]
struct GrpcGuard(Option<Guard>);

impl tonic::service::Interceptor for GrpcGuard {
    fn call(&mut self, request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        match &self.0 {
            Some(guard) => guard.check_grpc(request.metadata()).map(|()| request),
            None => Ok(request),
        }
    }
}

#[async_trait]
impl Receiver for OtlpReceiver {
    async fn start(&mut self, next: Arc<dyn Consumer>) -> Result<(), BoxError> {
        // Bind every socket before serving any, so a port in use fails the start cleanly.
        let grpc = match &self.config.protocols.grpc {
            Some(g) if g.transport == config::Transport::Unix => {
                Some((g.clone(), Listener::Unix(bind_unix(&g.endpoint, "gRPC")?)))
            }
            Some(g) => Some((g.clone(), Listener::Tcp(bind(&g.endpoint, "gRPC").await?))),
            None => None,
        };
        let http = match &self.config.protocols.http {
            Some(h) if h.transport == config::Transport::Unix => {
                Some((h.clone(), Err(bind_unix(&h.endpoint, "HTTP")?)))
            }
            Some(h) => Some((h.clone(), Ok(bind(&h.endpoint, "HTTP").await?))),
            None => None,
        };
        // TLS acceptors are built before serving too: a bad certificate fails the start.
        let tls = |t: &Option<ServerTlsConfig>, protocol: &str| {
            t.as_ref()
                .map(|t| {
                    tls::acceptor(t, &self.id).map_err(|e| format!("OTLP/{protocol} tls: {e}"))
                })
                .transpose()
        };
        let grpc_tls = tls(&grpc.as_ref().and_then(|(g, _)| g.tls.clone()), "gRPC")?;
        let http_tls = tls(&http.as_ref().and_then(|(h, _)| h.tls.clone()), "HTTP")?;
        if let Some((g, listener)) = grpc {
            let listener = match (listener, grpc_tls) {
                (Listener::Tcp(l), Some(a)) => {
                    tracing::info!(component = %self.id, endpoint = %l.local_addr()?, scheme = "TLS", "OTLP/gRPC listening");
                    Listener::Tls(TlsIncoming::new(l, a, &self.id, self.cancel.clone())?)
                }
                (Listener::Tcp(l), None) => {
                    tracing::info!(component = %self.id, endpoint = %l.local_addr()?, scheme = "plaintext", "OTLP/gRPC listening");
                    Listener::Tcp(l)
                }
                (other, _) => {
                    tracing::info!(component = %self.id, path = %g.endpoint, "OTLP/gRPC listening on a unix socket");
                    other
                }
            };
            self.serve_grpc(&g, next.clone(), listener)?;
        }
        if let Some((h, listener)) = http {
            let scheme = if http_tls.is_some() {
                "TLS"
            } else {
                "plaintext"
            };
            match &listener {
                Ok(tcp) => {
                    tracing::info!(component = %self.id, endpoint = %tcp.local_addr()?, scheme, "OTLP/HTTP listening");
                }
                Err(_) => {
                    tracing::info!(component = %self.id, path = %h.endpoint, "OTLP/HTTP listening on a unix socket");
                }
            }
            let app = http::router(&self.signals, &h, next);
            let app = match self.guard(h.auth.as_ref(), "http")? {
                Some(guard) => app.layer(axum::middleware::from_fn_with_state(guard, http_guard)),
                None => app,
            };
            // Outside the guard: a browser's preflight carries no credentials.
            let app = match &h.cors {
                Some(cors) => app.layer(cors.layer()),
                None => app,
            };
            let cancel = self.cancel.clone();
            let id = self.id.clone();
            match (listener, http_tls) {
                (Err(unix), _) => {
                    self.servers.spawn(serve_http(unix, app, cancel, id));
                }
                (Ok(listener), Some(acceptor)) => {
                    let incoming = TlsIncoming::new(listener, acceptor, &self.id, cancel.clone())?;
                    self.servers.spawn(serve_http(incoming, app, cancel, id));
                }
                (Ok(listener), None) => {
                    // Nagle's algorithm would hold small responses back ~40ms behind
                    // delayed ACKs.
                    let listener = listener.tap_io(|tcp| {
                        let _ = tcp.set_nodelay(true);
                    });
                    self.servers.spawn(serve_http(listener, app, cancel, id));
                }
            }
        }
        Ok(())
    }

    /// Stops accepting connections and waits for in-flight requests to be answered.
    async fn shutdown(&mut self) -> Result<(), BoxError> {
        self.cancel.cancel();
        while self.servers.join_next().await.is_some() {}
        Ok(())
    }
}

async fn serve_http<L>(listener: L, app: axum::Router, cancel: CancellationToken, id: String)
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(cancel.cancelled_owned())
        .await;
    if let Err(e) = served {
        tracing::error!(component = %id, error = %e, "OTLP/HTTP server stopped");
    }
}

/// Where the gRPC server accepts connections.
enum Listener {
    Tcp(tokio::net::TcpListener),
    Tls(TlsIncoming),
    Unix(tokio::net::UnixListener),
}

impl OtlpReceiver {
    /// Serves the OTLP/gRPC services of this receiver's signals on `listener`.
    fn serve_grpc(
        &mut self,
        g: &config::GrpcConfig,
        next: Arc<dyn Consumer>,
        listener: Listener,
    ) -> Result<(), BoxError> {
        let max = g.max_recv_msg_size_mib * 1024 * 1024;
        let has = |s| self.signals.contains(&s);
        let guard = GrpcGuard(self.guard(g.auth.as_ref(), "grpc")?);
        let mut server =
            tonic::transport::Server::builder().max_concurrent_streams(g.max_concurrent_streams);
        if let Some(keepalive) = &g.keepalive {
            server = keepalive.apply(server);
        }
        let router = server
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
        let cancel = self.cancel.clone();
        let id = self.id.clone();
        let idle = g.keepalive.as_ref().and_then(config::Keepalive::idle);
        self.servers.spawn(async move {
            use futures::StreamExt;
            let stop = cancel.clone().cancelled_owned();
            let served = match listener {
                Listener::Tls(incoming) => {
                    let incoming = incoming.into_stream().map(server_options::watch(idle));
                    router.serve_with_incoming_shutdown(incoming, stop).await
                }
                Listener::Tcp(listener) => {
                    // Nagle's algorithm would hold small responses back ~40ms behind
                    // delayed ACKs.
                    let incoming = tonic::transport::server::TcpIncoming::from(listener)
                        .with_nodelay(Some(true))
                        .map(server_options::watch(idle));
                    router.serve_with_incoming_shutdown(incoming, stop).await
                }
                Listener::Unix(listener) => {
                    let incoming = futures::stream::unfold(listener, |l| async move {
                        let accepted = l.accept().await.map(|(stream, _)| stream);
                        Some((accepted, l))
                    })
                    .map(server_options::watch(idle));
                    router.serve_with_incoming_shutdown(incoming, stop).await
                }
            };
            if let Err(e) = served {
                tracing::error!(component = %id, error = %e, "OTLP/gRPC server stopped");
            }
        });
        Ok(())
    }
}

/// Listens on the unix socket `path`; a socket file left by an earlier run is replaced
/// (anything else at the path is an error, never removed).
fn bind_unix(path: &str, protocol: &str) -> Result<tokio::net::UnixListener, BoxError> {
    use std::os::unix::fs::FileTypeExt;
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(format!("cannot listen for OTLP/{protocol} on unix socket `{path}`: something that is not a socket is there").into());
        }
        std::fs::remove_file(path)
            .map_err(|e| format!("cannot replace the stale unix socket `{path}`: {e}"))?;
    }
    tokio::net::UnixListener::bind(path).map_err(|e| {
        format!("cannot listen for OTLP/{protocol} on unix socket `{path}`: {e}").into()
    })
}

async fn bind(endpoint: &str, protocol: &str) -> Result<tokio::net::TcpListener, BoxError> {
    crate::net::bind(endpoint)
        .await
        .map_err(|e| format!("cannot listen for OTLP/{protocol} on `{endpoint}`: {e}; is another process using the port?").into())
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
