//! A Jaeger agent's UDP port: each packet one Thrift `Agent.emitBatch` call (compact or
//! binary protocol). One task reads packets into a queue of `queue_size`; `workers`
//! tasks decode them and hand them to the pipeline. UDP cannot say "later": a refusal
//! the pipeline marks retryable is retried (holding the queue, so back-pressure ends in
//! counted drops at the socket, never in silent loss), a packet that cannot be read or
//! is refused for good is counted failed.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use llamacol_api::backoff::{Backoff, BackoffPolicy};
use llamacol_api::formats::thrift::{self, Protocol};
use llamacol_api::log_once::LogOnce;
use llamacol_api::node::{TargetCounters, TargetFamily};
use llamacol_api::{Batch, BoxError, Consumer, Signal};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use super::config::UdpConfig;
use crate::server::config::DefaultPort;
use crate::server::Servers;

/// How often the reading thread looks at the cancel token while no packet comes.
const READ_TIMEOUT: Duration = Duration::from_millis(200);

/// Packets per agent port: `received` (handed to the pipeline), `failed` (unreadable, or
/// refused for good), `dropped` (the queue was full).
pub const UDP_PACKETS: TargetFamily = TargetFamily {
    metric: "llamacol_receiver_udp_packets_total",
    label: "protocol",
    help: "UDP packets a receiver took (received), could not read or had refused for good (failed), or dropped because its queue was full (dropped).",
    outcomes: &["received", "failed", "dropped"],
};

/// The parts of a port's config the serving tasks need.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    queue_size: usize,
    max_packet_size: usize,
    workers: usize,
}

impl Settings {
    fn of<P: DefaultPort>(c: &UdpConfig<P>) -> Settings {
        Settings {
            queue_size: c.queue_size,
            max_packet_size: c.max_packet_size,
            workers: c.workers,
        }
    }
}

/// Binds the port (with `socket_buffer_size` when set): the socket and how to serve it.
pub async fn bind<P: DefaultPort>(
    config: &UdpConfig<P>,
    id: &str,
    protocol: &str,
) -> Result<(UdpSocket, Settings), BoxError> {
    let socket = UdpSocket::bind(&config.endpoint).await.map_err(|e| {
        format!(
            "cannot listen for {protocol} on `{}`: {e}; is another process using the port?",
            config.endpoint
        )
    })?;
    if config.socket_buffer_size > 0 {
        socket2::SockRef::from(&socket)
            .set_recv_buffer_size(config.socket_buffer_size)
            .map_err(|e| {
                format!(
                    "{protocol}: cannot set socket_buffer_size {}: {e}",
                    config.socket_buffer_size
                )
            })?;
    }
    tracing::info!(component = %id, endpoint = %socket.local_addr()?, "{protocol} listening");
    Ok((socket, Settings::of(config)))
}

/// Reads packets until shutdown and has `workers` tasks take them to `next`.
pub fn serve(
    servers: &mut Servers,
    socket: UdpSocket,
    settings: Settings,
    protocol: Protocol,
    name: &str,
    next: Arc<dyn Consumer>,
) {
    let counters = servers.node.target_counters(UDP_PACKETS, &servers.id, name);
    let (tx, rx) = async_channel::bounded::<Bytes>(settings.queue_size);
    let cancel = servers.cancel.clone();
    let id = servers.id.clone();
    let reader_counters = counters.clone();
    // The socket is read on a thread of its own, so the kernel's receive buffer is
    // drained as packets come, whatever the workers and the runtime are doing: a burst
    // (a client splitting a 2 MB batch into 40 packets) overflowed it when the reader
    // was one more task on a busy runtime.
    let socket = match socket.into_std().and_then(|s| {
        s.set_nonblocking(false)?;
        s.set_read_timeout(Some(READ_TIMEOUT))?;
        Ok(s)
    }) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(component = %id, error = %e, "cannot read the UDP socket");
            return;
        }
    };
    servers.tasks.spawn_blocking(move || {
        let mut buffer = vec![0; settings.max_packet_size];
        let full = LogOnce::new();
        while !cancel.is_cancelled() {
            match socket.recv_from(&mut buffer) {
                Ok((n, _)) => {
                    if tx.try_send(Bytes::copy_from_slice(&buffer[..n])).is_err() {
                        TargetCounters::add(&reader_counters.dropped, 1);
                        if full.is_new("full") {
                            tracing::warn!(component = %id, queue_size = settings.queue_size, "UDP packet dropped: the queue is full (the pipeline is slower than the senders); counted in llamacol_receiver_udp_packets_total{{outcome=\"dropped\"}}; raise `queue_size` or `workers`");
                        }
                    }
                }
                // The read timeout: look at the cancel token again.
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(e) => tracing::debug!(component = %id, error = %e, "UDP receive failed"),
            }
        }
        // Dropping the sender lets the workers drain what is queued, then stop.
    });
    let problems = Arc::new(LogOnce::new());
    for _ in 0..settings.workers {
        let rx = rx.clone();
        let next = next.clone();
        let counters = counters.clone();
        let cancel = servers.cancel.clone();
        let id = servers.id.clone();
        let problems = problems.clone();
        servers.tasks.spawn(async move {
            while let Ok(packet) = rx.recv().await {
                handle(
                    &packet,
                    protocol,
                    next.as_ref(),
                    &counters,
                    &cancel,
                    &id,
                    &problems,
                )
                .await;
            }
        });
    }
}

async fn handle(
    packet: &[u8],
    protocol: Protocol,
    next: &dyn Consumer,
    counters: &TargetCounters,
    cancel: &CancellationToken,
    id: &str,
    problems: &LogOnce,
) {
    let batch = match thrift::read_message(protocol, packet) {
        Ok(m) if m.name == "emitBatch" => m.args.structure(1).map(super::thrift_batch),
        Ok(m) => {
            if problems.is_new(&m.name) {
                tracing::warn!(component = %id, method = %m.name, "Jaeger agent call not supported (only emitBatch; Zipkin spans go to a `zipkin` receiver); counted failed");
            }
            None
        }
        Err(e) => {
            if problems.is_new("unreadable") {
                tracing::warn!(component = %id, error = %e, "unreadable Jaeger agent packet; counted failed");
            }
            None
        }
    };
    let Some(mut batch) = batch else {
        TargetCounters::add(&counters.failed, 1);
        return;
    };
    // Encoded once: a retry hands on the same bytes (no copy of the decoded spans), and
    // an exporter that forwards them does not encode them again.
    let items = batch.items();
    let bytes = batch.bytes();
    let mut backoff = Backoff::new(BackoffPolicy::doubling(
        Duration::from_millis(50),
        Duration::from_secs(5),
    ));
    loop {
        match next
            .consume(Batch::from_encoded_parts(
                Signal::Traces,
                bytes.clone(),
                items,
            ))
            .await
        {
            Ok(()) => {
                TargetCounters::add(&counters.sent, 1);
                return;
            }
            Err(e) if e.is_retryable() && !cancel.is_cancelled() => {
                let wait = backoff
                    .next_wait(e.retry_after())
                    .unwrap_or(Duration::from_secs(5));
                tokio::select! {
                    _ = cancel.cancelled() => {}
                    _ = tokio::time::sleep(wait) => {}
                }
            }
            Err(e) => {
                if problems.is_new("refused") {
                    tracing::warn!(component = %id, error = %e, "Jaeger agent batch refused by the pipeline; counted failed");
                }
                TargetCounters::add(&counters.failed, 1);
                return;
            }
        }
    }
}
