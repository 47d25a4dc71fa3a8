//! The Collector's gRPC server keys (`configgrpc.ServerConfig`) beyond the endpoint:
//! `transport`, `max_concurrent_streams`, `keepalive`, and the buffer sizes.

use std::time::Duration;

use std::future::Future;

use llamacol_api::config::Issue;
use serde::Deserialize;

/// `transport`: what `endpoint` names.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// `host:port`.
    #[default]
    Tcp,
    /// A socket file's path (created at start; a stale one left by a crash is replaced).
    Unix,
}

/// `keepalive`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Keepalive {
    pub server_parameters: Option<ServerParameters>,
    /// How often clients may ping. llamacol answers every ping (it does not close
    /// connections that ping too often): accepted for the Collector's configs.
    pub enforcement_policy: Option<EnforcementPolicy>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerParameters {
    /// Close a connection idle this long (see [`IdleClose`]).
    #[serde(with = "humantime_serde")]
    pub max_connection_idle: Option<Duration>,
    /// Connections are closed (gracefully, with GOAWAY) after this long.
    #[serde(with = "humantime_serde")]
    pub max_connection_age: Option<Duration>,
    /// How long requests in flight get after `max_connection_age`.
    #[serde(with = "humantime_serde")]
    pub max_connection_age_grace: Option<Duration>,
    /// Ping an idle client after this long.
    #[serde(with = "humantime_serde")]
    pub time: Option<Duration>,
    /// Close the connection when a ping is not answered within this long.
    #[serde(with = "humantime_serde")]
    pub timeout: Option<Duration>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnforcementPolicy {
    #[serde(with = "humantime_serde")]
    pub min_time: Option<Duration>,
    pub permit_without_stream: bool,
}

impl Keepalive {
    pub fn issues(&self, path: &str) -> Vec<Issue> {
        let mut out = Vec::new();
        if let Some(p) = &self.server_parameters {
            if p.max_connection_idle.is_some_and(|d| d.is_zero()) {
                out.push(Issue::new(
                    format!("{path}.server_parameters.max_connection_idle"),
                    "must be above 0 (leave it out for no limit)",
                ));
            }
        }
        out
    }

    /// `server_parameters.max_connection_idle`.
    pub fn idle(&self) -> Option<Duration> {
        self.server_parameters.as_ref()?.max_connection_idle
    }

    /// The server builder with these settings.
    pub fn apply(&self, server: tonic::transport::Server) -> tonic::transport::Server {
        let Some(p) = &self.server_parameters else {
            return server;
        };
        let mut server = server
            .http2_keepalive_interval(p.time)
            .http2_keepalive_timeout(p.timeout);
        if let Some(age) = p.max_connection_age {
            server = server.max_connection_age(age);
        }
        if let Some(grace) = p.max_connection_age_grace {
            server = server.max_connection_age_grace(grace);
        }
        server
    }
}

/// A connection closed after `max_connection_idle` with no bytes either way (gRPC-go
/// counts from its last request's end; a request still being answered sends no bytes
/// only while it waits for room downstream, `block_timeout`, so keep the idle time above
/// that). Without a limit it only passes the bytes through.
pub struct IdleClose<S> {
    inner: S,
    idle: Option<Duration>,
    timer: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

/// Wraps each accepted connection in an [`IdleClose`] with `idle`.
pub fn watch<S>(
    idle: Option<Duration>,
) -> impl FnMut(std::io::Result<S>) -> std::io::Result<IdleClose<S>> {
    move |accepted| accepted.map(|stream| IdleClose::new(stream, idle))
}

impl<S> IdleClose<S> {
    pub fn new(inner: S, idle: Option<Duration>) -> IdleClose<S> {
        IdleClose {
            inner,
            idle,
            timer: idle.map(|d| Box::pin(tokio::time::sleep(d))),
        }
    }

    fn active(&mut self) {
        if let (Some(timer), Some(idle)) = (&mut self.timer, self.idle) {
            timer.as_mut().reset(tokio::time::Instant::now() + idle);
        }
    }
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for IdleClose<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let read = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.active();
            return read;
        }
        if read.is_pending() {
            if let Some(timer) = &mut self.timer {
                if timer.as_mut().poll(cx).is_ready() {
                    // Idle for the whole limit: end of stream closes the connection.
                    return std::task::Poll::Ready(Ok(()));
                }
            }
        }
        read
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for IdleClose<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let written = std::pin::Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(written, std::task::Poll::Ready(Ok(n)) if n > 0) {
            self.active();
        }
        written
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl<S: tonic::transport::server::Connected> tonic::transport::server::Connected for IdleClose<S> {
    type ConnectInfo = S::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Bytes keep a connection open; the whole limit without any ends it (EOF).
    #[tokio::test]
    async fn a_connection_idle_for_the_limit_reads_as_closed() {
        let (near, mut far) = tokio::io::duplex(64);
        let mut watched = IdleClose::new(near, Some(Duration::from_millis(200)));
        let mut buf = [0u8; 8];
        let started = tokio::time::Instant::now();
        far.write_all(b"x").await.expect("write");
        assert_eq!(watched.read(&mut buf).await.expect("read"), 1);
        tokio::time::sleep(Duration::from_millis(120)).await;
        far.write_all(b"y").await.expect("write");
        assert_eq!(
            watched.read(&mut buf).await.expect("read"),
            1,
            "activity resets the limit"
        );
        assert_eq!(
            watched.read(&mut buf).await.expect("read"),
            0,
            "then idle: closed"
        );
        assert!(
            started.elapsed() >= Duration::from_millis(300),
            "{:?}",
            started.elapsed()
        );

        let (near, mut far) = tokio::io::duplex(64);
        let mut unwatched = IdleClose::new(near, None);
        let pending = tokio::time::timeout(Duration::from_millis(300), unwatched.read(&mut buf));
        assert!(pending.await.is_err(), "no limit: still waiting for bytes");
        far.write_all(b"z").await.expect("write");
        assert_eq!(unwatched.read(&mut buf).await.expect("read"), 1);
    }
}
