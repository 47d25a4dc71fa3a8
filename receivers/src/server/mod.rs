//! What the push receivers (`otlp`, `jaeger`, `zipkin`) share to accept requests: the
//! Collector's server config blocks, binding (TCP, TLS, unix socket), the
//! authentication guard, CORS, request bodies, serving an axum app or a tonic router
//! until cancelled, and how a pipeline's refusal becomes a protocol answer.

pub mod auth;
pub mod body;
pub mod config;
pub mod cors;
pub mod grpc;
pub mod options;
pub mod status;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::ConnectInfo;
use axum::serve::ListenerExt;
use axum::Extension;
use llamacol_api::auth::{AuthConfig, Authenticators};
use llamacol_api::client_metadata::ClientMetadata;
use llamacol_api::node::TargetFamily;
use llamacol_api::tls::{self, ServerTlsConfig, TlsIncoming};
use llamacol_api::{Batch, BoxError, NodeContext};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use auth::Guard;
use config::Transport;

/// Requests refused per protocol (`llamacol_receiver_unauthenticated_requests_total`).
pub const UNAUTHENTICATED: TargetFamily = TargetFamily {
    metric: "llamacol_receiver_unauthenticated_requests_total",
    label: "protocol",
    help: "Requests a receiver refused because its authenticator did not accept their credentials (gRPC UNAUTHENTICATED, HTTP 401).",
    outcomes: &["refused"],
};

/// One receiver's servers: what it needs to bind, guard and serve, and the tasks
/// serving until [`Servers::shutdown`].
pub struct Servers {
    pub id: String,
    pub cancel: CancellationToken,
    pub tasks: JoinSet<()>,
    pub auth: Authenticators,
    pub node: NodeContext,
}

/// Where a server (gRPC or HTTP) accepts connections.
pub enum Listener {
    Tcp(tokio::net::TcpListener),
    Tls(TlsIncoming),
    Unix(tokio::net::UnixListener),
}

impl Servers {
    pub fn new(id: String, auth: Authenticators, node: NodeContext) -> Servers {
        Servers {
            id,
            cancel: CancellationToken::new(),
            tasks: JoinSet::new(),
            auth,
            node,
        }
    }

    /// The guard for a protocol's `auth:` block, counting refusals under `protocol`.
    pub fn guard(
        &self,
        auth: Option<&AuthConfig>,
        protocol: &str,
    ) -> Result<Option<Guard>, BoxError> {
        Ok(self.auth.resolve(auth)?.map(|authenticator| Guard {
            authenticator,
            component: self.id.clone(),
            counters: self
                .node
                .target_counters(UNAUTHENTICATED, &self.id, protocol),
        }))
    }

    /// `app` behind the protocol's authenticator (refusals counted under `protocol`) and,
    /// outside it, CORS: a browser's preflight carries no credentials.
    pub fn guarded(
        &self,
        app: axum::Router,
        auth: Option<&AuthConfig>,
        cors: Option<&config::CorsConfig>,
        protocol: &str,
    ) -> Result<axum::Router, BoxError> {
        let app = match self.guard(auth, protocol)? {
            Some(guard) => app.layer(axum::middleware::from_fn_with_state(
                guard,
                auth::http_guard,
            )),
            None => app,
        };
        Ok(match cors {
            Some(cors) => app.layer(cors.layer()),
            None => app,
        })
    }

    /// Binds `endpoint` as `transport` says, behind TLS when `tls` is set, with its one
    /// "listening" line. `protocol` names it in messages (`OTLP/gRPC`, `Jaeger Thrift HTTP`).
    pub async fn listen(
        &self,
        endpoint: &str,
        transport: Transport,
        tls: Option<&ServerTlsConfig>,
        protocol: &str,
    ) -> Result<Listener, BoxError> {
        let listener = match transport {
            Transport::Unix => Listener::Unix(bind_unix(endpoint, protocol)?),
            Transport::Tcp => Listener::Tcp(crate::net::bind(endpoint).await.map_err(|e| {
                format!("cannot listen for {protocol} on `{endpoint}`: {e}; is another process using the port?")
            })?),
        };
        let acceptor = tls
            .map(|t| tls::acceptor(t, &self.id).map_err(|e| format!("{protocol} tls: {e}")))
            .transpose()?;
        Ok(match (listener, acceptor) {
            (Listener::Tcp(l), Some(a)) => {
                tracing::info!(component = %self.id, endpoint = %l.local_addr()?, scheme = "TLS", "{protocol} listening");
                Listener::Tls(TlsIncoming::new(l, a, &self.id, self.cancel.clone())?)
            }
            (Listener::Tcp(l), None) => {
                tracing::info!(component = %self.id, endpoint = %l.local_addr()?, scheme = "plaintext", "{protocol} listening");
                Listener::Tcp(l)
            }
            (other, _) => {
                tracing::info!(component = %self.id, path = %endpoint, "{protocol} listening on a unix socket");
                other
            }
        })
    }

    /// Serves `app` on `listener` until shutdown; requests carry the peer's address.
    pub fn serve_http(&mut self, app: axum::Router, listener: Listener, protocol: &'static str) {
        let cancel = self.cancel.clone();
        let id = self.id.clone();
        match listener {
            Listener::Unix(unix) => {
                self.tasks
                    .spawn(serve::<_, NoPeer>(unix, app, cancel, id, protocol));
            }
            Listener::Tls(incoming) => {
                self.tasks
                    .spawn(serve::<_, TlsPeer>(incoming, app, cancel, id, protocol));
            }
            Listener::Tcp(listener) => {
                // Nagle's algorithm would hold small responses back ~40ms behind
                // delayed ACKs.
                let listener = listener.tap_io(|tcp| {
                    let _ = tcp.set_nodelay(true);
                });
                self.tasks
                    .spawn(serve::<_, SocketAddr>(listener, app, cancel, id, protocol));
            }
        }
    }

    /// Serves `router` on `listener` until shutdown (`idle`: close connections idle that
    /// long, the keepalive's `max_connection_idle`).
    pub fn serve_grpc(
        &mut self,
        router: tonic::transport::server::Router,
        listener: Listener,
        idle: Option<std::time::Duration>,
        protocol: &'static str,
    ) {
        let cancel = self.cancel.clone();
        let id = self.id.clone();
        self.tasks.spawn(async move {
            use futures::StreamExt;
            let stop = cancel.clone().cancelled_owned();
            let served = match listener {
                Listener::Tls(incoming) => {
                    let incoming = incoming.into_stream().map(options::watch(idle));
                    router.serve_with_incoming_shutdown(incoming, stop).await
                }
                Listener::Tcp(listener) => {
                    let incoming = tonic::transport::server::TcpIncoming::from(listener)
                        .with_nodelay(Some(true))
                        .map(options::watch(idle));
                    router.serve_with_incoming_shutdown(incoming, stop).await
                }
                Listener::Unix(listener) => {
                    let incoming = futures::stream::unfold(listener, |l| async move {
                        let accepted = l.accept().await.map(|(stream, _)| stream);
                        Some((accepted, l))
                    })
                    .map(options::watch(idle));
                    router.serve_with_incoming_shutdown(incoming, stop).await
                }
            };
            if let Err(e) = served {
                tracing::error!(component = %id, error = %e, "{protocol} server stopped");
            }
        });
    }

    /// Stops accepting connections and waits for in-flight requests to be answered.
    pub async fn shutdown(&mut self) {
        self.cancel.cancel();
        while self.tasks.join_next().await.is_some() {}
    }
}

/// A tonic server with the block's stream limit and keepalive.
pub fn grpc_server<P: config::DefaultPort>(
    config: &config::GrpcServerConfig<P>,
) -> tonic::transport::Server {
    let server =
        tonic::transport::Server::builder().max_concurrent_streams(config.max_concurrent_streams);
    match &config.keepalive {
        Some(keepalive) => keepalive.apply(server),
        None => server,
    }
}

async fn serve<L, C>(
    listener: L,
    app: axum::Router,
    cancel: CancellationToken,
    id: String,
    protocol: &str,
) where
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
        tracing::error!(component = %id, error = %e, "{protocol} server stopped");
    }
}

/// A unix socket's peer has no IP address.
#[derive(Clone)]
struct NoPeer;

/// The peer of a TLS connection (over TCP the peer is axum's `ConnectInfo<SocketAddr>`).
#[derive(Clone, Copy)]
pub struct TlsPeer(pub SocketAddr);

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

/// The client's IP address as an HTTP handler sees it (TCP or TLS; none on a unix socket).
pub fn peer(
    tcp: Option<Extension<ConnectInfo<SocketAddr>>>,
    tls: Option<Extension<ConnectInfo<TlsPeer>>>,
) -> Option<IpAddr> {
    tcp.map(|Extension(ConnectInfo(addr))| addr.ip())
        .or(tls.map(|Extension(ConnectInfo(TlsPeer(addr)))| addr.ip()))
}

/// Puts the request's client metadata on `batch`: every header with
/// `include_metadata`, else only the peer's address.
pub fn set_client_metadata(
    batch: &mut Batch,
    include_metadata: bool,
    headers: &http::HeaderMap,
    peer: Option<IpAddr>,
) {
    if include_metadata {
        let pairs = headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)));
        batch.set_metadata(Some(Arc::new(
            ClientMetadata::from_pairs(pairs).with_addr(peer),
        )));
    } else if let Some(addr) = peer {
        batch.set_metadata(Some(Arc::new(ClientMetadata::from_addr(addr))));
    }
}

/// Checks every gRPC call with the protocol's guard (none: every call passes).
#[derive(Clone)]
pub struct GrpcGuard(pub Option<Guard>);

impl tonic::service::Interceptor for GrpcGuard {
    fn call(&mut self, request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        match &self.0 {
            Some(guard) => guard.check_grpc(request.metadata()).map(|()| request),
            None => Ok(request),
        }
    }
}

/// Listens on the unix socket `path`; a socket file left by an earlier run is replaced
/// (anything else at the path is an error, never removed).
fn bind_unix(path: &str, protocol: &str) -> Result<tokio::net::UnixListener, BoxError> {
    use std::os::unix::fs::FileTypeExt;
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(format!("cannot listen for {protocol} on unix socket `{path}`: something that is not a socket is there").into());
        }
        std::fs::remove_file(path)
            .map_err(|e| format!("cannot replace the stale unix socket `{path}`: {e}"))?;
    }
    tokio::net::UnixListener::bind(path)
        .map_err(|e| format!("cannot listen for {protocol} on unix socket `{path}`: {e}").into())
}
