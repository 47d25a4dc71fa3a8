//! Server-side TLS for every listening component (the OTLP receiver's gRPC and HTTP
//! servers, the Prometheus exporter's endpoint), in the Collector's shape:
//! `tls: {cert_file, key_file, client_ca_file, min_version, reload_interval}`.
//!
//! The certificate and key are read again when their files change (checked at most once
//! per `reload_interval`, at a handshake), so a rotation (cert-manager renewing a Secret)
//! takes effect without a restart; connections already open keep their session. A reload
//! that fails (a half-written file) keeps the previous certificate and logs why.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use serde::Deserialize;

use crate::config::Issue;
use crate::consumer::BoxError;

mod skip_verify;
pub use skip_verify::SkipVerification;

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ServerTlsConfig {
    /// PEM certificate chain (leaf first).
    pub cert_file: Option<PathBuf>,
    /// PEM private key of the leaf certificate (its contents are never logged).
    pub key_file: Option<PathBuf>,
    /// PEM CA bundle: when set, clients must present a certificate it signed (mTLS).
    pub client_ca_file: Option<PathBuf>,
    /// `"1.2"` (default) or `"1.3"`.
    pub min_version: Option<String>,
    /// How often the files are checked for a change. Default 30s; `0s` never reloads.
    #[serde(with = "humantime_serde", default)]
    pub reload_interval: Option<Duration>,
    /// Accepted as the Collector accepts it on a server, where it verifies nothing (a
    /// server checks client certificates against `client_ca_file`).
    pub ca_file: Option<PathBuf>,
}

const DEFAULT_RELOAD: Duration = Duration::from_secs(30);

impl ServerTlsConfig {
    /// Config problems, at `at` (e.g. `protocols.grpc.tls`).
    pub fn issues(&self, at: &str) -> Vec<Issue> {
        let mut issues = Vec::new();
        match (&self.cert_file, &self.key_file) {
            (Some(_), Some(_)) => {}
            (None, None) => issues.push(Issue::new(
                format!("{at}.cert_file"),
                "TLS needs `cert_file` and `key_file` (PEM); remove `tls` to serve plaintext",
            )),
            (Some(_), None) => issues.push(Issue::new(
                format!("{at}.key_file"),
                "`cert_file` needs its `key_file`",
            )),
            (None, Some(_)) => issues.push(Issue::new(
                format!("{at}.cert_file"),
                "`key_file` needs its `cert_file`",
            )),
        }
        if let Some(v) = &self.min_version {
            if !matches!(v.as_str(), "1.2" | "1.3") {
                issues.push(Issue::new(
                    format!("{at}.min_version"),
                    format!("`{v}` is not offered; use \"1.2\" or \"1.3\""),
                ));
            }
        }
        issues
    }
}

/// A TLS acceptor for `config`; `component` names the server in logs. Errors name the
/// file and what is wrong with it.
pub fn acceptor(
    config: &ServerTlsConfig,
    component: &str,
) -> Result<tokio_rustls::TlsAcceptor, BoxError> {
    let (Some(cert), Some(key)) = (&config.cert_file, &config.key_file) else {
        return Err("TLS needs `cert_file` and `key_file`".into());
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let loaded = load(cert, key, &provider)?;
    warn_if_expired(&loaded.key.cert, cert, component);
    let resolver = Arc::new(Reloading {
        cert: cert.clone(),
        key: key.clone(),
        every: config.reload_interval.unwrap_or(DEFAULT_RELOAD),
        provider: provider.clone(),
        component: component.to_string(),
        state: Mutex::new(State {
            current: Arc::new(loaded.key),
            stamps: loaded.stamps,
            checked: Instant::now(),
        }),
    });
    let versions: &[&rustls::SupportedProtocolVersion] = match config.min_version.as_deref() {
        Some("1.3") => &[&rustls::version::TLS13],
        _ => &[&rustls::version::TLS13, &rustls::version::TLS12],
    };
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)?;
    let builder = match &config.client_ca_file {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in read_certs(ca)? {
                roots.add(c).map_err(|e| {
                    format!(
                        "`{}` (client_ca_file): not a usable CA certificate: {e}",
                        ca.display()
                    )
                })?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| format!("`{}` (client_ca_file): {e}", ca.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut server = builder.with_cert_resolver(resolver);
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(server)))
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, BoxError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("reading `{}`: {}", path.display(), pem_error(&e)))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("`{}`: {}", path.display(), pem_error(&e)))?;
    if certs.is_empty() {
        return Err(format!("`{}` holds no PEM certificate", path.display()).into());
    }
    Ok(certs)
}

fn pem_error(e: &rustls::pki_types::pem::Error) -> String {
    match e {
        rustls::pki_types::pem::Error::Io(io) => io.to_string(),
        other => format!("not valid PEM ({other:?})"),
    }
}

struct Loaded {
    key: CertifiedKey,
    stamps: (Option<SystemTime>, Option<SystemTime>),
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn load(
    cert: &Path,
    key: &Path,
    provider: &rustls::crypto::CryptoProvider,
) -> Result<Loaded, BoxError> {
    let stamps = (modified(cert), modified(key));
    let chain = read_certs(cert)?;
    // The key's own error text could quote it; say only what and where.
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| match e {
        rustls::pki_types::pem::Error::Io(io) => {
            format!("reading `{}` (key_file): {io}", key.display())
        }
        _ => format!("`{}` (key_file) holds no PEM private key", key.display()),
    })?;
    let certified = CertifiedKey::from_der(chain, private, provider).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => format!(
            "`{}` (key_file) is not the key of the certificate in `{}` (cert_file)",
            key.display(),
            cert.display()
        ),
        other => format!("`{}` (key_file): unusable key: {other}", key.display()),
    })?;
    Ok(Loaded {
        key: certified,
        stamps,
    })
}

/// Logs a warning when the leaf certificate has expired or is not valid yet (TLS clients
/// will refuse it; llamacol still starts, so a renewal can land).
fn warn_if_expired(chain: &[CertificateDer<'_>], path: &Path, component: &str) {
    let Some(leaf) = chain.first() else { return };
    let Ok((_, parsed)) = x509_parser::parse_x509_certificate(leaf.as_ref()) else {
        return;
    };
    if !parsed.validity().is_valid() {
        tracing::warn!(
            component,
            cert_file = %path.display(),
            not_before = %parsed.validity().not_before,
            not_after = %parsed.validity().not_after,
            "the TLS certificate is outside its validity period; clients will refuse it"
        );
    }
}

struct State {
    current: Arc<CertifiedKey>,
    stamps: (Option<SystemTime>, Option<SystemTime>),
    checked: Instant,
}

/// Serves the current certificate, reading the files again when their modification
/// times change (checked at most every `every`).
struct Reloading {
    cert: PathBuf,
    key: PathBuf,
    every: Duration,
    provider: Arc<rustls::crypto::CryptoProvider>,
    component: String,
    state: Mutex<State>,
}

impl std::fmt::Debug for Reloading {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloading")
            .field("cert", &self.cert)
            .finish_non_exhaustive()
    }
}

impl ResolvesServerCert for Reloading {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if !self.every.is_zero() && state.checked.elapsed() >= self.every {
            state.checked = Instant::now();
            let stamps = (modified(&self.cert), modified(&self.key));
            if stamps != state.stamps {
                match load(&self.cert, &self.key, &self.provider) {
                    Ok(loaded) => {
                        warn_if_expired(&loaded.key.cert, &self.cert, &self.component);
                        tracing::info!(component = %self.component, cert_file = %self.cert.display(), "TLS certificate reloaded");
                        state.current = Arc::new(loaded.key);
                        state.stamps = loaded.stamps;
                    }
                    Err(e) => {
                        // Keep serving the old one; try again at the next interval.
                        tracing::warn!(component = %self.component, error = %e, "TLS certificate changed on disk but could not be loaded; keeping the previous one");
                    }
                }
            }
        }
        Some(state.current.clone())
    }
}

/// Connections accepted on `listener` after their TLS handshake. Handshakes run
/// concurrently (a slow or silent client holds up no one) with a 10 s deadline; a failed
/// one (no client certificate under mTLS, a plaintext client) is logged at debug and
/// dropped. Serve it with `axum::serve` (feature `axum`: it is then an axum `Listener`)
/// or, for tonic, through [`TlsIncoming::into_stream`].
pub struct TlsIncoming {
    connections: tokio::sync::mpsc::Receiver<(TlsStream, std::net::SocketAddr)>,
    local: std::net::SocketAddr,
}

pub type TlsStream = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;

const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(10);

impl TlsIncoming {
    /// Starts accepting; stops when `cancel` fires.
    pub fn new(
        listener: tokio::net::TcpListener,
        acceptor: tokio_rustls::TlsAcceptor,
        component: &str,
        cancel: tokio_util::sync::CancellationToken,
    ) -> std::io::Result<TlsIncoming> {
        let local = listener.local_addr()?;
        let (tx, connections) = tokio::sync::mpsc::channel(64);
        let component = component.to_string();
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    () = cancel.cancelled() => return,
                    accepted = listener.accept() => accepted,
                };
                let (tcp, peer) = match accepted {
                    Ok(c) => c,
                    Err(e) => {
                        // Out of file descriptors and the like: wait, as hyper does.
                        tracing::warn!(component = %component, error = %e, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let _ = tcp.set_nodelay(true);
                let (acceptor, tx, component) = (acceptor.clone(), tx.clone(), component.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_DEADLINE, acceptor.accept(tcp)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(component = %component, %peer, error = %e, "TLS handshake refused")
                        }
                        Err(_) => {
                            tracing::debug!(component = %component, %peer, "TLS handshake not finished in 10 s")
                        }
                    }
                });
            }
        });
        Ok(TlsIncoming { connections, local })
    }

    /// The connections as the stream tonic's `serve_with_incoming` takes.
    pub fn into_stream(self) -> impl futures::Stream<Item = std::io::Result<TlsStream>> {
        futures::stream::unfold(self.connections, |mut rx| async move {
            rx.recv().await.map(|(tls, _)| (Ok(tls), rx))
        })
    }

    /// The next connection, handshake done. Once the accept loop has ended (shutdown)
    /// this never returns: there are no more connections, ever.
    pub async fn accept(&mut self) -> (TlsStream, std::net::SocketAddr) {
        match self.connections.recv().await {
            Some(c) => c,
            None => std::future::pending().await,
        }
    }

    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.local
    }
}

/// For receivers and exporters that serve HTTP with axum (feature `axum`, off for a
/// plugin that does not serve).
#[cfg(feature = "axum")]
impl axum::serve::Listener for TlsIncoming {
    type Io = TlsStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        TlsIncoming::accept(self).await
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

// Uses the test CA of `testing` (on in every workspace test run: the other crates'
// dev-dependencies turn the feature on).
#[cfg(all(test, feature = "testing"))]
mod tests;
