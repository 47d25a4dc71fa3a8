//! `otlp` receiver: OTLP over gRPC (port 4317) and HTTP (port 4318), all three signals.

mod auth;
pub mod body;
mod config;
mod cors;
mod grpc;
mod http;
mod server_options;
mod status;

use std::net::SocketAddr;
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
            Some(g) => Some((g.clone(), listen(&g.endpoint, g.transport, "gRPC").await?)),
            None => None,
        };
        let http = match &self.config.protocols.http {
            Some(h) => Some((h.clone(), listen(&h.endpoint, h.transport, "HTTP").await?)),
            None => None,
        };
        // TLS acceptors are built before serving too: a bad certificate fails the start.
        let grpc = match grpc {
            Some((g, l)) => {
                let l = self.secured(l, g.tls.as_ref(), &g.endpoint, "gRPC")?;
                Some((g, l))
            }
            None => None,
        };
        let http = match http {
            Some((h, l)) => {
                let l = self.secured(l, h.tls.as_ref(), &h.endpoint, "HTTP")?;
                Some((h, l))
            }
            None => None,
        };
        if let Some((g, listener)) = grpc {
            self.serve_grpc(&g, next.clone(), listener)?;
        }
        if let Some((h, listener)) = http {
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
            match listener {
                Listener::Unix(unix) => {
                    self.servers
                        .spawn(serve_http::<_, NoPeer>(unix, app, cancel, id));
                }
                Listener::Tls(incoming) => {
                    self.servers
                        .spawn(serve_http::<_, TlsPeer>(incoming, app, cancel, id));
                }
                Listener::Tcp(listener) => {
                    // Nagle's algorithm would hold small responses back ~40ms behind
                    // delayed ACKs.
                    let listener = listener.tap_io(|tcp| {
                        let _ = tcp.set_nodelay(true);
                    });
                    self.servers
                        .spawn(serve_http::<_, SocketAddr>(listener, app, cancel, id));
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

/// Serves `app` on `listener`; each request carries the peer's address as
/// `ConnectInfo<C>` (a `SocketAddr` over TCP and TLS, which the handler reads).
async fn serve_http<L, C>(listener: L, app: axum::Router, cancel: CancellationToken, id: String)
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
    C: for<'a> axum::extract::connect_info::Connected<axum::serve::IncomingStream<'a, L>>
        + Clone
        + Send
        + Sync
        + 'static,
{
    let app = app.into_make_service_with_connect_info::<C>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(cancel.cancelled_owned())
        .await;
    if let Err(e) = served {
        tracing::error!(component = %id, error = %e, "OTLP/HTTP server stopped");
    }
}

/// A unix socket's peer has no IP address.
#[derive(Clone)]
struct NoPeer;

/// The peer of a TLS connection (over TCP the peer is axum's `ConnectInfo<SocketAddr>`).
#[derive(Clone, Copy)]
pub(crate) struct TlsPeer(pub SocketAddr);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, TlsIncoming>>
    for TlsPeer
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, TlsIncoming>) -> TlsPeer {
        TlsPeer(*stream.remote_addr())
    }
}

impl
    axum::extract::connect_info::Connected<
        axum::serve::IncomingStream<'_, tokio::net::UnixListener>,
    > for NoPeer
{
    fn connect_info(_: axum::serve::IncomingStream<'_, tokio::net::UnixListener>) -> NoPeer {
        NoPeer
    }
}

/// Where a server (gRPC or HTTP) accepts connections.
enum Listener {
    Tcp(tokio::net::TcpListener),
    Tls(TlsIncoming),
    Unix(tokio::net::UnixListener),
}

impl OtlpReceiver {
    /// `listener` behind TLS when `tls` is configured (a unix socket never is: validation
    /// refuses it), with its one "listening" line.
    fn secured(
        &self,
        listener: Listener,
        tls: Option<&ServerTlsConfig>,
        endpoint: &str,
        protocol: &str,
    ) -> Result<Listener, BoxError> {
        let acceptor = tls
            .map(|t| tls::acceptor(t, &self.id).map_err(|e| format!("OTLP/{protocol} tls: {e}")))
            .transpose()?;
        Ok(match (listener, acceptor) {
            (Listener::Tcp(l), Some(a)) => {
                tracing::info!(component = %self.id, endpoint = %l.local_addr()?, scheme = "TLS", "OTLP/{protocol} listening");
                Listener::Tls(TlsIncoming::new(l, a, &self.id, self.cancel.clone())?)
            }
            (Listener::Tcp(l), None) => {
                tracing::info!(component = %self.id, endpoint = %l.local_addr()?, scheme = "plaintext", "OTLP/{protocol} listening");
                Listener::Tcp(l)
            }
            (other, _) => {
                tracing::info!(component = %self.id, path = %endpoint, "OTLP/{protocol} listening on a unix socket");
                other
            }
        })
    }

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

/// Binds `endpoint` as its `transport` says.
async fn listen(
    endpoint: &str,
    transport: config::Transport,
    protocol: &str,
) -> Result<Listener, BoxError> {
    Ok(match transport {
        config::Transport::Unix => Listener::Unix(bind_unix(endpoint, protocol)?),
        config::Transport::Tcp => Listener::Tcp(bind(endpoint, protocol).await?),
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
