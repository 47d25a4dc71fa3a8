//! Listening sockets, shared by every component that serves a protocol (receivers,
//! extensions) and by the admin server.

use tokio::net::TcpListener;

/// Binds `host:port`, resolving names (`localhost`) and preferring IPv4 like the Collector.
pub async fn bind(endpoint: &str) -> std::io::Result<TcpListener> {
    let mut addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host(endpoint).await?.collect();
    addrs.sort_by_key(|a| !a.is_ipv4());
    let mut last = None;
    for addr in addrs {
        match TcpListener::bind(addr).await {
            Ok(listener) => return Ok(listener),
            Err(e) => last = Some(e),
        }
    }
    Err(last
        .unwrap_or_else(|| std::io::Error::other(format!("`{endpoint}` resolves to no address"))))
}
