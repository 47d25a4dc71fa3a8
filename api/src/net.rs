//! Listening sockets, shared by every component that serves a protocol (receivers,
//! extensions) and by the admin server.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock, PoisonError};

use tokio::net::TcpListener;

/// Binds `host:port`, resolving names (`localhost`) and preferring IPv4 like the Collector.
/// A bare IPv6 host (`fd00::7:4317`, what `${env:K8S_POD_IP}:4317` gives on an IPv6 pod)
/// is read as `[fd00::7]:4317`.
pub async fn bind(endpoint: &str) -> std::io::Result<TcpListener> {
    let endpoint = bracket_ipv6(endpoint);
    let endpoint = endpoint.as_ref();
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

/// `host:port` with a bare IPv6 host bracketed; anything else as it is. The last `:`
/// part is the port (a listening endpoint always has one).
pub fn bracket_ipv6(endpoint: &str) -> std::borrow::Cow<'_, str> {
    match endpoint.rsplit_once(':') {
        Some((host, port))
            if !host.starts_with('[')
                && host.parse::<std::net::Ipv6Addr>().is_ok()
                && port.parse::<u16>().is_ok() =>
        {
            std::borrow::Cow::Owned(format!("[{host}]:{port}"))
        }
        _ => std::borrow::Cow::Borrowed(endpoint),
    }
}

/// A loopback port that was free a moment ago, for tests and benchmarks whose configs
/// must name a port.
///
/// The listener is dropped before the port is used, so the kernel may offer the same
/// number to the next `bind(0)`; a process-wide set makes every call in one test
/// process answer a different port (two listeners of one collector once got the same
/// port and its config was refused).
pub fn free_port() -> u16 {
    static GIVEN: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    let mut given = GIVEN
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    for _ in 0..1000 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or(0);
        if port != 0 && given.insert(port) {
            return port;
        }
    }
    panic!("no loopback port left that this process has not handed out already");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_ipv6_host_is_bracketed() {
        assert_eq!(bracket_ipv6("fd00::7:4317"), "[fd00::7]:4317");
        assert_eq!(bracket_ipv6("[fd00::7]:4317"), "[fd00::7]:4317");
        assert_eq!(bracket_ipv6("10.244.1.17:8888"), "10.244.1.17:8888");
        assert_eq!(bracket_ipv6("localhost:8888"), "localhost:8888");
        assert_eq!(bracket_ipv6("::1:8888"), "[::1]:8888");
    }

    #[tokio::test]
    async fn binds_a_bare_ipv6_loopback_endpoint() {
        // Machines without IPv6 refuse ::1; what matters is that it is read as an address.
        match bind("::1:0").await {
            Ok(listener) => assert!(listener.local_addr().is_ok_and(|a| a.is_ipv6())),
            Err(e) => assert!(!e.to_string().contains("invalid socket address"), "{e}"),
        }
    }

    #[test]
    fn free_port_never_answers_the_same_port_twice() {
        // 300 draws from ~28,000 ephemeral ports repeat one with probability ~0.8 when
        // nothing remembers what was handed out.
        let ports: Vec<u16> = (0..300).map(|_| free_port()).collect();
        let distinct: HashSet<u16> = ports.iter().copied().collect();
        assert_eq!(distinct.len(), ports.len(), "a port was handed out twice");
    }
}
