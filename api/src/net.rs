//! Listening sockets, shared by every component that serves a protocol (receivers,
//! extensions) and by the admin server.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock, PoisonError};

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
    fn free_port_never_answers_the_same_port_twice() {
        // 300 draws from ~28,000 ephemeral ports repeat one with probability ~0.8 when
        // nothing remembers what was handed out.
        let ports: Vec<u16> = (0..300).map(|_| free_port()).collect();
        let distinct: HashSet<u16> = ports.iter().copied().collect();
        assert_eq!(distinct.len(), ports.len(), "a port was handed out twice");
    }
}
